//! Bookings, the holds that keep them from overlapping, and idempotency.
//!
//! A hold is the time a booking takes from its staff member, widened by
//! the service's buffers. The database refuses two overlapping holds of one
//! staff member (an exclusion constraint on PostgreSQL, a trigger on
//! SQLite, where writers are serialized), so no interleaving of requests can
//! double-book. Bookings of a group service at the same slot share one hold
//! and count seats on it with a conditional update that never passes the
//! capacity.
//!
//! What a booking may be (its member provides the service, its seats fit)
//! is the domain's rule, `Service::offers`, which the store asks before
//! writing; the hold's range is `Timing::hold`. The store itself enforces
//! only what the database must: no overlap, the capacity of a shared hold,
//! and composite keys that keep every reference inside one tenant.

use bookwarden_domain::account::Customer;
use bookwarden_domain::booking::{
    Active, AnyBooking, Booking, BookingParts, CancelledBy, NewBooking, RequestError, Stage,
};
use bookwarden_domain::id::{BookingId, CustomerId, ServiceId, StaffId, TenantId};
use bookwarden_domain::jiff::Timestamp;
use bookwarden_domain::service::Service;
use bookwarden_domain::time::TimeRange;
use sea_orm::prelude::Uuid;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, Statement, TransactionTrait, Value,
};

use crate::CredentialKind;
use crate::entity::{bookings, holds, idempotency_keys};
use crate::error::{Refusal, StoreError, Unique, refusal, unique_table};
use crate::rows::{self, corrupt, us};
use crate::store::{Store, TenantScope};

/// Bookings of the scope's tenant.
pub struct Bookings<'s>(&'s TenantScope);

impl TenantScope {
    /// Bookings.
    pub fn bookings(&self) -> Bookings<'_> {
        Bookings(self)
    }
}

/// A client's promise that a retried request is the same request.
#[derive(Clone, Copy, Debug)]
pub struct Idempotency<'a> {
    /// The `Idempotency-Key` header, as sent.
    pub key: &'a str,
    /// A digest of the request body, to refuse a key reused for another
    /// request.
    pub request_digest: &'a [u8; 32],
}

/// What [`Bookings::create`] did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Created {
    /// The booking was stored.
    New,
    /// The idempotency key was seen before with the same request: this is
    /// the booking it made, and nothing new was stored.
    Replayed(BookingId),
}

/// The parts every stage shares, for writing a row.
struct Fields {
    id: BookingId,
    service: ServiceId,
    staff: StaffId,
    range: TimeRange,
    seats: u16,
}

fn fields<S: Copy>(b: &Booking<S>) -> Fields {
    Fields {
        id: b.id(),
        service: b.service(),
        staff: b.staff(),
        range: b.range(),
        seats: b.seats(),
    }
}

fn stage_columns(stage: Stage) -> (&'static str, Option<i64>, Option<i64>, Option<String>) {
    let name = stage.name();
    match stage {
        Stage::Requested => (name, None, None, None),
        Stage::Confirmed(at) => (name, Some(us(at)), None, None),
        Stage::Cancelled(at, by) => (name, None, Some(us(at)), Some(by.as_str().to_owned())),
    }
}

pub(crate) fn parse_booking(row: bookings::Model) -> Result<AnyBooking, StoreError> {
    let bad = |e: &dyn std::fmt::Display| corrupt("bookings", e);
    let at = |v: Option<i64>| -> Result<Timestamp, StoreError> {
        rows::instant("bookings", v.ok_or_else(|| bad(&"stage without its time"))?)
    };
    let stage = match row.status.as_str() {
        "requested" => Stage::Requested,
        "confirmed" => Stage::Confirmed(at(row.confirmed_at_us)?),
        "cancelled" => {
            let by = match row.cancelled_by.as_deref() {
                Some("customer") => CancelledBy::Customer,
                Some("staff") => CancelledBy::Staff,
                Some("system") => CancelledBy::System,
                _ => return Err(bad(&"cancelled without who")),
            };
            Stage::Cancelled(at(row.cancelled_at_us)?, by)
        }
        other => return Err(bad(&format!("unknown status {other}"))),
    };
    Ok(AnyBooking::restore(BookingParts {
        id: BookingId::from_uuid(row.booking_id),
        new: NewBooking {
            tenant: TenantId::from_uuid(row.tenant_id),
            service: ServiceId::from_uuid(row.service_id),
            staff: StaffId::from_uuid(row.staff_id),
            customer: CustomerId::from_uuid(row.customer_id),
            range: rows::range("bookings", row.starts_at_us, row.ends_at_us)?,
            seats: u16::try_from(row.seats).map_err(|e| bad(&e))?,
            answers: rows::answers_from_json(&row.answers)?,
        },
        created_at: rows::instant("bookings", row.created_at_us)?,
        reschedules: u32::try_from(row.reschedules).map_err(|e| bad(&e))?,
        stage,
    }))
}

impl Bookings<'_> {
    pub(crate) fn scope(&self) -> &TenantScope {
        self.0
    }

    /// Stores a new booking (requested or confirmed), taking its time from
    /// the staff member atomically. [`StoreError::SlotTaken`] when the time
    /// (with the service's buffers) overlaps time already held, or every
    /// seat of a group slot is taken. With an idempotency key seen before,
    /// returns the first booking instead; with the same key and a different
    /// request, [`StoreError::IdempotencyMismatch`].
    pub async fn create<S: Active>(
        &self,
        booking: &Booking<S>,
        service: &Service,
        manage_digest: Option<&[u8; 32]>,
        idempotency: Option<Idempotency<'_>>,
    ) -> Result<Created, StoreError>
    where
        Booking<S>: Into<AnyBooking> + Clone,
    {
        let scope = self.0;
        scope.check_owner(booking.tenant())?;
        if let Some(idem) = idempotency
            && let Some(seen) = self.idempotent(idem).await?
        {
            return Ok(Created::Replayed(seen));
        }
        let stmt = insert_statement(
            scope.tx().get_database_backend(),
            scope.tenant(),
            booking,
            service,
            &BookingExtras {
                manage_digest,
                idempotency,
                new_customer: None,
                catalog_version: None,
            },
            false,
        )?;
        match scope.tx().execute_raw(stmt).await {
            Ok(_) => Ok(Created::New),
            // Inside a transaction a lost idempotency race cannot be read
            // back (PostgreSQL has aborted it): the caller retries.
            Err(e) => Err(match insert_refusal(e, idempotency.is_some()) {
                Refused::IdempotencyTaken => StoreError::Retry,
                Refused::Other(err) => err,
            }),
        }
    }

    async fn idempotent(&self, idem: Idempotency<'_>) -> Result<Option<BookingId>, StoreError> {
        let scope = self.0;
        let seen = idempotency_keys::Entity::find()
            .filter(idempotency_keys::Column::TenantId.eq(scope.uuid()))
            .filter(idempotency_keys::Column::IdemKey.eq(idem.key))
            .one(scope.tx())
            .await?;
        match seen {
            None => Ok(None),
            Some(row) if row.request_digest.as_slice() == idem.request_digest.as_slice() => {
                Ok(Some(BookingId::from_uuid(row.booking_id)))
            }
            Some(_) => Err(StoreError::IdempotencyMismatch),
        }
    }

    /// One booking, if it exists in this tenant.
    pub async fn get(&self, id: BookingId) -> Result<Option<AnyBooking>, StoreError> {
        let scope = self.0;
        bookings::Entity::find()
            .filter(bookings::Column::TenantId.eq(scope.uuid()))
            .filter(bookings::Column::BookingId.eq(*id.as_uuid()))
            .one(scope.tx())
            .await?
            .map(parse_booking)
            .transpose()
    }

    /// The booking an idempotency key made, if the key was seen with this
    /// same request; [`StoreError::IdempotencyMismatch`] if it was seen with
    /// another.
    pub async fn by_idempotency_key(
        &self,
        idem: Idempotency<'_>,
    ) -> Result<Option<AnyBooking>, StoreError> {
        let scope = self.0;
        let seen = idempotency_keys::Entity::find()
            .filter(idempotency_keys::Column::TenantId.eq(scope.uuid()))
            .filter(idempotency_keys::Column::IdemKey.eq(idem.key))
            .one(scope.tx())
            .await?;
        match seen {
            Some(row) if row.request_digest.as_slice() == idem.request_digest.as_slice() => {
                self.get(BookingId::from_uuid(row.booking_id)).await
            }
            Some(_) => Err(StoreError::IdempotencyMismatch),
            None => Ok(None),
        }
    }

    /// The booking whose manage-token digest is `digest`.
    pub async fn by_manage_digest(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<AnyBooking>, StoreError> {
        let scope = self.0;
        bookings::Entity::find()
            .filter(bookings::Column::TenantId.eq(scope.uuid()))
            .filter(bookings::Column::ManageDigest.eq(digest.to_vec()))
            .one(scope.tx())
            .await?
            .map(parse_booking)
            .transpose()
    }

    /// Bookings starting in `range`, optionally of one staff member, by
    /// start.
    pub async fn list(
        &self,
        range: TimeRange,
        staff: Option<StaffId>,
    ) -> Result<Vec<AnyBooking>, StoreError> {
        self.list_where(range, staff, None).await
    }

    /// [`Bookings::list`], narrowed to one customer's bookings as well
    /// when `customer` is given, in the query itself.
    pub async fn list_where(
        &self,
        range: TimeRange,
        staff: Option<StaffId>,
        customer: Option<CustomerId>,
    ) -> Result<Vec<AnyBooking>, StoreError> {
        let scope = self.0;
        let mut query = bookings::Entity::find()
            .filter(bookings::Column::TenantId.eq(scope.uuid()))
            .filter(bookings::Column::StartsAtUs.gte(us(range.start())))
            .filter(bookings::Column::StartsAtUs.lt(us(range.end())));
        if let Some(staff) = staff {
            query = query.filter(bookings::Column::StaffId.eq(*staff.as_uuid()));
        }
        if let Some(customer) = customer {
            query = query.filter(bookings::Column::CustomerId.eq(*customer.as_uuid()));
        }
        query
            .order_by_asc(bookings::Column::StartsAtUs)
            .order_by_asc(bookings::Column::BookingId)
            .all(scope.tx())
            .await?
            .into_iter()
            .map(parse_booking)
            .collect()
    }

    /// Stores a confirmation; `false` unless the stored booking was still
    /// requested.
    pub async fn confirm(
        &self,
        booking: &Booking<bookwarden_domain::booking::Confirmed>,
    ) -> Result<bool, StoreError> {
        let scope = self.0;
        scope.check_owner(booking.tenant())?;
        let result = bookings::Entity::update_many()
            .col_expr(bookings::Column::Status, "confirmed".into())
            .col_expr(
                bookings::Column::ConfirmedAtUs,
                Some(us(booking.stage().at())).into(),
            )
            .filter(bookings::Column::TenantId.eq(scope.uuid()))
            .filter(bookings::Column::BookingId.eq(*booking.id().as_uuid()))
            .filter(bookings::Column::Status.eq("requested"))
            .exec(scope.tx())
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Stores a cancellation and gives the time back; `false` unless the
    /// stored booking was still active.
    pub async fn cancel(
        &self,
        booking: &Booking<bookwarden_domain::booking::Cancelled>,
    ) -> Result<bool, StoreError> {
        let scope = self.0;
        scope.check_owner(booking.tenant())?;
        let Some(held) = self.lock_active(booking.id()).await? else {
            return Ok(false);
        };
        let stage = booking.stage();
        let result = bookings::Entity::update_many()
            .col_expr(bookings::Column::Status, "cancelled".into())
            .col_expr(bookings::Column::HoldId, Option::<Uuid>::None.into())
            .col_expr(bookings::Column::CancelledAtUs, Some(us(stage.at())).into())
            .col_expr(
                bookings::Column::CancelledBy,
                Some(stage.by().as_str()).into(),
            )
            .filter(bookings::Column::TenantId.eq(scope.uuid()))
            .filter(bookings::Column::BookingId.eq(*booking.id().as_uuid()))
            .filter(bookings::Column::HoldId.eq(held.hold))
            .exec(scope.tx())
            .await?;
        if result.rows_affected != 1 {
            return Ok(false);
        }
        release_hold(scope.tx(), scope.uuid(), held.hold, held.seats).await?;
        Ok(true)
    }

    /// Moves an active booking to its new time atomically: the new time is
    /// taken (or [`StoreError::SlotTaken`]) and the old one given back, or
    /// nothing changes. `false` if the stored booking is not active.
    pub async fn reschedule<S: Active>(
        &self,
        booking: &Booking<S>,
        service: &Service,
    ) -> Result<bool, StoreError> {
        let scope = self.0;
        scope.check_owner(booking.tenant())?;
        scope.check_owner(service.tenant())?;
        if booking.service() != service.id() {
            return Err(StoreError::MissingReference("service"));
        }
        // Lock the stored booking: a concurrent cancel or reschedule of it
        // waits, then finds it changed, instead of releasing its time twice.
        let Some(held) = self.lock_active(booking.id()).await? else {
            return Ok(false);
        };
        // Seats and service come from the stored row, not the caller.
        let f = Fields {
            seats: held.seats,
            ..fields(booking)
        };
        if f.service.as_uuid() != &held.service {
            return Err(StoreError::MissingReference("service"));
        }
        offered(f.service, f.staff, f.seats, service)?;
        // Give the old time back first, so a move by less than its own
        // length does not collide with itself; all inside a savepoint that
        // is rolled back (dropped) if the new time is taken.
        let moved = scope.tx().begin().await?;
        // Detach first (the row's CHECK ties a missing hold to the
        // cancelled status, so it is cancelled for a moment, inside the
        // savepoint), then give the old time back and take the new.
        bookings::Entity::update_many()
            .col_expr(bookings::Column::HoldId, Option::<Uuid>::None.into())
            .col_expr(bookings::Column::Status, "cancelled".into())
            .filter(bookings::Column::TenantId.eq(scope.uuid()))
            .filter(bookings::Column::BookingId.eq(*f.id.as_uuid()))
            .filter(bookings::Column::HoldId.eq(held.hold))
            .exec(&moved)
            .await?;
        release_hold(&moved, scope.uuid(), held.hold, held.seats).await?;
        let hold = acquire_hold_in(&moved, scope.uuid(), &f, service).await?;
        let result = bookings::Entity::update_many()
            .col_expr(bookings::Column::HoldId, Some(hold).into())
            .col_expr(bookings::Column::Status, held.status.clone().into())
            .col_expr(bookings::Column::StaffId, (*f.staff.as_uuid()).into())
            .col_expr(bookings::Column::StartsAtUs, us(f.range.start()).into())
            .col_expr(bookings::Column::EndsAtUs, us(f.range.end()).into())
            // Counted in the database, under the row lock: two moves count two.
            .col_expr(
                bookings::Column::Reschedules,
                Expr::col(bookings::Column::Reschedules).add(1),
            )
            .filter(bookings::Column::TenantId.eq(scope.uuid()))
            .filter(bookings::Column::BookingId.eq(*f.id.as_uuid()))
            .filter(bookings::Column::HoldId.is_null())
            .exec(&moved)
            .await
            .map_err(|e| match refusal(&e) {
                Some(Refusal::ForeignKey) => StoreError::MissingReference("staff member"),
                _ => StoreError::from(e),
            })?;
        if result.rows_affected != 1 {
            return Ok(false);
        }
        moved.commit().await?;
        Ok(true)
    }

    /// Reads and, on PostgreSQL, locks the stored booking until the scope
    /// ends; `None` unless it is active. (SQLite write scopes are serialized
    /// already.)
    async fn lock_active(&self, id: BookingId) -> Result<Option<Held>, StoreError> {
        let scope = self.0;
        let mut query = bookings::Entity::find()
            .filter(bookings::Column::TenantId.eq(scope.uuid()))
            .filter(bookings::Column::BookingId.eq(*id.as_uuid()));
        if scope.tx().get_database_backend() == DbBackend::Postgres {
            query = query.lock_exclusive();
        }
        let Some(row) = query.one(scope.tx()).await? else {
            return Ok(None);
        };
        let Some(hold) = row.hold_id else {
            return Ok(None);
        };
        let seats = u16::try_from(row.seats).map_err(|e| corrupt("bookings", e))?;
        Ok(Some(Held {
            hold,
            seats,
            service: row.service_id,
            status: row.status,
        }))
    }
}

/// What an active booking holds, as stored.
struct Held {
    hold: Uuid,
    seats: u16,
    service: Uuid,
    status: String,
}

/// Why the one-statement insert was refused.
enum Refused {
    /// The idempotency key was stored a moment ago by another request.
    IdempotencyTaken,
    /// Anything else, already mapped.
    Other(StoreError),
}

fn insert_refusal(e: sea_orm::DbErr, has_key: bool) -> Refused {
    match refusal(&e) {
        Some(Refusal::Overlap | Refusal::Check) => Refused::Other(StoreError::SlotTaken),
        Some(Refusal::CatalogChanged) => Refused::Other(StoreError::CatalogChanged),
        Some(Refusal::ForeignKey) => Refused::Other(StoreError::MissingReference(
            "customer, staff member or service",
        )),
        Some(Refusal::Unique) => match unique_table(&e).as_deref() {
            Some("idempotency_keys") if has_key => Refused::IdempotencyTaken,
            Some("customers") => Refused::Other(StoreError::Duplicate(Unique::CustomerEmail)),
            _ => Refused::Other(StoreError::Duplicate(Unique::Booking)),
        },
        None => Refused::Other(StoreError::from(e)),
    }
}

/// What a booking's one statement stores besides the booking itself.
#[derive(Clone, Copy, Default)]
pub struct BookingExtras<'a> {
    /// The digest of the booking's manage token: stored on the booking and
    /// registered in the credential directory.
    pub manage_digest: Option<&'a [u8; 32]>,
    /// The client's idempotency key.
    pub idempotency: Option<Idempotency<'a>>,
    /// A customer to add with the booking (the booking's customer, new to
    /// the tenant). If the email was added meanwhile by another request the
    /// statement fails with [`StoreError::Duplicate`]`("customer")`.
    pub new_customer: Option<&'a Customer>,
    /// The tenant's catalog version the booking was checked against
    /// ([`TenantScope::catalog_version`]); when it has moved since, the
    /// statement fails with [`StoreError::CatalogChanged`].
    pub catalog_version: Option<i64>,
}

/// Whether `service` offers a booking by `staff` for `seats`, by the
/// domain's rule ([`Service::offers`]), asked here rather than re-derived:
/// a booking built without consulting the service (`Booking::request` is
/// public for embedders) still cannot be stored against it. What the rule
/// decides from the catalog is the domain's; what must hold under
/// concurrency (no overlap, seats never past the hold's capacity) is the
/// database's.
fn offered(
    booked: ServiceId,
    staff: StaffId,
    seats: u16,
    service: &Service,
) -> Result<(), StoreError> {
    if booked != service.id() {
        return Err(StoreError::MissingReference("service"));
    }
    match service.offers(Some(staff), seats) {
        Ok(()) => Ok(()),
        Err(RequestError::StaffNotOnService) => {
            Err(StoreError::MissingReference("service staff member"))
        }
        Err(_) => Err(StoreError::SlotTaken),
    }
}

/// The one statement that creates a booking: an insert into the
/// `booking_requests` view on SQLite, a call of `bookwarden_create_booking`
/// on PostgreSQL (see the migrations). Both take (or join) the hold, store
/// the booking, record the idempotency key, add a new customer and register
/// the manage link in the directory (when `register_manage`), all or
/// nothing.
fn insert_statement<S: Active>(
    backend: DbBackend,
    bound: TenantId,
    booking: &Booking<S>,
    service: &Service,
    extras: &BookingExtras<'_>,
    register_manage: bool,
) -> Result<Statement, StoreError>
where
    Booking<S>: Into<AnyBooking> + Clone,
{
    if booking.tenant() != service.tenant()
        || extras
            .new_customer
            .is_some_and(|c| c.tenant() != booking.tenant())
    {
        return Err(StoreError::WrongTenant);
    }
    offered(booking.service(), booking.staff(), booking.seats(), service)?;
    if extras
        .new_customer
        .is_some_and(|c| c.id() != booking.customer())
    {
        return Err(StoreError::MissingReference("customer"));
    }
    let capacity = i64::from(service.capacity().seats());
    let timing = service.timing();
    let range = booking.range();
    // The hold is the domain's rule (the appointment and its buffers).
    let hold = timing.hold(range);
    let (held_from, held_until) = (us(hold.start()), us(hold.end()));
    let (status, confirmed, _, _) = stage_columns(booking.clone().into().stage());
    let customer = extras.new_customer;
    let values: Vec<Value> = vec![
        (*booking.tenant().as_uuid()).into(),
        (*booking.id().as_uuid()).into(),
        Uuid::new_v4().into(),
        (*booking.service().as_uuid()).into(),
        (*booking.staff().as_uuid()).into(),
        (*booking.customer().as_uuid()).into(),
        us(range.start()).into(),
        us(range.end()).into(),
        held_from.into(),
        held_until.into(),
        capacity.into(),
        i64::from(booking.seats()).into(),
        status.into(),
        rows::answers_json(booking.answers())?.into(),
        us(booking.created_at()).into(),
        confirmed.into(),
        i64::from(booking.reschedules()).into(),
        extras.manage_digest.map(|d| d.to_vec()).into(),
        extras.idempotency.map(|i| i.key.to_owned()).into(),
        extras.idempotency.map(|i| i.request_digest.to_vec()).into(),
        customer.map(|c| c.email().as_str().to_owned()).into(),
        customer.map(|c| c.name().as_str().to_owned()).into(),
        customer
            .and_then(Customer::phone)
            .map(|p| p.as_str().to_owned())
            .into(),
        (register_manage && extras.manage_digest.is_some()).into(),
        extras.catalog_version.into(),
    ];
    let arguments = values.len();
    let mut values = values;
    let sql = match backend {
        // The tenant is set for the statement's own transaction from the
        // handle's tenant (the last parameter) before the function runs
        // (a materialized CTE is produced before the rows that read it),
        // so row-level security checks every row the function writes, and
        // the function refuses a `p_tenant` that is not that tenant.
        DbBackend::Postgres => {
            values.push(bound.to_string().into());
            format!(
                "WITH bound AS MATERIALIZED \
                 (SELECT set_config('app.tenant_id', ${}, true) AS tenant) \
                 SELECT bookwarden_create_booking({}) FROM bound",
                arguments + 1,
                (1..=arguments)
                    .map(|i| format!("${i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        _ => format!(
            "INSERT INTO booking_requests (tenant_id, booking_id, hold_id, service_id, staff_id, \
             customer_id, starts_at_us, ends_at_us, held_from_us, held_until_us, capacity, seats, \
             status, answers, created_at_us, confirmed_at_us, reschedules, manage_digest, idem_key, \
             idem_digest, customer_email, customer_name, customer_phone, register_manage, \
             catalog_version) \
             VALUES ({})",
            vec!["?"; values.len()].join(", ")
        ),
    };
    Ok(Statement::from_sql_and_values(backend, sql, values))
}

/// The public booking path of one tenant: bound to it like a
/// [`TenantScope`], but without a transaction of its own, so that a booking
/// is one statement (on SQLite, batched with others by `combine`). A
/// booking, service or customer of another tenant is refused with
/// [`StoreError::WrongTenant`] before any statement; on PostgreSQL the
/// statement sets the bound tenant for row-level security itself.
pub struct Booker<'s> {
    store: &'s Store,
    tenant: TenantId,
}

impl Store {
    /// The public booking path of `tenant` (see [`Booker`]).
    pub fn booker(&self, tenant: TenantId) -> Booker<'_> {
        Booker {
            store: self,
            tenant,
        }
    }
}

impl Booker<'_> {
    /// The tenant this path is bound to.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// Creates a booking in one trip to the database, outside any scope:
    /// the fast path for the public booking flow. The same rules as
    /// [`Bookings::create`] apply (the database refuses overlapping time;
    /// an idempotency key seen before returns the first booking).
    pub async fn book<S: Active>(
        &self,
        booking: &Booking<S>,
        service: &Service,
        manage_digest: Option<&[u8; 32]>,
        idempotency: Option<Idempotency<'_>>,
    ) -> Result<Created, StoreError>
    where
        Booking<S>: Into<AnyBooking> + Clone,
    {
        self.book_with(
            booking,
            service,
            BookingExtras {
                manage_digest,
                idempotency,
                new_customer: None,
                catalog_version: None,
            },
        )
        .await
    }

    /// [`Booker::book`] with what comes with a public booking: the manage
    /// link's directory entry and a new customer, in the booking's own
    /// statement. Where the directory is in another region's database the
    /// entry is registered first and forgotten again unless the booking is
    /// stored.
    pub async fn book_with<S: Active>(
        &self,
        booking: &Booking<S>,
        service: &Service,
        extras: BookingExtras<'_>,
    ) -> Result<Created, StoreError>
    where
        Booking<S>: Into<AnyBooking> + Clone,
    {
        let tenant = self.tenant;
        if booking.tenant() != tenant {
            return Err(StoreError::WrongTenant);
        }
        let store = self.store;
        let db = store.database_of(tenant).await?;
        let stmt = insert_statement(
            db.conn.get_database_backend(),
            tenant,
            booking,
            service,
            &extras,
            db.holds_directory,
        )?;
        let elsewhere = extras.manage_digest.filter(|_| !db.holds_directory);
        if let Some(digest) = elsewhere {
            store
                .system()
                .register_credential(digest, tenant, CredentialKind::BookingManage)
                .await?;
        }
        let outcome = match (&db.combiner, &db.writer) {
            // SQLite: one writer; bookings go in batches (see `combine`).
            // The batch moves the write epoch itself.
            (Some(combiner), Some(writer)) => {
                combiner.execute(&db.conn, writer, tenant, stmt).await
            }
            _ => {
                let done = db.conn.execute_raw(stmt).await.map(|_| ());
                if done.is_ok() {
                    store.booked(tenant);
                }
                done
            }
        };
        let created = match outcome {
            Ok(()) => Ok(Created::New),
            Err(e) => match (
                insert_refusal(e, extras.idempotency.is_some()),
                extras.idempotency,
            ) {
                (Refused::IdempotencyTaken, Some(idem)) => {
                    let scope = store.read(tenant).await?;
                    let seen = scope.bookings().idempotent(idem).await;
                    scope.rollback().await?;
                    seen?.map(Created::Replayed).ok_or(StoreError::Retry)
                }
                (Refused::IdempotencyTaken, None) => Err(StoreError::Retry),
                (Refused::Other(err), _) => Err(err),
            },
        };
        if let Some(digest) = elsewhere
            && !matches!(created, Ok(Created::New))
        {
            store.system().forget_credential(digest).await?;
        }
        created
    }
}

/// Takes `f`'s time from its staff member: joins the group slot's hold when
/// seats are left, or inserts a new hold, which the database refuses if it
/// overlaps another.
async fn acquire_hold_in(
    tx: &DatabaseTransaction,
    tenant: Uuid,
    f: &Fields,
    service: &Service,
) -> Result<Uuid, StoreError> {
    let capacity = i64::from(service.capacity().seats());
    let seats = i64::from(f.seats);
    if capacity > 1
        && let Some(hold) = join_group_hold(tx, tenant, f, seats).await?
    {
        return Ok(hold);
    }
    let timing = service.timing();
    let hold_id = Uuid::new_v4();
    let hold = timing.hold(f.range);
    let (held_from, held_until) = (us(hold.start()), us(hold.end()));
    let hold = holds::ActiveModel {
        tenant_id: Set(tenant),
        hold_id: Set(hold_id),
        staff_id: Set(*f.staff.as_uuid()),
        service_id: Set(*f.service.as_uuid()),
        starts_at_us: Set(us(f.range.start())),
        ends_at_us: Set(us(f.range.end())),
        held_from_us: Set(held_from),
        held_until_us: Set(held_until),
        capacity: Set(capacity),
        seats_taken: Set(seats),
    };
    let refused = |e: sea_orm::DbErr| match refusal(&e) {
        Some(Refusal::Overlap | Refusal::Check) => StoreError::SlotTaken,
        Some(Refusal::ForeignKey) => StoreError::MissingReference("staff member or service"),
        _ => StoreError::from(e),
    };
    if capacity == 1 {
        // A refusal ends the attempt, so no savepoint (and its two round
        // trips) is needed.
        hold.insert(tx).await.map_err(refused)?;
        return Ok(hold_id);
    }
    // A group slot: inside a savepoint, so that when another request
    // created this slot's hold a moment ago (PostgreSQL), the transaction
    // is still usable to join it.
    let attempt = tx.begin().await?;
    match hold.insert(&attempt).await {
        Ok(_) => {
            attempt.commit().await?;
            Ok(hold_id)
        }
        Err(e) => {
            attempt.rollback().await?;
            match refused(e) {
                StoreError::SlotTaken => join_group_hold(tx, tenant, f, seats)
                    .await?
                    .ok_or(StoreError::SlotTaken),
                other => Err(other),
            }
        }
    }
}

/// Adds `seats` to the hold of the same group slot if it has room.
async fn join_group_hold(
    tx: &DatabaseTransaction,
    tenant: Uuid,
    f: &Fields,
    seats: i64,
) -> Result<Option<Uuid>, StoreError> {
    let existing = holds::Entity::find()
        .filter(holds::Column::TenantId.eq(tenant))
        .filter(holds::Column::StaffId.eq(*f.staff.as_uuid()))
        .filter(holds::Column::ServiceId.eq(*f.service.as_uuid()))
        .filter(holds::Column::StartsAtUs.eq(us(f.range.start())))
        .filter(holds::Column::EndsAtUs.eq(us(f.range.end())))
        .one(tx)
        .await?;
    let Some(hold) = existing else {
        return Ok(None);
    };
    let result = holds::Entity::update_many()
        .col_expr(
            holds::Column::SeatsTaken,
            Expr::col(holds::Column::SeatsTaken).add(seats),
        )
        .filter(holds::Column::TenantId.eq(tenant))
        .filter(holds::Column::HoldId.eq(hold.hold_id))
        .filter(
            Expr::col(holds::Column::SeatsTaken)
                .add(seats)
                .lte(Expr::col(holds::Column::Capacity)),
        )
        .exec(tx)
        .await?;
    if result.rows_affected == 1 {
        Ok(Some(hold.hold_id))
    } else {
        Err(StoreError::SlotTaken)
    }
}

/// Gives `seats` of a hold back, removing the hold with its last seat. A
/// seat joined concurrently (PostgreSQL) makes the conditional delete miss;
/// the shrink is then tried again.
async fn release_hold(
    tx: &DatabaseTransaction,
    tenant: Uuid,
    hold: Uuid,
    seats: u16,
) -> Result<(), StoreError> {
    let seats = i64::from(seats);
    for _ in 0..3 {
        let shrunk = holds::Entity::update_many()
            .col_expr(
                holds::Column::SeatsTaken,
                Expr::col(holds::Column::SeatsTaken).sub(seats),
            )
            .filter(holds::Column::TenantId.eq(tenant))
            .filter(holds::Column::HoldId.eq(hold))
            .filter(holds::Column::SeatsTaken.gt(seats))
            .exec(tx)
            .await?;
        if shrunk.rows_affected == 1 {
            return Ok(());
        }
        let deleted = holds::Entity::delete_many()
            .filter(holds::Column::TenantId.eq(tenant))
            .filter(holds::Column::HoldId.eq(hold))
            .filter(holds::Column::SeatsTaken.lte(seats))
            .exec(tx)
            .await?;
        if deleted.rows_affected == 1 {
            return Ok(());
        }
    }
    Err(corrupt(
        "holds",
        "a hold kept changing while its seats were given back",
    ))
}
