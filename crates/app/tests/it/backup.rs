//! Backups of whole SQLite databases (P11): made while bookings go on,
//! restored into an empty folder with every booking acknowledged before
//! the backup began, refused whole when anything was tampered with.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bookwarden_app::backup::{
    BackupContent, BackupError, BackupManifest, BackupSchedule, restore_backup, verify_backup,
};
use bookwarden_app::keys::{self, MasterKeyRing};
use bookwarden_app::{App, BookingRequest, Config, CustomerInput, Principal};
use bookwarden_domain::id::ServiceId;
use bookwarden_domain::jiff::{SignedDuration, Timestamp};

use crate::rights::open_all_day;
use crate::use_cases::{Harness, harness};

fn quiet() -> Arc<dyn Fn(u64) + Send + Sync> {
    Arc::new(|_| {})
}

/// A service of 15 minutes, open 00:00-23:00 UTC every day.
async fn bookable(h: &Harness, owner: &Principal) -> ServiceId {
    open_all_day(&h.app, owner, 15).await
}

/// The `n`th free quarter hour from the day after the clock's start.
fn slot(n: u32) -> Timestamp {
    let day = i64::from(n / 92);
    let quarter = i64::from(n % 92);
    let first: Timestamp = "2027-03-02T00:00:00Z".parse().unwrap();
    first
        .checked_add(SignedDuration::from_hours(24 * day) + SignedDuration::from_mins(15 * quarter))
        .unwrap()
}

async fn book(app: &App, owner: &Principal, service: ServiceId, n: u32) -> bool {
    app.create_booking(
        owner,
        &BookingRequest {
            service,
            staff: None,
            start: slot(n),
            seats: 1,
            customer: CustomerInput {
                email: format!("guest{n}@example.com"),
                name: format!("Guest {n}"),
                phone: None,
            },
            answers: BTreeMap::new(),
        },
    )
    .await
    .is_ok()
}

fn ring(folder: &Path) -> MasterKeyRing {
    keys::load(&Config::embedded(folder.to_owned()).keys, None)
        .unwrap()
        .ring
}

/// A configuration for an empty folder that holds the master key of
/// `from` (as an operator restoring on a new machine would copy it).
fn empty_target(from: &Path, name: &str) -> Config {
    let folder = from.with_file_name(format!(
        "{}-{name}",
        from.file_name().unwrap().to_string_lossy()
    ));
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(from.join("master.key"), folder.join("master.key")).unwrap();
    Config::embedded(folder)
}

async fn rows(db: &Path, sql: &str) -> Vec<String> {
    use sea_orm::{ConnectionTrait as _, Database, DbBackend, Statement};
    let conn = Database::connect(format!("sqlite://{}?mode=ro", db.display()))
        .await
        .unwrap();
    let found = conn
        .query_all_raw(Statement::from_string(DbBackend::Sqlite, sql.to_owned()))
        .await
        .unwrap()
        .iter()
        .map(|row| {
            row.try_get_by_index::<String>(0)
                .or_else(|_| row.try_get_by_index::<i64>(0).map(|n| n.to_string()))
                .unwrap()
        })
        .collect();
    conn.close().await.unwrap();
    found
}

#[tokio::test]
async fn p11_a_backup_made_while_bookings_go_on_restores_every_booking_acknowledged_before_it() {
    let h = harness().await;
    let (owner, _) = h.owner("harbour").await;
    let service = bookable(&h, &owner).await;
    for n in 0..40 {
        assert!(book(&h.app, &owner, service, n).await);
    }
    let app = Arc::new(h.app);
    // Bookings go on while the backup is made.
    let running = Arc::new(AtomicBool::new(true));
    let load = {
        let (app, owner, running) = (Arc::clone(&app), owner.clone(), Arc::clone(&running));
        tokio::spawn(async move {
            let mut n = 40;
            while running.load(Ordering::Relaxed) && n < 2000 {
                book(&app, &owner, service, n).await;
                n += 1;
            }
            n - 40
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let acknowledged: BTreeSet<String> = app
        .bookings(
            &owner,
            "2027-03-01T00:00:00Z".parse().unwrap(),
            "2027-03-31T00:00:00Z".parse().unwrap(),
            None,
            None,
        )
        .await
        .unwrap()
        .iter()
        .map(|b| b.id.to_string())
        .collect();
    assert!(acknowledged.len() >= 40);
    // Plaintext copies a killed backup left behind are removed by the next.
    let abandoned = h.folder.join(".bookwarden-backup-999999999-1");
    std::fs::create_dir(&abandoned).unwrap();
    std::fs::write(abandoned.join("0.db"), b"a copy in the clear").unwrap();
    let out = h.folder.with_extension("bwb");
    let manifest = app
        .backup(BackupContent::Data, &out, quiet())
        .await
        .unwrap();
    assert!(!abandoned.exists());
    let left: Vec<_> = std::fs::read_dir(&h.folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".bookwarden-backup-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    running.store(false, Ordering::Relaxed);
    let during = load.await.unwrap();
    assert!(during > 0, "bookings ran beside the backup");

    // The file holds nothing in the clear.
    let bytes = std::fs::read(&out).unwrap();
    assert!(bytes.starts_with(b"BWBACKUP"));
    for marker in [
        &b"guest1@example.com"[..],
        b"Harbour Physio",
        b"SQLite format 3",
    ] {
        assert!(
            !bytes.windows(marker.len()).any(|w| w == marker),
            "{}",
            String::from_utf8_lossy(marker)
        );
    }

    let keys = ring(&h.folder);
    let verified = verify_backup(&keys, &out, &h.folder, quiet())
        .await
        .unwrap();
    assert_eq!(verified, manifest);

    let target = empty_target(&h.folder, "restored");
    let restored = restore_backup(&target, &keys, &out, quiet()).await.unwrap();
    assert_eq!(restored, manifest);
    let db = target.data_dir.join("bookwarden.db");
    let found: BTreeSet<String> = rows(&db, "SELECT lower(hex(booking_id)) FROM bookings")
        .await
        .into_iter()
        .collect();
    let acknowledged: BTreeSet<String> =
        acknowledged.iter().map(|id| id.replace('-', "")).collect();
    assert!(
        acknowledged.is_subset(&found),
        "{} acknowledged before the backup are missing",
        acknowledged.difference(&found).count()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&db).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the restored database is its owner's alone"
        );
    }
    let counted: u64 = rows(&db, "SELECT COUNT(*) FROM bookings").await[0]
        .parse()
        .unwrap();
    assert_eq!(
        Some(&counted),
        manifest.files[0].summary.rows.get("bookings")
    );
    assert!(
        rows(&db, "PRAGMA foreign_key_check").await.is_empty(),
        "consistent"
    );

    // The data alone does not open: its data keys are in the key store,
    // backed up apart. With the key store's backup restored too, the
    // restored folder serves and the owner signs in.
    let alone = App::open(target.clone(), h.clock.clone()).await;
    assert!(alone.is_err(), "opened without its key store");
    // That attempt left an empty key store behind, which a restore will not
    // overwrite: moved away, as the refusal says.
    for name in ["keys.db", "keys.db-wal", "keys.db-shm"] {
        let _ = std::fs::remove_file(target.data_dir.join(name));
    }
    let keys_out = h.folder.with_extension("keys.bwb");
    let key_manifest = app
        .backup(BackupContent::KeyStore, &keys_out, quiet())
        .await
        .unwrap();
    assert_eq!(key_manifest.files.len(), 1);
    assert!(
        !std::fs::read(&keys_out)
            .unwrap()
            .windows(15)
            .any(|w| w == b"SQLite format 3")
    );
    restore_backup(&target, &keys, &keys_out, quiet())
        .await
        .unwrap();
    let (restored_app, _) = App::open(target.clone(), h.clock.clone()).await.unwrap();
    let session = restored_app
        .login(bookwarden_app::LoginRequest {
            tenant: "harbour".to_owned(),
            email: "olive@harbour.example".to_owned(),
            password: bookwarden_app::SecretString::new("plum tree orchard 42".to_owned()),
            otp: None,
            recovery_code: None,
            new_password: None,
            client: bookwarden_app::ClientInfo::default(),
        })
        .await
        .unwrap();
    assert!(!session.token.expose_secret().is_empty());
    drop(restored_app);

    // A second restore into the same place is refused, and changes nothing.
    let again = restore_backup(&target, &keys, &out, quiet()).await;
    assert!(
        matches!(again, Err(BackupError::TargetExists(_))),
        "{again:?}"
    );

    let _ = std::fs::remove_dir_all(&target.data_dir);
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(&keys_out);
    let _ = std::fs::remove_dir_all(&h.folder);
}

/// Refused, with nothing written where the databases would go.
async fn refused(keys: &MasterKeyRing, file: &Path, target: &Config) -> BackupError {
    let error = restore_backup(target, keys, file, quiet())
        .await
        .unwrap_err();
    assert!(!target.data_dir.join("bookwarden.db").exists(), "{error}");
    let leftovers: Vec<_> = std::fs::read_dir(&target.data_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "master.key")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?} after: {error}");
    error
}

#[tokio::test]
async fn p11_a_tampered_cut_spliced_or_foreign_backup_is_refused_and_nothing_is_restored() {
    let h = harness().await;
    let (owner, _) = h.owner("quayside").await;
    bookable(&h, &owner).await;
    let out = h.folder.with_extension("bwb");
    h.app
        .backup(BackupContent::Data, &out, quiet())
        .await
        .unwrap();
    let other = h.folder.with_extension("other.bwb");
    h.app
        .backup(BackupContent::Data, &other, quiet())
        .await
        .unwrap();
    let keys = ring(&h.folder);
    let original = std::fs::read(&out).unwrap();
    let target = empty_target(&h.folder, "tampered");
    let tampered = h.folder.with_extension("tampered.bwb");

    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    for at in [20, 100, original.len() / 2, original.len() - 1] {
        let mut bytes = original.clone();
        bytes[at] ^= 0x40;
        cases.push(("a byte flipped", bytes));
    }
    cases.push(("the end cut off", original[..original.len() - 16].to_vec()));
    cases.push((
        "cut after the archive",
        original[..original.len() - 1].to_vec(),
    ));
    let mut longer = original.clone();
    longer.extend_from_slice(&[0; 512]);
    cases.push(("zeros appended", longer));
    // Another backup's body under this one's clear header, and the other
    // way round.
    let second = std::fs::read(&other).unwrap();
    cases.push(("spliced", [&original[..60], &second[60..]].concat()));
    let mut version = original.clone();
    version[13] = 2;
    cases.push(("another master key named", version));
    cases.push(("not a backup", b"SQLite format 3\0 and so on".to_vec()));
    for (name, bytes) in cases {
        std::fs::write(&tampered, &bytes).unwrap();
        let error = refused(&keys, &tampered, &target).await;
        assert!(
            !matches!(error, BackupError::TargetExists(_)),
            "{name}: {error}"
        );
        let verify = verify_backup(&keys, &tampered, &h.folder, quiet()).await;
        assert!(verify.is_err(), "{name}: verified");
    }

    // The right file under another master key.
    let stranger = tempdir_with_key(&h.folder);
    let error = refused(&ring(&stranger), &out, &target).await;
    assert!(matches!(error, BackupError::Io { .. }), "{error}");

    // And the untouched file restores.
    restore_backup(&target, &keys, &out, quiet()).await.unwrap();
    assert!(target.data_dir.join("bookwarden.db").exists());
    for path in [&out, &other, &tampered] {
        let _ = std::fs::remove_file(path);
    }
    let _ = std::fs::remove_dir_all(&target.data_dir);
    let _ = std::fs::remove_dir_all(&stranger);
    h.finish().await;
}

/// A folder with a development master key of its own (version 1, like
/// every other: only the key differs).
fn tempdir_with_key(beside: &Path) -> std::path::PathBuf {
    let folder = beside.with_extension("stranger");
    std::fs::create_dir_all(&folder).unwrap();
    let _ = ring(&folder);
    folder
}

#[tokio::test]
async fn p11_a_backup_with_a_schema_newer_than_this_build_is_refused() {
    use sea_orm::{ConnectionTrait as _, Database};
    let h = harness().await;
    h.owner("newer").await;
    let url = Config::embedded(h.folder.clone())
        .databases
        .values()
        .next()
        .unwrap()
        .clone();
    let conn = Database::connect(url.as_str()).await.unwrap();
    conn.execute_unprepared(
        "INSERT INTO seaql_migrations (version, applied_at) VALUES ('m9999_from_the_future', 0)",
    )
    .await
    .unwrap();
    conn.close().await.unwrap();
    let out = h.folder.with_extension("bwb");
    h.app
        .backup(BackupContent::Data, &out, quiet())
        .await
        .unwrap();
    let target = empty_target(&h.folder, "newer");
    let error = refused(&ring(&h.folder), &out, &target).await;
    assert!(
        matches!(&error, BackupError::NewerSchema { migration, .. } if migration == "m9999_from_the_future"),
        "{error}"
    );
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_dir_all(&target.data_dir);
    h.finish().await;
}

/// A backup made by version 0.1.0 (format 1) of a business `fixture` with
/// its owner, and of its key store, checked in with the development master
/// key they were made under: every later version must restore them,
/// migrating them to its own schema.
#[tokio::test]
async fn p11_a_backup_made_by_an_earlier_version_restores_and_migrates() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let folder =
        std::env::temp_dir().join(format!("bookwarden-fixture-restore-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(
        fixtures.join("backup-0.1.0.master.key"),
        folder.join("master.key"),
    )
    .unwrap();
    let target = Config::embedded(folder.clone());
    let keys = keys::load(&target.keys, None).unwrap().ring;
    let manifest: BackupManifest =
        restore_backup(&target, &keys, &fixtures.join("backup-0.1.0.bwb"), quiet())
            .await
            .unwrap();
    assert_eq!(manifest.made_by, "0.1.0");
    restore_backup(
        &target,
        &keys,
        &fixtures.join("backup-0.1.0.keys.bwb"),
        quiet(),
    )
    .await
    .unwrap();
    let db = folder.join("bookwarden.db");
    let applied = rows(&db, "SELECT version FROM seaql_migrations ORDER BY version").await;
    let known = bookwarden_persistence::known_migrations(
        &bookwarden_persistence::DatabaseRole::Region(bookwarden_domain::tenant::Region::local()),
    );
    assert_eq!(applied, known, "migrated to this build's schema");
    let clock = Arc::new(crate::use_cases::TestClock::at("2027-03-01T06:00:00Z"));
    let (app, _) = App::open(target, clock).await.unwrap();
    let session = app
        .login(bookwarden_app::LoginRequest {
            tenant: "fixture".to_owned(),
            email: "olive@fixture.example".to_owned(),
            password: bookwarden_app::SecretString::new("plum tree orchard 42".to_owned()),
            otp: None,
            recovery_code: None,
            new_password: None,
            client: bookwarden_app::ClientInfo::default(),
        })
        .await;
    assert!(session.is_ok(), "the fixture's owner signs in");
    drop(app);
    let _ = std::fs::remove_dir_all(&folder);
}

#[tokio::test]
async fn p11_scheduled_backups_keep_the_newest_and_readiness_fails_when_they_fall_behind() {
    let folder = std::env::temp_dir().join(format!(
        "bookwarden-scheduled-{}-{}",
        std::process::id(),
        line!()
    ));
    let mut config = Config::embedded(folder.clone());
    let hour = std::time::Duration::from_secs(3600);
    config.backups = Some(BackupSchedule {
        dir: folder.join("backups"),
        key_store_dir: Some(folder.join("key-backups")),
        every: hour,
        keep: 2,
        max_age: 2 * hour,
    });
    let clock = Arc::new(crate::use_cases::TestClock::at("2027-03-01T06:00:00Z"));
    let (app, _) = App::open(config, clock.clone()).await.unwrap();
    assert_eq!(app.backup_overdue(), None, "just started");
    clock.advance(SignedDuration::from_hours(3));
    assert!(
        app.backup_overdue()
            .unwrap()
            .contains("no backup has succeeded"),
        "three hours without one"
    );

    for _ in 0..3 {
        app.backup_round().await;
        clock.advance(SignedDuration::from_mins(30));
    }
    let listed = |dir: &str| {
        let mut names: Vec<String> = std::fs::read_dir(folder.join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let data = listed("backups");
    assert_eq!(data.len(), 2, "{data:?}");
    assert!(data.iter().all(|n| n.starts_with("bookwarden-data-2027")));
    let keys = listed("key-backups");
    assert_eq!(keys.len(), 2, "{keys:?}");
    let status = app.backup_status();
    assert_eq!(
        status.last_success,
        Some("2027-03-01T10:00:00Z".parse().unwrap()),
        "the third round, an hour after the first"
    );
    assert_eq!(status.failures, 0);
    assert_eq!(
        status.last_bytes,
        std::fs::metadata(folder.join("backups").join(&data[1]))
            .unwrap()
            .len()
    );
    assert_eq!(app.backup_overdue(), None);
    // The newest verifies; the oldest two are gone.
    let keys_ring = ring(&folder);
    verify_backup(
        &keys_ring,
        &folder.join("backups").join(&data[1]),
        &folder,
        quiet(),
    )
    .await
    .unwrap();
    clock.advance(SignedDuration::from_hours(2));
    assert!(
        app.backup_overdue().unwrap().contains("longer ago"),
        "two and a half hours after the last"
    );
    drop(app);
    let _ = std::fs::remove_dir_all(&folder);
}
