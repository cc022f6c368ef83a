//! What wraps every request: a fresh request id (returned in
//! `x-request-id`), a tracing span carrying it and, once known, the tenant;
//! one structured log line per request (method, route pattern, status,
//! latency: never the query string, a header or a body); Prometheus
//! metrics by route and status; security headers; refusal, before any
//! handler runs, of a request target or header section over the
//! configured limits (414, 431), of a declared body over its limit (413) and
//! of credentials in URLs; and error bodies normalized to
//! `application/problem+json` even where actix itself answered (404, 405,
//! 413). The limits actix-http enforces while reading the head (header
//! count, a head over 128 KiB, the time to send it) answer before this
//! middleware runs, with no body (docs/OPERATIONS.md, *Request limits*).

use std::time::Instant;

use crate::config::RequestLimits;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage as _, HttpResponse, web};
use bookwarden_app::Principal;
use tracing::Instrument as _;

use crate::problem::{PROBLEM_JSON, problem_response};
use crate::state::State;

/// The response header that carries the request id.
pub const REQUEST_ID: &str = "x-request-id";

fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers_too_large",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::UNAUTHORIZED => "unauthenticated",
        StatusCode::FORBIDDEN => "forbidden",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    }
}

/// The middleware function (see the module docs).
pub(crate) async fn envelope(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let method = request.method().as_str().to_owned();
    let route = request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let state = request.app_data::<web::Data<State>>().cloned();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %method,
        route = %route,
        tenant = tracing::field::Empty,
    );
    let limits = state
        .as_ref()
        .map_or_else(RequestLimits::default, |s| s.request_limits);
    let response = if let Some(refused) = refusal(&request, &limits) {
        request.into_response(refused)
    } else {
        next.call(request)
            .instrument(span.clone())
            .await?
            .map_into_boxed_body()
    };
    let mut response = normalize_error_body(response);
    let status = response.status();
    // Only requests that would change something: a read stays free of
    // side effects (GET and HEAD change nothing, not even the log).
    // Only requests that would change something: a read stays free of
    // side effects (GET and HEAD change nothing, not even the log).
    if status == StatusCode::NOT_FOUND
        && route.contains("{id}")
        && !matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS")
        && !matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS")
        && let Some(state) = &state
    {
        note_unknown_id(state, &response, &route).await;
    }
    let elapsed = started.elapsed();
    span.in_scope(|| {
        tracing::info!(
            status = status.as_u16(),
            latency_ms = elapsed.as_secs_f64() * 1e3,
            "handled"
        );
    });
    let labels = [
        ("route", route),
        ("method", method),
        ("status", status.as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
    let hsts = state.as_ref().is_some_and(|s| s.https);
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert(HeaderName::from_static(REQUEST_ID), value);
    }
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        (
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        ),
        ("cross-origin-resource-policy", "same-origin"),
        ("cache-control", "no-store"),
    ] {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    if hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    Ok(response)
}

/// The bytes a header line takes on the wire: `name: value` and CRLF.
fn header_line_bytes(name: &HeaderName, value: &HeaderValue) -> usize {
    name.as_str().len() + value.len() + 4
}

/// Why a request is refused before it reaches a handler, if it is: a
/// request target or header section over its limit, a declared body over
/// its limit, or a credential in the URL.
fn refusal(request: &ServiceRequest, limits: &RequestLimits) -> Option<HttpResponse> {
    let uri = request.uri().to_string();
    if uri.len() > limits.max_uri_bytes {
        return Some(problem_response(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            Some(format!(
                "The request target is longer than {} bytes.",
                limits.max_uri_bytes
            )),
            None,
        ));
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| header_line_bytes(name, value))
        .sum();
    if header_bytes > limits.max_header_bytes {
        return Some(problem_response(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            Some(format!(
                "The request headers are larger than {} bytes.",
                limits.max_header_bytes
            )),
            None,
        ));
    }
    let declared_body = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let max_body = u64::try_from(limits.max_body_bytes).unwrap_or(u64::MAX);
    if declared_body.is_some_and(|length| length > max_body) {
        return Some(problem_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            Some(format!(
                "The body is larger than {} bytes.",
                limits.max_body_bytes
            )),
            None,
        ));
    }
    // No token of any kind belongs in a URL.
    if bookwarden_app::TokenKind::ALL
        .iter()
        .any(|kind| uri.contains(kind.prefix()))
    {
        return Some(problem_response(
            StatusCode::BAD_REQUEST,
            "credential_in_url",
            Some(
                "Credentials go in the Authorization header or the body, never in a URL."
                    .to_owned(),
            ),
            None,
        ));
    }
    None
}

/// Replaces the body of an error response that is not already a problem
/// document (actix's own 404, 405, 413 and payload errors).
fn normalize_error_body(response: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON));
    if is_problem {
        return response;
    }
    let detail = if status.is_server_error() {
        crate::problem::INTERNAL_DETAIL.to_owned()
    } else {
        status
            .canonical_reason()
            .unwrap_or("Bad request")
            .to_owned()
    };
    let (request, old) = response.into_parts();
    let mut fresh = problem_response(status, code_for(status), Some(detail), None);
    for (name, value) in old.headers() {
        if name == header::ALLOW || name == header::RETRY_AFTER || name == header::SET_COOKIE {
            fresh.headers_mut().append(name.clone(), value.clone());
        }
    }
    ServiceResponse::new(request, fresh)
}

/// Audits, in the caller's business, an authenticated request whose path
/// names an id it cannot see (another business's or nobody's, alike),
/// within the business's budget, before the answer goes out: both kinds of
/// id are written alike, so the answer's timing tells them no more apart
/// than its body does, and the entry is in the log once the caller has the
/// answer.
async fn note_unknown_id(
    state: &web::Data<State>,
    response: &ServiceResponse<BoxBody>,
    route: &str,
) {
    let request = response.request();
    let Some(principal) = request.extensions().get::<Principal>().cloned() else {
        return;
    };
    if !state.limits.unknown_id(principal.tenant()) {
        return;
    }
    let typed = request
        .match_info()
        .get("id")
        .unwrap_or_default()
        .to_owned();
    if let Err(error) = state.app.note_unknown_id(&principal, route, &typed).await {
        tracing::warn!(%error, "a request for an unknown id was not audited");
    }
}
