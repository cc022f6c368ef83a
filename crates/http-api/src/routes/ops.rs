//! Operations endpoints: liveness, readiness and Prometheus metrics.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};

use crate::problem::problem_response;
use crate::state::State;

pub(super) fn configure(config: &mut web::ServiceConfig) {
    config.service(healthz).service(readyz).service(metrics);
}

/// The process is up.
#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Every database answers.
#[get("/readyz")]
async fn readyz(state: web::Data<State>) -> HttpResponse {
    match state.app.ready().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })),
        Err(error) => {
            tracing::warn!(error = ?error, "not ready");
            problem_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                Some("A database does not answer.".to_owned()),
                None,
            )
        }
    }
}

/// Prometheus text format.
#[get("/metrics")]
async fn metrics(state: web::Data<State>) -> HttpResponse {
    ::metrics::gauge!("password_hashes_in_flight").set(state.app.hashes_in_flight() as f64);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
