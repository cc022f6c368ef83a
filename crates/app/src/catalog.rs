//! What a business offers: staff members with their schedules, services
//! with their intake forms, and customers. Input arrives as plain text and
//! numbers and is parsed here through the domain's constructors, so every
//! refusal names its field.
//!
//! Roles: admins and owners manage everything in their tenant; a staff
//! member reads the catalog and changes only their own schedule.

use std::collections::BTreeMap;

use bookwarden_domain::account::{Customer, Email, PersonName, Phone, StaffMember};
use bookwarden_domain::id::{CustomerId, ScheduleId, ServiceId, StaffId, UserId};
use bookwarden_domain::intake::{Choices, FieldKey, FieldKind, IntakeField, IntakeForm};
use bookwarden_domain::jiff::Timestamp;
use bookwarden_domain::jiff::civil::{Date, Weekday};
use bookwarden_domain::schedule::{
    DayHours, DayRange, DayTime, Schedule, ScheduleSpec, WeeklyHours,
};
use bookwarden_domain::service::{
    Capacity, Currency, Price, Service, ServiceName, ServiceSpec, Timing, TimingSpec,
};
use bookwarden_domain::time::{TimeRange, TimeZone};
use bookwarden_persistence::StoreError;

use crate::App;
use crate::auth::{Need, Principal};
use crate::error::AppError;
use crate::error::Conflict;

/// Opening ranges as `("HH:MM", "HH:MM")` pairs.
pub type Ranges = Vec<(String, String)>;

/// A schedule as sent: weekly hours by weekday name, date overrides by
/// `YYYY-MM-DD`, and time off as RFC 3339 instant pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduleInput {
    /// IANA zone the hours are read in.
    pub time_zone: String,
    /// `monday` .. `sunday` to ranges; missing days are closed.
    pub weekly: BTreeMap<String, Ranges>,
    /// Dates whose hours replace the weekly ones (empty = closed).
    pub overrides: BTreeMap<String, Ranges>,
    /// Ranges of instants off work.
    pub time_off: Vec<(String, String)>,
}

/// One intake field as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldInput {
    /// Stable key of the answer.
    pub key: String,
    /// The question.
    pub label: String,
    /// `text`, `long_text`, `email`, `phone`, `single_choice`,
    /// `multi_choice` or `checkbox`.
    pub kind: String,
    /// Limit for text kinds.
    pub max_chars: Option<u16>,
    /// Options for choice kinds.
    pub options: Vec<String>,
    /// Whether an answer is needed.
    pub required: bool,
}

/// A service as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInput {
    /// Its name.
    pub name: String,
    /// Timing in minutes and days.
    pub timing: TimingSpec,
    /// Seats per slot.
    pub capacity: u16,
    /// Staff members who provide it.
    pub staff: Vec<String>,
    /// Price for display: minor units and ISO 4217 code.
    pub price: Option<(u64, String)>,
    /// Intake questions.
    pub intake: Vec<FieldInput>,
    /// Bookable through the public flow.
    pub public: bool,
}

fn invalid(field: &'static str) -> impl Fn(&dyn std::fmt::Display) -> AppError {
    move |e| AppError::invalid(field, e)
}

fn weekday(name: &str) -> Result<Weekday, AppError> {
    Ok(match name {
        "monday" => Weekday::Monday,
        "tuesday" => Weekday::Tuesday,
        "wednesday" => Weekday::Wednesday,
        "thursday" => Weekday::Thursday,
        "friday" => Weekday::Friday,
        "saturday" => Weekday::Saturday,
        "sunday" => Weekday::Sunday,
        _ => {
            return Err(AppError::invalid(
                "weekly",
                format!("{name:?} is not a weekday"),
            ));
        }
    })
}

fn day_hours(field: &'static str, ranges: &[(String, String)]) -> Result<DayHours, AppError> {
    if ranges.len() > 24 {
        return Err(AppError::invalid(field, "at most 24 ranges a day"));
    }
    let parsed = ranges
        .iter()
        .map(|(start, end)| {
            let start = DayTime::parse(start).map_err(|e| invalid(field)(&e))?;
            let end = DayTime::parse(end).map_err(|e| invalid(field)(&e))?;
            DayRange::new(start, end).map_err(|e| invalid(field)(&e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    DayHours::new(parsed).map_err(|e| invalid(field)(&e))
}

/// Parses an RFC 3339 instant.
pub(crate) fn instant(field: &'static str, text: &str) -> Result<Timestamp, AppError> {
    text.parse::<Timestamp>()
        .map_err(|_malformed| AppError::invalid(field, "not an RFC 3339 instant"))
}

fn schedule_spec(input: &ScheduleInput) -> Result<ScheduleSpec, AppError> {
    let zone = TimeZone::parse(&input.time_zone).map_err(|e| invalid("time_zone")(&e))?;
    let mut weekly = WeeklyHours::closed();
    for (name, ranges) in &input.weekly {
        weekly = weekly.with(weekday(name)?, day_hours("weekly", ranges)?);
    }
    if input.overrides.len() > Schedule::MAX_OVERRIDES {
        return Err(AppError::invalid("overrides", "too many dates"));
    }
    let mut overrides = BTreeMap::new();
    for (date, ranges) in &input.overrides {
        let date: Date = date
            .parse()
            .map_err(|_malformed| AppError::invalid("overrides", "dates are YYYY-MM-DD"))?;
        overrides.insert(date, day_hours("overrides", ranges)?);
    }
    if input.time_off.len() > Schedule::MAX_TIME_OFF {
        return Err(AppError::invalid("time_off", "too many ranges"));
    }
    let time_off = input
        .time_off
        .iter()
        .map(|(start, end)| {
            TimeRange::new(instant("time_off", start)?, instant("time_off", end)?)
                .map_err(|e| invalid("time_off")(&e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ScheduleSpec {
        zone,
        weekly,
        overrides,
        time_off,
    })
}

fn field(input: &FieldInput) -> Result<IntakeField, AppError> {
    let key = FieldKey::parse(&input.key).map_err(|e| invalid("intake")(&e))?;
    let options: Vec<&str> = input.options.iter().map(String::as_str).collect();
    let choices = || Choices::new(&options).map_err(|e| invalid("intake")(&e));
    let text_limit = input.max_chars.unwrap_or(500);
    let kind = match input.kind.as_str() {
        "text" => FieldKind::Text {
            max_chars: text_limit,
        },
        "long_text" => FieldKind::LongText {
            max_chars: input.max_chars.unwrap_or(2_000),
        },
        "email" => FieldKind::Email,
        "phone" => FieldKind::Phone,
        "single_choice" => FieldKind::SingleChoice(choices()?),
        "multi_choice" => FieldKind::MultiChoice(choices()?),
        "checkbox" => FieldKind::Checkbox,
        other => {
            return Err(AppError::invalid(
                "intake",
                format!("{other:?} is not a field kind"),
            ));
        }
    };
    IntakeField::new(key, &input.label, kind, input.required).map_err(|e| invalid("intake")(&e))
}

/// The text name of a field kind, as the API speaks it.
pub fn kind_name(kind: &FieldKind) -> &'static str {
    match kind {
        FieldKind::Text { .. } => "text",
        FieldKind::LongText { .. } => "long_text",
        FieldKind::Email => "email",
        FieldKind::Phone => "phone",
        FieldKind::SingleChoice(_) => "single_choice",
        FieldKind::MultiChoice(_) => "multi_choice",
        FieldKind::Checkbox => "checkbox",
    }
}

pub(crate) fn parse_id<T: std::str::FromStr>(text: &str) -> Result<T, AppError> {
    text.parse::<T>().map_err(|_malformed| AppError::NotFound)
}

impl App {
    /// The staff member record of the principal's own person, if any.
    pub(crate) async fn own_staff(
        &self,
        principal: &Principal,
    ) -> Result<Option<StaffId>, AppError> {
        let scope = self.store.read(principal.tenant).await?;
        let all = scope.staff().list().await?;
        scope.commit().await?;
        Ok(all
            .into_iter()
            .find(|s| s.user() == Some(principal.user))
            .map(|s| s.id()))
    }

    /// Adds a staff member, optionally linked to a user account of the
    /// tenant (so that person may manage their own schedule).
    ///
    /// # Errors
    /// [`AppError::Forbidden`], [`AppError::Invalid`], [`AppError::NotFound`]
    /// for an unknown user.
    pub async fn create_staff(
        &self,
        principal: &Principal,
        name: &str,
        user: Option<&str>,
    ) -> Result<StaffMember, AppError> {
        principal.require(Need::Admin)?;
        let name = PersonName::parse(name).map_err(|e| invalid("name")(&e))?;
        let user: Option<UserId> = user.map(parse_id).transpose()?;
        let member = StaffMember::create(principal.tenant, name, user);
        let scope = self.store.write(principal.tenant).await?;
        if let Some(user) = user
            && scope.users().get(user).await?.is_none()
        {
            scope.rollback().await?;
            return Err(AppError::invalid(
                "user",
                "no such account in this business",
            ));
        }
        match scope.staff().insert(&member).await {
            Ok(()) => {}
            Err(StoreError::Duplicate(_)) => {
                scope.rollback().await?;
                return Err(AppError::Conflict(Conflict::UserAlreadyStaff));
            }
            Err(other) => return Err(other.into()),
        }
        scope.commit().await?;
        Ok(member)
    }

    /// Every staff member.
    ///
    /// # Errors
    /// [`AppError::Forbidden`].
    pub async fn staff_list(&self, principal: &Principal) -> Result<Vec<StaffMember>, AppError> {
        principal.require(Need::Read)?;
        let scope = self.store.read(principal.tenant).await?;
        let all = scope.staff().list().await?;
        scope.commit().await?;
        Ok(all)
    }

    /// One staff member.
    ///
    /// # Errors
    /// [`AppError::NotFound`].
    pub async fn staff_get(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<StaffMember, AppError> {
        principal.require(Need::Read)?;
        let id: StaffId = parse_id(id)?;
        let scope = self.store.read(principal.tenant).await?;
        let found = scope.staff().get(id).await?;
        scope.commit().await?;
        found.ok_or(AppError::NotFound)
    }

    /// Removes a staff member who has no bookings.
    ///
    /// # Errors
    /// [`AppError::NotFound`], [`AppError::Conflict`] while bookings or
    /// services still refer to them.
    pub async fn delete_staff(&self, principal: &Principal, id: &str) -> Result<(), AppError> {
        principal.require(Need::Admin)?;
        let id: StaffId = parse_id(id)?;
        let scope = self.store.write(principal.tenant).await?;
        match scope.staff().delete(id).await {
            Ok(true) => {}
            Ok(false) => {
                scope.rollback().await?;
                return Err(AppError::NotFound);
            }
            Err(StoreError::InUse(_)) => {
                scope.rollback().await?;
                return Err(AppError::Conflict(Conflict::StaffInUse));
            }
            Err(other) => return Err(other.into()),
        }
        scope.commit().await?;
        Ok(())
    }

    /// Whether the principal may change `staff`'s schedule: admins any, a
    /// staff member their own.
    async fn may_edit_schedule(
        &self,
        principal: &Principal,
        staff: StaffId,
    ) -> Result<(), AppError> {
        principal.require(Need::Write)?;
        if principal.role.is_privileged() {
            return Ok(());
        }
        if self.own_staff(principal).await? == Some(staff) {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }

    /// Replaces a staff member's schedule.
    ///
    /// # Errors
    /// [`AppError::Forbidden`], [`AppError::NotFound`], [`AppError::Invalid`].
    pub async fn put_schedule(
        &self,
        principal: &Principal,
        staff: &str,
        input: &ScheduleInput,
    ) -> Result<Schedule, AppError> {
        principal.require(Need::Write)?;
        let staff: StaffId = parse_id(staff)?;
        let spec = schedule_spec(input)?;
        let scope = self.store.read(principal.tenant).await?;
        let exists = scope.staff().get(staff).await?.is_some();
        let current = scope.schedules().of_staff(staff).await?;
        scope.commit().await?;
        if !exists {
            return Err(AppError::NotFound);
        }
        self.may_edit_schedule(principal, staff).await?;
        let id = current.map_or_else(ScheduleId::random, |s| s.id());
        let schedule = Schedule::new(id, principal.tenant, staff, spec)
            .map_err(|e| invalid("schedule")(&e))?;
        let scope = self.store.write(principal.tenant).await?;
        scope.schedules().put(&schedule).await?;
        scope.commit().await?;
        Ok(schedule)
    }

    /// A staff member's schedule.
    ///
    /// # Errors
    /// [`AppError::NotFound`] when the member or their schedule is missing.
    pub async fn get_schedule(
        &self,
        principal: &Principal,
        staff: &str,
    ) -> Result<Schedule, AppError> {
        principal.require(Need::Read)?;
        let staff: StaffId = parse_id(staff)?;
        let scope = self.store.read(principal.tenant).await?;
        let found = scope.schedules().of_staff(staff).await?;
        scope.commit().await?;
        found.ok_or(AppError::NotFound)
    }

    /// Adds a service.
    ///
    /// # Errors
    /// [`AppError::Forbidden`], [`AppError::Invalid`] (an unknown staff id
    /// included).
    pub async fn create_service(
        &self,
        principal: &Principal,
        input: &ServiceInput,
    ) -> Result<Service, AppError> {
        principal.require(Need::Admin)?;
        let name = ServiceName::parse(&input.name).map_err(|e| invalid("name")(&e))?;
        let timing = Timing::new(input.timing).map_err(|e| invalid("timing")(&e))?;
        let capacity = Capacity::new(input.capacity).map_err(|e| invalid("capacity")(&e))?;
        if input.staff.len() > 100 || input.intake.len() > 50 {
            return Err(AppError::invalid(
                "staff",
                "at most 100 staff and 50 intake fields",
            ));
        }
        let staff = input
            .staff
            .iter()
            .map(|s| {
                s.parse::<StaffId>()
                    .map_err(|_malformed| AppError::invalid("staff", "not a staff id"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let price = input
            .price
            .as_ref()
            .map(|(minor, code)| {
                let currency = Currency::parse(code).map_err(|e| invalid("price")(&e))?;
                Price::new(*minor, currency).map_err(|e| invalid("price")(&e))
            })
            .transpose()?;
        let fields = input
            .intake
            .iter()
            .map(field)
            .collect::<Result<Vec<_>, _>>()?;
        let intake = IntakeForm::new(fields).map_err(|e| invalid("intake")(&e))?;
        let service = Service::new(
            ServiceId::random(),
            principal.tenant,
            ServiceSpec {
                name,
                timing,
                capacity,
                staff,
                price,
                intake,
                public: input.public,
            },
        )
        .map_err(|e| invalid("staff")(&e))?;
        let scope = self.store.write(principal.tenant).await?;
        match scope.services().insert(&service).await {
            Ok(()) => {}
            Err(StoreError::MissingReference(_)) => {
                scope.rollback().await?;
                return Err(AppError::invalid(
                    "staff",
                    "no such staff member in this business",
                ));
            }
            Err(other) => return Err(other.into()),
        }
        scope.commit().await?;
        Ok(service)
    }

    /// Every service.
    ///
    /// # Errors
    /// [`AppError::Forbidden`].
    pub async fn services(&self, principal: &Principal) -> Result<Vec<Service>, AppError> {
        principal.require(Need::Read)?;
        let scope = self.store.read(principal.tenant).await?;
        let all = scope.services().list().await?;
        scope.commit().await?;
        Ok(all)
    }

    /// One service.
    ///
    /// # Errors
    /// [`AppError::NotFound`].
    pub async fn service(&self, principal: &Principal, id: &str) -> Result<Service, AppError> {
        principal.require(Need::Read)?;
        let id: ServiceId = parse_id(id)?;
        let scope = self.store.read(principal.tenant).await?;
        let found = scope.services().get(id).await?;
        scope.commit().await?;
        #[cfg(feature = "isolation-canary")]
        let found = match found {
            Some(service) => Some(service),
            None => self.canary_service_of_any_tenant(id).await?,
        };
        found.ok_or(AppError::NotFound)
    }

    /// THE DELIBERATE LEAK of the `isolation-canary` build, which exists
    /// only to prove that the isolation check finds a leak (`cargo xtask
    /// ci` builds it apart and fails unless the check fails): a service
    /// missing from the caller's tenant is looked for in every tenant,
    /// through the store's cross-tenant directory. Never enabled by
    /// default or by any dependency (a tidy test checks every manifest).
    #[cfg(feature = "isolation-canary")]
    async fn canary_service_of_any_tenant(
        &self,
        id: ServiceId,
    ) -> Result<Option<Service>, AppError> {
        for (tenant, _) in self.store.system().tenants().await? {
            let scope = self.store.read(tenant).await?;
            let found = scope.services().get(id).await?;
            scope.commit().await?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// Removes a service that has no bookings.
    ///
    /// # Errors
    /// [`AppError::NotFound`], [`AppError::Conflict`].
    pub async fn delete_service(&self, principal: &Principal, id: &str) -> Result<(), AppError> {
        principal.require(Need::Admin)?;
        let id: ServiceId = parse_id(id)?;
        let scope = self.store.write(principal.tenant).await?;
        match scope.services().delete(id).await {
            Ok(true) => {}
            Ok(false) => {
                scope.rollback().await?;
                return Err(AppError::NotFound);
            }
            Err(StoreError::InUse(_)) => {
                scope.rollback().await?;
                return Err(AppError::Conflict(Conflict::ServiceInUse));
            }
            Err(other) => return Err(other.into()),
        }
        scope.commit().await?;
        Ok(())
    }

    /// Adds a customer; true when new. For an email already on file an
    /// admin gets the existing record, anyone else a conflict without it
    /// (staff may not read customer records by guessing emails).
    ///
    /// # Errors
    /// [`AppError::Forbidden`], [`AppError::Invalid`],
    /// [`AppError::Conflict`].
    pub async fn create_customer(
        &self,
        principal: &Principal,
        email: &str,
        name: &str,
        phone: Option<&str>,
    ) -> Result<(Customer, bool), AppError> {
        principal.require(Need::Write)?;
        let customer = parse_customer(principal.tenant, email, name, phone)?;
        let scope = self.store.write(principal.tenant).await?;
        let (found, added) = self.find_or_add_customer(&scope, customer).await?;
        if !added && !principal.role.is_privileged() {
            scope.rollback().await?;
            return Err(AppError::Conflict(Conflict::CustomerExists));
        }
        scope.commit().await?;
        Ok((found, added))
    }

    /// The customer with this email, or this one added; true when added.
    pub(crate) async fn find_or_add_customer(
        &self,
        scope: &bookwarden_persistence::TenantScope,
        customer: Customer,
    ) -> Result<(Customer, bool), AppError> {
        if let Some(existing) = scope.customers().by_email(customer.email()).await? {
            return Ok((existing, false));
        }
        match scope.customers().insert(&customer, self.now()).await {
            Ok(()) => Ok((customer, true)),
            // Added meanwhile by a concurrent request (PostgreSQL).
            Err(StoreError::Duplicate(_)) => scope
                .customers()
                .by_email(customer.email())
                .await?
                .map(|c| (c, false))
                .ok_or(AppError::Busy),
            Err(other) => Err(other.into()),
        }
    }

    /// Every customer (admins).
    ///
    /// # Errors
    /// [`AppError::Forbidden`].
    pub async fn customers(&self, principal: &Principal) -> Result<Vec<Customer>, AppError> {
        principal.require(Need::Admin)?;
        let scope = self.store.read(principal.tenant).await?;
        let all = scope.customers().list().await?;
        scope.commit().await?;
        Ok(all)
    }

    /// One customer (admins).
    ///
    /// # Errors
    /// [`AppError::NotFound`].
    pub async fn customer(&self, principal: &Principal, id: &str) -> Result<Customer, AppError> {
        principal.require(Need::Admin)?;
        let id: CustomerId = parse_id(id)?;
        let scope = self.store.read(principal.tenant).await?;
        let found = scope.customers().get(id).await?;
        scope.commit().await?;
        found.ok_or(AppError::NotFound)
    }
}

/// A customer from request text.
pub(crate) fn parse_customer(
    tenant: bookwarden_domain::id::TenantId,
    email: &str,
    name: &str,
    phone: Option<&str>,
) -> Result<Customer, AppError> {
    let email = Email::parse(email).map_err(|e| invalid("customer.email")(&e))?;
    let name = PersonName::parse(name).map_err(|e| invalid("customer.name")(&e))?;
    let phone = phone
        .map(|p| Phone::parse(p).map_err(|e| invalid("customer.phone")(&e)))
        .transpose()?;
    Ok(Customer::create(tenant, email, name, phone))
}
