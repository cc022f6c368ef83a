//! `spawn_app()`: a real server on a random loopback port over a fresh
//! database (an SQLite file in a new folder, or a new PostgreSQL database
//! used through a role that owns nothing), with a clock tests can move.
//!
//! PostgreSQL comes from `BOOKWARDEN_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and is prepared with
//! `psql`. When it cannot be reached the PostgreSQL half of a test is
//! skipped with a printed reason, except under CI (`CI` set), where that
//! is a failure.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

use bookwarden_app::{App, Clock};
use bookwarden_domain::jiff::{SignedDuration, Timestamp};
use bookwarden_http_api::config::{Config, FileConfig};
use bookwarden_http_api::{Listen, start};
use serde_json::{Value, json};

/// The application role PostgreSQL tests connect as.
pub const APP_ROLE: &str = "bookwarden_test_app";

/// Which engine a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// A clock that only moves when told.
pub struct ManualClock(Mutex<Timestamp>);

impl ManualClock {
    pub fn set(&self, at: Timestamp) {
        *self.0.lock().unwrap() = at;
    }

    pub fn advance(&self, seconds: i64) {
        let mut now = self.0.lock().unwrap();
        *now = now.checked_add(SignedDuration::from_secs(seconds)).unwrap();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

/// Knobs a test may turn.
#[derive(Clone)]
pub struct Options {
    pub engine: Engine,
    pub login_per_minute: u32,
    pub public_per_minute: u32,
    pub lockout_failures: u32,
    pub max_concurrent_hashes: usize,
    pub behind_proxy: bool,
    pub workers: usize,
    /// The regions, the first the default and the directory's; each its
    /// own SQLite file or PostgreSQL database when there are several.
    pub regions: &'static [&'static str],
    /// Last word on the file configuration (request limits and the like).
    pub configure: Arc<dyn Fn(&mut FileConfig) + Send + Sync>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            engine: Engine::Sqlite,
            login_per_minute: 10_000,
            public_per_minute: 100_000,
            lockout_failures: 5,
            max_concurrent_hashes: 2,
            behind_proxy: false,
            workers: 2,
            regions: &["local"],
            configure: Arc::new(|_| {}),
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub app: Arc<App>,
    pub engine: Engine,
    cleanup: Cleanup,
    server: actix_web::dev::ServerHandle,
}

enum Cleanup {
    Folder(PathBuf),
    Database {
        name: String,
        folder: PathBuf,
        /// The databases of the regions after the first.
        more: Vec<String>,
    },
}

fn postgres_admin_url() -> String {
    std::env::var("BOOKWARDEN_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

pub fn psql(sql: &str) -> Result<(), String> {
    let out = Command::new("psql")
        .arg(postgres_admin_url())
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The URL of database `name` on the admin URL's server, as `user`.
pub fn url_for(user: &str, name: &str) -> String {
    let admin = postgres_admin_url();
    let rest = admin
        .split_once("://")
        .map_or(admin.as_str(), |(_, rest)| rest);
    let host = rest.split_once('@').map_or(rest, |(_, host)| host);
    let host = host.split_once('/').map_or(host, |(host, _)| host);
    format!("postgres://{user}@{host}/{name}")
}

/// The superuser URL of a reachable PostgreSQL, for tests that prepare
/// their own databases (the documents' recipes); `None`, with a printed
/// reason, when it cannot be reached outside CI.
pub fn postgres_for_recipes() -> Option<String> {
    match psql("SELECT 1") {
        Ok(()) => Some(postgres_admin_url()),
        Err(reason) => {
            if std::env::var_os("CI").is_some() {
                panic!("PostgreSQL is required under CI and cannot be reached: {reason}");
            }
            eprintln!("SKIPPING the PostgreSQL recipes: {reason}");
            None
        }
    }
}

/// SQLite always; PostgreSQL when reachable (required under CI).
pub fn engines() -> Vec<Engine> {
    match psql("SELECT 1") {
        Ok(()) => vec![Engine::Sqlite, Engine::Postgres],
        Err(reason) => {
            if std::env::var_os("CI").is_some() {
                panic!("PostgreSQL is required under CI and cannot be reached: {reason}");
            }
            eprintln!("SKIPPING the PostgreSQL half: {reason}");
            vec![Engine::Sqlite]
        }
    }
}

fn random_name(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

pub async fn spawn_app() -> TestApp {
    spawn_with(Options::default()).await
}

pub async fn spawn_with(options: Options) -> TestApp {
    let folder = std::env::temp_dir().join(random_name("bookwarden-http"));
    let mut file = FileConfig {
        data_dir: Some(folder.clone()),
        login_per_minute: Some(options.login_per_minute),
        public_per_minute: Some(options.public_per_minute),
        lockout_failures: Some(options.lockout_failures),
        max_concurrent_hashes: Some(options.max_concurrent_hashes),
        behind_proxy: Some(options.behind_proxy),
        ..FileConfig::default()
    };
    (options.configure)(&mut file);
    let regions = options.regions;
    if let Some(first) = regions.first().filter(|_| regions.len() > 1) {
        file.default_region = Some((*first).to_owned());
    }
    let cleanup = match options.engine {
        Engine::Sqlite => {
            if regions.len() > 1 {
                for region in regions {
                    file.databases.insert(
                        (*region).to_owned(),
                        format!(
                            "sqlite://{}?mode=rwc",
                            folder.join(format!("{region}.db")).display()
                        ),
                    );
                }
            }
            Cleanup::Folder(folder.clone())
        }
        Engine::Postgres => {
            let name = random_name("bookwarden_http");
            psql(&format!("CREATE DATABASE {name}")).unwrap();
            // The key store: a database of its own, as in production.
            psql(&format!("CREATE DATABASE {name}_keys")).unwrap();
            // Roles are cluster-wide; tests running at once may race.
            psql(&format!(
                "DO $$ BEGIN CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB \
                 NOCREATEROLE; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;"
            ))
            .unwrap();
            let mut owner = FileConfig {
                data_dir: Some(folder.clone()),
                master_keys: Some(vec![
                    bookwarden_app::keys::generate_entry(1)
                        .unwrap()
                        .expose_secret()
                        .to_owned(),
                ]),
                ..FileConfig::default()
            };
            let first = regions.first().copied().unwrap_or("local");
            owner
                .databases
                .insert(first.into(), url_for("postgres", &name));
            owner.default_region = Some(first.to_owned());
            let mut more = Vec::new();
            for region in regions.iter().skip(1) {
                let other = format!("{name}_{region}");
                psql(&format!("CREATE DATABASE {other}")).unwrap();
                owner
                    .databases
                    .insert((*region).to_owned(), url_for("postgres", &other));
                file.databases
                    .insert((*region).to_owned(), url_for(APP_ROLE, &other));
                more.push(other);
            }
            owner.key_store = Some(url_for("postgres", &format!("{name}_keys")));
            let owner = Config::from_file_config(owner).unwrap();
            bookwarden_app::migrate(&owner.app, Some(APP_ROLE))
                .await
                .unwrap();
            file.databases
                .insert(first.into(), url_for(APP_ROLE, &name));
            file.key_store = Some(url_for(APP_ROLE, &format!("{name}_keys")));
            let key = bookwarden_app::keys::generate_entry(1).unwrap();
            file.master_keys = Some(vec![key.expose_secret().to_owned()]);
            Cleanup::Database {
                name,
                folder: folder.clone(),
                more,
            }
        }
    };
    file.workers = Some(options.workers);
    let config = Config::from_file_config(file).unwrap();
    let clock = Arc::new(ManualClock(Mutex::new(Timestamp::now())));
    let (app, _) = App::open(config.app.clone(), clock.clone()).await.unwrap();
    let app = Arc::new(app);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = start(
        app.clone(),
        Listen {
            listener,
            tls: None,
        },
        &config,
    )
    .unwrap();
    let handle = server.handle();
    tokio::spawn(server);
    TestApp {
        base: format!("http://127.0.0.1:{port}"),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        clock,
        app,
        engine: options.engine,
        cleanup,
        server: handle,
    }
}

/// A signed-up business with its owner signed in.
pub struct Owner {
    pub slug: String,
    pub tenant: String,
    pub user: String,
    pub email: String,
    pub token: String,
}

pub const PASSWORD: &str = "plum tree orchard 42";

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> reqwest::Response {
        let mut request = self.http.post(self.url(path)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> reqwest::Response {
        self.http
            .patch(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn login(&self, slug: &str, email: &str, password: &str) -> reqwest::Response {
        self.post(
            "/v1/sessions",
            None,
            json!({ "tenant": slug, "email": email, "password": password }),
        )
        .await
    }

    /// Logs in and returns the session token.
    pub async fn token(&self, slug: &str, email: &str, password: &str) -> String {
        let response = self.login(slug, email, password).await;
        assert_eq!(response.status(), 201, "login of {email}");
        let body: Value = response.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    /// Signs up a new business and signs its owner in.
    pub async fn owner(&self) -> Owner {
        let slug = format!("biz-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let email = format!("owner@{slug}.example");
        let response = self
            .post(
                "/v1/signup",
                None,
                json!({
                    "tenant_name": "Harbour Physio",
                    "slug": slug,
                    "time_zone": "Europe/Berlin",
                    "email": email,
                    "name": "Olive Owner",
                    "password": PASSWORD,
                }),
            )
            .await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        let token = self.token(&slug, &email, PASSWORD).await;
        Owner {
            tenant: body["tenant_id"].as_str().unwrap().to_owned(),
            user: body["user_id"].as_str().unwrap().to_owned(),
            slug,
            email,
            token,
        }
    }

    /// Invites `email` with `role` as `inviter` and accepts; returns the
    /// new user's id and a session token.
    pub async fn member(
        &self,
        owner: &Owner,
        inviter: &str,
        role: &str,
        email: &str,
    ) -> (String, String) {
        let invited = self
            .post(
                "/v1/invitations",
                Some(inviter),
                json!({ "email": email, "role": role }),
            )
            .await;
        assert_eq!(invited.status(), 201, "invite {email}");
        let invited: Value = invited.json().await.unwrap();
        let accepted = self
            .post(
                "/v1/invitations/accept",
                None,
                json!({ "token": invited["token"], "name": "Sam Staff", "password": PASSWORD }),
            )
            .await;
        assert_eq!(accepted.status(), 201);
        let accepted: Value = accepted.json().await.unwrap();
        let token = self.token(&owner.slug, email, PASSWORD).await;
        (accepted["user_id"].as_str().unwrap().to_owned(), token)
    }

    /// The audit kinds of the owner's tenant, in order.
    pub async fn audit_kinds(&self, token: &str) -> Vec<String> {
        let body: Value = self
            .get("/v1/audit?limit=500", token)
            .await
            .json()
            .await
            .unwrap();
        body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Everything the database holds, as bytes: every file in the SQLite
    /// folder (the WAL too), or a plain `pg_dump` of the PostgreSQL
    /// database. For tests that look for what must never be stored.
    /// Each region's database as whoever holds it reads it (the SQLite
    /// file read-only, the PostgreSQL database as its superuser, below
    /// row-level security), in the order of [`Options::regions`].
    pub fn region_urls(&self, regions: &[&str]) -> Vec<String> {
        match &self.cleanup {
            Cleanup::Folder(folder) => regions
                .iter()
                .map(|r| {
                    format!(
                        "sqlite://{}?mode=ro",
                        folder.join(format!("{r}.db")).display()
                    )
                })
                .collect(),
            Cleanup::Database { name, more, .. } => std::iter::once(name)
                .chain(more)
                .map(|db| url_for("postgres", db))
                .collect(),
        }
    }

    pub fn stored_bytes(&self) -> Vec<u8> {
        match &self.cleanup {
            Cleanup::Folder(folder) => {
                let mut bytes = Vec::new();
                for entry in std::fs::read_dir(folder).unwrap() {
                    let path = entry.unwrap().path();
                    if path.is_file() {
                        bytes.extend(std::fs::read(path).unwrap());
                    }
                }
                bytes
            }
            Cleanup::Database { name, .. } => {
                let out = Command::new("pg_dump")
                    .arg(url_for("postgres", name))
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "pg_dump: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                out.stdout
            }
        }
    }

    pub async fn finish(self) {
        self.server.stop(true).await;
        match self.cleanup {
            Cleanup::Folder(folder) => {
                let _ = std::fs::remove_dir_all(folder);
            }
            Cleanup::Database { name, folder, more } => {
                let _ = std::fs::remove_dir_all(folder);
                for other in more {
                    let _ = psql(&format!("DROP DATABASE IF EXISTS {other} WITH (FORCE)"));
                }
                let _ = psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
                let _ = psql(&format!("DROP DATABASE IF EXISTS {name}_keys WITH (FORCE)"));
            }
        }
    }
}

/// A schedule's `weekly` body: the same hours, `from` to `to`, every day.
pub fn every_day(from: &str, to: &str) -> serde_json::Map<String, Value> {
    [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ]
    .iter()
    .map(|d| ((*d).to_owned(), json!([[from, to]])))
    .collect()
}
