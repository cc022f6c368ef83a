//! Building and running the HTTP server: the configured request limits
//! (body size, time to send a request's head) and strict parsing,
//! the envelope middleware, every route, and the listener (plain HTTP for a
//! terminating proxy or local use, or built-in TLS with rustls).

use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use actix_web::dev::Server;
use actix_web::http::StatusCode;
use actix_web::middleware::from_fn;
use actix_web::{HttpRequest, HttpResponse, web};
use bookwarden_app::App;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::Config;
use crate::envelope::envelope;
use crate::problem::{ApiError, problem_response};
use crate::routes;
use crate::state::{Limits, State};

/// How often recorded histogram samples are folded into their buckets,
/// which bounds the recorder's memory whether or not `/metrics` is scraped.
const METRICS_UPKEEP: std::time::Duration = std::time::Duration::from_secs(5);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The listener or the server failed.
    #[error("cannot listen")]
    Io(#[from] std::io::Error),
    /// The TLS certificate or key is unusable.
    #[error("TLS: {0}")]
    Tls(String),
    /// The metrics recorder could not be installed.
    #[error("metrics: {0}")]
    Metrics(String),
}

/// The process-wide metrics recorder (installed once, shared by every
/// server in the process).
pub(crate) fn metrics_handle() -> Result<PrometheusHandle, StartError> {
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("http_request_duration_seconds".to_owned()),
                    &[
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    ],
                )
                .map_err(|e| e.to_string())?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).map_err(|e| e.to_string())?;
            Ok(handle)
        })
        .clone()
        .map_err(StartError::Metrics)
}

/// Loads a PEM certificate chain and private key into a rustls server
/// configuration (TLS 1.2 and 1.3, ring).
///
/// # Errors
/// [`StartError::Tls`] naming the file at fault.
pub fn tls_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, StartError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| StartError::Tls(format!("certificate {}: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(StartError::Tls(format!(
            "certificate {}: no certificate",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| StartError::Tls(format!("private key {}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StartError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| StartError::Tls(e.to_string()))
}

async fn not_found() -> HttpResponse {
    problem_response(
        StatusCode::NOT_FOUND,
        "not_found",
        Some("Not Found".to_owned()),
        None,
    )
}

/// A JSON body that could not be taken, as a problem; `max_body_bytes` is
/// the configured body limit.
fn json_error(
    error: &actix_web::error::JsonPayloadError,
    max_body_bytes: usize,
) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    let api = match error {
        E::OverflowKnownLength { .. } | E::Overflow { .. } => ApiError::BadRequest {
            code: "payload_too_large",
            detail: format!("The body is larger than {max_body_bytes} bytes."),
            status: StatusCode::PAYLOAD_TOO_LARGE,
        },
        E::ContentType => ApiError::BadRequest {
            code: "unsupported_media_type",
            detail: "Send application/json.".to_owned(),
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        },
        E::Deserialize(inner) => ApiError::bad_request("malformed_json", json_detail(inner)),
        _ => ApiError::bad_request("malformed_json", "The body could not be read as JSON."),
    };
    api.into()
}

/// What was wrong with a JSON body, by position: unknown and missing
/// fields are named, but a value the client sent is never echoed back.
fn json_detail(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let (line, column) = (error.line(), error.column());
    match error.classify() {
        Category::Data => {
            let message = error.to_string();
            if message.starts_with("unknown field") || message.starts_with("missing field") {
                message
            } else {
                format!(
                    "a value has the wrong type or is out of range at line {line} column {column}"
                )
            }
        }
        Category::Syntax | Category::Eof => {
            format!("the body is not valid JSON (line {line}, column {column})")
        }
        Category::Io => "the body could not be read".to_owned(),
    }
}

fn query_error(error: actix_web::error::QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    ApiError::bad_request("malformed_query", error.to_string()).into()
}

fn path_error(_: actix_web::error::PathError, _: &HttpRequest) -> actix_web::Error {
    ApiError::App(bookwarden_app::AppError::NotFound).into()
}

/// Where and how to listen.
pub struct Listen {
    /// A bound listener.
    pub listener: TcpListener,
    /// Built-in TLS, if any.
    pub tls: Option<rustls::ServerConfig>,
}

/// Starts serving `app` on `listen` with `config`'s workers, limits and
/// proxy setting; the returned server runs until stopped. SIGTERM stops it
/// gracefully (in-flight requests finish, for up to 30 seconds); SIGINT and
/// SIGQUIT stop it at once.
///
/// # Errors
/// [`StartError`].
pub fn start(app: Arc<App>, listen: Listen, config: &Config) -> Result<Server, StartError> {
    let workers = config.workers;
    let https = listen.tls.is_some() || config.behind_proxy;
    let request_limits = config.request_limits;
    let max_body = request_limits.max_body_bytes;
    let state = web::Data::new(State {
        limits: Limits::new(config.rate_limits),
        request_limits,
        metrics: metrics_handle()?,
        https,
        behind_proxy: config.behind_proxy,
        app,
    });
    let housekeeping = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            housekeeping.limits.shrink();
        }
    });
    // Histogram samples wait in the recorder until they are folded into
    // their buckets; without this a server nobody scrapes grows forever.
    let upkeep = state.metrics.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(METRICS_UPKEEP);
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(state.clone())
            .app_data(
                web::JsonConfig::default()
                    .limit(max_body)
                    .error_handler(move |error, _| json_error(&error, max_body)),
            )
            .app_data(web::QueryConfig::default().error_handler(query_error))
            .app_data(web::PathConfig::default().error_handler(path_error))
            .app_data(web::PayloadConfig::default().limit(max_body))
            .configure(routes::configure)
            .default_service(web::to(not_found))
            .wrap(from_fn(envelope))
    })
    .client_request_timeout(request_limits.request_timeout)
    .shutdown_timeout(30)
    .workers(workers);
    let server = match listen.tls {
        Some(tls) => server.listen_rustls_0_23(listen.listener, tls)?,
        None => server.listen(listen.listener)?,
    };
    Ok(server.run())
}
