//! The slot engine against a bare sweep over plain integer ranges.
//!
//! Both compute a month of 30-minute slots for one staff member among 0 to
//! 10,000 random busy blocks. The bare sweep (clone, sort, merge, walk) is
//! the ceiling: the least work any engine must do. `cargo xtask bench` reads
//! both figures and reports their ratio.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs,
    reason = "benchmark set-up fails loudly; criterion macros make undocumented items"
)]

use std::collections::BTreeMap;
use std::hint::black_box;

use bookwarden_domain::id::{ScheduleId, ServiceId, StaffId, TenantId};
use bookwarden_domain::intake::IntakeForm;
use bookwarden_domain::jiff::Timestamp;
use bookwarden_domain::jiff::civil::Weekday;
use bookwarden_domain::schedule::{
    DayHours, DayRange, DayTime, Schedule, ScheduleSpec, WeeklyHours,
};
use bookwarden_domain::service::{Capacity, Service, ServiceName, ServiceSpec, Timing, TimingSpec};
use bookwarden_domain::slots::{BusyTime, SlotQuery, available_slots};
use bookwarden_domain::time::{TimeRange, TimeZone, Window};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

const MONTH_START: i64 = 1_793_491_200; // 2026-11-01T00:00:00Z
const DAY: i64 = 86_400;
const SLOT: i64 = 1_800;

/// A small deterministic generator, so every run measures the same blocks.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: i64) -> i64 {
        i64::try_from(self.next() % u64::try_from(n).unwrap()).unwrap()
    }
}

fn ts(second: i64) -> Timestamp {
    Timestamp::from_second(second).unwrap()
}

fn busy_blocks(count: usize) -> Vec<(i64, i64)> {
    let mut rng = SplitMix(count as u64 + 7);
    (0..count)
        .map(|_| {
            let start = MONTH_START + rng.below(30 * DAY);
            let length = 600 + rng.below(6_600);
            (start, start + length)
        })
        .collect()
}

/// The ceiling: slots from working intervals minus merged busy ranges.
fn bare_sweep(working: &[(i64, i64)], busy: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut busy = busy.to_vec();
    busy.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::with_capacity(busy.len());
    for (start, end) in busy {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    let mut slots = Vec::new();
    let mut j = 0;
    for &(open, close) in working {
        let mut start = open;
        while start + SLOT <= close {
            while j < merged.len() && merged[j].1 <= start {
                j += 1;
            }
            if j < merged.len() && merged[j].0 < start + SLOT {
                start += SLOT;
                continue;
            }
            slots.push((start, start + SLOT));
            start += SLOT;
        }
    }
    slots
}

fn bench(c: &mut Criterion) {
    let zone = TimeZone::parse("Europe/Berlin").unwrap();
    let tenant = TenantId::random();
    let staff = StaffId::random();
    let hours = DayHours::new(vec![
        DayRange::new(DayTime::new(8, 0).unwrap(), DayTime::new(18, 0).unwrap()).unwrap(),
    ])
    .unwrap();
    let mut weekly = WeeklyHours::closed();
    for day in [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
        Weekday::Sunday,
    ] {
        weekly = weekly.with(day, hours.clone());
    }
    let schedule = Schedule::new(
        ScheduleId::random(),
        tenant,
        staff,
        ScheduleSpec {
            zone: zone.clone(),
            weekly,
            overrides: BTreeMap::new(),
            time_off: Vec::new(),
        },
    )
    .unwrap();
    let timing = Timing::new(TimingSpec {
        duration_minutes: 30,
        buffer_before_minutes: 0,
        buffer_after_minutes: 0,
        minimum_notice_minutes: 0,
        horizon_days: 365,
        slot_step_minutes: 30,
    })
    .unwrap();
    let service = Service::new(
        ServiceId::random(),
        tenant,
        ServiceSpec {
            name: ServiceName::parse("Consultation").unwrap(),
            timing,
            capacity: Capacity::ONE,
            staff: vec![staff],
            price: None,
            intake: IntakeForm::default(),
            public: true,
        },
    )
    .unwrap();
    let window = TimeRange::new(ts(MONTH_START), ts(MONTH_START + 30 * DAY)).unwrap();
    let working: Vec<(i64, i64)> = schedule
        .opening_hours(window)
        .iter()
        .map(|r| (r.start().as_second(), r.end().as_second()))
        .collect();

    let mut group = c.benchmark_group("slots");
    for count in [0_usize, 100, 1_000, 10_000] {
        let blocks = busy_blocks(count);
        let busy: Vec<BusyTime> = blocks
            .iter()
            .map(|&(s, e)| BusyTime::new(staff, TimeRange::new(ts(s), ts(e)).unwrap()))
            .collect();
        let query = SlotQuery {
            service: &service,
            schedules: std::slice::from_ref(&schedule),
            bookings: &[],
            busy: &busy,
            window: Window::new(window).unwrap(),
            staff: None,
            customer_zone: &zone,
            now: ts(MONTH_START - DAY),
        };
        // Both must agree before either is worth timing.
        let engine: Vec<(i64, i64)> = available_slots(&query)
            .iter()
            .map(|s| (s.start().as_second(), s.end().as_second()))
            .collect();
        assert_eq!(
            engine,
            bare_sweep(&working, &blocks),
            "engine and sweep disagree at {count}"
        );

        group.bench_with_input(BenchmarkId::new("engine", count), &query, |b, q| {
            b.iter(|| available_slots(black_box(q)))
        });
        group.bench_with_input(
            BenchmarkId::new("bare_sweep", count),
            &blocks,
            |b, blocks| b.iter(|| bare_sweep(black_box(&working), black_box(blocks))),
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
