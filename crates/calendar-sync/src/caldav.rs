//! CalDAV calendars (RFC 4791): iCloud and any standards server, signed
//! in with an app-specific password.
//!
//! A handful of WebDAV requests on the one guarded client: discovery
//! (`current-user-principal`, then `calendar-home-set`, then the home's
//! calendars), and per calendar a `calendar-query` REPORT for events in
//! the window, asking for the raw iCalendar data only. Recurrences are
//! expanded here, never by the server (`calendar-query`'s `expand` was
//! seen an hour off across DST and returning a moved occurrence twice).
//! A calendar's `getctag` tells whether anything changed since the last
//! sync; when no calendar changed, nothing is fetched.
//!
//! Credentials go only to the server the connection was made with: an
//! `href` the server names on another origin is ignored, and the client
//! drops them on a redirect to another host.

use bookwarden_crypto::SecretString;
use bookwarden_crypto::digest::Sha256;
use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};
use reqwest::header::HeaderName;
use reqwest::{Method, Url};

use crate::Scope;
use crate::error::SyncError;
use crate::ical::Expansion;
use crate::outbound::{FetchError, Fetched, Outbound};

/// Calendars of one account read at most; more are cut and the sync
/// marked degraded.
const MAX_CALENDARS: usize = 50;

const DAV: &[u8] = b"DAV:";
const CALDAV: &[u8] = b"urn:ietf:params:xml:ns:caldav";
const CALSERVER: &[u8] = b"http://calendarserver.org/ns/";

/// A calendar found on the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DavCalendar {
    /// Where it is.
    pub url: Url,
    /// Its display name, if it has one.
    pub name: Option<String>,
    /// Its change tag, if the server keeps one.
    pub ctag: Option<String>,
}

/// What a sync found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DavSync {
    /// No calendar changed since the cursor was given: keep the blocks.
    NotModified,
    /// The account's busy time in the window, replacing what was kept.
    Changed {
        /// The busy time, and what was cut or skipped.
        expansion: Expansion,
        /// The cursor for the next sync, when every calendar has a change
        /// tag.
        cursor: Option<String>,
    },
}

/// A CalDAV account.
pub struct CalDav {
    base: Url,
    user: String,
    password: SecretString,
}

impl std::fmt::Debug for CalDav {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CalDav")
            .field("host", &self.base.host_str().unwrap_or("?"))
            .finish_non_exhaustive()
    }
}

impl CalDav {
    /// The account `user` at the server `base` (for iCloud,
    /// `https://caldav.icloud.com/`), with an app-specific password.
    ///
    /// # Errors
    /// [`SyncError::Fetch`] with [`FetchError::Refused`] when `base` is not
    /// a URL.
    pub fn new(base: &str, user: &str, password: SecretString) -> Result<Self, SyncError> {
        let base = Url::parse(base.trim()).map_err(|_bad| FetchError::Refused("not a URL"))?;
        Ok(Self {
            base,
            user: user.to_owned(),
            password,
        })
    }

    /// The account's calendars that hold events.
    ///
    /// # Errors
    /// [`SyncError`]: [`SyncError::Unauthorized`] for a refused password,
    /// [`SyncError::Malformed`] when the server does not answer as CalDAV.
    pub async fn calendars(&self, outbound: &Outbound) -> Result<Vec<DavCalendar>, SyncError> {
        let principal = self.principal(outbound).await?;
        let (answered, found) = self
            .propfind(outbound, &principal, "0", "<c:calendar-home-set/>")
            .await?;
        let home = found
            .iter()
            .find_map(|r| r.props.home.as_deref())
            .and_then(|href| self.same_origin(&answered, href))
            .ok_or(SyncError::Malformed("no calendar home"))?;
        let (listed_at, listed) = self
            .propfind(
                outbound,
                &home,
                "1",
                "<d:resourcetype/><d:displayname/><cs:getctag/><c:supported-calendar-component-set/>",
            )
            .await?;
        Ok(listed
            .into_iter()
            .filter(|r| {
                r.props.is_calendar
                    && (r.props.components.is_empty()
                        || r.props
                            .components
                            .iter()
                            .any(|c| c.eq_ignore_ascii_case("VEVENT")))
            })
            .filter_map(|r| {
                Some(DavCalendar {
                    url: self.same_origin(&listed_at, &r.href)?,
                    name: r.props.name,
                    ctag: r.props.ctag,
                })
            })
            .collect())
    }

    /// The busy time of every event calendar of the account in `scope`'s
    /// window, or [`DavSync::NotModified`] when `cursor` (from the last
    /// sync over the same window) shows no calendar changed.
    ///
    /// # Errors
    /// [`SyncError`]; a calendar whose events cannot be read fails the
    /// whole sync, so the previous blocks stay.
    pub async fn sync(
        &self,
        outbound: &Outbound,
        scope: &Scope<'_>,
        cursor: Option<&str>,
    ) -> Result<DavSync, SyncError> {
        let calendars = self.calendars(outbound).await?;
        let fresh = tags_cursor(&calendars);
        if fresh.is_some() && fresh.as_deref() == cursor {
            return Ok(DavSync::NotModified);
        }
        let mut texts = Vec::new();
        for calendar in calendars.iter().take(MAX_CALENDARS) {
            texts.extend(self.events_in(outbound, calendar, scope).await?);
        }
        let mut expansion = crate::expand_off_runtime(texts, scope).await?;
        if calendars.len() > MAX_CALENDARS {
            expansion.degraded.calendar_cut = true;
        }
        Ok(DavSync::Changed {
            expansion,
            cursor: fresh,
        })
    }

    /// The raw iCalendar objects of `calendar` with events in the window.
    async fn events_in(
        &self,
        outbound: &Outbound,
        calendar: &DavCalendar,
        scope: &Scope<'_>,
    ) -> Result<Vec<String>, SyncError> {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
             <c:calendar-query xmlns:d=\"DAV:\" xmlns:c=\"urn:ietf:params:xml:ns:caldav\">\
             <d:prop><c:calendar-data/></d:prop>\
             <c:filter><c:comp-filter name=\"VCALENDAR\"><c:comp-filter name=\"VEVENT\">\
             <c:time-range start=\"{}\" end=\"{}\"/>\
             </c:comp-filter></c:comp-filter></c:filter></c:calendar-query>",
            ical_utc(scope.window.start()),
            ical_utc(scope.window.end()),
        );
        let fetched = self
            .send(outbound, dav_method("REPORT")?, &calendar.url, "1", body)
            .await?;
        Ok(multistatus(&fetched)?
            .into_iter()
            .filter_map(|r| r.props.calendar_data)
            .collect())
    }

    /// The principal URL: asked of the base URL, then of
    /// `/.well-known/caldav` (RFC 6764) when the base does not say.
    async fn principal(&self, outbound: &Outbound) -> Result<Url, SyncError> {
        let mut tried = vec![self.base.clone()];
        if let Ok(known) = self.base.join("/.well-known/caldav") {
            tried.push(known);
        }
        let mut last = SyncError::Malformed("no current-user-principal");
        for url in tried {
            match self
                .propfind(outbound, &url, "0", "<d:current-user-principal/>")
                .await
            {
                Ok((answered, found)) => {
                    if let Some(principal) = found
                        .iter()
                        .find_map(|r| r.props.principal.as_deref())
                        .and_then(|href| self.same_origin(&answered, href))
                    {
                        return Ok(principal);
                    }
                }
                Err(err @ (SyncError::Unauthorized | SyncError::Fetch(_))) => return Err(err),
                Err(other) => last = other,
            }
        }
        Err(last)
    }

    async fn propfind(
        &self,
        outbound: &Outbound,
        url: &Url,
        depth: &str,
        props: &str,
    ) -> Result<(Url, Vec<DavResponse>), SyncError> {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
             <d:propfind xmlns:d=\"DAV:\" xmlns:c=\"urn:ietf:params:xml:ns:caldav\" \
             xmlns:cs=\"http://calendarserver.org/ns/\"><d:prop>{props}</d:prop></d:propfind>"
        );
        let fetched = self
            .send(outbound, dav_method("PROPFIND")?, url, depth, body)
            .await?;
        // Hrefs are relative to where the answer came from, after redirects.
        Ok((fetched.url.clone(), multistatus(&fetched)?))
    }

    async fn send(
        &self,
        outbound: &Outbound,
        method: Method,
        url: &Url,
        depth: &str,
        body: String,
    ) -> Result<Fetched, SyncError> {
        let request = outbound
            .credentialed(method, url.clone())?
            .basic_auth(&self.user, self.password.expose_secret())
            .header(HeaderName::from_static("depth"), depth)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/xml; charset=utf-8",
            )
            .body(body);
        let fetched = outbound.fetch(request).await?;
        match fetched.status {
            207 => Ok(fetched),
            status => Err(SyncError::from_status(status, fetched.retry_after())),
        }
    }

    /// `href` resolved against `against`, if it stays on the account's
    /// server (same scheme, host and port as the base URL).
    fn same_origin(&self, against: &Url, href: &str) -> Option<Url> {
        let url = against.join(href.trim()).ok()?;
        (url.origin() == self.base.origin() || icloud_partition(&self.base, &url)).then_some(url)
    }
}

/// iCloud answers at `caldav.icloud.com` and keeps each account on a
/// partition host, `pNN-caldav.icloud.com`, which its answers name: trusted
/// for an account made at `https://caldav.icloud.com`, and nowhere else.
fn icloud_partition(base: &Url, url: &Url) -> bool {
    let https = |u: &Url| u.scheme() == "https" && u.port_or_known_default() == Some(443);
    let partition = url.host_str().is_some_and(|host| {
        host.strip_suffix("-caldav.icloud.com")
            .and_then(|p| p.strip_prefix('p'))
            .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
    });
    https(base) && https(url) && base.host_str() == Some("caldav.icloud.com") && partition
}

/// A WebDAV method by name (never falling back to another method).
fn dav_method(name: &'static str) -> Result<Method, SyncError> {
    Method::from_bytes(name.as_bytes()).map_err(|_invalid| SyncError::Fetch(FetchError::Transport))
}

/// An instant as an iCalendar UTC date-time (`20261207T000000Z`).
fn ical_utc(at: bookwarden_domain::jiff::Timestamp) -> String {
    at.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// One cursor over every calendar's change tag; `None` when a calendar
/// has none (then every sync is a full one).
fn tags_cursor(calendars: &[DavCalendar]) -> Option<String> {
    let mut digest = Sha256::labelled(b"bookwarden caldav ctags");
    for calendar in calendars {
        digest.update_framed(calendar.url.as_str().as_bytes());
        digest.update_framed(calendar.ctag.as_deref()?.as_bytes());
    }
    let bytes = digest.finish();
    Some(format!(
        "dav1:{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

/// One `response` of a multistatus, with the properties its `200`
/// propstats carried.
#[derive(Debug, Default)]
struct DavResponse {
    href: String,
    props: Props,
}

#[derive(Debug, Default)]
struct Props {
    principal: Option<String>,
    home: Option<String>,
    is_calendar: bool,
    components: Vec<String>,
    name: Option<String>,
    ctag: Option<String>,
    calendar_data: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ns {
    Dav,
    CalDav,
    CalServer,
    Other,
}

fn ns_of(resolved: &ResolveResult<'_>) -> Ns {
    match resolved {
        ResolveResult::Bound(Namespace(DAV)) => Ns::Dav,
        ResolveResult::Bound(Namespace(CALDAV)) => Ns::CalDav,
        ResolveResult::Bound(Namespace(CALSERVER)) => Ns::CalServer,
        _ => Ns::Other,
    }
}

/// The responses of a `207 Multi-Status` body.
///
/// # Errors
/// [`SyncError::Malformed`] when the body is not such XML.
fn multistatus(fetched: &Fetched) -> Result<Vec<DavResponse>, SyncError> {
    let text = std::str::from_utf8(&fetched.body)
        .map_err(|_bad| SyncError::Malformed("the answer is not UTF-8"))?;
    parse_multistatus(text).ok_or(SyncError::Malformed(
        "the answer is not a WebDAV multistatus",
    ))
}

/// Deepest element nesting read; a multistatus needs about ten.
const MAX_DEPTH: usize = 64;
/// Namespace declarations read at most (each name is resolved against all
/// of them).
const MAX_NAMESPACES: usize = 256;

fn parse_multistatus(text: &str) -> Option<Vec<DavResponse>> {
    if text.matches("xmlns").count() > MAX_NAMESPACES {
        return None;
    }
    let mut reader = NsReader::from_str(text);
    let mut path: Vec<(Ns, Vec<u8>)> = Vec::new();
    let mut responses = Vec::new();
    let mut response = DavResponse::default();
    let mut pending = Props::default();
    let mut status_ok = false;
    let mut saw_root = false;
    loop {
        let (resolved, event) = reader.read_resolved_event().ok()?;
        let ns = ns_of(&resolved);
        match event {
            Event::Start(start) => {
                if path.len() >= MAX_DEPTH {
                    return None;
                }
                mark(ns, &start, parent(&path), &mut pending);
                let local = start.local_name().as_ref().to_vec();
                if path.is_empty() {
                    saw_root = ns == Ns::Dav && local == b"multistatus";
                }
                match (ns, local.as_slice()) {
                    (Ns::Dav, b"response") => response = DavResponse::default(),
                    (Ns::Dav, b"propstat") => {
                        pending = Props::default();
                        status_ok = false;
                    }
                    _ => {}
                }
                path.push((ns, local));
            }
            Event::Empty(empty) => mark(ns, &empty, parent(&path), &mut pending),
            Event::Text(text) => {
                let value = text.decode().ok()?;
                let value = quick_xml::escape::unescape(&value).ok()?.into_owned();
                take_text(&path, value, &mut response, &mut pending, &mut status_ok);
            }
            Event::GeneralRef(reference) => {
                // A character or predefined entity reference inside text.
                let name = reference.decode().ok()?;
                let value = quick_xml::escape::unescape(&format!("&{name};"))
                    .ok()?
                    .into_owned();
                take_text(&path, value, &mut response, &mut pending, &mut status_ok);
            }
            Event::CData(data) => {
                let value = std::str::from_utf8(&data).ok()?.to_owned();
                take_text(&path, value, &mut response, &mut pending, &mut status_ok);
            }
            Event::End(_) => {
                let (ns, local) = path.pop()?;
                match (ns, local.as_slice()) {
                    (Ns::Dav, b"propstat") if status_ok => merge(&mut response.props, &mut pending),
                    (Ns::Dav, b"response") => responses.push(std::mem::take(&mut response)),
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    (saw_root && path.is_empty()).then_some(responses)
}

/// What an element says by being there (in either its empty or its
/// start-and-end form): a calendar among the resource types, a component
/// among the supported ones.
fn mark(
    ns: Ns,
    element: &quick_xml::events::BytesStart<'_>,
    parent: Option<(Ns, &[u8])>,
    pending: &mut Props,
) {
    match (ns, element.local_name().as_ref(), parent) {
        (Ns::CalDav, b"calendar", Some((Ns::Dav, b"resourcetype"))) => {
            pending.is_calendar = true;
        }
        (Ns::CalDav, b"comp", Some((Ns::CalDav, b"supported-calendar-component-set"))) => {
            if let Some(name) = element
                .try_get_attribute("name")
                .ok()
                .flatten()
                .and_then(|a| a.unescape_value().ok())
            {
                pending.components.push(name.into_owned());
            }
        }
        _ => {}
    }
}

fn parent(path: &[(Ns, Vec<u8>)]) -> Option<(Ns, &[u8])> {
    path.last().map(|(ns, local)| (*ns, local.as_slice()))
}

/// Text inside the current element, appended where it belongs (a value
/// may arrive in several pieces around entity references).
fn take_text(
    path: &[(Ns, Vec<u8>)],
    value: String,
    response: &mut DavResponse,
    pending: &mut Props,
    status_ok: &mut bool,
) {
    let mut tail = path.iter().rev().map(|(ns, l)| (*ns, l.as_slice()));
    let here = tail.next();
    let above = tail.next();
    let append = |slot: &mut Option<String>, value: String| match slot {
        Some(existing) => existing.push_str(&value),
        None => *slot = Some(value),
    };
    match (here, above) {
        (Some((Ns::Dav, b"href")), Some((Ns::Dav, b"response"))) => response.href.push_str(&value),
        (Some((Ns::Dav, b"status")), Some((Ns::Dav, b"propstat"))) => {
            *status_ok = value.split_whitespace().nth(1) == Some("200");
        }
        (Some((Ns::Dav, b"href")), Some((Ns::Dav, b"current-user-principal"))) => {
            append(&mut pending.principal, value);
        }
        (Some((Ns::Dav, b"href")), Some((Ns::CalDav, b"calendar-home-set"))) => {
            append(&mut pending.home, value);
        }
        (Some((Ns::Dav, b"displayname")), _) => append(&mut pending.name, value),
        (Some((Ns::CalServer, b"getctag")), _) => append(&mut pending.ctag, value),
        (Some((Ns::CalDav, b"calendar-data")), _) => append(&mut pending.calendar_data, value),
        _ => {}
    }
}

fn merge(into: &mut Props, from: &mut Props) {
    let from = std::mem::take(from);
    into.principal = into.principal.take().or(from.principal);
    into.home = into.home.take().or(from.home);
    into.is_calendar |= from.is_calendar;
    into.components.extend(from.components);
    into.name = into.name.take().or(from.name);
    into.ctag = into.ctag.take().or(from.ctag);
    into.calendar_data = into.calendar_data.take().or(from.calendar_data);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

    use super::*;

    #[test]
    fn multistatus_keeps_only_what_200_propstats_carry() {
        let text = r#"<?xml version='1.0' encoding='utf-8'?>
<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:CS="http://calendarserver.org/ns/">
<response><href>/sam/</href>
  <propstat><prop><resourcetype><principal /><collection /></resourcetype></prop><status>HTTP/1.1 200 OK</status></propstat>
  <propstat><prop><displayname>hidden</displayname><CS:getctag /></prop><status>HTTP/1.1 404 Not Found</status></propstat>
</response>
<response><href>/sam/work/</href><propstat><prop>
  <resourcetype><C:calendar /><collection /></resourcetype><displayname>Work &amp; more</displayname>
  <CS:getctag>"abc"</CS:getctag>
  <C:supported-calendar-component-set><C:comp name="VTODO" /><C:comp name="VEVENT" /></C:supported-calendar-component-set>
</prop><status>HTTP/1.1 200 OK</status></propstat></response>
<response><href>/sam/work/e1.ics</href><propstat><prop><C:calendar-data><![CDATA[BEGIN:VCALENDAR
END:VCALENDAR
]]></C:calendar-data></prop><status>HTTP/1.1 200 OK</status></propstat></response>
</multistatus>"#;
        let found = parse_multistatus(text).unwrap();
        assert_eq!(found.len(), 3);
        assert_eq!(found[0].href, "/sam/");
        assert!(!found[0].props.is_calendar);
        assert_eq!(found[0].props.name, None);
        assert!(found[1].props.is_calendar);
        assert_eq!(found[1].props.name.as_deref(), Some("Work & more"));
        assert_eq!(found[1].props.ctag.as_deref(), Some("\"abc\""));
        assert_eq!(found[1].props.components, ["VTODO", "VEVENT"]);
        assert!(
            found[2]
                .props
                .calendar_data
                .as_deref()
                .is_some_and(|d| d.starts_with("BEGIN:VCALENDAR"))
        );
    }

    #[test]
    fn deep_nesting_and_namespace_floods_are_refused() {
        let deep = format!(
            "<multistatus xmlns=\"DAV:\">{}{}</multistatus>",
            "<a>".repeat(100),
            "</a>".repeat(100)
        );
        assert!(parse_multistatus(&deep).is_none());
        let flood = format!(
            "<multistatus xmlns=\"DAV:\" {}></multistatus>",
            (0..300)
                .map(|i| format!("xmlns:n{i}=\"urn:x{i}\""))
                .collect::<Vec<_>>()
                .join(" ")
        );
        assert!(parse_multistatus(&flood).is_none());
    }

    #[test]
    fn icloud_partitions_are_trusted_only_for_an_icloud_account() {
        let url = |u: &str| Url::parse(u).unwrap();
        let icloud = url("https://caldav.icloud.com/");
        assert!(icloud_partition(
            &icloud,
            &url("https://p42-caldav.icloud.com/123/calendars/")
        ));
        assert!(!icloud_partition(
            &icloud,
            &url("https://p42-caldav.icloud.com.evil.example/")
        ));
        assert!(!icloud_partition(
            &icloud,
            &url("https://px-caldav.icloud.com/")
        ));
        assert!(!icloud_partition(
            &icloud,
            &url("http://p42-caldav.icloud.com/")
        ));
        assert!(!icloud_partition(
            &url("https://dav.example.com/"),
            &url("https://p42-caldav.icloud.com/")
        ));
    }

    #[test]
    fn bodies_that_are_not_a_multistatus_are_refused() {
        for text in [
            "",
            "not xml at all <",
            "<?xml version='1.0'?><html><body>hi</body></html>",
            "<multistatus xmlns=\"urn:other\"></multistatus>",
            "<multistatus xmlns=\"DAV:\"><response>",
        ] {
            assert!(parse_multistatus(text).is_none(), "{text:?}");
        }
    }
}
