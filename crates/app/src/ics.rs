//! The `.ics` of a booking (RFC 5545): one VEVENT with a UID that stays the
//! same for the booking's whole life, times in UTC (correct in every
//! calendar without a VTIMEZONE), text escaped and lines folded at 75
//! octets.

use bookwarden_domain::booking::Stage;
use bookwarden_domain::jiff::Timestamp;
use bookwarden_domain::service::Service;
use bookwarden_domain::tenant::Tenant;

use crate::bookings::BookingView;

/// `YYYYMMDDTHHMMSSZ`.
fn utc(t: Timestamp) -> String {
    t.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// TEXT escaping (RFC 5545 3.3.11).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Folds a content line at 75 octets without splitting a character.
fn fold(line: &str, out: &mut String) {
    let mut width = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
}

/// The lines that open a calendar file.
const CALENDAR_START: [&str; 5] = [
    "BEGIN:VCALENDAR",
    "VERSION:2.0",
    "PRODID:-//Bookwarden//Bookings//EN",
    "CALSCALE:GREGORIAN",
    // PUBLISH: the file is a snapshot for the customer's calendar, not an
    // iTIP request (which would need an organizer and attendees).
    "METHOD:PUBLISH",
];

/// The line that closes a calendar file.
const CALENDAR_END: &str = "END:VCALENDAR";

/// The opening of a calendar file of several events.
pub(crate) fn calendar_start() -> String {
    let mut out = String::new();
    for line in CALENDAR_START {
        fold(line, &mut out);
    }
    out
}

/// The close of a calendar file.
pub(crate) fn calendar_end() -> String {
    let mut out = String::new();
    fold(CALENDAR_END, &mut out);
    out
}

/// One VEVENT of `booking`, titled `summary`.
pub(crate) fn vevent(booking: &BookingView, summary: &str, now: Timestamp) -> String {
    let (status, cancelled) = match booking.stage {
        Stage::Cancelled(..) => ("CANCELLED", 1),
        Stage::Requested => ("TENTATIVE", 0),
        Stage::Confirmed(_) => ("CONFIRMED", 0),
    };
    let lines = [
        "BEGIN:VEVENT".to_owned(),
        format!("UID:{}@bookwarden", booking.id),
        format!("DTSTAMP:{}", utc(now)),
        format!("DTSTART:{}", utc(booking.range.start())),
        format!("DTEND:{}", utc(booking.range.end())),
        // Each move, and a cancellation, supersedes the previous file.
        format!("SEQUENCE:{}", booking.reschedules.saturating_add(cancelled)),
        format!("SUMMARY:{}", escape(summary)),
        format!("STATUS:{status}"),
        "END:VEVENT".to_owned(),
    ];
    let mut out = String::new();
    for line in &lines {
        fold(line, &mut out);
    }
    out
}

/// The title of a booking's event: the service at the business.
pub(crate) fn summary(service: &Service, tenant: &Tenant) -> String {
    format!("{} — {}", service.name().as_str(), tenant.name().as_str())
}

/// The calendar file of `booking`.
pub(crate) fn event(
    booking: &BookingView,
    service: &Service,
    tenant: &Tenant,
    now: Timestamp,
) -> String {
    let mut out = calendar_start();
    out.push_str(&vevent(booking, &summary(service, tenant), now));
    out.push_str(&calendar_end());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_long_lines_fold_on_character_boundaries() {
        assert_eq!(escape("a;b,c\\d\ne"), "a\\;b\\,c\\\\d\\ne");
        let mut out = String::new();
        let long = format!("SUMMARY:{}", "é".repeat(60));
        fold(&long, &mut out);
        for line in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(line.len() <= 75, "{} octets", line.len());
        }
        let unfolded = out.replace("\r\n ", "");
        assert_eq!(unfolded.trim_end(), long);
    }
}
