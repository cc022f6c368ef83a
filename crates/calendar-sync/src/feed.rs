//! A read-only iCalendar feed URL (a "secret address" a calendar app
//! publishes), fetched with `If-None-Match` and `If-Modified-Since` so an
//! unchanged feed costs the provider and us almost nothing. Many feeds send
//! neither validator: for them the body's digest stands in, so a feed that
//! answers the same bytes again is not parsed and expanded again.

use reqwest::header::{ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use reqwest::{Method, Url};

use bookwarden_crypto::digest::Sha256;

use crate::Scope;
use crate::error::SyncError;
use crate::ical::Expansion;
use crate::outbound::{FetchError, Outbound};

/// What the feed's server said identifies its current version, kept
/// between syncs (it is the connection's sync cursor).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Validators {
    /// The `ETag`, if the server sent one.
    pub etag: Option<String>,
    /// The `Last-Modified` date, if the server sent one.
    pub last_modified: Option<String>,
    /// The SHA-256 of the body, in hex: the same bytes again are the same
    /// feed, whatever the server's headers said.
    pub digest: Option<String>,
}

/// Separates the two validators in a cursor (neither may hold it: both
/// are header values, which hold no control characters).
const SEPARATOR: char = '\u{1f}';
const CURSOR_VERSION: &str = "ics2";
/// The cursor before the body digest; read as one without a digest.
const CURSOR_VERSION_1: &str = "ics1";

impl Validators {
    /// As one cursor string, for storage.
    pub fn to_cursor(&self) -> String {
        format!(
            "{CURSOR_VERSION}{SEPARATOR}{}{SEPARATOR}{}{SEPARATOR}{}",
            self.etag.as_deref().unwrap_or_default(),
            self.last_modified.as_deref().unwrap_or_default(),
            self.digest.as_deref().unwrap_or_default()
        )
    }

    /// Back from [`Validators::to_cursor`]; a cursor of another shape is
    /// no cursor (the next fetch is a full one).
    pub fn from_cursor(cursor: &str) -> Self {
        let mut parts = cursor.split(SEPARATOR);
        let with_digest = match parts.next() {
            Some(CURSOR_VERSION) => true,
            Some(CURSOR_VERSION_1) => false,
            _ => return Self::default(),
        };
        let field = |part: Option<&str>| part.filter(|p| !p.is_empty()).map(str::to_owned);
        Self {
            etag: field(parts.next()),
            last_modified: field(parts.next()),
            digest: if with_digest {
                field(parts.next())
            } else {
                None
            },
        }
    }
}

/// What a fetch found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FeedSync {
    /// Unchanged since the validators were given: keep the blocks.
    NotModified,
    /// The feed's busy time in the window, replacing what was kept.
    Changed {
        /// The busy time, and what was cut or skipped.
        expansion: Expansion,
        /// Validators for the next fetch.
        validators: Validators,
    },
}

/// A feed at a URL a staff member gave.
#[derive(Clone)]
pub struct IcsFeed {
    url: Url,
}

impl std::fmt::Debug for IcsFeed {
    // The URL of a private feed is itself a secret: only its host shows.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IcsFeed")
            .field("host", &self.url.host_str().unwrap_or("?"))
            .finish_non_exhaustive()
    }
}

impl IcsFeed {
    /// The feed at `url` (`webcal://` is read as `https://`).
    ///
    /// # Errors
    /// [`SyncError::Fetch`] with [`FetchError::Refused`] when it is not a
    /// URL.
    pub fn new(url: &str) -> Result<Self, SyncError> {
        let url = url.trim();
        let url = match url.get(..9) {
            Some(scheme) if scheme.eq_ignore_ascii_case("webcal://") => {
                format!("https://{}", url.get(9..).unwrap_or_default())
            }
            _ => url.to_owned(),
        };
        let url = Url::parse(&url).map_err(|_bad| FetchError::Refused("not a URL"))?;
        Ok(Self { url })
    }

    /// Fetches the feed (conditionally, when `validators` are given) and
    /// expands it over `scope`'s window.
    ///
    /// A 200 answer whose body is the one the validators' digest names is
    /// [`FeedSync::NotModified`] too: the feed was not parsed again.
    ///
    /// Give validators only while the window the kept blocks were
    /// expanded over still covers the one asked for now: a feed that did
    /// not change still has occurrences on days that have since entered
    /// the window.
    ///
    /// # Errors
    /// [`SyncError`]; a body that is not iCalendar is
    /// [`SyncError::Malformed`].
    pub async fn sync(
        &self,
        outbound: &Outbound,
        scope: &Scope<'_>,
        validators: Option<&Validators>,
    ) -> Result<FeedSync, SyncError> {
        let mut request = outbound
            .request(Method::GET, self.url.clone())?
            .header(reqwest::header::ACCEPT, "text/calendar");
        if let Some(known) = validators {
            if let Some(etag) = &known.etag {
                request = request.header(IF_NONE_MATCH, etag);
            }
            if let Some(date) = &known.last_modified {
                request = request.header(IF_MODIFIED_SINCE, date);
            }
        }
        let fetched = outbound.fetch(request).await?;
        match fetched.status {
            200 => {}
            304 if validators.is_some() => return Ok(FeedSync::NotModified),
            status => return Err(SyncError::from_status(status, fetched.retry_after())),
        }
        let fresh = Validators {
            etag: fetched.header(ETAG.as_str()).map(str::to_owned),
            last_modified: fetched.header(LAST_MODIFIED.as_str()).map(str::to_owned),
            digest: Some(body_digest(&fetched.body)),
        };
        if validators.is_some_and(|known| known.digest == fresh.digest) {
            return Ok(FeedSync::NotModified);
        }
        let text = String::from_utf8(fetched.body)
            .map_err(|_bad| SyncError::Malformed("the feed is not UTF-8 text"))?;
        let expansion = crate::expand_off_runtime(vec![text], scope).await?;
        Ok(FeedSync::Changed {
            expansion,
            validators: fresh,
        })
    }
}

/// The SHA-256 of a feed's body, in hex.
fn body_digest(body: &[u8]) -> String {
    let mut digest = Sha256::labelled(b"bookwarden feed body v1");
    digest.update(body);
    digest.finish().iter().map(|b| format!("{b:02x}")).collect()
}
