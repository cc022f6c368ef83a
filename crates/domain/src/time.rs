//! Instants, half-open ranges of instants and named IANA time zones.
//!
//! Every zone is looked up in the tz database compiled into the binary, so
//! results never depend on the host's `/usr/share/zoneinfo`.

use std::fmt;
use std::sync::OnceLock;

use jiff::tz::{AmbiguousOffset, TimeZoneDatabase};
use jiff::{SignedDuration, Timestamp};

/// A range of instants `[start, end)`, never empty.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct TimeRange {
    start: Timestamp,
    end: Timestamp,
}

/// Why a [`TimeRange`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeRangeError {
    /// The end is at or before the start.
    #[error("the end of a time range must be after its start")]
    EndNotAfterStart,
}

impl TimeRange {
    /// The range `[start, end)`; refuses `end <= start`.
    pub fn new(start: Timestamp, end: Timestamp) -> Result<Self, TimeRangeError> {
        if end <= start {
            return Err(TimeRangeError::EndNotAfterStart);
        }
        Ok(Self { start, end })
    }

    /// The first instant in the range.
    pub fn start(&self) -> Timestamp {
        self.start
    }

    /// The first instant after the range.
    pub fn end(&self) -> Timestamp {
        self.end
    }

    /// How long the range lasts (always positive).
    pub fn duration(&self) -> SignedDuration {
        self.end.duration_since(self.start)
    }

    /// Whether the two ranges share at least one instant.
    pub fn overlaps(&self, other: &TimeRange) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// Whether `instant` lies in the range.
    pub fn contains(&self, instant: Timestamp) -> bool {
        self.start <= instant && instant < self.end
    }

    /// Whether `other` lies entirely inside this range.
    pub fn covers(&self, other: &TimeRange) -> bool {
        self.start <= other.start && other.end <= self.end
    }
}

/// A range to list slots or bookings in, at most [`Window::MAX_DAYS`]
/// days long, so that no one request asks the slot engine or the store for
/// years at once. The only way to a window is [`Window::new`], so the
/// limit is checked here and nowhere else.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Window(TimeRange);

/// A window longer than [`Window::MAX_DAYS`] days.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a window lasts at most {} days", Window::MAX_DAYS)]
pub struct WindowTooLong;

impl Window {
    /// The longest window, in days.
    pub const MAX_DAYS: i64 = 92;

    /// `range` as a window; refuses one longer than [`Window::MAX_DAYS`].
    pub fn new(range: TimeRange) -> Result<Self, WindowTooLong> {
        if range.duration() > SignedDuration::from_hours(24 * Self::MAX_DAYS) {
            return Err(WindowTooLong);
        }
        Ok(Self(range))
    }

    /// The one-second window that starts at `instant`: what a booking asks
    /// the slot engine about its own start. `None` at the last instant
    /// there is.
    pub fn at(instant: Timestamp) -> Option<Self> {
        let end = instant.checked_add(SignedDuration::from_secs(1)).ok()?;
        TimeRange::new(instant, end).ok().map(Self)
    }

    /// The range the window covers.
    pub fn range(&self) -> TimeRange {
        self.0
    }
}

/// A time zone named by its IANA identifier, such as `Europe/Berlin`.
#[derive(Clone)]
pub struct TimeZone {
    name: String,
    zone: jiff::tz::TimeZone,
}

/// Why a time zone name was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TimeZoneError {
    /// The name is empty or longer than any IANA name.
    #[error("a time zone must be an IANA name such as Europe/Berlin")]
    Malformed,
    /// The name is not in the IANA time zone database.
    #[error("unknown time zone; use an IANA name such as Europe/Berlin")]
    Unknown(#[source] jiff::Error),
}

/// Longest IANA identifier accepted; the longest real one is 32 characters.
const MAX_ZONE_NAME: usize = 64;

fn bundled_db() -> &'static TimeZoneDatabase {
    static DB: OnceLock<TimeZoneDatabase> = OnceLock::new();
    DB.get_or_init(TimeZoneDatabase::bundled)
}

impl TimeZone {
    /// Looks up an IANA zone name (case-insensitively) in the bundled database.
    pub fn parse(name: &str) -> Result<Self, TimeZoneError> {
        let name = name.trim();
        if name.is_empty() || name.len() > MAX_ZONE_NAME {
            return Err(TimeZoneError::Malformed);
        }
        let zone = bundled_db().get(name).map_err(TimeZoneError::Unknown)?;
        let canonical = zone.iana_name().unwrap_or(name).to_owned();
        Ok(Self {
            name: canonical,
            zone,
        })
    }

    /// Coordinated Universal Time.
    pub fn utc() -> Self {
        Self {
            name: "UTC".to_owned(),
            zone: jiff::tz::TimeZone::UTC,
        }
    }

    /// The canonical IANA name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The zone for calendar arithmetic.
    pub fn zone(&self) -> &jiff::tz::TimeZone {
        &self.zone
    }

    /// The first instant at which a clock in this zone reads `local` or
    /// later: `local` itself when it occurs once, its first occurrence when
    /// the clock reads it twice (a fall-back fold), and the transition when
    /// the clock skips it (a spring-forward gap). `None` only at the ends of
    /// the representable calendar.
    pub fn first_reading(&self, local: jiff::civil::DateTime) -> Option<Timestamp> {
        match self.zone.to_ambiguous_timestamp(local).offset() {
            AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(local).ok(),
            AmbiguousOffset::Fold { before, .. } => before.to_timestamp(local).ok(),
            // Read with the offset after the gap, `local` names an instant
            // just before the transition, from which the transition is found.
            AmbiguousOffset::Gap { after, .. } => {
                let before_gap = after.to_timestamp(local).ok()?;
                Some(self.zone.following(before_gap).next()?.timestamp())
            }
        }
    }

    /// The instants of the local calendar days `first..=last` in this zone:
    /// from the first reading of 00:00 on `first` to the first reading of
    /// 00:00 on the day after `last`.
    pub fn local_days(
        &self,
        first: jiff::civil::Date,
        last: jiff::civil::Date,
    ) -> Result<TimeRange, TimeRangeError> {
        let start = self.first_reading(first.to_datetime(jiff::civil::Time::midnight()));
        let end = last
            .tomorrow()
            .ok()
            .and_then(|next| self.first_reading(next.to_datetime(jiff::civil::Time::midnight())));
        match (start, end) {
            (Some(start), Some(end)) => TimeRange::new(start, end),
            _ => Err(TimeRangeError::EndNotAfterStart),
        }
    }

    /// The wall-clock date and time at `instant` in this zone.
    pub fn to_local(&self, instant: Timestamp) -> jiff::civil::DateTime {
        self.zone.to_datetime(instant)
    }
}

impl PartialEq for TimeZone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for TimeZone {}

impl fmt::Debug for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TimeZone({})", self.name)
    }
}

impl fmt::Display for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}
