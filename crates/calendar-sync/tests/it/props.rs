//! Any generated calendar expands to busy time inside the window, within
//! the caps, holding nothing but start, end, all-day and (when allowed)
//! the subject (P4).

use bookwarden_calendar_sync::ical::{self, Limits};
use bookwarden_domain::calendar::SyncMode;
use bookwarden_domain::time::TimeZone;
use proptest::prelude::*;

use crate::support::{calendar, range};

const ZONES: &[&str] = &[
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
];

#[derive(Debug, Clone)]
struct Event {
    zone: usize,
    day: u32,
    hour: u32,
    minutes: u32,
    all_day: bool,
    rule: Option<(&'static str, u32, Option<u32>)>,
    exdate_step: Option<u32>,
    transparent: bool,
    marker: u32,
}

fn event() -> impl Strategy<Value = Event> {
    (
        0..ZONES.len(),
        1u32..28,
        0u32..24,
        prop_oneof![Just(0u32), 15u32..600],
        any::<bool>(),
        proptest::option::of((
            prop_oneof![
                Just("SECONDLY"),
                Just("MINUTELY"),
                Just("HOURLY"),
                Just("DAILY"),
                Just("WEEKLY"),
                Just("MONTHLY"),
            ],
            1u32..5,
            proptest::option::of(1u32..400),
        )),
        proptest::option::of(1u32..5),
        any::<bool>(),
        any::<u32>(),
    )
        .prop_map(
            |(zone, day, hour, minutes, all_day, rule, exdate_step, transparent, marker)| Event {
                zone,
                day,
                hour,
                minutes,
                all_day,
                rule,
                exdate_step,
                transparent,
                marker,
            },
        )
}

fn render(index: usize, e: &Event) -> String {
    let zone = ZONES[e.zone];
    let mut lines = vec![format!("UID:series-{index}")];
    if e.all_day {
        lines.push(format!("DTSTART;VALUE=DATE:202612{:02}", e.day));
        lines.push(format!("DTEND;VALUE=DATE:202612{:02}", e.day + 1));
    } else {
        lines.push(format!(
            "DTSTART;TZID={zone}:202612{:02}T{:02}0000",
            e.day, e.hour
        ));
        lines.push(format!("DURATION:PT{}M", e.minutes));
    }
    if let Some((freq, interval, count)) = e.rule {
        let count = count.map(|c| format!(";COUNT={c}")).unwrap_or_default();
        lines.push(format!("RRULE:FREQ={freq};INTERVAL={interval}{count}"));
        if let (Some(step), false) = (e.exdate_step, e.all_day) {
            lines.push(format!(
                "EXDATE;TZID={zone}:202612{:02}T{:02}0000",
                (e.day + step).min(28),
                e.hour
            ));
        }
    }
    if e.transparent {
        lines.push("TRANSP:TRANSPARENT".to_owned());
    }
    lines.push(format!("SUMMARY:Subject {}", e.marker));
    lines.push(format!("DESCRIPTION:MARKER-DESCRIPTION-{}", e.marker));
    lines.push(format!("LOCATION:MARKER-LOCATION-{}", e.marker));
    lines.push(format!(
        "ATTENDEE;CN=MARKER-ATTENDEE-{}:mailto:a{}@example.com",
        e.marker, e.marker
    ));
    lines.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn p4_generated_calendars_expand_inside_the_window_and_the_caps(
        events in proptest::collection::vec(event(), 1..12),
        staff in 0..ZONES.len(),
        subjects in any::<bool>(),
    ) {
        let rendered: Vec<String> = events.iter().enumerate().map(|(i, e)| render(i, e)).collect();
        let refs: Vec<&str> = rendered.iter().map(String::as_str).collect();
        let text = calendar(&refs);
        let window = range("2026-12-05T00:00:00Z", "2026-12-20T00:00:00Z");
        let limits = Limits { per_series: 300, per_calendar: 1_500, ..Limits::default() };
        let mode = if subjects { SyncMode::WithSubject } else { SyncMode::BusyOnly };
        let zone = TimeZone::parse(ZONES[staff]).unwrap();
        let found = ical::expand(&text, window, &zone, mode, limits).unwrap();
        prop_assert!(found.events.len() <= limits.per_calendar);
        for imported in &found.events {
            let busy = &imported.busy;
            prop_assert!(busy.range().overlaps(&window), "{:?} outside the window", busy);
            match mode {
                SyncMode::BusyOnly => prop_assert_eq!(busy.subject(), None),
                SyncMode::WithSubject => prop_assert!(
                    busy.subject().is_some_and(|s| s.starts_with("Subject ")),
                    "subject {:?}", busy.subject()
                ),
            }
        }
        // Transparent series never block anything.
        if events.iter().all(|e| e.transparent) {
            prop_assert!(found.events.is_empty());
        }
    }
}
