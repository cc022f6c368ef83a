//! Data rights over HTTP (P10, P15): a customer's and a business's export
//! (a tar archive whose manifest hashes every file and whose documents
//! follow their published schemas), a customer's confirmed erasure, and
//! the legal hold that refuses it; on SQLite and PostgreSQL.

use std::collections::BTreeMap;
use std::io::Read as _;

use bookwarden_crypto::digest::Sha256;
use serde_json::{Value, json};

use crate::booking::{Shop, at_ten, shop};
use crate::harness::{Engine, Options, TestApp, engines, spawn_with};

/// The files of a tar archive by path.
fn unpack(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut archive = tar::Archive::new(bytes);
    let mut files = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        assert!(
            files.insert(path.clone(), content).is_none(),
            "{path} twice"
        );
    }
    files
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256(bytes: &[u8]) -> String {
    let mut digest = Sha256::new();
    digest.update(bytes);
    hex(&digest.finish())
}

/// The subset of JSON Schema the export schemas use: type (with null),
/// const, enum, properties, required, additionalProperties, items,
/// prefixItems, minimum. Answers the first violation.
fn violation(schema: &Value, value: &Value, at: &str) -> Option<String> {
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().map(|t| t.as_str().unwrap()).collect(),
            other => panic!("type {other}"),
        };
        let actual = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        if !types.contains(&actual) {
            return Some(format!("{at}: {actual} is not {types:?}"));
        }
    }
    if let Some(expected) = schema.get("const")
        && expected != value
    {
        return Some(format!("{at}: {value} is not {expected}"));
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        return Some(format!("{at}: {value} is not one of {options:?}"));
    }
    if let (Some(min), Some(n)) = (schema.get("minimum"), value.as_f64())
        && n < min.as_f64().unwrap()
    {
        return Some(format!("{at}: {n} < {min}"));
    }
    if let Value::Object(fields) = value {
        let properties = schema.get("properties").and_then(Value::as_object);
        for required in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !fields.contains_key(required.as_str().unwrap()) {
                return Some(format!("{at}: {required} missing"));
            }
        }
        for (name, field) in fields {
            let here = format!("{at}.{name}");
            let rule = properties.and_then(|p| p.get(name));
            let problem = match (rule, schema.get("additionalProperties")) {
                (Some(rule), _) => violation(rule, field, &here),
                (None, Some(Value::Bool(false))) => Some(format!("{here}: not in the schema")),
                (None, Some(rule @ Value::Object(_))) => violation(rule, field, &here),
                (None, _) => None,
            };
            if problem.is_some() {
                return problem;
            }
        }
    }
    if let Value::Array(items) = value {
        let prefix = schema.get("prefixItems").and_then(Value::as_array);
        for (i, item) in items.iter().enumerate() {
            let rule = prefix
                .and_then(|p| p.get(i))
                .or_else(|| schema.get("items"));
            if let Some(problem) = rule.and_then(|r| violation(r, item, &format!("{at}[{i}]"))) {
                return Some(problem);
            }
        }
    }
    None
}

/// Unpacks an export and checks it: the manifest lists every other file
/// with its true size and SHA-256, and every JSON document and JSON Lines
/// row follows the schema the manifest names for it.
fn checked(bytes: &[u8], kind: &str) -> BTreeMap<String, Vec<u8>> {
    let files = unpack(bytes);
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let schema = |name: &str| -> Value { serde_json::from_slice(&files[name]).unwrap() };
    assert_eq!(
        violation(
            &schema("schemas/manifest.schema.json"),
            &manifest,
            "manifest"
        ),
        None
    );
    assert_eq!(manifest["kind"], kind);
    let listed = manifest["files"].as_array().unwrap();
    assert_eq!(
        listed.len() + 1,
        files.len(),
        "every file but the manifest listed"
    );
    for file in listed {
        let path = file["path"].as_str().unwrap();
        let content = &files[path];
        assert_eq!(file["bytes"], content.len(), "{path}");
        assert_eq!(file["sha256"], sha256(content), "{path}");
        let Some(schema_path) = file["schema"].as_str() else {
            continue;
        };
        let rule = schema(schema_path);
        let values: Vec<Value> = if path.ends_with(".jsonl") {
            content
                .split(|b| *b == b'\n')
                .filter(|line| !line.is_empty())
                .map(|line| serde_json::from_slice(line).unwrap())
                .collect()
        } else {
            vec![serde_json::from_slice(content).unwrap()]
        };
        for (i, value) in values.iter().enumerate() {
            assert_eq!(violation(&rule, value, &format!("{path}:{i}")), None);
        }
    }
    files
}

fn lines(files: &BTreeMap<String, Vec<u8>>, path: &str) -> Vec<Value> {
    files[path]
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_slice(line).unwrap())
        .collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

async fn download(app: &TestApp, path: &str, token: &str) -> Vec<u8> {
    let response = app.get(path, token).await;
    assert_eq!(response.status(), 200, "{path}");
    assert_eq!(response.headers()["content-type"], "application/x-tar");
    let manifest_sha = response.headers()["x-manifest-sha256"]
        .to_str()
        .unwrap()
        .to_owned();
    let bytes = response.bytes().await.unwrap().to_vec();
    assert_eq!(sha256(&unpack(&bytes)["manifest.json"]), manifest_sha);
    bytes
}

/// A customer of the shop, booked through the public flow with unique
/// markers in every field they typed; answers the customer id, the booking
/// id, the manage token and the markers.
async fn marked_customer(
    app: &TestApp,
    shop: &Shop,
    days: i64,
) -> (String, String, String, Vec<String>) {
    let mark = uuid::Uuid::new_v4().simple().to_string();
    let name = format!("Zed Mark{}", &mark[..8]);
    let email = format!("mark-{mark}@example.com");
    let digits: String = mark.chars().filter(char::is_ascii_digit).take(6).collect();
    let phone = format!("+4915{digits:0<6}93");
    let reason = format!("knee-{mark}");
    let created = app
        .http
        .post(app.url(&format!("/v1/public/{}/bookings", shop.owner.slug)))
        .json(&json!({
            "service_id": shop.service,
            "start": at_ten(app, days).to_string(),
            "customer": { "email": email, "name": name, "phone": phone },
            "answers": { "reason": reason, "consent": true },
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let booking = created["id"].as_str().unwrap().to_owned();
    let token = created["manage_token"].as_str().unwrap().to_owned();
    let customers: Value = app
        .get("/v1/customers", &shop.owner.token)
        .await
        .json()
        .await
        .unwrap();
    let customer = customers["customers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["email"] == email.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (customer, booking, token, vec![name, email, phone, reason])
}

async fn erase(
    app: &TestApp,
    token: &str,
    customer: &str,
    confirmation: Option<&str>,
) -> reqwest::Response {
    let body = match confirmation {
        Some(c) => json!({ "confirmation": c }),
        None => json!({}),
    };
    app.post(
        &format!("/v1/customers/{customer}/erasure"),
        Some(token),
        body,
    )
    .await
}

async fn export_erase_export(engine: Engine) {
    let app = spawn_with(Options {
        engine,
        ..Options::default()
    })
    .await;
    let shop = shop(&app).await;
    let owner = &shop.owner.token;
    let (customer, booking, manage, markers) = marked_customer(&app, &shop, 2).await;
    let (_, kept_booking, _, kept_markers) = marked_customer(&app, &shop, 3).await;

    // The customer's own export holds everything about them.
    let bytes = download(&app, &format!("/v1/customers/{customer}/export"), owner).await;
    let files = checked(&bytes, "customer");
    let profile: Value = serde_json::from_slice(&files["customer.json"]).unwrap();
    assert_eq!(profile["email"], markers[1].as_str());
    assert_eq!(profile["phone"], markers[2].as_str());
    let bookings = lines(&files, "bookings.jsonl");
    assert_eq!(bookings.len(), 1, "only their own bookings");
    assert_eq!(bookings[0]["id"], booking.as_str());
    assert_eq!(bookings[0]["answers"][0]["label"], "What brings you in?");
    assert_eq!(bookings[0]["answers"][0]["value"], markers[3].as_str());
    assert_eq!(bookings[0]["time_zone"], "Europe/Berlin");
    let local = bookings[0]["starts_at_local"].as_str().unwrap();
    assert!(
        local.ends_with("+01:00") || local.ends_with("+02:00"),
        "{local}"
    );
    assert_eq!(bookings[0]["manage_link_live"], true);
    let ics = String::from_utf8(files["bookings.ics"].clone()).unwrap();
    assert!(ics.contains(&format!("UID:{booking}@bookwarden")), "{ics}");
    assert!(!contains(&bytes, &kept_markers[1]), "nobody else's data");

    // The business's export holds both customers and none of its secrets.
    let before = download(&app, "/v1/export", owner).await;
    let files = checked(&before, "tenant");
    for marker in markers.iter().chain(&kept_markers) {
        assert!(
            contains(&before, marker),
            "{marker} in the business's export"
        );
    }
    for secret in ["$argon2", "bw_mng_", &manage, &shop.owner.token] {
        assert!(
            !contains(&before, secret),
            "no secret ({secret}) in an export"
        );
    }
    assert_eq!(lines(&files, "bookings.jsonl").len(), 2);
    assert_eq!(lines(&files, "users.jsonl")[0]["role"], "owner");

    // Erasure: asked, then confirmed.
    let asked = erase(&app, owner, &customer, None).await;
    assert_eq!(asked.status(), 200);
    let asked: Value = asked.json().await.unwrap();
    assert_eq!(asked["status"], "confirm");
    assert_eq!(asked["bookings"], 1);
    let token = asked["confirmation"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/v1/customers/{customer}"), owner)
            .await
            .status(),
        200,
        "asking erases nothing"
    );
    let done = erase(&app, owner, &customer, Some(token)).await;
    assert_eq!(done.status(), 200);
    let done: Value = done.json().await.unwrap();
    assert_eq!(done["status"], "erased");
    assert_eq!(done["bookings"], 1);
    // Their manage link stops at once; they are gone as a customer.
    let gone = app.get("/v1/manage/booking", &manage).await.status();
    assert!(
        gone == 401 || gone == 404,
        "a manage link of an erased customer: {gone}"
    );
    assert_eq!(
        app.get(&format!("/v1/customers/{customer}"), owner)
            .await
            .status(),
        404
    );
    assert_eq!(
        erase(&app, owner, &customer, Some(token)).await.status(),
        404
    );

    // The second export has no trace of them; the booking stays as an
    // anonymous time block; the other customer is untouched.
    let after = download(&app, "/v1/export", owner).await;
    let files = checked(&after, "tenant");
    for marker in &markers {
        assert!(!contains(&after, marker), "{marker} survived the erasure");
    }
    for marker in &kept_markers {
        assert!(
            contains(&after, marker),
            "{marker} lost with another's erasure"
        );
    }
    let bookings = lines(&files, "bookings.jsonl");
    let block = bookings
        .iter()
        .find(|b| b["id"] == booking.as_str())
        .unwrap();
    assert_eq!(block["answers"], json!([]));
    assert_eq!(block["manage_link_live"], false);
    assert_eq!(block["customer"], customer.as_str());
    assert!(bookings.iter().any(|b| b["id"] == kept_booking.as_str()));
    let tombstone = lines(&files, "customers.jsonl")
        .into_iter()
        .find(|c| c["id"] == customer.as_str())
        .unwrap();
    assert_eq!(tombstone["email"], Value::Null);
    assert!(tombstone["erased_at"].is_string());
    // The time stays taken: history and capacity stay true.
    let again = app
        .http
        .post(app.url(&format!("/v1/public/{}/bookings", shop.owner.slug)))
        .json(&json!({
            "service_id": shop.service,
            "start": at_ten(&app, 2).to_string(),
            "customer": { "email": "late@example.com", "name": "Late Comer" },
            "answers": { "reason": "x", "consent": true },
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
    // Audited, naming the request and not the data.
    let audit: Value = app
        .get("/v1/audit?limit=500", owner)
        .await
        .json()
        .await
        .unwrap();
    let entries = audit["entries"].as_array().unwrap();
    let erased = entries
        .iter()
        .find(|e| e["kind"] == "customer.erased")
        .unwrap();
    assert_eq!(erased["subject"], customer.as_str());
    assert_eq!(erased["actor"], shop.owner.user.as_str());
    let exports = entries
        .iter()
        .filter(|e| e["kind"] == "data.exported")
        .count();
    assert_eq!(exports, 3, "every export audited");
    let verified: Value = app
        .get("/v1/audit/verification", owner)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(verified["status"], "intact", "{verified}");
    app.finish().await;
}

#[tokio::test]
async fn p10_p15_export_then_erase_then_export_leaves_no_trace_of_the_customer() {
    for engine in engines() {
        export_erase_export(engine).await;
    }
}

#[tokio::test]
async fn p10_erasure_is_confirmed_by_the_same_person_for_the_same_customer_and_refused_under_legal_hold()
 {
    let app = spawn_with(Options::default()).await;
    let shop = shop(&app).await;
    let owner = &shop.owner.token;
    let (customer, _, _, _) = marked_customer(&app, &shop, 2).await;
    let (other, _, _, _) = marked_customer(&app, &shop, 3).await;
    let (_, admin) = app
        .member(&shop.owner, owner, "admin", "ada@example.com")
        .await;
    let (_, staff) = app
        .member(&shop.owner, owner, "staff", "stan@example.com")
        .await;
    let asked: Value = erase(&app, owner, &customer, None)
        .await
        .json()
        .await
        .unwrap();
    let token = asked["confirmation"].as_str().unwrap().to_owned();
    // Bound to the customer, the person and the time.
    assert_eq!(erase(&app, owner, &other, Some(&token)).await.status(), 422);
    assert_eq!(
        erase(&app, &admin, &customer, Some(&token)).await.status(),
        422
    );
    let mut forged = token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    assert_eq!(
        erase(&app, owner, &customer, Some(&forged)).await.status(),
        422
    );
    for malformed in ["", ".", "x.y", "99999999999999999999.00"] {
        assert_eq!(
            erase(&app, owner, &customer, Some(malformed))
                .await
                .status(),
            422,
            "{malformed:?}"
        );
    }
    app.clock.advance(11 * 60);
    assert_eq!(
        erase(&app, owner, &customer, Some(&token)).await.status(),
        422,
        "expired"
    );
    // Staff may neither erase nor export; an API key may export but not erase.
    assert_eq!(erase(&app, &staff, &customer, None).await.status(), 403);
    assert_eq!(
        app.get(&format!("/v1/customers/{customer}/export"), &staff)
            .await
            .status(),
        403
    );
    assert_eq!(
        app.get("/v1/export", &admin).await.status(),
        403,
        "owners only"
    );
    let key: Value = app
        .post(
            "/v1/api-keys",
            Some(owner),
            json!({ "name": "dsar", "scopes": ["admin"] }),
        )
        .await
        .json()
        .await
        .unwrap();
    let key = key["token"].as_str().unwrap();
    assert_eq!(erase(&app, key, &customer, None).await.status(), 403);
    assert_eq!(
        app.get(&format!("/v1/customers/{customer}/export"), key)
            .await
            .status(),
        200
    );
    // Another business's customer answers like a missing one.
    let stranger = app.owner().await;
    assert_eq!(
        erase(&app, &stranger.token, &customer, None).await.status(),
        404
    );
    assert_eq!(
        app.get(&format!("/v1/customers/{customer}/export"), &stranger.token)
            .await
            .status(),
        404
    );
    // A legal hold refuses erasure, even with a token got before it.
    let fresh: Value = erase(&app, &admin, &customer, None)
        .await
        .json()
        .await
        .unwrap();
    let fresh = fresh["confirmation"].as_str().unwrap().to_owned();
    app.app
        .set_legal_hold(&shop.owner.slug, true)
        .await
        .unwrap();
    let held = erase(&app, &admin, &customer, None).await;
    assert_eq!(held.status(), 409);
    let held: Value = held.json().await.unwrap();
    assert_eq!(held["code"], "legal_hold");
    assert_eq!(
        erase(&app, &admin, &customer, Some(&fresh)).await.status(),
        409
    );
    app.app
        .set_legal_hold(&shop.owner.slug, false)
        .await
        .unwrap();
    let done = erase(&app, &admin, &customer, Some(&fresh)).await;
    assert_eq!(done.status(), 200);
    let kinds = app.audit_kinds(owner).await;
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "tenant.legal_hold_changed")
            .count(),
        2
    );
    app.finish().await;
}

/// The entries of `kind` in the business's audit log, once `count` of
/// them are there (they are written after the answer), or after two
/// seconds.
async fn entries_of(app: &TestApp, token: &str, kind: &str, count: usize) -> Vec<Value> {
    for _ in 0..40 {
        let audit: Value = app
            .get("/v1/audit?limit=500", token)
            .await
            .json()
            .await
            .unwrap();
        let found: Vec<Value> = audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == kind)
            .cloned()
            .collect();
        if found.len() >= count {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Vec::new()
}

#[tokio::test]
async fn p9_a_request_naming_an_id_the_business_does_not_have_is_audited_at_a_bounded_rate() {
    let app = spawn_with(Options::default()).await;
    let mine = app.owner().await;
    let theirs = app.owner().await;
    let created: Value = app
        .post(
            "/v1/staff",
            Some(&theirs.token),
            json!({ "name": "Far Away" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let foreign = created["id"].as_str().unwrap().to_owned();
    let random = uuid::Uuid::new_v4().to_string();
    // Another business's id and nobody's answer alike, and are logged alike.
    let a = app
        .delete(&format!("/v1/staff/{foreign}"), &mine.token)
        .await;
    let b = app
        .delete(&format!("/v1/staff/{random}"), &mine.token)
        .await;
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (404, 404));
    assert_eq!(a.text().await.unwrap(), b.text().await.unwrap());
    let malformed = app
        .post(
            "/v1/bookings/not-an-id/cancel",
            Some(&mine.token),
            json!({}),
        )
        .await;
    assert_eq!(malformed.status(), 404);
    // A read changes nothing, not even the log.
    assert_eq!(
        app.get(&format!("/v1/staff/{foreign}"), &mine.token)
            .await
            .status(),
        404
    );
    let denied = entries_of(&app, &mine.token, "access.unknown_id", 3).await;
    assert_eq!(denied.len(), 3, "{denied:?}");
    let text = serde_json::to_string(&denied).unwrap();
    // What was typed shows only as a keyed digest: never another
    // business's id in this business's log.
    assert!(
        !text.contains(&foreign) && !text.contains(&random),
        "{text}"
    );
    assert!(text.contains("/v1/staff/{id}"), "{text}");
    assert!(text.contains("/v1/bookings/{id}/cancel"), "{text}");
    let digests: std::collections::BTreeSet<&str> = denied
        .iter()
        .map(|e| e["detail"]["id_digest"].as_str().unwrap())
        .collect();
    assert_eq!(digests.len(), 3, "three values, three digests");
    assert!(digests.iter().all(|d| d.len() == 64));
    assert!(denied.iter().all(|e| e["actor"] == mine.user.as_str()));
    // Written in the caller's business only.
    assert!(
        entries_of(&app, &theirs.token, "access.unknown_id", 1)
            .await
            .is_empty()
    );
    // Probing cannot flood the log: ten a minute per business.
    for _ in 0..30 {
        let probe = uuid::Uuid::new_v4();
        let answer = app
            .post(
                &format!("/v1/bookings/{probe}/cancel"),
                Some(&mine.token),
                json!({}),
            )
            .await;
        assert_eq!(answer.status(), 404);
    }
    let counted: Value = app
        .get("/v1/audit?limit=500&kind=access.unknown_id", &mine.token)
        .await
        .json()
        .await
        .unwrap();
    let counted = counted["entries"].as_array().unwrap().len();
    assert!((10..=12).contains(&counted), "{counted} entries");
    // The chain stays intact.
    let verified: Value = app
        .get("/v1/audit/verification", &mine.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(verified["status"], "intact");
    app.finish().await;
}

async fn erase_business(
    app: &TestApp,
    token: &str,
    confirmation: Option<&str>,
) -> reqwest::Response {
    let body = match confirmation {
        Some(c) => json!({ "confirmation": c }),
        None => json!({}),
    };
    app.post("/v1/erasure", Some(token), body).await
}

async fn erase_a_business(engine: Engine) {
    let app = spawn_with(Options {
        engine,
        ..Options::default()
    })
    .await;
    let shop = shop(&app).await;
    let owner = shop.owner.token.clone();
    let (_, _, manage, markers) = marked_customer(&app, &shop, 2).await;
    let neighbour = crate::booking::shop(&app).await;
    let (_, _, neighbour_manage, _) = marked_customer(&app, &neighbour, 2).await;
    let neighbour_before = checked(
        &download(&app, "/v1/export", &neighbour.owner.token).await,
        "tenant",
    );
    let (_, admin) = app
        .member(&shop.owner, &owner, "admin", "ada@example.com")
        .await;

    // The owner alone, and only after confirming.
    assert_eq!(erase_business(&app, &admin, None).await.status(), 403);
    let asked = erase_business(&app, &owner, None).await;
    assert_eq!(asked.status(), 200);
    let asked: Value = asked.json().await.unwrap();
    assert_eq!(asked["status"], "confirm");
    let token = asked["confirmation"].as_str().unwrap().to_owned();
    assert_eq!(
        erase_business(&app, &neighbour.owner.token, Some(&token))
            .await
            .status(),
        422,
        "bound to the business and the person"
    );
    app.app
        .set_legal_hold(&shop.owner.slug, true)
        .await
        .unwrap();
    let held = erase_business(&app, &owner, Some(&token)).await;
    assert_eq!(held.status(), 409, "{engine:?}");
    app.app
        .set_legal_hold(&shop.owner.slug, false)
        .await
        .unwrap();
    assert_eq!(
        app.get("/v1/me", &owner).await.status(),
        200,
        "nothing erased yet"
    );

    let done = erase_business(&app, &owner, Some(&token)).await;
    assert_eq!(done.status(), 200, "{engine:?}");
    let done: Value = done.json().await.unwrap();
    assert_eq!(done["status"], "erased");
    assert!(done["rows"].as_u64().unwrap() > 10, "{done}");

    // Every session, key and link of the business leads nowhere; its slug
    // answers like one never taken.
    for token in [&owner, &admin] {
        assert_eq!(app.get("/v1/me", token).await.status(), 401, "{engine:?}");
    }
    let slug = &shop.owner.slug;
    let services = app
        .http
        .get(app.url(&format!("/v1/public/{slug}/services")))
        .send()
        .await
        .unwrap();
    let never = app
        .http
        .get(app.url("/v1/public/never-was-here/services"))
        .send()
        .await
        .unwrap();
    assert_eq!(services.status(), never.status(), "{engine:?}");
    let gone = app.get("/v1/manage/booking", &manage).await.status();
    let forged = app
        .get("/v1/manage/booking", &format!("{manage}x"))
        .await
        .status();
    assert_eq!(
        gone, forged,
        "{engine:?}: the manage link answers like a forged one"
    );
    // The neighbour: the same rows, and its links still work.
    let neighbour_after = checked(
        &download(&app, "/v1/export", &neighbour.owner.token).await,
        "tenant",
    );
    for file in [
        "customers.jsonl",
        "bookings.jsonl",
        "services.jsonl",
        "staff.jsonl",
    ] {
        assert_eq!(
            neighbour_after[file], neighbour_before[file],
            "{engine:?}: {file}"
        );
    }
    let kept = app.get("/v1/manage/booking", &neighbour_manage).await;
    assert_eq!(kept.status(), 200, "{engine:?}");
    assert!(!contains(
        &download(&app, "/v1/export", &neighbour.owner.token).await,
        &markers[1]
    ));
    // A new business cannot take the slug during the quarantine.
    let taken = app
        .post(
            "/v1/signup",
            None,
            json!({
                "tenant_name": "Successor",
                "slug": slug,
                "time_zone": "UTC",
                "email": "new@example.com",
                "name": "New Owner",
                "password": crate::harness::PASSWORD,
            }),
        )
        .await;
    assert_eq!(taken.status(), 409, "{engine:?}");
    app.finish().await;
}

#[tokio::test]
async fn p10_an_owner_erases_the_whole_business_over_the_api_and_nothing_of_it_answers_after() {
    for engine in engines() {
        erase_a_business(engine).await;
    }
}

async fn data_request(app: &TestApp, token: &str, customer: &str, kind: &str) -> reqwest::Response {
    app.post(
        &format!("/v1/customers/{customer}/data-requests"),
        Some(token),
        json!({ "kind": kind }),
    )
    .await
}

async fn use_link(app: &TestApp, slug: &str, link: &str) -> reqwest::Response {
    app.http
        .post(app.url(&format!("/v1/public/{slug}/data-request")))
        .bearer_auth(link)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn p10_a_customer_exports_and_erases_their_own_data_with_a_single_use_link() {
    let app = spawn_with(Options::default()).await;
    let shop = shop(&app).await;
    let owner = &shop.owner.token;
    let slug = &shop.owner.slug;
    let (customer, booking, _, markers) = marked_customer(&app, &shop, 2).await;
    let (neighbour, _, _, neighbour_markers) = marked_customer(&app, &shop, 3).await;
    let (_, staff) = app
        .member(&shop.owner, owner, "staff", "stan@example.com")
        .await;
    assert_eq!(
        data_request(&app, &staff, &customer, "export")
            .await
            .status(),
        403
    );
    assert_eq!(
        data_request(&app, owner, &customer, "delete")
            .await
            .status(),
        422
    );
    let stranger = app.owner().await;
    assert_eq!(
        data_request(&app, &stranger.token, &customer, "export")
            .await
            .status(),
        404,
        "another business's customer"
    );

    // An export link: the customer's archive, once.
    let made = data_request(&app, owner, &customer, "export").await;
    assert_eq!(made.status(), 201);
    let made: Value = made.json().await.unwrap();
    assert_eq!(made["kind"], "export");
    let link = made["token"].as_str().unwrap().to_owned();
    assert!(link.starts_with("bw_drq_"), "{link}");
    // Only at its own business, and never in a URL.
    assert_eq!(use_link(&app, &stranger.slug, &link).await.status(), 404);
    let in_url = app
        .http
        .post(app.url(&format!("/v1/public/{slug}/data-request?t={link}")))
        .send()
        .await
        .unwrap();
    assert_eq!(in_url.status(), 400);
    let answer = use_link(&app, slug, &link).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "application/x-tar");
    let bytes = answer.bytes().await.unwrap().to_vec();
    let files = checked(&bytes, "customer");
    assert_eq!(lines(&files, "bookings.jsonl")[0]["id"], booking.as_str());
    assert!(contains(&bytes, &markers[1]) && !contains(&bytes, &neighbour_markers[1]));
    assert_eq!(use_link(&app, slug, &link).await.status(), 404, "used once");

    // An erasure link: refused under a legal hold and still usable after.
    let made: Value = data_request(&app, owner, &customer, "erasure")
        .await
        .json()
        .await
        .unwrap();
    let erase_link = made["token"].as_str().unwrap().to_owned();
    app.app.set_legal_hold(slug, true).await.unwrap();
    assert_eq!(use_link(&app, slug, &erase_link).await.status(), 409);
    app.app.set_legal_hold(slug, false).await.unwrap();
    let erased = use_link(&app, slug, &erase_link).await;
    assert_eq!(erased.status(), 200);
    let erased: Value = erased.json().await.unwrap();
    assert_eq!(erased["status"], "erased");
    assert_eq!(erased["bookings"], 1);
    assert_eq!(use_link(&app, slug, &erase_link).await.status(), 404);
    let after = download(&app, "/v1/export", owner).await;
    for marker in &markers {
        assert!(
            !contains(&after, marker),
            "{marker} survived the customer's erasure"
        );
    }
    assert!(
        contains(&after, &neighbour_markers[1]),
        "the neighbour stays"
    );
    // An erased customer gets no new link; an expired link does nothing.
    assert_eq!(
        data_request(&app, owner, &customer, "export")
            .await
            .status(),
        404
    );
    let made: Value = data_request(&app, owner, &neighbour, "erasure")
        .await
        .json()
        .await
        .unwrap();
    let late = made["token"].as_str().unwrap().to_owned();
    app.clock.advance(7 * 24 * 3600 + 1);
    assert_eq!(use_link(&app, slug, &late).await.status(), 404, "expired");
    // (The owner's session expired too in those seven days.)
    let owner = app
        .token(slug, &shop.owner.email, crate::harness::PASSWORD)
        .await;
    assert!(contains(
        &download(&app, "/v1/export", &owner).await,
        &neighbour_markers[1]
    ));
    // Every link made is in the business's audit trail.
    let kinds = app.audit_kinds(&owner).await;
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "data_request.created")
            .count(),
        3
    );
    app.finish().await;
}
