//! Data rights (P10): a customer's or the whole business's export as a tar
//! archive, and a customer's erasure, confirmed in two calls.

use actix_web::body::SizedStream;
use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::{HttpResponse, get, post, web};
use bookwarden_app::{AppError, DataRequestOutcome, Erasure, ExportSummary, TenantErasure};
use bookwarden_domain::data_request::DataRequestKind;
use bookwarden_domain::id::CustomerId;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncSeekExt as _;
use utoipa::ToSchema;

use crate::extract::Authenticated;
use crate::openapi::Errors;
use crate::parse::path_id;
use crate::problem::ApiError;
use crate::state::State;

pub(super) fn configure(config: &mut web::ServiceConfig) {
    config
        .service(export_customer)
        .service(export_tenant)
        .service(erase_customer)
        .service(erase_tenant)
        .service(create_data_request)
        .service(use_data_request);
}

/// The media type of an export archive.
const TAR: &str = "application/x-tar";

/// Sends an export written to `file` from its start, with its length and a
/// download name.
async fn archive(
    writer: tokio::io::BufWriter<tokio::fs::File>,
    summary: &ExportSummary,
    name: String,
) -> Result<HttpResponse, ApiError> {
    let mut file = writer.into_inner();
    file.rewind().await.map_err(AppError::internal)?;
    let body = SizedStream::new(summary.bytes, tokio_util::io::ReaderStream::new(file));
    Ok(HttpResponse::Ok()
        .content_type(TAR)
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(name)],
        })
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("x-manifest-sha256", summary.manifest_sha256.clone()))
        .body(body))
}

/// Everything stored about one customer (profile, bookings with times in
/// UTC and the business's zone, intake answers, the audit entries that name
/// them) as a tar archive of JSON documents with a manifest and an .ics.
/// Owners and admins; audited.
#[utoipa::path(
    tag = "data rights",
    security(("bearer" = []), ("session_cookie" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The archive (application/x-tar); the manifest's SHA-256 in X-Manifest-SHA256", content_type = "application/x-tar"),
        Errors
    )
)]
#[get("/v1/customers/{id}/export")]
pub(crate) async fn export_customer(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: CustomerId = path_id(&id)?;
    let spool = tokio::io::BufWriter::new(state.app.export_spool()?);
    let (written, summary) = state.app.export_customer(&principal, id, spool).await?;
    archive(written, &summary, format!("customer-{id}.tar")).await
}

/// Every row the business owns, but its secrets (password hashes, TOTP
/// seeds, token and key digests, calendar credentials), as a tar archive
/// of JSON documents and JSON Lines with a manifest. Owners only; audited.
#[utoipa::path(
    tag = "data rights",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The archive (application/x-tar); the manifest's SHA-256 in X-Manifest-SHA256", content_type = "application/x-tar"),
        Errors
    )
)]
#[get("/v1/export")]
pub(crate) async fn export_tenant(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let spool = tokio::io::BufWriter::new(state.app.export_spool()?);
    let (written, summary) = state.app.export_tenant(&principal, spool).await?;
    archive(written, &summary, "business.tar".to_owned()).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ErasureBody {
    /// The token the first call answered; leave it out to get one.
    confirmation: Option<String>,
}

/// The answer to an erasure call.
#[derive(Serialize, ToSchema)]
pub(crate) struct ErasureOut {
    /// `confirm`: nothing was erased yet, call again with `confirmation`;
    /// `erased`: done.
    status: &'static str,
    /// The token to confirm with (status `confirm`).
    #[serde(skip_serializing_if = "Option::is_none")]
    confirmation: Option<String>,
    /// When the token stops being accepted (status `confirm`).
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
    /// The bookings that are (or would be) kept as anonymous time blocks.
    bookings: u64,
}

/// Erases a customer: name, email, phone and intake answers are deleted,
/// their bookings stay as anonymous time blocks and their manage links stop
/// working at once. The first call erases nothing and answers a
/// confirmation token (ten minutes, bound to this customer and to you);
/// the second, carrying it, erases. Admins signed in as a person; refused
/// under a legal hold; audited.
#[utoipa::path(
    tag = "data rights",
    security(("session_cookie" = [])),
    params(("id" = String, Path)),
    request_body = ErasureBody,
    responses((status = 200, body = ErasureOut), Errors)
)]
#[post("/v1/customers/{id}/erasure")]
pub(crate) async fn erase_customer(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
    id: web::Path<String>,
    body: web::Json<ErasureBody>,
) -> Result<HttpResponse, ApiError> {
    let id: CustomerId = path_id(&id)?;
    let body = body.into_inner();
    let step = state
        .app
        .erase_customer(&principal, id, body.confirmation.as_deref())
        .await?;
    let out = match step {
        Erasure::Confirm {
            token,
            expires_at,
            bookings,
        } => ErasureOut {
            status: "confirm",
            confirmation: Some(token),
            expires_at: Some(expires_at.to_string()),
            bookings,
        },
        Erasure::Done { bookings } => ErasureOut {
            status: "erased",
            confirmation: None,
            expires_at: None,
            bookings,
        },
    };
    Ok(HttpResponse::Ok().json(out))
}

/// The answer to a business erasure call.
#[derive(Serialize, ToSchema)]
pub(crate) struct TenantErasureOut {
    /// `confirm`: nothing was erased yet, call again with `confirmation`;
    /// `erased`: done.
    status: &'static str,
    /// The token to confirm with (status `confirm`).
    #[serde(skip_serializing_if = "Option::is_none")]
    confirmation: Option<String>,
    /// When the token stops being accepted (status `confirm`).
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
    /// The rows deleted (status `erased`).
    #[serde(skip_serializing_if = "Option::is_none")]
    rows: Option<u64>,
}

/// Erases the whole business: its data key is destroyed first (every
/// secret sealed for it becomes unreadable, in backups too), then every
/// row it owns; only a system-level tombstone with its id and the times
/// stays, and its slug is free again after 30 days. Every session and key
/// of the business, yours included, stops working at once. The first call
/// erases nothing and answers a confirmation token (ten minutes, bound to
/// the business and to you); the second, carrying it, erases and answers
/// when done. The owner, signed in as a person; refused under a legal
/// hold. Export first (`GET /v1/export`) to keep a copy.
#[utoipa::path(
    tag = "data rights",
    security(("session_cookie" = [])),
    request_body = ErasureBody,
    responses((status = 200, body = TenantErasureOut), Errors)
)]
#[post("/v1/erasure")]
pub(crate) async fn erase_tenant(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
    body: web::Json<ErasureBody>,
) -> Result<HttpResponse, ApiError> {
    let confirmation = body.into_inner().confirmation;
    // The erasure runs as a task of its own: a client that hangs up does
    // not stop it halfway (and one stopped by a crash is completed by the
    // server's maintenance).
    let app = state.app.clone();
    let step =
        tokio::spawn(async move { app.erase_tenant(&principal, confirmation.as_deref()).await })
            .await
            .map_err(AppError::internal)??;
    let out = match step {
        TenantErasure::Confirm { token, expires_at } => TenantErasureOut {
            status: "confirm",
            confirmation: Some(token),
            expires_at: Some(expires_at.to_string()),
            rows: None,
        },
        TenantErasure::Done { rows } => TenantErasureOut {
            status: "erased",
            confirmation: None,
            expires_at: None,
            rows: Some(rows),
        },
    };
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DataRequestBody {
    /// `export` or `erasure`.
    kind: String,
}

/// A customer's request link, as made.
#[derive(Serialize, ToSchema)]
pub(crate) struct DataRequestOut {
    /// The link's token (`bw_drq_...`), shown this once. Hand it to the
    /// customer at their email address; they present it to
    /// `POST /v1/public/{slug}/data-request`.
    token: String,
    /// `export` or `erasure`.
    kind: &'static str,
    /// The customer.
    customer_id: String,
    /// When it stops working.
    expires_at: String,
}

/// Makes a link with which a customer gets their own export, or has
/// themselves erased, without an account: it works once and for seven
/// days. Until Bookwarden sends email, the token is answered here for you to
/// send to the customer's address (only there: whoever holds it can use
/// it). Admins signed in as a person; an erasure link is refused under a
/// legal hold; audited (`data_request.created`).
#[utoipa::path(
    tag = "data rights",
    security(("session_cookie" = [])),
    params(("id" = String, Path)),
    request_body = DataRequestBody,
    responses((status = 201, body = DataRequestOut), Errors)
)]
#[post("/v1/customers/{id}/data-requests")]
pub(crate) async fn create_data_request(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
    id: web::Path<String>,
    body: web::Json<DataRequestBody>,
) -> Result<HttpResponse, ApiError> {
    let id: CustomerId = path_id(&id)?;
    let kind = DataRequestKind::parse(&body.kind).map_err(|e| AppError::invalid("kind", e))?;
    let link = state.app.create_data_request(&principal, id, kind).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(DataRequestOut {
            token: link.token.expose_secret().to_owned(),
            kind: link.kind.as_str(),
            customer_id: link.customer.to_string(),
            expires_at: link.expires_at.to_string(),
        }))
}

/// The answer to an erasure link.
#[derive(Serialize, ToSchema)]
pub(crate) struct DataRequestErased {
    /// `erased`.
    status: &'static str,
    /// The bookings kept as anonymous time blocks.
    bookings: u64,
}

/// The customer uses their request link, once: an export link answers
/// their archive (as `GET /v1/customers/{id}/export` does), an erasure link
/// erases them and answers `{"status": "erased"}`. A link that is unknown,
/// used, expired or another business's answers `404`, all alike. The token
/// goes in `Authorization: Bearer`, never in the URL.
#[utoipa::path(
    tag = "data rights",
    security(("data_request_token" = [])),
    params(("slug" = String, Path)),
    responses(
        (status = 200, description = "An export link: the archive (application/x-tar). An erasure link: `{\"status\": \"erased\", \"bookings\": N}`", content_type = "application/x-tar"),
        (status = 200, body = DataRequestErased, content_type = "application/json"),
        Errors
    )
)]
#[post("/v1/public/{slug}/data-request")]
pub(crate) async fn use_data_request(
    state: web::Data<State>,
    client: crate::extract::Client,
    slug: web::Path<String>,
    token: crate::routes::bookings::LinkToken,
) -> Result<HttpResponse, ApiError> {
    state.limits.public(client.address())?;
    let spool = tokio::io::BufWriter::new(state.app.export_spool()?);
    match state.app.use_data_request(&slug, &token.0, spool).await? {
        DataRequestOutcome::Exported(written, summary) => {
            archive(written, &summary, "my-data.tar".to_owned()).await
        }
        DataRequestOutcome::Erased { bookings } => Ok(HttpResponse::Ok().json(DataRequestErased {
            status: "erased",
            bookings,
        })),
    }
}
