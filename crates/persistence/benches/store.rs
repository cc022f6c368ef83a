//! Booking creation through the store against a raw single-row insert into
//! an equivalently constrained table, on SQLite and PostgreSQL, with 1 and
//! 16 concurrent writers. `cargo xtask bench` reports the ratios.
//!
//! Each iteration books a fresh hour for one of 16 staff members, so every
//! insert passes the no-overlap check (trigger or exclusion constraint)
//! against a growing table, as in production.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    clippy::indexing_slicing,
    clippy::cast_precision_loss,
    missing_docs,
    reason = "benchmark set-up fails loudly; criterion macros make undocumented items"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use bookwarden_domain::account::{Customer, Email, PersonName, StaffMember};
use bookwarden_domain::booking::{Booking, NewBooking};
use bookwarden_domain::id::{CustomerId, ServiceId, StaffId, TenantId};
use bookwarden_domain::intake::{IntakeAnswers, IntakeForm};
use bookwarden_domain::jiff::{SignedDuration, Timestamp};
use bookwarden_domain::service::{Capacity, Service, ServiceName, ServiceSpec, Timing, TimingSpec};
use bookwarden_domain::tenant::{Region, Tenant, TenantName, TenantSlug};
use bookwarden_domain::time::{TimeRange, TimeZone};
use bookwarden_persistence::{RegionDatabase, Store, StoreConfig, grant_app_role, migrate};
use criterion::{Criterion, criterion_group, criterion_main};
use sea_orm::{ConnectionTrait, Database};

const WRITERS: usize = 16;
const APP_ROLE: &str = "bookwarden_bench_app";

struct Setup {
    store: Arc<Store>,
    tenant: TenantId,
    staff: Vec<StaffId>,
    customer: CustomerId,
    service: Arc<Service>,
    raw: RawPool,
    next_hour: Arc<Vec<AtomicI64>>,
}

#[derive(Clone)]
enum RawPool {
    Sqlite(sea_orm::sqlx::SqlitePool),
    Postgres(sea_orm::sqlx::PgPool),
}

fn start() -> Timestamp {
    "2027-01-01T00:00:00Z".parse().unwrap()
}

async fn setup(store_url: &str, owner_url: &str, raw: RawPool) -> Setup {
    let region = Region::parse("local").unwrap();
    let store = Store::open(StoreConfig {
        regions: vec![RegionDatabase {
            region: region.clone(),
            url: store_url.to_owned(),
        }],
        directory: region.clone(),
        max_connections: 16,
        placement: Default::default(),
        key_store: None,
    })
    .await
    .unwrap();
    let slug = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let tenant = Tenant::create(
        TenantName::parse("Bench").unwrap(),
        TenantSlug::parse(&slug).unwrap(),
        region,
        TimeZone::parse("UTC").unwrap(),
    );
    store
        .system()
        .create_tenant(&tenant, start())
        .await
        .unwrap();
    let staff: Vec<StaffMember> = (0..WRITERS)
        .map(|i| {
            StaffMember::create(
                tenant.id(),
                PersonName::parse(&format!("S{i}")).unwrap(),
                None,
            )
        })
        .collect();
    let customer = Customer::create(
        tenant.id(),
        Email::parse("bench@example.com").unwrap(),
        PersonName::parse("Bench").unwrap(),
        None,
    );
    let timing = Timing::new(TimingSpec {
        duration_minutes: 60,
        buffer_before_minutes: 0,
        buffer_after_minutes: 0,
        minimum_notice_minutes: 0,
        horizon_days: 730,
        slot_step_minutes: 60,
    })
    .unwrap();
    let service = Service::new(
        ServiceId::random(),
        tenant.id(),
        ServiceSpec {
            name: ServiceName::parse("Bench").unwrap(),
            timing,
            capacity: Capacity::ONE,
            staff: staff.iter().map(StaffMember::id).collect(),
            price: None,
            intake: IntakeForm::default(),
            public: true,
        },
    )
    .unwrap();
    let scope = store.write(tenant.id()).await.unwrap();
    for s in &staff {
        scope.staff().insert(s).await.unwrap();
    }
    scope.customers().insert(&customer, start()).await.unwrap();
    scope.services().insert(&service).await.unwrap();
    scope.commit().await.unwrap();
    // The raw baseline: the same no-overlap rule on a table of its own.
    let owner = Database::connect(owner_url).await.unwrap();
    let ddl = match raw {
        RawPool::Sqlite(_) => {
            "CREATE TABLE raw_holds (id BLOB PRIMARY KEY, staff INTEGER NOT NULL, held_from INTEGER NOT NULL, held_until INTEGER NOT NULL) STRICT;
             CREATE INDEX raw_holds_staff ON raw_holds (staff, held_from);
             CREATE TRIGGER raw_no_overlap BEFORE INSERT ON raw_holds WHEN EXISTS (
                 SELECT 1 FROM raw_holds h WHERE h.staff = NEW.staff AND h.held_from > NEW.held_from - 172800000000
                   AND h.held_from < NEW.held_until AND NEW.held_from < h.held_until)
             BEGIN SELECT RAISE(ABORT, 'taken'); END;"
        }
        RawPool::Postgres(_) => {
            "CREATE TABLE raw_holds (id uuid PRIMARY KEY, staff bigint NOT NULL, held_from bigint NOT NULL, held_until bigint NOT NULL,
                 EXCLUDE USING gist (staff WITH =, int8range(held_from, held_until) WITH &&));
             GRANT SELECT, INSERT ON raw_holds TO bookwarden_bench_app;"
        }
    };
    owner.execute_unprepared(ddl).await.unwrap();
    owner.close().await.unwrap();
    Setup {
        store: Arc::new(store),
        tenant: tenant.id(),
        staff: staff.iter().map(StaffMember::id).collect(),
        customer: customer.id(),
        service: Arc::new(service),
        raw,
        next_hour: Arc::new((0..WRITERS).map(|_| AtomicI64::new(0)).collect()),
    }
}

fn hour(n: i64) -> Timestamp {
    start().checked_add(SignedDuration::from_hours(n)).unwrap()
}

async fn book(s: &Setup, writer: usize) {
    let n = s.next_hour[writer].fetch_add(1, Ordering::Relaxed);
    let booking = Booking::request(
        NewBooking {
            tenant: s.tenant,
            service: s.service.id(),
            staff: s.staff[writer],
            customer: s.customer,
            range: TimeRange::new(hour(n), hour(n + 1)).unwrap(),
            seats: 1,
            answers: IntakeAnswers::default(),
        },
        hour(-24),
    )
    .unwrap();
    s.store
        .booker(s.tenant)
        .book(&booking, &s.service, None, None)
        .await
        .unwrap();
}

async fn raw_insert(s: &Setup, writer: usize) {
    let n = s.next_hour[writer].fetch_add(1, Ordering::Relaxed);
    let (from, until) = (hour(n).as_microsecond(), hour(n + 1).as_microsecond());
    let id = uuid::Uuid::new_v4();
    let staff = i64::try_from(writer).unwrap();
    match &s.raw {
        RawPool::Sqlite(pool) => {
            sea_orm::sqlx::query(
                "INSERT INTO raw_holds (id, staff, held_from, held_until) VALUES (?, ?, ?, ?)",
            )
            .bind(id)
            .bind(staff)
            .bind(from)
            .bind(until)
            .execute(pool)
            .await
            .unwrap();
        }
        RawPool::Postgres(pool) => {
            sea_orm::sqlx::query(
                "INSERT INTO raw_holds (id, staff, held_from, held_until) VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(staff)
            .bind(from)
            .bind(until)
            .execute(pool)
            .await
            .unwrap();
        }
    }
}

/// Runs `iters` operations split over `writers` concurrent tasks.
fn timed<F, Fut>(
    rt: &tokio::runtime::Runtime,
    s: &Arc<Setup>,
    iters: u64,
    writers: usize,
    op: F,
) -> Duration
where
    F: Fn(Arc<Setup>, usize) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    rt.block_on(async {
        let began = Instant::now();
        let per = iters.div_ceil(writers as u64);
        let mut tasks = Vec::new();
        for w in 0..writers {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..per {
                    op(s.clone(), w).await;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        // Report time per operation as if exactly `iters` ran.
        began
            .elapsed()
            .mul_f64(iters as f64 / (per * writers as u64) as f64)
    })
}

fn engine_benches(c: &mut Criterion, rt: &tokio::runtime::Runtime, name: &str, s: Arc<Setup>) {
    let mut group = c.benchmark_group(format!("store_{name}"));
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    for writers in [1_usize, WRITERS] {
        group.bench_function(format!("booking_{writers}_writers"), |b| {
            b.iter_custom(|iters| {
                timed(
                    rt,
                    &s,
                    iters,
                    writers,
                    |s, w| async move { book(&s, w).await },
                )
            })
        });
        group.bench_function(format!("raw_insert_{writers}_writers"), |b| {
            b.iter_custom(|iters| {
                timed(rt, &s, iters, writers, |s, w| async move {
                    raw_insert(&s, w).await
                })
            })
        });
    }
    group.finish();
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // SQLite: a file in a fresh folder.
    let folder = std::env::temp_dir().join(format!(
        "bookwarden-bench-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&folder).unwrap();
    let url = format!("sqlite://{}", folder.join("store.db").display());
    let sqlite = rt.block_on(async {
        migrate(&url).await.unwrap();
        let options = sea_orm::sqlx::sqlite::SqliteConnectOptions::new()
            .filename(folder.join("store.db"))
            .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        let pool = sea_orm::sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(16)
            .connect_with(options)
            .await
            .unwrap();
        setup(&url, &url, RawPool::Sqlite(pool)).await
    });
    engine_benches(c, &rt, "sqlite", Arc::new(sqlite));
    let _ = std::fs::remove_dir_all(&folder);

    // PostgreSQL, when reachable: a fresh database, used as a role that
    // owns nothing, as in production.
    let admin = std::env::var("BOOKWARDEN_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let name = format!("bookwarden_bench_{}", uuid::Uuid::new_v4().simple());
    let postgres = rt.block_on(async {
        let conn = match Database::connect(&admin).await {
            Ok(conn) => conn,
            Err(e) => {
                eprintln!("PostgreSQL benchmarks skipped: {e}");
                return None;
            }
        };
        conn.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
        conn.execute_unprepared(&format!(
            "DO $$ BEGIN CREATE ROLE {APP_ROLE} LOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;"
        ))
        .await
        .unwrap();
        conn.close().await.unwrap();
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base);
        let owner = format!("{base}/{name}");
        let app = owner.replacen("postgres@", &format!("{APP_ROLE}@"), 1);
        migrate(&owner).await.unwrap();
        grant_app_role(&owner, APP_ROLE).await.unwrap();
        let pool = sea_orm::sqlx::postgres::PgPoolOptions::new()
            .max_connections(16)
            .connect(&app)
            .await
            .unwrap();
        Some(setup(&app, &owner, RawPool::Postgres(pool)).await)
    });
    if let Some(pg) = postgres {
        engine_benches(c, &rt, "postgres", Arc::new(pg));
        rt.block_on(async {
            let conn = Database::connect(&admin).await.unwrap();
            conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await
                .unwrap();
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
