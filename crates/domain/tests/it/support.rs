//! Builders shared by the tests.

use std::collections::BTreeMap;

use bookwarden_domain::id::{ScheduleId, ServiceId, StaffId, TenantId};
use bookwarden_domain::intake::IntakeForm;
use bookwarden_domain::jiff::civil::{Date, Weekday};
use bookwarden_domain::jiff::{SignedDuration, Timestamp};
use bookwarden_domain::schedule::{
    DayHours, DayRange, DayTime, Schedule, ScheduleSpec, WeeklyHours,
};
use bookwarden_domain::service::{Capacity, Service, ServiceName, ServiceSpec, Timing, TimingSpec};
use bookwarden_domain::slots::{BookedTime, BusyTime, Slot, SlotQuery, available_slots};
use bookwarden_domain::time::{TimeRange, TimeZone, Window};

pub const WEEK: [Weekday; 7] = [
    Weekday::Monday,
    Weekday::Tuesday,
    Weekday::Wednesday,
    Weekday::Thursday,
    Weekday::Friday,
    Weekday::Saturday,
    Weekday::Sunday,
];

pub fn zone(name: &str) -> TimeZone {
    TimeZone::parse(name).unwrap()
}

pub fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

pub fn range(start: &str, end: &str) -> TimeRange {
    TimeRange::new(ts(start), ts(end)).unwrap()
}

pub fn hm(h: u8, m: u8) -> DayTime {
    DayTime::new(h, m).unwrap()
}

/// An hour and a minute.
pub type Hm = (u8, u8);

/// Hours from `(start, end)` pairs of (hour, minute).
pub fn hours(ranges: &[(Hm, Hm)]) -> DayHours {
    DayHours::new(
        ranges
            .iter()
            .map(|&((sh, sm), (eh, em))| DayRange::new(hm(sh, sm), hm(eh, em)).unwrap())
            .collect(),
    )
    .unwrap()
}

/// The same hours every day of the week.
pub fn every_day(day: &DayHours) -> WeeklyHours {
    WEEK.iter()
        .fold(WeeklyHours::closed(), |w, &d| w.with(d, day.clone()))
}

pub fn schedule(
    tenant: TenantId,
    staff: StaffId,
    zone: &TimeZone,
    weekly: WeeklyHours,
) -> Schedule {
    schedule_with(tenant, staff, zone, weekly, BTreeMap::new(), Vec::new())
}

pub fn schedule_with(
    tenant: TenantId,
    staff: StaffId,
    zone: &TimeZone,
    weekly: WeeklyHours,
    overrides: BTreeMap<Date, DayHours>,
    time_off: Vec<TimeRange>,
) -> Schedule {
    Schedule::new(
        ScheduleId::random(),
        tenant,
        staff,
        ScheduleSpec {
            zone: zone.clone(),
            weekly,
            overrides,
            time_off,
        },
    )
    .unwrap()
}

pub fn timing(
    duration: u32,
    before: u32,
    after: u32,
    notice: u32,
    horizon_days: u32,
    step: u32,
) -> Timing {
    Timing::new(TimingSpec {
        duration_minutes: duration,
        buffer_before_minutes: before,
        buffer_after_minutes: after,
        minimum_notice_minutes: notice,
        horizon_days,
        slot_step_minutes: step,
    })
    .unwrap()
}

pub fn service(tenant: TenantId, staff: &[StaffId], timing: Timing, seats: u16) -> Service {
    Service::new(
        ServiceId::random(),
        tenant,
        ServiceSpec {
            name: ServiceName::parse("Consultation").unwrap(),
            timing,
            capacity: Capacity::new(seats).unwrap(),
            staff: staff.to_vec(),
            price: None,
            intake: IntakeForm::default(),
            public: true,
        },
    )
    .unwrap()
}

/// A fixture: one tenant, one staff member, a service and their schedule.
pub struct Desk {
    pub staff: StaffId,
    pub zone: TimeZone,
    pub service: Service,
    pub schedule: Schedule,
}

impl Desk {
    /// One staff member in `zone` working `day` every day; a one-to-one
    /// service of `duration` minutes stepping every `step` minutes.
    pub fn new(zone_name: &str, day: &DayHours, duration: u32, step: u32) -> Self {
        let tenant = TenantId::random();
        let staff = StaffId::random();
        let zone = zone(zone_name);
        let service = service(tenant, &[staff], timing(duration, 0, 0, 0, 730, step), 1);
        let schedule = schedule(tenant, staff, &zone, every_day(day));
        Self {
            staff,
            zone,
            service,
            schedule,
        }
    }

    pub fn slots(&self, window: TimeRange, customer: &TimeZone) -> Vec<Slot> {
        self.slots_with(window, customer, &[], &[])
    }

    pub fn slots_with(
        &self,
        window: TimeRange,
        customer: &TimeZone,
        bookings: &[BookedTime],
        busy: &[BusyTime],
    ) -> Vec<Slot> {
        available_slots(&SlotQuery {
            service: &self.service,
            schedules: std::slice::from_ref(&self.schedule),
            bookings,
            busy,
            window: Window::new(window).unwrap(),
            staff: None,
            customer_zone: customer,
            now: window
                .start()
                .checked_sub(SignedDuration::from_hours(24))
                .unwrap(),
        })
    }
}

/// Local start times of slots, as `HH:MM` on the customer's clock.
pub fn local_times(slots: &[Slot]) -> Vec<String> {
    slots
        .iter()
        .map(|s| s.local_start().time().strftime("%H:%M").to_string())
        .collect()
}
