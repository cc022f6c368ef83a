//! Data rights across tenants (P10, P1): random businesses with random
//! customers and bookings; erasing one customer of one business never
//! changes a byte of any other business's export, nor of the erased
//! customer's neighbours in their own business.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::sync::{Arc, Mutex};

use bookwarden_app::{
    App, BookingRequest, Carrier, ClientInfo, Clock, Config, CustomerInput, Erasure, LoginRequest,
    Principal, SecretString, Signup,
};
use bookwarden_domain::id::CustomerId;
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
    let sam = app.create_staff(owner, "Sam Smith", None).await.unwrap();
    let day = DayHours::new(vec![
        DayRange::new(DayTime::new(0, 0).unwrap(), DayTime::new(23, 0).unwrap()).unwrap(),
    ])
    .unwrap();
    let mut weekly = WeeklyHours::closed();
    for weekday in [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
        Weekday::Sunday,
    ] {
        weekly = weekly.with(weekday, day.clone());
    }
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
    let service = app
        .create_service(
            owner,
            ServiceSpec {
                name: ServiceName::parse("Check-up").unwrap(),
                timing: Timing::new(TimingSpec {
                    duration_minutes: 60,
                    buffer_before_minutes: 0,
                    buffer_after_minutes: 0,
                    minimum_notice_minutes: 0,
                    horizon_days: 30,
                    slot_step_minutes: 60,
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
        .unwrap();
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
                    service: service.id(),
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
}
