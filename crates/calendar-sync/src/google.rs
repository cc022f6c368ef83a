//! Google Calendar: the narrowest scope for the mode, and only the fields
//! that may be kept.
//!
//! - Busy-only connections ask for `calendar.freebusy` and read
//!   `freeBusy.query`: busy intervals and nothing else, no event at all.
//! - Connections that keep subjects ask for `calendar.events.readonly` and
//!   read `events.list` with `singleEvents=true` (Google expands
//!   recurrences into instances, each with its own id), a `fields` mask of
//!   id, status, transparency, start, end, original start and summary, and
//!   `syncToken` for incremental syncs. A `410 Gone` means the token
//!   expired: the sync starts over in full, as Google documents.
//!
//! All-day events are dates, read in the staff member's zone.

use bookwarden_crypto::SecretString;
use bookwarden_domain::calendar::SyncMode;
use reqwest::{Method, Url};
use serde::Deserialize;

use crate::Scope;
use crate::api::{self, ApiSync, Change};
use crate::error::SyncError;
use crate::ical::{Degraded, EventKey};
use crate::outbound::{FetchError, Fetched, Outbound};

/// Google's production API root.
pub const API_BASE: &str = "https://www.googleapis.com/calendar/v3/";
/// Google's authorization endpoint.
pub const AUTH_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
/// Google's token endpoint.
pub const TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// Google's revocation endpoint.
pub const REVOKE_URL: &str = "https://oauth2.googleapis.com/revoke";

/// The scope a connection in `mode` asks for: availability alone for
/// busy-only, read-only events where a subject is wanted.
pub fn scope_for(mode: SyncMode) -> &'static str {
    match mode {
        SyncMode::BusyOnly => "https://www.googleapis.com/auth/calendar.freebusy",
        SyncMode::WithSubject => "https://www.googleapis.com/auth/calendar.events.readonly",
    }
}

/// The authorization parameters Google needs to hand out a refresh token
/// every time.
pub const AUTH_PARAMS: &[(&str, &str)] = &[("access_type", "offline"), ("prompt", "consent")];

/// The longest span one `freeBusy.query` is asked for.
const FREEBUSY_DAYS: i64 = 60;

/// Instances read at most per page.
const PAGE_SIZE: &str = "2500";

/// The events mask: nothing else is ever sent to us.
const EVENT_FIELDS: &str =
    "nextPageToken,nextSyncToken,items(id,status,transparency,start,end,originalStartTime,summary)";

/// One Google calendar account (its primary calendar).
pub struct GoogleCalendar {
    base: Url,
}

impl std::fmt::Debug for GoogleCalendar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleCalendar")
            .field("host", &self.base.host_str())
            .finish()
    }
}

#[derive(Deserialize)]
struct Time {
    #[serde(rename = "dateTime")]
    date_time: Option<String>,
    date: Option<String>,
}

/// An instance as the mask allows it; every other field of Google's
/// answer is skipped by the parser and never held.
#[derive(Deserialize)]
struct Event {
    id: String,
    status: Option<String>,
    transparency: Option<String>,
    start: Option<Time>,
    end: Option<Time>,
    summary: Option<String>,
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    items: Vec<Event>,
    #[serde(rename = "nextPageToken")]
    next_page_token: Option<String>,
    #[serde(rename = "nextSyncToken")]
    next_sync_token: Option<String>,
}

#[derive(Deserialize)]
struct Busy {
    start: String,
    end: String,
}

#[derive(Deserialize)]
struct FreeBusyCalendar {
    #[serde(default)]
    busy: Vec<Busy>,
    #[serde(default)]
    errors: Vec<serde_json::Value>,
}

/// Google's error body: `{"error": {"errors": [{"reason": ..}]}}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    errors: Vec<ErrorReason>,
}

#[derive(Deserialize)]
struct ErrorReason {
    reason: Option<String>,
}

/// The error a failed answer means. Google answers 403 for exhausted
/// quotas and a project without the API as well as for refused access:
/// a quota is a wait, a missing API the operator's to fix, and neither
/// revokes the person's connection.
fn failure(fetched: &Fetched) -> SyncError {
    if fetched.status == 403 {
        let reasons: Vec<String> = serde_json::from_slice::<ErrorBody>(&fetched.body)
            .map(|b| {
                b.error
                    .errors
                    .into_iter()
                    .filter_map(|e| e.reason)
                    .collect()
            })
            .unwrap_or_default();
        let quota = [
            "rateLimitExceeded",
            "userRateLimitExceeded",
            "dailyLimitExceeded",
            "quotaExceeded",
        ];
        if reasons.iter().any(|r| quota.contains(&r.as_str())) {
            return SyncError::RateLimited {
                retry_after: fetched.retry_after(),
            };
        }
        if reasons.iter().any(|r| r == "accessNotConfigured") {
            return SyncError::Unexpected { status: 403 };
        }
    }
    SyncError::from_status(fetched.status, fetched.retry_after())
}

/// The JSON body of a successful answer, or the error it means.
fn answer<T: serde::de::DeserializeOwned>(fetched: &Fetched) -> Result<T, SyncError> {
    if (200..300).contains(&fetched.status) {
        api::json(fetched)
    } else {
        Err(failure(fetched))
    }
}

#[derive(Deserialize)]
struct FreeBusy {
    calendars: std::collections::BTreeMap<String, FreeBusyCalendar>,
}

impl GoogleCalendar {
    /// The primary calendar of the account a token speaks for, at `base`
    /// ([`API_BASE`] in production).
    ///
    /// # Errors
    /// [`SyncError::Fetch`] when `base` is not a URL.
    pub fn new(base: &str) -> Result<Self, SyncError> {
        Ok(Self {
            base: api::api_root(base)?,
        })
    }

    fn url(&self, path: &str) -> Result<Url, SyncError> {
        Ok(self
            .base
            .join(path)
            .map_err(|_bad| FetchError::Refused("not a URL"))?)
    }

    /// The busy time of the window: in busy-only mode from
    /// `freeBusy.query` (always in full), else from `events.list`,
    /// incrementally when `cursor` (a sync token) is given.
    ///
    /// # Errors
    /// [`SyncError`]; [`SyncError::Unauthorized`] when the token is
    /// refused.
    pub async fn sync(
        &self,
        outbound: &Outbound,
        token: &SecretString,
        scope: &Scope<'_>,
        cursor: Option<&str>,
    ) -> Result<ApiSync, SyncError> {
        match scope.mode {
            SyncMode::BusyOnly => self.free_busy(outbound, token, scope).await,
            SyncMode::WithSubject => {
                if let Some(cursor) = cursor {
                    match self.events(outbound, token, scope, Some(cursor)).await {
                        Err(SyncError::NotFound) => {}
                        other => return other,
                    }
                }
                self.events(outbound, token, scope, None).await
            }
        }
    }

    async fn free_busy(
        &self,
        outbound: &Outbound,
        token: &SecretString,
        scope: &Scope<'_>,
    ) -> Result<ApiSync, SyncError> {
        let url = self.url("freeBusy")?;
        let span = bookwarden_domain::jiff::SignedDuration::from_hours(24 * FREEBUSY_DAYS);
        let mut changes = Vec::new();
        let mut from = scope.window.start();
        while from < scope.window.end() {
            let to = from
                .checked_add(span)
                .map_or(scope.window.end(), |t| t.min(scope.window.end()));
            let body = serde_json::json!({
                "timeMin": from.to_string(),
                "timeMax": to.to_string(),
                "items": [{ "id": "primary" }],
            })
            .to_string();
            let fetched =
                api::call(outbound, Method::POST, url.clone(), token, &[], Some(body)).await?;
            let answer: FreeBusy = answer(&fetched)?;
            let calendar = answer
                .calendars
                .get("primary")
                .ok_or(SyncError::Malformed("no primary calendar in the answer"))?;
            if !calendar.errors.is_empty() {
                return Err(SyncError::Malformed(
                    "the free/busy answer reports an error",
                ));
            }
            for busy in &calendar.busy {
                let range = api::instant(&busy.start).zip(api::instant(&busy.end));
                let key = EventKey::new("google freebusy", range.map_or(from, |(s, _)| s));
                changes.push(api::change(key, true, range, false, None, scope));
            }
            from = to;
        }
        let mut degraded = Degraded::default();
        let (busy, _gone) = api::split(changes, scope.limits.per_calendar, &mut degraded);
        Ok(api::full(busy, degraded, None))
    }

    async fn events(
        &self,
        outbound: &Outbound,
        token: &SecretString,
        scope: &Scope<'_>,
        cursor: Option<&str>,
    ) -> Result<ApiSync, SyncError> {
        let mut changes = Vec::new();
        let mut page_token: Option<String> = None;
        let mut degraded = Degraded::default();
        for _ in 0..api::MAX_PAGES {
            let mut url = self.url("calendars/primary/events")?;
            {
                let mut query = url.query_pairs_mut();
                query
                    .append_pair("singleEvents", "true")
                    .append_pair("maxResults", PAGE_SIZE)
                    .append_pair("fields", EVENT_FIELDS);
                match cursor {
                    // Google refuses a window beside a sync token.
                    Some(cursor) => {
                        query.append_pair("syncToken", cursor);
                    }
                    None => {
                        query
                            .append_pair("timeMin", &scope.window.start().to_string())
                            .append_pair("timeMax", &scope.window.end().to_string());
                    }
                }
                if let Some(page) = &page_token {
                    query.append_pair("pageToken", page);
                }
            }
            let fetched = api::call(outbound, Method::GET, url, token, &[], None).await?;
            if fetched.status == 410 {
                // The sync token expired: a full sync is required.
                return Err(SyncError::NotFound);
            }
            let page: Page = answer(&fetched)?;
            changes.extend(page.items.iter().map(|e| event_change(e, scope)));
            if changes.len() > scope.limits.per_calendar {
                return api::cut(changes, scope.limits.per_calendar, cursor.is_some());
            }
            match (page.next_page_token, page.next_sync_token) {
                (Some(next), _) => page_token = Some(next),
                (None, next_sync) => {
                    let (busy, gone) =
                        api::split(changes, scope.limits.per_calendar, &mut degraded);
                    return Ok(match (cursor, next_sync) {
                        (Some(_), Some(next)) => ApiSync::Changes {
                            changed: busy,
                            removed: gone,
                            degraded,
                            cursor: next,
                        },
                        (Some(_), None) => {
                            return Err(SyncError::Malformed("an incremental sync gave no token"));
                        }
                        (None, next) => api::full(busy, degraded, next),
                    });
                }
            }
        }
        api::cut(changes, scope.limits.per_calendar, cursor.is_some())
    }
}

/// The change one instance makes. Instances have ids of their own, so the
/// id alone keys one; a moved instance keeps its id.
fn event_change(event: &Event, scope: &Scope<'_>) -> Change {
    let key = EventKey::instance(&event.id);
    let cancelled = event.status.as_deref() == Some("cancelled");
    let transparent = event.transparency.as_deref() == Some("transparent");
    let (range, all_day) = match (&event.start, &event.end) {
        (Some(start), Some(end)) => {
            match (&start.date_time, &end.date_time, &start.date, &end.date) {
                (Some(s), Some(e), _, _) => (api::instant(s).zip(api::instant(e)), false),
                (None, None, Some(s), Some(e)) => (
                    api::day_start(s, scope.zone).zip(api::day_start(e, scope.zone)),
                    true,
                ),
                _ => (None, false),
            }
        }
        _ => (None, false),
    };
    api::change(
        key,
        !cancelled && !transparent,
        range,
        all_day,
        event.summary.as_deref(),
        scope,
    )
}
