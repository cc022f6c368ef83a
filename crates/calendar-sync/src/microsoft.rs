//! Microsoft 365 and Outlook.com calendars through Microsoft Graph.
//!
//! A sync is a round of `calendarView/delta` over the window, asking with
//! `Prefer: outlook.timezone="UTC"` so every time arrives in UTC, and with
//! `$select` of start, end, isAllDay, showAs, isCancelled (and subject only
//! where the connection keeps subjects). Pages follow `@odata.nextLink`;
//! the round's `@odata.deltaLink` is the cursor of the next one, which
//! gets only what changed, removals marked `@removed`. (Graph may ignore
//! `$select` on delta and send whole events: whatever arrives is parsed
//! into a type holding only those fields, and the rest is never kept.) Every link must
//! point at the API's own origin, or the bearer token would follow it.
//! A `410 Gone` means the delta state expired: the round starts over in
//! full.
//!
//! All-day events arrive as midnight to midnight without a zone: they are
//! read as dates in the staff member's zone. Microsoft offers no way to
//! revoke one application's grant: disconnecting deletes the tokens.

use bookwarden_crypto::SecretString;
use bookwarden_domain::calendar::SyncMode;
use reqwest::header::HeaderName;
use reqwest::{Method, Url};
use serde::Deserialize;

use crate::Scope;
use crate::api::{self, ApiSync, Change};
use crate::error::SyncError;
use crate::ical::{Degraded, EventKey};
use crate::outbound::{FetchError, Outbound};

/// Graph's production API root.
pub const API_BASE: &str = "https://graph.microsoft.com/v1.0/";
/// The identity platform's authorization endpoint (any account type).
pub const AUTH_URL: &str = "https://login.microsoftonline.com/common/oauth2/v2.0/authorize";
/// The identity platform's token endpoint.
pub const TOKEN_URL: &str = "https://login.microsoftonline.com/common/oauth2/v2.0/token";

/// The scopes a connection asks for: reading calendars, and a refresh
/// token.
pub const SCOPES: &[&str] = &["offline_access", "Calendars.Read"];

/// Events per page asked for.
const PAGE_SIZE: &str = "odata.maxpagesize=200";

/// A Microsoft account's default calendar.
pub struct GraphCalendar {
    base: Url,
}

impl std::fmt::Debug for GraphCalendar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphCalendar")
            .field("host", &self.base.host_str())
            .finish()
    }
}

#[derive(Deserialize)]
struct Time {
    #[serde(rename = "dateTime")]
    date_time: String,
}

/// An event as the selection allows it; every other field of the answer
/// is skipped by the parser and never held.
#[derive(Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "@removed")]
    removed: Option<serde::de::IgnoredAny>,
    start: Option<Time>,
    end: Option<Time>,
    #[serde(rename = "isAllDay", default)]
    is_all_day: bool,
    #[serde(rename = "showAs")]
    show_as: Option<String>,
    #[serde(rename = "isCancelled", default)]
    is_cancelled: bool,
    subject: Option<String>,
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    value: Vec<Event>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink")]
    delta_link: Option<String>,
}

impl GraphCalendar {
    /// The default calendar of the account a token speaks for, at `base`
    /// ([`API_BASE`] in production).
    ///
    /// # Errors
    /// [`SyncError::Fetch`] when `base` is not a URL.
    pub fn new(base: &str) -> Result<Self, SyncError> {
        Ok(Self {
            base: api::api_root(base)?,
        })
    }

    /// A link Graph gave, if it points at the API's own origin.
    fn own_link(&self, link: &str) -> Result<Url, SyncError> {
        let url = Url::parse(link).map_err(|_bad| SyncError::Malformed("a link is not a URL"))?;
        if url.origin() == self.base.origin() {
            Ok(url)
        } else {
            Err(SyncError::Malformed("a link points away from the API"))
        }
    }

    /// The busy time of the window: a full round, or the changes since
    /// `cursor` (a delta link this calendar gave).
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
        if let Some(cursor) = cursor {
            let start = self.own_link(cursor)?;
            match self.round(outbound, token, scope, start, true).await {
                Err(SyncError::NotFound) => {}
                other => return other,
            }
        }
        let mut start = self
            .base
            .join("me/calendarView/delta")
            .map_err(|_bad| FetchError::Refused("not a URL"))?;
        let select = match scope.mode {
            SyncMode::BusyOnly => "start,end,isAllDay,showAs,isCancelled",
            SyncMode::WithSubject => "start,end,isAllDay,showAs,isCancelled,subject",
        };
        start
            .query_pairs_mut()
            .append_pair("startDateTime", &scope.window.start().to_string())
            .append_pair("endDateTime", &scope.window.end().to_string())
            .append_pair("$select", select);
        self.round(outbound, token, scope, start, false).await
    }

    async fn round(
        &self,
        outbound: &Outbound,
        token: &SecretString,
        scope: &Scope<'_>,
        mut next: Url,
        incremental: bool,
    ) -> Result<ApiSync, SyncError> {
        let prefer = HeaderName::from_static("prefer");
        let headers = [
            (prefer.clone(), "outlook.timezone=\"UTC\""),
            (prefer, PAGE_SIZE),
        ];
        let mut changes = Vec::new();
        let mut degraded = Degraded::default();
        for _ in 0..api::MAX_PAGES {
            let fetched = api::call(outbound, Method::GET, next, token, &headers, None).await?;
            let page: Page = api::json(&fetched)?;
            changes.extend(page.value.iter().map(|e| event_change(e, scope)));
            if changes.len() > scope.limits.per_calendar {
                return api::cut(changes, scope.limits.per_calendar, incremental);
            }
            match (page.next_link, page.delta_link) {
                (Some(link), _) => next = self.own_link(&link)?,
                (None, Some(delta)) => {
                    let delta = self.own_link(&delta)?.to_string();
                    let (busy, gone) =
                        api::split(changes, scope.limits.per_calendar, &mut degraded);
                    return Ok(if incremental {
                        ApiSync::Changes {
                            changed: busy,
                            removed: gone,
                            degraded,
                            cursor: delta,
                        }
                    } else {
                        api::full(busy, degraded, Some(delta))
                    });
                }
                (None, None) => {
                    return Err(SyncError::Malformed("a delta round ended without a link"));
                }
            }
        }
        api::cut(changes, scope.limits.per_calendar, incremental)
    }
}

/// Reads Graph's `dateTime` (UTC by the `Prefer` header, with or without
/// fractional seconds, never an offset).
fn utc(text: &str) -> Option<bookwarden_domain::jiff::Timestamp> {
    let civil: bookwarden_domain::jiff::civil::DateTime = text.trim().parse().ok()?;
    bookwarden_domain::time::TimeZone::utc().first_reading(civil)
}

/// The change one event makes; its id alone keys it (occurrences have ids
/// of their own in a calendar view).
fn event_change(event: &Event, scope: &Scope<'_>) -> Change {
    let key = EventKey::instance(&event.id);
    if event.removed.is_some() {
        return Change::Gone(key);
    }
    let free = event.show_as.as_deref() == Some("free");
    let range = match (&event.start, &event.end) {
        (Some(start), Some(end)) if event.is_all_day => {
            api::day_start(&start.date_time, scope.zone)
                .zip(api::day_start(&end.date_time, scope.zone))
        }
        (Some(start), Some(end)) => utc(&start.date_time).zip(utc(&end.date_time)),
        _ => None,
    };
    api::change(
        key,
        !event.is_cancelled && !free,
        range,
        event.is_all_day,
        event.subject.as_deref(),
        scope,
    )
}
