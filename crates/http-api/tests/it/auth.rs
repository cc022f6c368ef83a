//! Signing in and sessions (P2, P7, P9, P14) on SQLite and PostgreSQL.

use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{Value, json};

use crate::harness::{Options, PASSWORD, TestApp, engines, spawn_with};

async fn each_engine(options: Options) -> Vec<TestApp> {
    let mut apps = Vec::new();
    for engine in engines() {
        apps.push(
            spawn_with(Options {
                engine,
                ..options.clone()
            })
            .await,
        );
    }
    apps
}

#[tokio::test]
async fn p2_every_login_issues_a_fresh_session_and_logout_revokes_it() {
    for app in each_engine(Options::default()).await {
        let owner = app.owner().await;
        let second = app.token(&owner.slug, &owner.email, PASSWORD).await;
        assert_ne!(owner.token, second, "{:?}", app.engine);
        assert!(second.starts_with("bw_ses_"));
        for token in [&owner.token, &second] {
            let me: Value = app.get("/v1/me", token).await.json().await.unwrap();
            assert_eq!(me["email"], owner.email.as_str());
            assert_eq!(me["role"], "owner");
        }
        let out = app.delete("/v1/sessions/current", &second).await;
        assert_eq!(out.status(), 204);
        assert_eq!(app.get("/v1/me", &second).await.status(), 401, "revoked");
        assert_eq!(
            app.get("/v1/me", &owner.token).await.status(),
            200,
            "the other lives"
        );
        let kinds = app.audit_kinds(&owner.token).await;
        for kind in ["tenant.created", "user.joined", "login.succeeded", "logout"] {
            assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
        }
        app.finish().await;
    }
}

#[tokio::test]
async fn p2_unknown_email_wrong_password_and_disabled_user_answer_identically() {
    for app in each_engine(Options::default()).await {
        let owner = app.owner().await;
        let (staff, _) = app
            .member(&owner, &owner.token, "staff", "sam@clinic.example")
            .await;
        let disabled = app
            .patch(
                &format!("/v1/users/{staff}"),
                &owner.token,
                json!({ "active": false }),
            )
            .await;
        assert_eq!(disabled.status(), 200);
        let mut answers = Vec::new();
        for (email, password) in [
            ("nobody@clinic.example", PASSWORD),
            (owner.email.as_str(), "wrong password entirely"),
            ("sam@clinic.example", PASSWORD),
        ] {
            let response = app.login(&owner.slug, email, password).await;
            let status = response.status();
            let content_type = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned();
            let body = response.bytes().await.unwrap();
            answers.push((status, content_type, body));
        }
        assert_eq!(answers[0].0, 401);
        assert_eq!(answers[0], answers[1], "{:?}", app.engine);
        assert_eq!(answers[1], answers[2], "{:?}", app.engine);
        // An unknown business answers the same too.
        let response = app.login("no-such-business", &owner.email, PASSWORD).await;
        assert_eq!(response.status(), 401);
        assert_eq!(response.bytes().await.unwrap(), answers[0].2);
        app.finish().await;
    }
}

#[tokio::test]
async fn p2_failed_logins_lock_an_account_for_a_while_and_are_audited() {
    let options = Options {
        lockout_failures: 3,
        ..Options::default()
    };
    for app in each_engine(options).await {
        let owner = app.owner().await;
        for _ in 0..3 {
            assert_eq!(
                app.login(&owner.slug, &owner.email, "not the password")
                    .await
                    .status(),
                401
            );
        }
        let locked = app.login(&owner.slug, &owner.email, PASSWORD).await;
        assert_eq!(
            locked.status(),
            429,
            "{:?}: even the right password waits",
            app.engine
        );
        let retry: u64 = locked.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry > 0 && retry <= 15 * 60, "{retry}");
        let body: Value = locked.json().await.unwrap();
        assert_eq!(body["code"], "account_locked");
        // Unknown emails lock the same way, so a lockout reveals nothing.
        for _ in 0..3 {
            app.login(&owner.slug, "ghost@clinic.example", "x-x-x-x-x")
                .await;
        }
        let ghost = app
            .login(&owner.slug, "ghost@clinic.example", "x-x-x-x-x")
            .await;
        assert_eq!(ghost.status(), 429);
        // The lock lapses.
        app.clock.advance(15 * 60 + 1);
        let token = app.token(&owner.slug, &owner.email, PASSWORD).await;
        let kinds = app.audit_kinds(&token).await;
        assert_eq!(
            kinds.iter().filter(|k| *k == "login.lockout").count(),
            2,
            "{kinds:?}"
        );
        assert!(kinds.iter().filter(|k| *k == "login.failed").count() >= 6);
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
            metrics.contains("auth_lockouts_total"),
            "lockouts are counted"
        );
        assert!(metrics.contains("login_failures_total"));
        app.finish().await;
    }
}

#[tokio::test]
async fn p8_sign_in_is_rate_limited_per_client_address() {
    let app = spawn_with(Options {
        login_per_minute: 4,
        ..Options::default()
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(
            app.login("some-business", "a@b.example", "whatever-it-is")
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(&statuses[..4], &[401, 401, 401, 401]);
    assert_eq!(statuses[4], 429);
    let limited = app
        .login("some-business", "a@b.example", "whatever-it-is")
        .await;
    assert!(limited.headers().contains_key("retry-after"));
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited");
    app.finish().await;
}

#[tokio::test]
async fn p2_a_legacy_bcrypt_hash_is_upgraded_to_argon2id_at_login() {
    for app in each_engine(Options::default()).await {
        let owner = app.owner().await;
        let tenant = owner.tenant.parse().unwrap();
        let user = owner.user.parse().unwrap();
        // As imported from another system.
        let scope = app.app.store().write(tenant).await.unwrap();
        let legacy = "$2b$10$t51dXEVmJ7j6npYOUe2/WO1BSXYD26PFWRKFPxIZEiwThtmDzJmje";
        assert!(scope.users().set_password_hash(user, legacy).await.unwrap());
        scope.commit().await.unwrap();
        assert_eq!(
            app.login(&owner.slug, &owner.email, PASSWORD)
                .await
                .status(),
            401
        );
        app.token(&owner.slug, &owner.email, "legacy password 1")
            .await;
        let scope = app.app.store().read(tenant).await.unwrap();
        let stored = scope
            .users()
            .get(user)
            .await
            .unwrap()
            .unwrap()
            .password_hash
            .unwrap();
        scope.commit().await.unwrap();
        assert!(
            stored.starts_with("$argon2id$"),
            "{:?}: upgraded",
            app.engine
        );
        app.token(&owner.slug, &owner.email, "legacy password 1")
            .await;
        app.finish().await;
    }
}

#[tokio::test]
async fn p2_a_forced_reset_kills_the_password_sessions_and_keys_until_the_reset_token_is_used() {
    for app in each_engine(Options::default()).await {
        let owner = app.owner().await;
        let (admin, admin_token) = app
            .member(&owner, &owner.token, "admin", "ada@clinic.example")
            .await;
        let key: Value = app
            .post(
                "/v1/api-keys",
                Some(&admin_token),
                json!({ "name": "ada's", "scopes": ["read"] }),
            )
            .await
            .json()
            .await
            .unwrap();
        let key = key["token"].as_str().unwrap().to_owned();
        assert_eq!(app.get("/v1/me", &key).await.status(), 200);
        let forced = app
            .post(
                &format!("/v1/users/{admin}/password-reset"),
                Some(&owner.token),
                json!(null),
            )
            .await;
        assert_eq!(forced.status(), 201);
        let forced: Value = forced.json().await.unwrap();
        let reset = forced["reset_token"].as_str().unwrap().to_owned();
        assert!(reset.starts_with("bw_rst_"));
        assert_eq!(
            app.get("/v1/me", &admin_token).await.status(),
            401,
            "{:?}: sessions ended",
            app.engine
        );
        assert_eq!(app.get("/v1/me", &key).await.status(), 401, "keys pause");
        // The old password is dead, and says so no differently from a wrong one.
        let old = app.login(&owner.slug, "ada@clinic.example", PASSWORD).await;
        let wrong = app
            .login(&owner.slug, "nobody@clinic.example", PASSWORD)
            .await;
        assert_eq!(old.status(), 401);
        assert_eq!(old.bytes().await.unwrap(), wrong.bytes().await.unwrap());
        let complete = |token: String, password: &str| {
            app.post(
                "/v1/password-resets",
                None,
                json!({ "token": token, "new_password": password }),
            )
        };
        assert_eq!(
            complete(reset.clone(), "password").await.status(),
            422,
            "the policy applies"
        );
        assert_eq!(
            complete(reset.clone(), "a fresh start 2027").await.status(),
            204
        );
        assert_eq!(
            complete(reset.clone(), "another fresh one 2028")
                .await
                .status(),
            400,
            "single use"
        );
        assert_eq!(
            complete("bw_rst_nonsense".to_owned(), "x y z w v u")
                .await
                .status(),
            400
        );
        app.token(&owner.slug, "ada@clinic.example", "a fresh start 2027")
            .await;
        assert_eq!(
            app.get("/v1/me", &key).await.status(),
            200,
            "the key works again"
        );
        // Staff cannot force a reset on anyone above them; admins not on owners.
        let (_, staff) = app
            .member(&owner, &owner.token, "staff", "sam@clinic.example")
            .await;
        let refused = app
            .post(
                &format!("/v1/users/{}/password-reset", owner.user),
                Some(&staff),
                json!(null),
            )
            .await;
        assert_eq!(refused.status(), 403);
        let ada = app
            .token(&owner.slug, "ada@clinic.example", "a fresh start 2027")
            .await;
        let refused = app
            .post(
                &format!("/v1/users/{}/password-reset", owner.user),
                Some(&ada),
                json!(null),
            )
            .await;
        assert_eq!(refused.status(), 403);
        // A reset token expires.
        let again: Value = app
            .post(
                &format!("/v1/users/{admin}/password-reset"),
                Some(&owner.token),
                json!(null),
            )
            .await
            .json()
            .await
            .unwrap();
        app.clock.advance(24 * 3600 + 1);
        let late = complete(
            again["reset_token"].as_str().unwrap().to_owned(),
            "too late now 2029",
        )
        .await;
        assert_eq!(late.status(), 400);
        let owner_token = app.token(&owner.slug, &owner.email, PASSWORD).await;
        let kinds = app.audit_kinds(&owner_token).await;
        assert!(kinds.iter().any(|k| k == "password.reset_forced"));
        assert!(kinds.iter().any(|k| k == "password.changed"));
        app.finish().await;
    }
}

#[tokio::test]
async fn p2_changing_a_password_needs_the_current_one_and_ends_other_sessions() {
    let app = spawn_with(Options::default()).await;
    let owner = app.owner().await;
    let other = app.token(&owner.slug, &owner.email, PASSWORD).await;
    let put = |token: String, body: Value| {
        let request = app
            .http
            .put(app.url("/v1/me/password"))
            .bearer_auth(token)
            .json(&body);
        async move { request.send().await.unwrap() }
    };
    let wrong = put(
        owner.token.clone(),
        json!({ "current_password": "nope nope nope", "new_password": "brand new words 9" }),
    )
    .await;
    assert_eq!(wrong.status(), 422);
    let common = put(
        owner.token.clone(),
        json!({ "current_password": PASSWORD, "new_password": "password123" }),
    )
    .await;
    assert_eq!(common.status(), 422);
    let body: Value = common.json().await.unwrap();
    assert_eq!(body["code"], "weak_password");
    let done = put(
        owner.token.clone(),
        json!({ "current_password": PASSWORD, "new_password": "brand new words 9" }),
    )
    .await;
    assert_eq!(done.status(), 204);
    assert_eq!(
        app.get("/v1/me", &owner.token).await.status(),
        200,
        "this session stays"
    );
    assert_eq!(
        app.get("/v1/me", &other).await.status(),
        401,
        "the others end"
    );
    app.token(&owner.slug, &owner.email, "brand new words 9")
        .await;
    app.finish().await;
}

#[tokio::test]
async fn p7_the_cookie_session_is_httponly_secure_strict_and_needs_csrf_to_change_state() {
    let app = spawn_with(Options::default()).await;
    let owner = app.owner().await;
    let login = app
        .post(
            "/v1/sessions",
            None,
            json!({
                "tenant": owner.slug, "email": owner.email, "password": PASSWORD, "cookie": true,
            }),
        )
        .await;
    let cookie = login.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for attribute in [
        "__Host-bw_session=bw_ses_",
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/",
    ] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    let body: Value = login.json().await.unwrap();
    assert!(
        body.get("token").is_none(),
        "script cannot read the cookie's token: {body}"
    );
    let csrf = body["csrf_token"].as_str().unwrap().to_owned();
    // The bearer variant sets no cookie.
    let bearer = app.login(&owner.slug, &owner.email, PASSWORD).await;
    assert!(!bearer.headers().contains_key(SET_COOKIE));
    let pair = cookie.split(';').next().unwrap().to_owned();
    let me = app
        .http
        .get(app.url("/v1/me"))
        .header(COOKIE, &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200, "reading needs no CSRF token");
    let forged = app
        .http
        .delete(app.url("/v1/sessions/current"))
        .header(COOKIE, &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(
        forged.status(),
        403,
        "a cross-site request carries the cookie but no token"
    );
    let wrong = app
        .http
        .delete(app.url("/v1/sessions/current"))
        .header(COOKIE, &pair)
        .header("x-csrf-token", csrf.replace(&csrf[..2], "zz"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
    let out = app
        .http
        .delete(app.url("/v1/sessions/current"))
        .header(COOKIE, &pair)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    assert!(
        out.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let after = app
        .http
        .get(app.url("/v1/me"))
        .header(COOKIE, &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401);
    app.finish().await;
}

#[tokio::test]
async fn p2_sessions_expire_when_idle_and_at_their_absolute_limit() {
    let app = spawn_with(Options::default()).await;
    let owner = app.owner().await;
    app.clock.advance(29 * 60);
    assert_eq!(
        app.get("/v1/me", &owner.token).await.status(),
        200,
        "still fresh"
    );
    app.clock.advance(29 * 60);
    assert_eq!(
        app.get("/v1/me", &owner.token).await.status(),
        200,
        "use renewed it"
    );
    app.clock.advance(31 * 60);
    assert_eq!(
        app.get("/v1/me", &owner.token).await.status(),
        401,
        "idle too long"
    );
    let busy = app.token(&owner.slug, &owner.email, PASSWORD).await;
    for _ in 0..(12 * 60 / 20) {
        app.clock.advance(20 * 60);
        if app.get("/v1/me", &busy).await.status() != 200 {
            break;
        }
    }
    assert_eq!(
        app.get("/v1/me", &busy).await.status(),
        401,
        "12 hours at most"
    );
    app.finish().await;
}

#[tokio::test]
async fn p14_two_factor_is_enrolled_confirmed_required_and_disabled_with_reauthentication() {
    for app in each_engine(Options::default()).await {
        let owner = app.owner().await;
        let other = app.token(&owner.slug, &owner.email, PASSWORD).await;
        let no_password = app
            .post(
                "/v1/me/totp",
                Some(&owner.token),
                json!({ "password": "not it at all" }),
            )
            .await;
        assert_eq!(
            no_password.status(),
            422,
            "a stolen session alone cannot enroll"
        );
        let begun = app
            .post(
                "/v1/me/totp",
                Some(&owner.token),
                json!({ "password": PASSWORD }),
            )
            .await;
        assert_eq!(begun.status(), 201);
        let uri: Value = begun.json().await.unwrap();
        let totp = crate::accounts::authenticator(uri["otpauth_uri"].as_str().unwrap());
        let now = || app.clock_unix();
        let bad = app
            .post(
                "/v1/me/totp/confirm",
                Some(&owner.token),
                json!({ "code": "000000" }),
            )
            .await;
        assert!(bad.status() == 401 || totp.code_at(now()).expose_secret() == "000000");
        let confirmed = app
            .post(
                "/v1/me/totp/confirm",
                Some(&owner.token),
                json!({ "code": totp.code_at(now()).expose_secret() }),
            )
            .await;
        assert_eq!(confirmed.status(), 200, "{:?}", app.engine);
        let codes: Value = confirmed.json().await.unwrap();
        let codes: Vec<String> = codes["recovery_codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(codes.len(), 10);
        assert_eq!(
            app.get("/v1/me", &other).await.status(),
            401,
            "older sessions end"
        );
        assert_eq!(app.get("/v1/me", &owner.token).await.status(), 200);
        assert_eq!(
            app.get("/v1/me", &other).await.status(),
            401,
            "older sessions end"
        );
        assert_eq!(app.get("/v1/me", &owner.token).await.status(), 200);
        // Now the password alone is not enough.
        let login = app.login(&owner.slug, &owner.email, PASSWORD).await;
        assert_eq!(login.status(), 401);
        let body: Value = login.json().await.unwrap();
        assert_eq!(body["code"], "otp_required");
        app.clock.advance(30);
        let code = totp.code_at(now()).expose_secret().to_owned();
        let with = |otp: Value, recovery: Value| {
            app.post(
                "/v1/sessions",
                None,
                json!({
                    "tenant": owner.slug, "email": owner.email, "password": PASSWORD,
                    "otp": otp, "recovery_code": recovery,
                }),
            )
        };
        assert_eq!(with(json!(code), json!(null)).await.status(), 201);
        assert_eq!(
            with(json!(code), json!(null)).await.status(),
            401,
            "a code works once"
        );
        assert_eq!(
            with(json!(null), json!(codes[0])).await.status(),
            201,
            "recovery code"
        );
        assert_eq!(
            with(json!(null), json!(codes[0])).await.status(),
            401,
            "used up"
        );
        // Disabling needs the password and a code again.
        let disable = |password: &str, otp: Value| {
            app.post(
                "/v1/me/totp/disable",
                Some(&owner.token),
                json!({ "password": password, "otp": otp }),
            )
        };
        app.clock.advance(30);
        let code = totp.code_at(now()).expose_secret().to_owned();
        assert_eq!(
            disable("wrong password here", json!(code)).await.status(),
            422
        );
        assert_eq!(disable(PASSWORD, json!("123")).await.status(), 401);
        assert_eq!(disable(PASSWORD, json!(code)).await.status(), 204);
        app.token(&owner.slug, &owner.email, PASSWORD).await;
        let kinds = app.audit_kinds(&owner.token).await;
        for kind in ["totp.enabled", "totp.recovery_code_used", "totp.disabled"] {
            assert!(kinds.iter().any(|k| k == kind), "{kind}");
        }
        app.finish().await;
    }
}

impl TestApp {
    pub fn clock_unix(&self) -> u64 {
        use bookwarden_app::Clock as _;
        u64::try_from(self.clock.now().as_second()).unwrap()
    }
}

/// The `login.failed` entries of a tenant's audit chain.
async fn failed_sign_ins(app: &TestApp, token: &str) -> Vec<Value> {
    let body: Value = app
        .get("/v1/audit?limit=500", token)
        .await
        .json()
        .await
        .unwrap();
    body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "login.failed")
        .cloned()
        .collect()
}

#[tokio::test]
async fn p9_a_mistyped_address_reaches_the_audit_chain_only_as_a_keyed_digest() {
    const TYPED: &str = "marker-mistyped.person@home.example";
    for app in each_engine(Options::default()).await {
        let (one, other) = (app.owner().await, app.owner().await);
        for _ in 0..2 {
            assert_eq!(
                app.login(&one.slug, TYPED, "not my business")
                    .await
                    .status(),
                401
            );
        }
        assert_eq!(
            app.login(&other.slug, TYPED, "not my business")
                .await
                .status(),
            401
        );
        let ones = failed_sign_ins(&app, &one.token).await;
        let others = failed_sign_ins(&app, &other.token).await;
        assert_eq!((ones.len(), others.len()), (2, 1), "{:?}", app.engine);
        let digest = |entry: &Value| entry["detail"]["email_digest"].as_str().unwrap().to_owned();
        // Repeats correlate within the business, and only there.
        assert_eq!(digest(&ones[0]), digest(&ones[1]));
        assert_eq!(digest(&ones[0]).len(), 64);
        assert_ne!(digest(&ones[0]), digest(&others[0]));
        for entry in ones.iter().chain(&others) {
            assert!(!entry.to_string().contains("marker-mistyped"), "{entry}");
        }
        let stored = String::from_utf8_lossy(&app.stored_bytes()).into_owned();
        assert!(
            !stored.contains("marker-mistyped"),
            "{:?}: the address was stored",
            app.engine
        );
        app.finish().await;
    }
}
