//! A whole business's data-rights export on the embedded SQLite database,
//! against a bare `SELECT` of the same rows (customers, bookings, audit
//! entries) on the same file: 10,000 and 100,000 bookings, each with an
//! intake answer, among 2,000 customers and 20 staff members.
//!
//! Then the whole database's backup (`VACUUM INTO` copy, encryption,
//! manifest) against a bare `VACUUM INTO` of the same file, and its
//! restore into an empty folder (verification included).
//!
//! Memory: the release `bookwarden export` binary exports each business in
//! its own process, and its peak resident size goes to
//! target/criterion/export-memory.json: bounded memory means the peak
//! hardly moves from 10,000 bookings to 100,000.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stderr,
    missing_docs,
    reason = "a benchmark fails loudly and reports on the terminal"
)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bookwarden_app::backup::{BackupContent, restore_backup};
use bookwarden_app::{App, ClientInfo, SecretString, Signup, SystemClock};
use bookwarden_domain::account::{Customer, Email, PersonName, StaffMember};
use bookwarden_domain::booking::{Booking, NewBooking};
use bookwarden_domain::id::{CustomerId, ServiceId, StaffId, TenantId};
use bookwarden_domain::intake::{
    FieldKey, FieldKind, IntakeAnswer, IntakeAnswers, IntakeField, IntakeForm,
};
use bookwarden_domain::jiff::{SignedDuration, Timestamp};
use bookwarden_domain::service::{Capacity, Service, ServiceName, ServiceSpec, Timing, TimingSpec};
use bookwarden_domain::tenant::TenantSlug;
use bookwarden_domain::time::TimeRange;
use bookwarden_http_api::config::{Config, FileConfig};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sea_orm::{ConnectionTrait as _, Database, DbBackend, Statement};

const STAFF: usize = 20;
const CUSTOMERS: usize = 2_000;
const SIZES: [usize; 2] = [10_000, 100_000];

fn binary() -> PathBuf {
    bookwarden_tests::release_binary()
}

struct Fixture {
    app: Arc<App>,
    slug: String,
    tenant: TenantId,
    dir: PathBuf,
    url: String,
    rows: u64,
}

fn start() -> Timestamp {
    "2027-01-01T00:00:00Z".parse().unwrap()
}

/// A business with `bookings` bookings in a fresh data folder.
async fn fixture(bookings: usize) -> Fixture {
    let dir = std::env::temp_dir().join(format!("bookwarden-export-bench-{bookings}"));
    let _ = std::fs::remove_dir_all(&dir);
    let config = Config::from_file_config(FileConfig {
        data_dir: Some(dir.clone()),
        ..FileConfig::default()
    })
    .unwrap();
    let (app, _) = App::open(config.app, Arc::new(SystemClock)).await.unwrap();
    let app = Arc::new(app);
    let slug = "export-clinic".to_owned();
    app.signup(Signup {
        tenant_name: "Export Clinic".into(),
        region: None,
        slug: slug.clone(),
        time_zone: "Europe/Berlin".into(),
        email: "owner@export.example".into(),
        name: "Olive".into(),
        password: SecretString::new("plum tree orchard 42".into()),
        client: ClientInfo::default(),
    })
    .await
    .unwrap();
    let store = app.store();
    let tenant = store
        .system()
        .locate(&TenantSlug::parse(&slug).unwrap())
        .await
        .unwrap()
        .unwrap();
    let staff: Vec<StaffMember> = (0..STAFF)
        .map(|i| {
            StaffMember::create(
                tenant,
                PersonName::parse(&format!("Staff {i}")).unwrap(),
                None,
            )
        })
        .collect();
    let customers: Vec<Customer> = (0..CUSTOMERS)
        .map(|i| {
            Customer::create(
                tenant,
                Email::parse(&format!("customer{i}@example.com")).unwrap(),
                PersonName::parse(&format!("Customer {i}")).unwrap(),
                None,
            )
        })
        .collect();
    let form = IntakeForm::new(vec![
        IntakeField::new(
            FieldKey::parse("reason").unwrap(),
            "What brings you in?",
            FieldKind::Text { max_chars: 200 },
            false,
        )
        .unwrap(),
    ])
    .unwrap();
    let service = Service::new(
        ServiceId::random(),
        tenant,
        ServiceSpec {
            name: ServiceName::parse("Visit").unwrap(),
            timing: Timing::new(TimingSpec {
                duration_minutes: 60,
                buffer_before_minutes: 0,
                buffer_after_minutes: 0,
                minimum_notice_minutes: 0,
                horizon_days: 730,
                slot_step_minutes: 60,
            })
            .unwrap(),
            capacity: Capacity::ONE,
            staff: staff.iter().map(StaffMember::id).collect(),
            price: None,
            intake: form,
            public: true,
        },
    )
    .unwrap();
    let scope = store.write(tenant).await.unwrap();
    for member in &staff {
        scope.staff().insert(member).await.unwrap();
    }
    for customer in &customers {
        scope.customers().insert(customer, start()).await.unwrap();
    }
    scope.services().insert(&service).await.unwrap();
    scope.commit().await.unwrap();
    let staff: Arc<Vec<StaffId>> = Arc::new(staff.iter().map(StaffMember::id).collect());
    let customers: Arc<Vec<CustomerId>> = Arc::new(customers.iter().map(Customer::id).collect());
    let service = Arc::new(service);
    let next = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for _ in 0..16 {
        let (app, staff, customers, service, next) = (
            app.clone(),
            staff.clone(),
            customers.clone(),
            service.clone(),
            next.clone(),
        );
        writers.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= bookings {
                    break;
                }
                let member = n % STAFF;
                let hour = i64::try_from(n / STAFF).unwrap();
                let from = start()
                    .checked_add(SignedDuration::from_hours(hour))
                    .unwrap();
                let booking = Booking::request(
                    NewBooking {
                        tenant,
                        service: service.id(),
                        staff: staff[member],
                        customer: customers[n % CUSTOMERS],
                        range: TimeRange::new(
                            from,
                            from.checked_add(SignedDuration::from_hours(1)).unwrap(),
                        )
                        .unwrap(),
                        seats: 1,
                        answers: IntakeAnswers::restore([(
                            FieldKey::parse("reason").unwrap(),
                            IntakeAnswer::Text(format!("A sore knee, visit {n}")),
                        )]),
                    },
                    start().checked_sub(SignedDuration::from_hours(24)).unwrap(),
                )
                .unwrap();
                app.store()
                    .booker(tenant)
                    .book(&booking, &service, None, None)
                    .await
                    .unwrap();
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    // Both sides read the same settled file: every seeded page moved from
    // the write-ahead log into the database.
    let file = dir.join("bookwarden.db");
    let writer = Database::connect(format!("sqlite://{}?mode=rw", file.display()))
        .await
        .unwrap();
    writer
        .execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
        .await
        .unwrap();
    writer.close().await.unwrap();
    let url = format!("sqlite://{}?mode=ro", file.display());
    let scope = store.read(tenant).await.unwrap();
    let rows = scope.export_rows().await.unwrap();
    scope.commit().await.unwrap();
    Fixture {
        app,
        slug,
        tenant,
        dir,
        url,
        rows,
    }
}

/// The same rows as the export's large documents, read with nothing done
/// to them.
async fn bare_select(db: &sea_orm::DatabaseConnection, tenant: TenantId) -> usize {
    let mut seen = 0;
    for table in ["customers", "bookings", "audit_log"] {
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                format!("SELECT * FROM {table} WHERE tenant_id = ?"),
                [tenant.as_uuid().as_bytes().to_vec().into()],
            ))
            .await
            .unwrap();
        seen += rows.len();
    }
    seen
}

/// The peak resident size, in KiB, of the release binary exporting the
/// business.
fn export_peak_kib(fixture: &Fixture) -> u64 {
    let out = fixture.dir.join("peak.tar");
    let _ = std::fs::remove_file(&out);
    let mut child = Command::new(binary())
        .args(["export", "--slug", &fixture.slug, "--out"])
        .arg(&out)
        .arg("--data-dir")
        .arg(&fixture.dir)
        .env_remove("BOOKWARDEN_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut peak = 0;
    loop {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
        if let Some(kib) = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kib);
        }
        if let Some(done) = child.try_wait().unwrap() {
            assert!(done.success(), "bookwarden export failed");
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = std::fs::remove_file(&out);
    peak
}

fn export(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut memory = serde_json::Map::new();
    for size in SIZES {
        let fixture = rt.block_on(fixture(size));
        let db = rt.block_on(Database::connect(&fixture.url)).unwrap();
        let mut group = c.benchmark_group("export");
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(20));
        group.throughput(Throughput::Elements(fixture.rows));
        group.bench_function(format!("tenant_{size}"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let spool = tokio::io::BufWriter::new(fixture.app.export_spool().unwrap());
                    let (_, summary) = fixture
                        .app
                        .export_tenant_at(&fixture.slug, spool, &mut |_| {})
                        .await
                        .unwrap();
                    assert!(summary.rows >= fixture.rows);
                });
            });
        });
        group.bench_function(format!("bare_select_{size}"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    assert!(bare_select(&db, fixture.tenant).await > size);
                });
            });
        });
        group.finish();

        // The whole database backed up (copy, encryption, manifest)
        // against a bare VACUUM INTO of the same file, and its restore.
        let mut group = c.benchmark_group("backup");
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(20));
        let runs = AtomicUsize::new(0);
        let next = |what: &str| {
            fixture.dir.with_file_name(format!(
                "bench-{what}-{}",
                runs.fetch_add(1, Ordering::Relaxed)
            ))
        };
        group.bench_function(format!("data_{size}"), |b| {
            b.iter(|| {
                let out = next("backup");
                rt.block_on(
                    fixture
                        .app
                        .backup(BackupContent::Data, &out, Arc::new(|_| {})),
                )
                .unwrap();
                let _ = std::fs::remove_file(&out);
            });
        });
        group.bench_function(format!("bare_vacuum_into_{size}"), |b| {
            b.iter(|| {
                let out = next("vacuum");
                rt.block_on(db.execute_unprepared(&format!("VACUUM INTO '{}'", out.display())))
                    .unwrap();
                let _ = std::fs::remove_file(&out);
            });
        });
        let file = next("restore-source");
        rt.block_on(
            fixture
                .app
                .backup(BackupContent::Data, &file, Arc::new(|_| {})),
        )
        .unwrap();
        let keys = bookwarden_app::keys::load(&fixture.app.config().keys, None)
            .unwrap()
            .ring;
        group.bench_function(format!("restore_{size}"), |b| {
            b.iter(|| {
                let target = bookwarden_app::Config::embedded(next("restored"));
                rt.block_on(restore_backup(&target, &keys, &file, Arc::new(|_| {})))
                    .unwrap();
                let _ = std::fs::remove_dir_all(&target.data_dir);
            });
        });
        group.finish();
        let _ = std::fs::remove_file(&file);
        rt.block_on(db.close()).unwrap();
        let peak = export_peak_kib(&fixture);
        eprintln!("export of {size} bookings: peak resident {peak} KiB");
        memory.insert(format!("peak_kib_{size}"), peak.into());
        let Fixture { app, dir, .. } = fixture;
        drop(app);
        let _ = std::fs::remove_dir_all(dir);
    }
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/criterion/export-memory.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::Value::Object(memory).to_string()).unwrap();
}

criterion_group!(benches, export);
criterion_main!(benches);
