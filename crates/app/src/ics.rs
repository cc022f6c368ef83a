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

/// The calendar file of `booking`.
pub(crate) fn event(
    booking: &BookingView,
    service: &Service,
    tenant: &Tenant,
    now: Timestamp,
) -> String {
    let (status, cancelled) = match booking.stage {
        Stage::Cancelled(..) => ("CANCELLED", 1),
        Stage::Requested => ("TENTATIVE", 0),
        Stage::Confirmed(_) => ("CONFIRMED", 0),
    };
    let lines = [
        "BEGIN:VCALENDAR".to_owned(),
        "VERSION:2.0".to_owned(),
        "PRODID:-//Bookwarden//Bookings//EN".to_owned(),
        "CALSCALE:GREGORIAN".to_owned(),
        // PUBLISH: the file is a snapshot for the customer's calendar, not an
        // iTIP request (which would need an organizer and attendees).
        "METHOD:PUBLISH".to_owned(),
        "BEGIN:VEVENT".to_owned(),
        format!("UID:{}@bookwarden", booking.id),
        format!("DTSTAMP:{}", utc(now)),
        format!("DTSTART:{}", utc(booking.range.start())),
        format!("DTEND:{}", utc(booking.range.end())),
        // Each move, and a cancellation, supersedes the previous file.
        format!("SEQUENCE:{}", booking.reschedules.saturating_add(cancelled)),
        format!(
            "SUMMARY:{}",
            escape(&format!(
                "{} — {}",
                service.name().as_str(),
                tenant.name().as_str()
            ))
        ),
        format!("STATUS:{status}"),
        "END:VEVENT".to_owned(),
        "END:VCALENDAR".to_owned(),
    ];
    let mut out = String::new();
    for line in &lines {
        fold(line, &mut out);
    }
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
