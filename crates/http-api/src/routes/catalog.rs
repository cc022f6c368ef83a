//! Staff members and their schedules, services with intake forms, and
//! customers.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, delete, get, post, put, web};
use bookwarden_app::{AppError, CustomerInput};
use bookwarden_domain::id::{CustomerId, ServiceId, StaffId, UserId};
use bookwarden_domain::service::TimingSpec;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::dto::{
    CustomerOut, CustomersOut, ScheduleOut, ServiceOut, ServicesOut, StaffListOut, StaffOut,
};
use crate::extract::Authenticated;
use crate::openapi::Errors;
use crate::parse::{FieldText, ScheduleText, ServiceText, path_id, schedule_spec, service_spec};
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StaffBody {
    name: String,
    user_id: Option<String>,
}

/// Adds a staff member.
#[utoipa::path(tag = "catalog", security(("bearer" = []), ("session_cookie" = [])), request_body = StaffBody, responses((status = 201, body = StaffOut), Errors))]
#[post("/v1/staff")]
pub(crate) async fn create_staff(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
    body: web::Json<StaffBody>,
) -> Result<HttpResponse, ApiError> {
    // A malformed account id answers like an unknown account (404), as it
    // always has; a well-formed one of no account here is a 422 `user`.
    let user: Option<UserId> = body.user_id.as_deref().map(path_id).transpose()?;
    let member = state.app.create_staff(&principal, &body.name, user).await?;
    Ok(HttpResponse::Created().json(StaffOut::from(&member)))
}

/// Every staff member.
#[utoipa::path(tag = "catalog", security(("bearer" = []), ("session_cookie" = [])), responses((status = 200, body = StaffListOut), Errors))]
#[get("/v1/staff")]
pub(crate) async fn staff_list(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let all = state.app.staff_list(&principal).await?;
    Ok(HttpResponse::Ok().json(StaffListOut {
        staff: all.iter().map(StaffOut::from).collect(),
    }))
}

/// One staff member.
#[utoipa::path(tag = "catalog", security(("bearer" = []), ("session_cookie" = [])), params(("id" = String, Path)), responses((status = 200, body = StaffOut), Errors))]
#[get("/v1/staff/{id}")]
pub(crate) async fn staff_get(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let member = state.app.staff_get(&principal, path_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(StaffOut::from(&member)))
}

/// Removes a staff member.
#[utoipa::path(tag = "catalog", security(("bearer" = []), ("session_cookie" = [])), params(("id" = String, Path)), responses((status = 204, description = "Removed"), Errors))]
#[delete("/v1/staff/{id}")]
pub(crate) async fn delete_staff(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: StaffId = path_id(&id)?;
    state.app.delete_staff(&principal, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `[["HH:MM", "HH:MM"], ...]`.
type RangesJson = Vec<Vec<String>>;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TimeOffJson {
    start: String,
    end: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScheduleBody {
    time_zone: String,
    #[serde(default)]
    weekly: BTreeMap<String, RangesJson>,
    #[serde(default)]
    overrides: BTreeMap<String, RangesJson>,
    #[serde(default)]
    time_off: Vec<TimeOffJson>,
}

/// Replaces a staff member's schedule (admins, or the member themself).
#[utoipa::path(tag = "catalog", security(("bearer" = []), ("session_cookie" = [])), params(("id" = String, Path)), request_body = ScheduleBody, responses((status = 200, body = ScheduleOut), Errors))]
#[put("/v1/staff/{id}/schedule")]
pub(crate) async fn put_schedule(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
    id: web::Path<String>,
    body: web::Json<ScheduleBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let pairs = |field: &'static str, days: BTreeMap<String, RangesJson>| {
        days.into_iter()
            .map(|(day, ranges)| {
                let ranges = ranges
                    .into_iter()
                    .map(|range| match <[String; 2]>::try_from(range) {
                        Ok([start, end]) => Ok((start, end)),
                        Err(_) => Err(AppError::invalid(
                            field,
                            "each range is [\"HH:MM\", \"HH:MM\"]",
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((day, ranges))
            })
            .collect::<Result<BTreeMap<_, _>, AppError>>()
    };
    let input = ScheduleText {
        time_zone: body.time_zone,
        weekly: pairs("weekly", body.weekly)?,
        overrides: pairs("overrides", body.overrides)?,
        time_off: body
            .time_off
            .into_iter()
            .map(|r| (r.start, r.end))
            .collect(),
    };
    let staff: StaffId = path_id(&id)?;
    let spec = schedule_spec(&input)?;
    let schedule = state.app.put_schedule(&principal, staff, spec).await?;
    Ok(HttpResponse::Ok().json(ScheduleOut::from(&schedule)))
}

/// A staff member's schedule.
#[utoipa::path(tag = "catalog", security(("bearer" = []), ("session_cookie" = [])), params(("id" = String, Path)), responses((status = 200, body = ScheduleOut), Errors))]
#[get("/v1/staff/{id}/schedule")]
pub(crate) async fn get_schedule(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let schedule = state.app.get_schedule(&principal, path_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(ScheduleOut::from(&schedule)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PriceJson {
    amount_minor: u64,
    currency: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FieldJson {
    key: String,
    label: String,
    kind: String,
    max_chars: Option<u16>,
    #[serde(default)]
    options: Vec<String>,
    #[serde(default)]
    required: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServiceBody {
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

/// Adds a service.
#[utoipa::path(tag = "catalog", security(("bearer" = []), ("session_cookie" = [])), request_body = ServiceBody, responses((status = 201, body = ServiceOut), Errors))]
#[post("/v1/services")]
pub(crate) async fn create_service(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
    body: web::Json<ServiceBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let input = ServiceText {
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
            .map(|f| FieldText {
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
    let spec = service_spec(&input)?;
    let service = state.app.create_service(&principal, spec).await?;
    Ok(HttpResponse::Created().json(ServiceOut::from(&service)))
}

/// Every service.
#[utoipa::path(tag = "catalog", security(("bearer" = []), ("session_cookie" = [])), responses((status = 200, body = ServicesOut), Errors))]
#[get("/v1/services")]
pub(crate) async fn services(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let all = state.app.services(&principal).await?;
    Ok(HttpResponse::Ok().json(ServicesOut {
        services: all.iter().map(ServiceOut::from).collect(),
    }))
}

/// One service.
#[utoipa::path(tag = "catalog", security(("bearer" = []), ("session_cookie" = [])), params(("id" = String, Path)), responses((status = 200, body = ServiceOut), Errors))]
#[get("/v1/services/{id}")]
pub(crate) async fn service_get(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let service = state.app.service(&principal, path_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(ServiceOut::from(&service)))
}

/// Removes a service without bookings.
#[utoipa::path(tag = "catalog", security(("bearer" = []), ("session_cookie" = [])), params(("id" = String, Path)), responses((status = 204, description = "Removed"), Errors))]
#[delete("/v1/services/{id}")]
pub(crate) async fn delete_service(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: ServiceId = path_id(&id)?;
    state.app.delete_service(&principal, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CustomerBody {
    pub(super) email: String,
    pub(super) name: String,
    pub(super) phone: Option<String>,
}

impl From<CustomerBody> for CustomerInput {
    fn from(body: CustomerBody) -> Self {
        Self {
            email: body.email,
            name: body.name,
            phone: body.phone,
        }
    }
}

/// Adds a customer (or answers the one with that email).
#[utoipa::path(tag = "catalog", security(("bearer" = []), ("session_cookie" = [])), request_body = CustomerBody, responses((status = 201, description = "Added", body = CustomerOut), (status = 200, description = "Already on file (admins)", body = CustomerOut), Errors))]
#[post("/v1/customers")]
pub(crate) async fn create_customer(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
    body: web::Json<CustomerBody>,
) -> Result<HttpResponse, ApiError> {
    let input = CustomerInput::from(body.into_inner());
    let (customer, added) = state.app.create_customer(&principal, &input).await?;
    Ok(if added {
        HttpResponse::Created().json(CustomerOut::from(&customer))
    } else {
        HttpResponse::Ok().json(CustomerOut::from(&customer))
    })
}

/// Every customer.
#[utoipa::path(tag = "catalog", security(("bearer" = []), ("session_cookie" = [])), responses((status = 200, body = CustomersOut), Errors))]
#[get("/v1/customers")]
pub(crate) async fn customers(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let all = state.app.customers(&principal).await?;
    Ok(HttpResponse::Ok().json(CustomersOut {
        customers: all.iter().map(CustomerOut::from).collect(),
    }))
}

/// One customer.
#[utoipa::path(tag = "catalog", security(("bearer" = []), ("session_cookie" = [])), params(("id" = String, Path)), responses((status = 200, body = CustomerOut), Errors))]
#[get("/v1/customers/{id}")]
pub(crate) async fn customer_get(
    state: web::Data<State>,
    Authenticated(principal): Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: CustomerId = path_id(&id)?;
    let customer = state.app.customer(&principal, id).await?;
    Ok(HttpResponse::Ok().json(CustomerOut::from(&customer)))
}
