//! Errors as RFC 9457 `application/problem+json`, in one place.
//!
//! A 4xx carries a stable `code` and a safe `detail`; a 5xx carries a fixed
//! text while its cause goes to the log inside the request's span (which
//! holds the request id). The request id itself travels only in the
//! `x-request-id` header, so two answers to the same mistake are
//! byte-identical.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use bookwarden_app::AppError;
use serde::Serialize;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One problem document (RFC 9457).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Problem {
    /// A stable URN per code.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short human title.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// The stable machine code.
    pub code: &'static str,
    /// A safe explanation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request field at fault, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
}

/// An error the API answers with.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// A use case said no.
    #[error(transparent)]
    App(#[from] AppError),
    /// The request itself is malformed (JSON, path, query, headers).
    #[error("{detail}")]
    BadRequest {
        /// The code.
        code: &'static str,
        /// A safe explanation.
        detail: String,
        /// The status (400, 413 or 415).
        status: StatusCode,
    },
    /// A per-address budget ran out.
    #[error("too many requests")]
    RateLimited {
        /// When to come back.
        retry_after: Duration,
    },
}

impl ApiError {
    /// A malformed request.
    pub(crate) fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            detail: detail.into(),
            status: StatusCode::BAD_REQUEST,
        }
    }
}

/// The body and headers of a problem with this status and code.
pub(crate) fn problem_response(
    status: StatusCode,
    code: &'static str,
    detail: Option<String>,
    field: Option<&'static str>,
) -> HttpResponse {
    let problem = Problem {
        kind: format!("urn:bookwarden:problem:{code}"),
        title: status.canonical_reason().unwrap_or("Error"),
        status: status.as_u16(),
        code,
        detail,
        field,
    };
    let body = serde_json::to_vec(&problem).unwrap_or_else(|_unserializable| {
        br#"{"type":"urn:bookwarden:problem:internal","title":"Internal Server Error","status":500,"code":"internal"}"#.to_vec()
    });
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, PROBLEM_JSON))
        .body(body)
}

fn retry_after(response: &mut HttpResponse, wait: Duration) {
    let secs = wait.as_secs().max(1);
    if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
}

/// The fixed detail of every 5xx.
pub const INTERNAL_DETAIL: &str = "Something went wrong on our side. It has been logged.";

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::App(error) => app_status(error).0,
            Self::BadRequest { status, .. } => *status,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::App(error) => {
                let (status, code) = app_status(error);
                if status.is_server_error() {
                    tracing::error!(error = %chain(error), "request failed");
                }
                let (detail, field) = match error {
                    AppError::Invalid { field, reason } => (Some(reason.clone()), Some(*field)),
                    AppError::WeakPassword(violation) => {
                        (Some(violation.to_string()), Some("password"))
                    }
                    AppError::Internal(_) => (Some(INTERNAL_DETAIL.to_owned()), None),
                    other => (Some(other.to_string()), None),
                };
                let mut response = problem_response(status, code, detail, field);
                match error {
                    AppError::Locked { retry_after: wait } => retry_after(&mut response, *wait),
                    AppError::Busy => retry_after(&mut response, Duration::from_secs(1)),
                    _ => {}
                }
                response
            }
            Self::BadRequest {
                code,
                detail,
                status,
            } => problem_response(*status, code, Some(detail.clone()), None),
            Self::RateLimited { retry_after: wait } => {
                let mut response = problem_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    Some("Too many requests from this address; slow down.".to_owned()),
                    None,
                );
                retry_after(&mut response, *wait);
                response
            }
        }
    }
}

/// Status and stable code per use-case answer.
fn app_status(error: &AppError) -> (StatusCode, &'static str) {
    match error {
        AppError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        AppError::WeakPassword(_) => (StatusCode::UNPROCESSABLE_ENTITY, "weak_password"),
        AppError::LoginFailed => (StatusCode::UNAUTHORIZED, "login_failed"),
        AppError::OtpRequired => (StatusCode::UNAUTHORIZED, "otp_required"),
        AppError::OtpInvalid => (StatusCode::UNAUTHORIZED, "otp_invalid"),
        AppError::ResetRequired => (StatusCode::FORBIDDEN, "password_reset_required"),
        AppError::Locked { .. } => (StatusCode::TOO_MANY_REQUESTS, "account_locked"),
        AppError::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
        AppError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
        AppError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
        AppError::Conflict(conflict) => (StatusCode::CONFLICT, conflict.code()),
        AppError::InvitationInvalid => (StatusCode::BAD_REQUEST, "invitation_invalid"),
        AppError::ResetTokenInvalid => (StatusCode::BAD_REQUEST, "reset_token_invalid"),
        AppError::Busy => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

/// The whole cause chain, for the log.
fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

    use actix_web::body::MessageBody as _;

    use super::*;

    #[test]
    fn p8_a_server_error_answers_a_fixed_text_and_keeps_its_cause_out_of_the_body() {
        let cause = std::io::Error::other("connection to db.internal:5432 refused; user=app");
        let response = ApiError::App(AppError::internal(cause)).error_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE).unwrap(),
            PROBLEM_JSON
        );
        let body = response.into_body().try_into_bytes().unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.contains(INTERNAL_DETAIL), "{text}");
        assert!(text.contains(r#""code":"internal""#), "{text}");
        assert!(
            !text.contains("db.internal") && !text.contains("user=app"),
            "{text}"
        );
    }
}
