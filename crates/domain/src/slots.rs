//! The slot engine: bookable time = schedule − bookings − external busy
//! blocks − time off − buffers − notice, cut into slots.
//!
//! The engine works in whole Unix seconds on sorted, merged interval lists,
//! so a month view is one sort and one linear walk per staff member. Slot
//! starts sit on a grid: every `slot_step` from the start of each opening
//! interval, so a busy block shifts nothing else. A slot may run on past the
//! end of its opening into one that touches it (past midnight, or across a
//! DST gap) only when that next opening has no room for a slot of its own. Intervals are half-open,
//! and a slot's buffers must be free of every other booking (and of that
//! booking's own buffers), busy block and time off; the appointment itself
//! must lie inside opening hours.

use jiff::Timestamp;
use jiff::tz::Offset;

use crate::id::{ServiceId, StaffId};
use crate::schedule::{Schedule, Touching, merge_tail};
use crate::service::{Capacity, Service, Timing};
use crate::time::{TimeRange, TimeZone, Window};

/// Time a staff member already has booked.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BookedTime {
    staff: StaffId,
    service: ServiceId,
    range: TimeRange,
    buffer_before: i64,
    buffer_after: i64,
    seats: u16,
}

impl BookedTime {
    /// An active booking of `seats` seats of `service` with `staff`, whose
    /// buffers come from the booked service's `timing`.
    pub fn new(
        staff: StaffId,
        service: ServiceId,
        range: TimeRange,
        timing: &Timing,
        seats: u16,
    ) -> Self {
        let t = timing.seconds();
        Self {
            staff,
            service,
            range,
            buffer_before: t.buffer_before,
            buffer_after: t.buffer_after,
            seats,
        }
    }

    /// The staff member.
    pub fn staff(&self) -> StaffId {
        self.staff
    }
    /// The booked service.
    pub fn service(&self) -> ServiceId {
        self.service
    }
    /// The booked appointment.
    pub fn range(&self) -> TimeRange {
        self.range
    }
    /// Seats taken.
    pub fn seats(&self) -> u16 {
        self.seats
    }

    /// The appointment widened by its service's buffers: the time the staff
    /// member is held. Saturates at the ends of time.
    pub fn padded_range(&self) -> TimeRange {
        let widen = |t: Timestamp, by: i64| t.checked_add(jiff::SignedDuration::from_secs(by)).ok();
        match (
            widen(self.range.start(), -self.buffer_before),
            widen(self.range.end(), self.buffer_after),
        ) {
            (Some(start), Some(end)) => TimeRange::new(start, end).unwrap_or(self.range),
            _ => self.range,
        }
    }

    /// The appointment widened by its buffers, in seconds.
    fn padded(&self) -> (i64, i64) {
        let (start, end) = seconds(self.range);
        (start - self.buffer_before, end + self.buffer_after)
    }
}

/// Time a staff member is busy elsewhere, from an external calendar.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BusyTime {
    staff: StaffId,
    range: TimeRange,
}

impl BusyTime {
    /// `staff` is busy during `range`.
    pub fn new(staff: StaffId, range: TimeRange) -> Self {
        Self { staff, range }
    }

    /// The staff member.
    pub fn staff(&self) -> StaffId {
        self.staff
    }
    /// When.
    pub fn range(&self) -> TimeRange {
        self.range
    }
}

/// One bookable slot.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Slot {
    range: TimeRange,
    staff: StaffId,
    seats_left: u16,
    offset: Offset,
}

impl Slot {
    /// When the appointment would start.
    pub fn start(&self) -> Timestamp {
        self.range.start()
    }
    /// When it would end.
    pub fn end(&self) -> Timestamp {
        self.range.end()
    }
    /// The appointment as a range.
    pub fn range(&self) -> TimeRange {
        self.range
    }
    /// Who would deliver it.
    pub fn staff(&self) -> StaffId {
        self.staff
    }
    /// How many seats are still free (1 for a one-to-one service).
    pub fn seats_left(&self) -> u16 {
        self.seats_left
    }
    /// The customer's UTC offset at the start.
    pub fn offset(&self) -> Offset {
        self.offset
    }
    /// The start on the customer's wall clock.
    pub fn local_start(&self) -> jiff::civil::DateTime {
        self.offset.to_datetime(self.range.start())
    }
}

/// What to compute slots for.
#[derive(Clone, Copy, Debug)]
pub struct SlotQuery<'a> {
    /// The service to book.
    pub service: &'a Service,
    /// Schedules of the service's staff; others are ignored. Several
    /// schedules of one staff member add up.
    pub schedules: &'a [Schedule],
    /// Active bookings of the staff, for any service.
    pub bookings: &'a [BookedTime],
    /// External busy blocks of the staff.
    pub busy: &'a [BusyTime],
    /// Slots whose start lies in this window are returned.
    pub window: Window,
    /// Only this staff member's slots, when set (a member who does not
    /// provide the service has none); every member's otherwise.
    pub staff: Option<StaffId>,
    /// The zone the customer reads times in.
    pub customer_zone: &'a TimeZone,
    /// The current instant, for minimum notice and horizon.
    pub now: Timestamp,
}

/// Computes the bookable slots, sorted by start and then staff id.
///
/// ```
/// use std::collections::BTreeMap;
///
/// use bookwarden_domain::id::{ScheduleId, ServiceId, StaffId, TenantId};
/// use bookwarden_domain::intake::IntakeForm;
/// use bookwarden_domain::jiff::civil::Weekday;
/// use bookwarden_domain::jiff::Timestamp;
/// use bookwarden_domain::schedule::{DayHours, DayRange, DayTime, Schedule, ScheduleSpec, WeeklyHours};
/// use bookwarden_domain::service::{Capacity, Service, ServiceName, ServiceSpec, Timing, TimingSpec};
/// use bookwarden_domain::slots::{SlotQuery, available_slots};
/// use bookwarden_domain::time::{TimeRange, TimeZone, Window};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (tenant, staff) = (TenantId::random(), StaffId::random());
/// let berlin = TimeZone::parse("Europe/Berlin")?;
/// let mornings = DayHours::new(vec![DayRange::new(DayTime::new(9, 0)?, DayTime::new(12, 0)?)?])?;
/// let schedule = Schedule::new(ScheduleId::random(), tenant, staff, ScheduleSpec {
///     zone: berlin.clone(),
///     weekly: WeeklyHours::closed().with(Weekday::Monday, mornings),
///     overrides: BTreeMap::new(),
///     time_off: Vec::new(),
/// })?;
/// let service = Service::new(ServiceId::random(), tenant, ServiceSpec {
///     name: ServiceName::parse("Check-up")?,
///     timing: Timing::new(TimingSpec {
///         duration_minutes: 60,
///         buffer_before_minutes: 0,
///         buffer_after_minutes: 0,
///         minimum_notice_minutes: 0,
///         horizon_days: 30,
///         slot_step_minutes: 60,
///     })?,
///     capacity: Capacity::new(1)?,
///     staff: vec![staff],
///     price: None,
///     intake: IntakeForm::default(),
///     public: true,
/// })?;
/// let now: Timestamp = "2026-12-01T00:00:00Z".parse()?;
/// // Monday 7 December 2026, 09:00-12:00 in Berlin (UTC+1): three hours.
/// let window = Window::new(TimeRange::new(
///     "2026-12-07T00:00:00Z".parse()?,
///     "2026-12-08T00:00:00Z".parse()?,
/// )?)?;
/// let slots = available_slots(&SlotQuery {
///     service: &service,
///     schedules: &[schedule],
///     bookings: &[],
///     busy: &[],
///     window,
///     staff: None,
///     customer_zone: &berlin,
///     now,
/// });
/// let starts: Vec<String> = slots.iter().map(|s| s.start().to_string()).collect();
/// assert_eq!(starts, ["2026-12-07T08:00:00Z", "2026-12-07T09:00:00Z", "2026-12-07T10:00:00Z"]);
/// # Ok(())
/// # }
/// ```
pub fn available_slots(query: &SlotQuery<'_>) -> Vec<Slot> {
    let (window_start, window_end) = seconds(query.window.range());
    let timing = query.service.timing().seconds();
    let now = query.now.as_second();
    let first = window_start.max(now.saturating_add(timing.minimum_notice));
    let last = window_end.min(now.saturating_add(timing.horizon));
    let mut raw = Vec::new();
    if first < last {
        let mut scratch = Scratch::default();
        let mut staff: Vec<StaffId> = query
            .service
            .staff()
            .iter()
            .copied()
            .filter(|member| query.staff.is_none_or(|wanted| wanted == *member))
            .collect();
        staff.sort_unstable();
        for member in staff {
            let plan = StaffPlan {
                staff: member,
                first,
                last,
                timing,
                service: query.service.id(),
                capacity: query.service.capacity(),
            };
            plan.slots(query, &mut scratch, &mut raw);
        }
    }
    raw.sort_unstable_by_key(|&(start, staff, _)| (start, staff));
    attach_offsets(&raw, timing.duration, query.customer_zone)
}

/// Buffers reused across staff members to avoid reallocating.
#[derive(Default)]
struct Scratch {
    open: Vec<(i64, i64)>,
    blocked: Vec<(i64, i64)>,
    /// Same-service bookings of a group service: (padded start, padded end,
    /// start, seats).
    group: Vec<(i64, i64, i64, u32)>,
}

/// One staff member's part of a query.
struct StaffPlan {
    staff: StaffId,
    first: i64,
    last: i64,
    timing: crate::service::TimingSeconds,
    service: ServiceId,
    capacity: Capacity,
}

/// A slot before offsets are attached: (start, staff, seats left).
type RawSlot = (i64, StaffId, u16);

impl StaffPlan {
    fn slots(&self, query: &SlotQuery<'_>, scratch: &mut Scratch, out: &mut Vec<RawSlot>) {
        let t = self.timing;
        let group_service = self.capacity.seats() > 1;
        // The padded candidate reaches from first - before to last + duration + after.
        let reach_start = self.first - t.buffer_before;
        let reach_end = self.last + t.duration + t.buffer_after;

        scratch.open.clear();
        for schedule in query.schedules.iter().filter(|s| s.staff() == self.staff) {
            // A day past the last possible end, so a run of touching
            // openings is seen whole and the run-on rule does not depend on
            // where the window ends.
            schedule.opening_seconds(
                self.first,
                self.last + t.duration + 86_400,
                &mut scratch.open,
            );
        }
        // Several schedules of one staff member may overlap.
        merge_tail(&mut scratch.open, 0, Touching::Keep);
        if scratch.open.is_empty() {
            return;
        }

        scratch.blocked.clear();
        scratch.group.clear();
        let relevant = |(start, end): (i64, i64)| start < reach_end && reach_start < end;
        for busy in query.busy.iter().filter(|b| b.staff == self.staff) {
            let range = seconds_outward(busy.range);
            if relevant(range) {
                scratch.blocked.push(range);
            }
        }
        for schedule in query.schedules.iter().filter(|s| s.staff() == self.staff) {
            for off in schedule.time_off() {
                let range = seconds_outward(*off);
                if relevant(range) {
                    scratch.blocked.push(range);
                }
            }
        }
        for booking in query.bookings.iter().filter(|b| b.staff == self.staff) {
            let padded = booking.padded();
            if !relevant(padded) {
                continue;
            }
            if group_service && booking.service == self.service {
                let start = booking.range.start().as_second();
                scratch
                    .group
                    .push((padded.0, padded.1, start, u32::from(booking.seats)));
            } else {
                scratch.blocked.push(padded);
            }
        }
        merge_tail(&mut scratch.blocked, 0, Touching::Merge);
        scratch.group.sort_unstable();

        let mut blocked = 0_usize;
        let mut group_from = 0_usize;
        let mut run_end = i64::MIN;
        for (index, &(open_start, open_end)) in scratch.open.iter().enumerate() {
            // A slot starts in its own day's opening but may run on into an
            // opening that touches it (22:00-24:00 then 00:00-02:00).
            if open_start >= run_end {
                run_end = run_end_from(&scratch.open, index);
            }
            // Running on is only for filling in: when the next opening can
            // hold a slot of its own, its grid wins and no slot of this
            // opening crosses into it. This depends on the schedule alone, so
            // every window shows the same slots.
            let next_has_room = scratch
                .open
                .get(index + 1)
                .is_some_and(|&(next, _)| next <= open_end && next + t.duration <= run_end);
            let fit_end = if next_has_room { open_end } else { run_end };
            let mut start = grid_at_or_after(open_start, t.slot_step, self.first);
            while start < self.last && start < open_end && start + t.duration <= fit_end {
                let padded_start = start - t.buffer_before;
                let padded_end = start + t.duration + t.buffer_after;
                while scratch
                    .blocked
                    .get(blocked)
                    .is_some_and(|&(_, end)| end <= padded_start)
                {
                    blocked += 1;
                }
                if let Some(&(block_start, block_end)) = scratch.blocked.get(blocked)
                    && block_start < padded_end
                {
                    // Jump to the first grid start whose buffer clears the block.
                    let clear = block_end + t.buffer_before;
                    start = grid_at_or_after(open_start, t.slot_step, clear);
                    continue;
                }
                if let Some(seats_left) = self.seats_left(
                    &scratch.group,
                    &mut group_from,
                    start,
                    padded_start,
                    padded_end,
                ) {
                    out.push((start, self.staff, seats_left));
                }
                start += t.slot_step;
            }
        }
    }

    /// Seats still free at `start`, or `None` when a booking of this group
    /// service at another start overlaps it or every seat is taken.
    fn seats_left(
        &self,
        group: &[(i64, i64, i64, u32)],
        from: &mut usize,
        start: i64,
        padded_start: i64,
        padded_end: i64,
    ) -> Option<u16> {
        while group
            .get(*from)
            .is_some_and(|&(_, end, _, _)| end <= padded_start)
        {
            *from += 1;
        }
        let mut taken = 0_u32;
        for &(g_start, g_end, g_slot, seats) in group.get(*from..).unwrap_or_default() {
            if g_start >= padded_end {
                break;
            }
            if g_end <= padded_start {
                continue;
            }
            if g_slot != start {
                return None;
            }
            taken = taken.saturating_add(seats);
        }
        let left = u32::from(self.capacity.seats()).checked_sub(taken)?;
        u16::try_from(left).ok().filter(|&n| n > 0)
    }
}

/// The end of the run of touching openings that starts at `open[index]`.
fn run_end_from(open: &[(i64, i64)], index: usize) -> i64 {
    let mut end = i64::MIN;
    for &(start, stop) in open.get(index..).unwrap_or_default() {
        if end != i64::MIN && start > end {
            break;
        }
        end = stop;
    }
    end
}

/// The first point of the grid `anchor + k * step` (k >= 0) at or after `at`.
fn grid_at_or_after(anchor: i64, step: i64, at: i64) -> i64 {
    if at <= anchor {
        return anchor;
    }
    let steps = (at - anchor + step - 1) / step;
    anchor + steps * step
}

/// A range in whole seconds.
fn seconds(range: TimeRange) -> (i64, i64) {
    (range.start().as_second(), range.end().as_second())
}

/// A range in whole seconds, widened to cover any fraction of a second.
fn seconds_outward(range: TimeRange) -> (i64, i64) {
    let end = range.end();
    let end_second = if end.subsec_nanosecond() > 0 {
        end.as_second() + 1
    } else {
        end.as_second()
    };
    (range.start().as_second(), end_second)
}

/// Turns raw slots into [`Slot`]s, looking the customer's offset up once per
/// stretch between transitions rather than once per slot.
fn attach_offsets(raw: &[RawSlot], duration: i64, zone: &TimeZone) -> Vec<Slot> {
    let zone = zone.zone();
    let mut out = Vec::with_capacity(raw.len());
    let mut offset = Offset::UTC;
    let mut valid_until = i64::MIN;
    for &(start, staff, seats_left) in raw {
        let (Ok(start_ts), Ok(end_ts)) = (
            Timestamp::from_second(start),
            Timestamp::from_second(start + duration),
        ) else {
            continue;
        };
        let Ok(range) = TimeRange::new(start_ts, end_ts) else {
            continue;
        };
        if start >= valid_until {
            offset = zone.to_offset(start_ts);
            valid_until = zone
                .following(start_ts)
                .next()
                .map_or(i64::MAX, |transition| transition.timestamp().as_second());
        }
        out.push(Slot {
            range,
            staff,
            seats_left,
            offset,
        });
    }
    out
}
