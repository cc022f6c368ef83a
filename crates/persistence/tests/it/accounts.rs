//! Accounts, credentials and calendars: scoped like everything else (P1),
//! single-use where they must be (P14), digests routed to their tenant
//! (P6), and no more calendar data than allowed (P4, P5).

use std::sync::Arc;

use bookwarden_domain::account::{Email, PersonName, Role, User};
use bookwarden_domain::calendar::{ConnectionStatus, ImportedBusy, Provider, SyncMode};
use bookwarden_domain::id::{
    ApiKeyId, ConnectionId, InvitationId, SessionId, StaffId, TenantId, UserId,
};
use bookwarden_domain::jiff::{SignedDuration, Timestamp};
use bookwarden_domain::time::TimeRange;
use bookwarden_persistence::{
    ApiKeyRecord, ConnectionRecord, CredentialKind, InvitationRecord, SessionRecord, Store,
    StoreError, ThrottleRule,
};
use sea_orm::{ConnectionTrait, Statement};

use crate::harness::{TestDb, engines, now, staff_member, tenant};

struct Account {
    tenant: TenantId,
    user: UserId,
    email: Email,
    staff: StaffId,
    key: ApiKeyRecord,
    session: SessionRecord,
    connection: ConnectionId,
}

fn later(hours: i64) -> Timestamp {
    now()
        .checked_add(SignedDuration::from_hours(hours))
        .unwrap()
}

fn window() -> TimeRange {
    TimeRange::new(now(), later(48)).unwrap()
}

async fn account(store: &Store, mode: SyncMode) -> Account {
    let t = tenant(store).await.id();
    let email = Email::parse(&format!(
        "owner-{}@example.com",
        uuid::Uuid::new_v4().simple()
    ))
    .unwrap();
    let user = User::create(
        t,
        email.clone(),
        PersonName::parse("Olive").unwrap(),
        Role::Owner,
    );
    let member = staff_member(t, "Sam");
    let digest = |n: u8| {
        let mut d = [n; 32];
        d[..16].copy_from_slice(t.as_bytes());
        d
    };
    let key = ApiKeyRecord {
        id: ApiKeyId::random(),
        name: "integration".into(),
        digest: digest(1),
        scopes: vec!["read".into(), "write".into()],
        created_by: user.id(),
        created_at: now(),
        revoked_at: None,
    };
    let session = SessionRecord {
        id: SessionId::random(),
        user: user.id(),
        digest: digest(2),
        created_at: now(),
        last_seen_at: now(),
        expires_at: later(12),
        revoked_at: None,
    };
    let connection = ConnectionRecord {
        id: ConnectionId::random(),
        staff: member.id(),
        provider: Provider::Google,
        mode,
        status: ConnectionStatus::Healthy,
        label: "calendar.example".to_owned(),
        sealed_secret: Some(vec![0xAB; 80]),
        sync_cursor: None,
        last_synced_at: None,
        failures: 0,
        next_sync_at: None,
        last_error: None,
        degraded: false,
        synced_until: None,
        created_at: now(),
    };
    store
        .system()
        .register_credential(&key.digest, t, CredentialKind::ApiKey)
        .await
        .unwrap();
    store
        .system()
        .register_credential(&session.digest, t, CredentialKind::Session)
        .await
        .unwrap();
    let scope = store.write(t).await.unwrap();
    scope
        .users()
        .insert(
            &user,
            Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"),
            now(),
        )
        .await
        .unwrap();
    scope
        .users()
        .replace_recovery_codes(user.id(), &[[9; 32], [8; 32]])
        .await
        .unwrap();
    scope.staff().insert(&member).await.unwrap();
    scope.api_keys().insert(&key).await.unwrap();
    scope.sessions().insert(&session).await.unwrap();
    scope.calendars().insert(&connection).await.unwrap();
    let block = ImportedBusy::new(
        Some("Doctor: private"),
        TimeRange::new(later(2), later(3)).unwrap(),
        false,
        SyncMode::WithSubject,
    );
    assert!(
        scope
            .calendars()
            .merge_busy(connection.id, &[([1; 32], block)])
            .await
            .unwrap()
            .is_some()
    );
    scope.commit().await.unwrap();
    Account {
        tenant: t,
        user: user.id(),
        email,
        staff: member.id(),
        key,
        session,
        connection: connection.id,
    }
}

#[tokio::test]
async fn p1_accounts_credentials_and_calendars_are_scoped() {
    for engine in engines().await {
        let db = TestDb::new(engine).await;
        let a = account(&db.store, SyncMode::WithSubject).await;
        let b = account(&db.store, SyncMode::WithSubject).await;
        let scope = db.store.write(a.tenant).await.unwrap();
        // Every read of B's rows from A's scope finds nothing ...
        assert!(
            scope.users().get(b.user).await.unwrap().is_none(),
            "{engine:?}"
        );
        assert!(scope.users().by_email(&b.email).await.unwrap().is_none());
        assert!(
            scope
                .api_keys()
                .by_digest(&b.key.digest)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            scope
                .sessions()
                .by_digest(&b.session.digest)
                .await
                .unwrap()
                .is_none()
        );
        assert!(scope.calendars().get(b.connection).await.unwrap().is_none());
        assert!(
            scope
                .calendars()
                .busy_between(&[b.staff], window())
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(scope.users().list().await.unwrap().len(), 1);
        // ... and every write to them changes nothing.
        assert!(!scope.users().set_role(b.user, Role::Staff).await.unwrap());
        assert!(!scope.users().set_password_hash(b.user, "x").await.unwrap());
        assert!(!scope.users().accept_totp_step(b.user, 99).await.unwrap());
        assert!(
            !scope
                .users()
                .use_recovery_code(b.user, &[9; 32])
                .await
                .unwrap()
        );
        assert!(!scope.api_keys().revoke(b.key.id, now()).await.unwrap());
        assert!(!scope.sessions().revoke(b.session.id, now()).await.unwrap());
        assert_eq!(
            scope.sessions().revoke_all_of(b.user, now()).await.unwrap(),
            0
        );
        assert!(!scope.calendars().delete(b.connection).await.unwrap());
        assert!(
            scope
                .calendars()
                .merge_busy(b.connection, &[])
                .await
                .unwrap()
                .is_none()
        );
        scope.commit().await.unwrap();
        // B is intact.
        let scope = db.store.read(b.tenant).await.unwrap();
        let user = scope.users().get(b.user).await.unwrap().unwrap();
        assert_eq!(user.user.role(), Role::Owner);
        assert!(
            !format!("{user:?}").contains("argon2"),
            "Debug hides the hash"
        );
        assert!(
            scope
                .api_keys()
                .by_digest(&b.key.digest)
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_none()
        );
        assert!(
            scope
                .sessions()
                .by_digest(&b.session.digest)
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_none()
        );
        assert_eq!(
            scope
                .calendars()
                .busy_between(&[b.staff], window())
                .await
                .unwrap()
                .len(),
            1
        );
        scope.rollback().await.unwrap();
        db.finish().await;
    }
}

#[tokio::test]
async fn p6_a_token_digest_routes_to_its_tenant_and_revocation_is_immediate() {
    for engine in engines().await {
        let db = TestDb::new(engine).await;
        let a = account(&db.store, SyncMode::BusyOnly).await;
        let located = db
            .store
            .system()
            .locate_credential(&a.key.digest)
            .await
            .unwrap();
        assert_eq!(
            located,
            Some((a.tenant, CredentialKind::ApiKey)),
            "{engine:?}"
        );
        assert_eq!(
            db.store.system().locate_credential(&[0; 32]).await.unwrap(),
            None
        );
        let scope = db.store.write(a.tenant).await.unwrap();
        assert!(scope.api_keys().revoke(a.key.id, now()).await.unwrap());
        assert!(
            !scope.api_keys().revoke(a.key.id, now()).await.unwrap(),
            "revoke twice"
        );
        scope.commit().await.unwrap();
        // The very next lookup sees the revocation.
        let scope = db.store.read(a.tenant).await.unwrap();
        let key = scope
            .api_keys()
            .by_digest(&a.key.digest)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(key.revoked_at, Some(now()));
        scope.rollback().await.unwrap();
        db.store
            .system()
            .forget_credential(&a.key.digest)
            .await
            .unwrap();
        assert_eq!(
            db.store
                .system()
                .locate_credential(&a.key.digest)
                .await
                .unwrap(),
            None
        );
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn p14_a_totp_step_and_a_recovery_code_work_once_under_concurrency() {
    for engine in engines().await {
        let db = TestDb::with_pool(engine, 8).await;
        let a = account(&db.store, SyncMode::BusyOnly).await;
        let store = Arc::new(db.store);
        let mut totp = Vec::new();
        let mut codes = Vec::new();
        for _ in 0..16 {
            let s = store.clone();
            let (t, u) = (a.tenant, a.user);
            totp.push(tokio::spawn(async move {
                let scope = s.write(t).await.unwrap();
                let ok = scope.users().accept_totp_step(u, 57_000_000).await.unwrap();
                scope.commit().await.unwrap();
                ok
            }));
            let s = store.clone();
            codes.push(tokio::spawn(async move {
                let scope = s.write(t).await.unwrap();
                let ok = scope.users().use_recovery_code(u, &[9; 32]).await.unwrap();
                scope.commit().await.unwrap();
                ok
            }));
        }
        let mut passed = (0, 0);
        for task in totp {
            passed.0 += usize::from(task.await.unwrap());
        }
        for task in codes {
            passed.1 += usize::from(task.await.unwrap());
        }
        assert_eq!(passed, (1, 1), "{engine:?}: one step, one code");
        // An older step is refused too.
        let scope = store.write(a.tenant).await.unwrap();
        assert!(
            !scope
                .users()
                .accept_totp_step(a.user, 56_999_999)
                .await
                .unwrap()
        );
        assert!(
            scope
                .users()
                .accept_totp_step(a.user, 57_000_001)
                .await
                .unwrap()
        );
        scope.commit().await.unwrap();
        let store = Arc::into_inner(store).unwrap();
        TestDb { store, ..db }.finish().await;
    }
}

#[tokio::test]
async fn p4_busy_only_connections_store_no_subject_and_disconnect_deletes_blocks() {
    for engine in engines().await {
        let db = TestDb::new(engine).await;
        let a = account(&db.store, SyncMode::BusyOnly).await;
        let scope = db.store.read(a.tenant).await.unwrap();
        let imported = scope.calendars().imported(a.connection).await.unwrap();
        assert_eq!(imported.len(), 1, "{engine:?}");
        assert_eq!(imported[0].subject(), None, "busy-only keeps no subject");
        let connection = scope.calendars().get(a.connection).await.unwrap().unwrap();
        assert!(
            !format!("{connection:?}").contains("171"),
            "Debug hides the sealed secret"
        );
        scope.rollback().await.unwrap();
        // Not in any column either.
        let owner = sea_orm::Database::connect(&db.owner_url).await.unwrap();
        let backend = owner.get_database_backend();
        let rows = owner
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT count(*) AS n FROM busy_blocks WHERE subject IS NOT NULL",
            ))
            .await
            .unwrap();
        let n: i64 = rows[0].try_get("", "n").unwrap();
        assert_eq!(n, 0);
        // Disconnecting deletes the connection's blocks.
        let scope = db.store.write(a.tenant).await.unwrap();
        assert!(scope.calendars().delete(a.connection).await.unwrap());
        assert!(
            scope
                .calendars()
                .busy_between(&[a.staff], window())
                .await
                .unwrap()
                .is_empty()
        );
        scope.commit().await.unwrap();
        let left = owner
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT count(*) AS n FROM busy_blocks",
            ))
            .await
            .unwrap();
        assert_eq!(left[0].try_get::<i64>("", "n").unwrap(), 0);
        owner.close().await.unwrap();
        db.finish().await;
    }
}

fn busy(subject: &str, from: i64, to: i64) -> ImportedBusy {
    ImportedBusy::new(
        Some(subject),
        TimeRange::new(later(from), later(to)).unwrap(),
        false,
        SyncMode::WithSubject,
    )
}

#[tokio::test]
async fn p4_a_sync_merges_blocks_by_occurrence_a_delta_touches_only_what_it_names_and_busy_only_drops_subjects()
 {
    for engine in engines().await {
        let db = TestDb::new(engine).await;
        let a = account(&db.store, SyncMode::WithSubject).await;
        let scope = db.store.write(a.tenant).await.unwrap();
        let first = [
            ([1; 32], busy("Doctor: private", 2, 3)),
            ([2; 32], busy("Team", 5, 6)),
            ([3; 32], busy("Lunch", 7, 8)),
        ];
        let merged = scope
            .calendars()
            .merge_busy(a.connection, &first)
            .await
            .unwrap()
            .unwrap();
        // Key 1 was kept from the account's set-up with the same content.
        assert_eq!(
            (merged.added, merged.changed, merged.removed),
            (2, 0, 0),
            "{engine:?}"
        );
        // The next sync moves one, drops one, keeps one.
        let second = [
            ([1; 32], busy("Doctor: private", 2, 3)),
            ([2; 32], busy("Team", 9, 10)),
        ];
        let merged = scope
            .calendars()
            .merge_busy(a.connection, &second)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((merged.added, merged.changed, merged.removed), (0, 1, 1));
        let kept = scope.calendars().imported(a.connection).await.unwrap();
        let times: Vec<_> = kept
            .iter()
            .map(|b| (b.subject().map(str::to_owned), b.range().start()))
            .collect();
        assert_eq!(
            times,
            [
                (Some("Doctor: private".to_owned()), later(2)),
                (Some("Team".to_owned()), later(9)),
            ]
        );
        // An incremental sync's changes touch only what they name: one
        // added, one moved, one removed, and a removal of a key never kept
        // is no error.
        let merged = scope
            .calendars()
            .apply_busy_changes(
                a.connection,
                &[
                    ([4; 32], busy("New", 11, 12)),
                    ([2; 32], busy("Team", 13, 14)),
                ],
                &[[1; 32], [9; 32]],
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (merged.added, merged.changed, merged.removed),
            (1, 1, 1),
            "{engine:?}"
        );
        let kept = scope.calendars().imported(a.connection).await.unwrap();
        let times: Vec<_> = kept.iter().map(|b| b.range().start()).collect();
        assert_eq!(times, [later(11), later(13)]);
        let untouched = scope
            .calendars()
            .apply_busy_changes(a.connection, &[], &[])
            .await
            .unwrap()
            .unwrap();
        assert!(!untouched.any(), "an empty delta keeps every block");
        assert_eq!(
            scope
                .calendars()
                .imported(a.connection)
                .await
                .unwrap()
                .len(),
            2
        );
        // Busy-only from now on: the kept subjects go at once.
        assert!(
            scope
                .calendars()
                .set_mode(a.connection, SyncMode::BusyOnly)
                .await
                .unwrap()
        );
        let kept = scope.calendars().imported(a.connection).await.unwrap();
        assert_eq!(kept.len(), 2);
        assert!(kept.iter().all(|b| b.subject().is_none()));
        scope.commit().await.unwrap();
        db.finish().await;
    }
}

#[tokio::test]
async fn p5_one_server_at_a_time_holds_a_connections_sync_lease() {
    for engine in engines().await {
        let db = TestDb::new(engine).await;
        let a = account(&db.store, SyncMode::BusyOnly).await;
        let scope = db.store.write(a.tenant).await.unwrap();
        assert!(
            scope
                .calendars()
                .schedule(a.connection, now())
                .await
                .unwrap()
        );
        assert_eq!(
            scope.calendars().due(now(), 10).await.unwrap(),
            [a.connection]
        );
        assert!(
            scope
                .calendars()
                .claim(a.connection, now(), later(1))
                .await
                .unwrap()
        );
        // Held: neither due nor claimable until it lapses.
        assert!(scope.calendars().due(now(), 10).await.unwrap().is_empty());
        assert!(
            !scope
                .calendars()
                .claim(a.connection, now(), later(1))
                .await
                .unwrap()
        );
        assert!(
            scope
                .calendars()
                .claim(a.connection, later(1), later(2))
                .await
                .unwrap(),
            "a lease whose holder died lapses"
        );
        // A failure releases it and schedules the retry.
        let failed = bookwarden_persistence::SyncFailure {
            status: ConnectionStatus::Failing,
            failures: 1,
            error: "the calendar provider failed",
            next_sync_at: Some(later(3)),
        };
        assert!(
            scope
                .calendars()
                .record_failure(a.connection, &failed)
                .await
                .unwrap()
        );
        let record = scope.calendars().get(a.connection).await.unwrap().unwrap();
        assert_eq!(record.failures, 1);
        assert_eq!(record.next_sync_at, Some(later(3)));
        assert!(
            scope
                .calendars()
                .due(later(2), 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            scope.calendars().due(later(3), 10).await.unwrap(),
            [a.connection]
        );
        scope.commit().await.unwrap();
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn p2_failed_sign_ins_lock_an_account_once_and_the_lock_lapses() {
    let rule = ThrottleRule {
        max_failures: 5,
        window_secs: 900,
        lockout_secs: 600,
    };
    for engine in engines().await {
        let db = TestDb::with_pool(engine, 8).await;
        let a = account(&db.store, SyncMode::BusyOnly).await;
        let other = account(&db.store, SyncMode::BusyOnly).await;
        let store = Arc::new(db.store);
        let who = [7_u8; 32];
        // Eight concurrent failures: exactly one of them locks the account.
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let s = store.clone();
            let t = a.tenant;
            tasks.push(tokio::spawn(async move {
                let scope = s.write(t).await.unwrap();
                let outcome = scope
                    .login_throttle()
                    .record_failure(&who, rule, now())
                    .await
                    .unwrap();
                scope.commit().await.unwrap();
                outcome
            }));
        }
        let mut locked_now = 0;
        for task in tasks {
            locked_now += usize::from(task.await.unwrap().locked_now);
        }
        assert_eq!(locked_now, 1, "{engine:?}: one failure locks");
        let scope = store.read(a.tenant).await.unwrap();
        let state = scope.login_throttle().state(&who, now()).await.unwrap();
        assert_eq!(
            state.locked_until,
            Some(later(0) + SignedDuration::from_secs(600))
        );
        let lapsed = scope
            .login_throttle()
            .state(&who, now() + SignedDuration::from_secs(601))
            .await
            .unwrap();
        assert_eq!(lapsed.locked_until, None, "{engine:?}");
        scope.commit().await.unwrap();
        // The same account digest in another tenant is a different account.
        let scope = store.read(other.tenant).await.unwrap();
        let theirs = scope.login_throttle().state(&who, now()).await.unwrap();
        assert_eq!((theirs.failures, theirs.locked_until), (0, None));
        scope.commit().await.unwrap();
        // Failures outside the window start a new count; clear forgets.
        let scope = store.write(a.tenant).await.unwrap();
        let fresh = scope
            .login_throttle()
            .record_failure(&[3; 32], rule, now())
            .await
            .unwrap();
        assert_eq!(fresh.state.failures, 1);
        let much_later = scope
            .login_throttle()
            .record_failure(&[3; 32], rule, now() + SignedDuration::from_secs(901))
            .await
            .unwrap();
        assert_eq!(much_later.state.failures, 1, "{engine:?}: the window slid");
        scope.login_throttle().clear(&[3; 32]).await.unwrap();
        let cleared = scope.login_throttle().state(&[3; 32], now()).await.unwrap();
        assert_eq!(cleared.failures, 0);
        scope.commit().await.unwrap();
        let store = Arc::into_inner(store).unwrap();
        TestDb { store, ..db }.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn p14_an_invitation_is_single_use_expires_and_stays_in_its_tenant() {
    for engine in engines().await {
        let db = TestDb::with_pool(engine, 8).await;
        let a = account(&db.store, SyncMode::BusyOnly).await;
        let other = account(&db.store, SyncMode::BusyOnly).await;
        let store = Arc::new(db.store);
        let invitation = InvitationRecord {
            id: InvitationId::random(),
            digest: [0x42; 32],
            email: Email::parse("new.hire@example.com").unwrap(),
            role: Role::Staff,
            invited_by: a.user,
            created_at: now(),
            expires_at: later(72),
            accepted_at: None,
        };
        let scope = store.write(a.tenant).await.unwrap();
        scope.invitations().insert(&invitation).await.unwrap();
        let expired = InvitationRecord {
            id: InvitationId::random(),
            digest: [0x43; 32],
            expires_at: later(1),
            ..invitation.clone()
        };
        scope.invitations().insert(&expired).await.unwrap();
        scope.commit().await.unwrap();
        // Another tenant cannot see it, use it or withdraw it.
        let scope = store.write(other.tenant).await.unwrap();
        assert_eq!(
            scope.invitations().by_digest(&[0x42; 32]).await.unwrap(),
            None
        );
        assert!(
            !scope
                .invitations()
                .accept(invitation.id, now())
                .await
                .unwrap()
        );
        assert!(!scope.invitations().withdraw(invitation.id).await.unwrap());
        assert!(scope.invitations().list().await.unwrap().is_empty());
        // An invitation cannot name another tenant's user as its sender.
        let foreign = InvitationRecord {
            id: InvitationId::random(),
            digest: [0x44; 32],
            ..invitation.clone()
        };
        assert!(matches!(
            scope.invitations().insert(&foreign).await,
            Err(StoreError::MissingReference(_))
        ));
        scope.rollback().await.unwrap();
        // Sixteen concurrent uses: one wins.
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let s = store.clone();
            let (t, id) = (a.tenant, invitation.id);
            tasks.push(tokio::spawn(async move {
                let scope = s.write(t).await.unwrap();
                let ok = scope.invitations().accept(id, later(1)).await.unwrap();
                scope.commit().await.unwrap();
                ok
            }));
        }
        let mut won = 0;
        for task in tasks {
            won += usize::from(task.await.unwrap());
        }
        assert_eq!(won, 1, "{engine:?}");
        let scope = store.write(a.tenant).await.unwrap();
        assert!(
            !scope
                .invitations()
                .accept(expired.id, later(2))
                .await
                .unwrap(),
            "expired"
        );
        let stored = scope
            .invitations()
            .by_digest(&[0x42; 32])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.accepted_at, Some(later(1)));
        assert!(
            !scope.invitations().withdraw(invitation.id).await.unwrap(),
            "used ones stay"
        );
        assert!(scope.invitations().withdraw(expired.id).await.unwrap());
        assert_eq!(scope.invitations().list().await.unwrap().len(), 1);
        scope.commit().await.unwrap();
        let store = Arc::into_inner(store).unwrap();
        TestDb { store, ..db }.finish().await;
    }
}

/// Two owners demote each other at the same moment: the second waits for
/// the first and then finds no other owner, so the business keeps one. On
/// PostgreSQL this fails without the `FOR UPDATE` on the owners.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn p14_two_owners_demoting_each_other_at_once_leave_one_owner() {
    for engine in engines().await {
        let db = TestDb::with_pool(engine, 8).await;
        let t = tenant(&db.store).await.id();
        let owner = |name: &str| {
            User::create(
                t,
                Email::parse(&format!("{name}@example.com")).unwrap(),
                PersonName::parse(name).unwrap(),
                Role::Owner,
            )
        };
        let (ada, bo) = (owner("ada"), owner("bo"));
        let scope = db.store.write(t).await.unwrap();
        scope.users().insert(&ada, None, now()).await.unwrap();
        scope.users().insert(&bo, None, now()).await.unwrap();
        scope.commit().await.unwrap();
        let store = Arc::new(db.store);

        // Ada demotes Bo: checked, not yet committed.
        let first = store.write(t).await.unwrap();
        first
            .users()
            .ensure_another_active_owner(bo.id())
            .await
            .unwrap();
        // Bo demotes Ada meanwhile.
        let s = store.clone();
        let ada_id = ada.id();
        let second = tokio::spawn(async move {
            let scope = s.write(t).await.unwrap();
            match scope.users().ensure_another_active_owner(ada_id).await {
                Ok(()) => {
                    scope.users().set_role(ada_id, Role::Admin).await.unwrap();
                    scope.commit().await.unwrap();
                    Ok(())
                }
                Err(refused) => {
                    scope.rollback().await.unwrap();
                    Err(refused)
                }
            }
        });
        // Give the second demotion every chance to run ahead.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        first.users().set_role(bo.id(), Role::Admin).await.unwrap();
        first.commit().await.unwrap();
        let outcome = second.await.unwrap();
        assert!(
            matches!(outcome, Err(StoreError::LastOwner)),
            "{engine:?}: the second demotion must find no other owner: {outcome:?}"
        );
        let scope = store.read(t).await.unwrap();
        let owners: Vec<_> = scope
            .users()
            .list()
            .await
            .unwrap()
            .into_iter()
            .filter(|u| u.user.role() == Role::Owner)
            .map(|u| u.user.id())
            .collect();
        scope.commit().await.unwrap();
        assert_eq!(owners, vec![ada.id()], "{engine:?}: Ada stays the owner");
        let store = Arc::into_inner(store).unwrap();
        TestDb { store, ..db }.finish().await;
    }
}
