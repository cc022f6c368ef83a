//! Operations endpoints: liveness, readiness, Prometheus metrics and the
//! OpenAPI document.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};

use crate::dto::Status;
use crate::openapi::Errors;
use crate::problem::problem_response;
use crate::state::State;

pub(super) fn configure(config: &mut web::ServiceConfig) {
    config
        .service(healthz)
        .service(readyz)
        .service(metrics)
        .service(crate::openapi::openapi_json_route);
}

/// The process is up.
#[utoipa::path(tag = "operations", responses((status = 200, body = Status)))]
#[get("/healthz")]
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Status {
        status: "ok".to_owned(),
    })
}

/// Every database answers, and scheduled backups (where configured) meet
/// their recovery point.
#[utoipa::path(tag = "operations", responses((status = 200, body = Status), Errors))]
#[get("/readyz")]
pub(crate) async fn readyz(state: web::Data<State>) -> HttpResponse {
    match state.app.ready().await {
        Ok(()) => match state.app.backup_overdue() {
            None => HttpResponse::Ok().json(Status {
                status: "ready".to_owned(),
            }),
            Some(why) => {
                tracing::warn!(%why, "not ready");
                problem_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "not_ready",
                    Some("The last good backup is older than the schedule allows.".to_owned()),
                    None,
                )
            }
        },
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

/// Prometheus text format: requests and latencies by route and status,
/// sign-in failures, lockouts, hashes in flight.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Prometheus text", content_type = "text/plain")))]
#[get("/metrics")]
pub(crate) async fn metrics(state: web::Data<State>) -> HttpResponse {
    ::metrics::gauge!("password_hashes_in_flight").set(state.app.hashes_in_flight() as f64);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
