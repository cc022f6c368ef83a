//! Staff schedules: weekly opening hours in an IANA time zone, date
//! overrides that replace a day's hours, and time off.
//!
//! Hours are wall-clock times. Turning them into instants is where daylight
//! saving time bites, so the rule is written once, in `boundary`: a
//! wall-clock time maps to the first instant at which a clock in the zone
//! reads that time or later ([`TimeZone::first_reading`]). On a spring-forward day an opening inside the
//! gap therefore starts at the transition, and on a fall-back day an opening
//! inside the repeated hour starts at its first occurrence, exactly once.

use std::collections::BTreeMap;
use std::fmt;

use jiff::Timestamp;
use jiff::civil::{Date, Weekday};

use crate::id::{ScheduleId, StaffId, TenantId};
use crate::time::{TimeRange, TimeZone};

/// A wall-clock time of day with minute precision, from 00:00 to 24:00.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DayTime(u16);

/// Why a time of day was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DayTimeError {
    /// Not `HH:MM`.
    #[error("a time of day is written HH:MM")]
    Malformed,
    /// An hour or minute out of range (24:00 is the only time past 23:59).
    #[error("a time of day is between 00:00 and 24:00")]
    OutOfRange,
}

impl DayTime {
    /// Midnight at the start of the day.
    pub const START_OF_DAY: DayTime = DayTime(0);
    /// Midnight at the end of the day, written 24:00.
    pub const END_OF_DAY: DayTime = DayTime(1_440);

    /// A time from hour and minute; 24:00 is allowed as the end of the day.
    pub fn new(hour: u8, minute: u8) -> Result<Self, DayTimeError> {
        if minute > 59 || hour > 24 || (hour == 24 && minute != 0) {
            return Err(DayTimeError::OutOfRange);
        }
        Ok(Self(u16::from(hour) * 60 + u16::from(minute)))
    }

    /// Parses `HH:MM`.
    pub fn parse(input: &str) -> Result<Self, DayTimeError> {
        let (h, m) = input.split_once(':').ok_or(DayTimeError::Malformed)?;
        let digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(h) || !digits(m) {
            return Err(DayTimeError::Malformed);
        }
        let hour = h.parse().map_err(|_digits| DayTimeError::Malformed)?;
        let minute = m.parse().map_err(|_digits| DayTimeError::Malformed)?;
        Self::new(hour, minute)
    }

    /// Minutes since the start of the day.
    pub fn minutes(self) -> u16 {
        self.0
    }
}

impl fmt::Display for DayTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl fmt::Debug for DayTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Opening hours within one day, `[start, end)` in wall-clock time.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct DayRange {
    start: DayTime,
    end: DayTime,
}

/// Why schedule hours were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoursError {
    /// A range whose end is not after its start.
    #[error("opening hours must end after they start")]
    EndNotAfterStart,
    /// Two ranges of one day overlap.
    #[error("opening hours of one day must not overlap")]
    Overlap,
    /// More ranges in a day than allowed.
    #[error("a day has at most {} ranges of opening hours", DayHours::MAX_RANGES)]
    TooManyRanges,
}

impl DayRange {
    /// The range `[start, end)`; refuses `end <= start`.
    pub fn new(start: DayTime, end: DayTime) -> Result<Self, HoursError> {
        if end <= start {
            return Err(HoursError::EndNotAfterStart);
        }
        Ok(Self { start, end })
    }

    /// When it opens.
    pub fn start(&self) -> DayTime {
        self.start
    }

    /// When it closes.
    pub fn end(&self) -> DayTime {
        self.end
    }
}

/// The opening hours of one day: sorted ranges that do not overlap. Empty
/// means closed.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct DayHours(Vec<DayRange>);

impl DayHours {
    /// Most ranges in one day.
    pub const MAX_RANGES: usize = 12;

    /// Closed all day.
    pub fn closed() -> Self {
        Self(Vec::new())
    }

    /// Checks and sorts a day's ranges; ranges that touch are allowed.
    pub fn new(mut ranges: Vec<DayRange>) -> Result<Self, HoursError> {
        if ranges.len() > Self::MAX_RANGES {
            return Err(HoursError::TooManyRanges);
        }
        ranges.sort();
        if ranges
            .windows(2)
            .any(|w| matches!(w, [a, b] if b.start < a.end))
        {
            return Err(HoursError::Overlap);
        }
        Ok(Self(ranges))
    }

    /// The ranges, in order.
    pub fn ranges(&self) -> &[DayRange] {
        &self.0
    }

    /// Whether the day has no opening hours.
    pub fn is_closed(&self) -> bool {
        self.0.is_empty()
    }
}

/// The days of the week, Monday first, by the names the API and the
/// exports give them.
pub const WEEK: [(&str, Weekday); 7] = [
    ("monday", Weekday::Monday),
    ("tuesday", Weekday::Tuesday),
    ("wednesday", Weekday::Wednesday),
    ("thursday", Weekday::Thursday),
    ("friday", Weekday::Friday),
    ("saturday", Weekday::Saturday),
    ("sunday", Weekday::Sunday),
];

/// Opening hours for each day of the week.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct WeeklyHours([DayHours; 7]);

impl WeeklyHours {
    /// Closed every day.
    pub fn closed() -> Self {
        Self::default()
    }

    /// The same hours with `day` set to `hours`.
    pub fn with(mut self, day: Weekday, hours: DayHours) -> Self {
        if let Some(slot) = self.0.get_mut(weekday_index(day)) {
            *slot = hours;
        }
        self
    }

    /// The hours of `day`.
    pub fn on(&self, day: Weekday) -> &DayHours {
        const CLOSED: &DayHours = &DayHours(Vec::new());
        self.0.get(weekday_index(day)).unwrap_or(CLOSED)
    }
}

fn weekday_index(day: Weekday) -> usize {
    usize::try_from(day.to_monday_zero_offset()).unwrap_or(0)
}

/// Everything that defines a schedule, each part already parsed.
#[derive(Clone, Debug)]
pub struct ScheduleSpec {
    /// The zone the hours are written in.
    pub zone: TimeZone,
    /// The usual week.
    pub weekly: WeeklyHours,
    /// Days whose hours replace the usual week's (closed for a holiday,
    /// longer for an event).
    pub overrides: BTreeMap<Date, DayHours>,
    /// Absolute ranges when the staff member is away.
    pub time_off: Vec<TimeRange>,
}

/// Why a schedule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// More date overrides than [`Schedule::MAX_OVERRIDES`].
    #[error("a schedule has at most {} date overrides", Schedule::MAX_OVERRIDES)]
    TooManyOverrides,
    /// More time-off ranges than [`Schedule::MAX_TIME_OFF`].
    #[error("a schedule has at most {} time-off ranges", Schedule::MAX_TIME_OFF)]
    TooMuchTimeOff,
}

/// A staff member's working hours.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Schedule {
    id: ScheduleId,
    tenant: TenantId,
    staff: StaffId,
    zone: TimeZone,
    weekly: WeeklyHours,
    overrides: BTreeMap<Date, DayHours>,
    time_off: Vec<TimeRange>,
}

impl Schedule {
    /// Most date overrides one schedule keeps.
    pub const MAX_OVERRIDES: usize = 1_000;
    /// Most time-off ranges one schedule keeps.
    pub const MAX_TIME_OFF: usize = 1_000;

    /// Builds a schedule.
    pub fn new(
        id: ScheduleId,
        tenant: TenantId,
        staff: StaffId,
        spec: ScheduleSpec,
    ) -> Result<Self, ScheduleError> {
        let ScheduleSpec {
            zone,
            weekly,
            overrides,
            mut time_off,
        } = spec;
        if overrides.len() > Self::MAX_OVERRIDES {
            return Err(ScheduleError::TooManyOverrides);
        }
        if time_off.len() > Self::MAX_TIME_OFF {
            return Err(ScheduleError::TooMuchTimeOff);
        }
        time_off.sort_by_key(|r| (r.start(), r.end()));
        Ok(Self {
            id,
            tenant,
            staff,
            zone,
            weekly,
            overrides,
            time_off,
        })
    }

    /// The schedule's id.
    pub fn id(&self) -> ScheduleId {
        self.id
    }
    /// The tenant.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }
    /// The staff member it belongs to.
    pub fn staff(&self) -> StaffId {
        self.staff
    }
    /// The zone the hours are written in.
    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }
    /// The usual week.
    pub fn weekly(&self) -> &WeeklyHours {
        &self.weekly
    }
    /// The date overrides.
    pub fn overrides(&self) -> &BTreeMap<Date, DayHours> {
        &self.overrides
    }
    /// Time off, sorted by start.
    pub fn time_off(&self) -> &[TimeRange] {
        &self.time_off
    }

    /// The hours that apply on `date`: its override if any, else the week's.
    pub fn hours_on(&self, date: Date) -> &DayHours {
        self.overrides
            .get(&date)
            .unwrap_or_else(|| self.weekly.on(date.weekday()))
    }

    /// Opening hours (time off not removed) as instants, for every interval
    /// that overlaps `range`. Adjacent intervals, such as 22:00-24:00 and
    /// the next day's 00:00-02:00, come back as one.
    pub fn opening_hours(&self, range: TimeRange) -> Vec<TimeRange> {
        let mut seconds = Vec::new();
        self.opening_seconds(
            range.start().as_second(),
            range.end().as_second(),
            &mut seconds,
        );
        merge_tail(&mut seconds, 0, Touching::Merge);
        seconds
            .into_iter()
            .filter_map(|(start, end)| {
                let start = Timestamp::from_second(start).ok()?;
                let end = Timestamp::from_second(end).ok()?;
                TimeRange::new(start, end).ok()
            })
            .collect()
    }

    /// Appends to `out`, sorted, the opening intervals in Unix seconds that
    /// overlap `[from, to)`. Overlapping intervals are merged; intervals
    /// that merely touch (one day's 24:00 and the next day's 00:00) are kept
    /// apart, since each day's opening anchors its own slot grid.
    pub(crate) fn opening_seconds(&self, from: i64, to: i64, out: &mut Vec<(i64, i64)>) {
        let zone = &self.zone;
        let local_date = |second: i64| {
            Timestamp::from_second(second)
                .ok()
                .map(|t| zone.to_local(t).date())
        };
        let (Some(first), Some(last)) = (local_date(from), local_date(to)) else {
            return;
        };
        let floor = out.len();
        // Start a day early: yesterday's hours may run past midnight in
        // absolute time when today's offset differs.
        let mut date = first.yesterday().unwrap_or(first);
        loop {
            for range in self.hours_on(date).ranges() {
                let (Some(start), Some(end)) = (
                    boundary(zone, date, range.start),
                    boundary(zone, date, range.end),
                ) else {
                    continue;
                };
                if start < end && start < to && from < end {
                    out.push((start, end));
                }
            }
            if date > last {
                break;
            }
            match date.tomorrow() {
                Ok(next) => date = next,
                Err(_end_of_calendar) => break,
            }
        }
        merge_tail(out, floor, Touching::Keep);
    }
}

/// Whether [`merge_tail`] joins intervals that touch without overlapping.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Touching {
    /// `[a, b)` and `[b, c)` become `[a, c)`.
    Merge,
    /// `[a, b)` and `[b, c)` stay two intervals.
    Keep,
}

/// Sorts `out[floor..]` and merges intervals that overlap (or touch, when
/// asked).
pub(crate) fn merge_tail(out: &mut Vec<(i64, i64)>, floor: usize, touching: Touching) {
    let Some(tail) = out.get_mut(floor..) else {
        return;
    };
    tail.sort_unstable();
    let mut write = floor;
    for read in floor..out.len() {
        let Some(&(start, end)) = out.get(read) else {
            break;
        };
        match write
            .checked_sub(1)
            .filter(|&w| w >= floor)
            .and_then(|w| out.get_mut(w))
        {
            Some(last) if start < last.1 || (start == last.1 && touching == Touching::Merge) => {
                last.1 = last.1.max(end);
            }
            _ => {
                if let Some(slot) = out.get_mut(write) {
                    *slot = (start, end);
                }
                write += 1;
            }
        }
    }
    out.truncate(write);
}

/// The first instant, in Unix seconds, at which a clock in `zone` reads
/// `time` on `date` or later.
fn boundary(zone: &TimeZone, date: Date, time: DayTime) -> Option<i64> {
    let (date, minutes) = if time == DayTime::END_OF_DAY {
        (date.tomorrow().ok()?, 0)
    } else {
        (date, time.minutes())
    };
    let hour = i8::try_from(minutes / 60).ok()?;
    let minute = i8::try_from(minutes % 60).ok()?;
    zone.first_reading(date.at(hour, minute, 0, 0))
        .map(Timestamp::as_second)
}
