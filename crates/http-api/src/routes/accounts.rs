//! Managing a tenant's people and keys: accounts and roles, the
//! privileged-access report, invitations, API keys and the audit log.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use bookwarden_app::{AppError, SecretString, UserChange};
use bookwarden_domain::account::Role;
use bookwarden_domain::id::{ApiKeyId, InvitationId, UserId};
use serde::Deserialize;
use serde_json::json;

use crate::extract::{Admin, Client, Person};
use crate::problem::ApiError;
use crate::routes::path_id;
use crate::routes::sessions::user_json;
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
        .service(audit);
}

fn role(text: &str) -> Result<Role, ApiError> {
    Role::parse(text).map_err(|e| ApiError::App(AppError::invalid("role", e)))
}

/// Every account of the tenant.
#[get("/v1/users")]
async fn users(state: web::Data<State>, Admin(principal): Admin) -> Result<HttpResponse, ApiError> {
    let all = state.app.users(&principal).await?;
    Ok(HttpResponse::Ok().json(json!({ "users": all.iter().map(user_json).collect::<Vec<_>>() })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserPatch {
    role: Option<String>,
    active: Option<bool>,
}

/// Changes another account's role or status.
#[patch("/v1/users/{id}")]
async fn change_user(
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
    Ok(HttpResponse::Ok().json(user_json(&user)))
}

/// Forces a password reset: the password stops working, sessions end, and
/// the single-use reset token is answered once, for the admin to hand over
/// out of band.
#[post("/v1/users/{id}/password-reset")]
async fn force_reset(
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
    Ok(HttpResponse::Created().json(json!({
        "reset_token": issued.token.expose_secret(),
        "expires_at": issued.expires_at.to_string(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    token: String,
    new_password: String,
}

/// Sets a new password with a reset token (in the body, never the URL).
#[post("/v1/password-resets")]
async fn complete_reset(
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
#[get("/v1/reports/privileged-accounts")]
async fn privileged_report(
    state: web::Data<State>,
    Admin(principal): Admin,
) -> Result<HttpResponse, ApiError> {
    let accounts = state.app.privileged_accounts(&principal).await?;
    Ok(HttpResponse::Ok().json(json!({
        "accounts": accounts.iter().map(user_json).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InviteBody {
    email: String,
    role: String,
}

/// Invites a person; the single-use token is answered once.
#[post("/v1/invitations")]
async fn invite(
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
    Ok(HttpResponse::Created().json(json!({
        "id": created.id.to_string(),
        "token": created.token.expose_secret(),
        "expires_at": created.expires_at.to_string(),
    })))
}

/// The tenant's invitations.
#[get("/v1/invitations")]
async fn invitations(
    state: web::Data<State>,
    Person(principal): Person,
) -> Result<HttpResponse, ApiError> {
    let all = state.app.invitations(&principal).await?;
    let list: Vec<_> = all
        .iter()
        .map(|i| {
            json!({
                "id": i.id.to_string(),
                "email": i.email,
                "role": i.role.as_str(),
                "expires_at": i.expires_at.to_string(),
                "accepted_at": i.accepted_at.map(|t| t.to_string()),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "invitations": list })))
}

/// Withdraws an unused invitation.
#[delete("/v1/invitations/{id}")]
async fn withdraw_invitation(
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AcceptBody {
    token: String,
    name: String,
    password: String,
}

/// Accepts an invitation (the token travels in the body, never the URL).
#[post("/v1/invitations/accept")]
async fn accept_invitation(
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
    Ok(HttpResponse::Created().json(json!({
        "tenant_id": done.tenant.to_string(),
        "user_id": done.user.to_string(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyBody {
    name: String,
    scopes: Vec<String>,
}

/// Creates an API key; the token is answered once.
#[post("/v1/api-keys")]
async fn create_api_key(
    state: web::Data<State>,
    client: Client,
    Person(principal): Person,
    body: web::Json<KeyBody>,
) -> Result<HttpResponse, ApiError> {
    if body.scopes.len() > 8 {
        return Err(AppError::invalid("scopes", "at most 8 entries").into());
    }
    let created = state
        .app
        .create_api_key(&principal, &body.name, &body.scopes, &client.0)
        .await?;
    Ok(HttpResponse::Created().json(json!({
        "id": created.id.to_string(),
        "token": created.token.expose_secret(),
    })))
}

/// The tenant's API keys, without tokens.
#[get("/v1/api-keys")]
async fn api_keys(
    state: web::Data<State>,
    Person(principal): Person,
) -> Result<HttpResponse, ApiError> {
    let keys = state.app.api_keys(&principal).await?;
    let list: Vec<_> = keys
        .iter()
        .map(|k| {
            json!({
                "id": k.id.to_string(),
                "name": k.name,
                "scopes": k.scopes,
                "created_by": k.created_by.to_string(),
                "created_at": k.created_at.to_string(),
                "revoked_at": k.revoked_at.map(|t| t.to_string()),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "api_keys": list })))
}

/// Revokes an API key.
#[delete("/v1/api-keys/{id}")]
async fn revoke_api_key(
    state: web::Data<State>,
    client: Client,
    Person(principal): Person,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: ApiKeyId = path_id(&id)?;
    state.app.revoke_api_key(&principal, id, &client.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    after: Option<i64>,
    limit: Option<u64>,
}

/// The tenant's audit entries, oldest first.
#[get("/v1/audit")]
async fn audit(
    state: web::Data<State>,
    Admin(principal): Admin,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let entries = state
        .app
        .audit_entries(
            &principal,
            query.after.unwrap_or(0),
            query.limit.unwrap_or(100),
        )
        .await?;
    let list: Vec<_> = entries
        .iter()
        .map(|e| {
            json!({
                "seq": e.seq,
                "at": e.at.to_string(),
                "kind": e.kind,
                "actor": e.actor,
                "subject": e.subject,
                "detail": serde_json::from_str::<serde_json::Value>(&e.detail).unwrap_or_default(),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "entries": list })))
}
