//! Data rights across tenants (P10, P1, P3): random businesses with random
//! customers and bookings; erasing one customer of one business, or a whole
//! business, never changes a byte of any other business's export, nor of
//! the erased customer's neighbours in their own business. A backup taken
//! before a business is erased holds its sealed rows, and no key the
//! server still has opens them.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::sync::{Arc, Mutex};

use bookwarden_app::{
    App, BookingRequest, Carrier, ClientInfo, Clock, Config, CustomerInput, Erasure, LoginRequest,
    Principal, SecretString, Signup, TenantErasure,
};
use bookwarden_domain::id::{CustomerId, ServiceId};
use bookwarden_domain::intake::IntakeForm;
use bookwarden_domain::jiff::civil::Weekday;
use bookwarden_domain::jiff::{SignedDuration, Timestamp};
use bookwarden_domain::schedule::{DayHours, DayRange, DayTime, ScheduleSpec, WeeklyHours};
use bookwarden_domain::service::{Capacity, ServiceName, ServiceSpec, Timing, TimingSpec};
use bookwarden_domain::time::TimeZone;
use proptest::prelude::*;

struct FixedClock(Mutex<Timestamp>);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

/// One business as the strategy draws it: per customer, a name and the
/// hours (after 08:00 on the day after the clock) of their bookings.
#[derive(Clone, Debug)]
struct Business {
    customers: Vec<(String, Vec<u8>)>,
}

fn business() -> impl Strategy<Value = Business> {
    prop::collection::vec(
        ("[a-z]{3,8}", prop::collection::btree_set(0u8..12, 0..3)),
        1..4,
    )
    .prop_map(|customers| Business {
        customers: customers
            .into_iter()
            .map(|(name, hours)| (name, hours.into_iter().collect()))
            .collect(),
    })
}

fn start() -> Timestamp {
    "2027-03-01T06:00:00Z".parse().unwrap()
}

async fn owner(app: &App, slug: &str) -> Principal {
    app.signup(Signup {
        tenant_name: format!("Business {slug}"),
        region: None,
        slug: slug.to_owned(),
        time_zone: "Europe/Berlin".to_owned(),
        email: format!("olive@{slug}.example"),
        name: "Olive".to_owned(),
        password: SecretString::new("plum tree orchard 42".to_owned()),
        client: ClientInfo::default(),
    })
    .await
    .unwrap();
    let session = app
        .login(LoginRequest {
            tenant: slug.to_owned(),
            email: format!("olive@{slug}.example"),
            password: SecretString::new("plum tree orchard 42".to_owned()),
            otp: None,
            recovery_code: None,
            new_password: None,
            client: ClientInfo::default(),
        })
        .await
        .unwrap();
    app.authenticate(session.token.expose_secret(), Carrier::Bearer)
        .await
        .unwrap()
}

/// Seeds `business`; answers each customer's id, in order.
async fn seed(app: &App, owner: &Principal, business: &Business) -> Vec<CustomerId> {
    let service = open_all_day(app, owner, 60).await;
    let mut ids = Vec::new();
    let mut taken = std::collections::BTreeSet::new();
    for (i, (name, hours)) in business.customers.iter().enumerate() {
        let input = CustomerInput {
            email: format!("{name}{i}@example.com"),
            name: format!("{name} {i}"),
            phone: None,
        };
        let (customer, _) = app.create_customer(owner, &input).await.unwrap();
        ids.push(customer.id());
        for hour in hours {
            // One staff member: each hour of the day is booked once.
            if !taken.insert(*hour) {
                continue;
            }
            let at = start()
                .checked_add(SignedDuration::from_hours(26 + i64::from(*hour)))
                .unwrap();
            app.create_booking(
                owner,
                &BookingRequest {
                    service,
                    staff: None,
                    start: at,
                    seats: 1,
                    customer: input.clone(),
                    answers: BTreeMap::new(),
                },
            )
            .await
            .unwrap();
        }
    }
    ids
}

async fn export(app: &App, owner: &Principal) -> BTreeMap<String, Vec<u8>> {
    let (written, _) = app
        .export_tenant(owner, std::io::Cursor::new(Vec::new()))
        .await
        .unwrap();
    let bytes = written.into_inner();
    let mut files = BTreeMap::new();
    for entry in tar::Archive::new(bytes.as_slice()).entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        files.insert(path, content);
    }
    files
}

/// An export as it compares across time: the manifest (which hashes the
/// audit log) left out, and from the audit log the entries of the exports
/// themselves, which each export adds.
fn comparable(files: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    files
        .iter()
        .filter(|(path, _)| path.as_str() != "manifest.json")
        .map(|(path, content)| {
            let content = if path == "audit.jsonl" {
                content
                    .split(|b| *b == b'\n')
                    .filter(|line| {
                        !line.is_empty()
                            && !line
                                .windows(b"data.exported".len())
                                .any(|w| w == b"data.exported")
                    })
                    .flat_map(|line| line.iter().copied().chain([b'\n']))
                    .collect()
            } else {
                content.clone()
            };
            (path.clone(), content)
        })
        .collect()
}

/// Lines of a JSON Lines file that do not mention `needle`.
fn lines_without(content: &[u8], needle: &str) -> Vec<Vec<u8>> {
    content
        .split(|b| *b == b'\n')
        .filter(|line| !line.windows(needle.len()).any(|w| w == needle.as_bytes()))
        .map(<[u8]>::to_vec)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn p10_erasing_a_customer_changes_no_byte_of_another_business_or_customer(
        businesses in prop::collection::vec(business(), 2..4),
        pick in any::<prop::sample::Index>(),
        whom in any::<prop::sample::Index>(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let folder = std::env::temp_dir()
                .join(format!("bookwarden-rights-{}", uuid::Uuid::new_v4().simple()));
            let clock = Arc::new(FixedClock(Mutex::new(start())));
            let (app, _) = App::open(Config::embedded(folder.clone()), clock).await.unwrap();
            let mut owners = Vec::new();
            let mut customers = Vec::new();
            for (i, business) in businesses.iter().enumerate() {
                let owner = owner(&app, &format!("biz-{i}")).await;
                customers.push(seed(&app, &owner, business).await);
                owners.push(owner);
            }
            let before: Vec<_> = {
                let mut all = Vec::new();
                for owner in &owners {
                    all.push(comparable(&export(&app, owner).await));
                }
                all
            };
            let target = pick.index(owners.len());
            let victim = *whom.get(&customers[target]);
            let asked = app.erase_customer(&owners[target], victim, None).await.unwrap();
            let Erasure::Confirm { token, .. } = asked else { panic!("{asked:?}") };
            let done = app
                .erase_customer(&owners[target], victim, Some(&token))
                .await
                .unwrap();
            assert!(matches!(done, Erasure::Done { .. }), "{done:?}");
            for (i, owner) in owners.iter().enumerate() {
                let after = comparable(&export(&app, owner).await);
                if i == target {
                    // The neighbours' rows are byte for byte as they were.
                    let victim = victim.to_string();
                    for file in ["customers.jsonl", "bookings.jsonl"] {
                        assert_eq!(
                            lines_without(&after[file], &victim),
                            lines_without(&before[i][file], &victim),
                            "{file} of the erased customer's business"
                        );
                    }
                } else {
                    assert_eq!(after, before[i], "business {i} changed with an erasure in {target}");
                }
            }
            drop(app);
            let _ = std::fs::remove_dir_all(folder);
        });
    }

    #[test]
    fn p10_erasing_a_business_changes_no_byte_of_another_business(
        businesses in prop::collection::vec(business(), 2..4),
        pick in any::<prop::sample::Index>(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let folder = std::env::temp_dir()
                .join(format!("bookwarden-rights-{}", uuid::Uuid::new_v4().simple()));
            let clock = Arc::new(FixedClock(Mutex::new(start())));
            let (app, _) = App::open(Config::embedded(folder.clone()), clock).await.unwrap();
            let mut owners = Vec::new();
            for (i, business) in businesses.iter().enumerate() {
                let owner = owner(&app, &format!("biz-{i}")).await;
                seed(&app, &owner, business).await;
                owners.push(owner);
            }
            let mut before = Vec::new();
            for owner in &owners {
                before.push(comparable(&export(&app, owner).await));
            }
            let target = pick.index(owners.len());
            let asked = app.erase_tenant(&owners[target], None).await.unwrap();
            let TenantErasure::Confirm { token, .. } = asked else { panic!("{asked:?}") };
            let done = app.erase_tenant(&owners[target], Some(&token)).await.unwrap();
            assert!(matches!(done, TenantErasure::Done { .. }), "{done:?}");
            // Nothing of the erased business is left to export.
            assert!(app.export_tenant(&owners[target], std::io::Cursor::new(Vec::new())).await.is_err());
            for (i, owner) in owners.iter().enumerate() {
                if i != target {
                    let after = comparable(&export(&app, owner).await);
                    assert_eq!(after, before[i], "business {i} changed with business {target}'s erasure");
                }
            }
            drop(app);
            let _ = std::fs::remove_dir_all(folder);
        });
    }
}

/// Every sealed two-factor seed (pending or confirmed) of `tenant` in the
/// database at `url`, with the user id it is bound to.
async fn sealed_seeds(url: &str, tenant: uuid::Uuid) -> Vec<(Vec<u8>, Vec<u8>)> {
    use sea_orm::{ConnectionTrait as _, Database, DbBackend, Statement};
    let conn = Database::connect(url).await.unwrap();
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT user_id, coalesce(totp_seed, totp_pending) AS sealed FROM users \
             WHERE tenant_id = ? AND coalesce(totp_seed, totp_pending) IS NOT NULL",
            [tenant.into()],
        ))
        .await
        .unwrap();
    conn.close().await.unwrap();
    rows.iter()
        .map(|row| {
            (
                row.try_get::<Vec<u8>>("", "user_id").unwrap(),
                row.try_get::<Vec<u8>>("", "sealed").unwrap(),
            )
        })
        .collect()
}

async fn count(url: &str, sql: &str) -> i64 {
    use sea_orm::{ConnectionTrait as _, Database, DbBackend, Statement};
    let conn = Database::connect(url).await.unwrap();
    let row = conn
        .query_one_raw(Statement::from_string(DbBackend::Sqlite, sql.to_owned()))
        .await
        .unwrap()
        .unwrap();
    conn.close().await.unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

fn opens(key: &bookwarden_crypto::vault::TenantDataKey, seeds: &[(Vec<u8>, Vec<u8>)]) -> bool {
    use bookwarden_crypto::vault::{self, Purpose};
    seeds
        .iter()
        .any(|(user, sealed)| vault::open(key, &Purpose::TOTP_SEED, user, sealed).is_ok())
}

#[tokio::test]
async fn p3_p10_a_backup_taken_before_a_business_is_erased_holds_its_sealed_rows_and_no_key_opens_them()
 {
    use sea_orm::{ConnectionTrait as _, Database};

    let folder = std::env::temp_dir().join(format!(
        "bookwarden-shred-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let clock = Arc::new(FixedClock(Mutex::new(start())));
    let (app, _) = App::open(Config::embedded(folder.clone()), clock)
        .await
        .unwrap();
    let gone = owner(&app, "gone-biz").await;
    let kept = owner(&app, "kept-biz").await;
    let one = Business {
        customers: vec![("ada".to_owned(), vec![1, 2])],
    };
    seed(&app, &gone, &one).await;
    seed(&app, &kept, &one).await;
    for person in [&gone, &kept] {
        app.totp_begin(person, SecretString::new("plum tree orchard 42".to_owned()))
            .await
            .unwrap();
    }
    let key_of = |tenant| {
        let app = &app;
        async move {
            let scope = app.store().read(tenant).await.unwrap();
            let key = scope.open_data_key(app.keys()).await;
            scope.commit().await.unwrap();
            key
        }
    };

    // The backup: a consistent copy of the data database, as `VACUUM INTO`
    // makes one while the server runs.
    let data = format!("sqlite://{}", folder.join("bookwarden.db").display());
    let backup_path = folder.join("backup.db");
    let backup = format!("sqlite://{}", backup_path.display());
    let conn = Database::connect(&data).await.unwrap();
    conn.execute_unprepared(&format!("VACUUM INTO '{}'", backup_path.display()))
        .await
        .unwrap();
    conn.close().await.unwrap();
    let tenant = *gone.tenant().as_uuid();
    let sealed = sealed_seeds(&backup, tenant).await;
    assert_eq!(sealed.len(), 1, "the owner's pending seed is in the backup");
    // Until the erasure, the business's key opens them: the check below
    // can fail.
    assert!(opens(&key_of(gone.tenant()).await.unwrap(), &sealed));
    assert_eq!(
        count(&backup, "SELECT count(*) FROM tenant_keys").await,
        0,
        "no key in a backup"
    );

    let asked = app.erase_tenant(&gone, None).await.unwrap();
    let TenantErasure::Confirm { token, .. } = asked else {
        panic!("{asked:?}")
    };
    let done = app.erase_tenant(&gone, Some(&token)).await.unwrap();
    assert!(
        matches!(done, TenantErasure::Done { rows } if rows > 10),
        "{done:?}"
    );

    // The backup still holds the sealed rows...
    assert_eq!(sealed_seeds(&backup, tenant).await, sealed);
    assert_eq!(
        sealed_seeds(&data, tenant).await,
        Vec::new(),
        "gone from the live data"
    );
    // ...and no key the server still has opens them: not the erased
    // business's (destroyed), not any other business's, and no wrapped key
    // left in the key store unwraps as the erased business's.
    assert!(key_of(gone.tenant()).await.is_err());
    let keys = format!("sqlite://{}", folder.join("keys.db").display());
    assert_eq!(count(&keys, "SELECT count(*) FROM tenant_keys").await, 1);
    let others = app.store().system().tenants().await.unwrap();
    assert_eq!(others.len(), 1);
    for (other, _) in others {
        let key = key_of(other).await.unwrap();
        assert!(
            !opens(&key, &sealed),
            "another business's key opened the erased one's secret"
        );
        // The shredding was the erased business's alone.
        assert!(opens(&key, &sealed_seeds(&data, *other.as_uuid()).await));
        let scope = app.store().read(other).await.unwrap();
        let stored = scope.data_key().await.unwrap().unwrap();
        scope.commit().await.unwrap();
        let wrapped =
            bookwarden_crypto::vault::WrappedDataKey::from_bytes(&stored.wrapped).unwrap();
        assert!(
            app.keys()
                .unwrap(
                    bookwarden_crypto::vault::TenantRef::from_bytes(*gone.tenant().as_bytes()),
                    &wrapped
                )
                .is_err()
        );
    }
    drop(app);
    let _ = std::fs::remove_dir_all(folder);
}

/// One staff member working 00:00-23:00 UTC every day and one public
/// service of `minutes` they give, with no notice and a 30-day horizon.
pub(crate) async fn open_all_day(app: &App, owner: &Principal, minutes: u32) -> ServiceId {
    let sam = app.create_staff(owner, "Sam Smith", None).await.unwrap();
    let day = DayHours::new(vec![
        DayRange::new(DayTime::new(0, 0).unwrap(), DayTime::new(23, 0).unwrap()).unwrap(),
    ])
    .unwrap();
    let weekly = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
        Weekday::Sunday,
    ]
    .into_iter()
    .fold(WeeklyHours::closed(), |weekly, weekday| {
        weekly.with(weekday, day.clone())
    });
    app.put_schedule(
        owner,
        sam.id(),
        ScheduleSpec {
            zone: TimeZone::parse("UTC").unwrap(),
            weekly,
            overrides: BTreeMap::new(),
            time_off: Vec::new(),
        },
    )
    .await
    .unwrap();
    app.create_service(
        owner,
        ServiceSpec {
            name: ServiceName::parse("Check-up").unwrap(),
            timing: Timing::new(TimingSpec {
                duration_minutes: minutes,
                buffer_before_minutes: 0,
                buffer_after_minutes: 0,
                minimum_notice_minutes: 0,
                horizon_days: 30,
                slot_step_minutes: minutes,
            })
            .unwrap(),
            capacity: Capacity::new(1).unwrap(),
            staff: vec![sam.id()],
            price: None,
            intake: IntakeForm::default(),
            public: true,
        },
    )
    .await
    .unwrap()
    .id()
}
