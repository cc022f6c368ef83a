//! Google Calendar and Microsoft Graph, and the OAuth flow in front of
//! them, against one loopback fake that serves https with a certificate
//! only these tests trust and speaks each provider's documented wire
//! format: token, refresh and revocation endpoints, `freeBusy.query`,
//! `events.list` with its field mask, pages and sync tokens, and Graph's
//! `calendarView/delta` rounds. Every event also carries fields full of
//! markers that must never come out (P4, P5).

use std::collections::BTreeMap;
use std::time::Duration;

use bookwarden_calendar_sync::Scope;
use bookwarden_calendar_sync::api::ApiSync;
use bookwarden_calendar_sync::error::SyncError;
use bookwarden_calendar_sync::google::{self, GoogleCalendar};
use bookwarden_calendar_sync::ical::{EventKey, Imported, Limits};
use bookwarden_calendar_sync::microsoft::{self, GraphCalendar};
use bookwarden_calendar_sync::oauth::{OAuthApp, pkce_challenge};
use bookwarden_calendar_sync::outbound::{FetchError, Outbound, OutboundConfig};
use bookwarden_crypto::SecretString;
use bookwarden_domain::calendar::SyncMode;
use bookwarden_domain::time::TimeZone;
use serde_json::{Value, json};

use crate::fake_provider::{CLIENT_ID, CLIENT_SECRET, Fake, MARKERS, fake};
use crate::support::{range, ts};

impl Fake {
    fn outbound(&self) -> Outbound {
        Outbound::new(&OutboundConfig {
            allow_loopback: true,
            timeout: Duration::from_secs(5),
            extra_roots_pem: vec![self.cert.clone()],
            ..OutboundConfig::default()
        })
        .unwrap()
    }

    fn app(&self, revoke: bool) -> OAuthApp {
        OAuthApp {
            client_id: CLIENT_ID.to_owned(),
            client_secret: SecretString::new(CLIENT_SECRET.to_owned()),
            auth_url: format!("{}/authorize", self.base).parse().unwrap(),
            token_url: format!("{}/token", self.base).parse().unwrap(),
            revoke_url: revoke.then(|| format!("{}/revoke", self.base).parse().unwrap()),
            redirect_url: "https://book.example.com/calendar/callback"
                .parse()
                .unwrap(),
        }
    }

    /// Signs the test user in: a code for the authorization's challenge,
    /// exchanged for tokens.
    async fn signed_in(&self) -> SecretString {
        let app = self.app(true);
        let started = app.authorize(&["scope"], &[]);
        let challenge = query_of(&started.url, "code_challenge").unwrap();
        self.state
            .lock()
            .unwrap()
            .codes
            .insert("code-1".to_owned(), challenge);
        let tokens = app
            .exchange(
                &self.outbound(),
                &SecretString::new("code-1".to_owned()),
                &started.verifier,
                ts("2026-12-01T00:00:00Z"),
            )
            .await
            .unwrap();
        tokens.access
    }

    async fn stop(self) {
        self.server.stop(false).await;
    }
}

fn form(text: &[u8]) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(text).into_owned().collect()
}

fn query_of(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn berlin() -> TimeZone {
    TimeZone::parse("Europe/Berlin").unwrap()
}

fn scope(zone: &TimeZone, mode: SyncMode) -> Scope<'_> {
    Scope {
        window: range("2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"),
        zone,
        mode,
        limits: Limits::default(),
    }
}

/// Each busy occurrence as `start/end[/subject]`.
fn spans(events: &[Imported]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let mut text = format!("{}/{}", e.busy.range().start(), e.busy.range().end());
            if let Some(subject) = e.busy.subject() {
                text.push('/');
                text.push_str(subject);
            }
            if e.busy.all_day() {
                text.push_str("/all-day");
            }
            text
        })
        .collect()
}

fn assert_no_marker(text: &str) {
    for marker in MARKERS {
        assert!(!text.contains(marker), "{marker} in {text}");
    }
    assert!(!text.contains("MARKER-API-ERROR"), "{text}");
}

#[test]
fn p5_pkce_s256_matches_the_rfc_7636_appendix_b_vector() {
    assert_eq!(
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p5_an_authorization_carries_pkce_a_fresh_state_and_the_narrowest_scope() {
    let fake = fake().await;
    let app = fake.app(true);
    let busy_only = app.authorize(
        &[google::scope_for(SyncMode::BusyOnly)],
        google::AUTH_PARAMS,
    );
    let again = app.authorize(
        &[google::scope_for(SyncMode::BusyOnly)],
        google::AUTH_PARAMS,
    );
    let url = &busy_only.url;
    assert!(
        url.as_str()
            .starts_with(&format!("{}/authorize?", fake.base))
    );
    assert_eq!(query_of(url, "response_type").as_deref(), Some("code"));
    assert_eq!(query_of(url, "client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(
        query_of(url, "redirect_uri").as_deref(),
        Some("https://book.example.com/calendar/callback")
    );
    assert_eq!(
        query_of(url, "scope").as_deref(),
        Some("https://www.googleapis.com/auth/calendar.freebusy")
    );
    assert_eq!(query_of(url, "access_type").as_deref(), Some("offline"));
    assert_eq!(
        query_of(url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(
        query_of(url, "code_challenge"),
        Some(pkce_challenge(busy_only.verifier.expose_secret()))
    );
    assert_eq!(
        query_of(url, "state").as_deref(),
        Some(busy_only.state.expose_secret())
    );
    assert!(busy_only.state.expose_secret().len() >= 16);
    assert_ne!(busy_only.state.expose_secret(), again.state.expose_secret());
    assert_ne!(
        busy_only.verifier.expose_secret(),
        again.verifier.expose_secret()
    );
    assert!(
        !url.as_str().contains(CLIENT_SECRET),
        "the secret stays server-side"
    );
    assert!(!format!("{busy_only:?}").contains(busy_only.state.expose_secret()));
    let subject = app.authorize(&[google::scope_for(SyncMode::WithSubject)], &[]);
    assert_eq!(
        query_of(&subject.url, "scope").as_deref(),
        Some("https://www.googleapis.com/auth/calendar.events.readonly")
    );
    let graph = app.authorize(microsoft::SCOPES, &[]);
    assert_eq!(
        query_of(&graph.url, "scope").as_deref(),
        Some("offline_access Calendars.Read")
    );
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p5_a_code_is_exchanged_with_its_verifier_refreshed_and_revoked_over_https() {
    let fake = fake().await;
    let outbound = fake.outbound();
    let app = fake.app(true);
    let now = ts("2026-12-01T00:00:00Z");
    let started = app.authorize(&["scope"], &[]);
    let challenge = query_of(&started.url, "code_challenge").unwrap();
    fake.state
        .lock()
        .unwrap()
        .codes
        .insert("code-7".to_owned(), challenge.clone());
    // A verifier that is not the flow's is refused, and the code spent.
    let other = app.authorize(&["scope"], &[]);
    let code = SecretString::new("code-7".to_owned());
    let wrong = app.exchange(&outbound, &code, &other.verifier, now).await;
    assert!(matches!(wrong, Err(SyncError::Unauthorized)), "{wrong:?}");
    fake.state
        .lock()
        .unwrap()
        .codes
        .insert("code-7".to_owned(), challenge);
    let tokens = app
        .exchange(&outbound, &code, &started.verifier, now)
        .await
        .unwrap();
    assert_eq!(tokens.expires_at, Some(ts("2026-12-01T00:59:59Z")));
    let refresh = tokens.refresh.unwrap();
    assert!(
        !format!("{:?}", tokens.access).contains("access-"),
        "no token in Debug"
    );
    let fresh = app.refresh(&outbound, &refresh, now).await.unwrap();
    assert_ne!(fresh.access.expose_secret(), tokens.access.expose_secret());
    assert!(fresh.refresh.is_none(), "a refresh keeps the refresh token");
    // Revoked at the provider, the grant is dead.
    assert!(app.revoke(&outbound, &refresh).await.unwrap());
    assert_eq!(
        fake.state.lock().unwrap().revoked,
        vec![refresh.expose_secret().to_owned()]
    );
    let dead = app.refresh(&outbound, &refresh, now).await;
    assert!(matches!(dead, Err(SyncError::Unauthorized)), "{dead:?}");
    assert!(dead.unwrap_err().revokes());
    // No revocation endpoint (Microsoft): nothing to call.
    assert!(!fake.app(false).revoke(&outbound, &refresh).await.unwrap());
    // A wrong client secret is no dead grant: the connection is not
    // revoked for the operator's mistake.
    let mut misconfigured = fake.app(true);
    misconfigured.client_secret = SecretString::new("wrong".to_owned());
    let refused = misconfigured.refresh(&outbound, &refresh, now).await;
    assert!(
        matches!(refused, Err(SyncError::Malformed(_))),
        "{refused:?}"
    );
    // Revocation over plain http is refused by the OAuth client itself.
    let mut plain = fake.app(true);
    plain.revoke_url = Some("http://localhost:1/revoke".parse().unwrap());
    let refused = plain.revoke(&outbound, &refresh).await;
    assert!(
        matches!(refused, Err(SyncError::Fetch(FetchError::Refused(_)))),
        "{refused:?}"
    );
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p4_google_busy_only_reads_free_busy_in_spans_and_keeps_start_and_end() {
    let fake = fake().await;
    let token = fake.signed_in().await;
    fake.state.lock().unwrap().google_busy = vec![
        json!({ "start": "2026-12-08T09:00:00Z", "end": "2026-12-08T10:00:00Z" }),
        json!({ "start": "2026-12-30T23:00:00+01:00", "end": "2027-01-02T00:00:00Z" }),
        json!({ "start": "2027-03-01T09:00:00Z", "end": "2027-03-01T10:00:00Z" }),
    ];
    let calendar = GoogleCalendar::new(&format!("{}/calendar/v3", fake.base)).unwrap();
    let zone = berlin();
    let found = calendar
        .sync(
            &fake.outbound(),
            &token,
            &scope(&zone, SyncMode::BusyOnly),
            None,
        )
        .await
        .unwrap();
    let ApiSync::Full { expansion, cursor } = found else {
        panic!("a free/busy sync is always full");
    };
    assert!(cursor.is_none());
    assert_eq!(
        spans(&expansion.events),
        [
            "2026-12-08T09:00:00Z/2026-12-08T10:00:00Z",
            "2026-12-30T22:00:00Z/2027-01-02T00:00:00Z",
        ]
    );
    assert_no_marker(&format!("{expansion:?}"));
    fake.stop().await;
}

fn google_instance(id: &str, start: Value, end: Value) -> Value {
    json!({ "id": id, "status": "confirmed", "start": start, "end": end, "summary": format!("Subject {id}") })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p4_google_events_are_masked_paged_and_merged_incrementally() {
    let fake = fake().await;
    let token = fake.signed_in().await;
    let mut transparent = google_instance(
        "free1",
        json!({ "dateTime": "2026-12-09T09:00:00Z" }),
        json!({ "dateTime": "2026-12-09T10:00:00Z" }),
    );
    transparent["transparency"] = json!("transparent");
    let mut cancelled = google_instance(
        "gone1",
        json!({ "dateTime": "2026-12-10T09:00:00Z" }),
        json!({ "dateTime": "2026-12-10T10:00:00Z" }),
    );
    cancelled["status"] = json!("cancelled");
    let mut moved = google_instance(
        "weekly_20261215T090000Z",
        json!({ "dateTime": "2026-12-15T15:00:00+01:00", "timeZone": "Europe/Berlin" }),
        json!({ "dateTime": "2026-12-15T16:00:00+01:00" }),
    );
    moved["originalStartTime"] = json!({ "dateTime": "2026-12-15T10:00:00+01:00" });
    fake.state.lock().unwrap().google_events = vec![
        google_instance(
            "one",
            json!({ "dateTime": "2026-12-08T10:00:00+01:00" }),
            json!({ "dateTime": "2026-12-08T11:30:00+01:00" }),
        ),
        // All-day: a date, read in Berlin.
        google_instance(
            "away",
            json!({ "date": "2026-12-24" }),
            json!({ "date": "2026-12-26" }),
        ),
        transparent,
        cancelled,
        moved,
    ];
    let calendar = GoogleCalendar::new(&format!("{}/calendar/v3/", fake.base)).unwrap();
    let outbound = fake.outbound();
    let zone = berlin();
    let scope = scope(&zone, SyncMode::WithSubject);
    let ApiSync::Full { expansion, cursor } = calendar
        .sync(&outbound, &token, &scope, None)
        .await
        .unwrap()
    else {
        panic!("a first sync is full");
    };
    assert_eq!(
        spans(&expansion.events),
        [
            "2026-12-08T09:00:00Z/2026-12-08T10:30:00Z/Subject one",
            "2026-12-15T14:00:00Z/2026-12-15T15:00:00Z/Subject weekly_20261215T090000Z",
            "2026-12-23T23:00:00Z/2026-12-25T23:00:00Z/Subject away/all-day",
        ]
    );
    assert_eq!(cursor.as_deref(), Some("sync-1"), "after three pages");
    assert_no_marker(&format!("{expansion:?}"));
    assert_eq!(
        fake.state
            .lock()
            .unwrap()
            .queries
            .iter()
            .filter(|(p, _)| p == "google")
            .count(),
        3
    );
    // Incremental: the instance moved again, one cancelled, one new.
    fake.state.lock().unwrap().google_changes = Some(vec![
        google_instance(
            "weekly_20261215T090000Z",
            json!({ "dateTime": "2026-12-15T17:00:00+01:00" }),
            json!({ "dateTime": "2026-12-15T18:00:00+01:00" }),
        ),
        json!({ "id": "one", "status": "cancelled" }),
        google_instance(
            "new",
            json!({ "dateTime": "2026-12-20T08:00:00Z" }),
            json!({ "dateTime": "2026-12-20T08:30:00Z" }),
        ),
    ]);
    let ApiSync::Changes {
        changed,
        removed,
        cursor,
        ..
    } = calendar
        .sync(&outbound, &token, &scope, Some("sync-1"))
        .await
        .unwrap()
    else {
        panic!("a sync with a token gives changes");
    };
    assert_eq!(
        spans(&changed),
        [
            "2026-12-15T16:00:00Z/2026-12-15T17:00:00Z/Subject weekly_20261215T090000Z",
            "2026-12-20T08:00:00Z/2026-12-20T08:30:00Z/Subject new",
        ]
    );
    assert_eq!(
        changed[0].key,
        EventKey::instance("weekly_20261215T090000Z")
    );
    assert_eq!(removed, vec![EventKey::instance("one")]);
    assert_eq!(cursor, "sync-1");
    // An expired token (410) starts over in full.
    fake.state.lock().unwrap().google_changes = None;
    let again = calendar
        .sync(&outbound, &token, &scope, Some("sync-1"))
        .await
        .unwrap();
    assert!(matches!(again, ApiSync::Full { .. }), "{again:?}");
    fake.stop().await;
}

fn graph_event(id: &str, start: &str, end: &str) -> Value {
    json!({
        "id": id,
        "start": { "dateTime": start, "timeZone": "UTC" },
        "end": { "dateTime": end, "timeZone": "UTC" },
        "isAllDay": false, "showAs": "busy", "isCancelled": false,
        "subject": format!("Subject {id}"),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p4_graph_delta_rounds_read_utc_times_and_all_day_dates_and_merge_removals() {
    let fake = fake().await;
    let token = fake.signed_in().await;
    let mut all_day = graph_event(
        "holiday",
        "2026-12-24T00:00:00.0000000",
        "2026-12-25T00:00:00.0000000",
    );
    all_day["isAllDay"] = json!(true);
    let mut free = graph_event(
        "free",
        "2026-12-09T09:00:00.0000000",
        "2026-12-09T10:00:00.0000000",
    );
    free["showAs"] = json!("free");
    let mut cancelled = graph_event(
        "off",
        "2026-12-10T09:00:00.0000000",
        "2026-12-10T10:00:00.0000000",
    );
    cancelled["isCancelled"] = json!(true);
    fake.state.lock().unwrap().graph_events = vec![
        graph_event(
            "standup",
            "2026-12-08T08:30:00.0000000",
            "2026-12-08T08:45:00.0000000",
        ),
        all_day,
        free,
        cancelled,
    ];
    let calendar = GraphCalendar::new(&format!("{}/v1.0", fake.base)).unwrap();
    let outbound = fake.outbound();
    let zone = berlin();
    let busy_only = scope(&zone, SyncMode::BusyOnly);
    let ApiSync::Full { expansion, cursor } = calendar
        .sync(&outbound, &token, &busy_only, None)
        .await
        .unwrap()
    else {
        panic!("a first round is full");
    };
    assert_eq!(
        spans(&expansion.events),
        [
            "2026-12-08T08:30:00Z/2026-12-08T08:45:00Z",
            "2026-12-23T23:00:00Z/2026-12-24T23:00:00Z/all-day",
        ]
    );
    assert_no_marker(&format!("{expansion:?}"));
    let cursor = cursor.unwrap();
    assert!(cursor.ends_with("$deltatoken=d1"), "{cursor}");
    {
        let state = fake.state.lock().unwrap();
        assert!(
            state
                .prefers
                .iter()
                .any(|p| p == "outlook.timezone=\"UTC\""),
            "{:?}",
            state.prefers
        );
        let first = &state.queries.iter().find(|(p, _)| p == "graph").unwrap().1;
        let select = form(first.as_bytes()).remove("$select").unwrap();
        assert_eq!(
            select, "start,end,isAllDay,showAs,isCancelled",
            "no subject asked for"
        );
    }
    // The next round: one removed, one added.
    fake.state.lock().unwrap().graph_changes = Some(vec![
        json!({ "id": "standup", "@removed": { "reason": "deleted" } }),
        graph_event("review", "2026-12-11T13:00:00", "2026-12-11T14:00:00"),
    ]);
    let ApiSync::Changes {
        changed, removed, ..
    } = calendar
        .sync(&outbound, &token, &busy_only, Some(&cursor))
        .await
        .unwrap()
    else {
        panic!("a delta link gives changes");
    };
    assert_eq!(
        spans(&changed),
        ["2026-12-11T13:00:00Z/2026-12-11T14:00:00Z"]
    );
    assert_eq!(removed, vec![EventKey::instance("standup")]);
    // A cursor that is not the API's own link is never followed with
    // the token.
    let foreign = calendar
        .sync(
            &outbound,
            &token,
            &busy_only,
            Some("https://evil.example/v1.0/me/calendarView/delta?$deltatoken=d1"),
        )
        .await;
    assert!(
        matches!(foreign, Err(SyncError::Malformed(_))),
        "{foreign:?}"
    );
    // Nor a next link.
    fake.state.lock().unwrap().graph_foreign_link = true;
    let foreign = calendar.sync(&outbound, &token, &busy_only, None).await;
    assert!(
        matches!(foreign, Err(SyncError::Malformed(_))),
        "{foreign:?}"
    );
    // Expired delta state (410): a full round again, with subjects when
    // the connection keeps them.
    fake.state.lock().unwrap().graph_changes = None;
    let with_subject = scope(&zone, SyncMode::WithSubject);
    let ApiSync::Full { expansion, .. } = calendar
        .sync(&outbound, &token, &with_subject, Some(&cursor))
        .await
        .unwrap()
    else {
        panic!("an expired delta state starts over");
    };
    assert_eq!(expansion.events[0].busy.subject(), Some("Subject standup"));
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p5_hostile_api_answers_are_typed_errors_that_say_when_to_retry() {
    let fake = fake().await;
    let token = fake.signed_in().await;
    let outbound = fake.outbound();
    let zone = berlin();
    let scope = scope(&zone, SyncMode::BusyOnly);
    let google = GoogleCalendar::new(&format!("{}/calendar/v3/", fake.base)).unwrap();
    let graph = GraphCalendar::new(&format!("{}/v1.0/", fake.base)).unwrap();
    // A token the provider does not know: revoked.
    let stranger = SecretString::new("not-a-token".to_owned());
    let refused = google.sync(&outbound, &stranger, &scope, None).await;
    assert!(
        matches!(refused, Err(SyncError::Unauthorized)),
        "{refused:?}"
    );
    let refused = graph.sync(&outbound, &stranger, &scope, None).await;
    assert!(
        matches!(refused, Err(SyncError::Unauthorized)),
        "{refused:?}"
    );
    for (status, retry) in [(429, true), (500, true), (503, true), (418, false)] {
        fake.state.lock().unwrap().failing = Some(status);
        for error in [
            google
                .sync(&outbound, &token, &scope, None)
                .await
                .unwrap_err(),
            graph
                .sync(&outbound, &token, &scope, None)
                .await
                .unwrap_err(),
        ] {
            assert!(!error.revokes(), "{status}: {error}");
            assert_eq!(error.retry_after().is_some(), retry, "{status}: {error:?}");
            assert_no_marker(&format!("{error} {error:?}"));
        }
    }
    // Google answers 403 for an exhausted quota too: a wait, never a
    // revocation. A 403 for anything else is refused access.
    let quota = json!({ "error": { "code": 403, "errors": [{ "reason": "userRateLimitExceeded", "domain": "usageLimits" }] } });
    fake.state.lock().unwrap().failing = Some(403);
    fake.state.lock().unwrap().failing_json = Some(quota);
    let waited = google
        .sync(&outbound, &token, &scope, None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            waited,
            SyncError::RateLimited {
                retry_after: Some(_)
            }
        ),
        "{waited:?}"
    );
    assert!(!waited.revokes());
    fake.state.lock().unwrap().failing_json =
        Some(json!({ "error": { "code": 403, "errors": [{ "reason": "forbidden" }] } }));
    let refused = google
        .sync(&outbound, &token, &scope, None)
        .await
        .unwrap_err();
    assert!(refused.revokes(), "{refused:?}");
    fake.state.lock().unwrap().failing_json = None;
    fake.state.lock().unwrap().failing = None;
    // A provider that is not the one configured at all: refused, never
    // a panic.
    let nowhere = GoogleCalendar::new("https://localhost:1/calendar/v3/").unwrap();
    let unreachable = nowhere.sync(&outbound, &token, &scope, None).await;
    assert!(
        matches!(unreachable, Err(SyncError::Fetch(_))),
        "{unreachable:?}"
    );
    fake.stop().await;
}
