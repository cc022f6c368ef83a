//! Erasing a whole business (P10, P3): every row it owns goes and its data
//! key is destroyed, in committed steps that a process started after a
//! crash completes; no other business changes; a tombstone and the slug's
//! quarantine stay in the directory.

use std::collections::BTreeMap;

use bookwarden_crypto::vault::{MasterKey, MasterKeyRing, MasterKeyVersion};
use bookwarden_domain::audit::AuditKind;
use bookwarden_domain::id::TenantId;
use bookwarden_domain::jiff::SignedDuration;
use bookwarden_domain::tenant::{Region, Tenant, TenantName, TenantSlug};
use bookwarden_domain::time::TimeZone;
use bookwarden_persistence::{
    AuditEvent, CredentialKind, ERASED_TABLES, ErasureStep, ErasureVia, Store, StoreError, TABLES,
    Unique,
};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement, Value};

use crate::bookings::{Desk, booking, desk, try_book};
use crate::harness::{TestDb, engines, now};

fn ring() -> MasterKeyRing {
    let version = MasterKeyVersion::new(1).unwrap();
    MasterKeyRing::new(version, [MasterKey::generate(version).unwrap()]).unwrap()
}

/// A business with a data key, a staff member, a service, a customer,
/// three bookings, an audit entry and a registered token.
async fn seeded(store: &Store, ring: &MasterKeyRing) -> Desk {
    let d = desk(store, 1, 0, 0).await;
    let scope = store.write(d.tenant).await.unwrap();
    scope.create_data_key(ring, now()).await.unwrap();
    scope
        .audit(
            &AuditEvent {
                kind: AuditKind::LoginFailed,
                actor: None,
                subject: None,
                detail: BTreeMap::new(),
            },
            now(),
        )
        .await
        .unwrap();
    scope.commit().await.unwrap();
    for n in 0..3 {
        try_book(store, &d, &booking(&d, n * 60, 60, 1))
            .await
            .unwrap();
    }
    let digest = *uuid::Uuid::new_v4().as_bytes();
    let mut token = [0_u8; 32];
    token[..16].copy_from_slice(&digest);
    store
        .system()
        .register_credential(&token, d.tenant, CredentialKind::Session)
        .await
        .unwrap();
    d
}

/// `sql` with `$1` for the tenant, as the connection's dialect writes it.
fn count(backend: DbBackend, table: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("SELECT count(*) AS n FROM {table} WHERE tenant_id = $1"),
        _ => format!("SELECT count(*) AS n FROM {table} WHERE tenant_id = ?"),
    }
}

/// Rows of `tenant` in every table, counted as the owner (whom row-level
/// security does not hold back).
async fn rows_of(conn: &DatabaseConnection, tenant: TenantId) -> BTreeMap<&'static str, i64> {
    let backend = conn.get_database_backend();
    let mut rows = BTreeMap::new();
    // The one table of no tenant's: which key store the deployment uses.
    for table in TABLES.into_iter().filter(|t| *t != "key_store_binding") {
        let row = conn
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                count(backend, table),
                [Value::from(*tenant.as_uuid())],
            ))
            .await
            .unwrap()
            .unwrap();
        rows.insert(table, row.try_get::<i64>("", "n").unwrap());
    }
    rows
}

async fn keys_of(conn: &DatabaseConnection, tenant: TenantId) -> i64 {
    let backend = conn.get_database_backend();
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            count(backend, "tenant_keys"),
            [Value::from(*tenant.as_uuid())],
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

async fn erase(store: &Store, tenant: TenantId) -> Vec<ErasureStep> {
    let mut steps = Vec::new();
    loop {
        let step = store
            .system()
            .erase_tenant_step(tenant, ErasureVia::Operator, 2, now())
            .await
            .unwrap();
        steps.push(step);
        if matches!(step, ErasureStep::Done { .. }) {
            return steps;
        }
    }
}

fn slug_of(store_tenant: &Tenant) -> TenantSlug {
    store_tenant.slug().clone()
}

#[tokio::test]
async fn p10_erasing_a_business_deletes_every_row_destroys_its_key_and_keeps_a_tombstone() {
    // The erased tables, the directory's two, the chain head, the
    // business's row, and the tombstones and the key store binding (no
    // business's) are every table there is.
    let mut covered: Vec<&str> = ERASED_TABLES.to_vec();
    covered.extend([
        "tenant_directory",
        "credential_directory",
        "tenant_erasures",
        "audit_heads",
        "tenants",
        "key_store_binding",
    ]);
    covered.sort_unstable();
    let mut all = TABLES.to_vec();
    all.sort_unstable();
    assert_eq!(covered, all, "an erasure knows every table");

    for engine in engines().await {
        let db = TestDb::new(engine).await;
        let owner = Database::connect(&db.owner_url).await.unwrap();
        let keys = Database::connect(&db.key_owner_url).await.unwrap();
        let ring = ring();
        let gone = seeded(&db.store, &ring).await;
        let kept = seeded(&db.store, &ring).await;
        let gone_row = {
            let scope = db.store.read(gone.tenant).await.unwrap();
            let row = scope.tenant_row().await.unwrap().unwrap();
            scope.commit().await.unwrap();
            row
        };
        let before = rows_of(&owner, gone.tenant).await;
        let kept_before = rows_of(&owner, kept.tenant).await;
        assert!(
            before["bookings"] == 3 && before["audit_log"] > 0,
            "{before:?}"
        );
        assert_eq!(keys_of(&keys, gone.tenant).await, 1, "{engine:?}");
        assert_eq!(keys_of(&owner, gone.tenant).await, 0, "no key in the data");

        let steps = erase(&db.store, gone.tenant).await;
        assert_eq!(steps[0], ErasureStep::Marked, "{engine:?}");
        assert_eq!(steps[1], ErasureStep::KeyDestroyed, "{engine:?}");
        let deleted: u64 = steps
            .iter()
            .map(|step| match step {
                ErasureStep::Deleted(n) => *n,
                _ => 0,
            })
            .sum();
        assert!(steps.iter().all(|step| match step {
            ErasureStep::Deleted(n) => *n <= 2,
            _ => true,
        }));
        let expected: i64 = before
            .iter()
            .filter(|(table, _)| {
                !matches!(
                    **table,
                    "tenant_directory" | "credential_directory" | "tenant_erasures"
                )
            })
            .map(|(_, n)| n)
            .sum();
        let Some(ErasureStep::Done { rows }) = steps.last().copied() else {
            panic!("{steps:?}")
        };
        assert_eq!(
            rows,
            u64::try_from(expected).unwrap(),
            "{engine:?}: {steps:?}"
        );
        assert_eq!(
            deleted + 1,
            rows,
            "every row but the business's own in batches"
        );

        let after = rows_of(&owner, gone.tenant).await;
        for (table, n) in &after {
            let left = match *table {
                "tenant_directory" | "tenant_erasures" => 1,
                _ => 0,
            };
            assert_eq!(*n, left, "{engine:?}: {table} of the erased business");
        }
        assert_eq!(
            keys_of(&keys, gone.tenant).await,
            0,
            "{engine:?}: key destroyed"
        );
        let scope = db.store.read(gone.tenant).await.unwrap();
        assert!(matches!(
            scope.open_data_key(&ring).await,
            Err(StoreError::NoDataKey)
        ));
        scope.commit().await.unwrap();
        // The other business: every row as it was, its key still opens.
        assert_eq!(
            rows_of(&owner, kept.tenant).await,
            kept_before,
            "{engine:?}"
        );
        let scope = db.store.read(kept.tenant).await.unwrap();
        scope.open_data_key(&ring).await.unwrap();
        scope.commit().await.unwrap();

        let record = db
            .store
            .system()
            .erasure(gone.tenant)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.via, ErasureVia::Operator);
        assert!(record.key_destroyed_at.is_some() && record.completed_at.is_some());
        assert_eq!(record.rows_deleted, rows);
        // Done is done: a rerun changes nothing.
        assert_eq!(
            erase(&db.store, gone.tenant).await,
            vec![ErasureStep::Done { rows }]
        );
        assert!(
            db.store
                .system()
                .unfinished_erasures()
                .await
                .unwrap()
                .is_empty()
        );

        // The slug leads nowhere, and nobody takes it for 30 days.
        let slug = slug_of(&gone_row);
        assert_eq!(db.store.system().locate(&slug).await.unwrap(), None);
        assert_eq!(
            db.store.system().locate_any(&slug).await.unwrap(),
            Some(gone.tenant)
        );
        assert!(
            !db.store
                .system()
                .tenants()
                .await
                .unwrap()
                .iter()
                .any(|(t, _)| *t == gone.tenant)
        );
        let successor = Tenant::create(
            TenantName::parse("Successor").unwrap(),
            slug.clone(),
            Region::parse("local").unwrap(),
            TimeZone::parse("UTC").unwrap(),
        );
        let early = db
            .store
            .system()
            .create_tenant(
                &successor,
                now() + SignedDuration::from_hours(24 * TenantSlug::QUARANTINE_DAYS - 1),
            )
            .await;
        assert!(
            matches!(early, Err(StoreError::Duplicate(Unique::Slug))),
            "{engine:?}: {early:?}"
        );
        let later = now() + SignedDuration::from_hours(24 * TenantSlug::QUARANTINE_DAYS + 1);
        db.store
            .system()
            .create_tenant(&successor, later)
            .await
            .unwrap();
        assert_eq!(
            db.store.system().locate(&slug).await.unwrap(),
            Some(successor.id())
        );
        // The tombstone outlives the quarantine, and the application
        // cannot remove it.
        assert!(
            db.store
                .system()
                .erasure(gone.tenant)
                .await
                .unwrap()
                .is_some()
        );
        let app = db.raw_app().await;
        let removed = app.execute_unprepared("DELETE FROM tenant_erasures").await;
        assert!(removed.is_err(), "{engine:?}: a tombstone was deleted");
        app.close().await.unwrap();
        owner.close().await.unwrap();
        keys.close().await.unwrap();
        db.finish().await;
    }
}

#[tokio::test]
async fn p10_a_business_under_legal_hold_is_not_erased() {
    for engine in engines().await {
        let db = TestDb::new(engine).await;
        let ring = ring();
        let held = seeded(&db.store, &ring).await;
        let scope = db.store.write(held.tenant).await.unwrap();
        assert!(scope.set_legal_hold(true).await.unwrap());
        scope.commit().await.unwrap();
        let refused = db
            .store
            .system()
            .erase_tenant_step(held.tenant, ErasureVia::Api, 100, now())
            .await;
        assert!(
            matches!(refused, Err(StoreError::LegalHold)),
            "{engine:?}: {refused:?}"
        );
        assert_eq!(db.store.system().erasure(held.tenant).await.unwrap(), None);
        let scope = db.store.read(held.tenant).await.unwrap();
        scope.open_data_key(&ring).await.unwrap();
        assert_eq!(
            scope
                .bookings()
                .of_customer(held.customer)
                .await
                .unwrap()
                .len(),
            3
        );
        scope.commit().await.unwrap();
        db.finish().await;
    }
}

#[tokio::test]
async fn p10_an_erasure_stopped_after_any_step_is_completed_by_the_next_process() {
    for engine in engines().await {
        let mut db = TestDb::new(engine).await;
        let owner = Database::connect(&db.owner_url).await.unwrap();
        let ring = ring();
        let kept = seeded(&db.store, &ring).await;
        let kept_before = rows_of(&owner, kept.tenant).await;
        // How many steps a whole erasure takes here.
        let sample = seeded(&db.store, &ring).await;
        let total = erase(&db.store, sample.tenant).await.len();
        assert!(total > 4, "{total}");
        for stop_after in 1..total {
            let victim = seeded(&db.store, &ring).await;
            for _ in 0..stop_after {
                db.store
                    .system()
                    .erase_tenant_step(victim.tenant, ErasureVia::Api, 2, now())
                    .await
                    .unwrap();
            }
            if stop_after == 1 {
                // The mark and the tombstone hold even against the owner.
                for sql in [
                    "UPDATE tenants SET erasing_since_us = NULL",
                    "UPDATE tenant_erasures SET requested_at_us = requested_at_us + 1",
                    "UPDATE tenant_erasures SET rows_deleted = -1",
                ] {
                    assert!(
                        owner.execute_unprepared(sql).await.is_err(),
                        "{engine:?}: {sql}"
                    );
                }
            }
            // The process ends between two steps; another starts.
            db.reopen().await;
            assert_eq!(
                db.store.system().unfinished_erasures().await.unwrap(),
                vec![victim.tenant],
                "{engine:?}: stopped after {stop_after}"
            );
            let steps = erase(&db.store, victim.tenant).await;
            assert!(matches!(steps.last(), Some(ErasureStep::Done { .. })));
            for (table, n) in rows_of(&owner, victim.tenant).await {
                let left = match table {
                    "tenant_directory" | "tenant_erasures" => 1,
                    _ => 0,
                };
                assert_eq!(
                    n, left,
                    "{engine:?}: {table} after stopping at {stop_after}"
                );
            }
            let record = db
                .store
                .system()
                .erasure(victim.tenant)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                record.via,
                ErasureVia::Api,
                "the first call's requester stays"
            );
        }
        assert_eq!(
            rows_of(&owner, kept.tenant).await,
            kept_before,
            "{engine:?}"
        );
        owner.close().await.unwrap();
        db.finish().await;
    }
}

#[tokio::test]
async fn p3_data_keys_kept_in_a_data_database_move_to_the_key_store() {
    for engine in engines().await {
        let db = TestDb::new(engine).await;
        let (data, key_store) = db.app_urls();
        let ring = ring();
        let owner = Database::connect(&db.owner_url).await.unwrap();
        // A deployment from before the key store: no key store on record,
        // and a store that keeps the key with the data.
        owner
            .execute_unprepared("DELETE FROM key_store_binding")
            .await
            .unwrap();
        let before = crate::harness::open(&data, None, 2).await;
        let t = crate::harness::tenant(&before).await.id();
        let scope = before.write(t).await.unwrap();
        let key = scope.create_data_key(&ring, now()).await.unwrap();
        scope.commit().await.unwrap();
        before.close().await.unwrap();
        let keys = Database::connect(&db.key_owner_url).await.unwrap();
        assert_eq!((keys_of(&owner, t).await, keys_of(&keys, t).await), (1, 0));

        let after = crate::harness::open(&data, Some(&key_store), 2).await;
        // Still readable before the move...
        let scope = after.read(t).await.unwrap();
        let opened = scope.open_data_key(&ring).await.unwrap();
        scope.commit().await.unwrap();
        let sealed = bookwarden_crypto::vault::seal(
            &key,
            &bookwarden_crypto::vault::Purpose::WEBHOOK_SECRET,
            b"r",
            b"s",
        )
        .unwrap();
        assert!(
            bookwarden_crypto::vault::open(
                &opened,
                &bookwarden_crypto::vault::Purpose::WEBHOOK_SECRET,
                b"r",
                &sealed
            )
            .is_ok()
        );
        // ...and after it, from the key store alone.
        assert_eq!(after.system().move_keys_to_key_store().await.unwrap(), 1);
        assert_eq!(after.system().move_keys_to_key_store().await.unwrap(), 0);
        assert_eq!((keys_of(&owner, t).await, keys_of(&keys, t).await), (0, 1));
        let scope = after.read(t).await.unwrap();
        let opened = scope.open_data_key(&ring).await.unwrap();
        scope.commit().await.unwrap();
        assert!(
            bookwarden_crypto::vault::open(
                &opened,
                &bookwarden_crypto::vault::Purpose::WEBHOOK_SECRET,
                b"r",
                &sealed
            )
            .is_ok()
        );
        after.close().await.unwrap();
        owner.close().await.unwrap();
        keys.close().await.unwrap();
        db.finish().await;
    }
}

#[tokio::test]
async fn p3_a_store_refuses_to_open_without_its_key_store_or_with_another() {
    use bookwarden_persistence::{PgPlacement, RegionDatabase, StoreConfig, migrate_key_store};

    for engine in engines().await {
        let db = TestDb::new(engine).await;
        let (data, keys) = db.app_urls();
        let config = |key_store: Option<String>| StoreConfig {
            regions: vec![RegionDatabase {
                region: Region::parse("local").unwrap(),
                url: data.clone(),
            }],
            directory: Region::parse("local").unwrap(),
            max_connections: 2,
            placement: PgPlacement::default(),
            key_store,
        };
        let without = Store::open(config(None)).await;
        assert!(
            matches!(&without, Err(StoreError::Config(reason)) if reason.contains("key_store")),
            "{engine:?}: {:?}",
            without.err()
        );
        if engine == crate::harness::Engine::Sqlite {
            // A new, empty key store (a wrong path) is not this one.
            let folder = std::env::temp_dir().join(crate::harness::random_name("bookwarden-keys"));
            std::fs::create_dir_all(&folder).unwrap();
            let other = format!("sqlite://{}", folder.join("keys.db").display());
            migrate_key_store(&other, &PgPlacement::default())
                .await
                .unwrap();
            let another = Store::open(config(Some(other))).await;
            assert!(
                matches!(&another, Err(StoreError::Config(reason)) if reason.contains("not the one")),
                "{:?}",
                another.err()
            );
            let _ = std::fs::remove_dir_all(folder);
        }
        // Its own opens.
        Store::open(config(Some(keys)))
            .await
            .unwrap()
            .close()
            .await
            .unwrap();
        db.finish().await;
    }
}
