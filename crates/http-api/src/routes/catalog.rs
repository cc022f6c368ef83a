//! Staff members and their schedules, services with intake forms, and
//! customers.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, delete, get, post, put, web};
use bookwarden_app::catalog::{FieldInput, ScheduleInput, ServiceInput, kind_name};
use bookwarden_domain::account::{Customer, StaffMember};
use bookwarden_domain::intake::FieldKind;
use bookwarden_domain::schedule::{DayHours, Schedule};
use bookwarden_domain::service::{Service, TimingSpec};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::extract::Authenticated;
use crate::problem::ApiError;
use crate::state::State;

pub(super) fn configure(config: &mut web::ServiceConfig) {
    config
        .service(create_staff)
        .service(staff_list)
        .service(staff_get)
        .service(delete_staff)
        .service(put_schedule)
        .service(get_schedule)
        .service(create_service)
        .service(services)
        .service(service_get)
        .service(delete_service)
        .service(create_customer)
        .service(customers)
        .service(customer_get);
}

fn staff_json(member: &StaffMember) -> Value {
    json!({
        "id": member.id().to_string(),
        "name": member.name().as_str(),
        "user_id": member.user().map(|u| u.to_string()),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StaffBody {
    name: String,
    user_id: Option<String>,
}

/// Adds a staff member.
#[post("/v1/staff")]
async fn create_staff(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
    body: web::Json<StaffBody>,
) -> Result<HttpResponse, ApiError> {
    let member = state
        .app
        .create_staff(&principal, &body.name, body.user_id.as_deref())
        .await?;
    Ok(HttpResponse::Created().json(staff_json(&member)))
}

/// Every staff member.
#[get("/v1/staff")]
async fn staff_list(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let all = state.app.staff_list(&principal).await?;
    Ok(HttpResponse::Ok().json(json!({ "staff": all.iter().map(staff_json).collect::<Vec<_>>() })))
}

/// One staff member.
#[get("/v1/staff/{id}")]
async fn staff_get(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let member = state.app.staff_get(&principal, &id).await?;
    Ok(HttpResponse::Ok().json(staff_json(&member)))
}

/// Removes a staff member.
#[delete("/v1/staff/{id}")]
async fn delete_staff(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.app.delete_staff(&principal, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

type RangesJson = Vec<(String, String)>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimeOffJson {
    start: String,
    end: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleBody {
    time_zone: String,
    #[serde(default)]
    weekly: BTreeMap<String, RangesJson>,
    #[serde(default)]
    overrides: BTreeMap<String, RangesJson>,
    #[serde(default)]
    time_off: Vec<TimeOffJson>,
}

fn hours_json(hours: &DayHours) -> Value {
    json!(
        hours
            .ranges()
            .iter()
            .map(|r| [r.start().to_string(), r.end().to_string()])
            .collect::<Vec<_>>()
    )
}

fn schedule_json(schedule: &Schedule) -> Value {
    use bookwarden_domain::jiff::civil::Weekday;
    let days = [
        ("monday", Weekday::Monday),
        ("tuesday", Weekday::Tuesday),
        ("wednesday", Weekday::Wednesday),
        ("thursday", Weekday::Thursday),
        ("friday", Weekday::Friday),
        ("saturday", Weekday::Saturday),
        ("sunday", Weekday::Sunday),
    ];
    let weekly: serde_json::Map<String, Value> = days
        .iter()
        .filter(|(_, day)| !schedule.weekly().on(*day).is_closed())
        .map(|(name, day)| ((*name).to_owned(), hours_json(schedule.weekly().on(*day))))
        .collect();
    let overrides: serde_json::Map<String, Value> = schedule
        .overrides()
        .iter()
        .map(|(date, hours)| (date.to_string(), hours_json(hours)))
        .collect();
    json!({
        "staff_id": schedule.staff().to_string(),
        "time_zone": schedule.zone().name(),
        "weekly": weekly,
        "overrides": overrides,
        "time_off": schedule.time_off().iter().map(|r| json!({
            "start": r.start().to_string(),
            "end": r.end().to_string(),
        })).collect::<Vec<_>>(),
    })
}

/// Replaces a staff member's schedule (admins, or the member themself).
#[put("/v1/staff/{id}/schedule")]
async fn put_schedule(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
    id: web::Path<String>,
    body: web::Json<ScheduleBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let input = ScheduleInput {
        time_zone: body.time_zone,
        weekly: body.weekly,
        overrides: body.overrides,
        time_off: body
            .time_off
            .into_iter()
            .map(|r| (r.start, r.end))
            .collect(),
    };
    let schedule = state.app.put_schedule(&principal, &id, &input).await?;
    Ok(HttpResponse::Ok().json(schedule_json(&schedule)))
}

/// A staff member's schedule.
#[get("/v1/staff/{id}/schedule")]
async fn get_schedule(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let schedule = state.app.get_schedule(&principal, &id).await?;
    Ok(HttpResponse::Ok().json(schedule_json(&schedule)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceJson {
    amount_minor: u64,
    currency: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldJson {
    key: String,
    label: String,
    kind: String,
    max_chars: Option<u16>,
    #[serde(default)]
    options: Vec<String>,
    #[serde(default)]
    required: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceBody {
    name: String,
    duration_minutes: u32,
    #[serde(default)]
    buffer_before_minutes: u32,
    #[serde(default)]
    buffer_after_minutes: u32,
    #[serde(default)]
    minimum_notice_minutes: u32,
    horizon_days: Option<u32>,
    slot_step_minutes: Option<u32>,
    capacity: Option<u16>,
    staff: Vec<String>,
    price: Option<PriceJson>,
    #[serde(default)]
    intake: Vec<FieldJson>,
    public: Option<bool>,
}

pub(super) fn service_json(service: &Service) -> Value {
    let t = service.timing();
    let minutes = |d: bookwarden_domain::jiff::SignedDuration| d.as_secs() / 60;
    json!({
        "id": service.id().to_string(),
        "name": service.name().as_str(),
        "duration_minutes": minutes(t.duration()),
        "buffer_before_minutes": minutes(t.buffer_before()),
        "buffer_after_minutes": minutes(t.buffer_after()),
        "minimum_notice_minutes": minutes(t.minimum_notice()),
        "horizon_days": t.horizon().as_secs() / 86_400,
        "slot_step_minutes": minutes(t.slot_step()),
        "capacity": service.capacity().seats(),
        "staff": service.staff().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "price": service.price().map(|p| json!({
            "amount_minor": p.minor_units(),
            "currency": p.currency().as_str(),
        })),
        "public": service.is_public(),
        "intake": service.intake().fields().iter().map(|f| {
            let (max_chars, options) = match f.kind() {
                FieldKind::Text { max_chars } | FieldKind::LongText { max_chars } => (Some(*max_chars), Vec::new()),
                FieldKind::SingleChoice(c) | FieldKind::MultiChoice(c) => (None, c.options().to_vec()),
                _ => (None, Vec::new()),
            };
            json!({
                "key": f.key().as_str(),
                "label": f.label(),
                "kind": kind_name(f.kind()),
                "max_chars": max_chars,
                "options": options,
                "required": f.required(),
            })
        }).collect::<Vec<_>>(),
    })
}

/// Adds a service.
#[post("/v1/services")]
async fn create_service(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
    body: web::Json<ServiceBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let input = ServiceInput {
        name: body.name,
        timing: TimingSpec {
            duration_minutes: body.duration_minutes,
            buffer_before_minutes: body.buffer_before_minutes,
            buffer_after_minutes: body.buffer_after_minutes,
            minimum_notice_minutes: body.minimum_notice_minutes,
            horizon_days: body.horizon_days.unwrap_or(60),
            slot_step_minutes: body.slot_step_minutes.unwrap_or(body.duration_minutes),
        },
        capacity: body.capacity.unwrap_or(1),
        staff: body.staff,
        price: body.price.map(|p| (p.amount_minor, p.currency)),
        intake: body
            .intake
            .into_iter()
            .map(|f| FieldInput {
                key: f.key,
                label: f.label,
                kind: f.kind,
                max_chars: f.max_chars,
                options: f.options,
                required: f.required,
            })
            .collect(),
        public: body.public.unwrap_or(true),
    };
    let service = state.app.create_service(&principal, &input).await?;
    Ok(HttpResponse::Created().json(service_json(&service)))
}

/// Every service.
#[get("/v1/services")]
async fn services(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let all = state.app.services(&principal).await?;
    Ok(HttpResponse::Ok()
        .json(json!({ "services": all.iter().map(service_json).collect::<Vec<_>>() })))
}

/// One service.
#[get("/v1/services/{id}")]
async fn service_get(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let service = state.app.service(&principal, &id).await?;
    Ok(HttpResponse::Ok().json(service_json(&service)))
}

/// Removes a service without bookings.
#[delete("/v1/services/{id}")]
async fn delete_service(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.app.delete_service(&principal, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

fn customer_json(customer: &Customer) -> Value {
    json!({
        "id": customer.id().to_string(),
        "email": customer.email().as_str(),
        "name": customer.name().as_str(),
        "phone": customer.phone().map(|p| p.as_str().to_owned()),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CustomerBody {
    pub(super) email: String,
    pub(super) name: String,
    pub(super) phone: Option<String>,
}

/// Adds a customer (or answers the one with that email).
#[post("/v1/customers")]
async fn create_customer(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
    body: web::Json<CustomerBody>,
) -> Result<HttpResponse, ApiError> {
    let (customer, added) = state
        .app
        .create_customer(&principal, &body.email, &body.name, body.phone.as_deref())
        .await?;
    Ok(if added {
        HttpResponse::Created().json(customer_json(&customer))
    } else {
        HttpResponse::Ok().json(customer_json(&customer))
    })
}

/// Every customer.
#[get("/v1/customers")]
async fn customers(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let all = state.app.customers(&principal).await?;
    Ok(HttpResponse::Ok()
        .json(json!({ "customers": all.iter().map(customer_json).collect::<Vec<_>>() })))
}

/// One customer.
#[get("/v1/customers/{id}")]
async fn customer_get(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let customer = state.app.customer(&principal, &id).await?;
    Ok(HttpResponse::Ok().json(customer_json(&customer)))
}
