//! Services with their assigned staff, and staff schedules.

use bookwarden_domain::id::{ScheduleId, ServiceId, StaffId, TenantId};
use bookwarden_domain::schedule::{Schedule, ScheduleSpec};
use bookwarden_domain::service::{
    Capacity, Currency, Price, Service, ServiceName, ServiceSpec, Timing, TimingSpec,
};
use bookwarden_domain::time::TimeZone;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::entity::{calendar_connections, schedules, service_staff, services};
use crate::error::{Refusal, StoreError, Unique, refusal};
use crate::rows::{self, corrupt};
use crate::store::TenantScope;

/// Services of the scope's tenant.
pub struct Services<'s>(&'s TenantScope);

/// Staff schedules of the scope's tenant.
pub struct Schedules<'s>(&'s TenantScope);

impl TenantScope {
    /// Services.
    pub fn services(&self) -> Services<'_> {
        Services(self)
    }

    /// Staff schedules.
    pub fn schedules(&self) -> Schedules<'_> {
        Schedules(self)
    }
}

fn minutes(d: bookwarden_domain::jiff::SignedDuration) -> i64 {
    d.as_secs() / 60
}

fn parse_service(row: services::Model, staff: Vec<StaffId>) -> Result<Service, StoreError> {
    let bad = |e: &dyn std::fmt::Display| corrupt("services", e);
    let small = |v: i64| u32::try_from(v).map_err(|e| bad(&e));
    let timing = Timing::new(TimingSpec {
        duration_minutes: small(row.duration_min)?,
        buffer_before_minutes: small(row.buffer_before_min)?,
        buffer_after_minutes: small(row.buffer_after_min)?,
        minimum_notice_minutes: small(row.notice_min)?,
        horizon_days: small(row.horizon_days)?,
        slot_step_minutes: small(row.step_min)?,
    })
    .map_err(|e| bad(&e))?;
    let seats = u16::try_from(row.capacity).map_err(|e| bad(&e))?;
    let price = match (row.price_minor, row.currency) {
        (Some(amount), Some(code)) => {
            let currency = Currency::parse(&code).map_err(|e| bad(&e))?;
            let amount = u64::try_from(amount).map_err(|e| bad(&e))?;
            Some(Price::new(amount, currency).map_err(|e| bad(&e))?)
        }
        (None, None) => None,
        _ => return Err(bad(&"price without currency")),
    };
    let spec = ServiceSpec {
        name: ServiceName::parse(&row.name).map_err(|e| bad(&e))?,
        timing,
        capacity: Capacity::new(seats).map_err(|e| bad(&e))?,
        staff,
        price,
        intake: rows::intake_from_json(&row.intake)?,
        public: row.public,
    };
    Service::new(
        ServiceId::from_uuid(row.service_id),
        TenantId::from_uuid(row.tenant_id),
        spec,
    )
    .map_err(|e| bad(&e))
}

impl Services<'_> {
    /// Adds a service with its staff assignments.
    pub async fn insert(&self, service: &Service) -> Result<(), StoreError> {
        let scope = self.0;
        scope.check_owner(service.tenant())?;
        let t = service.timing();
        services::ActiveModel {
            tenant_id: Set(scope.uuid()),
            service_id: Set(*service.id().as_uuid()),
            name: Set(service.name().as_str().to_owned()),
            duration_min: Set(minutes(t.duration())),
            buffer_before_min: Set(minutes(t.buffer_before())),
            buffer_after_min: Set(minutes(t.buffer_after())),
            notice_min: Set(minutes(t.minimum_notice())),
            horizon_days: Set(t.horizon().as_secs() / 86_400),
            step_min: Set(minutes(t.slot_step())),
            capacity: Set(i64::from(service.capacity().seats())),
            price_minor: Set(service
                .price()
                .map(|p| i64::try_from(p.minor_units()).unwrap_or(i64::MAX))),
            currency: Set(service.price().map(|p| p.currency().as_str().to_owned())),
            public: Set(service.is_public()),
            intake: Set(rows::intake_json(service.intake())?),
        }
        .insert(scope.tx())
        .await
        .map_err(|e| match refusal(&e) {
            Some(Refusal::Unique) => StoreError::Duplicate(Unique::Service),
            _ => StoreError::from(e),
        })?;
        self.assign(service.id(), service.staff()).await
    }

    async fn assign(&self, service: ServiceId, staff: &[StaffId]) -> Result<(), StoreError> {
        let scope = self.0;
        for (position, member) in (0_i64..).zip(staff) {
            service_staff::ActiveModel {
                tenant_id: Set(scope.uuid()),
                service_id: Set(*service.as_uuid()),
                staff_id: Set(*member.as_uuid()),
                position: Set(position),
            }
            .insert(scope.tx())
            .await
            .map_err(|e| match refusal(&e) {
                Some(Refusal::ForeignKey) => StoreError::MissingReference("staff member"),
                _ => StoreError::from(e),
            })?;
        }
        Ok(())
    }

    async fn staff_of(&self, service: ServiceId) -> Result<Vec<StaffId>, StoreError> {
        let scope = self.0;
        Ok(service_staff::Entity::find()
            .filter(service_staff::Column::TenantId.eq(scope.uuid()))
            .filter(service_staff::Column::ServiceId.eq(*service.as_uuid()))
            .order_by_asc(service_staff::Column::Position)
            .all(scope.tx())
            .await?
            .into_iter()
            .map(|row| StaffId::from_uuid(row.staff_id))
            .collect())
    }

    /// One service, if it exists in this tenant.
    pub async fn get(&self, id: ServiceId) -> Result<Option<Service>, StoreError> {
        let scope = self.0;
        let Some(row) = services::Entity::find()
            .filter(services::Column::TenantId.eq(scope.uuid()))
            .filter(services::Column::ServiceId.eq(*id.as_uuid()))
            .one(scope.tx())
            .await?
        else {
            return Ok(None);
        };
        let staff = self.staff_of(id).await?;
        parse_service(row, staff).map(Some)
    }

    /// Every service, ordered by id.
    pub async fn list(&self) -> Result<Vec<Service>, StoreError> {
        let scope = self.0;
        let rows = services::Entity::find()
            .filter(services::Column::TenantId.eq(scope.uuid()))
            .order_by_asc(services::Column::ServiceId)
            .all(scope.tx())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let staff = self.staff_of(ServiceId::from_uuid(row.service_id)).await?;
            out.push(parse_service(row, staff)?);
        }
        Ok(out)
    }

    /// Removes a service; `false` if there is no such service in this
    /// tenant; [`StoreError::InUse`] while bookings still name it.
    pub async fn delete(&self, id: ServiceId) -> Result<bool, StoreError> {
        let scope = self.0;
        let result = services::Entity::delete_many()
            .filter(services::Column::TenantId.eq(scope.uuid()))
            .filter(services::Column::ServiceId.eq(*id.as_uuid()))
            .exec(scope.tx())
            .await
            .map_err(|e| match refusal(&e) {
                Some(Refusal::ForeignKey) => StoreError::InUse("service"),
                _ => StoreError::from(e),
            })?;
        Ok(result.rows_affected == 1)
    }
}

fn parse_schedule(row: schedules::Model) -> Result<Schedule, StoreError> {
    let bad = |e: &dyn std::fmt::Display| corrupt("schedules", e);
    let spec = ScheduleSpec {
        zone: TimeZone::parse(&row.time_zone).map_err(|e| bad(&e))?,
        weekly: rows::weekly_from_json(&row.weekly)?,
        overrides: rows::overrides_from_json(&row.overrides)?,
        time_off: rows::time_off_from_json(&row.time_off)?,
    };
    Schedule::new(
        ScheduleId::from_uuid(row.schedule_id),
        TenantId::from_uuid(row.tenant_id),
        StaffId::from_uuid(row.staff_id),
        spec,
    )
    .map_err(|e| bad(&e))
}

impl Schedules<'_> {
    /// Saves a staff member's schedule, replacing the one they had.
    pub async fn put(&self, schedule: &Schedule) -> Result<(), StoreError> {
        let scope = self.0;
        scope.check_owner(schedule.tenant())?;
        let zone = schedule.zone().name();
        let moved = schedules::Entity::find()
            .filter(schedules::Column::TenantId.eq(scope.uuid()))
            .filter(schedules::Column::StaffId.eq(*schedule.staff().as_uuid()))
            .one(scope.tx())
            .await?
            .is_some_and(|kept| kept.time_zone != zone);
        if moved {
            // All-day events were imported as the old zone's days: every
            // calendar of the staff member syncs again in full, now (a
            // cursor or an unchanged feed would keep the old days).
            calendar_connections::Entity::update_many()
                .col_expr(
                    calendar_connections::Column::SyncCursor,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(
                    calendar_connections::Column::NextSyncAtUs,
                    Expr::value(0_i64),
                )
                .filter(calendar_connections::Column::TenantId.eq(scope.uuid()))
                .filter(calendar_connections::Column::StaffId.eq(*schedule.staff().as_uuid()))
                .filter(calendar_connections::Column::NextSyncAtUs.is_not_null())
                .exec(scope.tx())
                .await?;
        }
        schedules::Entity::delete_many()
            .filter(schedules::Column::TenantId.eq(scope.uuid()))
            .filter(schedules::Column::StaffId.eq(*schedule.staff().as_uuid()))
            .exec(scope.tx())
            .await?;
        schedules::ActiveModel {
            tenant_id: Set(scope.uuid()),
            schedule_id: Set(*schedule.id().as_uuid()),
            staff_id: Set(*schedule.staff().as_uuid()),
            time_zone: Set(schedule.zone().name().to_owned()),
            weekly: Set(rows::weekly_json(schedule.weekly())?),
            overrides: Set(rows::overrides_json(schedule.overrides())?),
            time_off: Set(rows::time_off_json(schedule.time_off())?),
        }
        .insert(scope.tx())
        .await
        .map_err(|e| match refusal(&e) {
            Some(Refusal::ForeignKey) => StoreError::MissingReference("staff member"),
            Some(Refusal::Unique) => StoreError::Duplicate(Unique::Schedule),
            _ => StoreError::from(e),
        })?;
        Ok(())
    }

    /// The schedule of a staff member of this tenant.
    pub async fn of_staff(&self, staff: StaffId) -> Result<Option<Schedule>, StoreError> {
        let scope = self.0;
        schedules::Entity::find()
            .filter(schedules::Column::TenantId.eq(scope.uuid()))
            .filter(schedules::Column::StaffId.eq(*staff.as_uuid()))
            .one(scope.tx())
            .await?
            .map(parse_schedule)
            .transpose()
    }

    /// Every schedule of the tenant.
    pub async fn list(&self) -> Result<Vec<Schedule>, StoreError> {
        let scope = self.0;
        schedules::Entity::find()
            .filter(schedules::Column::TenantId.eq(scope.uuid()))
            .order_by_asc(schedules::Column::StaffId)
            .all(scope.tx())
            .await?
            .into_iter()
            .map(parse_schedule)
            .collect()
    }
}
