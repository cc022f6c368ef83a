//! Parsing and expanding a large calendar against a bare parse of the same
//! bytes by the iCalendar crate alone.
//!
//! The calendar: 5,000 events, 500 of them recurring series (daily,
//! weekly, monthly; some with exceptions and moved occurrences), across a
//! year in several zones, with descriptions and attendees as real
//! calendars carry them. `expand` is what a sync does (parse, split into
//! series, correct, expand, keep start/end/all-day over a 90-day window);
//! `bare_parse` only walks calcard's parser over the text. `cargo xtask
//! bench` reports the ratio (goal: within 3x).

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs,
    reason = "benchmark set-up fails loudly; criterion macros make undocumented items"
)]

use std::fmt::Write as _;
use std::hint::black_box;

use bookwarden_calendar_sync::ical::{self, Limits};
use bookwarden_domain::calendar::SyncMode;
use bookwarden_domain::time::{TimeRange, TimeZone};
use calcard::{Entry, Parser};
use criterion::{Criterion, criterion_group, criterion_main};

const ZONES: [&str; 4] = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC"];

fn calendar(events: usize, series: usize) -> String {
    let mut text = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Bench//EN\r\n");
    for i in 0..events {
        let zone = ZONES[i % ZONES.len()];
        let month = 1 + (i / 28) % 12;
        let day = 1 + i % 28;
        let hour = 7 + i % 11;
        text.push_str("BEGIN:VEVENT\r\n");
        write!(text, "UID:event-{i}@bench.example\r\n").unwrap();
        write!(text, "DTSTAMP:20260101T000000Z\r\n").unwrap();
        write!(
            text,
            "DTSTART;TZID={zone}:2026{month:02}{day:02}T{hour:02}0000\r\n"
        )
        .unwrap();
        write!(
            text,
            "DTEND;TZID={zone}:2026{month:02}{day:02}T{hour:02}4500\r\n"
        )
        .unwrap();
        if i < series {
            let rule = match i % 3 {
                0 => "FREQ=DAILY;COUNT=200",
                1 => "FREQ=WEEKLY;BYDAY=MO,WE,FR",
                _ => "FREQ=MONTHLY;BYMONTHDAY=1,15",
            };
            write!(text, "RRULE:{rule}\r\n").unwrap();
            if i % 5 == 0 {
                write!(
                    text,
                    "EXDATE;TZID={zone}:2026{month:02}{day:02}T{hour:02}0000\r\n"
                )
                .unwrap();
            }
        }
        write!(text, "SUMMARY:Appointment {i}\r\n").unwrap();
        write!(
            text,
            "DESCRIPTION:Notes for meeting {i}\\, with the agenda and a dial-in number that\r\n  runs on to a second folded line\r\n"
        )
        .unwrap();
        write!(text, "LOCATION:Room {}\r\n", i % 40).unwrap();
        write!(text, "ATTENDEE;CN=Person {i}:mailto:p{i}@bench.example\r\n").unwrap();
        text.push_str("END:VEVENT\r\n");
        if i < series && i % 7 == 0 {
            // A moved occurrence of the series: its second one, an hour later.
            text.push_str("BEGIN:VEVENT\r\n");
            write!(text, "UID:event-{i}@bench.example\r\n").unwrap();
            write!(text, "SEQUENCE:1\r\n").unwrap();
            write!(
                text,
                "RECURRENCE-ID;TZID={zone}:2026{month:02}{day:02}T{hour:02}0000\r\n"
            )
            .unwrap();
            write!(
                text,
                "DTSTART;TZID={zone}:2026{month:02}{day:02}T{:02}0000\r\n",
                hour + 1
            )
            .unwrap();
            write!(
                text,
                "DTEND;TZID={zone}:2026{month:02}{day:02}T{:02}4500\r\n",
                hour + 1
            )
            .unwrap();
            text.push_str("END:VEVENT\r\n");
        }
    }
    text.push_str("END:VCALENDAR\r\n");
    text
}

fn bare_parse(text: &str) -> usize {
    let mut parser = Parser::new(text);
    let mut components = 0;
    loop {
        match parser.entry() {
            Entry::ICalendar(calendar) => components += calendar.components.len(),
            Entry::Eof => return components,
            _ => {}
        }
    }
}

fn bench(c: &mut Criterion) {
    let text = calendar(5_000, 500);
    // 90 days from 1 March 2026.
    let window = TimeRange::new(
        "2026-03-01T00:00:00Z".parse().unwrap(),
        "2026-05-30T00:00:00Z".parse().unwrap(),
    )
    .unwrap();
    let zone = TimeZone::parse("Europe/Berlin").unwrap();
    // Worth timing only if it does the work: events found, nothing cut.
    let found = ical::expand(&text, window, &zone, SyncMode::BusyOnly, Limits::default()).unwrap();
    assert!(
        found.events.len() > 5_000,
        "{} {:?}",
        found.events.len(),
        found.degraded
    );
    assert!(!found.degraded.any(), "{:?}", found.degraded);
    assert!(bare_parse(&text) > 5_000);

    let mut group = c.benchmark_group("ical");
    group.sample_size(10);
    group.bench_function("bare_parse_5000_events", |b| {
        b.iter(|| bare_parse(black_box(&text)))
    });
    group.bench_function("expand_5000_events_500_series_90_days", |b| {
        b.iter(|| {
            ical::expand(
                black_box(&text),
                window,
                &zone,
                SyncMode::BusyOnly,
                Limits::default(),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
