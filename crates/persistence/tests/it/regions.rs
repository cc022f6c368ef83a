//! Data residency (P12) and pooled connections (P1).

use std::sync::Arc;

use bookwarden_domain::account::{PersonName, StaffMember};
use bookwarden_domain::tenant::{Region, Tenant, TenantName, TenantSlug};
use bookwarden_domain::time::TimeZone;
use bookwarden_persistence::{RegionDatabase, Store, StoreConfig, migrate};

use crate::harness::{TestDb, customer, engines, now, random_name, staff_member, tenant};

fn file_bytes(folder: &std::path::Path, prefix: &str) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(prefix)
        {
            all.extend(std::fs::read(&path).unwrap());
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Two regions, two SQLite files: each tenant's canary strings are written
/// only to its own region's file.
#[tokio::test]
async fn p12_a_tenants_rows_live_only_in_its_regions_database() {
    let folder = std::env::temp_dir().join(random_name("bookwarden-regions"));
    std::fs::create_dir_all(&folder).unwrap();
    let url = |name: &str| format!("sqlite://{}", folder.join(name).display());
    let (eu, us) = (
        Region::parse("eu-central").unwrap(),
        Region::parse("us-east").unwrap(),
    );
    migrate(&url("eu.db")).await.unwrap();
    migrate(&url("us.db")).await.unwrap();
    let store = Store::open(StoreConfig {
        regions: vec![
            RegionDatabase {
                region: eu.clone(),
                url: url("eu.db"),
            },
            RegionDatabase {
                region: us.clone(),
                url: url("us.db"),
            },
        ],
        directory: eu.clone(),
        max_connections: 4,
        placement: Default::default(),
        key_store: None,
    })
    .await
    .unwrap();
    let mut canaries = Vec::new();
    for region in [&eu, &us] {
        let canary = format!("canary{}", uuid::Uuid::new_v4().simple());
        let slug = format!("t-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let t = Tenant::create(
            TenantName::parse(&format!("Clinic {canary}")).unwrap(),
            TenantSlug::parse(&slug).unwrap(),
            region.clone(),
            TimeZone::parse("UTC").unwrap(),
        );
        store.system().create_tenant(&t, now()).await.unwrap();
        let scope = store.write(t.id()).await.unwrap();
        scope
            .customers()
            .insert(&customer(t.id(), &format!("{canary}@example.com")), now())
            .await
            .unwrap();
        scope
            .staff()
            .insert(&staff_member(t.id(), &format!("Staff {canary}")))
            .await
            .unwrap();
        scope.commit().await.unwrap();
        // Routed back to the right database on read.
        let scope = store.read(t.id()).await.unwrap();
        assert_eq!(scope.customers().list().await.unwrap().len(), 1);
        scope.rollback().await.unwrap();
        canaries.push(canary);
    }
    store.close().await.unwrap();
    let (eu_bytes, us_bytes) = (file_bytes(&folder, "eu.db"), file_bytes(&folder, "us.db"));
    assert!(
        contains(&eu_bytes, &canaries[0]) && !contains(&us_bytes, &canaries[0]),
        "EU tenant left its region"
    );
    assert!(
        contains(&us_bytes, &canaries[1]) && !contains(&eu_bytes, &canaries[1]),
        "US tenant left its region"
    );
    let _ = std::fs::remove_dir_all(folder);
}

/// 64 tasks share a pool of two connections, alternating three tenants,
/// 10,000 operations in all: no scope ever sees another tenant's row, so
/// no connection carries a tenant over to the next transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn p1_a_pool_of_two_connections_never_carries_a_tenant_over() {
    for engine in engines().await {
        let db = TestDb::with_pool(engine, 2).await;
        let store = Arc::new(db.store);
        let mut tenants = Vec::new();
        for _ in 0..3 {
            let t = tenant(&store).await.id();
            let scope = store.write(t).await.unwrap();
            for n in 0..3 {
                scope
                    .staff()
                    .insert(&staff_member(t, &format!("Member {n}")))
                    .await
                    .unwrap();
            }
            scope.commit().await.unwrap();
            tenants.push(t);
        }
        let tenants = Arc::new(tenants);
        let mut tasks = Vec::new();
        for task in 0..64_usize {
            let (store, tenants) = (store.clone(), tenants.clone());
            tasks.push(tokio::spawn(async move {
                let mut foreign = 0;
                for i in 0..157_usize {
                    let t = tenants[(task + i) % 3];
                    if i % 10 == 0 {
                        let scope = store.write(t).await.unwrap();
                        let first: StaffMember = scope.staff().list().await.unwrap().remove(0);
                        let name = PersonName::parse(&format!("Member {task}-{i}")).unwrap();
                        assert!(scope.staff().rename(first.id(), &name).await.unwrap());
                        scope.commit().await.unwrap();
                    } else {
                        let scope = store.read(t).await.unwrap();
                        let staff = scope.staff().list().await.unwrap();
                        scope.rollback().await.unwrap();
                        assert_eq!(staff.len(), 3);
                        foreign += staff.iter().filter(|s| s.tenant() != t).count();
                    }
                }
                foreign
            }));
        }
        let mut foreign = 0;
        for task in tasks {
            foreign += task.await.unwrap();
        }
        assert_eq!(foreign, 0, "{engine:?}: foreign rows seen");
        let store = Arc::into_inner(store).unwrap();
        TestDb { store, ..db }.finish().await;
    }
}

/// The system handle lists every tenant with its region, for work done
/// tenant by tenant (key rotation, backups).
#[tokio::test]
async fn p12_the_system_handle_lists_every_tenant_with_its_region() {
    for engine in engines().await {
        let db = TestDb::new(engine).await;
        let a = tenant(&db.store).await;
        let b = tenant(&db.store).await;
        let listed = db.store.system().tenants().await.unwrap();
        let mut expect = vec![(a.id(), a.region().clone()), (b.id(), b.region().clone())];
        expect.sort();
        assert_eq!(listed, expect, "{engine:?}");
        let found = db.store.system().locate(a.slug()).await.unwrap();
        assert_eq!(found, Some(a.id()));
        db.finish().await;
    }
}
