//! Data residency (P12) through the API: with two regions configured,
//! businesses signed up in random regions and filled with random data
//! keep every row they own in their own region's database. Only the
//! directory (which region a slug or credential belongs to, no personal
//! data) lies in the directory region for every business.

use std::collections::{BTreeMap, BTreeSet};

use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config as Cases, TestRunner};
use serde_json::{Value, json};

use crate::booking::at_ten;
use crate::harness::{Options, PASSWORD, TestApp, engines, every_day, spawn_with};

/// Tables that map every business to its region: kept in the directory
/// region, never holding a name, email or anything a person typed.
const DIRECTORY: [(&str, &[&str]); 3] = [
    (
        "tenant_directory",
        &[
            "tenant_id",
            "slug",
            "region",
            "created_at_us",
            "erasing_since_us",
            "erased_at_us",
        ],
    ),
    ("credential_directory", &["digest", "tenant_id", "kind"]),
    (
        "tenant_erasures",
        &[
            "tenant_id",
            "via",
            "requested_at_us",
            "key_destroyed_at_us",
            "completed_at_us",
            "rows_deleted",
        ],
    ),
];

/// One business of a plan: its region, staff members and bookings.
#[derive(Clone, Debug)]
struct Business {
    region: usize,
    staff: usize,
    bookings: usize,
}

fn business() -> impl Strategy<Value = Business> {
    (0..2usize, 1..3usize, 0..3usize).prop_map(|(region, staff, bookings)| Business {
        region,
        staff,
        bookings,
    })
}

const REGIONS: [&str; 2] = ["local", "eu"];

async fn fill(app: &TestApp, plan: &Business, n: usize) -> String {
    let slug = format!(
        "res-{n}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let email = format!("owner@{slug}.example");
    let signed = app
        .post(
            "/v1/signup",
            None,
            json!({
                "tenant_name": format!("Residency {n}"),
                "slug": slug,
                "time_zone": "UTC",
                "region": REGIONS[plan.region],
                "email": email,
                "name": "Olive Owner",
                "password": PASSWORD,
            }),
        )
        .await;
    assert_eq!(signed.status(), 201);
    let tenant = signed.json::<Value>().await.unwrap()["tenant_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = app.token(&slug, &email, PASSWORD).await;
    let mut staff = Vec::new();
    for s in 0..plan.staff {
        let made: Value = app
            .post(
                "/v1/staff",
                Some(&token),
                json!({ "name": format!("Staff {s}") }),
            )
            .await
            .json()
            .await
            .unwrap();
        staff.push(made["id"].as_str().unwrap().to_owned());
    }
    let schedule = app
        .http
        .put(app.url(&format!("/v1/staff/{}/schedule", staff[0])))
        .bearer_auth(&token)
        .json(&json!({ "time_zone": "UTC", "weekly": every_day("09:00", "17:00") }))
        .send()
        .await
        .unwrap();
    assert_eq!(schedule.status(), 200);
    let service: Value = app
        .post(
            "/v1/services",
            Some(&token),
            json!({ "name": "Check-up", "duration_minutes": 30, "horizon_days": 60, "staff": [staff[0]] }),
        )
        .await
        .json()
        .await
        .unwrap();
    for b in 0..plan.bookings {
        let booked = app
            .http
            .post(app.url(&format!("/v1/public/{slug}/bookings")))
            .json(&json!({
                "service_id": service["id"],
                "start": at_ten(app, i64::try_from(b).unwrap() + 1).to_string(),
                "customer": { "email": format!("guest{b}@{slug}.example"), "name": format!("Guest {b}") },
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(booked.status(), 201, "{}", booked.text().await.unwrap());
    }
    tenant.replace('-', "")
}

/// Every business id found in each table of the database at `url`,
/// read below the store (the SQLite file, or PostgreSQL as its
/// superuser, whom row-level security does not bind).
async fn owners(url: &str) -> BTreeMap<String, BTreeSet<String>> {
    use sea_orm::{ConnectionTrait as _, Database, DbBackend, Statement};
    let conn = Database::connect(url).await.unwrap();
    let backend = conn.get_database_backend();
    let query = |sql: String| {
        let conn = &conn;
        async move {
            conn.query_all_raw(Statement::from_string(backend, sql))
                .await
                .unwrap()
                .iter()
                .map(|r| r.try_get_by_index::<String>(0).unwrap())
                .collect::<Vec<String>>()
        }
    };
    let postgres = backend == DbBackend::Postgres;
    let tables = query(if postgres {
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'"
            .to_owned()
    } else {
        "SELECT name FROM sqlite_master WHERE type = 'table'".to_owned()
    })
    .await;
    let mut found = BTreeMap::new();
    for table in tables {
        let columns = query(if postgres {
            format!(
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_schema = 'public' AND table_name = '{table}'"
            )
        } else {
            format!("SELECT name FROM pragma_table_info('{table}')")
        })
        .await;
        if !columns.iter().any(|c| c == "tenant_id") {
            continue;
        }
        if let Some((_, allowed)) = DIRECTORY.iter().find(|(name, _)| *name == table) {
            for column in &columns {
                assert!(
                    allowed.contains(&column.as_str()),
                    "{table}.{column} in the directory"
                );
            }
        }
        let ids: BTreeSet<String> = query(if postgres {
            format!("SELECT DISTINCT replace(tenant_id::text, '-', '') FROM \"{table}\"")
        } else {
            format!("SELECT DISTINCT lower(hex(tenant_id)) FROM \"{table}\"")
        })
        .await
        .into_iter()
        .collect();
        found.insert(table, ids);
    }
    conn.close().await.unwrap();
    found
}

#[test]
fn p12_with_two_regions_every_row_a_business_owns_lives_in_its_regions_database() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for engine in engines() {
        let app = runtime.block_on(spawn_with(Options {
            engine,
            regions: &REGIONS,
            // Every business here signs up from one address.
            configure: Arc::new(|file| file.signup_per_hour = Some(10_000)),
            ..Options::default()
        }));
        // An unknown region is refused, and creates nothing.
        let refused = runtime.block_on(app.post(
            "/v1/signup",
            None,
            json!({ "tenant_name": "Nowhere", "slug": "nowhere-co", "time_zone": "UTC",
                    "region": "mars", "email": "o@nowhere.example", "name": "Olive",
                    "password": PASSWORD }),
        ));
        assert_eq!(refused.status(), 422, "{engine:?}");
        let homes: std::cell::RefCell<BTreeMap<String, usize>> = std::cell::RefCell::default();
        let n = std::cell::Cell::new(0);
        // One business in each region whatever the plans draw.
        for region in 0..REGIONS.len() {
            n.set(n.get() + 1);
            let fixed = Business {
                region,
                staff: 2,
                bookings: 2,
            };
            let tenant = runtime.block_on(fill(&app, &fixed, n.get()));
            homes.borrow_mut().insert(tenant, region);
        }
        let mut runner = TestRunner::new(Cases {
            cases: 4,
            failure_persistence: None,
            ..Cases::default()
        });
        runner
            .run(&proptest::collection::vec(business(), 1..4), |plan| {
                for business in &plan {
                    n.set(n.get() + 1);
                    let tenant = runtime.block_on(fill(&app, business, n.get()));
                    homes.borrow_mut().insert(tenant, business.region);
                }
                Ok(())
            })
            .unwrap();
        let homes = homes.into_inner();
        for (index, url) in app.region_urls(&REGIONS).iter().enumerate() {
            let region = REGIONS[index];
            let found = runtime.block_on(owners(url));
            assert!(
                found.contains_key("bookings"),
                "{engine:?}: {region} scanned"
            );
            for (table, ids) in found {
                if DIRECTORY.iter().any(|(name, _)| *name == table) {
                    // Every database has the table; only the directory
                    // region's holds rows.
                    assert!(
                        index == 0 || ids.is_empty(),
                        "{engine:?}: {table} filled in {region}"
                    );
                    continue;
                }
                for id in ids {
                    assert_eq!(
                        homes.get(&id),
                        Some(&index),
                        "{engine:?}: {table} in region {region} holds a row of business {id}"
                    );
                }
            }
        }
        runtime.block_on(app.finish());
    }
}
