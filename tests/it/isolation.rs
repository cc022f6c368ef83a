//! The HTTP tenant-isolation suite (P1) on the in-process server: the
//! `bookwarden-isolation` check, the same one an operator aims at a live
//! deployment, aimed at a fresh server of the shared harness on SQLite and
//! on PostgreSQL, with as many cases on each. Three businesses, each with
//! an owner, an admin, a staff member, API keys of every scope and an
//! anonymous public client, send random requests with ids drawn from every
//! business and from nowhere; the run fails on any 5xx, any other
//! business's id, email or slug in a response, another business's id
//! answered unlike a random id, or any change to another business's data
//! (read back after every request). See crates/isolation for the checks.
//!
//! The plan's seed is random and printed; `BOOKWARDEN_ISOLATION_SEED`
//! repeats a run.

use std::time::Instant;

use bookwarden_isolation::{Options, Target, check};

use crate::harness::{self, Engine, engines, spawn_with};

/// Cases per engine, and operations per case: the same on both engines.
const CASES: u32 = 4;
const OPS_PER_CASE: u32 = 60;

fn seed() -> u64 {
    std::env::var("BOOKWARDEN_ISOLATION_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let bytes = uuid::Uuid::new_v4().into_bytes();
            u64::from_le_bytes(bytes[..8].try_into().unwrap())
        })
}

fn suite(engine: Engine) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let seed = seed();
    let options = Options {
        cases: CASES,
        ops_per_case: OPS_PER_CASE,
        seed,
    };
    let started = Instant::now();
    let outcome = runtime.block_on(async {
        let app = spawn_with(harness::Options {
            engine,
            ..harness::Options::default()
        })
        .await;
        let target = Target::new(&app.base).unwrap();
        let outcome = check(&target, &options).await;
        app.finish().await;
        outcome
    });
    let report = outcome.unwrap_or_else(|error| {
        panic!("{engine:?}, seed {seed} (BOOKWARDEN_ISOLATION_SEED={seed} repeats it):\n{error}")
    });
    eprintln!(
        "{engine:?}: {} operations ({} with another business's id), {} requests in {:.1} s, \
         seed {seed}; cleanup done {:?}, left {:?}",
        report.operations,
        report.foreign,
        report.requests,
        started.elapsed().as_secs_f64(),
        report.cleanup.done,
        report.cleanup.left,
    );
    assert_eq!(report.operations, u64::from(CASES * OPS_PER_CASE));
    // A run that sent few foreign ids or read little back proves little.
    assert!(
        report.foreign >= u64::from(CASES * OPS_PER_CASE) / 4,
        "{report:?}"
    );
    assert!(report.requests >= 25 * report.operations, "{report:?}");
    assert_eq!(report.rate_limited, 0, "the harness's limits are generous");
    // Cleanup erased the three businesses, leaving nothing behind.
    assert_eq!(
        report.cleanup.done.get("business erased"),
        Some(&3),
        "{report:?}"
    );
    assert!(report.cleanup.left.is_empty(), "{report:?}");
}

#[test]
fn p1_http_isolation_suite_on_sqlite() {
    suite(Engine::Sqlite);
}

#[test]
fn p1_http_isolation_suite_on_postgres() {
    if engines().contains(&Engine::Postgres) {
        suite(Engine::Postgres);
    }
}
