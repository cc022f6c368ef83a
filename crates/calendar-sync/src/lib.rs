//! Bookwarden's calendar sync: staff calendars in, busy time out, and
//! nothing else (P4, P5).
//!
//! Given a source, its credentials and a window, the crate yields the
//! domain's [`ImportedBusy`] values (start, end, all-day and, only when the
//! connection imports subjects, the subject) keyed by occurrence, or a
//! typed [`SyncError`]. It knows no database and no HTTP server: another
//! Rust service can embed it on its own.
//!
//! - [`ical`]: iCalendar text to busy time, recurrences expanded here
//!   (never by a server), bounded per series and per calendar; a source
//!   that hit a bound is marked [`ical::Degraded`], not silently cut.
//! - [`feed`]: a read-only iCalendar feed URL, fetched conditionally.
//! - [`caldav`]: CalDAV accounts (iCloud, any RFC 4791 server): discovery
//!   and the events of every calendar in the window.
//! - [`oauth`]: OAuth 2.0 with PKCE for the providers that need it:
//!   authorization, code exchange, refresh and revocation.
//! - [`google`] and [`microsoft`]: Google Calendar and Microsoft Graph,
//!   asking only for the fields that may be kept, with incremental syncs
//!   ([`api::ApiSync`]).
//! - [`outbound`]: the one HTTP client every request goes through, which
//!   refuses URLs that point into private networks (SSRF).
//!
//! # Runtime
//!
//! Fetching is async and needs a Tokio runtime with I/O and time drivers;
//! [`ical::expand`] is plain synchronous code.
//!
//! # Example
//!
//! ```
//! use bookwarden_calendar_sync::ical::{self, Limits};
//! use bookwarden_domain::calendar::SyncMode;
//! use bookwarden_domain::time::{TimeRange, TimeZone};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:standup\r\n\
//!             DTSTART;TZID=Europe/Berlin:20261207T093000\r\nDURATION:PT15M\r\n\
//!             RRULE:FREQ=DAILY;COUNT=3\r\nSUMMARY:Stand-up\r\n\
//!             DESCRIPTION:Dial-in 555-0100, code 4242\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
//! let window = TimeRange::new("2026-12-07T00:00:00Z".parse()?, "2026-12-14T00:00:00Z".parse()?)?;
//! let berlin = TimeZone::parse("Europe/Berlin")?;
//! let found = ical::expand(text, window, &berlin, SyncMode::BusyOnly, Limits::default())?;
//! let starts: Vec<String> = found.events.iter().map(|e| e.busy.range().start().to_string()).collect();
//! assert_eq!(starts, ["2026-12-07T08:30:00Z", "2026-12-08T08:30:00Z", "2026-12-09T08:30:00Z"]);
//! // Busy-only: not even the subject is kept, and the description never was.
//! assert!(found.events.iter().all(|e| e.busy.subject().is_none()));
//! # Ok(())
//! # }
//! ```

pub mod api;
mod background;
pub mod caldav;
pub mod error;
pub mod feed;
pub mod google;
pub mod ical;
pub mod microsoft;
pub mod oauth;
pub mod outbound;

use bookwarden_domain::calendar::SyncMode;
use bookwarden_domain::time::{TimeRange, TimeZone};

pub use bookwarden_domain::calendar::ImportedBusy;
pub use error::SyncError;

/// Expands calendar texts off the async runtime, as background work (see
/// the `background` module): CPU work bounded by [`ical::Limits`].
/// `None` for a text that holds no calendar; counted as unreadable.
///
/// # Errors
/// [`SyncError::Malformed`] when no text holds a calendar.
pub(crate) async fn expand_off_runtime(
    texts: Vec<String>,
    scope: &Scope<'_>,
) -> Result<ical::Expansion, SyncError> {
    let (window, zone, mode, limits) = (scope.window, scope.zone.clone(), scope.mode, scope.limits);
    let expanded = background::run("calendar-expand", move || {
        let mut expander = ical::Expander::new(window, &zone, mode, limits);
        let mut any = texts.is_empty();
        let mut unreadable = 0usize;
        for text in &texts {
            match expander.add(text) {
                Ok(()) => any = true,
                Err(ical::NotICalendar) => unreadable = unreadable.saturating_add(1),
            }
        }
        let mut expansion = expander.finish();
        expansion.degraded.unreadable = expansion.degraded.unreadable.saturating_add(unreadable);
        any.then_some(expansion)
    })
    .await
    .ok_or(SyncError::Malformed("the calendar could not be expanded"))?;
    expanded.ok_or(SyncError::Malformed("the answer holds no calendar"))
}

/// What one sync asks for: the window to import, the staff member's zone
/// (for floating times and all-day dates), how much to keep, and the
/// expansion bounds.
#[derive(Clone, Copy, Debug)]
pub struct Scope<'a> {
    /// Busy time overlapping this range is imported.
    pub window: TimeRange,
    /// The staff member's zone.
    pub zone: &'a TimeZone,
    /// Whether subjects are kept.
    pub mode: SyncMode,
    /// Expansion bounds.
    pub limits: ical::Limits,
}
