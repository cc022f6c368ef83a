//! Daylight saving time, zone by zone: an opening on a transition day
//! exists exactly once, no slot starts at a wall-clock time that does not
//! exist, and a repeated hour does not double a slot.

use bookwarden_domain::jiff::civil::{Date, date};
use bookwarden_domain::slots::Slot;
use bookwarden_domain::time::TimeZone;

use crate::support::{Desk, hours, local_times, zone};

/// Slots of `desk` on the local day `day`, read on the staff member's clock.
fn day_slots(desk: &Desk, day: Date) -> Vec<Slot> {
    let window = desk.zone.local_days(day, day).unwrap();
    desk.slots(window, &desk.zone)
}

fn offsets(slots: &[Slot]) -> Vec<i32> {
    slots.iter().map(|s| s.offset().seconds() / 60).collect()
}

fn assert_distinct_increasing(slots: &[Slot]) {
    assert!(
        slots.windows(2).all(|w| w[0].start() < w[1].start()),
        "starts strictly increase"
    );
}

fn nine_to_five_day(zone: &str, day: Date) {
    let desk = Desk::new(zone, &hours(&[((9, 0), (17, 0))]), 60, 60);
    let slots = day_slots(&desk, day);
    assert_eq!(
        local_times(&slots),
        [
            "09:00", "10:00", "11:00", "12:00", "13:00", "14:00", "15:00", "16:00"
        ],
        "{zone} {day}"
    );
    assert_distinct_increasing(&slots);
}

#[test]
fn dst_europe_berlin_spring_forward() {
    let day = date(2026, 3, 29);
    nine_to_five_day("Europe/Berlin", day);
    // 00:00-06:00 holds five real hours: 02:00-03:00 does not exist.
    let night = Desk::new("Europe/Berlin", &hours(&[((0, 0), (6, 0))]), 30, 30);
    let slots = day_slots(&night, day);
    assert_eq!(
        local_times(&slots),
        [
            "00:00", "00:30", "01:00", "01:30", "03:00", "03:30", "04:00", "04:30", "05:00",
            "05:30"
        ]
    );
    // An opening at 02:30, inside the gap, opens at the transition.
    let gap = Desk::new("Europe/Berlin", &hours(&[((2, 30), (5, 0))]), 30, 30);
    let slots = day_slots(&gap, day);
    assert_eq!(local_times(&slots), ["03:00", "03:30", "04:00", "04:30"]);
    assert_eq!(offsets(&slots), [120, 120, 120, 120]);
}

#[test]
fn dst_europe_berlin_fall_back() {
    let day = date(2026, 10, 25);
    nine_to_five_day("Europe/Berlin", day);
    // 00:00-06:00 holds seven real hours; 02:00-03:00 happens twice, as
    // distinct instants.
    let night = Desk::new("Europe/Berlin", &hours(&[((0, 0), (6, 0))]), 60, 60);
    let slots = day_slots(&night, day);
    assert_eq!(
        local_times(&slots),
        [
            "00:00", "01:00", "02:00", "02:00", "03:00", "04:00", "05:00"
        ]
    );
    assert_eq!(offsets(&slots), [120, 120, 120, 60, 60, 60, 60]);
    assert_distinct_increasing(&slots);
    // An opening at 02:30, inside the fold, opens once: at its first reading.
    let fold = Desk::new("Europe/Berlin", &hours(&[((2, 30), (3, 30))]), 30, 30);
    let slots = day_slots(&fold, day);
    assert_eq!(local_times(&slots), ["02:30", "02:00", "02:30", "03:00"]);
    assert_eq!(offsets(&slots), [120, 60, 60, 60]);
}

#[test]
fn dst_gap_between_two_openings_yields_no_overlapping_slots() {
    // Found by the property tests: on the spring-forward day 02:00 and 02:15
    // both first read at 03:00 EDT, so the two openings touch. 00:45 + 80
    // minutes would run on into the second opening, which has room for its
    // own 03:00 slot; the second opening's grid wins.
    let desk = Desk::new(
        "America/New_York",
        &hours(&[((0, 45), (2, 0)), ((2, 15), (4, 30))]),
        80,
        80,
    );
    let spring = day_slots(&desk, date(2026, 3, 8));
    assert_eq!(local_times(&spring), ["03:00"]);
    let plain = day_slots(&desk, date(2026, 3, 15));
    assert_eq!(
        local_times(&plain),
        ["02:15"],
        "75 minutes hold no 80-minute slot"
    );
}

#[test]
fn dst_america_new_york_both_transitions() {
    nine_to_five_day("America/New_York", date(2026, 3, 8));
    nine_to_five_day("America/New_York", date(2026, 11, 1));
    let night = Desk::new("America/New_York", &hours(&[((1, 0), (4, 0))]), 30, 30);
    let spring = day_slots(&night, date(2026, 3, 8));
    assert_eq!(local_times(&spring), ["01:00", "01:30", "03:00", "03:30"]);
    let fall = day_slots(&night, date(2026, 11, 1));
    assert_eq!(fall.len(), 8, "four real hours");
    assert_eq!(
        local_times(&fall),
        [
            "01:00", "01:30", "01:00", "01:30", "02:00", "02:30", "03:00", "03:30"
        ]
    );
    assert_distinct_increasing(&fall);
}

#[test]
fn dst_australia_lord_howe_half_hour_shift() {
    // Clocks go from 02:00 to 02:30 on 2026-10-04 and from 02:00 back to
    // 01:30 on 2026-04-05.
    nine_to_five_day("Australia/Lord_Howe", date(2026, 10, 4));
    nine_to_five_day("Australia/Lord_Howe", date(2026, 4, 5));
    let night = Desk::new("Australia/Lord_Howe", &hours(&[((1, 0), (3, 0))]), 30, 30);
    let spring = day_slots(&night, date(2026, 10, 4));
    assert_eq!(local_times(&spring), ["01:00", "01:30", "02:30"]);
    assert_eq!(offsets(&spring), [630, 630, 660]);
    let fall = day_slots(&night, date(2026, 4, 5));
    assert_eq!(
        local_times(&fall),
        ["01:00", "01:30", "01:30", "02:00", "02:30"]
    );
    assert_eq!(offsets(&fall), [660, 660, 630, 630, 630]);
}

#[test]
fn dst_america_havana_midnight_transitions() {
    // Midnight does not exist on 2026-03-08: the day starts at 01:00.
    nine_to_five_day("America/Havana", date(2026, 3, 8));
    let early = Desk::new("America/Havana", &hours(&[((0, 0), (3, 0))]), 30, 30);
    // Monday's 22:00-24:00 ends at the transition; the slot grid is whole.
    let eve = Desk::new("America/Havana", &hours(&[((22, 0), (24, 0))]), 30, 30);
    let slots = day_slots(&eve, date(2026, 3, 7));
    assert_eq!(local_times(&slots), ["22:00", "22:30", "23:00", "23:30"]);
    let spring = day_slots(&early, date(2026, 3, 8));
    assert_eq!(local_times(&spring), ["01:00", "01:30", "02:00", "02:30"]);
    // The bundled tz database (2026 edition) keeps Cuba on summer time
    // through the winter of 2026; clocks next go from 01:00 back to 00:00 on
    // 2027-11-07.
    nine_to_five_day("America/Havana", date(2027, 11, 7));
    let fall = day_slots(&early, date(2027, 11, 7));
    assert_eq!(
        local_times(&fall),
        [
            "00:00", "00:30", "00:00", "00:30", "01:00", "01:30", "02:00", "02:30"
        ]
    );
    assert_distinct_increasing(&fall);
}

#[test]
fn dst_america_santiago_midnight_transitions() {
    // 2026-09-06 starts at 01:00; on 2026-04-04 24:00 becomes 23:00 again.
    nine_to_five_day("America/Santiago", date(2026, 9, 6));
    nine_to_five_day("America/Santiago", date(2026, 4, 4));
    let early = Desk::new("America/Santiago", &hours(&[((0, 0), (2, 0))]), 30, 30);
    assert_eq!(
        local_times(&day_slots(&early, date(2026, 9, 6))),
        ["01:00", "01:30"]
    );
    let late = Desk::new("America/Santiago", &hours(&[((22, 0), (24, 0))]), 30, 30);
    let slots = day_slots(&late, date(2026, 4, 4));
    assert_eq!(
        local_times(&slots),
        ["22:00", "22:30", "23:00", "23:30", "23:00", "23:30"]
    );
    assert_eq!(offsets(&slots), [-180, -180, -180, -180, -240, -240]);
}

#[test]
fn dst_customer_zone_differs_from_staff_zone() {
    // Staff in New York, customer in Berlin, on the US spring-forward day:
    // the 09:00 opening is 14:00 in Berlin (EDT -4, CET +1).
    let desk = Desk::new("America/New_York", &hours(&[((9, 0), (10, 0))]), 60, 60);
    let berlin: TimeZone = zone("Europe/Berlin");
    let window = desk
        .zone
        .local_days(date(2026, 3, 8), date(2026, 3, 8))
        .unwrap();
    assert_eq!(local_times(&desk.slots(window, &berlin)), ["14:00"]);
}
