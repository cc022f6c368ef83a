//! A fake Google and Microsoft for tests: one loopback server speaking
//! https (with a certificate openssl makes, trusted only by the tests'
//! clients) and each provider's documented wire format: the OAuth token
//! and revocation endpoints (PKCE checked), `freeBusy.query`,
//! `events.list` with its field mask, pages and sync tokens, and Graph's
//! `calendarView/delta` rounds. Every event carries fields full of markers
//! that must never come out. Shared by this crate's tests and the
//! server's (which include this file by path).

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use bookwarden_domain::jiff::Timestamp;
use serde_json::{Value, json};

pub(crate) const CLIENT_ID: &str = "bookwarden-test-client";
pub(crate) const CLIENT_SECRET: &str = "client-secret-MARKER-5521";

/// Fields no answer of ours may carry, placed in every fake event.
pub(crate) const MARKERS: [&str; 5] = [
    "MARKER-API-DESCRIPTION",
    "MARKER-API-LOCATION",
    "MARKER-API-ATTENDEE",
    "MARKER-API-ORGANIZER",
    "MARKER-API-BODY",
];

/// What the fake knows and what it saw.
#[derive(Default)]
pub(crate) struct Provider {
    /// Authorization codes and the PKCE challenge each was issued for.
    pub(crate) codes: BTreeMap<String, String>,
    pub(crate) access: BTreeSet<String>,
    pub(crate) refresh: BTreeSet<String>,
    pub(crate) revoked: Vec<String>,
    pub(crate) issued: usize,
    /// Google: instances of a full listing, and the changes a sync token
    /// gets; `None` makes the token expired (410).
    pub(crate) google_events: Vec<Value>,
    pub(crate) google_changes: Option<Vec<Value>>,
    pub(crate) google_busy: Vec<Value>,
    /// Graph: events of a full round (two pages), and what a delta link
    /// gets; `None` makes the delta state expired (410).
    pub(crate) graph_events: Vec<Value>,
    pub(crate) graph_changes: Option<Vec<Value>>,
    /// Graph: a next link to another server, once.
    pub(crate) graph_foreign_link: bool,
    /// Query strings seen, by path.
    pub(crate) queries: Vec<(String, String)>,
    /// `Prefer` headers seen on Graph requests.
    pub(crate) prefers: Vec<String>,
    /// Answer every API request with this status instead, and this JSON
    /// body when given (else an HTML page with a marker).
    pub(crate) failing: Option<u16>,
    pub(crate) failing_json: Option<Value>,
}

pub(crate) type Shared = web::Data<Mutex<Provider>>;

fn with_markers(mut event: Value) -> Value {
    event["description"] = json!(MARKERS[0]);
    event["location"] = json!({ "displayName": MARKERS[1] });
    event["attendees"] = json!([{ "email": "a@example.com", "displayName": MARKERS[2] }]);
    event["organizer"] = json!({ "displayName": MARKERS[3] });
    event["body"] = json!({ "content": MARKERS[4] });
    event
}

/// The S256 challenge of a PKCE verifier (RFC 7636).
fn s256(verifier: &str) -> String {
    data_encoding::BASE64URL_NOPAD.encode(&bookwarden_crypto::digest::sha256(verifier.as_bytes()))
}

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// The refusal a request without a known bearer token gets, if any.
fn bearer(request: &HttpRequest, state: &Provider) -> Option<HttpResponse> {
    if let Some(status) = state.failing {
        let status = actix_web::http::StatusCode::from_u16(status).unwrap();
        let mut answer = HttpResponse::build(status);
        answer.insert_header(("retry-after", "120"));
        return Some(match &state.failing_json {
            Some(body) => answer.json(body),
            None => answer.body("<html>MARKER-API-ERROR</html>"),
        });
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

async fn token(form: web::Form<BTreeMap<String, String>>, state: Shared) -> HttpResponse {
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
            if s256(&verifier) != challenge {
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
    let access = format!("ya29.fake-access-{}-7c1f40", state.issued);
    state.access.insert(access.clone());
    let mut answer = json!({ "access_token": access, "token_type": "Bearer", "expires_in": 3599 });
    if give_refresh {
        let refresh = format!("1//fake-refresh-{}-9d2e17", state.issued);
        state.refresh.insert(refresh.clone());
        answer["refresh_token"] = json!(refresh);
    }
    HttpResponse::Ok().json(answer)
}

async fn revoke(form: web::Form<BTreeMap<String, String>>, state: Shared) -> HttpResponse {
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

async fn google_events(
    request: HttpRequest,
    query: web::Query<BTreeMap<String, String>>,
    state: Shared,
) -> HttpResponse {
    let mut state = state.lock().unwrap();
    if let Some(refusal) = bearer(&request, &state) {
        return refusal;
    }
    state
        .queries
        .push(("google".to_owned(), request.query_string().to_owned()));
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

async fn graph_delta(
    request: HttpRequest,
    query: web::Query<BTreeMap<String, String>>,
    state: Shared,
) -> HttpResponse {
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

pub(crate) struct Fake {
    pub(crate) base: String,
    pub(crate) state: Shared,
    pub(crate) cert: Vec<u8>,
    pub(crate) folder: PathBuf,
    pub(crate) server: actix_web::dev::ServerHandle,
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

pub(crate) async fn fake() -> Fake {
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
