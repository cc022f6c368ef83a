//! Managing a tenant's people and keys: accounts and roles, the
//! privileged-access report, invitations, API keys and the audit log.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use bookwarden_app::{AppError, SecretString, UserChange};
use bookwarden_domain::audit::AuditKind;
use bookwarden_domain::id::{ApiKeyId, InvitationId, UserId};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::dto::{
    AccountCreated, AccountsOut, ApiKeyCreatedOut, ApiKeyOut, ApiKeysOut, AuditEntryOut, AuditOut,
    AuditVerificationOut, InvitationCreatedOut, InvitationOut, InvitationsOut, ResetOut, UserOut,
    UsersOut,
};
use crate::extract::{Admin, Client, Person};
use crate::openapi::Errors;
use crate::parse::{instant, path_id, role, scopes};
use crate::problem::ApiError;
use crate::state::State;

pub(super) fn configure(config: &mut web::ServiceConfig) {
    config
        .service(users)
        .service(change_user)
        .service(force_reset)
        .service(complete_reset)
        .service(privileged_report)
        .service(invite)
        .service(invitations)
        .service(withdraw_invitation)
        .service(accept_invitation)
        .service(create_api_key)
        .service(api_keys)
        .service(revoke_api_key)
        .service(audit)
        .service(verify_audit);
}

/// Every account of the tenant.
#[utoipa::path(tag = "accounts", security(("bearer" = []), ("session_cookie" = [])), responses((status = 200, body = UsersOut), Errors))]
#[get("/v1/users")]
pub(crate) async fn users(
    state: web::Data<State>,
    Admin(principal): Admin,
) -> Result<HttpResponse, ApiError> {
    let all = state.app.users(&principal).await?;
    Ok(HttpResponse::Ok().json(UsersOut {
        users: all.iter().map(UserOut::from).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserPatch {
    role: Option<String>,
    active: Option<bool>,
}

/// Changes another account's role or status.
#[utoipa::path(tag = "accounts", security(("bearer" = []), ("session_cookie" = [])), params(("id" = String, Path)), request_body = UserPatch, responses((status = 200, body = UserOut), Errors))]
#[patch("/v1/users/{id}")]
pub(crate) async fn change_user(
    state: web::Data<State>,
    client: Client,
    Person(principal): Person,
    id: web::Path<String>,
    body: web::Json<UserPatch>,
) -> Result<HttpResponse, ApiError> {
    let target: UserId = path_id(&id)?;
    let body = body.into_inner();
    let change = UserChange {
        role: body.role.as_deref().map(role).transpose()?,
        active: body.active,
    };
    let user = state
        .app
        .change_user(&principal, target, change, &client.0)
        .await?;
    Ok(HttpResponse::Ok().json(UserOut::from(&user)))
}

/// Forces a password reset: the password stops working, sessions end, and
/// the single-use reset token is answered once, for the admin to hand over
/// out of band.
#[utoipa::path(tag = "accounts", security(("bearer" = []), ("session_cookie" = [])), params(("id" = String, Path)), responses((status = 201, body = ResetOut), Errors))]
#[post("/v1/users/{id}/password-reset")]
pub(crate) async fn force_reset(
    state: web::Data<State>,
    client: Client,
    Person(principal): Person,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let target: UserId = path_id(&id)?;
    let issued = state
        .app
        .force_password_reset(&principal, target, &client.0)
        .await?;
    Ok(HttpResponse::Created().json(ResetOut {
        reset_token: issued.token.expose_secret().to_owned(),
        expires_at: issued.expires_at.to_string(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResetBody {
    token: String,
    new_password: String,
}

/// Sets a new password with a reset token (in the body, never the URL).
#[utoipa::path(tag = "accounts", request_body = ResetBody, responses((status = 204, description = "The new password is set"), Errors))]
#[post("/v1/password-resets")]
pub(crate) async fn complete_reset(
    state: web::Data<State>,
    client: Client,
    body: web::Json<ResetBody>,
) -> Result<HttpResponse, ApiError> {
    state.limits.login(client.address())?;
    let body = body.into_inner();
    state
        .app
        .complete_password_reset(&body.token, SecretString::new(body.new_password), &client.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Owners and admins with their last sign-in (P14).
#[utoipa::path(tag = "accounts", security(("bearer" = []), ("session_cookie" = [])), responses((status = 200, body = AccountsOut), Errors))]
#[get("/v1/reports/privileged-accounts")]
pub(crate) async fn privileged_report(
    state: web::Data<State>,
    Admin(principal): Admin,
) -> Result<HttpResponse, ApiError> {
    let accounts = state.app.privileged_accounts(&principal).await?;
    Ok(HttpResponse::Ok().json(AccountsOut {
        accounts: accounts.iter().map(UserOut::from).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct InviteBody {
    email: String,
    role: String,
}

/// Invites a person; the single-use token is answered once.
#[utoipa::path(tag = "accounts", security(("bearer" = []), ("session_cookie" = [])), request_body = InviteBody, responses((status = 201, body = InvitationCreatedOut), Errors))]
#[post("/v1/invitations")]
pub(crate) async fn invite(
    state: web::Data<State>,
    client: Client,
    Person(principal): Person,
    body: web::Json<InviteBody>,
) -> Result<HttpResponse, ApiError> {
    let role = role(&body.role)?;
    let created = state
        .app
        .invite(&principal, &body.email, role, &client.0)
        .await?;
    Ok(HttpResponse::Created().json(InvitationCreatedOut {
        id: created.id.to_string(),
        token: created.token.expose_secret().to_owned(),
        expires_at: created.expires_at.to_string(),
    }))
}

/// The tenant's invitations.
#[utoipa::path(tag = "accounts", security(("bearer" = []), ("session_cookie" = [])), responses((status = 200, body = InvitationsOut), Errors))]
#[get("/v1/invitations")]
pub(crate) async fn invitations(
    state: web::Data<State>,
    Person(principal): Person,
) -> Result<HttpResponse, ApiError> {
    let all = state.app.invitations(&principal).await?;
    Ok(HttpResponse::Ok().json(InvitationsOut {
        invitations: all.iter().map(InvitationOut::from).collect(),
    }))
}

/// Withdraws an unused invitation.
#[utoipa::path(tag = "accounts", security(("bearer" = []), ("session_cookie" = [])), params(("id" = String, Path)), responses((status = 204, description = "Withdrawn"), Errors))]
#[delete("/v1/invitations/{id}")]
pub(crate) async fn withdraw_invitation(
    state: web::Data<State>,
    client: Client,
    Person(principal): Person,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: InvitationId = path_id(&id)?;
    state
        .app
        .withdraw_invitation(&principal, id, &client.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AcceptBody {
    token: String,
    name: String,
    password: String,
}

/// Accepts an invitation (the token travels in the body, never the URL).
#[utoipa::path(tag = "accounts", request_body = AcceptBody, responses((status = 201, body = AccountCreated), Errors))]
#[post("/v1/invitations/accept")]
pub(crate) async fn accept_invitation(
    state: web::Data<State>,
    client: Client,
    body: web::Json<AcceptBody>,
) -> Result<HttpResponse, ApiError> {
    state.limits.login(client.address())?;
    let body = body.into_inner();
    let done = state
        .app
        .accept_invitation(
            &body.token,
            &body.name,
            SecretString::new(body.password),
            &client.0,
        )
        .await?;
    Ok(HttpResponse::Created().json(AccountCreated {
        tenant_id: done.tenant.to_string(),
        user_id: done.user.to_string(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyBody {
    name: String,
    scopes: Vec<String>,
}

/// Creates an API key; the token is answered once.
#[utoipa::path(tag = "accounts", security(("bearer" = []), ("session_cookie" = [])), request_body = KeyBody, responses((status = 201, body = ApiKeyCreatedOut), Errors))]
#[post("/v1/api-keys")]
pub(crate) async fn create_api_key(
    state: web::Data<State>,
    client: Client,
    Person(principal): Person,
    body: web::Json<KeyBody>,
) -> Result<HttpResponse, ApiError> {
    if body.scopes.len() > 8 {
        return Err(AppError::invalid("scopes", "at most 8 entries").into());
    }
    let scopes = scopes(&body.scopes)?;
    let created = state
        .app
        .create_api_key(&principal, &body.name, &scopes, &client.0)
        .await?;
    Ok(HttpResponse::Created().json(ApiKeyCreatedOut {
        id: created.id.to_string(),
        token: created.token.expose_secret().to_owned(),
    }))
}

/// The tenant's API keys, without tokens.
#[utoipa::path(tag = "accounts", security(("bearer" = []), ("session_cookie" = [])), responses((status = 200, body = ApiKeysOut), Errors))]
#[get("/v1/api-keys")]
pub(crate) async fn api_keys(
    state: web::Data<State>,
    Person(principal): Person,
) -> Result<HttpResponse, ApiError> {
    let keys = state.app.api_keys(&principal).await?;
    Ok(HttpResponse::Ok().json(ApiKeysOut {
        api_keys: keys.iter().map(ApiKeyOut::from).collect(),
    }))
}

/// Revokes an API key.
#[utoipa::path(tag = "accounts", security(("bearer" = []), ("session_cookie" = [])), params(("id" = String, Path)), responses((status = 204, description = "Revoked"), Errors))]
#[delete("/v1/api-keys/{id}")]
pub(crate) async fn revoke_api_key(
    state: web::Data<State>,
    client: Client,
    Person(principal): Person,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: ApiKeyId = path_id(&id)?;
    state.app.revoke_api_key(&principal, id, &client.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// The cursor: entries after this position (the previous page's
    /// `next`).
    after: Option<i64>,
    /// At most this many (1 to 500, default 100).
    limit: Option<u64>,
    /// Only this kind, such as `login.failed`.
    kind: Option<String>,
    /// Only entries by this actor (a user id).
    actor: Option<String>,
    /// Only entries about this subject (an id).
    subject: Option<String>,
    /// Only entries at or after this instant (RFC 3339).
    since: Option<String>,
    /// Only entries before this instant (RFC 3339).
    until: Option<String>,
}

/// The tenant's audit entries, oldest first, a page at a time.
#[utoipa::path(tag = "accounts", security(("bearer" = []), ("session_cookie" = [])), params(AuditQuery), responses((status = 200, body = AuditOut), Errors))]
#[get("/v1/audit")]
pub(crate) async fn audit(
    state: web::Data<State>,
    Admin(principal): Admin,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let kind = match query.kind.as_deref() {
        Some(name) => Some(
            AuditKind::parse(name).ok_or_else(|| AppError::invalid("kind", "not an audit kind"))?,
        ),
        None => None,
    };
    let when = |field, text: Option<String>| text.map(|t| instant(field, &t)).transpose();
    let wanted = bookwarden_app::AuditQuery {
        kind,
        actor: query.actor,
        subject: query.subject,
        since: when("since", query.since)?,
        until: when("until", query.until)?,
        after: query.after.unwrap_or(0),
        limit: query.limit.unwrap_or(100),
    };
    let page = state.app.audit_entries(&principal, &wanted).await?;
    Ok(HttpResponse::Ok().json(AuditOut {
        next: page.next,
        entries: page
            .entries
            .iter()
            .map(|e| AuditEntryOut {
                seq: e.seq,
                at: e.at.to_string(),
                kind: e.kind.clone(),
                actor: e.actor.clone(),
                subject: e.subject.clone(),
                detail: serde_json::from_str(&e.detail).unwrap_or_default(),
            })
            .collect(),
    }))
}

/// Verifies the tenant's audit chain from its anchor (where retention
/// purging stopped) to its newest entry, and names the first break.
#[utoipa::path(tag = "accounts", security(("bearer" = []), ("session_cookie" = [])), responses((status = 200, body = AuditVerificationOut), Errors))]
#[get("/v1/audit/verification")]
pub(crate) async fn verify_audit(
    state: web::Data<State>,
    Admin(principal): Admin,
) -> Result<HttpResponse, ApiError> {
    let verdict = state.app.verify_audit(&principal).await?;
    Ok(HttpResponse::Ok().json(AuditVerificationOut::from(&verdict)))
}
