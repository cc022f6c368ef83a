//! Staff calendars: connect an iCalendar feed or a CalDAV account, list
//! connections with their health, change what is imported, sync now,
//! disconnect, and the business's fail policy for unhealthy calendars.

use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use bookwarden_app::{AppError, ConnectCalendar, SecretString};
use bookwarden_domain::calendar::{FailPolicy, Provider, SyncMode};
use bookwarden_domain::id::{ConnectionId, StaffId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::dto::{ConnectionOut, ConnectionsOut};
use crate::extract::{Authenticated, Client, Person};
use crate::openapi::Errors;
use crate::parse::{field_id, path_id};
use crate::problem::ApiError;
use crate::state::State;

pub(super) fn configure(config: &mut web::ServiceConfig) {
    config
        .service(connect)
        .service(start_oauth)
        .service(complete_oauth)
        .service(connections)
        .service(change_mode)
        .service(sync_now)
        .service(disconnect)
        .service(fail_policy)
        .service(set_fail_policy);
}

/// A calendar to connect. `kind` is `ics` (give `url`) or `caldav` (give
/// `server`, `user` and an app-specific `password`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConnectBody {
    /// Whose calendar.
    staff_id: String,
    /// `ics` or `caldav`.
    kind: String,
    /// `busy_only` (the default) or `with_subject`.
    mode: Option<String>,
    /// The feed's `https://` or `webcal://` address (`ics`).
    url: Option<String>,
    /// The CalDAV server, e.g. `https://caldav.icloud.com/` (`caldav`).
    server: Option<String>,
    /// The CalDAV account name (`caldav`).
    user: Option<String>,
    /// The CalDAV app-specific password (`caldav`).
    password: Option<String>,
}

fn mode(text: Option<&str>) -> Result<SyncMode, AppError> {
    text.map_or(Ok(SyncMode::BusyOnly), |t| {
        SyncMode::parse(t)
            .map_err(|_unknown| AppError::invalid("mode", "busy_only or with_subject"))
    })
}

fn required(field: &'static str, value: Option<String>) -> Result<String, AppError> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| AppError::invalid(field, "is required for this kind"))
}

/// Connects a staff member's calendar (their own; admins for anyone). A
/// first sync runs before anything is stored: an address that cannot be
/// fetched is refused with one answer, whatever the reason.
#[utoipa::path(tag = "calendars", security(("bearer" = []), ("session_cookie" = [])), request_body = ConnectBody, responses((status = 201, body = ConnectionOut), Errors))]
#[post("/v1/calendar-connections")]
pub(crate) async fn connect(
    state: web::Data<State>,
    client: Client,
    Person(principal): Person,
    body: web::Json<ConnectBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let staff: StaffId = field_id("staff_id", &body.staff_id)?;
    let mode = mode(body.mode.as_deref())?;
    let unexpected = |field: &'static str, given: bool| {
        if given {
            Err(AppError::invalid(field, "does not belong to this kind"))
        } else {
            Ok(())
        }
    };
    let source = match body.kind.as_str() {
        "ics" => {
            unexpected("server", body.server.is_some())?;
            unexpected("user", body.user.is_some())?;
            unexpected("password", body.password.is_some())?;
            ConnectCalendar::IcsFeed {
                url: SecretString::new(required("url", body.url)?),
            }
        }
        "caldav" => {
            unexpected("url", body.url.is_some())?;
            ConnectCalendar::CalDav {
                server: required("server", body.server)?,
                user: required("user", body.user)?,
                password: SecretString::new(required("password", body.password)?),
            }
        }
        _ => return Err(AppError::invalid("kind", "ics or caldav").into()),
    };
    let view = state
        .app
        .connect_calendar(&principal, staff, mode, source, &client.0)
        .await?;
    Ok(HttpResponse::Created().json(ConnectionOut::from(&view)))
}

/// A Google or Microsoft calendar to connect.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StartOAuthBody {
    /// Whose calendar.
    staff_id: String,
    /// `google` or `microsoft`.
    provider: String,
    /// `busy_only` (the default) or `with_subject`.
    mode: Option<String>,
    /// A connection of theirs at the same provider whose consent this
    /// renews, in `mode` (how a Google connection changes mode).
    connection_id: Option<String>,
}

/// Where to send the person's browser.
#[derive(Serialize, ToSchema)]
pub(crate) struct StartOAuthOut {
    /// The provider's consent page, carrying the `state` to hand back.
    authorization_url: String,
}

/// Starts connecting a Google or Microsoft calendar (the person's own;
/// admins for anyone): answers the provider's consent page. The provider
/// sends the browser back to the configured redirect page with `code` and
/// `state`, which that page passes to `.../oauth/complete` within ten
/// minutes, signed in as the same person.
#[utoipa::path(tag = "calendars", security(("bearer" = []), ("session_cookie" = [])), request_body = StartOAuthBody, responses((status = 200, body = StartOAuthOut), Errors))]
#[post("/v1/calendar-connections/oauth")]
pub(crate) async fn start_oauth(
    state: web::Data<State>,
    Person(principal): Person,
    body: web::Json<StartOAuthBody>,
) -> Result<HttpResponse, ApiError> {
    let staff: StaffId = field_id("staff_id", &body.staff_id)?;
    let provider = match Provider::parse(&body.provider) {
        Ok(p @ (Provider::Google | Provider::Microsoft)) => p,
        _ => return Err(AppError::invalid("provider", "google or microsoft").into()),
    };
    let mode = mode(body.mode.as_deref())?;
    let replaces: Option<ConnectionId> = body
        .connection_id
        .as_deref()
        .map(|id| field_id("connection_id", id))
        .transpose()?;
    let url = state
        .app
        .start_calendar_oauth(&principal, staff, provider, mode, replaces)
        .await?;
    Ok(HttpResponse::Ok().json(StartOAuthOut {
        authorization_url: url,
    }))
}

/// What the provider sent the browser back with.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CompleteOAuthBody {
    /// The authorization code.
    code: String,
    /// The `state`, unchanged.
    state: String,
}

/// Completes a Google or Microsoft connection: the code is exchanged, a
/// first sync runs, and the connection is stored. A `state` this person
/// did not start, or older than ten minutes, is refused.
#[utoipa::path(tag = "calendars", security(("bearer" = []), ("session_cookie" = [])), request_body = CompleteOAuthBody, responses((status = 201, body = ConnectionOut), Errors))]
#[post("/v1/calendar-connections/oauth/complete")]
pub(crate) async fn complete_oauth(
    state: web::Data<State>,
    client: Client,
    Person(principal): Person,
    body: web::Json<CompleteOAuthBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if body.code.trim().is_empty() || body.code.len() > 4096 {
        return Err(AppError::invalid("code", "1 to 4096 characters").into());
    }
    if body.state.len() > 4096 {
        return Err(AppError::invalid("state", "too long").into());
    }
    let view = state
        .app
        .complete_calendar_oauth(
            &principal,
            &SecretString::new(body.code),
            &body.state,
            &client.0,
        )
        .await?;
    Ok(HttpResponse::Created().json(ConnectionOut::from(&view)))
}

/// Calendar connections with their health: all of them for admins, one's
/// own otherwise.
#[utoipa::path(tag = "calendars", security(("bearer" = []), ("session_cookie" = [])), responses((status = 200, body = ConnectionsOut), Errors))]
#[get("/v1/calendar-connections")]
pub(crate) async fn connections(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let all = state.app.calendar_connections(&principal).await?;
    Ok(HttpResponse::Ok().json(ConnectionsOut {
        connections: all.iter().map(ConnectionOut::from).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModeBody {
    /// `busy_only` or `with_subject`.
    mode: String,
}

/// Changes what a connection imports, then syncs it. Moving to
/// `busy_only` deletes every subject kept at once.
#[utoipa::path(tag = "calendars", security(("bearer" = []), ("session_cookie" = [])), params(("id" = String, Path)), request_body = ModeBody, responses((status = 200, body = ConnectionOut), Errors))]
#[patch("/v1/calendar-connections/{id}")]
pub(crate) async fn change_mode(
    state: web::Data<State>,
    client: Client,
    Authenticated(principal): Authenticated,
    id: web::Path<String>,
    body: web::Json<ModeBody>,
) -> Result<HttpResponse, ApiError> {
    let id: ConnectionId = path_id(&id)?;
    let mode = mode(Some(&body.mode))?;
    let view = state
        .app
        .set_calendar_mode(&principal, id, mode, &client.0)
        .await?;
    Ok(HttpResponse::Ok().json(ConnectionOut::from(&view)))
}

/// Syncs a connection now. A failed sync is still a 200: the connection's
/// health and `last_error` say what went wrong, and its busy time stays.
#[utoipa::path(tag = "calendars", security(("bearer" = []), ("session_cookie" = [])), params(("id" = String, Path)), responses((status = 200, body = ConnectionOut), Errors))]
#[post("/v1/calendar-connections/{id}/sync")]
pub(crate) async fn sync_now(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: ConnectionId = path_id(&id)?;
    let view = state.app.sync_calendar_now(&principal, id).await?;
    Ok(HttpResponse::Ok().json(ConnectionOut::from(&view)))
}

/// Disconnects a calendar: its credentials and every busy block imported
/// from it are deleted.
#[utoipa::path(tag = "calendars", security(("bearer" = []), ("session_cookie" = [])), params(("id" = String, Path)), responses((status = 204, description = "Disconnected"), Errors))]
#[delete("/v1/calendar-connections/{id}")]
pub(crate) async fn disconnect(
    state: web::Data<State>,
    client: Client,
    Authenticated(principal): Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: ConnectionId = path_id(&id)?;
    state
        .app
        .disconnect_calendar(&principal, id, &client.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// What the booking page does with a staff member whose calendar is not
/// healthy.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicyBody {
    /// `hide` (the default: offer none of their times) or `warn` (offer
    /// them, with the calendar's health in the slots response).
    unhealthy_calendars: String,
}

/// The business's fail policy.
#[utoipa::path(tag = "calendars", security(("bearer" = []), ("session_cookie" = [])), responses((status = 200, body = PolicyBody), Errors))]
#[get("/v1/calendar-policy")]
pub(crate) async fn fail_policy(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let policy = state.app.calendar_fail_policy(&principal).await?;
    Ok(HttpResponse::Ok().json(PolicyBody {
        unhealthy_calendars: policy.as_str().to_owned(),
    }))
}

/// Sets the business's fail policy (admins).
#[utoipa::path(tag = "calendars", security(("bearer" = []), ("session_cookie" = [])), request_body = PolicyBody, responses((status = 200, body = PolicyBody), Errors))]
#[put("/v1/calendar-policy")]
pub(crate) async fn set_fail_policy(
    state: web::Data<State>,
    client: Client,
    Authenticated(principal): Authenticated,
    body: web::Json<PolicyBody>,
) -> Result<HttpResponse, ApiError> {
    let policy = FailPolicy::parse(&body.unhealthy_calendars)
        .map_err(|_unknown| AppError::invalid("unhealthy_calendars", "hide or warn"))?;
    let policy = state
        .app
        .set_calendar_fail_policy(&principal, policy, &client.0)
        .await?;
    Ok(HttpResponse::Ok().json(PolicyBody {
        unhealthy_calendars: policy.as_str().to_owned(),
    }))
}
