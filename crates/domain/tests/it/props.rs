//! Properties of the slot engine over random schedules, bookings, busy
//! blocks and windows in zones with daylight saving time, each checked on
//! 1,000 cases.
//!
//! The strongest is `engine_matches_reference`: a naive reference built from
//! first principles (working time found by scanning the zone's clock in
//! 15-minute steps, every candidate checked against every interval) must
//! give exactly the engine's slots.

use std::collections::BTreeMap;

use bookwarden_domain::id::{ServiceId, StaffId, TenantId};
use bookwarden_domain::jiff::civil::{Date, DateTime, Time, date};
use bookwarden_domain::jiff::tz::Offset;
use bookwarden_domain::jiff::{SignedDuration, Timestamp};
use bookwarden_domain::schedule::{DayHours, DayRange, DayTime, Schedule, WeeklyHours};
use bookwarden_domain::service::Service;
use bookwarden_domain::slots::{BookedTime, BusyTime, Slot, SlotQuery, available_slots};
use bookwarden_domain::time::{TimeRange, TimeZone, Window};
use proptest::prelude::*;
use proptest::test_runner::Config;

use crate::support::{WEEK, schedule_with, service, timing, zone};

const ZONES: [&str; 7] = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "America/Havana",
    "America/Santiago",
    "Asia/Kolkata",
    "UTC",
];

/// Days around transitions in the zones above (and one quiet day).
fn base_days() -> [Date; 10] {
    [
        date(2026, 3, 29),
        date(2026, 10, 25),
        date(2026, 3, 8),
        date(2026, 11, 1),
        date(2026, 10, 4),
        date(2026, 4, 5),
        date(2026, 9, 6),
        date(2026, 4, 4),
        date(2027, 11, 7),
        date(2026, 6, 15),
    ]
}

const QUARTER: i64 = 900;

/// A random case: everything the engine takes.
#[derive(Debug, Clone)]
struct Case {
    service: Service,
    schedules: Vec<Schedule>,
    bookings: Vec<BookedTime>,
    busy: Vec<BusyTime>,
    window: TimeRange,
    customer: TimeZone,
    now: Timestamp,
    extra_busy: BusyTime,
}

impl Case {
    fn query(&self) -> SlotQuery<'_> {
        SlotQuery {
            service: &self.service,
            schedules: &self.schedules,
            bookings: &self.bookings,
            busy: &self.busy,
            window: Window::new(self.window).unwrap(),
            staff: None,
            customer_zone: &self.customer,
            now: self.now,
        }
    }

    fn slots(&self) -> Vec<Slot> {
        available_slots(&self.query())
    }
}

fn day_hours() -> impl Strategy<Value = DayHours> {
    // Up to three ranges on quarter-hour boundaries, 00:00 to 24:00.
    prop::collection::btree_set(0_u16..=96, 0..=6).prop_map(|points| {
        let points: Vec<u16> = points.into_iter().collect();
        let ranges = points
            .chunks_exact(2)
            .map(|pair| {
                let at = |q: u16| {
                    DayTime::new(
                        u8::try_from(q / 4).unwrap(),
                        u8::try_from(q % 4 * 15).unwrap(),
                    )
                    .unwrap()
                };
                DayRange::new(at(pair[0]), at(pair[1])).unwrap()
            })
            .collect();
        DayHours::new(ranges).unwrap()
    })
}

fn weekly() -> impl Strategy<Value = WeeklyHours> {
    prop::collection::vec(day_hours(), 7).prop_map(|days| {
        WEEK.iter()
            .zip(days)
            .fold(WeeklyHours::closed(), |w, (&d, h)| w.with(d, h))
    })
}

fn at_quarter(origin: Timestamp, quarters: i64) -> Timestamp {
    origin
        .checked_add(SignedDuration::from_secs(quarters * QUARTER))
        .unwrap()
}

fn range_from(origin: Timestamp, start_q: i64, len_q: i64) -> TimeRange {
    TimeRange::new(
        at_quarter(origin, start_q),
        at_quarter(origin, start_q + len_q),
    )
    .unwrap()
}

prop_compose! {
    fn case()(
        staff_count in 1_usize..=3,
        zone_picks in prop::collection::vec(0_usize..ZONES.len(), 4),
        base in 0_usize..10,
        shift in -2_i64..=2,
        days in 0_i64..=3,
        weeks in prop::collection::vec(weekly(), 3),
        override_hours in prop::collection::vec((0_i64..=4, day_hours()), 0..=2),
        time_off in prop::collection::vec((0_usize..3, -96_i64..600, 1_i64..40), 0..=3),
        duration_5 in 1_u32..=36,
        before_5 in 0_u32..=12,
        after_5 in 0_u32..=12,
        step_5 in 1_u32..=24,
        notice_q in 0_u32..=40,
        horizon in 1_u32..=30,
        seats in prop_oneof![3 => Just(1_u16), 1 => 2_u16..=4],
        now_q in -192_i64..=96,
        bookings in prop::collection::vec((0_usize..3, any::<bool>(), -96_i64..600, 1_i64..12, 1_u16..=3, 0_u32..=6, 0_u32..=6), 0..=8),
        busy in prop::collection::vec((0_usize..3, -96_i64..600, 1_i64..24), 0..=8),
        extra in (0_usize..3, -96_i64..600, 1_i64..24),
    ) -> Case {
        let tenant = TenantId::random();
        let staff: Vec<StaffId> = (0..staff_count).map(|_| StaffId::random()).collect();
        let pick = |i: usize| staff[i % staff.len()];
        let staff_zone = zone(ZONES[zone_picks[0]]);
        let customer = zone(ZONES[zone_picks[1]]);
        let first_day = base_days()[base].checked_add(SignedDuration::from_hours(24 * shift)).unwrap();
        let last_day = first_day.checked_add(SignedDuration::from_hours(24 * days)).unwrap();
        let window = customer.local_days(first_day, last_day).unwrap();
        let origin = window.start();
        let service = service(
            tenant,
            &staff,
            timing(duration_5 * 5, before_5 * 5, after_5 * 5, notice_q * 15, horizon, step_5 * 5),
            seats,
        );
        let schedules = staff
            .iter()
            .enumerate()
            .map(|(i, &member)| {
                let member_zone = if i == 0 { staff_zone.clone() } else { zone(ZONES[zone_picks[i + 1]]) };
                let overrides: BTreeMap<Date, DayHours> = override_hours
                    .iter()
                    .map(|(offset, hours)| {
                        (first_day.checked_add(SignedDuration::from_hours(24 * offset)).unwrap(), hours.clone())
                    })
                    .collect();
                let off = time_off
                    .iter()
                    .filter(|(who, ..)| pick(*who) == member)
                    .map(|&(_, start, len)| range_from(origin, start, len))
                    .collect();
                schedule_with(tenant, member, &member_zone, weeks[i].clone(), overrides, off)
            })
            .collect();
        let bookings = bookings
            .into_iter()
            .map(|(who, same_service, start, len, seats, before, after)| {
                let booked_service = if same_service { service.id() } else { ServiceId::random() };
                let booked_timing = if same_service {
                    *service.timing()
                } else {
                    timing(15, before * 5, after * 5, 0, 30, 15)
                };
                let range = if same_service {
                    let length = service.timing().duration().as_secs() / QUARTER;
                    TimeRange::new(
                        at_quarter(origin, start),
                        at_quarter(origin, start).checked_add(SignedDuration::from_secs(length * QUARTER)).unwrap(),
                    )
                    .unwrap_or_else(|_| range_from(origin, start, len))
                } else {
                    range_from(origin, start, len)
                };
                BookedTime::new(pick(who), booked_service, range, &booked_timing, seats)
            })
            .collect();
        let busy = busy
            .into_iter()
            .map(|(who, start, len)| BusyTime::new(pick(who), range_from(origin, start, len)))
            .collect();
        let extra_busy = BusyTime::new(pick(extra.0), range_from(origin, extra.1, extra.2));
        Case {
            service,
            schedules,
            bookings,
            busy,
            window,
            customer,
            now: at_quarter(origin, now_q),
            extra_busy,
        }
    }
}

/// First instant at which the zone's clock reads each target or later,
/// found by reading the clock every 15 minutes (all boundaries, offsets and
/// transitions in the zones used fall on quarter hours).
fn first_readings_by_scan(zone: &TimeZone, targets: &[DateTime]) -> Vec<Option<i64>> {
    let mut order: Vec<usize> = (0..targets.len()).collect();
    order.sort_by_key(|&i| targets[i]);
    let mut found = vec![None; targets.len()];
    let (Some(&lo), Some(&hi)) = (order.first(), order.last()) else {
        return found;
    };
    let as_utc = |dt: DateTime| Offset::UTC.to_timestamp(dt).unwrap().as_second();
    let mut t = as_utc(targets[lo]) - 16 * 3_600;
    let end = as_utc(targets[hi]) + 16 * 3_600;
    let mut next = 0;
    while t <= end && next < order.len() {
        let wall = zone.to_local(Timestamp::from_second(t).unwrap());
        while next < order.len() && targets[order[next]] <= wall {
            found[order[next]] = Some(t);
            next += 1;
        }
        t += QUARTER;
    }
    found
}

/// Working segments `[first(a), first(b))` of a schedule for the days
/// around the case, found by scanning.
fn segments_by_scan(schedule: &Schedule, around: TimeRange) -> Vec<(i64, i64)> {
    let local = |t: Timestamp| schedule.zone().to_local(t).date();
    let mut day = local(around.start())
        .checked_sub(SignedDuration::from_hours(48))
        .unwrap();
    let last = local(around.end())
        .checked_add(SignedDuration::from_hours(48))
        .unwrap();
    let mut targets = Vec::new();
    while day <= last {
        for r in schedule.hours_on(day).ranges() {
            let to_dt = |t: DayTime| {
                let m = i64::from(t.minutes());
                day.to_datetime(Time::midnight())
                    .checked_add(SignedDuration::from_mins(m))
                    .unwrap()
            };
            targets.push(to_dt(r.start()));
            targets.push(to_dt(r.end()));
        }
        day = day.tomorrow().unwrap();
    }
    let found = first_readings_by_scan(schedule.zone(), &targets);
    let mut segments: Vec<(i64, i64)> = found
        .chunks_exact(2)
        .filter_map(|pair| match (pair[0], pair[1]) {
            (Some(a), Some(b)) if a < b => Some((a, b)),
            _ => None,
        })
        .collect();
    segments.sort_unstable();
    segments
}

fn secs(r: TimeRange) -> (i64, i64) {
    (r.start().as_second(), r.end().as_second())
}

fn overlaps(a: (i64, i64), b: (i64, i64)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// The naive reference: (start, staff, seats left), sorted.
fn reference(case: &Case) -> Vec<(i64, StaffId, u16)> {
    let t = case.service.timing();
    let (d, bb, ba, step) = (
        t.duration().as_secs(),
        t.buffer_before().as_secs(),
        t.buffer_after().as_secs(),
        t.slot_step().as_secs(),
    );
    let now = case.now.as_second();
    let first = case
        .window
        .start()
        .as_second()
        .max(now + t.minimum_notice().as_secs());
    let last = case
        .window
        .end()
        .as_second()
        .min(now + t.horizon().as_secs());
    let capacity = case.service.capacity().seats();
    let mut out = Vec::new();
    for &staff in case.service.staff() {
        let schedule = case.schedules.iter().find(|s| s.staff() == staff).unwrap();
        let segments = segments_by_scan(schedule, case.window);
        for (i, &(seg_start, seg_end)) in segments.iter().enumerate() {
            let mut run_end = seg_end;
            for &(s, e) in &segments[i + 1..] {
                if s > run_end {
                    break;
                }
                run_end = run_end.max(e);
            }
            // Running on into the next segment only when it has no room of its own.
            let next_has_room = segments
                .get(i + 1)
                .is_some_and(|&(next, _)| next <= seg_end && next + d <= run_end);
            let fit_end = if next_has_room { seg_end } else { run_end };
            let mut s = seg_start;
            while s < seg_end {
                let padded = (s - bb, s + d + ba);
                let fits = s >= first && s < last && s + d <= fit_end;
                let busy_free = !case
                    .busy
                    .iter()
                    .any(|b| b.staff() == staff && overlaps(secs(b.range()), padded));
                let off_free = !schedule
                    .time_off()
                    .iter()
                    .any(|r| overlaps(secs(*r), padded));
                let mut seats_left = Some(i64::from(capacity));
                for b in case.bookings.iter().filter(|b| b.staff() == staff) {
                    let booked = secs(b.padded_range());
                    if !overlaps(booked, padded) {
                        continue;
                    }
                    let shares = capacity > 1
                        && b.service() == case.service.id()
                        && b.range().start().as_second() == s;
                    seats_left = match (seats_left, shares) {
                        (Some(left), true) => Some(left - i64::from(b.seats())),
                        _ => None,
                    };
                }
                if let Some(left) = seats_left.filter(|&n| n > 0 && fits && busy_free && off_free) {
                    out.push((s, staff, u16::try_from(left).unwrap()));
                }
                s += step;
            }
        }
    }
    out.sort_unstable_by_key(|&(s, staff, _)| (s, staff));
    out
}

fn config() -> Config {
    Config::with_cases(1_000)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn engine_matches_reference(case in case()) {
        let got: Vec<(i64, StaffId, u16)> = case
            .slots()
            .iter()
            .map(|s| (s.start().as_second(), s.staff(), s.seats_left()))
            .collect();
        prop_assert_eq!(got, reference(&case));
    }

    #[test]
    fn no_slot_overlaps_busy_time_or_bookings_with_buffers(case in case()) {
        let t = case.service.timing();
        for slot in case.slots() {
            let padded = (
                slot.start().as_second() - t.buffer_before().as_secs(),
                slot.end().as_second() + t.buffer_after().as_secs(),
            );
            for b in case.busy.iter().filter(|b| b.staff() == slot.staff()) {
                prop_assert!(!overlaps(secs(b.range()), padded), "slot {:?} overlaps busy {:?}", slot, b);
            }
            for b in case.bookings.iter().filter(|b| b.staff() == slot.staff()) {
                let shared_seat = case.service.capacity().seats() > 1
                    && b.service() == case.service.id()
                    && b.range().start() == slot.start();
                prop_assert!(shared_seat || !overlaps(secs(b.padded_range()), padded),
                    "slot {:?} overlaps booking {:?}", slot, b);
            }
        }
    }

    #[test]
    fn every_slot_lies_inside_working_hours_and_outside_time_off(case in case()) {
        let segments_of: BTreeMap<StaffId, Vec<(i64, i64)>> = case
            .schedules
            .iter()
            .map(|s| (s.staff(), segments_by_scan(s, case.window)))
            .collect();
        for slot in case.slots() {
            let schedule = case.schedules.iter().find(|s| s.staff() == slot.staff()).unwrap();
            let segments = &segments_of[&slot.staff()];
            let (start, end) = secs(slot.range());
            // Covered by working segments that touch end to end.
            let mut covered = start;
            for &(s, e) in segments {
                if s <= covered && covered < e {
                    covered = e;
                }
            }
            prop_assert!(covered >= end, "slot {:?} leaves working hours", slot);
            for off in schedule.time_off() {
                prop_assert!(!overlaps(secs(*off), (start, end)), "slot {:?} in time off", slot);
            }
            prop_assert!(case.window.contains(slot.start()));
        }
    }

    #[test]
    fn a_start_is_a_slot_whatever_window_asks_about_it(case in case()) {
        // What a booking checks (a one-second window at its start) agrees
        // with what the listing showed, on a five-minute grid over the
        // window: no window hides a slot or shows one the others do not.
        let listed: Vec<(i64, StaffId)> = case
            .slots()
            .iter()
            .map(|s| (s.start().as_second(), s.staff()))
            .collect();
        let (from, to) = secs(case.window);
        let mut at = from;
        while at < to {
            let start = Timestamp::from_second(at).unwrap();
            let one = TimeRange::new(start, Timestamp::from_second(at + 1).unwrap()).unwrap();
            let query = SlotQuery { window: Window::new(one).unwrap(), ..case.query() };
            let here: Vec<(i64, StaffId)> = available_slots(&query)
                .iter()
                .map(|s| (s.start().as_second(), s.staff()))
                .collect();
            let expected: Vec<(i64, StaffId)> =
                listed.iter().copied().filter(|(s, _)| *s == at).collect();
            prop_assert_eq!(here, expected, "at {}", start);
            at += 900;
        }
    }

    #[test]
    fn slots_are_sorted_and_never_collide_per_staff(case in case()) {
        let slots = case.slots();
        prop_assert!(slots.windows(2).all(|w| (w[0].start(), w[0].staff()) < (w[1].start(), w[1].staff())));
        let t = case.service.timing();
        for &staff in case.service.staff() {
            let mine: Vec<&Slot> = slots.iter().filter(|s| s.staff() == staff).collect();
            prop_assert!(mine.windows(2).all(|w| w[0].start() < w[1].start()), "no start twice");
            if t.slot_step() >= t.duration() {
                prop_assert!(mine.windows(2).all(|w| w[0].end() <= w[1].start()), "no overlap");
            }
        }
    }

    #[test]
    fn adding_a_busy_block_never_adds_a_slot(case in case()) {
        let before = case.slots();
        let mut more = case.clone();
        more.busy.push(case.extra_busy);
        let after = more.slots();
        for slot in &after {
            prop_assert!(before.contains(slot), "new slot {:?}", slot);
        }
    }

    #[test]
    fn input_order_does_not_change_the_result(case in case()) {
        let mut reordered = case.clone();
        reordered.schedules.reverse();
        reordered.bookings.reverse();
        reordered.busy.reverse();
        let half = reordered.bookings.len() / 2;
        reordered.bookings.rotate_left(half);
        prop_assert_eq!(case.slots(), reordered.slots());
    }

    #[test]
    fn customer_offsets_are_right_across_transitions(case in case()) {
        for slot in case.slots() {
            prop_assert_eq!(slot.offset(), case.customer.zone().to_offset(slot.start()));
        }
    }
}
