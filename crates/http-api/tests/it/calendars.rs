//! Staff calendars through the server: an iCalendar feed served over
//! loopback by a fake that can fail on command, and a real CalDAV server
//! (Radicale). Busy time blocks slots, nothing but busy time (and a
//! subject, when asked for) is kept, failures keep the busy time and the
//! tenant's fail policy decides what customers see, addresses inside a
//! network are refused like unreachable ones, and a plan without
//! calendars disconnects them all (P4, P5), on SQLite and PostgreSQL.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, HttpServer, web};
use bookwarden_app::TenantChange;
use bookwarden_domain::jiff::{SignedDuration, Timestamp};
use bookwarden_domain::tenant::Plan;
use serde_json::{Value, json};

use crate::booking::{Shop, at_ten, listed_slots, shop};
use crate::harness::{Options, TestApp, engines, spawn_with};

#[path = "../../../calendar-sync/tests/it/radicale.rs"]
mod radicale;

/// What the fake feed answers next.
#[derive(Clone)]
pub(crate) enum Answer {
    /// The calendar (or 304 when the caller already has this version).
    Calendar,
    /// This status, with a body carrying a marker.
    Status(u16),
    /// A redirect to this address.
    Redirect(&'static str),
}

struct FeedState {
    answer: Mutex<Answer>,
    calendar: Mutex<(u32, String)>,
    full: AtomicUsize,
    unchanged: AtomicUsize,
}

/// An iCalendar feed on loopback whose answer a test sets.
pub(crate) struct FakeFeed {
    base: String,
    state: web::Data<FeedState>,
    server: actix_web::dev::ServerHandle,
}

async fn answer(request: HttpRequest, state: web::Data<FeedState>) -> HttpResponse {
    let answer = state.answer.lock().unwrap().clone();
    match answer {
        Answer::Calendar => {
            let (version, text) = state.calendar.lock().unwrap().clone();
            let etag = format!("\"v{version}\"");
            let known = request
                .headers()
                .get(header::IF_NONE_MATCH)
                .is_some_and(|v| v.as_bytes() == etag.as_bytes());
            if known {
                state.unchanged.fetch_add(1, Ordering::SeqCst);
                return HttpResponse::NotModified().finish();
            }
            state.full.fetch_add(1, Ordering::SeqCst);
            HttpResponse::Ok()
                .content_type("text/calendar; charset=utf-8")
                .insert_header((header::ETAG, etag))
                .body(text)
        }
        Answer::Status(status) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                .insert_header((header::RETRY_AFTER, "30"))
                .body("MARKER-ERROR-BODY")
        }
        Answer::Redirect(to) => HttpResponse::Found()
            .insert_header((header::LOCATION, to))
            .finish(),
    }
}

impl FakeFeed {
    pub(crate) async fn start(calendar: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = web::Data::new(FeedState {
            answer: Mutex::new(Answer::Calendar),
            calendar: Mutex::new((1, calendar)),
            full: AtomicUsize::new(0),
            unchanged: AtomicUsize::new(0),
        });
        let shared = state.clone();
        let server = HttpServer::new(move || {
            actix_web::App::new()
                .app_data(shared.clone())
                .route("/{token}/basic.ics", web::get().to(answer))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            base: format!("http://127.0.0.1:{port}"),
            state,
            server: handle,
        }
    }

    /// The feed's address, with a secret token in its path as calendar
    /// apps give them.
    pub(crate) fn url(&self, token: &str) -> String {
        format!("{}/{token}/basic.ics", self.base)
    }

    pub(crate) fn answer(&self, answer: Answer) {
        *self.state.answer.lock().unwrap() = answer;
    }

    /// Publishes a new version of the calendar.
    pub(crate) fn publish(&self, calendar: String) {
        let mut current = self.state.calendar.lock().unwrap();
        *current = (current.0 + 1, calendar);
    }

    /// Full answers and 304s given so far.
    fn hits(&self) -> (usize, usize) {
        (
            self.state.full.load(Ordering::SeqCst),
            self.state.unchanged.load(Ordering::SeqCst),
        )
    }

    pub(crate) async fn stop(self) {
        self.server.stop(false).await;
    }
}

/// `at` as an iCalendar UTC date-time.
fn ical_time(at: Timestamp) -> String {
    at.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// Marker strings placed in the fields that must never be kept.
pub(crate) fn markers(tag: &str) -> Vec<String> {
    [
        "DESCRIPTION",
        "LOCATION",
        "ATTENDEE",
        "ORGANIZER",
        "URL",
        "ATTACH",
        "COMMENT",
    ]
    .iter()
    .map(|field| format!("MARKER-{field}-{tag}"))
    .collect()
}

/// A calendar of `events` (each from BEGIN:VEVENT to END:VEVENT).
fn calendar(events: &[String]) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Tests//EN\r\n{}END:VCALENDAR\r\n",
        events.concat()
    )
}

/// A meeting `from` for an hour, titled `subject`, with every other field
/// full of markers.
fn meeting_event(from: Timestamp, subject: &str, tag: &str) -> String {
    let m = markers(tag);
    format!(
        "BEGIN:VEVENT\r\nUID:meeting@feed.test\r\nDTSTAMP:20261101T000000Z\r\n\
         DTSTART:{start}\r\nDTEND:{end}\r\nSUMMARY:{subject}\r\n\
         DESCRIPTION:{d}\r\nLOCATION:{l}\r\n\
         ATTENDEE;CN={a}:mailto:attendee@feed.test\r\n\
         ORGANIZER;CN={o}:mailto:organizer@feed.test\r\n\
         URL:https://feed.test/{u}\r\nATTACH:https://feed.test/{t}\r\nCOMMENT:{c}\r\n\
         END:VEVENT\r\n",
        start = ical_time(from),
        end = ical_time(from + SignedDuration::from_hours(1)),
        d = m[0],
        l = m[1],
        a = m[2],
        o = m[3],
        u = m[4],
        t = m[5],
        c = m[6],
    )
}

/// The meeting, and a transparent event at the same time that blocks
/// nothing.
pub(crate) fn meeting(from: Timestamp, subject: &str, tag: &str) -> String {
    let maybe = format!(
        "BEGIN:VEVENT\r\nUID:maybe@feed.test\r\nDTSTAMP:20261101T000000Z\r\n\
         DTSTART:{}\r\nDTEND:{}\r\nTRANSP:TRANSPARENT\r\nSUMMARY:Maybe\r\nEND:VEVENT\r\n",
        ical_time(from),
        ical_time(from + SignedDuration::from_hours(1)),
    );
    calendar(&[meeting_event(from, subject, tag), maybe])
}

fn with_loopback() -> Options {
    Options {
        configure: Arc::new(|file| file.calendar_allow_loopback = Some(true)),
        ..Options::default()
    }
}

/// A shop on the pro plan, so it may connect calendars.
async fn pro_shop(app: &TestApp) -> Shop {
    let shop = shop(app).await;
    let changed = app
        .app
        .change_tenant(&shop.owner.slug, TenantChange::Plan(Plan::Pro))
        .await
        .unwrap();
    assert_eq!(changed.calendars_disconnected, 0);
    shop
}

/// The public slots of the day `days` ahead (UTC), with the response.
async fn day_slots(app: &TestApp, shop: &Shop, days: i64) -> (Vec<Timestamp>, Value) {
    let from = at_ten(app, days) - SignedDuration::from_hours(10);
    let to = from + SignedDuration::from_hours(24);
    let response = app
        .http
        .get(app.url(&format!(
            "/v1/public/{}/services/{}/slots?from={from}&to={to}&time_zone=UTC",
            shop.owner.slug, shop.service
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let starts = listed_slots(&body)
        .iter()
        .map(|s| s["start"].as_str().unwrap().parse().unwrap())
        .collect();
    (starts, body)
}

async fn connect_feed(app: &TestApp, shop: &Shop, url: &str, mode: &str) -> reqwest::Response {
    app.post(
        "/v1/calendar-connections",
        Some(&shop.owner.token),
        json!({ "staff_id": shop.staff, "kind": "ics", "url": url, "mode": mode }),
    )
    .await
}

async fn sync_now(app: &TestApp, token: &str, id: &str) -> Value {
    let response = app
        .post(
            &format!("/v1/calendar-connections/{id}/sync"),
            Some(token),
            json!(null),
        )
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

async fn put_policy(app: &TestApp, token: &str, policy: &str) -> reqwest::Response {
    app.http
        .put(app.url("/v1/calendar-policy"))
        .bearer_auth(token)
        .json(&json!({ "unhealthy_calendars": policy }))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p4_a_connected_feed_blocks_busy_time_and_nothing_else_is_kept() {
    for engine in engines() {
        let app = spawn_with(Options {
            engine,
            ..with_loopback()
        })
        .await;
        let shop = shop(&app).await;
        let meeting_at = at_ten(&app, 2);
        let feed = FakeFeed::start(meeting(meeting_at, "SUBJECT-Dentist", "p4")).await;
        let token = format!("private-{}", uuid::Uuid::new_v4().simple());
        let url = feed.url(&token);
        // The free plan has no calendar connections.
        let refused = connect_feed(&app, &shop, &url, "busy_only").await;
        assert_eq!(refused.status(), 409, "{engine:?}");
        let refused: Value = refused.json().await.unwrap();
        assert_eq!(refused["code"], "plan_without_calendars");
        app.app
            .change_tenant(&shop.owner.slug, TenantChange::Plan(Plan::Pro))
            .await
            .unwrap();
        let (before, _) = day_slots(&app, &shop, 2).await;
        assert_eq!(before.len(), 16);

        let connected = connect_feed(&app, &shop, &url, "busy_only").await;
        assert_eq!(connected.status(), 201, "{engine:?}");
        let connected: Value = connected.json().await.unwrap();
        assert_eq!(connected["health"], "healthy");
        assert_eq!(connected["provider"], "ics");
        assert_eq!(connected["mode"], "busy_only");
        assert_eq!(connected["staff_id"], shop.staff.as_str());
        assert!(connected["last_error"].is_null());
        let id = connected["id"].as_str().unwrap().to_owned();

        // The meeting's hour is gone from the listing; the transparent
        // event at the same time blocked nothing more.
        let (after, listing) = day_slots(&app, &shop, 2).await;
        assert_eq!(after.len(), 14, "{engine:?}: {after:?}");
        assert!(!after.contains(&meeting_at));
        assert!(!after.contains(&(meeting_at + SignedDuration::from_mins(30))));
        assert!(after.contains(&(meeting_at + SignedDuration::from_hours(1))));
        assert_eq!(listing["calendars"], json!([]), "a healthy calendar");

        // Busy-only keeps no subject; no mode keeps any other field, and
        // the feed's secret address is stored sealed only.
        let stored = app.stored_bytes();
        assert!(contains(&stored, &shop.owner.slug), "the check sees data");
        assert!(!contains(&stored, "SUBJECT-Dentist"), "{engine:?}");
        assert!(!contains(&stored, &token), "{engine:?}: the feed URL");
        for marker in markers("p4") {
            assert!(!contains(&stored, &marker), "{engine:?}: {marker}");
        }

        // With a subject: the subject and nothing more.
        let changed = app
            .patch(
                &format!("/v1/calendar-connections/{id}"),
                &shop.owner.token,
                json!({ "mode": "with_subject" }),
            )
            .await;
        assert_eq!(changed.status(), 200);
        let changed: Value = changed.json().await.unwrap();
        assert_eq!(changed["mode"], "with_subject");
        assert_eq!(changed["health"], "healthy");
        let stored = app.stored_bytes();
        assert!(contains(&stored, "SUBJECT-Dentist"), "{engine:?}");
        for marker in markers("p4") {
            assert!(!contains(&stored, &marker), "{engine:?}: {marker}");
        }
        let (still, _) = day_slots(&app, &shop, 2).await;
        assert_eq!(still, after);

        // No answer of the API repeats a marker, the subject or the URL.
        let listed = app
            .get("/v1/calendar-connections", &shop.owner.token)
            .await
            .text()
            .await
            .unwrap();
        assert!(listed.contains(&id));
        assert!(
            listed.contains("127.0.0.1"),
            "the label is the host: {listed}"
        );
        let audit = app
            .get("/v1/audit?limit=500", &shop.owner.token)
            .await
            .text()
            .await
            .unwrap();
        for body in [&listed, &audit, &listing.to_string()] {
            assert!(!body.contains(&token), "{body}");
            assert!(!body.contains("SUBJECT-Dentist"), "{body}");
            for marker in markers("p4") {
                assert!(!body.contains(&marker), "{body}");
            }
        }

        // Disconnecting deletes the busy time with the connection.
        let gone = app
            .delete(&format!("/v1/calendar-connections/{id}"), &shop.owner.token)
            .await;
        assert_eq!(gone.status(), 204);
        let (freed, _) = day_slots(&app, &shop, 2).await;
        assert_eq!(freed, before);
        let listed: Value = app
            .get("/v1/calendar-connections", &shop.owner.token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(listed["connections"], json!([]));
        let kinds = app.audit_kinds(&shop.owner.token).await;
        for kind in [
            "calendar.connected",
            "calendar.mode_changed",
            "calendar.disconnected",
        ] {
            assert!(kinds.iter().any(|k| k == kind), "{kind}: {kinds:?}");
        }
        feed.stop().await;
        app.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p5_a_failing_calendar_keeps_its_busy_time_and_the_fail_policy_decides_what_customers_see()
{
    for engine in engines() {
        let app = spawn_with(Options {
            engine,
            ..with_loopback()
        })
        .await;
        let shop = pro_shop(&app).await;
        let token = &shop.owner.token;
        let meeting_at = at_ten(&app, 2);
        let feed = FakeFeed::start(meeting(meeting_at, "Dentist", "fail")).await;
        let connected: Value = connect_feed(&app, &shop, &feed.url("private-f"), "busy_only")
            .await
            .json()
            .await
            .unwrap();
        let id = connected["id"].as_str().unwrap().to_owned();
        let policy: Value = app
            .get("/v1/calendar-policy", token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(policy["unhealthy_calendars"], "hide", "the default");

        // A provider that fails is answered, never passed on as a 500; the
        // busy time stays, and after three failures the calendar is
        // failing.
        feed.answer(Answer::Status(500));
        for attempt in 1..=3 {
            let view = sync_now(&app, token, &id).await;
            let error = view["last_error"].as_str().unwrap();
            assert!(error.contains("500"), "{error}");
            assert!(!error.contains("MARKER"), "{error}");
            let expected = if attempt < 3 { "healthy" } else { "failing" };
            assert_eq!(view["health"], expected, "{engine:?} attempt {attempt}");
            assert!(view["next_sync_at"].is_string(), "retried with backoff");
        }
        // Hidden by default: none of this staff member's times, and why.
        let (hidden, body) = day_slots(&app, &shop, 2).await;
        assert!(hidden.is_empty(), "{engine:?}: {hidden:?}");
        assert_eq!(
            body["calendars"],
            json!([{ "staff_id": shop.staff, "health": "failing", "withheld": true }])
        );
        // Shown with a warning under `warn`, the kept busy time still
        // blocking.
        let staff_only = app
            .member(&shop.owner, token, "staff", "sam@calendar.example")
            .await
            .1;
        assert_eq!(put_policy(&app, &staff_only, "warn").await.status(), 403);
        assert_eq!(put_policy(&app, token, "sometimes").await.status(), 422);
        assert_eq!(put_policy(&app, token, "warn").await.status(), 200);
        let (warned, body) = day_slots(&app, &shop, 2).await;
        assert_eq!(warned.len(), 14, "{engine:?}");
        assert!(!warned.contains(&meeting_at));
        assert_eq!(
            body["calendars"],
            json!([{ "staff_id": shop.staff, "health": "failing", "withheld": false }])
        );

        // Refused credentials revoke the connection, once in the audit
        // log, and stop the automatic retries.
        feed.answer(Answer::Status(401));
        for _ in 0..2 {
            let view = sync_now(&app, token, &id).await;
            assert_eq!(view["health"], "revoked");
            assert!(view["next_sync_at"].is_null());
        }
        let kinds = app.audit_kinds(token).await;
        assert_eq!(
            kinds.iter().filter(|k| *k == "calendar.revoked").count(),
            1,
            "{kinds:?}"
        );
        assert!(kinds.iter().any(|k| k == "calendar.fail_policy_changed"));

        // A redirect into the cloud's metadata service is refused like any
        // other failure.
        feed.answer(Answer::Redirect("http://169.254.169.254/latest/meta-data/"));
        let view = sync_now(&app, token, &id).await;
        assert!(view["last_error"].as_str().unwrap().contains("refused"));

        // A calendar that answers again is healthy again.
        feed.answer(Answer::Calendar);
        let view = sync_now(&app, token, &id).await;
        assert_eq!(view["health"], "healthy", "{engine:?}: {view}");
        assert!(view["last_error"].is_null());
        let (back, body) = day_slots(&app, &shop, 2).await;
        assert_eq!(back, warned);
        assert_eq!(body["calendars"], json!([]));
        feed.stop().await;
        app.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p5_private_addresses_are_refused_with_the_answer_an_unreachable_one_gets() {
    for engine in engines() {
        let app = spawn_with(Options {
            engine,
            ..with_loopback()
        })
        .await;
        let shop = pro_shop(&app).await;
        let feed = FakeFeed::start(meeting(at_ten(&app, 2), "Dentist", "ssrf")).await;
        feed.answer(Answer::Redirect("http://169.254.169.254/latest/meta-data/"));
        let unreachable =
            connect_feed(&app, &shop, "http://127.0.0.1:1/cal.ics", "busy_only").await;
        assert_eq!(unreachable.status(), 422);
        let unreachable: Value = unreachable.json().await.unwrap();
        for url in [
            "https://10.0.0.1/cal.ics",
            "https://169.254.169.254/latest/meta-data/",
            "https://[::ffff:10.0.0.1]/cal.ics",
            "https://[fd00::1]/cal.ics",
            "https://100.64.0.1/cal.ics",
            &feed.url("private-redirect"),
        ] {
            let refused = connect_feed(&app, &shop, url, "busy_only").await;
            assert_eq!(refused.status(), 422, "{engine:?} {url}");
            let refused: Value = refused.json().await.unwrap();
            assert_eq!(refused, unreachable, "{url}");
        }
        // Input that is no address at all, or the wrong shape, is a
        // client's mistake with its field named.
        for body in [
            json!({ "staff_id": shop.staff, "kind": "ics", "url": "not a url" }),
            json!({ "staff_id": shop.staff, "kind": "ics" }),
            json!({ "staff_id": shop.staff, "kind": "ics", "url": feed.url("x"), "password": "p" }),
            json!({ "staff_id": shop.staff, "kind": "exchange", "url": feed.url("x") }),
            json!({ "staff_id": shop.staff, "kind": "ics", "url": feed.url("x"), "mode": "everything" }),
            json!({ "staff_id": "nope", "kind": "ics", "url": feed.url("x") }),
            json!({ "staff_id": shop.staff, "kind": "caldav", "server": feed.url("x") }),
        ] {
            let response = app
                .post(
                    "/v1/calendar-connections",
                    Some(&shop.owner.token),
                    body.clone(),
                )
                .await;
            assert_eq!(response.status(), 422, "{body}");
        }
        let listed: Value = app
            .get("/v1/calendar-connections", &shop.owner.token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(listed["connections"], json!([]), "nothing stored");
        feed.stop().await;
        app.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p1_other_tenants_and_other_staff_cannot_reach_a_calendar() {
    for engine in engines() {
        let app = spawn_with(Options {
            engine,
            ..with_loopback()
        })
        .await;
        let shop = pro_shop(&app).await;
        let other = pro_shop(&app).await;
        let feed = FakeFeed::start(meeting(at_ten(&app, 2), "Dentist", "iso")).await;
        let connected: Value = connect_feed(&app, &shop, &feed.url("private-i"), "busy_only")
            .await
            .json()
            .await
            .unwrap();
        let id = connected["id"].as_str().unwrap().to_owned();
        let unknown = uuid::Uuid::new_v4().to_string();
        // Another business's owner: the connection and the staff member
        // are as unknown as random ids.
        for target in [&id, &unknown] {
            let path = format!("/v1/calendar-connections/{target}");
            let t = &other.owner.token;
            assert_eq!(app.delete(&path, t).await.status(), 404, "{engine:?}");
            let patched = app.patch(&path, t, json!({ "mode": "with_subject" })).await;
            assert_eq!(patched.status(), 404);
            let synced = app
                .post(&format!("{path}/sync"), Some(t), json!(null))
                .await;
            assert_eq!(synced.status(), 404);
        }
        for staff in [&shop.staff, &unknown] {
            let response = app
                .post(
                    "/v1/calendar-connections",
                    Some(&other.owner.token),
                    json!({ "staff_id": staff, "kind": "ics", "url": feed.url("x") }),
                )
                .await;
            assert_eq!(response.status(), 404, "{engine:?}");
        }
        let theirs: Value = app
            .get("/v1/calendar-connections", &other.owner.token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(theirs["connections"], json!([]));
        // A staff member of the same business who is not that person sees
        // none of it and may not connect for them.
        let (_, staff_token) = app
            .member(
                &shop.owner,
                &shop.owner.token,
                "staff",
                "kit@calendar.example",
            )
            .await;
        let mine: Value = app
            .get("/v1/calendar-connections", &staff_token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(mine["connections"], json!([]));
        let path = format!("/v1/calendar-connections/{id}");
        assert_eq!(app.delete(&path, &staff_token).await.status(), 404);
        let response = app
            .post(
                "/v1/calendar-connections",
                Some(&staff_token),
                json!({ "staff_id": shop.staff, "kind": "ics", "url": feed.url("x") }),
            )
            .await;
        assert_eq!(response.status(), 403);
        let mine: Value = app
            .get("/v1/calendar-connections", &shop.owner.token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            mine["connections"].as_array().unwrap().len(),
            1,
            "untouched"
        );
        feed.stop().await;
        app.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p5_the_periodic_sync_asks_whether_a_feed_changed_and_merges_what_did() {
    for engine in engines() {
        let app = spawn_with(Options {
            engine,
            ..with_loopback()
        })
        .await;
        // Early in a UTC day, so the rounds below stay within it (a feed's
        // validators speak for one day's window).
        let now = Timestamp::now().as_second();
        app.clock
            .set(Timestamp::from_second(now / 86_400 * 86_400 + 3600).unwrap());
        let shop = pro_shop(&app).await;
        let morning = at_ten(&app, 2);
        let feed = FakeFeed::start(meeting(morning, "Dentist", "periodic")).await;
        let connected = connect_feed(&app, &shop, &feed.url("private-p"), "busy_only").await;
        assert_eq!(connected.status(), 201);
        assert_eq!(feed.hits(), (1, 0));
        // Nothing is due yet.
        let round = app.app.sync_due_calendars().await.unwrap();
        assert_eq!((round.synced, round.failed), (0, 0), "{engine:?}");
        // Past the interval (and its jitter) it is, and the feed is only
        // asked whether it changed.
        app.clock.advance(20 * 60);
        let round = app.app.sync_due_calendars().await.unwrap();
        assert_eq!((round.synced, round.failed), (1, 0), "{engine:?}");
        assert_eq!(feed.hits(), (1, 1));
        // The meeting moves to the afternoon: the next round takes the new
        // time and drops the old one.
        let afternoon = morning + SignedDuration::from_hours(4);
        feed.publish(meeting(afternoon, "Dentist", "periodic"));
        app.clock.advance(20 * 60);
        let round = app.app.sync_due_calendars().await.unwrap();
        assert_eq!((round.synced, round.failed), (1, 0));
        assert_eq!(feed.hits(), (2, 1));
        let (slots, _) = day_slots(&app, &shop, 2).await;
        assert_eq!(slots.len(), 14);
        assert!(slots.contains(&morning), "{engine:?}");
        assert!(!slots.contains(&afternoon));
        // A feed that fails in the periodic sync is retried after a
        // backoff, not at once.
        feed.answer(Answer::Status(503));
        app.clock.advance(20 * 60);
        let round = app.app.sync_due_calendars().await.unwrap();
        assert_eq!((round.synced, round.failed), (0, 1));
        let round = app.app.sync_due_calendars().await.unwrap();
        assert_eq!((round.synced, round.failed), (0, 0), "backing off");
        assert_eq!(feed.hits(), (2, 1));
        // Hours without a good sync make the calendar stale.
        app.clock.advance(3 * 60 * 60);
        let token = app
            .token(
                &shop.owner.slug,
                &shop.owner.email,
                crate::harness::PASSWORD,
            )
            .await;
        let listed: Value = app
            .get("/v1/calendar-connections", &token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(listed["connections"][0]["health"], "stale", "{engine:?}");
        feed.stop().await;
        app.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p5_a_plan_without_calendars_or_a_suspension_disconnects_every_calendar() {
    for engine in engines() {
        let app = spawn_with(Options {
            engine,
            ..with_loopback()
        })
        .await;
        let shop = pro_shop(&app).await;
        let feed = FakeFeed::start(meeting(at_ten(&app, 2), "Dentist", "plan")).await;
        for token in ["private-a", "private-b"] {
            let connected = connect_feed(&app, &shop, &feed.url(token), "busy_only").await;
            assert_eq!(connected.status(), 201);
        }
        let changed = app
            .app
            .change_tenant(&shop.owner.slug, TenantChange::Plan(Plan::Free))
            .await
            .unwrap();
        assert_eq!(changed.calendars_disconnected, 2, "{engine:?}");
        let listed: Value = app
            .get("/v1/calendar-connections", &shop.owner.token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(listed["connections"], json!([]));
        let (slots, _) = day_slots(&app, &shop, 2).await;
        assert_eq!(slots.len(), 16, "the busy time went with them");
        let kinds = app.audit_kinds(&shop.owner.token).await;
        assert_eq!(
            kinds
                .iter()
                .filter(|k| *k == "calendar.disconnected")
                .count(),
            2
        );
        assert!(
            kinds.iter().any(|k| k == "tenant.plan_changed"),
            "{kinds:?}"
        );

        // Back on a paid plan, a suspension does the same.
        app.app
            .change_tenant(&shop.owner.slug, TenantChange::Plan(Plan::Pro))
            .await
            .unwrap();
        let connected = connect_feed(&app, &shop, &feed.url("private-c"), "busy_only").await;
        assert_eq!(connected.status(), 201);
        let suspended = app
            .app
            .change_tenant(
                &shop.owner.slug,
                TenantChange::Status(bookwarden_domain::tenant::TenantStatus::Suspended),
            )
            .await
            .unwrap();
        assert_eq!(suspended.calendars_disconnected, 1, "{engine:?}");
        let unknown = app
            .app
            .change_tenant("no-such-shop", TenantChange::Plan(Plan::Pro))
            .await;
        assert!(unknown.is_err());
        feed.stop().await;
        app.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p4_a_caldav_account_connects_through_the_api_and_keeps_only_busy_time() {
    let Some(server) = radicale::radicale().await else {
        return;
    };
    // 10:00 UTC three days ahead, on the servers' clocks set below.
    let midnight = Timestamp::from_second(Timestamp::now().as_second() / 86_400 * 86_400).unwrap();
    let meeting_at = midnight + SignedDuration::from_hours(3 * 24 + 10);
    radicale::seed(
        &server,
        radicale::USER,
        radicale::PASSWORD,
        "work",
        // One event per resource: Radicale skips a file with two.
        &[(
            "meeting",
            calendar(&[meeting_event(meeting_at, "SUBJECT-Review", "dav")]),
        )],
    )
    .await;
    for engine in engines() {
        let app = spawn_with(Options {
            engine,
            ..with_loopback()
        })
        .await;
        app.clock.set(midnight + SignedDuration::from_hours(1));
        let shop = pro_shop(&app).await;
        let connect = |password: &str| {
            json!({
                "staff_id": shop.staff, "kind": "caldav", "server": server.base,
                "user": radicale::USER, "password": password,
            })
        };
        let wrong = app
            .post(
                "/v1/calendar-connections",
                Some(&shop.owner.token),
                connect("not-the-password"),
            )
            .await;
        assert_eq!(wrong.status(), 422, "{engine:?}");
        let wrong = wrong.text().await.unwrap();
        assert!(wrong.contains("credentials"), "{wrong}");
        assert!(!wrong.contains("not-the-password"));
        let connected = app
            .post(
                "/v1/calendar-connections",
                Some(&shop.owner.token),
                connect(radicale::PASSWORD),
            )
            .await;
        assert_eq!(connected.status(), 201, "{engine:?}");
        let connected: Value = connected.json().await.unwrap();
        assert_eq!(connected["provider"], "caldav");
        assert_eq!(connected["health"], "healthy");
        let (slots, _) = day_slots(&app, &shop, 3).await;
        assert_eq!(slots.len(), 14, "{engine:?}: the seeded meeting blocks");
        assert!(!slots.contains(&meeting_at));
        let stored = app.stored_bytes();
        assert!(!contains(&stored, radicale::PASSWORD), "sealed");
        assert!(!contains(&stored, "SUBJECT-Review"), "busy only");
        for marker in markers("dav") {
            assert!(!contains(&stored, &marker), "{engine:?}: {marker}");
        }
        let id = connected["id"].as_str().unwrap();
        let view = sync_now(&app, &shop.owner.token, id).await;
        assert_eq!(view["health"], "healthy", "{view}");
        app.finish().await;
    }
}

#[path = "../../../calendar-sync/tests/it/fake_provider.rs"]
pub(crate) mod fake_provider;

const REDIRECT: &str = "https://book.example.com/calendar/callback";

/// A server whose Google and Microsoft apps point at `fake`, trusting its
/// certificate.
fn with_providers(fake: &fake_provider::Fake, engine: crate::harness::Engine) -> Options {
    let base = fake.base.clone();
    let ca = fake.folder.join("trusted.pem");
    std::fs::write(&ca, &fake.cert).unwrap();
    Options {
        engine,
        configure: Arc::new(move |file| {
            file.calendar_allow_loopback = Some(true);
            file.calendar_extra_ca_file = Some(ca.clone());
            file.calendar_oauth_redirect_url = Some(REDIRECT.to_owned());
            file.google_client_id = Some(fake_provider::CLIENT_ID.to_owned());
            file.google_client_secret = Some(fake_provider::CLIENT_SECRET.to_owned());
            file.google_auth_url = Some(format!("{base}/authorize"));
            file.google_token_url = Some(format!("{base}/token"));
            file.google_revoke_url = Some(format!("{base}/revoke"));
            file.google_api_url = Some(format!("{base}/calendar/v3/"));
            file.microsoft_client_id = Some(fake_provider::CLIENT_ID.to_owned());
            file.microsoft_client_secret = Some(fake_provider::CLIENT_SECRET.to_owned());
            file.microsoft_auth_url = Some(format!("{base}/authorize"));
            file.microsoft_token_url = Some(format!("{base}/token"));
            file.microsoft_api_url = Some(format!("{base}/v1.0/"));
        }),
        ..Options::default()
    }
}

pub(crate) fn query_value(url: &reqwest::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Starts an OAuth connection as `token` and lets the fake issue `code`
/// for it; answers the authorization URL.
async fn consent(
    app: &TestApp,
    fake: &fake_provider::Fake,
    token: &str,
    body: Value,
    code: &str,
) -> reqwest::Url {
    let started = app
        .post("/v1/calendar-connections/oauth", Some(token), body)
        .await;
    assert_eq!(started.status(), 200);
    let started: Value = started.json().await.unwrap();
    let url: reqwest::Url = started["authorization_url"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let challenge = query_value(&url, "code_challenge").unwrap();
    fake.state
        .lock()
        .unwrap()
        .codes
        .insert(code.to_owned(), challenge);
    url
}

async fn complete(app: &TestApp, token: &str, code: &str, state: &str) -> reqwest::Response {
    app.post(
        "/v1/calendar-connections/oauth/complete",
        Some(token),
        json!({ "code": code, "state": state }),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p5_a_google_calendar_connects_by_oauth_refreshes_and_is_revoked_on_disconnect_and_downgrade()
 {
    let fake = fake_provider::fake().await;
    // The refresh token the fake issued last, with an exchange.
    let last_refresh = |fake: &fake_provider::Fake| {
        format!(
            "1//fake-refresh-{}-9d2e17",
            fake.state.lock().unwrap().issued
        )
    };
    for engine in engines() {
        fake.state.lock().unwrap().revoked.clear();
        let app = spawn_with(with_providers(&fake, engine)).await;
        let shop = pro_shop(&app).await;
        let token = &shop.owner.token;
        let meeting_at = at_ten(&app, 2);
        fake.state.lock().unwrap().google_busy = vec![json!({
            "start": meeting_at.to_string(),
            "end": (meeting_at + SignedDuration::from_hours(1)).to_string(),
        })];
        let body = json!({ "staff_id": shop.staff, "provider": "google", "mode": "busy_only" });
        let url = consent(&app, &fake, token, body.clone(), "code-a").await;
        assert_eq!(
            query_value(&url, "scope").as_deref(),
            Some("https://www.googleapis.com/auth/calendar.freebusy"),
            "busy-only asks for free/busy alone"
        );
        assert_eq!(query_value(&url, "redirect_uri").as_deref(), Some(REDIRECT));
        assert_eq!(
            query_value(&url, "code_challenge_method").as_deref(),
            Some("S256")
        );
        let state = query_value(&url, "state").unwrap();

        // A state that is not this person's live flow is refused before
        // any code is exchanged: made up, altered, or someone else's.
        let (_, staff_token) = app
            .member(&shop.owner, token, "staff", "kim@oauth.example")
            .await;
        let mut altered = state.clone();
        altered.replace_range(10..11, if &state[10..11] == "A" { "B" } else { "A" });
        for (who, state) in [
            (token.as_str(), "made-up"),
            (token.as_str(), altered.as_str()),
            (staff_token.as_str(), state.as_str()),
        ] {
            let refused = complete(&app, who, "code-a", state).await;
            assert_eq!(refused.status(), 422, "{engine:?}");
            let refused: Value = refused.json().await.unwrap();
            assert_eq!(refused["field"], "state", "{refused}");
        }
        assert!(
            fake.state.lock().unwrap().codes.contains_key("code-a"),
            "no code was spent on a refused state"
        );
        let connected = complete(&app, token, "code-a", &state).await;
        assert_eq!(connected.status(), 201, "{engine:?}");
        let connected: Value = connected.json().await.unwrap();
        assert_eq!(connected["provider"], "google");
        assert_eq!(connected["health"], "healthy");
        let id = connected["id"].as_str().unwrap().to_owned();
        // The same state and code again: the code is spent.
        assert_eq!(complete(&app, token, "code-a", &state).await.status(), 422);
        let (slots, _) = day_slots(&app, &shop, 2).await;
        assert_eq!(slots.len(), 14, "{engine:?}");
        assert!(!slots.contains(&meeting_at));

        // Tokens and the client secret are stored sealed only.
        let stored = app.stored_bytes();
        let issued_tokens: Vec<String> = {
            let state = fake.state.lock().unwrap();
            state.access.iter().chain(&state.refresh).cloned().collect()
        };
        assert!(!issued_tokens.is_empty());
        for secret in issued_tokens
            .into_iter()
            .chain([fake_provider::CLIENT_SECRET.to_owned()])
        {
            assert!(!contains(&stored, &secret), "{engine:?}: {secret}");
        }

        // Another mode needs Google's consent again.
        let changed = app
            .patch(
                &format!("/v1/calendar-connections/{id}"),
                token,
                json!({ "mode": "with_subject" }),
            )
            .await;
        assert_eq!(changed.status(), 409);
        let changed: Value = changed.json().await.unwrap();
        assert_eq!(changed["code"], "reconnect_required");

        // An access token the provider ended early: one refresh, and the
        // sync goes on; the grant is not taken for dead.
        let issued = fake.state.lock().unwrap().issued;
        fake.state.lock().unwrap().access.clear();
        let view = sync_now(&app, token, &id).await;
        assert_eq!(view["health"], "healthy", "{engine:?}: {view}");
        assert_eq!(
            fake.state.lock().unwrap().issued,
            issued + 1,
            "refreshed once"
        );

        // Renewed consent changes the mode in place: the same connection,
        // now reading events (with subjects).
        fake.state.lock().unwrap().google_events = vec![json!({
            "id": "meeting-1", "status": "confirmed", "summary": "SUBJECT-Google",
            "start": { "dateTime": meeting_at.to_string() },
            "end": { "dateTime": (meeting_at + SignedDuration::from_hours(1)).to_string() },
        })];
        let renewal = json!({
            "staff_id": shop.staff, "provider": "google", "mode": "with_subject", "connection_id": id,
        });
        let url = consent(&app, &fake, token, renewal, "code-r").await;
        assert_eq!(
            query_value(&url, "scope").as_deref(),
            Some("https://www.googleapis.com/auth/calendar.events.readonly")
        );
        let state = query_value(&url, "state").unwrap();
        let renewed = complete(&app, token, "code-r", &state).await;
        assert_eq!(renewed.status(), 201, "{engine:?}");
        let refresh = last_refresh(&fake);
        let renewed: Value = renewed.json().await.unwrap();
        assert_eq!(renewed["id"], id.as_str(), "the same connection");
        assert_eq!(renewed["mode"], "with_subject");
        let listed: Value = app
            .get("/v1/calendar-connections", token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(listed["connections"].as_array().unwrap().len(), 1);
        assert!(
            contains(&app.stored_bytes(), "SUBJECT-Google"),
            "{engine:?}"
        );
        let (slots, _) = day_slots(&app, &shop, 2).await;
        assert_eq!(slots.len(), 14, "{engine:?}: still blocked");
        let revoked_before = fake.state.lock().unwrap().revoked.len();
        assert_eq!(revoked_before, 0, "nothing revoked by a renewal");

        // Near its expiry the access token is refreshed before a sync.
        let issued = fake.state.lock().unwrap().issued;
        app.clock.advance(2 * 60 * 60);
        let token = app
            .token(
                &shop.owner.slug,
                &shop.owner.email,
                crate::harness::PASSWORD,
            )
            .await;
        let view = sync_now(&app, &token, &id).await;
        assert_eq!(view["health"], "healthy", "{engine:?}: {view}");
        assert_eq!(fake.state.lock().unwrap().issued, issued + 1, "refreshed");

        // Disconnecting revokes the grant at Google.
        let gone = app
            .delete(&format!("/v1/calendar-connections/{id}"), &token)
            .await;
        assert_eq!(gone.status(), 204);
        assert!(
            fake.state.lock().unwrap().revoked.contains(&refresh),
            "{engine:?}: revoked at the provider"
        );

        // A grant that dies at Google revokes the connection, audited.
        let url = consent(&app, &fake, &token, body.clone(), "code-b").await;
        let state = query_value(&url, "state").unwrap();
        let connected: Value = complete(&app, &token, "code-b", &state)
            .await
            .json()
            .await
            .unwrap();
        let id = connected["id"].as_str().unwrap().to_owned();
        fake.state.lock().unwrap().refresh.clear();
        app.clock.advance(2 * 60 * 60);
        let token = app
            .token(
                &shop.owner.slug,
                &shop.owner.email,
                crate::harness::PASSWORD,
            )
            .await;
        let view = sync_now(&app, &token, &id).await;
        assert_eq!(view["health"], "revoked", "{engine:?}: {view}");
        assert!(
            app.audit_kinds(&token)
                .await
                .iter()
                .any(|k| k == "calendar.revoked")
        );

        // Moving to a plan without calendars revokes every grant.
        let url = consent(&app, &fake, &token, body.clone(), "code-c").await;
        let state = query_value(&url, "state").unwrap();
        assert_eq!(complete(&app, &token, "code-c", &state).await.status(), 201);
        let refresh = last_refresh(&fake);
        let changed = app
            .app
            .change_tenant(&shop.owner.slug, TenantChange::Plan(Plan::Free))
            .await
            .unwrap();
        assert_eq!(changed.calendars_disconnected, 2, "{engine:?}");
        assert!(fake.state.lock().unwrap().revoked.contains(&refresh));
        app.finish().await;
    }
    fake.server.stop(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p5_a_microsoft_calendar_connects_by_oauth_and_merges_its_delta_rounds() {
    let fake = fake_provider::fake().await;
    for engine in engines() {
        let app = spawn_with(with_providers(&fake, engine)).await;
        let early = Timestamp::now().as_second() / 86_400 * 86_400 + 3600;
        app.clock.set(Timestamp::from_second(early).unwrap());
        let shop = pro_shop(&app).await;
        let token = &shop.owner.token;
        let meeting_at = at_ten(&app, 2);
        let graph_time = |at: Timestamp| at.strftime("%Y-%m-%dT%H:%M:%S.0000000").to_string();
        fake.state.lock().unwrap().graph_events = vec![json!({
            "id": "review",
            "start": { "dateTime": graph_time(meeting_at), "timeZone": "UTC" },
            "end": { "dateTime": graph_time(meeting_at + SignedDuration::from_hours(1)), "timeZone": "UTC" },
            "isAllDay": false, "showAs": "busy", "isCancelled": false, "subject": "SUBJECT-Graph",
        })];
        fake.state.lock().unwrap().graph_changes = Some(Vec::new());
        let body = json!({ "staff_id": shop.staff, "provider": "microsoft" });
        let url = consent(&app, &fake, token, body, "code-m").await;
        assert_eq!(
            query_value(&url, "scope").as_deref(),
            Some("offline_access Calendars.Read")
        );
        let state = query_value(&url, "state").unwrap();
        let connected = complete(&app, token, "code-m", &state).await;
        assert_eq!(connected.status(), 201, "{engine:?}");
        let connected: Value = connected.json().await.unwrap();
        assert_eq!(connected["provider"], "microsoft");
        let id = connected["id"].as_str().unwrap().to_owned();
        let (slots, listing) = day_slots(&app, &shop, 2).await;
        assert_eq!(slots.len(), 14, "{engine:?}");
        let stored = app.stored_bytes();
        assert!(!contains(&stored, "SUBJECT-Graph"), "busy only");
        // Graph's answers carried a description, location, attendees,
        // organizer and body: none of it is kept or answered.
        let listed = app
            .get("/v1/calendar-connections", token)
            .await
            .text()
            .await
            .unwrap();
        for marker in fake_provider::MARKERS {
            assert!(!contains(&stored, marker), "{engine:?}: {marker}");
            assert!(!listed.contains(marker) && !listing.to_string().contains(marker));
        }
        // Graph's one permission covers both modes: no new consent.
        let changed = app
            .patch(
                &format!("/v1/calendar-connections/{id}"),
                token,
                json!({ "mode": "with_subject" }),
            )
            .await;
        assert_eq!(changed.status(), 200);
        let stored = app.stored_bytes();
        assert!(contains(&stored, "SUBJECT-Graph"), "{engine:?}");
        for marker in fake_provider::MARKERS {
            assert!(!contains(&stored, marker), "{engine:?}: {marker}");
        }
        // The meeting is deleted: the next round's delta removes it and
        // leaves everything else alone.
        fake.state.lock().unwrap().graph_changes = Some(vec![
            json!({ "id": "review", "@removed": { "reason": "deleted" } }),
        ]);
        app.clock.advance(20 * 60);
        let round = app.app.sync_due_calendars().await.unwrap();
        assert_eq!((round.synced, round.failed), (1, 0), "{engine:?}");
        let (slots, _) = day_slots(&app, &shop, 2).await;
        assert_eq!(slots.len(), 16, "{engine:?}");
        // Microsoft has no revocation of one app's grant: disconnecting
        // deletes the tokens and calls nothing.
        let revoked = fake.state.lock().unwrap().revoked.len();
        let gone = app
            .delete(&format!("/v1/calendar-connections/{id}"), token)
            .await;
        assert_eq!(gone.status(), 204);
        assert_eq!(fake.state.lock().unwrap().revoked.len(), revoked);
        app.finish().await;
    }
    fake.server.stop(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p5_a_provider_the_server_has_no_app_for_is_refused() {
    let app = spawn_with(with_loopback()).await;
    let shop = pro_shop(&app).await;
    for provider in ["google", "microsoft", "ics", "exchange"] {
        let refused = app
            .post(
                "/v1/calendar-connections/oauth",
                Some(&shop.owner.token),
                json!({ "staff_id": shop.staff, "provider": provider }),
            )
            .await;
        assert_eq!(refused.status(), 422, "{provider}");
        let refused: Value = refused.json().await.unwrap();
        assert_eq!(refused["field"], "provider");
    }
    app.finish().await;
}
