//! Fresh databases per test: a SQLite file in a new temporary folder, and a
//! PostgreSQL database with a random name, migrated as the owner and used
//! through a role that neither owns the tables nor bypasses row-level
//! security.
//!
//! PostgreSQL comes from `BOOKWARDEN_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). When it cannot be reached
//! the PostgreSQL half of a test is skipped with a printed reason, except
//! under CI (`CI` set), where that is a failure.

use std::path::PathBuf;

use bookwarden_domain::account::{Customer, Email, PersonName, StaffMember};
use bookwarden_domain::id::{ServiceId, StaffId, TenantId};
use bookwarden_domain::intake::IntakeForm;
use bookwarden_domain::jiff::Timestamp;
use bookwarden_domain::service::{Capacity, Service, ServiceName, ServiceSpec, Timing, TimingSpec};
use bookwarden_domain::tenant::{Region, Tenant, TenantName, TenantSlug};
use bookwarden_domain::time::TimeZone;
use bookwarden_persistence::{
    PgPlacement, RegionDatabase, Store, StoreConfig, grant_app_role, grant_key_store_role, migrate,
    migrate_key_store,
};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

/// The application role the PostgreSQL tests connect as.
pub const APP_ROLE: &str = "bookwarden_test_app";

/// Which engine a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// One fresh database and a store over it, with a key store of its own.
pub struct TestDb {
    pub store: Store,
    /// For SQLite the file; for PostgreSQL the owner URL of the database.
    pub owner_url: String,
    /// The key store's URL (for PostgreSQL, as the owner).
    pub key_owner_url: String,
    pub cleanup: Cleanup,
}

pub enum Cleanup {
    Folder(PathBuf),
    Database { admin: String, name: String },
}

pub fn postgres_admin_url() -> String {
    std::env::var("BOOKWARDEN_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The URL of database `name` on the admin URL's server, as `user`.
pub fn url_for(admin: &str, user: &str, name: &str) -> String {
    let rest = admin.split_once("://").map_or(admin, |(_, rest)| rest);
    let host = rest.split_once('@').map_or(rest, |(_, host)| host);
    let host = host.split_once('/').map_or(host, |(host, _)| host);
    format!("postgres://{user}@{host}/{name}")
}

/// The engines to run on: SQLite always, PostgreSQL when reachable.
pub async fn engines() -> Vec<Engine> {
    let mut out = vec![Engine::Sqlite];
    match Database::connect(postgres_admin_url()).await {
        Ok(conn) => {
            let _ = conn.close().await;
            out.push(Engine::Postgres);
        }
        Err(e) => {
            if std::env::var_os("CI").is_some() {
                panic!("PostgreSQL is required under CI and cannot be reached: {e}");
            }
            eprintln!(
                "SKIPPING the PostgreSQL half: cannot reach {}: {e}",
                postgres_admin_url()
            );
        }
    }
    out
}

pub fn random_name(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

impl TestDb {
    pub async fn new(engine: Engine) -> Self {
        Self::with_pool(engine, 8).await
    }

    pub async fn with_pool(engine: Engine, max_connections: u32) -> Self {
        match engine {
            Engine::Sqlite => {
                let folder = std::env::temp_dir().join(random_name("bookwarden-test"));
                std::fs::create_dir_all(&folder).unwrap();
                let url = format!("sqlite://{}", folder.join("store.db").display());
                let keys = format!("sqlite://{}", folder.join("keys.db").display());
                migrate(&url).await.unwrap();
                migrate_key_store(&keys, &PgPlacement::default())
                    .await
                    .unwrap();
                let store = open(&url, Some(&keys), max_connections).await;
                Self {
                    store,
                    owner_url: url,
                    key_owner_url: keys,
                    cleanup: Cleanup::Folder(folder),
                }
            }
            Engine::Postgres => {
                let admin = postgres_admin_url();
                let name = random_name("bookwarden_test");
                let conn = Database::connect(&admin).await.unwrap();
                // One statement each: neither runs inside a transaction.
                for database in [name.clone(), format!("{name}_keys")] {
                    conn.execute_unprepared(&format!("CREATE DATABASE {database}"))
                        .await
                        .unwrap();
                }
                ensure_app_role(&conn).await;
                conn.close().await.unwrap();
                let owner = url_for(&admin, "postgres", &name);
                let keys = url_for(&admin, "postgres", &format!("{name}_keys"));
                migrate(&owner).await.unwrap();
                grant_app_role(&owner, APP_ROLE).await.unwrap();
                let placement = PgPlacement::default();
                migrate_key_store(&keys, &placement).await.unwrap();
                grant_key_store_role(&keys, APP_ROLE, &placement)
                    .await
                    .unwrap();
                let store = open(
                    &url_for(&admin, APP_ROLE, &name),
                    Some(&url_for(&admin, APP_ROLE, &format!("{name}_keys"))),
                    max_connections,
                )
                .await;
                Self {
                    store,
                    owner_url: owner,
                    key_owner_url: keys,
                    cleanup: Cleanup::Database { admin, name },
                }
            }
        }
    }

    /// The URLs the store opens, the data's and the key store's (as the
    /// application role on PostgreSQL).
    pub fn app_urls(&self) -> (String, String) {
        match &self.cleanup {
            Cleanup::Folder(_) => (self.owner_url.clone(), self.key_owner_url.clone()),
            Cleanup::Database { admin, name } => (
                url_for(admin, APP_ROLE, name),
                url_for(admin, APP_ROLE, &format!("{name}_keys")),
            ),
        }
    }

    /// Closes the store and opens another over the same databases, as a
    /// process started after a crash would.
    pub async fn reopen(&mut self) {
        let (data, keys) = self.app_urls();
        let fresh = open(&data, Some(&keys), 4).await;
        let old = std::mem::replace(&mut self.store, fresh);
        old.close().await.unwrap();
    }

    /// A raw connection as the owner (SQLite) or the application role
    /// (PostgreSQL), for checks below the store's API.
    pub async fn raw_app(&self) -> DatabaseConnection {
        match &self.cleanup {
            Cleanup::Folder(_) => Database::connect(&self.owner_url).await.unwrap(),
            Cleanup::Database { admin, name } => Database::connect(url_for(admin, APP_ROLE, name))
                .await
                .unwrap(),
        }
    }

    pub async fn finish(self) {
        self.store.close().await.unwrap();
        match self.cleanup {
            Cleanup::Folder(folder) => {
                let _ = std::fs::remove_dir_all(folder);
            }
            Cleanup::Database { admin, name } => {
                let conn = Database::connect(&admin).await.unwrap();
                for database in [name.clone(), format!("{name}_keys")] {
                    conn.execute_unprepared(&format!(
                        "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
                    ))
                    .await
                    .unwrap();
                }
                conn.close().await.unwrap();
            }
        }
    }
}

pub async fn open(url: &str, key_store: Option<&str>, max_connections: u32) -> Store {
    let region = Region::parse("local").unwrap();
    Store::open(StoreConfig {
        regions: vec![RegionDatabase {
            region: region.clone(),
            url: url.to_owned(),
        }],
        directory: region,
        max_connections,
        placement: Default::default(),
        key_store: key_store.map(str::to_owned),
    })
    .await
    .unwrap()
}

pub async fn ensure_app_role(conn: &DatabaseConnection) {
    // Roles are cluster-wide; tests running at once may race to create it.
    let sql = format!(
        "DO $$ BEGIN
            CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
         END $$;"
    );
    conn.execute_unprepared(&sql).await.unwrap();
}

pub fn now() -> Timestamp {
    "2026-06-01T08:00:00Z".parse().unwrap()
}

/// Creates a tenant with a random slug in region `local`.
pub async fn tenant(store: &Store) -> Tenant {
    let slug = format!("t-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let tenant = Tenant::create(
        TenantName::parse("Test Clinic").unwrap(),
        TenantSlug::parse(&slug).unwrap(),
        Region::parse("local").unwrap(),
        TimeZone::parse("Europe/Berlin").unwrap(),
    );
    store.system().create_tenant(&tenant, now()).await.unwrap();
    tenant
}

pub fn staff_member(tenant: TenantId, name: &str) -> StaffMember {
    StaffMember::create(tenant, PersonName::parse(name).unwrap(), None)
}

pub fn customer(tenant: TenantId, email: &str) -> Customer {
    Customer::create(
        tenant,
        Email::parse(email).unwrap(),
        PersonName::parse("Ada").unwrap(),
        None,
    )
}

pub fn service(
    tenant: TenantId,
    staff: &[StaffId],
    seats: u16,
    before: u32,
    after: u32,
) -> Service {
    let timing = Timing::new(TimingSpec {
        duration_minutes: 60,
        buffer_before_minutes: before,
        buffer_after_minutes: after,
        minimum_notice_minutes: 0,
        horizon_days: 365,
        slot_step_minutes: 30,
    })
    .unwrap();
    Service::new(
        ServiceId::random(),
        tenant,
        ServiceSpec {
            name: ServiceName::parse("Massage").unwrap(),
            timing,
            capacity: Capacity::new(seats).unwrap(),
            staff: staff.to_vec(),
            price: None,
            intake: IntakeForm::default(),
            public: true,
        },
    )
    .unwrap()
}
