//! The audit chain (P9): every tampering is detected; the application role
//! cannot rewrite history; concurrent appends never fork the chain.

use std::collections::BTreeMap;
use std::sync::Arc;

use bookwarden_crypto::vault::{
    MasterKey, MasterKeyRing, MasterKeyVersion, TenantDataKey, TenantRef,
};
use bookwarden_domain::audit::{AuditKind, Severity};
use bookwarden_domain::id::TenantId;
use bookwarden_domain::jiff::{SignedDuration, Timestamp};
use bookwarden_persistence::{
    AuditEvent, AuditFilter, ChainBreak, ChainStatus, Purged, Store, StoreError,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, Value};

use crate::harness::{Engine, TestDb, engines, now, tenant};

fn event(n: usize) -> AuditEvent {
    AuditEvent {
        kind: AuditKind::LoginFailed,
        actor: Some(format!("user-{n}")),
        subject: None,
        detail: BTreeMap::from([("client".to_owned(), format!("10.0.0.{n}"))]),
    }
}

async fn chain_of(store: &Store, entries: usize) -> TenantId {
    let t = tenant(store).await.id();
    for n in 0..entries {
        let scope = store.write(t).await.unwrap();
        scope.audit(&event(n), now()).await.unwrap();
        scope.commit().await.unwrap();
    }
    t
}

/// A data key for tenant `t` (the store's own would do as well: only a
/// purge's checkpoint depends on it).
fn key_for(t: TenantId) -> TenantDataKey {
    let version = MasterKeyVersion::new(1).unwrap();
    let ring = MasterKeyRing::new(version, [MasterKey::generate(version).unwrap()]).unwrap();
    ring.new_data_key(TenantRef::from_bytes(*t.as_bytes()))
        .unwrap()
        .0
}

async fn verify_with(store: &Store, t: TenantId, key: &TenantDataKey) -> ChainStatus {
    let scope = store.read(t).await.unwrap();
    let status = scope.verify_audit_chain(key).await.unwrap();
    scope.rollback().await.unwrap();
    status
}

async fn verify(store: &Store, t: TenantId) -> ChainStatus {
    verify_with(store, t, &key_for(t)).await
}

/// Runs `sql` (with `$n` placeholders) as the schema owner, who is not
/// subject to row-level security: the position of an attacker with full
/// database access.
async fn as_owner(conn: &DatabaseConnection, sql: &str, values: Vec<Value>) {
    let backend = conn.get_database_backend();
    let sql = match backend {
        DbBackend::Sqlite => (1..=9)
            .rev()
            .fold(sql.to_owned(), |s, n| s.replace(&format!("${n}"), "?")),
        _ => sql.to_owned(),
    };
    conn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
        .unwrap();
}

/// Replaces entry `seq` with the same row but `detail` changed, keeping its
/// stored hashes (an UPDATE is refused by a trigger, so delete and insert).
async fn rewrite_detail(conn: &DatabaseConnection, t: TenantId, seq: i64, detail: &str) {
    let id = Value::from(*t.as_uuid());
    as_owner(
        conn,
        "CREATE TABLE scratch AS SELECT * FROM audit_log WHERE tenant_id = $1 AND seq = $2",
        vec![id.clone(), seq.into()],
    )
    .await;
    as_owner(
        conn,
        "DELETE FROM audit_log WHERE tenant_id = $1 AND seq = $2",
        vec![id.clone(), seq.into()],
    )
    .await;
    as_owner(conn, "UPDATE scratch SET detail = $1", vec![detail.into()]).await;
    as_owner(conn, "INSERT INTO audit_log SELECT * FROM scratch", vec![]).await;
    as_owner(conn, "DROP TABLE scratch", vec![]).await;
}

#[tokio::test]
async fn p9_audit_chain_detects_flip_delete_swap_and_truncate() {
    for engine in engines().await {
        let db = TestDb::new(engine).await;
        let store = &db.store;
        let owner = sea_orm::Database::connect(&db.owner_url).await.unwrap();

        let intact = chain_of(store, 6).await;
        assert_eq!(
            verify(store, intact).await,
            ChainStatus::Intact { entries: 6 },
            "{engine:?}"
        );

        // Flip: one character of entry 3's detail.
        let flipped = chain_of(store, 6).await;
        rewrite_detail(&owner, flipped, 3, r#"{"client":"10.0.0.9"}"#).await;
        assert_eq!(
            verify(store, flipped).await,
            ChainStatus::Broken {
                seq: 3,
                reason: ChainBreak::Edited
            },
            "{engine:?} flip"
        );

        // Delete: entry 3 removed.
        let deleted = chain_of(store, 6).await;
        as_owner(
            &owner,
            "DELETE FROM audit_log WHERE tenant_id = $1 AND seq = 3",
            vec![(*deleted.as_uuid()).into()],
        )
        .await;
        assert_eq!(
            verify(store, deleted).await,
            ChainStatus::Broken {
                seq: 4,
                reason: ChainBreak::Gap
            },
            "{engine:?} delete"
        );

        // Swap: entries 2 and 3 exchange their contents.
        let swapped = chain_of(store, 6).await;
        let scope = store.read(swapped).await.unwrap();
        let entries = scope
            .audit_entries(&AuditFilter::default(), 0, 10)
            .await
            .unwrap();
        scope.rollback().await.unwrap();
        rewrite_detail(&owner, swapped, 2, &entries[2].detail).await;
        rewrite_detail(&owner, swapped, 3, &entries[1].detail).await;
        assert_eq!(
            verify(store, swapped).await,
            ChainStatus::Broken {
                seq: 2,
                reason: ChainBreak::Edited
            },
            "{engine:?} swap"
        );

        // Truncate: the two newest entries removed.
        let truncated = chain_of(store, 6).await;
        as_owner(
            &owner,
            "DELETE FROM audit_log WHERE tenant_id = $1 AND seq > 4",
            vec![(*truncated.as_uuid()).into()],
        )
        .await;
        assert_eq!(
            verify(store, truncated).await,
            ChainStatus::Broken {
                seq: 4,
                reason: ChainBreak::Truncated
            },
            "{engine:?} truncate"
        );

        // The untouched chain is still intact.
        assert_eq!(
            verify(store, intact).await,
            ChainStatus::Intact { entries: 6 }
        );
        owner.close().await.unwrap();
        db.finish().await;
    }
}

#[tokio::test]
async fn p9_the_application_cannot_rewrite_audit_entries() {
    for engine in engines().await {
        let db = TestDb::new(engine).await;
        let t = chain_of(&db.store, 2).await;
        let app = db.raw_app().await;
        let backend = app.get_database_backend();
        let set = match engine {
            Engine::Postgres => format!("SELECT set_config('app.tenant_id', '{t}', false);"),
            Engine::Sqlite => String::new(),
        };
        let update = app
            .execute_unprepared(&format!("{set} UPDATE audit_log SET detail = '{{}}'"))
            .await
            .unwrap_err();
        let text = format!("{update:?}").to_lowercase();
        assert!(
            text.contains("permission denied") || text.contains("bookwarden_audit_append_only"),
            "{engine:?}: {text}"
        );
        if backend == DbBackend::Postgres {
            // Nor move the anchor, which would hide everything before it.
            let anchor = app
                .execute_unprepared(&format!("{set} UPDATE audit_heads SET anchor_seq = seq"))
                .await
                .unwrap_err();
            assert!(
                format!("{anchor:?}")
                    .to_lowercase()
                    .contains("permission denied"),
                "{anchor:?}"
            );
            let delete = app
                .execute_unprepared(&format!("{set} DELETE FROM audit_log"))
                .await
                .unwrap_err();
            assert!(
                format!("{delete:?}")
                    .to_lowercase()
                    .contains("permission denied"),
                "{delete:?}"
            );
        }
        app.close().await.unwrap();
        assert_eq!(
            verify(&db.store, t).await,
            ChainStatus::Intact { entries: 2 }
        );
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn p9_concurrent_appends_keep_one_unbroken_chain() {
    for engine in engines().await {
        let db = TestDb::with_pool(engine, 8).await;
        let store = Arc::new(db.store);
        let t = tenant(&store).await.id();
        let mut tasks = Vec::new();
        for n in 0..32 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let scope = store.write(t).await.unwrap();
                let seq = scope.audit(&event(n), now()).await.unwrap();
                scope.commit().await.unwrap();
                seq
            }));
        }
        let mut seqs = Vec::new();
        for task in tasks {
            seqs.push(task.await.unwrap());
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=32).collect::<Vec<i64>>(), "{engine:?}");
        assert_eq!(verify(&store, t).await, ChainStatus::Intact { entries: 32 });
        let store = Arc::into_inner(store).unwrap();
        TestDb { store, ..db }.finish().await;
    }
}

/// Appends `kind` at `at` to `t`'s chain.
async fn append(store: &Store, t: TenantId, kind: AuditKind, at: Timestamp) {
    let scope = store.write(t).await.unwrap();
    let event = AuditEvent { kind, ..event(0) };
    scope.audit(&event, at).await.unwrap();
    scope.commit().await.unwrap();
}

async fn try_purge(
    store: &Store,
    t: TenantId,
    key: &TenantDataKey,
    at: Timestamp,
) -> Result<Purged, StoreError> {
    let scope = store.write(t).await.unwrap();
    let purged = scope.purge_audit(key, at).await;
    match purged {
        Ok(_) => scope.commit().await.unwrap(),
        Err(_) => scope.rollback().await.unwrap(),
    }
    purged
}

async fn purge(store: &Store, t: TenantId, key: &TenantDataKey, at: Timestamp) -> Purged {
    try_purge(store, t, key, at).await.unwrap()
}

#[tokio::test]
async fn p9_a_purge_removes_only_expired_entries_and_what_remains_still_verifies() {
    for engine in engines().await {
        let db = TestDb::new(engine).await;
        let store = &db.store;
        let t = tenant(store).await.id();
        let key = key_for(t);
        let today = Timestamp::now();
        let days_ago = |days: i64| today - SignedDuration::from_hours(24 * days);
        // Kept 30, 90, 30, 180, 30 and 30 days: the first three have
        // expired; the role change has not, and holds back the sign-in
        // behind it.
        for (kind, age) in [
            (AuditKind::LoginSucceeded, 40),
            (AuditKind::LoginFailed, 100),
            (AuditKind::Logout, 35),
            (AuditKind::RoleChanged, 100),
            (AuditKind::LoginSucceeded, 40),
            (AuditKind::LoginSucceeded, 0),
        ] {
            append(store, t, kind, days_ago(age)).await;
        }
        let purged = purge(store, t, &key, today).await;
        assert_eq!(
            purged,
            Purged {
                removed: 3,
                through: Some(3)
            },
            "{engine:?}"
        );
        assert_eq!(
            verify_with(store, t, &key).await,
            ChainStatus::Intact { entries: 3 }
        );
        assert_eq!(purge(store, t, &key, today).await.removed, 0);
        let scope = store.read(t).await.unwrap();
        let left = scope
            .audit_entries(&AuditFilter::default(), 0, 10)
            .await
            .unwrap();
        scope.rollback().await.unwrap();
        assert_eq!(left.iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 5, 6]);
        // Another key cannot vouch for the checkpoint.
        assert_eq!(
            verify_with(store, t, &key_for(t)).await,
            ChainStatus::Broken {
                seq: 3,
                reason: ChainBreak::AnchorForged
            }
        );
        // Someone with the database removes the unexpired role change: with
        // the anchor left alone, a gap ...
        let owner = sea_orm::Database::connect(&db.owner_url).await.unwrap();
        let id = Value::from(*t.as_uuid());
        as_owner(
            &owner,
            "DELETE FROM audit_log WHERE tenant_id = $1 AND seq = 4",
            vec![id.clone()],
        )
        .await;
        assert_eq!(
            verify_with(store, t, &key).await,
            ChainStatus::Broken {
                seq: 5,
                reason: ChainBreak::Gap
            }
        );
        // A purge does not vouch for it, even once entry 5 has expired.
        let later = today + SignedDuration::from_hours(24 * 365);
        assert!(try_purge(store, t, &key, later).await.is_err());
        // ... and with the anchor moved over it, a checkpoint the tenant's
        // key does not vouch for.
        as_owner(
            &owner,
            "UPDATE audit_heads SET anchor_seq = 4, anchor_hash = \
             (SELECT prev_hash FROM audit_log WHERE tenant_id = $1 AND seq = 5) WHERE tenant_id = $2",
            vec![id.clone(), id],
        )
        .await;
        assert_eq!(
            verify_with(store, t, &key).await,
            ChainStatus::Broken {
                seq: 4,
                reason: ChainBreak::AnchorForged
            }
        );
        // Nor does it launder the forged checkpoint into one that verifies.
        assert!(try_purge(store, t, &key, later).await.is_err());
        assert_eq!(
            verify_with(store, t, &key).await,
            ChainStatus::Broken {
                seq: 4,
                reason: ChainBreak::AnchorForged
            }
        );
        owner.close().await.unwrap();
        db.finish().await;
    }
}

#[tokio::test]
async fn p9_the_application_role_cannot_purge_what_has_not_expired() {
    for engine in engines().await {
        if engine != Engine::Postgres {
            // SQLite has no roles: whoever holds the file holds everything,
            // and the checkpoint's keyed digest is what catches a forgery.
            continue;
        }
        let db = TestDb::new(engine).await;
        let store = &db.store;
        let (t, other) = (tenant(store).await.id(), tenant(store).await.id());
        let today = Timestamp::now();
        let days_ago = |days: i64| today - SignedDuration::from_hours(24 * days);
        // A sign-in past its 30 days, then a role change only 100 days old
        // (kept 180), then a fresh sign-in.
        append(store, t, AuditKind::LoginSucceeded, days_ago(40)).await;
        append(store, t, AuditKind::RoleChanged, days_ago(100)).await;
        append(store, t, AuditKind::LoginSucceeded, today).await;
        append(store, other, AuditKind::LoginSucceeded, days_ago(40)).await;
        let app = db.raw_app().await;
        let call = |tenant: TenantId, args: String| {
            let app = &app;
            async move {
                app.execute_unprepared(&format!(
                    "SELECT set_config('app.tenant_id', '{tenant}', false); \
                     SELECT bookwarden_purge_audit({args})"
                ))
                .await
                .map(|_| ())
                .map_err(|e| format!("{e:?}"))
            }
        };
        // Whatever the caller claims, the database's clock and each kind's
        // retention decide: the 100-day-old role change stays.
        for through in [2, 3] {
            let refused = call(t, format!("'{t}', {through}, '\\x00'"))
                .await
                .unwrap_err();
            assert!(refused.contains("bookwarden_purge_too_young"), "{refused}");
        }
        // Another tenant's entries, asked for as this tenant: refused.
        let refused = call(t, format!("'{other}', 1, '\\x00'")).await.unwrap_err();
        assert!(refused.contains("bookwarden_wrong_tenant"), "{refused}");
        // A NULL anywhere purges nothing.
        call(t, format!("'{t}', NULL, '\\x00'")).await.unwrap();
        call(t, format!("'{t}', 1, NULL")).await.unwrap();
        app.close().await.unwrap();
        assert_eq!(verify(store, t).await, ChainStatus::Intact { entries: 3 });
        assert_eq!(
            verify(store, other).await,
            ChainStatus::Intact { entries: 1 }
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn p9_the_databases_retention_rule_is_the_domains() {
    for engine in engines().await {
        if engine != Engine::Postgres {
            continue;
        }
        let db = TestDb::new(engine).await;
        let app = db.raw_app().await;
        let kinds = AuditKind::ALL
            .iter()
            .map(|k| k.as_str())
            .chain(["a.kind.from.a.newer.version"]);
        for kind in kinds {
            let row = app
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT bookwarden_audit_retention_days($1) AS days",
                    [kind.into()],
                ))
                .await
                .unwrap()
                .unwrap();
            let days: i64 = row.try_get("", "days").unwrap();
            let domain = AuditKind::parse(kind)
                .map_or(Severity::Critical, AuditKind::severity)
                .retention_days();
            assert_eq!(days, i64::from(domain), "{kind}");
        }
        app.close().await.unwrap();
        db.finish().await;
    }
}
