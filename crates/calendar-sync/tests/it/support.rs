//! Building calendars and reading results.

use bookwarden_calendar_sync::ical::{self, Expansion, Limits};
use bookwarden_domain::calendar::SyncMode;
use bookwarden_domain::jiff::Timestamp;
use bookwarden_domain::time::{TimeRange, TimeZone};

pub(crate) fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

pub(crate) fn range(from: &str, to: &str) -> TimeRange {
    TimeRange::new(ts(from), ts(to)).unwrap()
}

/// A calendar of `events`, each the lines between BEGIN:VEVENT and
/// END:VEVENT, with CRLF line ends.
pub(crate) fn calendar(events: &[&str]) -> String {
    let mut text = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Tests//EN\r\n");
    for event in events {
        text.push_str("BEGIN:VEVENT\r\n");
        for line in event.lines().map(str::trim).filter(|l| !l.is_empty()) {
            text.push_str(line);
            text.push_str("\r\n");
        }
        text.push_str("END:VEVENT\r\n");
    }
    text.push_str("END:VCALENDAR\r\n");
    text
}

pub(crate) fn expand_in(text: &str, window: TimeRange, zone: &str, mode: SyncMode) -> Expansion {
    ical::expand(
        text,
        window,
        &TimeZone::parse(zone).unwrap(),
        mode,
        Limits::default(),
    )
    .unwrap()
}

/// Each event as `start/end` in UTC.
pub(crate) fn spans(expansion: &Expansion) -> Vec<String> {
    expansion
        .events
        .iter()
        .map(|e| format!("{}/{}", e.busy.range().start(), e.busy.range().end()))
        .collect()
}
