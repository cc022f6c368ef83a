//! Sign-in under measurement and under load (P2): an unknown account and a
//! wrong password cost the same, and a flood of sign-ins does not starve
//! other endpoints because hashing runs in a bounded pool off the
//! executor.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde_json::json;

use crate::harness::{Options, spawn_with};

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p2_an_unknown_account_and_a_wrong_password_take_the_same_time() {
    let app = spawn_with(Options {
        lockout_failures: 1_000_000,
        ..Options::default()
    })
    .await;
    let owner = app.owner().await;
    let (mut unknown, mut known) = (Vec::new(), Vec::new());
    for round in 0..300 {
        // Alternate which goes first so drift hits both alike.
        let order = if round % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for exists in order {
            let email = if exists {
                owner.email.clone()
            } else {
                format!("nobody{round}@clinic.example")
            };
            let started = Instant::now();
            let status = app
                .login(&owner.slug, &email, "definitely not it")
                .await
                .status();
            let elapsed = started.elapsed().as_secs_f64();
            assert_eq!(status, 401);
            if exists {
                known.push(elapsed)
            } else {
                unknown.push(elapsed)
            }
        }
    }
    let (u, k) = (median(&mut unknown), median(&mut known));
    let gap = (u - k).abs() / u.max(k);
    eprintln!(
        "median unknown {:.2} ms, known {:.2} ms, gap {:.1}%",
        u * 1e3,
        k * 1e3,
        gap * 100.0
    );
    assert!(
        gap < 0.10,
        "medians differ by {:.1}%: unknown {u:.4}s, known {k:.4}s",
        gap * 100.0
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p2_a_flood_of_sign_ins_does_not_starve_other_endpoints() {
    let app = Arc::new(
        spawn_with(Options {
            max_concurrent_hashes: 2,
            workers: 2,
            ..Options::default()
        })
        .await,
    );
    let owner = app.owner().await;
    let done = Arc::new(AtomicUsize::new(0));
    let mut flood = Vec::new();
    for n in 0..200 {
        let (app, done, slug) = (app.clone(), done.clone(), owner.slug.clone());
        flood.push(tokio::spawn(async move {
            let status = app
                .post("/v1/sessions", None, json!({ "tenant": slug, "email": format!("x{n}@flood.example"), "password": "flood flood flood" }))
                .await
                .status()
                .as_u16();
            done.fetch_add(1, Ordering::SeqCst);
            status
        }));
    }
    // While it rages, other endpoints keep answering.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut finished_before_probes = None;
    for _ in 0..20 {
        assert_eq!(
            app.http
                .get(app.url("/healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        assert_eq!(app.get("/v1/me", &owner.token).await.status(), 200);
        finished_before_probes.get_or_insert(done.load(Ordering::SeqCst));
    }
    let after_probes = done.load(Ordering::SeqCst);
    let mut statuses = Vec::new();
    for task in flood {
        statuses.push(task.await.unwrap());
    }
    assert!(
        after_probes < 200,
        "the probes were answered while logins still queued ({after_probes} done)"
    );
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 503),
        "only refusals or busy: {statuses:?}"
    );
    assert!(statuses.contains(&401));
    Arc::into_inner(app).unwrap().finish().await;
}
