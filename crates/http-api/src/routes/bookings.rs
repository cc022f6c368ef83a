//! Bookings on the business's side, the public booking flow per business
//! slug, and the customer's manage token (sent as `Authorization: Bearer`,
//! never in a URL).

use std::collections::BTreeMap;
use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, get, post, web};
use bookwarden_app::{AnswerValue, AppError, BookingRequest, BookingView, answer_value};
use bookwarden_domain::intake::RawAnswer;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::extract::{Authenticated, Client};
use crate::problem::ApiError;
use crate::routes::catalog::{CustomerBody, service_json};
use crate::state::State;

pub(super) fn configure(config: &mut web::ServiceConfig) {
    config
        .service(bookings)
        .service(create_booking)
        .service(booking)
        .service(confirm)
        .service(cancel)
        .service(reschedule)
        .service(public_services)
        .service(public_slots)
        .service(public_book)
        .service(manage_view)
        .service(manage_cancel)
        .service(manage_reschedule)
        .service(manage_ics);
}

pub(super) fn booking_json(b: &BookingView) -> Value {
    let answers: serde_json::Map<String, Value> = b
        .answers
        .iter()
        .map(|(key, answer)| {
            let value = match answer_value(answer) {
                AnswerValue::Text(t) => json!(t),
                AnswerValue::List(l) => json!(l),
                AnswerValue::Flag(f) => json!(f),
            };
            (key.as_str().to_owned(), value)
        })
        .collect();
    json!({
        "id": b.id.to_string(),
        "service_id": b.service.to_string(),
        "staff_id": b.staff.to_string(),
        "customer_id": b.customer.to_string(),
        "start": b.range.start().to_string(),
        "end": b.range.end().to_string(),
        "seats": b.seats,
        "status": b.status,
        "cancelled_by": b.cancelled_by,
        "reschedules": b.reschedules,
        "created_at": b.created_at.to_string(),
        "answers": answers,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BookingsQuery {
    from: String,
    to: String,
    staff_id: Option<String>,
    customer_id: Option<String>,
}

/// Bookings starting in `[from, to)`.
#[get("/v1/bookings")]
async fn bookings(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
    query: web::Query<BookingsQuery>,
) -> Result<HttpResponse, ApiError> {
    let all = state
        .app
        .bookings(
            &principal,
            &query.from,
            &query.to,
            query.staff_id.as_deref(),
            query.customer_id.as_deref(),
        )
        .await?;
    Ok(HttpResponse::Ok()
        .json(json!({ "bookings": all.iter().map(booking_json).collect::<Vec<_>>() })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BookingBody {
    service_id: String,
    staff_id: Option<String>,
    start: String,
    seats: Option<u16>,
    customer: CustomerBody,
    #[serde(default)]
    answers: BTreeMap<String, Value>,
}

fn request_of(body: BookingBody) -> Result<BookingRequest, ApiError> {
    if body.answers.len() > 100 {
        return Err(AppError::invalid("answers", "at most 100 answers").into());
    }
    let mut answers = BTreeMap::new();
    for (key, value) in body.answers {
        let raw = match value {
            Value::String(s) => RawAnswer::Text(s),
            Value::Bool(b) => RawAnswer::Flag(b),
            Value::Array(items) => RawAnswer::Choices(
                items
                    .into_iter()
                    .map(|item| match item {
                        Value::String(s) => Ok(s),
                        _ => Err(AppError::invalid("answers", "choices are strings")),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            _ => {
                return Err(AppError::invalid(
                    "answers",
                    "answers are text, a list of choices or true/false",
                )
                .into());
            }
        };
        answers.insert(key, raw);
    }
    Ok(BookingRequest {
        service: body.service_id,
        staff: body.staff_id,
        start: body.start,
        seats: body.seats.unwrap_or(1),
        customer: (body.customer.email, body.customer.name, body.customer.phone),
        answers,
    })
}

/// Books on a customer's behalf, confirmed at once.
#[post("/v1/bookings")]
async fn create_booking(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
    body: web::Json<BookingBody>,
) -> Result<HttpResponse, ApiError> {
    let request = request_of(body.into_inner())?;
    let created = state.app.create_booking(&principal, &request).await?;
    Ok(HttpResponse::Created().json(booking_json(&created)))
}

/// One booking.
#[get("/v1/bookings/{id}")]
async fn booking(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let found = state.app.booking(&principal, &id).await?;
    Ok(HttpResponse::Ok().json(booking_json(&found)))
}

/// Confirms a requested booking.
#[post("/v1/bookings/{id}/confirm")]
async fn confirm(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let done = state.app.confirm_booking(&principal, &id).await?;
    Ok(HttpResponse::Ok().json(booking_json(&done)))
}

/// Cancels a booking.
#[post("/v1/bookings/{id}/cancel")]
async fn cancel(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let done = state.app.cancel_booking(&principal, &id).await?;
    Ok(HttpResponse::Ok().json(booking_json(&done)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartBody {
    start: String,
}

/// Moves a booking; the new time is taken or nothing changes.
#[post("/v1/bookings/{id}/reschedule")]
async fn reschedule(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
    id: web::Path<String>,
    body: web::Json<StartBody>,
) -> Result<HttpResponse, ApiError> {
    let done = state
        .app
        .reschedule_booking(&principal, &id, &body.start)
        .await?;
    Ok(HttpResponse::Ok().json(booking_json(&done)))
}

/// A business's public services.
#[get("/v1/public/{slug}/services")]
async fn public_services(
    state: web::Data<State>,
    client: Client,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.limits.public(client.address())?;
    let (tenant, services) = state.app.public_services(&slug).await?;
    Ok(HttpResponse::Ok().json(json!({
        "business": tenant.name().as_str(),
        "time_zone": tenant.time_zone().name(),
        "services": services.iter().map(service_json).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlotsQuery {
    from: String,
    to: String,
    time_zone: Option<String>,
}

/// Free slots of a public service, read in the requested zone.
#[get("/v1/public/{slug}/services/{service}/slots")]
async fn public_slots(
    state: web::Data<State>,
    client: Client,
    path: web::Path<(String, String)>,
    query: web::Query<SlotsQuery>,
) -> Result<HttpResponse, ApiError> {
    state.limits.public(client.address())?;
    let (slug, service) = path.into_inner();
    let zone = query.time_zone.as_deref().unwrap_or("UTC");
    let slots = state
        .app
        .public_slots(&slug, &service, &query.from, &query.to, zone)
        .await?;
    let list: Vec<Value> = slots
        .iter()
        .map(|s| {
            json!({
                "start": s.start().to_string(),
                "end": s.end().to_string(),
                "local_start": s.local_start().to_string(),
                "utc_offset": s.offset().to_string(),
                "staff_id": s.staff().to_string(),
                "seats_left": s.seats_left(),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "time_zone": zone, "slots": list })))
}

/// Books a public service. An `Idempotency-Key` header makes retries safe:
/// the same key and request answer the same booking (200 instead of 201,
/// and without the manage token, which is shown once).
#[post("/v1/public/{slug}/bookings")]
async fn public_book(
    state: web::Data<State>,
    client: Client,
    request: HttpRequest,
    slug: web::Path<String>,
    body: web::Json<BookingBody>,
) -> Result<HttpResponse, ApiError> {
    state.limits.public(client.address())?;
    let key = match request.headers().get("idempotency-key") {
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_not_ascii| AppError::invalid("idempotency-key", "printable ASCII"))?
                .to_owned(),
        ),
        None => None,
    };
    let booking_request = request_of(body.into_inner())?;
    let booked = state
        .app
        .public_book(&slug, &booking_request, key.as_deref())
        .await?;
    let mut body = booking_json(&booked.booking);
    if let (Some(token), Value::Object(map)) = (&booked.manage_token, &mut body) {
        map.insert("manage_token".to_owned(), json!(token.expose_secret()));
    }
    Ok(if booked.replayed {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::Created().json(body)
    })
}

/// The manage token from `Authorization: Bearer bw_mng_...`.
struct ManageToken(String);

impl FromRequest for ManageToken {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| Self(t.trim().to_owned()))
            .ok_or(ApiError::App(AppError::Unauthenticated));
        ready(token)
    }
}

/// The booking a manage token opens.
#[get("/v1/manage/booking")]
async fn manage_view(
    state: web::Data<State>,
    client: Client,
    token: ManageToken,
) -> Result<HttpResponse, ApiError> {
    state.limits.public(client.address())?;
    let (view, service, tenant) = state.app.manage_view(&token.0).await?;
    Ok(HttpResponse::Ok().json(json!({
        "booking": booking_json(&view),
        "service": service_json(&service),
        "business": tenant.name().as_str(),
    })))
}

/// Cancels through the manage token.
#[post("/v1/manage/booking/cancel")]
async fn manage_cancel(
    state: web::Data<State>,
    client: Client,
    token: ManageToken,
) -> Result<HttpResponse, ApiError> {
    state.limits.public(client.address())?;
    let done = state.app.manage_cancel(&token.0).await?;
    Ok(HttpResponse::Ok().json(booking_json(&done)))
}

/// Moves the booking through the manage token.
#[post("/v1/manage/booking/reschedule")]
async fn manage_reschedule(
    state: web::Data<State>,
    client: Client,
    token: ManageToken,
    body: web::Json<StartBody>,
) -> Result<HttpResponse, ApiError> {
    state.limits.public(client.address())?;
    let done = state.app.manage_reschedule(&token.0, &body.start).await?;
    Ok(HttpResponse::Ok().json(booking_json(&done)))
}

/// The booking as an iCalendar file.
#[get("/v1/manage/booking.ics")]
async fn manage_ics(
    state: web::Data<State>,
    client: Client,
    token: ManageToken,
) -> Result<HttpResponse, ApiError> {
    state.limits.public(client.address())?;
    let ics = state.app.manage_ics(&token.0).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"booking.ics\"",
        ))
        .body(ics))
}
