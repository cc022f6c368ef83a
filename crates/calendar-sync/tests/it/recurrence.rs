//! Events that must come out exactly right, against instants written by
//! hand (P4).

use bookwarden_calendar_sync::ical::{self, Limits, NotICalendar};
use bookwarden_domain::calendar::SyncMode;
use bookwarden_domain::time::TimeZone;

use crate::support::{calendar, expand_in, range, spans};

const AUTUMN: (&str, &str) = ("2026-10-01T00:00:00Z", "2026-12-01T00:00:00Z");
const DECEMBER: (&str, &str) = ("2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z");

fn autumn() -> bookwarden_domain::time::TimeRange {
    range(AUTUMN.0, AUTUMN.1)
}

fn december() -> bookwarden_domain::time::TimeRange {
    range(DECEMBER.0, DECEMBER.1)
}

/// `text` expanded over December in UTC, busy-only, under `limits`.
fn limited(text: &str, limits: Limits) -> ical::Expansion {
    ical::expand(
        text,
        december(),
        &TimeZone::utc(),
        SyncMode::BusyOnly,
        limits,
    )
    .unwrap()
}

#[test]
fn p4_a_weekly_series_keeps_its_wall_clock_time_across_the_dst_change() {
    // Berlin leaves summer time on 25 October 2026: 10:00 is 08:00Z
    // before and 09:00Z after.
    let text = calendar(&["UID:weekly
        DTSTART;TZID=Europe/Berlin:20261014T100000
        DTEND;TZID=Europe/Berlin:20261014T110000
        RRULE:FREQ=WEEKLY;COUNT=4"]);
    let found = expand_in(&text, autumn(), "UTC", SyncMode::BusyOnly);
    assert_eq!(
        spans(&found),
        [
            "2026-10-14T08:00:00Z/2026-10-14T09:00:00Z",
            "2026-10-21T08:00:00Z/2026-10-21T09:00:00Z",
            "2026-10-28T09:00:00Z/2026-10-28T10:00:00Z",
            "2026-11-04T09:00:00Z/2026-11-04T10:00:00Z",
        ]
    );
    assert!(!found.degraded.any());
}

#[test]
fn p4_an_exdate_removes_its_occurrence() {
    let text = calendar(&["UID:weekly
        DTSTART;TZID=Europe/Berlin:20261014T100000
        DTEND;TZID=Europe/Berlin:20261014T110000
        RRULE:FREQ=WEEKLY;COUNT=4
        EXDATE;TZID=Europe/Berlin:20261021T100000"]);
    let found = expand_in(&text, autumn(), "UTC", SyncMode::BusyOnly);
    assert_eq!(
        spans(&found),
        [
            "2026-10-14T08:00:00Z/2026-10-14T09:00:00Z",
            "2026-10-28T09:00:00Z/2026-10-28T10:00:00Z",
            "2026-11-04T09:00:00Z/2026-11-04T10:00:00Z",
        ]
    );
}

#[test]
fn p4_a_moved_occurrence_replaces_the_original_whatever_its_sequence() {
    // The override carries a higher SEQUENCE than its series, as Google
    // and Outlook write them.
    let text = calendar(&[
        "UID:mondays
        SEQUENCE:0
        DTSTART;TZID=Europe/Berlin:20261207T090000
        DTEND;TZID=Europe/Berlin:20261207T100000
        RRULE:FREQ=WEEKLY;COUNT=2",
        "UID:mondays
        SEQUENCE:3
        RECURRENCE-ID;TZID=Europe/Berlin:20261207T090000
        DTSTART;TZID=Europe/Berlin:20261207T140000
        DTEND;TZID=Europe/Berlin:20261207T150000",
    ]);
    let found = expand_in(&text, december(), "UTC", SyncMode::BusyOnly);
    assert_eq!(
        spans(&found),
        [
            "2026-12-07T13:00:00Z/2026-12-07T14:00:00Z",
            "2026-12-14T08:00:00Z/2026-12-14T09:00:00Z",
        ]
    );
}

#[test]
fn p4_a_cancelled_occurrence_blocks_nothing_and_the_rest_of_its_series_does() {
    let text = calendar(&[
        "UID:mondays
        DTSTART;TZID=Europe/Berlin:20261207T090000
        DTEND;TZID=Europe/Berlin:20261207T100000
        RRULE:FREQ=WEEKLY;COUNT=2",
        "UID:mondays
        RECURRENCE-ID;TZID=Europe/Berlin:20261214T090000
        DTSTART;TZID=Europe/Berlin:20261214T090000
        DTEND;TZID=Europe/Berlin:20261214T100000
        STATUS:CANCELLED",
    ]);
    let found = expand_in(&text, december(), "UTC", SyncMode::BusyOnly);
    assert_eq!(spans(&found), ["2026-12-07T08:00:00Z/2026-12-07T09:00:00Z"]);
}

#[test]
fn p4_an_override_of_one_series_leaves_another_series_alone() {
    // Two series with occurrences at the same instant; only `a` moves.
    let text = calendar(&[
        "UID:a
        DTSTART:20261207T080000Z
        DTEND:20261207T090000Z
        RRULE:FREQ=DAILY;COUNT=1",
        "UID:b
        DTSTART:20261207T080000Z
        DTEND:20261207T090000Z
        RRULE:FREQ=DAILY;COUNT=1",
        "UID:a
        RECURRENCE-ID:20261207T080000Z
        DTSTART:20261207T150000Z
        DTEND:20261207T160000Z",
    ]);
    let found = expand_in(&text, december(), "UTC", SyncMode::BusyOnly);
    assert_eq!(
        spans(&found),
        [
            "2026-12-07T08:00:00Z/2026-12-07T09:00:00Z",
            "2026-12-07T15:00:00Z/2026-12-07T16:00:00Z",
        ]
    );
}

#[test]
fn p4_an_all_day_event_is_a_day_in_the_staff_members_zone() {
    let text = calendar(&["UID:holiday
        DTSTART;VALUE=DATE:20261210
        DTEND;VALUE=DATE:20261211
        SUMMARY:Away"]);
    let found = expand_in(&text, december(), "America/New_York", SyncMode::BusyOnly);
    assert_eq!(spans(&found), ["2026-12-10T05:00:00Z/2026-12-11T05:00:00Z"]);
    assert!(found.events[0].busy.all_day());
    // The same date for a member in Tokyo is another day of instants.
    let found = expand_in(&text, december(), "Asia/Tokyo", SyncMode::BusyOnly);
    assert_eq!(spans(&found), ["2026-12-09T15:00:00Z/2026-12-10T15:00:00Z"]);
}

#[test]
fn p4_transparent_and_cancelled_events_block_nothing() {
    let text = calendar(&[
        "UID:free
        DTSTART:20261208T090000Z
        DTEND:20261208T100000Z
        TRANSP:TRANSPARENT",
        "UID:called-off
        DTSTART:20261208T110000Z
        DTEND:20261208T120000Z
        STATUS:CANCELLED",
        "UID:called-off-us
        DTSTART:20261208T130000Z
        DTEND:20261208T140000Z
        STATUS:CANCELED",
        "UID:busy
        DTSTART:20261208T150000Z
        DTEND:20261208T160000Z
        TRANSP:OPAQUE",
    ]);
    let found = expand_in(&text, december(), "UTC", SyncMode::BusyOnly);
    assert_eq!(spans(&found), ["2026-12-08T15:00:00Z/2026-12-08T16:00:00Z"]);
}

#[test]
fn p4_a_floating_time_is_read_in_the_staff_members_zone() {
    let text = calendar(&["UID:floating
        DTSTART:20261208T090000
        DTEND:20261208T100000"]);
    let found = expand_in(&text, december(), "Asia/Tokyo", SyncMode::BusyOnly);
    assert_eq!(spans(&found), ["2026-12-08T00:00:00Z/2026-12-08T01:00:00Z"]);
}

#[test]
fn p4_a_duration_stands_for_the_end() {
    let text = calendar(&["UID:lunch
        DTSTART;TZID=Europe/London:20261208T120000
        DURATION:PT1H30M"]);
    let found = expand_in(&text, december(), "UTC", SyncMode::BusyOnly);
    assert_eq!(spans(&found), ["2026-12-08T12:00:00Z/2026-12-08T13:30:00Z"]);
}

#[test]
fn p4_a_utc_series_keeps_utc_and_its_last_occurrence_east_of_greenwich() {
    // A UTC start and a UTC UNTIL, for a member in Tokyo: 23:00Z each
    // day, through the UNTIL instant itself.
    let text = calendar(&["UID:late
        DTSTART:20261201T230000Z
        DURATION:PT30M
        RRULE:FREQ=DAILY;UNTIL=20261203T230000Z"]);
    let found = expand_in(&text, december(), "Asia/Tokyo", SyncMode::BusyOnly);
    assert_eq!(
        spans(&found),
        [
            "2026-12-01T23:00:00Z/2026-12-01T23:30:00Z",
            "2026-12-02T23:00:00Z/2026-12-02T23:30:00Z",
            "2026-12-03T23:00:00Z/2026-12-03T23:30:00Z",
        ]
    );
}

#[test]
fn p4_windows_zone_names_are_understood() {
    let text = calendar(&["UID:outlook
        DTSTART;TZID=W. Europe Standard Time:20261207T100000
        DTEND;TZID=W. Europe Standard Time:20261207T110000"]);
    let found = expand_in(&text, december(), "UTC", SyncMode::BusyOnly);
    assert_eq!(spans(&found), ["2026-12-07T09:00:00Z/2026-12-07T10:00:00Z"]);
}

#[test]
fn p4_a_timed_event_without_end_or_duration_takes_no_time() {
    // RFC 5545 3.6.1: such an event ends where it starts.
    let text = calendar(&["UID:reminder
        DTSTART:20261208T090000Z"]);
    let found = expand_in(&text, december(), "UTC", SyncMode::BusyOnly);
    assert!(found.events.is_empty(), "{:?}", spans(&found));
}

#[test]
fn p4_only_occurrences_overlapping_the_window_are_kept() {
    let text = calendar(&["UID:daily
        DTSTART:20261130T230000Z
        DTEND:20261201T010000Z
        RRULE:FREQ=DAILY;COUNT=40"]);
    let window = range("2026-12-01T00:00:00Z", "2026-12-03T00:00:00Z");
    let found = expand_in(&text, window, "UTC", SyncMode::BusyOnly);
    // The one running over midnight into the window is kept.
    assert_eq!(
        spans(&found),
        [
            "2026-11-30T23:00:00Z/2026-12-01T01:00:00Z",
            "2026-12-01T23:00:00Z/2026-12-02T01:00:00Z",
            "2026-12-02T23:00:00Z/2026-12-03T01:00:00Z",
        ]
    );
}

#[test]
fn p4_a_hostile_rule_is_cut_at_its_cap_and_marked() {
    // Hourly with a duration of one second: dense but allowed, so the
    // per-series cap stops it.
    let text = calendar(&["UID:hostile
        DTSTART:20261201T000000Z
        DURATION:PT1S
        RRULE:FREQ=HOURLY"]);
    let limits = Limits {
        per_series: 100,
        per_calendar: 5_000,
        ..Limits::default()
    };
    let found = limited(&text, limits);
    assert_eq!(found.events.len(), 100);
    assert_eq!(found.degraded.series_cut, 1);
}

#[test]
fn p4_rules_too_dense_to_expand_are_dropped_and_marked() {
    // Per second, and a yearly rule whose BY lists would make 31 x 24 x 60
    // x 60 occurrences in its first year before any cap could see them:
    // neither is expanded; each series keeps its first occurrence only.
    let every = |n: u32| (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
    let yearly = format!(
        "UID:bomb
        DTSTART:20261201T000000Z
        DURATION:PT1S
        RRULE:FREQ=YEARLY;BYMONTHDAY={};BYHOUR={};BYMINUTE={};BYSECOND={}",
        (1..=31)
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(","),
        every(24),
        every(60),
        every(60)
    );
    let text = calendar(&[
        "UID:seconds
        DTSTART:20261201T000000Z
        DURATION:PT1S
        RRULE:FREQ=SECONDLY",
        &yearly,
    ]);
    let started = std::time::Instant::now();
    let found = expand_in(&text, december(), "UTC", SyncMode::BusyOnly);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(
        spans(&found),
        [
            "2026-12-01T00:00:00Z/2026-12-01T00:00:01Z",
            "2026-12-01T00:00:00Z/2026-12-01T00:00:01Z",
        ]
    );
    assert_eq!(found.degraded.series_cut, 2);
}

#[test]
fn p4_an_event_with_too_many_dates_keeps_the_first_and_is_marked() {
    let dates: Vec<String> = (0..3_000)
        .map(|i| {
            format!(
                "RDATE:202612{:02}T{:02}{:02}00Z",
                1 + i / 1440 % 28,
                i / 60 % 24,
                i % 60
            )
        })
        .collect();
    let event = format!(
        "UID:dates
        DTSTART:20261201T000000Z
        DURATION:PT1M
        {}",
        dates.join("\n")
    );
    let found = expand_in(&calendar(&[&event]), december(), "UTC", SyncMode::BusyOnly);
    assert!(found.events.len() <= 1_001, "{}", found.events.len());
    assert!(found.events.len() > 900, "{}", found.events.len());
    assert_eq!(found.degraded.series_cut, 1);
}

#[test]
fn p4_the_calendar_cap_bounds_many_series_together() {
    let series: Vec<String> = (0..20)
        .map(|i| {
            format!(
                "UID:s{i}
                DTSTART:20261201T{i:02}0000Z
                DURATION:PT1S
                RRULE:FREQ=HOURLY"
            )
        })
        .collect();
    let refs: Vec<&str> = series.iter().map(String::as_str).collect();
    let text = calendar(&refs);
    let limits = Limits {
        per_series: 500,
        per_calendar: 2_000,
        ..Limits::default()
    };
    let found = limited(&text, limits);
    assert!(found.events.len() <= 2_000, "{}", found.events.len());
    assert!(found.degraded.calendar_cut);
}

#[test]
fn p4_the_series_cap_bounds_many_small_events() {
    let series: Vec<String> = (0..50)
        .map(|i| format!("UID:one-{i}\nDTSTART:20261202T100000Z\nDURATION:PT1H"))
        .collect();
    let refs: Vec<&str> = series.iter().map(String::as_str).collect();
    let limits = Limits {
        max_series: 10,
        ..Limits::default()
    };
    let found = limited(&calendar(&refs), limits);
    assert_eq!(found.events.len(), 10);
    assert!(found.degraded.calendar_cut);
}

#[test]
fn p4_text_that_is_no_calendar_is_refused_and_broken_lines_are_counted() {
    let refused = ical::expand(
        "<html>not a calendar</html>",
        december(),
        &TimeZone::utc(),
        SyncMode::BusyOnly,
        Limits::default(),
    );
    assert_eq!(refused, Err(NotICalendar));
    let text = format!(
        "this line is not iCalendar\r\n{}",
        calendar(&["UID:ok
            DTSTART:20261208T090000Z
            DTEND:20261208T100000Z"])
    );
    let found = expand_in(&text, december(), "UTC", SyncMode::BusyOnly);
    assert_eq!(spans(&found), ["2026-12-08T09:00:00Z/2026-12-08T10:00:00Z"]);
    assert_eq!(found.degraded.unreadable, 1);
}

#[test]
fn p4_nothing_but_start_end_all_day_and_subject_comes_out() {
    let text = calendar(&["UID:MARKER-UID-7f3a@example.com
        DTSTART:20261208T090000Z
        DTEND:20261208T100000Z
        SUMMARY:Dentist
        DESCRIPTION:MARKER-DESCRIPTION-91c2
        LOCATION:MARKER-LOCATION-55de
        ORGANIZER;CN=MARKER-ORGANIZER-0b17:mailto:organizer@example.com
        ATTENDEE;CN=MARKER-ATTENDEE-c4e9:mailto:attendee@example.com
        URL:https://example.com/MARKER-URL-13aa
        ATTACH:https://example.com/MARKER-ATTACH-e2f0"]);
    for mode in [SyncMode::BusyOnly, SyncMode::WithSubject] {
        let found = expand_in(&text, december(), "UTC", mode);
        assert_eq!(found.events.len(), 1);
        let subject = found.events[0].busy.subject();
        match mode {
            SyncMode::BusyOnly => assert_eq!(subject, None),
            SyncMode::WithSubject => assert_eq!(subject, Some("Dentist")),
        }
        // The key is a digest of the UID and the occurrence, stable
        // across syncs.
        assert_eq!(
            found.events[0].key,
            ical::EventKey::new(
                "MARKER-UID-7f3a@example.com",
                crate::support::ts("2026-12-08T09:00:00Z")
            )
        );
    }
}

#[test]
fn p4_an_open_ended_series_from_years_ago_is_expanded_whole_and_not_cut() {
    // A weekly meeting since 2019 with no end, and a daily one since 2021:
    // what lies in the window comes out, and neither counts as cut.
    let text = calendar(&[
        "UID:weekly-forever
        DTSTART;TZID=Europe/Berlin:20190107T090000
        DTEND;TZID=Europe/Berlin:20190107T100000
        RRULE:FREQ=WEEKLY;BYDAY=MO",
        "UID:daily-forever
        DTSTART;VALUE=DATE:20210101
        DTEND;VALUE=DATE:20210102
        RRULE:FREQ=DAILY",
    ]);
    let window = range("2026-12-07T00:00:00Z", "2026-12-09T00:00:00Z");
    let limits = Limits {
        per_series: 5_000,
        per_calendar: 10_000,
        ..Limits::default()
    };
    let found = ical::expand(
        &text,
        window,
        &TimeZone::parse("Europe/Berlin").unwrap(),
        SyncMode::BusyOnly,
        limits,
    )
    .unwrap();
    assert_eq!(
        spans(&found),
        [
            // 7 December in Berlin, which began at 23:00Z on the 6th.
            "2026-12-06T23:00:00Z/2026-12-07T23:00:00Z",
            "2026-12-07T08:00:00Z/2026-12-07T09:00:00Z",
            "2026-12-07T23:00:00Z/2026-12-08T23:00:00Z",
            "2026-12-08T23:00:00Z/2026-12-09T23:00:00Z",
        ]
    );
    assert!(!found.degraded.any(), "{:?}", found.degraded);
}
