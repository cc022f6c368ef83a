//! The isolation check an operator runs (`bookwarden-isolation`, P1)
//! aimed at the real `bookwarden` binary over loopback, as a deployment
//! runs it: once on embedded SQLite in a fresh data folder, once on a
//! fresh PostgreSQL database migrated with `bookwarden migrate --app-role`
//! and served through the application role, with master keys from a file
//! made by `bookwarden keys generate`. Rate limits are raised through
//! `BOOKWARDEN_*` variables, as the settings table advises for a test
//! from one address.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bookwarden_isolation::{Options, Target, check};

use crate::binary::{folder, free_port};
use crate::harness::{APP_ROLE, Engine, engines, psql, url_for};

const BIN: &str = env!("CARGO_BIN_EXE_bookwarden");

/// Limits high enough that one address can run the check without 429s.
const GENEROUS: [(&str, &str); 4] = [
    ("BOOKWARDEN_LOGIN_PER_MINUTE", "100000"),
    ("BOOKWARDEN_SIGNUP_PER_HOUR", "100000"),
    ("BOOKWARDEN_PUBLIC_PER_MINUTE", "1000000"),
    ("BOOKWARDEN_LOG", "warn"),
];

/// A running `bookwarden serve`; its output goes to files in `dir`, so a
/// long run never fills a pipe.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    async fn start(dir: &Path, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--data-dir"])
            .arg(dir.join("data"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env_remove("BOOKWARDEN_CONFIG")
            .envs(GENEROUS)
            .envs(env.iter().copied())
            .stdout(std::fs::File::create(dir.join("stdout.log")).unwrap())
            .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap());
        let mut server = Self {
            child: command.spawn().unwrap(),
            base: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        for _ in 0..600 {
            if let Ok(answer) = http.get(format!("{}/healthz", server.base)).send().await
                && answer.status() == 200
            {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "bookwarden serve exited with {status}: {}",
                    std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the server did not answer /healthz within a minute");
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the check against `server` and asserts it found no leak.
async fn check_passes(server: &Server, what: &str) {
    let seed = u64::from(std::process::id());
    let options = Options {
        cases: 2,
        ops_per_case: 40,
        seed,
    };
    let started = Instant::now();
    let report = check(&Target::new(&server.base).unwrap(), &options)
        .await
        .unwrap_or_else(|error| panic!("{what}, seed {seed}:\n{error}"));
    eprintln!(
        "{what}: {} operations ({} foreign), {} requests in {:.1} s",
        report.operations,
        report.foreign,
        report.requests,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(report.operations, 80);
    assert!(report.foreign > 0, "{report:?}");
    assert_eq!(report.slugs.len(), 3);
    // Its businesses erased at the end: their slugs answer like none.
    assert_eq!(
        report.cleanup.done.get("business erased"),
        Some(&3),
        "{report:?}"
    );
    assert!(report.cleanup.left.is_empty(), "{report:?}");
    for slug in &report.slugs {
        let answer = reqwest::get(format!("{}/v1/public/{slug}/services", server.base))
            .await
            .unwrap();
        assert_eq!(answer.status(), 404, "{slug} after the check");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p1_isolation_check_finds_no_leak_in_the_real_binary_on_sqlite() {
    let dir = folder();
    let server = Server::start(&dir, &[]).await;
    check_passes(&server, "the binary on SQLite").await;
    server.stop();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p1_isolation_check_finds_no_leak_in_the_real_binary_on_postgres() {
    if !engines().contains(&Engine::Postgres) {
        return;
    }
    let dir = folder();
    let name = format!("bookwarden_isocheck_{}", uuid::Uuid::new_v4().simple());
    psql(&format!("CREATE DATABASE {name}")).unwrap();
    // Roles are cluster-wide; tests running at once may race.
    psql(&format!(
        "DO $$ BEGIN CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB \
         NOCREATEROLE; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;"
    ))
    .unwrap();
    let keys = dir.join("master.keys");
    let generated = Command::new(BIN)
        .args(["keys", "generate", "--version", "1"])
        .output()
        .unwrap();
    assert!(generated.status.success());
    std::fs::write(&keys, &generated.stdout).unwrap();
    let keys_file = keys.to_str().unwrap();
    let migrated = Command::new(BIN)
        .args(["migrate", "--app-role", APP_ROLE, "--data-dir"])
        .arg(dir.join("data"))
        .env_remove("BOOKWARDEN_CONFIG")
        .env("BOOKWARDEN_DATABASE_LOCAL", url_for("postgres", &name))
        .env("BOOKWARDEN_MASTER_KEYS_FILE", keys_file)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let app_url = url_for(APP_ROLE, &name);
    let server = Server::start(
        &dir,
        &[
            ("BOOKWARDEN_DATABASE_LOCAL", app_url.as_str()),
            ("BOOKWARDEN_MASTER_KEYS_FILE", keys_file),
        ],
    )
    .await;
    check_passes(&server, "the binary on PostgreSQL").await;
    server.stop();
    let _ = psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    let _ = std::fs::remove_dir_all(dir);
}
