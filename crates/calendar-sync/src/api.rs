//! What the JSON calendar APIs (Google, Microsoft) share: their answer
//! as changes to the kept busy time, instants read from their formats,
//! and the bearer-token request on the guarded client.

use bookwarden_crypto::SecretString;
use bookwarden_domain::jiff::Timestamp;
use bookwarden_domain::jiff::civil::Date;
use bookwarden_domain::time::{TimeRange, TimeZone};
use reqwest::header::{AUTHORIZATION, HeaderName};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;

use crate::ImportedBusy;
use crate::Scope;
use crate::error::SyncError;
use crate::ical::{Degraded, EventKey, Expansion, Imported};
use crate::outbound::{FetchError, Fetched, Outbound};

/// Pages of one sync read at most; more are cut and the sync marked
/// degraded.
pub(crate) const MAX_PAGES: usize = 200;

/// What a sync of an API calendar found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiSync {
    /// The whole busy time in the window, replacing what was kept.
    Full {
        /// The busy time, and what was cut or skipped.
        expansion: Expansion,
        /// The cursor for the next, incremental sync, when the provider
        /// gave one.
        cursor: Option<String>,
    },
    /// Changes since the cursor: merge them into what was kept, leave the
    /// rest alone.
    Changes {
        /// Occurrences added or changed (in the window).
        changed: Vec<Imported>,
        /// Occurrences removed, or moved out of the window.
        removed: Vec<EventKey>,
        /// What was cut or skipped.
        degraded: Degraded,
        /// The cursor for the next sync.
        cursor: String,
    },
}

/// One event of an API calendar, reduced to what may be kept.
pub(crate) enum Change {
    /// Busy in the window.
    Busy(Imported),
    /// Gone, free, or outside the window.
    Gone(EventKey),
}

/// An API's root as given (Google's or Graph's, or a test's), ending in
/// `/` so paths join beneath it.
///
/// # Errors
/// [`SyncError::Fetch`] when `base` is not a URL.
pub(crate) fn api_root(base: &str) -> Result<Url, SyncError> {
    let mut base = Url::parse(base).map_err(|_bad| FetchError::Refused("not a URL"))?;
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    Ok(base)
}

/// Reads `at` (RFC 3339, with an offset or `Z`).
pub(crate) fn instant(at: &str) -> Option<Timestamp> {
    at.trim().parse().ok()
}

/// Reads a civil `date` as the start of that day in `zone`.
pub(crate) fn day_start(date: &str, zone: &TimeZone) -> Option<Timestamp> {
    let date: Date = date.trim().get(..10)?.parse().ok()?;
    zone.first_reading(date.to_datetime(bookwarden_domain::jiff::civil::Time::midnight()))
}

/// The change one event makes: busy time when it blocks and overlaps the
/// window, else the removal of its key.
pub(crate) fn change(
    key: EventKey,
    blocks: bool,
    range: Option<(Timestamp, Timestamp)>,
    all_day: bool,
    subject: Option<&str>,
    scope: &Scope<'_>,
) -> Change {
    let range = range.and_then(|(start, end)| TimeRange::new(start, end).ok());
    match range {
        Some(range) if blocks && range.overlaps(&scope.window) => Change::Busy(Imported {
            key,
            busy: ImportedBusy::new(subject, range, all_day, scope.mode),
        }),
        _ => Change::Gone(key),
    }
}

/// Sorts changes into the busy time kept and the keys dropped.
pub(crate) fn split(
    changes: Vec<Change>,
    cap: usize,
    degraded: &mut Degraded,
) -> (Vec<Imported>, Vec<EventKey>) {
    let mut busy = Vec::new();
    let mut gone = Vec::new();
    for change in changes {
        match change {
            Change::Busy(imported) if busy.len() < cap => busy.push(imported),
            Change::Busy(_) => degraded.calendar_cut = true,
            Change::Gone(key) => gone.push(key),
        }
    }
    busy.sort_by_key(|i| i.busy.range().start());
    (busy, gone)
}

/// A bearer-token request to the provider's API at `url`.
pub(crate) async fn call(
    outbound: &Outbound,
    method: Method,
    url: Url,
    token: &SecretString,
    headers: &[(HeaderName, &str)],
    body: Option<String>,
) -> Result<Fetched, SyncError> {
    let mut request = outbound
        .credentialed(method, url)?
        .header(AUTHORIZATION, &format!("Bearer {}", token.expose_secret()));
    for (name, value) in headers {
        request = request.header(name.clone(), value);
    }
    if let Some(body) = body {
        request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
    }
    Ok(outbound.fetch(request).await?)
}

/// The JSON body of a successful answer, or the error its status means.
pub(crate) fn json<T: DeserializeOwned>(fetched: &Fetched) -> Result<T, SyncError> {
    if !(200..300).contains(&fetched.status) {
        return Err(SyncError::from_status(
            fetched.status,
            fetched.retry_after(),
        ));
    }
    serde_json::from_slice(&fetched.body)
        .map_err(|_bad| SyncError::Malformed("the answer is not the JSON the API documents"))
}

/// What a sync that hit a bound (too many changes or pages) answers: a
/// full sync keeps what it read, marked cut; an incremental one starts
/// over in full (its changes are not all known).
pub(crate) fn cut(
    changes: Vec<Change>,
    cap: usize,
    incremental: bool,
) -> Result<ApiSync, SyncError> {
    if incremental {
        return Err(SyncError::NotFound);
    }
    let mut degraded = Degraded {
        calendar_cut: true,
        ..Degraded::default()
    };
    let (busy, _gone) = split(changes, cap, &mut degraded);
    Ok(full(busy, degraded, None))
}

/// A full answer: `busy` is all of the window's busy time.
pub(crate) fn full(busy: Vec<Imported>, degraded: Degraded, cursor: Option<String>) -> ApiSync {
    ApiSync::Full {
        expansion: Expansion {
            events: busy,
            degraded,
        },
        cursor,
    }
}
