//! External calendars: which provider a staff member connected, how much
//! of it may be imported, and the busy time imported from it (P4, P5).
//!
//! Only subject, start, end and the all-day flag are ever kept; in
//! busy-only mode not even the subject.

use crate::text;
use crate::time::TimeRange;

macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident, $error:literal, { $($(#[$vdoc:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// Parses the stable name.
            pub fn parse(input: &str) -> Result<Self, UnknownName> {
                match input {
                    $($text => Ok(Self::$variant),)*
                    _ => Err(UnknownName($error)),
                }
            }

            /// The stable name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }
        }
    };
}

/// A name that is not one of the expected values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {0}")]
pub struct UnknownName(&'static str);

named_enum!(
    /// Where a calendar lives.
    Provider, "calendar provider", {
        /// Google Calendar, by OAuth 2.0.
        Google => "google",
        /// Microsoft 365 / Outlook, by OAuth 2.0 and Graph.
        Microsoft => "microsoft",
        /// A CalDAV server such as iCloud, with an app-specific password.
        CalDav => "caldav",
        /// A read-only iCalendar feed URL.
        Ics => "ics",
    }
);

named_enum!(
    /// How much of a calendar is imported.
    SyncMode, "sync mode", {
        /// Start, end and all-day only.
        BusyOnly => "busy_only",
        /// Also the event's subject, shown only to the tenant's staff.
        WithSubject => "with_subject",
    }
);

named_enum!(
    /// Whether a connection is syncing, as shown to the owner.
    ConnectionStatus, "connection status", {
        /// The last sync worked.
        Healthy => "healthy",
        /// Recent syncs failed; retrying with backoff.
        Failing => "failing",
        /// The provider refused our token; the staff member must reconnect.
        Revoked => "revoked",
    }
);

/// Longest subject kept, in characters; longer ones are cut.
pub const MAX_SUBJECT_CHARS: usize = 200;

/// Busy time imported from an external calendar.
#[derive(Clone, PartialEq, Eq)]
pub struct ImportedBusy {
    subject: Option<String>,
    range: TimeRange,
    all_day: bool,
}

impl ImportedBusy {
    /// Keeps only what `mode` allows: no subject in busy-only mode; a
    /// subject is made one line and cut to [`MAX_SUBJECT_CHARS`].
    pub fn new(subject: Option<&str>, range: TimeRange, all_day: bool, mode: SyncMode) -> Self {
        let subject = match mode {
            SyncMode::BusyOnly => None,
            SyncMode::WithSubject => subject.and_then(|s| {
                let one_line: String = s
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .take(MAX_SUBJECT_CHARS)
                    .collect();
                text::single_line(&one_line, MAX_SUBJECT_CHARS).ok()
            }),
        };
        Self {
            subject,
            range,
            all_day,
        }
    }

    /// The subject, if kept.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }
    /// When.
    pub fn range(&self) -> TimeRange {
        self.range
    }
    /// Whether it is an all-day event.
    pub fn all_day(&self) -> bool {
        self.all_day
    }
}

impl std::fmt::Debug for ImportedBusy {
    // A subject can be private ("Doctor: ..."): keep it out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportedBusy")
            .field("range", &self.range)
            .field("all_day", &self.all_day)
            .field("subject", &self.subject.as_ref().map(|_| ".."))
            .finish()
    }
}
