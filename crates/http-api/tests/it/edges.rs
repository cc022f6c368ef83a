//! Behaviour at the edges (P7, P8): problem+json errors, strict parsing,
//! bounded sizes, security headers, no credentials in URLs, and no input
//! that makes the server answer 500.

use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

use crate::harness::{Options, spawn_app, spawn_with};

async fn raw(
    app: &crate::harness::TestApp,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    // A fresh connection each time: after an oversized body the server may
    // close the connection, which must not fail the next case.
    reqwest::Client::new()
        .post(app.url(path))
        .header(CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn p8_two_answers_to_one_mistake_are_byte_identical_problem_documents() {
    let app = spawn_app().await;
    let first = raw(
        &app,
        "/v1/sessions",
        "application/json",
        b"{\"tenant\":".to_vec(),
    )
    .await;
    let second = raw(
        &app,
        "/v1/sessions",
        "application/json",
        b"{\"tenant\":".to_vec(),
    )
    .await;
    assert_eq!(first.status(), 400);
    assert_eq!(first.headers()[CONTENT_TYPE], "application/problem+json");
    let ids = (
        first.headers()["x-request-id"].to_str().unwrap().to_owned(),
        second.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned(),
    );
    assert_ne!(ids.0, ids.1, "every request has its own id");
    let bodies = (first.text().await.unwrap(), second.text().await.unwrap());
    assert_eq!(bodies.0, bodies.1);
    assert!(
        !bodies.0.contains(&ids.0),
        "the id travels in the header only"
    );
    let problem: Value = serde_json::from_str(&bodies.0).unwrap();
    assert_eq!(problem["code"], "malformed_json");
    assert_eq!(problem["status"], 400);
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:bookwarden:problem:")
    );
    app.finish().await;
}

#[tokio::test]
async fn p8_strict_parsing_refuses_each_kind_of_malformed_request_with_a_clear_4xx() {
    let app = spawn_app().await;
    let login = json!({ "tenant": "acme", "email": "a@b.example", "password": "x" });
    let mut with_extra = login.clone();
    with_extra["admin"] = json!(true);
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        (
            "unknown field",
            "application/json",
            serde_json::to_vec(&with_extra).unwrap(),
            400,
            "malformed_json",
        ),
        (
            "wrong type",
            "application/json",
            br#"{"tenant":987654321,"email":"a@b.example","password":"x"}"#.to_vec(),
            400,
            "malformed_json",
        ),
        (
            "missing field",
            "application/json",
            br#"{"tenant":"acme"}"#.to_vec(),
            400,
            "malformed_json",
        ),
        (
            "bad utf-8",
            "application/json",
            b"{\"tenant\":\"\xff\xfe\",\"email\":\"a\",\"password\":\"x\"}".to_vec(),
            400,
            "malformed_json",
        ),
        (
            "not json",
            "application/json",
            b"tenant=acme".to_vec(),
            400,
            "malformed_json",
        ),
        (
            "wrong content type",
            "text/plain",
            serde_json::to_vec(&login).unwrap(),
            415,
            "unsupported_media_type",
        ),
        (
            "too large",
            "application/json",
            {
                let mut big = b"{\"tenant\":\"".to_vec();
                big.extend(std::iter::repeat_n(b'a', 70 * 1024));
                big.extend(b"\",\"email\":\"a@b.example\",\"password\":\"x\"}");
                big
            },
            413,
            "payload_too_large",
        ),
    ];
    for (what, content_type, body, status, code) in cases {
        let response = raw(&app, "/v1/sessions", content_type, body).await;
        assert_eq!(response.status().as_u16(), status, "{what}");
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            "application/problem+json",
            "{what}"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["code"], code, "{what}");
        assert!(
            !problem.to_string().contains("987654321"),
            "{what}: a sent value is never echoed: {problem}"
        );
    }
    let owner = app.owner().await;
    let bad_query = app.get("/v1/audit?limit=lots", &owner.token).await;
    assert_eq!(bad_query.status(), 400);
    let bad_id = app
        .patch(
            "/v1/users/not-a-uuid",
            &owner.token,
            json!({ "active": false }),
        )
        .await;
    assert_eq!(bad_id.status(), 404);
    let wrong_method = app.http.get(app.url("/v1/signup")).send().await.unwrap();
    assert!(wrong_method.status() == 404 || wrong_method.status() == 405);
    assert_eq!(
        wrong_method.headers()[CONTENT_TYPE],
        "application/problem+json"
    );
    // Its own client: the server drops a connection whose headers overflow,
    // and a pooled connection must not carry that into the next request.
    let huge_header = reqwest::Client::new()
        .get(app.url("/healthz"))
        .header("x-filler", "a".repeat(200 * 1024))
        .send()
        .await;
    if let Ok(response) = huge_header {
        assert!(response.status().is_client_error(), "{}", response.status());
    }
    let too_many_scopes = app
        .post(
            "/v1/api-keys",
            Some(&owner.token),
            json!({ "name": "x", "scopes": vec!["read"; 50] }),
        )
        .await;
    assert_eq!(too_many_scopes.status(), 422);
    app.finish().await;
}

#[tokio::test]
async fn p7_security_headers_are_on_every_response_and_hsts_on_https() {
    let app = spawn_app().await;
    for response in [
        app.http.get(app.url("/healthz")).send().await.unwrap(),
        app.http
            .get(app.url("/no/such/route"))
            .send()
            .await
            .unwrap(),
        app.http.get(app.url("/v1/me")).send().await.unwrap(),
    ] {
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["cache-control"], "no-store");
        assert!(headers.contains_key("content-security-policy"));
        assert!(headers.contains_key("x-request-id"));
        assert!(
            !headers.contains_key("strict-transport-security"),
            "plain loopback HTTP"
        );
    }
    app.finish().await;
    let proxied = spawn_with(Options {
        behind_proxy: true,
        ..Options::default()
    })
    .await;
    let response = proxied
        .http
        .get(proxied.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .starts_with("max-age=")
    );
    proxied.finish().await;
}

#[tokio::test]
async fn p7_credentials_in_a_url_are_refused() {
    let app = spawn_app().await;
    let owner = app.owner().await;
    let response = app
        .http
        .get(app.url(&format!("/v1/me?access_token={}", owner.token)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "credential_in_url");
    app.finish().await;
}

#[tokio::test]
async fn p8_hostile_input_never_makes_the_server_answer_500() {
    let app = spawn_app().await;
    let owner = app.owner().await;
    let nasty: Vec<Value> = vec![
        json!(null),
        json!([]),
        json!("string"),
        json!(1e308),
        json!({}),
        json!({ "tenant": "", "email": "", "password": "" }),
        json!({ "tenant": "a".repeat(10_000), "email": "@", "password": "\u{0}" }),
        json!({ "tenant_name": "\u{202e}evil", "slug": "ÄÖÜ", "time_zone": "Mars/Olympus", "email": "x", "name": "\n", "password": "p" }),
        json!({ "tenant_name": "Ok", "slug": "admin", "time_zone": "UTC", "email": "a@b.example", "name": "N", "password": "x".repeat(2000) }),
        json!({ "email": "a@b.example", "role": "owner" }),
        json!({ "token": "bw_inv_xxxxxxxx", "name": "n", "password": "p" }),
        json!({ "name": "k", "scopes": [1, 2] }),
        json!({ "code": "💥" }),
        json!({ "current_password": "", "new_password": "\u{feff}" }),
        json!({ "role": null, "active": "yes" }),
        json!({ "password": "p", "otp": "1".repeat(500) }),
    ];
    let nested = format!("{}{}", "[".repeat(5_000), "]".repeat(5_000));
    let paths = [
        "/v1/signup",
        "/v1/sessions",
        "/v1/invitations",
        "/v1/invitations/accept",
        "/v1/api-keys",
        "/v1/me/totp/confirm",
        "/v1/me/totp/disable",
    ];
    for path in paths {
        for body in &nasty {
            for token in [None, Some(owner.token.as_str()), Some("bw_ses_garbage")] {
                let status = app.post(path, token, body.clone()).await.status();
                assert!(
                    status.is_client_error() || status.is_success(),
                    "{path} {body} -> {status}"
                );
            }
        }
        let status = raw(&app, path, "application/json", nested.clone().into_bytes())
            .await
            .status();
        assert!(status.is_client_error(), "{path} deep nesting -> {status}");
    }
    for path in ["/v1/me", "/v1/users", "/v1/audit", "/v1/api-keys"] {
        for token in [
            "",
            "bw_ses_",
            "bw_key_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "Bearer",
            "\u{7f}",
        ] {
            let response = app
                .http
                .get(app.url(path))
                .header("authorization", format!("Bearer {token}"))
                .send()
                .await;
            if let Ok(response) = response {
                assert_eq!(response.status(), 401, "{path} with {token:?}");
            }
        }
    }
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !metrics.contains("status=\"500\""),
        "no 500 was ever answered"
    );
    app.finish().await;
}

#[tokio::test]
async fn openapi_document_is_served_and_the_checked_in_copy_is_current() {
    let generated = bookwarden_http_api::openapi_json();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        generated == checked_in,
        "docs/openapi.json is stale: run `cargo xtask openapi` and commit it"
    );
    let app = spawn_app().await;
    let served = app.http.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.text().await.unwrap(), generated);
    let document: Value = serde_json::from_str(&generated).unwrap();
    // Every operation documents its success and the problem responses.
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path}"
            );
            if path.starts_with("/v1/") {
                for status in ["400", "401", "404", "422", "429", "500"] {
                    assert!(
                        responses.contains_key(status),
                        "{method} {path} lacks {status}"
                    );
                }
            }
        }
    }
    app.finish().await;
}

/// The status, `code` and `field` of a problem answer.
async fn problem_of(response: reqwest::Response) -> (u16, String, Option<String>) {
    let status = response.status().as_u16();
    let problem: Value = response.json().await.unwrap();
    (
        status,
        problem["code"].as_str().unwrap_or_default().to_owned(),
        problem["field"].as_str().map(str::to_owned),
    )
}

#[tokio::test]
async fn p1_a_malformed_id_in_a_path_answers_byte_for_byte_like_a_missing_one() {
    let app = spawn_app().await;
    let owner = app.owner().await;
    let missing = "7d1f6a52-3b8e-4c1e-9a43-2f0c6e1d9b70";
    let start = json!({ "start": "2030-01-07T10:00:00Z" });
    let schedule = json!({ "time_zone": "UTC" });
    for malformed in ["not-a-uuid", "7D1F6A52"] {
        let mut answers = Vec::new();
        for id in [malformed, missing] {
            let mut responses = vec![
                app.get(&format!("/v1/staff/{id}"), &owner.token).await,
                app.get(&format!("/v1/staff/{id}/schedule"), &owner.token)
                    .await,
                app.get(&format!("/v1/services/{id}"), &owner.token).await,
                app.get(&format!("/v1/customers/{id}"), &owner.token).await,
                app.get(&format!("/v1/bookings/{id}"), &owner.token).await,
                app.delete(&format!("/v1/staff/{id}"), &owner.token).await,
                app.delete(&format!("/v1/services/{id}"), &owner.token)
                    .await,
            ];
            for action in ["confirm", "cancel"] {
                let path = format!("/v1/bookings/{id}/{action}");
                responses.push(app.post(&path, Some(&owner.token), json!({})).await);
            }
            let path = format!("/v1/bookings/{id}/reschedule");
            responses.push(app.post(&path, Some(&owner.token), start.clone()).await);
            let put = app
                .http
                .put(app.url(&format!("/v1/staff/{id}/schedule")))
                .bearer_auth(&owner.token)
                .json(&schedule)
                .send()
                .await
                .unwrap();
            responses.push(put);
            let slots = format!(
                "/v1/public/{}/services/{id}/slots?from=2030-01-07T00:00:00Z&to=2030-01-08T00:00:00Z",
                owner.slug
            );
            responses.push(app.http.get(app.url(&slots)).send().await.unwrap());
            let mut bodies = Vec::new();
            for response in responses {
                assert_eq!(response.status(), 404, "{id}");
                bodies.push(response.bytes().await.unwrap());
            }
            answers.push(bodies);
        }
        assert_eq!(answers[0], answers[1], "{malformed}");
    }
    app.finish().await;
}

#[tokio::test]
async fn a_malformed_id_or_instant_in_a_body_or_query_names_its_field() {
    let app = spawn_app().await;
    let owner = app.owner().await;
    let token = owner.token.as_str();
    let good = "2030-01-07T10:00:00Z";
    let day_later = "2030-01-08T10:00:00Z";
    let invalid = |field: &str| (422, "invalid_field".to_owned(), Some(field.to_owned()));
    let staff: Value = app
        .post("/v1/staff", Some(token), json!({ "name": "Sam" }))
        .await
        .json()
        .await
        .unwrap();
    let staff = staff["id"].as_str().unwrap().to_owned();
    let service = json!({ "name": "Visit", "duration_minutes": 30, "staff": [staff] });
    let service: Value = app
        .post("/v1/services", Some(token), service)
        .await
        .json()
        .await
        .unwrap();
    let service = service["id"].as_str().unwrap().to_owned();
    // One fault a request: with several, which one is named may differ.
    for (query, field) in [
        (format!("from=soon&to={good}"), "from"),
        (format!("from={good}&to=later"), "to"),
        (format!("from={good}&to={day_later}&staff_id=x"), "staff"),
        (
            format!("from={good}&to={day_later}&customer_id=x"),
            "customer",
        ),
    ] {
        let path = format!("/v1/bookings?{query}");
        assert_eq!(
            problem_of(app.get(&path, token).await).await,
            invalid(field)
        );
    }
    let booking = |service: &str, staff: Option<&str>, start: &str| {
        json!({
            "service_id": service, "staff_id": staff, "start": start,
            "customer": { "email": "c@example.com", "name": "Cee" },
        })
    };
    let public = format!("/v1/public/{}/bookings", owner.slug);
    for (body, field) in [
        (booking("x", None, good), "service"),
        (booking(&service, Some("x"), good), "staff"),
        (booking(&service, None, "at ten"), "start"),
    ] {
        let staffs = problem_of(app.post("/v1/bookings", Some(token), body.clone()).await).await;
        assert_eq!(staffs, invalid(field));
        let customers = problem_of(app.post(&public, None, body).await).await;
        assert_eq!(customers, invalid(field));
    }
    let slots = format!(
        "/v1/public/{}/services/{service}/slots?from={good}&to={day_later}&staff_id=x",
        owner.slug
    );
    let answer = problem_of(app.http.get(app.url(&slots)).send().await.unwrap()).await;
    assert_eq!(answer, invalid("staff_id"));
    let body = json!({ "name": "Visit", "duration_minutes": 30, "staff": ["x"] });
    let answer = problem_of(app.post("/v1/services", Some(token), body).await).await;
    assert_eq!(answer, invalid("staff"));
    let field = json!({ "key": "q", "label": "Q", "kind": "essay" });
    let body =
        json!({ "name": "Visit", "duration_minutes": 30, "staff": [staff], "intake": [field] });
    let answer = problem_of(app.post("/v1/services", Some(token), body).await).await;
    assert_eq!(answer, invalid("intake"));
    let key = json!({ "name": "ci", "scopes": ["read", "delete"] });
    let answer = problem_of(app.post("/v1/api-keys", Some(token), key).await).await;
    assert_eq!(answer, invalid("scopes"));
    let invite = json!({ "email": "new@example.com", "role": "boss" });
    let answer = problem_of(app.post("/v1/invitations", Some(token), invite).await).await;
    assert_eq!(answer, invalid("role"));
    // A malformed account id for a new staff member has always answered
    // like an unknown account.
    let member = json!({ "name": "Sam", "user_id": "x" });
    let answer = problem_of(app.post("/v1/staff", Some(token), member).await).await;
    assert_eq!(answer, (404, "not_found".to_owned(), None));
    let off = json!({ "time_zone": "UTC", "time_off": [{ "start": "x", "end": good }] });
    let put = app
        .http
        .put(app.url(&format!("/v1/staff/{staff}/schedule")))
        .bearer_auth(token)
        .json(&off)
        .send()
        .await
        .unwrap();
    assert_eq!(problem_of(put).await, invalid("time_off"));
    app.finish().await;
}

#[tokio::test]
async fn p11_readiness_fails_while_scheduled_backups_fall_behind_and_metrics_show_the_last_one() {
    let backups = std::env::temp_dir().join(format!(
        "bookwarden-http-backups-{}-{}",
        std::process::id(),
        line!()
    ));
    let dir = backups.clone();
    let app = spawn_with(Options {
        configure: std::sync::Arc::new(move |file| {
            file.backup_dir = Some(dir.clone());
            file.backup_every_hours = Some(24);
        }),
        ..Options::default()
    })
    .await;
    let ready = || async {
        app.http
            .get(format!("{}/readyz", app.base))
            .send()
            .await
            .unwrap()
    };
    assert_eq!(ready().await.status(), 200);
    // A day and more than two hours without a good backup: not ready.
    app.clock.advance(27 * 3600);
    let late = ready().await;
    assert_eq!(late.status(), 503);
    let body: Value = late.json().await.unwrap();
    assert_eq!(
        body["type"].as_str().map(|t| t.ends_with("not_ready")),
        Some(true),
        "{body}"
    );
    assert_eq!(
        body["detail"],
        "The last good backup is older than the schedule allows."
    );
    app.app.backup_round().await;
    assert_eq!(ready().await.status(), 200);
    let metrics = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "backup_last_success_timestamp_seconds{content=\"data\"}",
        "backup_size_bytes{content=\"data\"}",
        "backup_duration_seconds{content=\"data\"}",
    ] {
        assert!(metrics.contains(name), "{name} missing");
    }
    assert_eq!(std::fs::read_dir(&backups).unwrap().count(), 1);
    app.finish().await;
    let _ = std::fs::remove_dir_all(&backups);
}
