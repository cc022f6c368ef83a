//! People and keys: invitations and roles (P14), API keys (P6), other
//! tenants' ids (P1) and the audit chain (P9).

use bookwarden_crypto::SecretBytes;
use bookwarden_crypto::totp::{Totp, TotpSeed};
use serde_json::{Value, json};

use crate::harness::{Options, PASSWORD, engines, spawn_app, spawn_with};

/// What an authenticator app makes of an `otpauth://` URI.
pub fn authenticator(uri: &str) -> Totp {
    let secret = uri
        .split(['?', '&'])
        .find_map(|part| part.strip_prefix("secret="))
        .unwrap();
    let bytes = data_encoding_base32(secret);
    Totp::new(TotpSeed::from_secret(SecretBytes::new(bytes)).unwrap())
}

/// RFC 4648 base32 without padding, as authenticator apps decode it.
fn data_encoding_base32(text: &str) -> Vec<u8> {
    let mut bits = 0_u64;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {c}"),
        };
        bits = (bits << 5) | u64::from(value);
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push(u8::try_from((bits >> count) & 0xff).unwrap());
        }
    }
    out
}

#[tokio::test]
async fn p14_an_invitation_makes_one_account_once_with_its_role() {
    let app = spawn_app().await;
    let owner = app.owner().await;
    let invited = app
        .post(
            "/v1/invitations",
            Some(&owner.token),
            json!({ "email": "ada@clinic.example", "role": "admin" }),
        )
        .await;
    assert_eq!(invited.status(), 201);
    let invited: Value = invited.json().await.unwrap();
    let token = invited["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("bw_inv_"));
    let listed: Value = app
        .get("/v1/invitations", &owner.token)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        !listed.to_string().contains(&token),
        "the token is shown once"
    );
    let accept = |password: &str| {
        app.post(
            "/v1/invitations/accept",
            None,
            json!({ "token": token, "name": "Ada Admin", "password": password }),
        )
    };
    assert_eq!(accept("short").await.status(), 422, "the policy applies");
    assert_eq!(accept(PASSWORD).await.status(), 201);
    assert_eq!(accept(PASSWORD).await.status(), 400, "single use");
    let admin = app.token(&owner.slug, "ada@clinic.example", PASSWORD).await;
    let me: Value = app.get("/v1/me", &admin).await.json().await.unwrap();
    assert_eq!(me["role"], "admin");
    // Admins invite admins and staff but never owners; staff invite nobody.
    let owner_invite = app
        .post(
            "/v1/invitations",
            Some(&admin),
            json!({ "email": "x@clinic.example", "role": "owner" }),
        )
        .await;
    assert_eq!(owner_invite.status(), 422);
    let admin_invite = app
        .post(
            "/v1/invitations",
            Some(&admin),
            json!({ "email": "x@clinic.example", "role": "admin" }),
        )
        .await;
    assert_eq!(admin_invite.status(), 201);
    let (_, staff) = app
        .member(&owner, &admin, "staff", "sam@clinic.example")
        .await;
    let refused = app
        .post(
            "/v1/invitations",
            Some(&staff),
            json!({ "email": "y@clinic.example", "role": "staff" }),
        )
        .await;
    assert_eq!(refused.status(), 403);
    assert_eq!(
        app.get("/v1/users", &staff).await.status(),
        403,
        "roles gate endpoints"
    );
    let taken = app
        .post(
            "/v1/invitations",
            Some(&owner.token),
            json!({ "email": "sam@clinic.example", "role": "staff" }),
        )
        .await;
    assert_eq!(taken.status(), 409, "no second account for one person");
    // A withdrawn invitation no longer works.
    let spare: Value = app
        .post(
            "/v1/invitations",
            Some(&owner.token),
            json!({ "email": "z@clinic.example", "role": "staff" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let gone = app
        .delete(
            &format!("/v1/invitations/{}", spare["id"].as_str().unwrap()),
            &owner.token,
        )
        .await;
    assert_eq!(gone.status(), 204);
    let late = app
        .post(
            "/v1/invitations/accept",
            None,
            json!({ "token": spare["token"], "name": "Zed", "password": PASSWORD }),
        )
        .await;
    assert_eq!(late.status(), 400);
    // Expired ones neither.
    let old: Value = app
        .post(
            "/v1/invitations",
            Some(&owner.token),
            json!({ "email": "old@clinic.example", "role": "staff" }),
        )
        .await
        .json()
        .await
        .unwrap();
    app.clock.advance(73 * 3600);
    let owner_token = app.token(&owner.slug, &owner.email, PASSWORD).await;
    let expired = app
        .post(
            "/v1/invitations/accept",
            None,
            json!({ "token": old["token"], "name": "Old", "password": PASSWORD }),
        )
        .await;
    assert_eq!(expired.status(), 400);
    let kinds = app.audit_kinds(&owner_token).await;
    assert!(kinds.iter().filter(|k| *k == "user.invited").count() >= 4);
    assert!(kinds.iter().any(|k| k == "user.invitation_withdrawn"));
    app.finish().await;
}

#[tokio::test]
async fn p14_roles_are_changed_only_by_those_above_and_the_last_owner_stays() {
    let app = spawn_app().await;
    let owner = app.owner().await;
    let (admin_id, admin) = app
        .member(&owner, &owner.token, "admin", "ada@clinic.example")
        .await;
    let (staff_id, _) = app
        .member(&owner, &owner.token, "staff", "sam@clinic.example")
        .await;
    let promote = app
        .patch(
            &format!("/v1/users/{staff_id}"),
            &admin,
            json!({ "role": "owner" }),
        )
        .await;
    assert_eq!(promote.status(), 403, "admins cannot make owners");
    let touch_owner = app
        .patch(
            &format!("/v1/users/{}", owner.user),
            &admin,
            json!({ "active": false }),
        )
        .await;
    assert_eq!(touch_owner.status(), 403, "admins cannot disable owners");
    let promote = app
        .patch(
            &format!("/v1/users/{staff_id}"),
            &admin,
            json!({ "role": "admin" }),
        )
        .await;
    assert_eq!(promote.status(), 200, "admins manage admins and staff");
    let yourself = app
        .patch(
            &format!("/v1/users/{admin_id}"),
            &admin,
            json!({ "role": "owner" }),
        )
        .await;
    assert_eq!(yourself.status(), 403);
    let demote_owner = app
        .patch(
            &format!("/v1/users/{}", owner.user),
            &owner.token,
            json!({ "role": "admin" }),
        )
        .await;
    assert_eq!(demote_owner.status(), 403, "nobody changes their own role");
    let bad_role = app
        .patch(
            &format!("/v1/users/{staff_id}"),
            &owner.token,
            json!({ "role": "root" }),
        )
        .await;
    assert_eq!(bad_role.status(), 422);
    // The privileged-access report lists owners and admins with last sign-in.
    let report: Value = app
        .get("/v1/reports/privileged-accounts", &owner.token)
        .await
        .json()
        .await
        .unwrap();
    let accounts = report["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 3, "owner, ada, and sam now");
    assert!(accounts.iter().all(|a| a["role"] != "staff"));
    let ada = accounts
        .iter()
        .find(|a| a["email"] == "ada@clinic.example")
        .unwrap();
    assert!(ada["last_login_at"].is_string());
    assert!(ada.get("password_hash").is_none());
    let kinds = app.audit_kinds(&owner.token).await;
    assert!(kinds.iter().any(|k| k == "role.changed"));
    app.finish().await;
}

#[tokio::test]
async fn p6_api_keys_are_shown_once_scoped_and_dead_on_the_next_request_after_revocation() {
    let app = spawn_app().await;
    let owner = app.owner().await;
    let created = app
        .post(
            "/v1/api-keys",
            Some(&owner.token),
            json!({ "name": "front desk", "scopes": ["read"] }),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let key = created["token"].as_str().unwrap().to_owned();
    assert!(key.starts_with("bw_key_") && key.len() == 67);
    let listed = app
        .get("/v1/api-keys", &owner.token)
        .await
        .text()
        .await
        .unwrap();
    assert!(listed.contains("front desk") && !listed.contains(&key));
    assert_eq!(
        app.get("/v1/me", &key).await.status(),
        200,
        "read scope reads"
    );
    assert_eq!(app.get("/v1/users", &key).await.status(), 403, "not admin");
    assert_eq!(
        app.post(
            "/v1/api-keys",
            Some(&key),
            json!({ "name": "x", "scopes": ["admin"] })
        )
        .await
        .status(),
        403,
        "a key cannot mint keys"
    );
    let bad = app
        .post(
            "/v1/api-keys",
            Some(&owner.token),
            json!({ "name": "x", "scopes": ["root"] }),
        )
        .await;
    assert_eq!(bad.status(), 422);
    let revoked = app
        .delete(
            &format!("/v1/api-keys/{}", created["id"].as_str().unwrap()),
            &owner.token,
        )
        .await;
    assert_eq!(revoked.status(), 204);
    assert_eq!(
        app.get("/v1/me", &key).await.status(),
        401,
        "the very next request fails"
    );
    let again = app
        .delete(
            &format!("/v1/api-keys/{}", created["id"].as_str().unwrap()),
            &owner.token,
        )
        .await;
    assert_eq!(again.status(), 404);
    let kinds = app.audit_kinds(&owner.token).await;
    assert!(kinds.iter().any(|k| k == "api_key.created"));
    assert!(kinds.iter().any(|k| k == "api_key.revoked"));
    app.finish().await;
}

#[tokio::test]
async fn p1_another_tenants_ids_answer_exactly_like_missing_ones() {
    let app = spawn_app().await;
    let a = app.owner().await;
    let b = app.owner().await;
    let (b_staff, _) = app.member(&b, &b.token, "staff", "sam@other.example").await;
    let b_key: Value = app
        .post(
            "/v1/api-keys",
            Some(&b.token),
            json!({ "name": "b", "scopes": ["read"] }),
        )
        .await
        .json()
        .await
        .unwrap();
    let missing = "0b8f1f3e-8a4f-4d55-9f0c-2c1e5b1f9a77";
    for (path, body) in [
        (format!("/v1/users/{b_staff}"), json!({ "role": "admin" })),
        (format!("/v1/users/{missing}"), json!({ "role": "admin" })),
    ] {
        let response = app.patch(&path, &a.token, body.clone()).await;
        assert_eq!(response.status(), 404);
        assert_eq!(
            response.text().await.unwrap(),
            app.patch(&format!("/v1/users/{missing}"), &a.token, body.clone())
                .await
                .text()
                .await
                .unwrap()
        );
    }
    let foreign = app
        .delete(
            &format!("/v1/api-keys/{}", b_key["id"].as_str().unwrap()),
            &a.token,
        )
        .await;
    let unknown = app
        .delete(&format!("/v1/api-keys/{missing}"), &a.token)
        .await;
    assert_eq!(
        (foreign.status(), unknown.status()),
        (
            reqwest::StatusCode::NOT_FOUND,
            reqwest::StatusCode::NOT_FOUND
        )
    );
    assert_eq!(
        foreign.bytes().await.unwrap(),
        unknown.bytes().await.unwrap()
    );
    // B's key still works: A touched nothing.
    assert_eq!(
        app.get("/v1/me", b_key["token"].as_str().unwrap())
            .await
            .status(),
        200
    );
    // A sees only its own people.
    let users: Value = app.get("/v1/users", &a.token).await.json().await.unwrap();
    assert_eq!(users["users"].as_array().unwrap().len(), 1);
    assert!(!users.to_string().contains("other.example"));
    app.finish().await;
}

#[tokio::test]
async fn p14_an_invitation_dies_with_its_senders_access() {
    let app = spawn_app().await;
    let owner = app.owner().await;
    let (admin_id, admin) = app
        .member(&owner, &owner.token, "admin", "ada@clinic.example")
        .await;
    let invited: Value = app
        .post(
            "/v1/invitations",
            Some(&admin),
            json!({ "email": "new@clinic.example", "role": "admin" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let disabled = app
        .patch(
            &format!("/v1/users/{admin_id}"),
            &owner.token,
            json!({ "active": false }),
        )
        .await;
    assert_eq!(disabled.status(), 200);
    let accepted = app
        .post(
            "/v1/invitations/accept",
            None,
            json!({ "token": invited["token"], "name": "New", "password": PASSWORD }),
        )
        .await;
    assert_eq!(
        accepted.status(),
        400,
        "a disabled admin's invitation makes no admin"
    );
    app.finish().await;
}

#[tokio::test]
async fn p9_admins_page_filter_and_verify_their_audit_chain() {
    for engine in engines() {
        let app = spawn_with(Options {
            engine,
            ..Options::default()
        })
        .await;
        let owner = app.owner().await;
        for _ in 0..3 {
            assert_eq!(
                app.login(&owner.slug, &owner.email, "not it at all")
                    .await
                    .status(),
                401
            );
        }
        // The staff member joins a minute later (the test's clock stands
        // still otherwise).
        app.clock.advance(60);
        let (sam, staff) = app
            .member(&owner, &owner.token, "staff", "sam@staff.example")
            .await;
        let page = |query: &str| {
            let (app, token) = (&app, owner.token.clone());
            let path = format!("/v1/audit?{query}");
            async move {
                let answer = app.get(&path, &token).await;
                assert_eq!(answer.status(), 200, "{path}");
                answer.json::<Value>().await.unwrap()
            }
        };
        let everything = page("limit=500").await;
        let total = everything["entries"].as_array().unwrap().len();
        assert!(total >= 6, "{everything}");
        assert!(everything.get("next").is_none(), "one page holds them all");
        // One kind, two at a time, cursor to cursor.
        let first = page("kind=login.failed&limit=2").await;
        let kinds: Vec<&str> = first["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["login.failed", "login.failed"], "{engine:?}");
        let after = first["next"].as_i64().unwrap();
        let second = page(&format!("kind=login.failed&limit=2&after={after}")).await;
        assert_eq!(second["entries"].as_array().unwrap().len(), 1);
        assert!(second["entries"][0]["seq"].as_i64().unwrap() > after);
        assert!(second.get("next").is_none());
        // By actor and by time.
        let owners = page(&format!("actor={}&limit=500", owner.user)).await;
        assert!(
            owners["entries"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["actor"] == owner.user.as_str())
        );
        assert!(!owners["entries"].as_array().unwrap().is_empty());
        // By subject: the new member's own entries.
        let about_sam = page(&format!("subject={sam}&limit=500")).await;
        let about_sam = about_sam["entries"].as_array().unwrap();
        assert!(!about_sam.is_empty());
        assert!(about_sam.iter().all(|e| e["subject"] == sam.as_str()));
        // By time: the minute of the joining splits the chain; `since` takes
        // its instant in, `until` leaves it out.
        let joined = about_sam[0]["at"].as_str().unwrap().to_owned();
        let since = page(&format!("since={joined}&limit=500")).await;
        let until = page(&format!("until={joined}&limit=500")).await;
        let (since, until) = (
            since["entries"].as_array().unwrap(),
            until["entries"].as_array().unwrap(),
        );
        assert!(!since.is_empty() && !until.is_empty());
        assert_eq!(since.len() + until.len(), total);
        assert!(
            since
                .iter()
                .all(|e| e["at"].as_str().unwrap() >= joined.as_str())
        );
        assert!(
            until
                .iter()
                .all(|e| e["at"].as_str().unwrap() < joined.as_str())
        );
        // Bad filters are the client's mistake.
        for (bad, status) in [
            ("kind=login.nope", 422),
            ("since=yesterday", 422),
            ("limit=x", 400),
        ] {
            let answer = app.get(&format!("/v1/audit?{bad}"), &owner.token).await;
            assert_eq!(answer.status(), status, "{bad}");
        }
        // The chain verifies, every entry of it; staff may not look.
        let verdict: Value = app
            .get("/v1/audit/verification", &owner.token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(verdict["status"], "intact", "{verdict}");
        assert!(verdict["entries"].as_u64().unwrap() >= u64::try_from(total).unwrap());
        for path in ["/v1/audit", "/v1/audit/verification"] {
            assert_eq!(app.get(path, &staff).await.status(), 403, "{path}");
        }
        app.finish().await;
    }
}

#[tokio::test]
async fn p9_the_purge_removes_expired_entries_audits_itself_and_the_chain_still_verifies() {
    for engine in engines() {
        let app = spawn_with(Options {
            engine,
            ..Options::default()
        })
        .await;
        let today = bookwarden_domain::jiff::Timestamp::now();
        let days_ago = |n: i64| today - bookwarden_domain::jiff::SignedDuration::from_hours(24 * n);
        // Signed up 200 days ago (every entry of it expired by now), one
        // failed sign-in 40 days ago (kept 90 days).
        app.clock.set(days_ago(200));
        let owner = app.owner().await;
        app.clock.set(days_ago(40));
        assert_eq!(
            app.login(&owner.slug, &owner.email, "not it at all")
                .await
                .status(),
            401
        );
        app.clock.set(today);
        let removed = app.app.purge_audit(None).await.unwrap();
        assert!(removed >= 3, "{engine:?}: {removed}");
        assert_eq!(
            app.app.purge_audit(None).await.unwrap(),
            0,
            "nothing more has expired"
        );
        let token = app.token(&owner.slug, &owner.email, PASSWORD).await;
        let entries: Value = app
            .get("/v1/audit?limit=500", &token)
            .await
            .json()
            .await
            .unwrap();
        let entries = entries["entries"].as_array().unwrap();
        assert_eq!(entries[0]["kind"], "login.failed", "{entries:?}");
        assert_eq!(entries[0]["seq"].as_u64().unwrap(), removed + 1);
        let purge = entries
            .iter()
            .find(|e| e["kind"] == "audit.purged")
            .unwrap();
        assert_eq!(purge["actor"], "system");
        assert_eq!(purge["detail"]["removed"], removed.to_string());
        let verdict: Value = app
            .get("/v1/audit/verification", &token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(verdict["status"], "intact", "{engine:?}: {verdict}");
        app.finish().await;
    }
}

#[tokio::test]
async fn p14_a_sign_in_from_a_new_device_or_network_leaves_a_notice_for_the_account_holder() {
    let app = spawn_with(Options {
        behind_proxy: true,
        ..Options::default()
    })
    .await;
    // Signed up and signed in once: the first sign-in is expected, no notice.
    let owner = app.owner().await;
    let sign_in = |agent: Option<&'static str>, forwarded: Option<&'static str>| {
        app.clock.advance(60);
        let mut request = app.http.post(app.url("/v1/sessions")).json(&json!({
            "tenant": owner.slug, "email": owner.email, "password": PASSWORD,
        }));
        if let Some(agent) = agent {
            request = request.header("user-agent", agent);
        }
        if let Some(forwarded) = forwarded {
            request = request.header("x-forwarded-for", forwarded);
        }
        request.send()
    };
    let notices = || async {
        let body: Value = app
            .get("/v1/me/sign-in-notices", &owner.token)
            .await
            .json()
            .await
            .unwrap();
        body["notices"].as_array().unwrap().clone()
    };
    let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
    let updated = "Mozilla/5.0 (X11; Linux x86_64; rv:134.0) Gecko/20100101 Firefox/134.0";
    assert_eq!(sign_in(None, None).await.unwrap().status(), 201);
    assert!(notices().await.is_empty(), "same device, same network");
    assert_eq!(sign_in(Some(firefox), None).await.unwrap().status(), 201);
    let after_device = notices().await;
    assert_eq!(after_device.len(), 1);
    assert_eq!(after_device[0]["new_device"], true);
    assert_eq!(after_device[0]["new_network"], false);
    assert_eq!(after_device[0]["user_agent"], firefox);
    assert_eq!(sign_in(Some(updated), None).await.unwrap().status(), 201);
    assert_eq!(
        notices().await.len(),
        1,
        "a browser update is the same device"
    );
    assert_eq!(
        sign_in(Some(updated), Some("203.0.113.7"))
            .await
            .unwrap()
            .status(),
        201
    );
    let after_network = notices().await;
    assert_eq!(after_network.len(), 2);
    assert_eq!(after_network[0]["new_network"], true, "newest first");
    assert_eq!(after_network[0]["new_device"], false);
    assert_eq!(after_network[0]["address"], "203.0.113.7");
    assert_eq!(
        sign_in(Some(updated), Some("203.0.113.99"))
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(notices().await.len(), 2, "the same /24 is the same network");
    // A failed sign-in from anywhere is no notice.
    let failed = app
        .http
        .post(app.url("/v1/sessions"))
        .header("user-agent", "curl/8.0")
        .header("x-forwarded-for", "198.51.100.1")
        .json(
            &json!({ "tenant": owner.slug, "email": owner.email, "password": "wrong password 1" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 401);
    assert_eq!(notices().await.len(), 2);
    // Each notice is audited; only the holder sees their notices.
    let kinds = app.audit_kinds(&owner.token).await;
    assert_eq!(kinds.iter().filter(|k| *k == "login.new_source").count(), 2);
    let (_, admin) = app
        .member(&owner, &owner.token, "admin", "ada@example.com")
        .await;
    let theirs: Value = app
        .get("/v1/me/sign-in-notices", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["notices"], json!([]));
    let key: Value = app
        .post(
            "/v1/api-keys",
            Some(&owner.token),
            json!({ "name": "k", "scopes": ["admin"] }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        app.get("/v1/me/sign-in-notices", key["token"].as_str().unwrap())
            .await
            .status(),
        403
    );
    // Kept 90 days, and longer under a legal hold.
    let notices_after_91_days = |hold: bool| {
        let app = &app;
        let owner = &owner;
        async move {
            app.app.set_legal_hold(&owner.slug, hold).await.unwrap();
            app.clock.advance(91 * 24 * 3600);
            app.app.purge_audit(Some(&owner.slug)).await.unwrap();
            let fresh: Value = app
                .http
                .post(app.url("/v1/sessions"))
                .header("user-agent", updated)
                .header("x-forwarded-for", "203.0.113.99")
                .json(&json!({ "tenant": owner.slug, "email": owner.email, "password": PASSWORD }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let token = fresh["token"].as_str().unwrap().to_owned();
            let listed: Value = app
                .get("/v1/me/sign-in-notices", &token)
                .await
                .json()
                .await
                .unwrap();
            listed["notices"].as_array().unwrap().len()
        }
    };
    assert_eq!(
        notices_after_91_days(true).await,
        2,
        "kept under a legal hold"
    );
    assert_eq!(notices_after_91_days(false).await, 0, "gone after 90 days");
    app.finish().await;
}
