//! Services (appointment types): what can be booked, for how long, with whom
//! and on what terms.

use std::collections::BTreeSet;
use std::num::NonZeroU16;

use jiff::SignedDuration;

use crate::booking::RequestError;
use crate::id::{ServiceId, StaffId, TenantId};
use crate::intake::IntakeForm;
use crate::text::{self, TextError};
use crate::time::TimeRange;

/// A service's display name.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct ServiceName(String);

impl ServiceName {
    /// Longest name accepted, in characters.
    pub const MAX_CHARS: usize = 120;

    /// Trims and checks a name.
    pub fn parse(input: &str) -> Result<Self, TextError> {
        text::single_line(input, Self::MAX_CHARS).map(Self)
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The timing rules of a service, in whole minutes (days for the horizon).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TimingSpec {
    /// How long the appointment lasts: 1 to 1,440 minutes.
    pub duration_minutes: u32,
    /// Time kept free before it: 0 to 720 minutes.
    pub buffer_before_minutes: u32,
    /// Time kept free after it: 0 to 720 minutes.
    pub buffer_after_minutes: u32,
    /// How long before its start it must be booked: 0 to 525,600 minutes.
    pub minimum_notice_minutes: u32,
    /// How far ahead it may be booked: 1 to 730 days.
    pub horizon_days: u32,
    /// The distance between offered start times: 1 to 1,440 minutes.
    pub slot_step_minutes: u32,
}

/// Why timing rules were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimingError {
    /// Duration outside 1 to 1,440 minutes.
    #[error("a service lasts 1 to 1440 minutes")]
    Duration,
    /// A buffer outside 0 to 720 minutes.
    #[error("a buffer is 0 to 720 minutes")]
    Buffer,
    /// Minimum notice outside 0 to 525,600 minutes (a year).
    #[error("minimum notice is 0 to 525600 minutes")]
    MinimumNotice,
    /// Horizon outside 1 to 730 days.
    #[error("the booking horizon is 1 to 730 days")]
    Horizon,
    /// Slot step outside 1 to 1,440 minutes.
    #[error("the slot step is 1 to 1440 minutes")]
    SlotStep,
    /// The notice reaches past the horizon, so nothing could ever be booked.
    #[error("the minimum notice must be shorter than the booking horizon")]
    NoticeBeyondHorizon,
}

/// Validated timing rules; every length is stored in seconds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Timing {
    duration: i64,
    buffer_before: i64,
    buffer_after: i64,
    minimum_notice: i64,
    horizon: i64,
    slot_step: i64,
}

impl Timing {
    /// Checks the rules.
    pub fn new(spec: TimingSpec) -> Result<Self, TimingError> {
        let TimingSpec {
            duration_minutes,
            buffer_before_minutes,
            buffer_after_minutes,
            minimum_notice_minutes,
            horizon_days,
            slot_step_minutes,
        } = spec;
        if !(1..=1_440).contains(&duration_minutes) {
            return Err(TimingError::Duration);
        }
        if buffer_before_minutes > 720 || buffer_after_minutes > 720 {
            return Err(TimingError::Buffer);
        }
        if minimum_notice_minutes > 525_600 {
            return Err(TimingError::MinimumNotice);
        }
        if !(1..=730).contains(&horizon_days) {
            return Err(TimingError::Horizon);
        }
        if !(1..=1_440).contains(&slot_step_minutes) {
            return Err(TimingError::SlotStep);
        }
        if i64::from(minimum_notice_minutes) >= i64::from(horizon_days) * 1_440 {
            return Err(TimingError::NoticeBeyondHorizon);
        }
        let minutes = |m: u32| i64::from(m) * 60;
        Ok(Self {
            duration: minutes(duration_minutes),
            buffer_before: minutes(buffer_before_minutes),
            buffer_after: minutes(buffer_after_minutes),
            minimum_notice: minutes(minimum_notice_minutes),
            horizon: i64::from(horizon_days) * 86_400,
            slot_step: minutes(slot_step_minutes),
        })
    }

    /// How long the appointment lasts.
    pub fn duration(&self) -> SignedDuration {
        SignedDuration::from_secs(self.duration)
    }
    /// Time kept free before it.
    pub fn buffer_before(&self) -> SignedDuration {
        SignedDuration::from_secs(self.buffer_before)
    }
    /// Time kept free after it.
    pub fn buffer_after(&self) -> SignedDuration {
        SignedDuration::from_secs(self.buffer_after)
    }
    /// How long before its start it must be booked.
    pub fn minimum_notice(&self) -> SignedDuration {
        SignedDuration::from_secs(self.minimum_notice)
    }
    /// How far ahead it may be booked.
    pub fn horizon(&self) -> SignedDuration {
        SignedDuration::from_secs(self.horizon)
    }
    /// The distance between offered start times.
    pub fn slot_step(&self) -> SignedDuration {
        SignedDuration::from_secs(self.slot_step)
    }

    /// The time an appointment at `appointment` takes from its staff
    /// member: the appointment widened by the buffers before and after.
    /// This is the range no other booking of the staff member may overlap;
    /// the store holds exactly it, and the slot engine keeps it clear.
    pub fn hold(&self, appointment: TimeRange) -> TimeRange {
        let start = appointment.start();
        let end = appointment.end();
        let from = start.checked_sub(self.buffer_before()).unwrap_or(start);
        let until = end.checked_add(self.buffer_after()).unwrap_or(end);
        // Widening a valid range keeps it valid.
        TimeRange::new(from, until).unwrap_or(appointment)
    }

    pub(crate) fn seconds(&self) -> TimingSeconds {
        TimingSeconds {
            duration: self.duration,
            buffer_before: self.buffer_before,
            buffer_after: self.buffer_after,
            minimum_notice: self.minimum_notice,
            horizon: self.horizon,
            slot_step: self.slot_step,
        }
    }
}

/// Timing in plain seconds for the slot engine's inner loop.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TimingSeconds {
    pub(crate) duration: i64,
    pub(crate) buffer_before: i64,
    pub(crate) buffer_after: i64,
    pub(crate) minimum_notice: i64,
    pub(crate) horizon: i64,
    pub(crate) slot_step: i64,
}

/// How many people one slot holds: 1 for a one-to-one appointment, more for
/// a class or group session.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct Capacity(NonZeroU16);

/// A capacity outside 1 to 1,000 seats.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("capacity is 1 to 1000 seats")]
pub struct CapacityError;

impl Capacity {
    /// One seat.
    pub const ONE: Capacity = Capacity(NonZeroU16::MIN);

    /// Checks a seat count.
    pub fn new(seats: u16) -> Result<Self, CapacityError> {
        match NonZeroU16::new(seats) {
            Some(n) if seats <= 1_000 => Ok(Self(n)),
            _ => Err(CapacityError),
        }
    }

    /// The number of seats.
    pub fn seats(self) -> u16 {
        self.0.get()
    }
}

/// An ISO 4217 currency code such as `EUR`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Currency([u8; 3]);

/// A currency code was not three upper-case letters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a currency is three upper-case letters, such as EUR")]
pub struct CurrencyError;

impl Currency {
    /// Checks a code.
    pub fn parse(input: &str) -> Result<Self, CurrencyError> {
        match input.as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_uppercase) => Ok(Self([a, b, c])),
            _ => Err(CurrencyError),
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters get in, so this is always UTF-8.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

/// A price shown to customers, in the currency's minor unit (cents).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Price {
    minor_units: u64,
    currency: Currency,
}

/// A price above the sanity limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a price is at most 1000000000 minor units")]
pub struct PriceError;

impl Price {
    /// A price; refuses amounts above a billion minor units.
    pub fn new(minor_units: u64, currency: Currency) -> Result<Self, PriceError> {
        if minor_units > 1_000_000_000 {
            return Err(PriceError);
        }
        Ok(Self {
            minor_units,
            currency,
        })
    }

    /// The amount in minor units.
    pub fn minor_units(&self) -> u64 {
        self.minor_units
    }
    /// The currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }
}

/// Everything that defines a service, each part already parsed.
#[derive(Clone, Debug)]
pub struct ServiceSpec {
    /// The name.
    pub name: ServiceName,
    /// Timing rules.
    pub timing: Timing,
    /// Seats per slot.
    pub capacity: Capacity,
    /// Who can deliver it.
    pub staff: Vec<StaffId>,
    /// The price shown, if any.
    pub price: Option<Price>,
    /// The questions asked at booking.
    pub intake: IntakeForm,
    /// Whether customers can book it through the public pages.
    pub public: bool,
}

/// Why a service was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// The same staff member listed twice.
    #[error("a staff member is assigned twice")]
    DuplicateStaff,
    /// More staff than [`Service::MAX_STAFF`].
    #[error("a service has at most {} staff members", Service::MAX_STAFF)]
    TooManyStaff,
}

/// A bookable service.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Service {
    id: ServiceId,
    tenant: TenantId,
    name: ServiceName,
    timing: Timing,
    capacity: Capacity,
    staff: Vec<StaffId>,
    price: Option<Price>,
    intake: IntakeForm,
    public: bool,
}

impl Service {
    /// Most staff members one service may list.
    pub const MAX_STAFF: usize = 500;

    /// Builds a service with the given id.
    pub fn new(id: ServiceId, tenant: TenantId, spec: ServiceSpec) -> Result<Self, ServiceError> {
        let ServiceSpec {
            name,
            timing,
            capacity,
            staff,
            price,
            intake,
            public,
        } = spec;
        if staff.len() > Self::MAX_STAFF {
            return Err(ServiceError::TooManyStaff);
        }
        let distinct: BTreeSet<_> = staff.iter().collect();
        if distinct.len() != staff.len() {
            return Err(ServiceError::DuplicateStaff);
        }
        Ok(Self {
            id,
            tenant,
            name,
            timing,
            capacity,
            staff,
            price,
            intake,
            public,
        })
    }

    /// The service's id.
    pub fn id(&self) -> ServiceId {
        self.id
    }
    /// The tenant.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }
    /// The name.
    pub fn name(&self) -> &ServiceName {
        &self.name
    }
    /// Timing rules.
    pub fn timing(&self) -> &Timing {
        &self.timing
    }
    /// Seats per slot.
    pub fn capacity(&self) -> Capacity {
        self.capacity
    }
    /// Who can deliver it.
    pub fn staff(&self) -> &[StaffId] {
        &self.staff
    }

    /// Whether a request for `staff` (or whoever is free, when `None`) and
    /// `seats` fits this service: the member provides it, and the seats
    /// are between one and the capacity.
    ///
    /// # Errors
    /// [`RequestError::StaffNotOnService`] or [`RequestError::Seats`].
    pub fn offers(&self, staff: Option<StaffId>, seats: u16) -> Result<(), RequestError> {
        if staff.is_some_and(|member| !self.staff.contains(&member)) {
            return Err(RequestError::StaffNotOnService);
        }
        if seats == 0 || seats > self.capacity.seats() {
            return Err(RequestError::Seats {
                capacity: self.capacity.seats(),
            });
        }
        Ok(())
    }
    /// The price shown, if any.
    pub fn price(&self) -> Option<Price> {
        self.price
    }
    /// The intake form.
    pub fn intake(&self) -> &IntakeForm {
        &self.intake
    }
    /// Whether customers can book it publicly.
    pub fn is_public(&self) -> bool {
        self.public
    }
}
