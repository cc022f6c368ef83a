//! Sign-up, sign-in and out, and the signed-in person's own account:
//! password and two-factor.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::{HttpResponse, delete, get, post, put, web};
use bookwarden_app::{AppError, LoginRequest, SecretString, Signup};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::dto::{AccountCreated, OtpauthOut, RecoveryCodesOut, SessionOut, UserOut};
use crate::extract::{Authenticated, Client, Person, SESSION_COOKIE};
use crate::openapi::Errors;
use crate::problem::ApiError;
use crate::state::State;

pub(super) fn configure(config: &mut web::ServiceConfig) {
    config
        .service(signup)
        .service(login)
        .service(logout)
        .service(me)
        .service(sign_in_notices)
        .service(change_password)
        .service(totp_begin)
        .service(totp_confirm)
        .service(totp_disable);
}

fn secret(text: String) -> SecretString {
    SecretString::new(text)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignupBody {
    tenant_name: String,
    slug: String,
    time_zone: String,
    /// The region the business's data lives in: one of the deployment's
    /// (docs/OPERATIONS.md, section 2); the default region when left out.
    #[serde(default)]
    region: Option<String>,
    email: String,
    name: String,
    password: String,
}

/// Creates a business and its owner.
#[utoipa::path(tag = "accounts", request_body = SignupBody, responses((status = 201, body = AccountCreated), Errors))]
#[post("/v1/signup")]
pub(crate) async fn signup(
    state: web::Data<State>,
    client: Client,
    body: web::Json<SignupBody>,
) -> Result<HttpResponse, ApiError> {
    state.limits.signup(client.address())?;
    let body = body.into_inner();
    let done = state
        .app
        .signup(Signup {
            tenant_name: body.tenant_name,
            slug: body.slug,
            time_zone: body.time_zone,
            region: body.region,
            email: body.email,
            name: body.name,
            password: secret(body.password),
            client: client.0,
        })
        .await?;
    Ok(HttpResponse::Created().json(AccountCreated {
        tenant_id: done.tenant.to_string(),
        user_id: done.user.to_string(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginBody {
    tenant: String,
    email: String,
    password: String,
    otp: Option<String>,
    recovery_code: Option<String>,
    new_password: Option<String>,
    /// Browsers ask for the cookie variant: the token is then set as an
    /// HttpOnly cookie and left out of the body, where script could read it.
    cookie: Option<bool>,
}

/// Signs in: a new opaque session token, as a bearer token in the body, or
/// for browsers (`"cookie": true`) as an HttpOnly cookie only, with the CSRF
/// token to send back on state-changing requests.
#[utoipa::path(tag = "accounts", request_body = LoginBody, responses((status = 201, body = SessionOut), Errors))]
#[post("/v1/sessions")]
pub(crate) async fn login(
    state: web::Data<State>,
    client: Client,
    body: web::Json<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    state.limits.login(client.address())?;
    let body = body.into_inner();
    let wants_cookie = body.cookie.unwrap_or(false);
    let outcome = state
        .app
        .login(LoginRequest {
            tenant: body.tenant,
            email: body.email,
            password: secret(body.password),
            otp: body.otp.map(secret),
            recovery_code: body.recovery_code.map(secret),
            new_password: body.new_password.map(secret),
            client: client.0,
        })
        .await;
    let created = match outcome {
        Ok(created) => created,
        Err(error) => {
            let kind = match &error {
                AppError::LoginFailed => Some("credentials"),
                AppError::OtpInvalid => Some("second_factor"),
                AppError::Locked { .. } => Some("locked"),
                _ => None,
            };
            if let Some(kind) = kind {
                metrics::counter!("login_failures_total", "reason" => kind).increment(1);
            }
            return Err(error.into());
        }
    };
    let body = SessionOut {
        token: (!wants_cookie).then(|| created.token.expose_secret().to_owned()),
        csrf_token: created.csrf_token.clone(),
        session_id: created.session.to_string(),
        tenant_id: created.tenant.to_string(),
        user_id: created.user.to_string(),
        role: created.role.as_str().to_owned(),
        expires_at: created.expires_at.to_string(),
    };
    if !wants_cookie {
        return Ok(HttpResponse::Created().json(body));
    }
    let max_age = created
        .expires_at
        .duration_since(bookwarden_domain::jiff::Timestamp::now());
    let cookie = Cookie::build(SESSION_COOKIE, created.token.expose_secret().to_owned())
        .path("/")
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .max_age(CookieDuration::seconds(max_age.as_secs().max(0)))
        .finish();
    Ok(HttpResponse::Created().cookie(cookie).json(body))
}

/// Signs out: the session is revoked and the cookie cleared.
#[utoipa::path(tag = "accounts", security(("bearer" = []), ("session_cookie" = [])), responses((status = 204, description = "Signed out"), Errors))]
#[delete("/v1/sessions/current")]
pub(crate) async fn logout(
    state: web::Data<State>,
    client: Client,
    Person(principal): Person,
) -> Result<HttpResponse, ApiError> {
    state.app.logout(&principal, &client.0).await?;
    let mut gone = Cookie::build(SESSION_COOKIE, "")
        .path("/")
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .finish();
    gone.make_removal();
    Ok(HttpResponse::NoContent().cookie(gone).finish())
}

/// The caller's own account.
#[utoipa::path(tag = "accounts", security(("bearer" = []), ("session_cookie" = [])), responses((status = 200, body = UserOut), Errors))]
#[get("/v1/me")]
pub(crate) async fn me(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let user = state.app.me(&principal).await?;
    Ok(HttpResponse::Ok().json(UserOut::from(&user)))
}

/// A sign-in to the caller's account from a device or network it had not
/// used before.
#[derive(Serialize, ToSchema)]
pub(crate) struct SignInNoticeOut {
    id: String,
    /// When.
    at: String,
    /// The client's address, as the server saw it.
    address: Option<String>,
    /// The client's `User-Agent`.
    user_agent: Option<String>,
    /// The device (the browser or app, versions aside) was new.
    new_device: bool,
    /// The network (the address's /24 or /48) was new.
    new_network: bool,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct SignInNoticesOut {
    notices: Vec<SignInNoticeOut>,
}

/// The caller's notices of sign-ins from a new device or network, newest
/// first (at most 100). If one was not you, change your password and sign
/// out everywhere.
#[utoipa::path(tag = "accounts", security(("bearer" = []), ("session_cookie" = [])), responses((status = 200, body = SignInNoticesOut), Errors))]
#[get("/v1/me/sign-in-notices")]
pub(crate) async fn sign_in_notices(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let notices = state.app.sign_in_notices(&principal).await?;
    Ok(HttpResponse::Ok().json(SignInNoticesOut {
        notices: notices
            .into_iter()
            .map(|n| SignInNoticeOut {
                id: n.id.to_string(),
                at: n.at.to_string(),
                address: n.address,
                user_agent: n.user_agent,
                new_device: n.new_device,
                new_network: n.new_network,
            })
            .collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// Changes the caller's password; their other sessions end.
#[utoipa::path(tag = "accounts", security(("bearer" = []), ("session_cookie" = [])), request_body = PasswordChange, responses((status = 204, description = "Changed"), Errors))]
#[put("/v1/me/password")]
pub(crate) async fn change_password(
    state: web::Data<State>,
    client: Client,
    Person(principal): Person,
    body: web::Json<PasswordChange>,
) -> Result<HttpResponse, ApiError> {
    state.limits.login(client.address())?;
    let body = body.into_inner();
    state
        .app
        .change_password(
            &principal,
            secret(body.current_password),
            secret(body.new_password),
            &client.0,
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordBody {
    password: String,
}

/// Starts two-factor enrollment (the password again, so a stolen session
/// alone cannot enroll an attacker's authenticator).
#[utoipa::path(tag = "accounts", security(("bearer" = []), ("session_cookie" = [])), request_body = PasswordBody, responses((status = 201, body = OtpauthOut), Errors))]
#[post("/v1/me/totp")]
pub(crate) async fn totp_begin(
    state: web::Data<State>,
    client: Client,
    Person(principal): Person,
    body: web::Json<PasswordBody>,
) -> Result<HttpResponse, ApiError> {
    state.limits.login(client.address())?;
    let enrollment = state
        .app
        .totp_begin(&principal, secret(body.into_inner().password))
        .await?;
    Ok(HttpResponse::Created().json(OtpauthOut {
        otpauth_uri: enrollment.otpauth_uri.expose_secret().to_owned(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CodeBody {
    code: String,
}

/// Confirms enrollment with a current code; answers the recovery codes once.
#[utoipa::path(tag = "accounts", security(("bearer" = []), ("session_cookie" = [])), request_body = CodeBody, responses((status = 200, body = RecoveryCodesOut), Errors))]
#[post("/v1/me/totp/confirm")]
pub(crate) async fn totp_confirm(
    state: web::Data<State>,
    client: Client,
    Person(principal): Person,
    body: web::Json<CodeBody>,
) -> Result<HttpResponse, ApiError> {
    state.limits.login(client.address())?;
    let codes = state
        .app
        .totp_confirm(&principal, secret(body.into_inner().code), &client.0)
        .await?;
    Ok(HttpResponse::Ok().json(RecoveryCodesOut {
        recovery_codes: codes.iter().map(|c| c.expose_secret().to_owned()).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TotpDisable {
    password: String,
    otp: Option<String>,
    recovery_code: Option<String>,
}

/// Turns two-factor off after re-authentication.
#[utoipa::path(tag = "accounts", security(("bearer" = []), ("session_cookie" = [])), request_body = TotpDisable, responses((status = 204, description = "Two-factor is off"), Errors))]
#[post("/v1/me/totp/disable")]
pub(crate) async fn totp_disable(
    state: web::Data<State>,
    client: Client,
    Person(principal): Person,
    body: web::Json<TotpDisable>,
) -> Result<HttpResponse, ApiError> {
    state.limits.login(client.address())?;
    let body = body.into_inner();
    state
        .app
        .totp_disable(
            &principal,
            secret(body.password),
            body.otp.map(secret),
            body.recovery_code.map(secret),
            &client.0,
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
