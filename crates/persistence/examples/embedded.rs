//! Embedding Bookwarden's core in a service of your own, without the `app`
//! or `http-api` crates: the domain's types and slot engine, the
//! tenant-sealed store on an SQLite file, and the vault.
//!
//! It creates two businesses, gives one a staff member with hours and a
//! service, lists the first free slots with the slot engine, books one
//! through the tenant-bound booking path, seals a webhook secret under the
//! business's own data key, and shows that the other business sees none of
//! it. Run it with `cargo run -p bookwarden-persistence --example embedded`;
//! CI runs it too.
//!
//! The store needs a Tokio runtime (any flavour; it spawns nothing of its
//! own). PostgreSQL works the same way with a `postgres://` URL, migrated
//! by the schema owner (see docs/OPERATIONS.md).

#![allow(
    clippy::print_stdout,
    reason = "an example shows what it did on the terminal"
)]

use std::collections::BTreeMap;
use std::error::Error;

use bookwarden_crypto::vault::{self, MasterKey, MasterKeyRing, MasterKeyVersion, Purpose};
use bookwarden_domain::account::{Customer, Email, PersonName, StaffMember};
use bookwarden_domain::booking::{Booking, NewBooking};
use bookwarden_domain::id::{ScheduleId, ServiceId};
use bookwarden_domain::intake::{IntakeAnswers, IntakeForm};
use bookwarden_domain::jiff::civil::Weekday;
use bookwarden_domain::jiff::{SignedDuration, Timestamp};
use bookwarden_domain::schedule::{
    DayHours, DayRange, DayTime, Schedule, ScheduleSpec, WeeklyHours,
};
use bookwarden_domain::service::{Capacity, Service, ServiceName, ServiceSpec, Timing, TimingSpec};
use bookwarden_domain::slots::{SlotQuery, available_slots};
use bookwarden_domain::tenant::{Region, Tenant, TenantName, TenantSlug};
use bookwarden_domain::time::{TimeRange, TimeZone, Window};
use bookwarden_persistence::{RegionDatabase, Store, StoreConfig, migrate};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let folder = std::env::temp_dir().join(format!("bookwarden-example-{}", std::process::id()));
    std::fs::create_dir_all(&folder)?;
    let url = format!("sqlite://{}?mode=rwc", folder.join("example.db").display());

    // The schema, then a store over one region.
    migrate(&url).await?;
    let region = Region::parse("local")?;
    let store = Store::open(StoreConfig {
        regions: vec![RegionDatabase {
            region: region.clone(),
            url,
        }],
        directory: region.clone(),
        max_connections: 4,
        placement: Default::default(),
        key_store: None,
    })
    .await?;

    // Master keys live in your configuration, never in the database.
    let version = MasterKeyVersion::new(1)?;
    let keys = MasterKeyRing::new(version, [MasterKey::generate(version)?])?;

    let now = Timestamp::now();
    let berlin = TimeZone::parse("Europe/Berlin")?;
    let harbour = business(&store, &keys, "Harbour Physio", "harbour", &region, now).await?;
    let quay = business(&store, &keys, "Quay Dental", "quay", &region, now).await?;

    // Harbour's catalog, written through a scope bound to Harbour alone.
    let sam = StaffMember::create(harbour.id(), PersonName::parse("Sam")?, None);
    let nine_to_five = DayHours::new(vec![DayRange::new(
        DayTime::new(9, 0)?,
        DayTime::new(17, 0)?,
    )?])?;
    let mut weekly = WeeklyHours::closed();
    for day in [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
    ] {
        weekly = weekly.with(day, nine_to_five.clone());
    }
    let schedule = Schedule::new(
        ScheduleId::random(),
        harbour.id(),
        sam.id(),
        ScheduleSpec {
            zone: berlin.clone(),
            weekly,
            overrides: BTreeMap::new(),
            time_off: Vec::new(),
        },
    )?;
    let check_up = Service::new(
        ServiceId::random(),
        harbour.id(),
        ServiceSpec {
            name: ServiceName::parse("Check-up")?,
            timing: Timing::new(TimingSpec {
                duration_minutes: 30,
                buffer_before_minutes: 0,
                buffer_after_minutes: 10,
                minimum_notice_minutes: 60,
                horizon_days: 60,
                slot_step_minutes: 30,
            })?,
            capacity: Capacity::new(1)?,
            staff: vec![sam.id()],
            price: None,
            intake: IntakeForm::default(),
            public: true,
        },
    )?;
    let casey = Customer::create(
        harbour.id(),
        Email::parse("casey@example.com")?,
        PersonName::parse("Casey")?,
        None,
    );
    let scope = store.write(harbour.id()).await?;
    scope.staff().insert(&sam).await?;
    scope.schedules().put(&schedule).await?;
    scope.services().insert(&check_up).await?;
    scope.customers().insert(&casey, now).await?;
    scope.commit().await?;

    // The slot engine is pure: hand it the rules and the busy time.
    let window = TimeRange::new(now, now.checked_add(SignedDuration::from_hours(24 * 7))?)?;
    let slots = available_slots(&SlotQuery {
        service: &check_up,
        schedules: std::slice::from_ref(&schedule),
        bookings: &[],
        busy: &[],
        window: Window::new(window)?,
        staff: None,
        customer_zone: &berlin,
        now,
    });
    let first = slots.first().ok_or("no free slot in the coming week")?;
    println!(
        "{} free slots this week; the first starts {}",
        slots.len(),
        first.start()
    );

    // Booking through Harbour's booking path: one statement, and the
    // database refuses any overlap with another booking of Sam's.
    let booking = Booking::request(
        NewBooking {
            tenant: harbour.id(),
            service: check_up.id(),
            staff: sam.id(),
            customer: casey.id(),
            range: TimeRange::new(first.start(), first.end())?,
            seats: 1,
            answers: IntakeAnswers::default(),
        },
        now,
    )?;
    store
        .booker(harbour.id())
        .book(&booking, &check_up, None, None)
        .await?;
    let again = store
        .booker(harbour.id())
        .book(&booking, &check_up, None, None)
        .await;
    println!(
        "booked {}; the same time again: {:?}",
        booking.id(),
        again.err()
    );

    // A secret sealed under Harbour's data key, bound to its purpose and
    // record: it opens only for Harbour, only as a webhook secret.
    let scope = store.read(harbour.id()).await?;
    let data_key = scope.open_data_key(&keys).await?;
    scope.commit().await?;
    let sealed = vault::seal(
        &data_key,
        &Purpose::WEBHOOK_SECRET,
        b"hook-1",
        b"whsec_example",
    )?;
    let opened = vault::open(&data_key, &Purpose::WEBHOOK_SECRET, b"hook-1", &sealed)?;
    println!(
        "sealed a webhook secret ({} bytes) and opened it again: {}",
        sealed.len(),
        opened.expose_secret() == b"whsec_example"
    );

    // Quay sees nothing of Harbour's: not its booking, staff or services,
    // and Quay's key does not open Harbour's secret.
    let scope = store.read(quay.id()).await?;
    let seen = (
        scope.bookings().get(booking.id()).await?.is_some(),
        scope.staff().list().await?.len(),
        scope.services().list().await?.len(),
    );
    let quay_key = scope.open_data_key(&keys).await?;
    scope.commit().await?;
    let foreign = vault::open(&quay_key, &Purpose::WEBHOOK_SECRET, b"hook-1", &sealed);
    println!(
        "Quay sees Harbour's booking: {}, staff: {}, services: {}; opens its secret: {}",
        seen.0,
        seen.1,
        seen.2,
        foreign.is_ok()
    );
    if seen != (false, 0, 0) || foreign.is_ok() {
        return Err("one business saw another's data".into());
    }

    store.close().await?;
    std::fs::remove_dir_all(&folder)?;
    Ok(())
}

/// Registers a business in the directory and gives it its own data key.
async fn business(
    store: &Store,
    keys: &MasterKeyRing,
    name: &str,
    slug: &str,
    region: &Region,
    now: Timestamp,
) -> Result<Tenant, Box<dyn Error>> {
    let tenant = Tenant::create(
        TenantName::parse(name)?,
        TenantSlug::parse(slug)?,
        region.clone(),
        TimeZone::parse("Europe/Berlin")?,
    );
    store.system().create_tenant(&tenant, now).await?;
    let scope = store.write(tenant.id()).await?;
    scope.create_data_key(keys, now).await?;
    scope.commit().await?;
    Ok(tenant)
}
