//! Bookings and their lifecycle as types.
//!
//! A booking is [`Requested`], [`Confirmed`] or [`Cancelled`]; the stage is a
//! type parameter, so confirming a cancelled booking does not compile.
//! Cancelling and rescheduling are offered on the active stages only (the
//! [`Active`] trait), and refuse, with a typed error, what the clock forbids.
//! Storage loads a booking of unknown stage as [`AnyBooking`] and matches.

use jiff::Timestamp;

use crate::id::{BookingId, CustomerId, ServiceId, StaffId, TenantId};
use crate::intake::IntakeAnswers;
use crate::service::{Service, Timing};
use crate::slots::{BookedTime, Slot};
use crate::time::TimeRange;

/// Awaiting confirmation by the business.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Requested;

/// Confirmed: the time is the customer's.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Confirmed {
    at: Timestamp,
}

/// Cancelled; terminal.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Cancelled {
    at: Timestamp,
    by: CancelledBy,
}

/// Who cancelled a booking.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum CancelledBy {
    /// The customer, through the manage link.
    Customer,
    /// Someone in the business.
    Staff,
    /// The platform, for example when a tenant is erased.
    System,
}

impl CancelledBy {
    /// The stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Staff => "staff",
            Self::System => "system",
        }
    }
}

impl Confirmed {
    /// When it was confirmed.
    pub fn at(&self) -> Timestamp {
        self.at
    }
}

impl Cancelled {
    /// When it was cancelled.
    pub fn at(&self) -> Timestamp {
        self.at
    }
    /// Who cancelled it.
    pub fn by(&self) -> CancelledBy {
        self.by
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Requested {}
    impl Sealed for super::Confirmed {}
}

/// The stages in which a booking holds time and can still change.
pub trait Active: sealed::Sealed + Copy {}
impl Active for Requested {}
impl Active for Confirmed {}

/// A change the clock forbids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BookingError {
    /// The appointment has already started.
    #[error("the appointment has already started")]
    AlreadyStarted,
    /// The new time lies in the past.
    #[error("the new time has already passed")]
    InPast,
    /// The new time is the current time.
    #[error("the booking is already at that time")]
    SameTime,
    /// A seat count of zero.
    #[error("a booking takes at least one seat")]
    NoSeats,
}

/// Why a booking request does not fit the service it asks for. Each is the
/// domain's rule, checked here once; the store keeps only what the
/// database must enforce (no overlap, references within the tenant).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The staff member asked for does not provide the service.
    #[error("the staff member does not provide this service")]
    StaffNotOnService,
    /// Zero seats, or more than the service has.
    #[error("a booking of this service takes 1 to {capacity} seats")]
    Seats {
        /// The service's capacity.
        capacity: u16,
    },
    /// The time is not one the slot engine offers (taken meanwhile, or
    /// not enough seats left).
    #[error("that time is not offered")]
    NotOffered,
    /// The start lies inside the service's minimum notice, or has passed.
    #[error("that time is too soon to book")]
    TooSoon,
    /// The start lies beyond the service's booking horizon.
    #[error("that time is too far ahead to book")]
    TooFar,
}

/// What a new booking is for.
#[derive(Clone, Debug)]
pub struct NewBooking {
    /// The tenant.
    pub tenant: TenantId,
    /// The booked service.
    pub service: ServiceId,
    /// Who delivers it.
    pub staff: StaffId,
    /// Who booked.
    pub customer: CustomerId,
    /// When.
    pub range: TimeRange,
    /// Seats taken (1 unless a group service).
    pub seats: u16,
    /// The answers to the service's intake form.
    pub answers: IntakeAnswers,
}

/// A booking in stage `S`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Booking<S> {
    id: BookingId,
    tenant: TenantId,
    service: ServiceId,
    staff: StaffId,
    customer: CustomerId,
    range: TimeRange,
    seats: u16,
    answers: IntakeAnswers,
    created_at: Timestamp,
    reschedules: u32,
    stage: S,
}

impl<S: Copy> Booking<S> {
    /// The booking's id.
    pub fn id(&self) -> BookingId {
        self.id
    }
    /// The tenant.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }
    /// The booked service.
    pub fn service(&self) -> ServiceId {
        self.service
    }
    /// Who delivers it.
    pub fn staff(&self) -> StaffId {
        self.staff
    }
    /// Who booked.
    pub fn customer(&self) -> CustomerId {
        self.customer
    }
    /// When.
    pub fn range(&self) -> TimeRange {
        self.range
    }
    /// Seats taken.
    pub fn seats(&self) -> u16 {
        self.seats
    }
    /// The intake answers.
    pub fn answers(&self) -> &IntakeAnswers {
        &self.answers
    }
    /// When it was made.
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }
    /// How often it was moved.
    pub fn reschedules(&self) -> u32 {
        self.reschedules
    }
    /// The stage's details.
    pub fn stage(&self) -> S {
        self.stage
    }

    fn into_stage<T>(self, stage: T) -> Booking<T> {
        Booking {
            id: self.id,
            tenant: self.tenant,
            service: self.service,
            staff: self.staff,
            customer: self.customer,
            range: self.range,
            seats: self.seats,
            answers: self.answers,
            created_at: self.created_at,
            reschedules: self.reschedules,
            stage,
        }
    }
}

impl Booking<Requested> {
    /// A new booking awaiting confirmation.
    pub fn request(new: NewBooking, now: Timestamp) -> Result<Self, BookingError> {
        if new.seats == 0 {
            return Err(BookingError::NoSeats);
        }
        if new.range.start() <= now {
            return Err(BookingError::InPast);
        }
        Ok(Self {
            id: BookingId::random(),
            tenant: new.tenant,
            service: new.service,
            staff: new.staff,
            customer: new.customer,
            range: new.range,
            seats: new.seats,
            answers: new.answers,
            created_at: now,
            reschedules: 0,
            stage: Requested,
        })
    }

    /// A request for `slot`, as the slot engine offered it for `service`:
    /// the slot's staff member must provide the service, `seats` must fit
    /// both the service's capacity and the seats the slot has left, and the
    /// start must lie between the minimum notice and the horizon from
    /// `now`. `answers` are the service's intake form's, already validated
    /// ([`crate::intake::IntakeForm::validate`]).
    ///
    /// # Errors
    /// The [`RequestError`] for the first rule the request breaks.
    pub fn for_slot(
        service: &Service,
        slot: &Slot,
        customer: CustomerId,
        seats: u16,
        answers: IntakeAnswers,
        now: Timestamp,
    ) -> Result<Self, RequestError> {
        service.offers(Some(slot.staff()), seats)?;
        if seats > slot.seats_left() {
            return Err(RequestError::NotOffered);
        }
        let timing = service.timing();
        let start = slot.start();
        let earliest = now.checked_add(timing.minimum_notice()).unwrap_or(now);
        if start <= now || start < earliest {
            return Err(RequestError::TooSoon);
        }
        if now
            .checked_add(timing.horizon())
            .is_ok_and(|latest| start > latest)
        {
            return Err(RequestError::TooFar);
        }
        Ok(Self {
            id: BookingId::random(),
            tenant: service.tenant(),
            service: service.id(),
            staff: slot.staff(),
            customer,
            range: slot.range(),
            seats,
            answers,
            created_at: now,
            reschedules: 0,
            stage: Requested,
        })
    }

    /// The business confirms.
    pub fn confirm(self, now: Timestamp) -> Booking<Confirmed> {
        self.into_stage(Confirmed { at: now })
    }
}

impl<S: Active> Booking<S> {
    /// Cancels, unless the appointment has started.
    pub fn cancel(
        self,
        by: CancelledBy,
        now: Timestamp,
    ) -> Result<Booking<Cancelled>, BookingError> {
        if self.range.start() <= now {
            return Err(BookingError::AlreadyStarted);
        }
        Ok(self.into_stage(Cancelled { at: now, by }))
    }

    /// Moves to `to`, keeping the stage; refuses once the appointment has
    /// started or when `to` has passed. Whether `to` is free is the store's
    /// to decide, atomically.
    pub fn reschedule(mut self, to: TimeRange, now: Timestamp) -> Result<Self, BookingError> {
        if self.range.start() <= now {
            return Err(BookingError::AlreadyStarted);
        }
        if to.start() <= now {
            return Err(BookingError::InPast);
        }
        if to == self.range {
            return Err(BookingError::SameTime);
        }
        self.range = to;
        self.reschedules = self.reschedules.saturating_add(1);
        Ok(self)
    }

    /// The time this booking holds, for the slot engine.
    pub fn booked_time(&self, timing: &Timing) -> BookedTime {
        BookedTime::new(self.staff, self.service, self.range, timing, self.seats)
    }
}

/// The stage of a stored booking.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Stage {
    /// Awaiting confirmation.
    Requested,
    /// Confirmed at the instant.
    Confirmed(Timestamp),
    /// Cancelled at the instant by someone.
    Cancelled(Timestamp, CancelledBy),
}

impl Stage {
    /// The stable lowercase name: `requested`, `confirmed` or `cancelled`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Confirmed(_) => "confirmed",
            Self::Cancelled(..) => "cancelled",
        }
    }

    /// Who cancelled, once cancelled.
    pub fn cancelled_by(self) -> Option<CancelledBy> {
        match self {
            Self::Cancelled(_, by) => Some(by),
            Self::Requested | Self::Confirmed(_) => None,
        }
    }
}

/// The parts of a stored booking.
#[derive(Clone, Debug)]
pub struct BookingParts {
    /// The id.
    pub id: BookingId,
    /// The rest as when it was made.
    pub new: NewBooking,
    /// When it was made.
    pub created_at: Timestamp,
    /// How often it was moved.
    pub reschedules: u32,
    /// Its stage.
    pub stage: Stage,
}

/// A booking of any stage, as loaded from storage.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum AnyBooking {
    /// Awaiting confirmation.
    Requested(Booking<Requested>),
    /// Confirmed.
    Confirmed(Booking<Confirmed>),
    /// Cancelled.
    Cancelled(Booking<Cancelled>),
}

impl AnyBooking {
    /// Rebuilds a stored booking.
    pub fn restore(parts: BookingParts) -> Self {
        let BookingParts {
            id,
            new,
            created_at,
            reschedules,
            stage,
        } = parts;
        let base = Booking {
            id,
            tenant: new.tenant,
            service: new.service,
            staff: new.staff,
            customer: new.customer,
            range: new.range,
            seats: new.seats,
            answers: new.answers,
            created_at,
            reschedules,
            stage: Requested,
        };
        match stage {
            Stage::Requested => Self::Requested(base),
            Stage::Confirmed(at) => Self::Confirmed(base.into_stage(Confirmed { at })),
            Stage::Cancelled(at, by) => Self::Cancelled(base.into_stage(Cancelled { at, by })),
        }
    }

    /// The booking's id.
    pub fn id(&self) -> BookingId {
        match self {
            Self::Requested(b) => b.id(),
            Self::Confirmed(b) => b.id(),
            Self::Cancelled(b) => b.id(),
        }
    }

    /// The stage.
    pub fn stage(&self) -> Stage {
        match self {
            Self::Requested(_) => Stage::Requested,
            Self::Confirmed(b) => Stage::Confirmed(b.stage().at()),
            Self::Cancelled(b) => Stage::Cancelled(b.stage().at(), b.stage().by()),
        }
    }

    /// Whether the booking still holds its time.
    pub fn is_active(&self) -> bool {
        !matches!(self, Self::Cancelled(_))
    }

    /// The tenant.
    pub fn tenant(&self) -> TenantId {
        self.with(|b| b.tenant)
    }

    /// The booked service.
    pub fn service(&self) -> ServiceId {
        self.with(|b| b.service)
    }

    /// Who delivers it.
    pub fn staff(&self) -> StaffId {
        self.with(|b| b.staff)
    }

    /// Who booked.
    pub fn customer(&self) -> CustomerId {
        self.with(|b| b.customer)
    }

    /// When.
    pub fn range(&self) -> TimeRange {
        self.with(|b| b.range)
    }

    /// Seats taken.
    pub fn seats(&self) -> u16 {
        self.with(|b| b.seats)
    }

    /// The intake answers.
    pub fn answers(&self) -> &IntakeAnswers {
        match self {
            Self::Requested(b) => &b.answers,
            Self::Confirmed(b) => &b.answers,
            Self::Cancelled(b) => &b.answers,
        }
    }

    /// When it was made.
    pub fn created_at(&self) -> Timestamp {
        self.with(|b| b.created_at)
    }

    /// How often it was moved.
    pub fn reschedules(&self) -> u32 {
        self.with(|b| b.reschedules)
    }

    /// Who cancelled it, once cancelled.
    pub fn cancelled_by(&self) -> Option<CancelledBy> {
        match self {
            Self::Cancelled(b) => Some(b.stage().by()),
            Self::Requested(_) | Self::Confirmed(_) => None,
        }
    }

    /// The time this booking holds, for the slot engine; `None` once
    /// cancelled, when it holds none.
    pub fn booked_time(&self, timing: &Timing) -> Option<BookedTime> {
        match self {
            Self::Requested(b) => Some(b.booked_time(timing)),
            Self::Confirmed(b) => Some(b.booked_time(timing)),
            Self::Cancelled(_) => None,
        }
    }

    /// A stage-free field of the booking, whatever its stage.
    fn with<T>(&self, field: impl Fn(&Fields) -> T) -> T {
        match self {
            Self::Requested(b) => field(&b.fields()),
            Self::Confirmed(b) => field(&b.fields()),
            Self::Cancelled(b) => field(&b.fields()),
        }
    }
}

/// The parts every stage shares that are `Copy`, for [`AnyBooking`]'s
/// accessors.
struct Fields {
    tenant: TenantId,
    service: ServiceId,
    staff: StaffId,
    customer: CustomerId,
    range: TimeRange,
    seats: u16,
    created_at: Timestamp,
    reschedules: u32,
}

impl<S> Booking<S> {
    fn fields(&self) -> Fields {
        Fields {
            tenant: self.tenant,
            service: self.service,
            staff: self.staff,
            customer: self.customer,
            range: self.range,
            seats: self.seats,
            created_at: self.created_at,
            reschedules: self.reschedules,
        }
    }
}

impl From<Booking<Requested>> for AnyBooking {
    fn from(b: Booking<Requested>) -> Self {
        Self::Requested(b)
    }
}

impl From<Booking<Confirmed>> for AnyBooking {
    fn from(b: Booking<Confirmed>) -> Self {
        Self::Confirmed(b)
    }
}

impl From<Booking<Cancelled>> for AnyBooking {
    fn from(b: Booking<Cancelled>) -> Self {
        Self::Cancelled(b)
    }
}
