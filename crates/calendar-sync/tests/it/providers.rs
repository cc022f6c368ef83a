//! Google Calendar and Microsoft Graph, and the OAuth flow in front of
//! them, against one loopback fake that serves https with a certificate
//! only these tests trust and speaks each provider's documented wire
//! format: token, refresh and revocation endpoints, `freeBusy.query`,
//! `events.list` with its field mask, pages and sync tokens, and Graph's
//! `calendarView/delta` rounds. Every event also carries fields full of
//! markers that must never come out (P4, P5).

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
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

use crate::support::{range, ts};

const CLIENT_ID: &str = "bookwarden-test-client";
const CLIENT_SECRET: &str = "client-secret-MARKER-5521";

/// Fields no answer of ours may carry, placed in every fake event.
const MARKERS: [&str; 5] = [
    "MARKER-API-DESCRIPTION",
    "MARKER-API-LOCATION",
    "MARKER-API-ATTENDEE",
    "MARKER-API-ORGANIZER",
    "MARKER-API-BODY",
];

/// What the fake knows and what it saw.
#[derive(Default)]
struct Provider {
    /// Authorization codes and the PKCE challenge each was issued for.
    codes: BTreeMap<String, String>,
    access: BTreeSet<String>,
    refresh: BTreeSet<String>,
    revoked: Vec<String>,
    issued: usize,
    /// Google: instances of a full listing, and the changes a sync token
    /// gets; `None` makes the token expired (410).
    google_events: Vec<Value>,
    google_changes: Option<Vec<Value>>,
    google_busy: Vec<Value>,
    /// Graph: events of a full round (two pages), and what a delta link
    /// gets; `None` makes the delta state expired (410).
    graph_events: Vec<Value>,
    graph_changes: Option<Vec<Value>>,
    /// Graph: a next link to another server, once.
    graph_foreign_link: bool,
    /// Query strings seen, by path.
    queries: Vec<(String, String)>,
    /// `Prefer` headers seen on Graph requests.
    prefers: Vec<String>,
    /// Answer every API request with this status instead.
    failing: Option<u16>,
}

type Shared = web::Data<Mutex<Provider>>;

fn with_markers(mut event: Value) -> Value {
    event["description"] = json!(MARKERS[0]);
    event["location"] = json!({ "displayName": MARKERS[1] });
    event["attendees"] = json!([{ "email": "a@example.com", "displayName": MARKERS[2] }]);
    event["organizer"] = json!({ "displayName": MARKERS[3] });
    event["body"] = json!({ "content": MARKERS[4] });
    event
}

fn form(body: &[u8]) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// The refusal a request without a known bearer token gets, if any.
fn bearer(request: &HttpRequest, state: &Provider) -> Option<HttpResponse> {
    if let Some(status) = state.failing {
        let status = actix_web::http::StatusCode::from_u16(status).unwrap();
        return Some(
            HttpResponse::build(status)
                .insert_header(("retry-after", "120"))
                .body("<html>MARKER-API-ERROR</html>"),
        );
    }
    let token = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    (!state.access.contains(token))
        .then(|| HttpResponse::Unauthorized().json(json!({ "error": { "code": 401 } })))
}

async fn token(body: web::Bytes, state: Shared) -> HttpResponse {
    let form = form(&body);
    let mut state = state.lock().unwrap();
    let refused = || HttpResponse::BadRequest().json(json!({ "error": "invalid_grant" }));
    if form.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
    {
        return HttpResponse::Unauthorized().json(json!({ "error": "invalid_client" }));
    }
    let give_refresh = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let code = form.get("code").cloned().unwrap_or_default();
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            let Some(challenge) = state.codes.remove(&code) else {
                return refused();
            };
            if pkce_challenge(&verifier) != challenge {
                return refused();
            }
            true
        }
        Some("refresh_token") => {
            let refresh = form.get("refresh_token").cloned().unwrap_or_default();
            if !state.refresh.contains(&refresh) {
                return refused();
            }
            false
        }
        _ => return HttpResponse::BadRequest().json(json!({ "error": "unsupported_grant_type" })),
    };
    state.issued += 1;
    let access = format!("access-{}", state.issued);
    state.access.insert(access.clone());
    let mut answer = json!({ "access_token": access, "token_type": "Bearer", "expires_in": 3599 });
    if give_refresh {
        let refresh = format!("refresh-{}", state.issued);
        state.refresh.insert(refresh.clone());
        answer["refresh_token"] = json!(refresh);
    }
    HttpResponse::Ok().json(answer)
}

async fn revoke(body: web::Bytes, state: Shared) -> HttpResponse {
    let form = form(&body);
    let mut state = state.lock().unwrap();
    let token = form.get("token").cloned().unwrap_or_default();
    state.refresh.remove(&token);
    state.revoked.push(token);
    HttpResponse::Ok().finish()
}

async fn free_busy(request: HttpRequest, body: web::Bytes, state: Shared) -> HttpResponse {
    let state = state.lock().unwrap();
    if let Some(refusal) = bearer(&request, &state) {
        return refusal;
    }
    let asked: Value = serde_json::from_slice(&body).unwrap();
    let (from, to) = (
        ts(asked["timeMin"].as_str().unwrap()),
        ts(asked["timeMax"].as_str().unwrap()),
    );
    assert!(
        to.duration_since(from).as_hours() <= 60 * 24,
        "at most 60 days a query"
    );
    let busy: Vec<&Value> = state
        .google_busy
        .iter()
        .filter(|b| ts(b["start"].as_str().unwrap()) < to && ts(b["end"].as_str().unwrap()) > from)
        .collect();
    HttpResponse::Ok().json(json!({
        "kind": "calendar#freeBusy",
        "calendars": { "primary": { "busy": busy, "note": MARKERS[0] } },
    }))
}

async fn google_events(request: HttpRequest, state: Shared) -> HttpResponse {
    let mut state = state.lock().unwrap();
    if let Some(refusal) = bearer(&request, &state) {
        return refusal;
    }
    state
        .queries
        .push(("google".to_owned(), request.query_string().to_owned()));
    let query: BTreeMap<String, String> = form(request.query_string().as_bytes());
    assert_eq!(query.get("singleEvents").map(String::as_str), Some("true"));
    assert!(query["fields"].contains("items(id,status,transparency,start,end"));
    let items = if let Some(sync) = query.get("syncToken") {
        assert!(
            !query.contains_key("timeMin"),
            "no window beside a sync token"
        );
        match (&state.google_changes, sync.as_str()) {
            (Some(changes), "sync-1") => changes.clone(),
            _ => return HttpResponse::Gone().json(json!({ "error": { "code": 410 } })),
        }
    } else {
        assert!(query.contains_key("timeMin") && query.contains_key("timeMax"));
        state.google_events.clone()
    };
    // Two instances a page.
    let page: usize = query
        .get("pageToken")
        .and_then(|p| p.strip_prefix("page-"))
        .map_or(0, |p| p.parse().unwrap());
    let chunk: Vec<Value> = items
        .iter()
        .skip(page * 2)
        .take(2)
        .cloned()
        .map(with_markers)
        .collect();
    let mut answer = json!({ "kind": "calendar#events", "items": chunk, "summary": MARKERS[1] });
    if (page + 1) * 2 < items.len() {
        answer["nextPageToken"] = json!(format!("page-{}", page + 1));
    } else {
        answer["nextSyncToken"] = json!("sync-1");
    }
    HttpResponse::Ok().json(answer)
}

async fn graph_delta(request: HttpRequest, state: Shared) -> HttpResponse {
    let mut state = state.lock().unwrap();
    if let Some(refusal) = bearer(&request, &state) {
        return refusal;
    }
    let prefers: Vec<String> = request
        .headers()
        .get_all("prefer")
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    state.prefers.extend(prefers);
    state
        .queries
        .push(("graph".to_owned(), request.query_string().to_owned()));
    let query: BTreeMap<String, String> = form(request.query_string().as_bytes());
    let base = format!(
        "https://localhost:{}/v1.0/me/calendarView/delta",
        request.app_config().local_addr().port()
    );
    let (items, next) = if let Some(token) = query.get("$deltatoken") {
        match (&state.graph_changes, token.as_str()) {
            (Some(changes), "d1") => (
                changes.clone(),
                json!({ "@odata.deltaLink": format!("{base}?$deltatoken=d1") }),
            ),
            _ => {
                return HttpResponse::Gone()
                    .json(json!({ "error": { "code": "syncStateNotFound" } }));
            }
        }
    } else if query.get("$skiptoken").map(String::as_str) == Some("p2") {
        (
            state.graph_events.iter().skip(2).cloned().collect(),
            json!({ "@odata.deltaLink": format!("{base}?$deltatoken=d1") }),
        )
    } else {
        assert!(query.contains_key("startDateTime") && query.contains_key("endDateTime"));
        let next = if std::mem::take(&mut state.graph_foreign_link) {
            "https://evil.example/v1.0/me/calendarView/delta?$skiptoken=p2".to_owned()
        } else {
            format!("{base}?$skiptoken=p2")
        };
        (
            state.graph_events.iter().take(2).cloned().collect(),
            json!({ "@odata.nextLink": next }),
        )
    };
    let mut answer = json!({ "value": items.into_iter().map(with_markers).collect::<Vec<_>>() });
    for (key, value) in next.as_object().unwrap() {
        answer[key] = value.clone();
    }
    HttpResponse::Ok().json(answer)
}

struct Fake {
    base: String,
    state: Shared,
    cert: Vec<u8>,
    folder: PathBuf,
    server: actix_web::dev::ServerHandle,
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

/// A certificate for `localhost` made by openssl, trusted only by the
/// clients these tests build.
fn certificate(folder: &std::path::Path) -> (Vec<u8>, Vec<u8>) {
    let (cert, key) = (folder.join("cert.pem"), folder.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl makes the test certificate (.ci/run installs it)");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    (std::fs::read(cert).unwrap(), std::fs::read(key).unwrap())
}

async fn fake() -> Fake {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let folder = std::env::temp_dir().join(format!("bookwarden-providers-{}", uuid_like()));
    std::fs::create_dir_all(&folder).unwrap();
    let (cert, key) = certificate(&folder);
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert)
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(&key).unwrap();
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let state: Shared = web::Data::new(Mutex::new(Provider::default()));
    let shared = state.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(shared.clone())
            .route("/token", web::post().to(token))
            .route("/revoke", web::post().to(revoke))
            .route("/calendar/v3/freeBusy", web::post().to(free_busy))
            .route(
                "/calendar/v3/calendars/primary/events",
                web::get().to(google_events),
            )
            .route("/v1.0/me/calendarView/delta", web::get().to(graph_delta))
    })
    .workers(1)
    .listen_rustls_0_23(listener, tls)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Fake {
        base: format!("https://localhost:{port}"),
        state,
        cert,
        folder,
        server: handle,
    }
}

fn uuid_like() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

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
