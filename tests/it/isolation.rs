//! The HTTP tenant-isolation suite (P1): three businesses, each with an
//! owner, an admin, a staff member, API keys of every scope and an
//! anonymous public client, and random requests over the API with ids drawn
//! from every business and from nowhere. It fails on
//!
//! - any 5xx;
//! - any response that contains another business's ids, emails or slug;
//! - any answer to another business's id that is not byte for byte the
//!   answer to a random id (status and body);
//! - any change to another business's data (its staff, services,
//!   customers, bookings, accounts, keys, invitations and audit chain,
//!   read back after every request).

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Engine, Options, TestApp, engines, every_day, spawn_with};

/// Who sends a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Owner,
    Admin,
    Staff,
    KeyRead,
    KeyWrite,
    KeyAdmin,
    Public,
}

const WHO: [Who; 7] = [
    Who::Owner,
    Who::Admin,
    Who::Staff,
    Who::KeyRead,
    Who::KeyWrite,
    Who::KeyAdmin,
    Who::Public,
];

/// The kinds of id a request can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Staff,
    Service,
    Customer,
    Booking,
    User,
    Invitation,
    ApiKey,
}

/// One business and what it holds.
struct Business {
    slug: String,
    tokens: BTreeMap<Who, String>,
    ids: BTreeMap<&'static str, Vec<String>>,
    /// Strings no other business may ever see.
    markers: Vec<String>,
}

impl Business {
    fn pool(&self, kind: Kind) -> &[String] {
        let key = match kind {
            Kind::Staff => "staff",
            Kind::Service => "service",
            Kind::Customer => "customer",
            Kind::Booking => "booking",
            Kind::User => "user",
            Kind::Invitation => "invitation",
            Kind::ApiKey => "key",
        };
        self.ids.get(key).map_or(&[], Vec::as_slice)
    }
}

fn id_of(value: &Value) -> String {
    value["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {value}"))
        .to_owned()
}

fn start_at(app: &TestApp, days: i64, hour: i8) -> String {
    use bookwarden_app::Clock as _;
    use bookwarden_domain::jiff::ToSpan as _;
    use bookwarden_domain::jiff::tz::TimeZone;
    let day = app.clock.now().to_zoned_datetime(TimeZone::UTC).date();
    let day = day.checked_add(days.days()).unwrap();
    day.at(hour, 0, 0, 0)
        .to_zoned_datetime(TimeZone::UTC)
        .unwrap()
        .timestamp()
        .to_string()
}

async fn business(app: &TestApp, n: usize) -> Business {
    let owner = app.owner().await;
    let slug = owner.slug.clone();
    let (admin_user, admin) = app
        .member(
            &owner,
            &owner.token,
            "admin",
            &format!("admin@{slug}.example"),
        )
        .await;
    let (staff_user, staff) = app
        .member(
            &owner,
            &owner.token,
            "staff",
            &format!("staff@{slug}.example"),
        )
        .await;
    let post = |path: &'static str, body: Value| {
        let token = owner.token.clone();
        async move {
            let response = app.post(path, Some(&token), body).await;
            assert!(
                response.status().is_success(),
                "{path}: {}",
                response.status()
            );
            response.json::<Value>().await.unwrap()
        }
    };
    let linked = id_of(
        &post(
            "/v1/staff",
            json!({ "name": "Lee Linked", "user_id": staff_user }),
        )
        .await,
    );
    let other = id_of(&post("/v1/staff", json!({ "name": "Oona Other" })).await);
    let days = every_day("09:00", "17:00");
    for member in [&linked, &other] {
        let put = app
            .http
            .put(app.url(&format!("/v1/staff/{member}/schedule")))
            .bearer_auth(&owner.token)
            .json(&json!({ "time_zone": "UTC", "weekly": days }))
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 200);
    }
    let service = id_of(
        &post(
            "/v1/services",
            json!({ "name": "Visit", "duration_minutes": 60, "horizon_days": 90, "staff": [linked, other] }),
        )
        .await,
    );
    let customer_email = format!("customer-{n}@{slug}.example");
    let booked = post(
        "/v1/bookings",
        json!({
            "service_id": service, "staff_id": other, "start": start_at(app, 3, 10),
            "customer": { "email": customer_email, "name": "Cam Customer" },
        }),
    )
    .await;
    let invitation = id_of(
        &post(
            "/v1/invitations",
            json!({ "email": format!("invitee@{slug}.example"), "role": "staff" }),
        )
        .await,
    );
    let mut tokens = BTreeMap::from([
        (Who::Owner, owner.token.clone()),
        (Who::Admin, admin),
        (Who::Staff, staff),
    ]);
    let mut keys = Vec::new();
    for (who, scope) in [
        (Who::KeyRead, "read"),
        (Who::KeyWrite, "write"),
        (Who::KeyAdmin, "admin"),
    ] {
        let key = post("/v1/api-keys", json!({ "name": scope, "scopes": [scope] })).await;
        keys.push(id_of(&key));
        tokens.insert(who, key["token"].as_str().unwrap().to_owned());
    }
    let ids = BTreeMap::from([
        ("staff", vec![linked, other]),
        ("service", vec![service]),
        (
            "customer",
            vec![booked["customer_id"].as_str().unwrap().to_owned()],
        ),
        ("booking", vec![id_of(&booked)]),
        ("user", vec![owner.user.clone(), admin_user, staff_user]),
        ("invitation", vec![invitation]),
        ("key", keys),
    ]);
    let mut markers: Vec<String> = ids.values().flatten().cloned().collect();
    markers.extend([
        owner.tenant.clone(),
        format!("@{slug}.example"),
        format!("/{slug}/"),
        customer_email,
    ]);
    Business {
        slug,
        tokens,
        ids,
        markers,
    }
}

/// One random request, before it is bound to the businesses.
#[derive(Clone, Debug)]
struct Op {
    business: usize,
    who: usize,
    action: usize,
    /// 0..3: a business's id; 3: an id from nowhere.
    id_from: usize,
    pick: usize,
}

fn ops(len: usize) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        (0..3_usize, 0..WHO.len(), 0..ACTIONS, 0..4_usize, 0..8_usize).prop_map(
            |(business, who, action, id_from, pick)| Op {
                business,
                who,
                action,
                id_from,
                pick,
            },
        ),
        len,
    )
}

const ACTIONS: usize = 21;

/// A request shape: method, path and body, with `{id}` for the id.
fn action(
    n: usize,
    slug: &str,
    app: &TestApp,
    pick: usize,
) -> (Method, String, Option<Value>, Option<Kind>) {
    let later = start_at(app, 5, 9 + i8::try_from(pick % 7).unwrap());
    let customer = json!({ "email": format!("walk-in-{pick}@nowhere.example"), "name": "Walk In" });
    match n {
        0 => (
            Method::GET,
            "/v1/staff/{id}".into(),
            None,
            Some(Kind::Staff),
        ),
        1 => (
            Method::GET,
            "/v1/staff/{id}/schedule".into(),
            None,
            Some(Kind::Staff),
        ),
        2 => (
            Method::PUT,
            "/v1/staff/{id}/schedule".into(),
            Some(json!({ "time_zone": "UTC", "weekly": { "monday": [["10:00", "12:00"]] } })),
            Some(Kind::Staff),
        ),
        3 => (
            Method::DELETE,
            "/v1/staff/{id}".into(),
            None,
            Some(Kind::Staff),
        ),
        4 => (
            Method::GET,
            "/v1/services/{id}".into(),
            None,
            Some(Kind::Service),
        ),
        5 => (
            Method::DELETE,
            "/v1/services/{id}".into(),
            None,
            Some(Kind::Service),
        ),
        6 => (
            Method::GET,
            "/v1/customers/{id}".into(),
            None,
            Some(Kind::Customer),
        ),
        7 => (
            Method::GET,
            "/v1/bookings/{id}".into(),
            None,
            Some(Kind::Booking),
        ),
        8 => (
            Method::POST,
            "/v1/bookings/{id}/confirm".into(),
            None,
            Some(Kind::Booking),
        ),
        9 => (
            Method::POST,
            "/v1/bookings/{id}/cancel".into(),
            None,
            Some(Kind::Booking),
        ),
        10 => (
            Method::POST,
            "/v1/bookings/{id}/reschedule".into(),
            Some(json!({ "start": later })),
            Some(Kind::Booking),
        ),
        11 => (
            Method::PATCH,
            "/v1/users/{id}".into(),
            Some(json!({ "active": true })),
            Some(Kind::User),
        ),
        12 => (
            Method::DELETE,
            "/v1/invitations/{id}".into(),
            None,
            Some(Kind::Invitation),
        ),
        13 => (
            Method::POST,
            "/v1/bookings".into(),
            Some(json!({ "service_id": "{id}", "start": later, "customer": customer })),
            Some(Kind::Service),
        ),
        14 => (
            Method::POST,
            "/v1/services".into(),
            Some(json!({ "name": "Spy", "duration_minutes": 30, "staff": ["{id}"] })),
            Some(Kind::Staff),
        ),
        15 => (
            Method::POST,
            "/v1/staff".into(),
            Some(json!({ "name": "Spy", "user_id": "{id}" })),
            Some(Kind::User),
        ),
        16 => (
            Method::GET,
            format!(
                "/v1/public/{slug}/services/{{id}}/slots?from={}&to={}",
                start_at(app, 5, 0),
                start_at(app, 6, 0)
            ),
            None,
            Some(Kind::Service),
        ),
        17 => (
            Method::POST,
            format!("/v1/public/{slug}/bookings"),
            Some(json!({ "service_id": "{id}", "start": later, "customer": customer })),
            Some(Kind::Service),
        ),
        18 => {
            let lists = [
                "/v1/staff".to_owned(),
                "/v1/services".to_owned(),
                "/v1/customers".to_owned(),
                format!(
                    "/v1/bookings?from={}&to={}",
                    start_at(app, -1, 0),
                    start_at(app, 80, 0)
                ),
                "/v1/users".to_owned(),
                "/v1/api-keys".to_owned(),
                "/v1/invitations".to_owned(),
                "/v1/audit?limit=500".to_owned(),
                format!("/v1/public/{slug}/services"),
            ];
            (Method::GET, lists[pick % lists.len()].clone(), None, None)
        }
        // Only ever with ids not of the sender's business (see `bind`).
        19 => (
            Method::POST,
            "/v1/users/{id}/password-reset".into(),
            None,
            Some(Kind::User),
        ),
        _ => (
            Method::DELETE,
            "/v1/api-keys/{id}".into(),
            None,
            Some(Kind::ApiKey),
        ),
    }
}

/// Fills `{id}` into a path and body.
fn fill(path: &str, body: &Option<Value>, id: &str) -> (String, Option<Value>) {
    let body = body
        .as_ref()
        .map(|b| serde_json::from_str(&b.to_string().replace("{id}", id)).unwrap());
    (path.replace("{id}", id), body)
}

async fn send(
    app: &TestApp,
    method: &Method,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
) -> (u16, String) {
    let mut request = app.http.request(method.clone(), app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// What a business's owner can read back: everything a request could
/// have changed.
async fn snapshot(app: &TestApp, business: &Business) -> Vec<(u16, String)> {
    let owner = &business.tokens[&Who::Owner];
    let mut out = Vec::new();
    for path in [
        "/v1/staff".to_owned(),
        "/v1/services".to_owned(),
        "/v1/customers".to_owned(),
        format!(
            "/v1/bookings?from={}&to={}",
            start_at(app, -1, 0),
            start_at(app, 80, 0)
        ),
        "/v1/users".to_owned(),
        "/v1/api-keys".to_owned(),
        "/v1/invitations".to_owned(),
        "/v1/audit?limit=500".to_owned(),
    ] {
        out.push(send(app, &Method::GET, &path, None, Some(owner)).await);
    }
    for member in business.pool(Kind::Staff) {
        out.push(
            send(
                app,
                &Method::GET,
                &format!("/v1/staff/{member}/schedule"),
                None,
                Some(owner),
            )
            .await,
        );
    }
    out
}

fn fail(message: String) -> TestCaseError {
    TestCaseError::fail(message)
}

async fn run(engine: Engine, plan: Vec<Op>) -> Result<usize, TestCaseError> {
    let app = spawn_with(Options {
        engine,
        ..Options::default()
    })
    .await;
    let mut businesses = Vec::new();
    for n in 0..3 {
        businesses.push(business(&app, n).await);
    }
    let mut requests = 0_usize;
    let mut snapshots = Vec::new();
    for b in &businesses {
        snapshots.push(snapshot(&app, b).await);
    }
    for op in plan {
        let me = &businesses[op.business];
        let who = WHO[op.who];
        let token = me.tokens.get(&who).map(String::as_str);
        let (method, path, body, kind) = action(op.action, &me.slug, &app, op.pick);
        let foreign_source = op.id_from < 3 && op.id_from != op.business;
        let own_source = op.id_from == op.business;
        // Resetting passwords or revoking keys of one's own business would
        // end this suite's own sessions and keys: only foreign or unknown ids.
        if (op.action == 19 || op.action == 20) && own_source {
            continue;
        }
        let nowhere = uuid::Uuid::new_v4().to_string();
        let id = match kind {
            Some(kind) if op.id_from < 3 => {
                let pool = businesses[op.id_from].pool(kind);
                pool.get(op.pick % pool.len().max(1))
                    .cloned()
                    .unwrap_or_else(|| nowhere.clone())
            }
            _ => nowhere.clone(),
        };
        let (filled_path, filled_body) = fill(&path, &body, &id);
        let (status, text) = send(&app, &method, &filled_path, filled_body.as_ref(), token).await;
        requests += 1;
        let context = || {
            format!(
                "{who:?} of business {} {method} {filled_path} -> {status} {text}",
                op.business
            )
        };
        if status >= 500 {
            return Err(fail(format!("a 5xx: {}", context())));
        }
        for (n, other) in businesses
            .iter()
            .enumerate()
            .filter(|(n, _)| *n != op.business)
        {
            if let Some(marker) = other.markers.iter().find(|m| text.contains(m.as_str())) {
                return Err(fail(format!(
                    "business {n}'s {marker:?} leaked: {}",
                    context()
                )));
            }
        }
        if kind.is_some() && foreign_source {
            let fresh = uuid::Uuid::new_v4().to_string();
            let (random_path, random_body) = fill(&path, &body, &fresh);
            let (random_status, random_text) =
                send(&app, &method, &random_path, random_body.as_ref(), token).await;
            requests += 1;
            if (status, &text) != (random_status, &random_text) {
                return Err(fail(format!(
                    "a foreign id answered unlike a random one: {} / random: {random_status} {random_text}",
                    context()
                )));
            }
        }
        for (n, b) in businesses.iter().enumerate() {
            let now = snapshot(&app, b).await;
            requests += now.len();
            if n != op.business && now != snapshots[n] {
                return Err(fail(format!(
                    "business {n}'s data changed after {}",
                    context()
                )));
            }
            snapshots[n] = now;
        }
    }
    app.finish().await;
    Ok(requests)
}

fn suite(engine: Engine, cases: u32, ops_per_case: usize, min_requests: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut runner = TestRunner::new(Config {
        cases,
        max_shrink_iters: 64,
        failure_persistence: None,
        ..Config::default()
    });
    let total = std::sync::atomic::AtomicUsize::new(0);
    let outcome = runner.run(&ops(ops_per_case), |plan| {
        let requests = runtime.block_on(run(engine, plan))?;
        total.fetch_add(requests, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    });
    if let Err(error) = outcome {
        panic!("{engine:?}: {error}");
    }
    let total = total.into_inner();
    eprintln!("{engine:?}: {total} requests over {cases} runs");
    assert!(total >= min_requests, "only {total} requests");
}

#[test]
fn p1_http_isolation_suite_on_sqlite() {
    suite(Engine::Sqlite, 4, 60, 2_000);
}

#[test]
fn p1_http_isolation_suite_on_postgres() {
    if engines().contains(&Engine::Postgres) {
        suite(Engine::Postgres, 1, 40, 300);
    }
}
