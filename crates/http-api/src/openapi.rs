//! The OpenAPI 3.1 description, generated from the handlers' annotations
//! and the response types in [`crate::dto`]; served at `/openapi.json` and
//! checked in as docs/openapi.json (a test fails when that copy is stale).

use actix_web::{HttpResponse, get};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi};

use crate::problem::Problem;
use crate::routes;

/// Every error the API answers, each as `application/problem+json` with a
/// stable `code`.
#[derive(IntoResponses)]
#[allow(dead_code, reason = "describes responses; never constructed")]
pub(crate) enum Errors {
    /// Malformed JSON, query or headers, an invalid token or invitation.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// No valid credential, a wrong password or two-factor code.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthenticated(Problem),
    /// The credential may not do this (role, scope, CSRF).
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// Nothing by that id here (another business's id answers the same).
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// Not with this method.
    #[response(status = 405, content_type = "application/problem+json")]
    MethodNotAllowed(Problem),
    /// Conflicts with what exists (a taken slot, a reused key, ...).
    #[response(status = 409, content_type = "application/problem+json")]
    Conflict(Problem),
    /// The body is over 64 KiB.
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(Problem),
    /// Not `application/json`.
    #[response(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Problem),
    /// A field is not acceptable (`field` names it).
    #[response(status = 422, content_type = "application/problem+json")]
    Invalid(Problem),
    /// A per-address budget or an account lockout; see `Retry-After`.
    #[response(status = 429, content_type = "application/problem+json")]
    TooMany(Problem),
    /// A fixed text; the cause is in the log under the `x-request-id`.
    #[response(status = 500, content_type = "application/problem+json")]
    Internal(Problem),
    /// Busy or not ready; see `Retry-After`.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("bw_ses_... (session) or bw_key_... (API key)")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::extract::SESSION_COOKIE,
                "The browser variant; state-changing requests also send X-CSRF-Token.",
            ))),
        );
        components.add_security_scheme(
            "manage_token",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("bw_mng_... (a customer's booking)")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "data_request_token",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("bw_drq_... (a customer's data-rights request)")
                    .build(),
            ),
        );
    }
}

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bookwarden",
        description = "Multi-tenant appointment booking. Errors are RFC 9457 problem documents; credentials never travel in a URL."
    ),
    modifiers(&Security),
    components(schemas(Problem)),
    paths(
        routes::ops::healthz,
        routes::ops::readyz,
        routes::ops::metrics,
        openapi_json_route,
        routes::sessions::signup,
        routes::sessions::login,
        routes::sessions::logout,
        routes::sessions::me,
        routes::sessions::sign_in_notices,
        routes::sessions::change_password,
        routes::sessions::totp_begin,
        routes::sessions::totp_confirm,
        routes::sessions::totp_disable,
        routes::accounts::users,
        routes::accounts::change_user,
        routes::accounts::force_reset,
        routes::accounts::complete_reset,
        routes::accounts::privileged_report,
        routes::accounts::invite,
        routes::accounts::invitations,
        routes::accounts::withdraw_invitation,
        routes::accounts::accept_invitation,
        routes::accounts::create_api_key,
        routes::accounts::api_keys,
        routes::accounts::revoke_api_key,
        routes::accounts::audit,
        routes::accounts::verify_audit,
        routes::catalog::create_staff,
        routes::catalog::staff_list,
        routes::catalog::staff_get,
        routes::catalog::delete_staff,
        routes::catalog::put_schedule,
        routes::catalog::get_schedule,
        routes::catalog::create_service,
        routes::catalog::services,
        routes::catalog::service_get,
        routes::catalog::delete_service,
        routes::catalog::create_customer,
        routes::catalog::customers,
        routes::catalog::customer_get,
        routes::bookings::bookings,
        routes::bookings::create_booking,
        routes::bookings::booking,
        routes::bookings::confirm,
        routes::bookings::cancel,
        routes::bookings::reschedule,
        routes::bookings::public_services,
        routes::bookings::public_slots,
        routes::bookings::public_book,
        routes::bookings::manage_view,
        routes::bookings::manage_cancel,
        routes::bookings::manage_reschedule,
        routes::bookings::manage_ics,
        routes::calendars::connect,
        routes::calendars::start_oauth,
        routes::calendars::complete_oauth,
        routes::calendars::connections,
        routes::calendars::change_mode,
        routes::calendars::sync_now,
        routes::calendars::disconnect,
        routes::calendars::fail_policy,
        routes::calendars::set_fail_policy,
        routes::rights::export_customer,
        routes::rights::export_tenant,
        routes::rights::erase_customer,
        routes::rights::erase_tenant,
        routes::rights::create_data_request,
        routes::rights::use_data_request,
    )
)]
pub(crate) struct ApiDoc;

/// The document as pretty JSON with a trailing newline, as checked in.
pub fn openapi_json() -> String {
    let mut text = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

/// This document.
#[utoipa::path(tag = "operations", responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
#[get("/openapi.json")]
pub(crate) async fn openapi_json_route() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(openapi_json())
}
