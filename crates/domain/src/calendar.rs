//! External calendars: which provider a staff member connected, how much
//! of it may be imported, and the busy time imported from it (P4, P5).
//!
//! Only subject, start, end and the all-day flag are ever kept; in
//! busy-only mode not even the subject.

use jiff::{SignedDuration, Timestamp};

use crate::id::StaffId;
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

named_enum!(
    /// A connection's health as its owner and the booking page see it.
    Health, "calendar health", {
        /// Synced recently; its busy time can be trusted.
        Healthy => "healthy",
        /// No good sync for longer than [`STALE_AFTER`]: the busy time may
        /// be out of date.
        Stale => "stale",
        /// Several syncs in a row failed; retrying with backoff.
        Failing => "failing",
        /// The provider refused the credentials: nothing syncs until the
        /// staff member reconnects.
        Revoked => "revoked",
    }
);

named_enum!(
    /// What the booking page does with a staff member whose calendar is
    /// not [`Health::Healthy`]: a tenant's choice.
    #[derive(Default)]
    FailPolicy, "fail policy", {
        /// Offer none of their times (the default: a stale calendar must
        /// not cause a double booking).
        #[default]
        Hide => "hide",
        /// Offer their times, with a warning naming the source's health.
        Warn => "warn",
    }
);

impl FailPolicy {
    /// Whether a staff member with a calendar in `health` is left out of
    /// public slots.
    pub fn withholds(self, health: Health) -> bool {
        self == Self::Hide && health != Health::Healthy
    }
}

impl Health {
    /// How bad it is: healthy, stale, failing, revoked.
    fn rank(self) -> u8 {
        match self {
            Self::Healthy => 0,
            Self::Stale => 1,
            Self::Failing => 2,
            Self::Revoked => 3,
        }
    }
}

/// What a slot listing says about one staff member's calendars.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SourceNotice {
    /// Whose calendars.
    pub staff: StaffId,
    /// The worst health among them.
    pub health: Health,
    /// Whether the staff member's times are left out under the tenant's
    /// fail policy.
    pub withheld: bool,
}

/// The notices for a listing that needs busy time up to `until`: one per
/// staff member any of whose connections (`states`) is not healthy, in
/// the order first seen.
pub fn source_notices(
    states: &[(StaffId, SyncState)],
    policy: FailPolicy,
    now: Timestamp,
    until: Timestamp,
) -> Vec<SourceNotice> {
    let mut notices: Vec<SourceNotice> = Vec::new();
    for (staff, state) in states {
        let health = state.health_until(now, until);
        if health == Health::Healthy {
            continue;
        }
        match notices.iter_mut().find(|n| n.staff == *staff) {
            Some(notice) if health.rank() > notice.health.rank() => notice.health = health,
            Some(_) => {}
            None => notices.push(SourceNotice {
                staff: *staff,
                health,
                withheld: false,
            }),
        }
    }
    for notice in &mut notices {
        notice.withheld = policy.withholds(notice.health);
    }
    notices
}

/// Busy time older than this since its last good sync is [`Health::Stale`].
pub const STALE_AFTER: SignedDuration = SignedDuration::from_hours(2);

/// Failed syncs in a row before a connection shows [`Health::Failing`];
/// fewer are passing trouble, retried soon, with the kept busy time still
/// in force.
pub const FAILURES_BEFORE_FAILING: u32 = 3;

/// Failed syncs in a row after which automatic retries stop (the
/// connection stays failing until someone syncs it by hand or
/// reconnects): nothing retries forever.
pub const MAX_AUTOMATIC_RETRIES: u32 = 12;

/// How often a healthy connection is synced.
pub const SYNC_INTERVAL: SignedDuration = SignedDuration::from_mins(15);

/// The longest wait between two automatic attempts.
const MAX_BACKOFF: SignedDuration = SignedDuration::from_hours(6);

/// Where a connection's syncing stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SyncState {
    /// The stored status.
    pub status: ConnectionStatus,
    /// Failed syncs since the last good one.
    pub failures: u32,
    /// The last good sync.
    pub last_good: Option<Timestamp>,
    /// The end of the window the kept busy time was imported over.
    pub synced_until: Option<Timestamp>,
}

impl SyncState {
    /// Its health at `now`: revoked, failing after
    /// [`FAILURES_BEFORE_FAILING`] failures, stale when the last good sync
    /// is older than [`STALE_AFTER`] (or there was none), else healthy.
    pub fn health(&self, now: Timestamp) -> Health {
        if self.status == ConnectionStatus::Revoked {
            return Health::Revoked;
        }
        if self.failures >= FAILURES_BEFORE_FAILING {
            return Health::Failing;
        }
        let fresh = self
            .last_good
            .is_some_and(|at| now.duration_since(at) <= STALE_AFTER);
        if fresh {
            Health::Healthy
        } else {
            Health::Stale
        }
    }

    /// Its health for busy time needed up to `until`: as
    /// [`SyncState::health`], but a healthy calendar whose import stops
    /// before `until` is [`Health::Stale`] for it (nothing is known of the
    /// time beyond).
    pub fn health_until(&self, now: Timestamp, until: Timestamp) -> Health {
        match self.health(now) {
            Health::Healthy if self.synced_until.is_none_or(|end| end < until) => Health::Stale,
            other => other,
        }
    }

    /// When to try next after this state was reached at `now`: after
    /// [`SYNC_INTERVAL`] when the last attempt worked, else after a backoff
    /// that doubles from one minute up to six hours (never sooner than the
    /// provider's `retry_after`), each stretched by `jitter` (0 to 255
    /// adds 0 to 25%) so many connections do not retry in step. `None`
    /// when nothing should retry automatically: revoked, or
    /// [`MAX_AUTOMATIC_RETRIES`] reached.
    pub fn next_attempt(
        &self,
        now: Timestamp,
        retry_after: Option<SignedDuration>,
        jitter: u8,
    ) -> Option<Timestamp> {
        if self.status == ConnectionStatus::Revoked || self.failures >= MAX_AUTOMATIC_RETRIES {
            return None;
        }
        let wait = if self.failures == 0 {
            SYNC_INTERVAL
        } else {
            let doubled = SignedDuration::from_mins(1)
                .checked_mul(1_i32 << self.failures.saturating_sub(1).min(16))
                .unwrap_or(MAX_BACKOFF);
            doubled
                .min(MAX_BACKOFF)
                .max(retry_after.unwrap_or(SignedDuration::ZERO).min(MAX_BACKOFF))
        };
        let stretch = wait
            .checked_mul(i32::from(jitter))
            .and_then(|w| w.checked_div(1020))
            .unwrap_or(SignedDuration::ZERO);
        now.checked_add(wait.saturating_add(stretch)).ok()
    }
}

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
