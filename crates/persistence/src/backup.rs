//! Consistent copies of whole SQLite databases, for backups (P11).
//!
//! A copy is made with `VACUUM INTO`, never by copying files: it reads one
//! snapshot of the database (in WAL mode, writers go on meanwhile) and
//! writes a compact, self-contained database file, where a file copy of a
//! live database may catch a page half written or miss what still sits in
//! the WAL. [`inspect_sqlite_file`] checks a copy (SQLite's integrity
//! check) and counts its rows, for the backup's manifest and for its
//! verification after a restore.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
#[cfg(feature = "sqlite")]
use std::str::FromStr as _;
#[cfg(feature = "sqlite")]
use std::sync::Arc;

use bookwarden_domain::tenant::Region;
#[cfg(feature = "sqlite")]
use sea_orm::sqlx::ConnectOptions as _;
#[cfg(feature = "sqlite")]
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
#[cfg(feature = "sqlite")]
use sea_orm::{DatabaseConnection, DbErr, RuntimeErr, SqlxSqliteConnector};
use sea_orm_migration::MigratorTraitSelf;

use crate::error::StoreError;
use crate::migrate::{KeyStoreMigrator, Migrator};
use crate::store::System;

/// Whether [`inspect_sqlite_file`] runs SQLite's integrity check (a full
/// read of the file) before counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Integrity {
    /// Check: a copy read back from a backup.
    Check,
    /// Do not: a copy SQLite has just written itself.
    Skip,
}

/// Which database a copy is of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseRole {
    /// A region's data database.
    Region(Region),
    /// The key store (tenants' wrapped data keys).
    KeyStore,
}

/// What a database file holds: the migrations applied to it, oldest
/// first, and the rows of each table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSummary {
    /// The names of the migrations applied.
    pub migrations: Vec<String>,
    /// Rows per table.
    pub rows: BTreeMap<String, u64>,
}

/// The migrations this build knows for a database of `role`, oldest
/// first: a copy that records one it does not know comes from a newer
/// version, and is not restored by this one.
#[must_use]
pub fn known_migrations(role: &DatabaseRole) -> Vec<String> {
    let table = "seaql_migrations".to_owned();
    let names = |list: Vec<Box<dyn sea_orm_migration::MigrationTrait>>| {
        list.iter().map(|m| m.name().to_owned()).collect()
    };
    match role {
        DatabaseRole::Region(_) => names(Migrator { table }.migrations()),
        DatabaseRole::KeyStore => names(KeyStoreMigrator { table }.migrations()),
    }
}

impl System<'_> {
    /// The configured regions and whether each is on SQLite.
    pub fn regions(&self) -> Vec<(Region, bool)> {
        self.0
            .regions
            .iter()
            .map(|(region, db)| {
                let sqlite = db.conn.get_database_backend() == DbBackend::Sqlite;
                (region.clone(), sqlite)
            })
            .collect()
    }

    /// Whether the store has a database for `region`
    /// ([`System::create_tenant`] refuses any other).
    pub fn serves(&self, region: &Region) -> bool {
        self.0.regions.contains_key(region)
    }

    /// Whether a key store apart from the data databases is configured,
    /// and whether it is on SQLite.
    pub fn key_store(&self) -> Option<bool> {
        self.0
            .key_store
            .as_ref()
            .map(|conn| conn.get_database_backend() == DbBackend::Sqlite)
    }

    /// Writes a consistent copy of `role`'s SQLite database to `path`
    /// (which must not exist) while the server keeps serving.
    ///
    /// # Errors
    /// [`StoreError::Config`] when the database is not SQLite or not
    /// configured; the database's error when the copy fails (a full disk,
    /// an existing file).
    pub async fn copy_sqlite(&self, role: &DatabaseRole, path: &Path) -> Result<(), StoreError> {
        let conn = match role {
            DatabaseRole::Region(region) => self
                .0
                .regions
                .get(region)
                .map(|db| &db.conn)
                .ok_or_else(|| StoreError::UnknownRegion(region.to_string()))?,
            DatabaseRole::KeyStore => self
                .0
                .key_store
                .as_ref()
                .ok_or_else(|| StoreError::Config("no key store is configured".to_owned()))?,
        };
        if conn.get_database_backend() != DbBackend::Sqlite {
            return Err(StoreError::Config(
                "only an SQLite database is copied with VACUUM INTO".to_owned(),
            ));
        }
        let path = utf8(path)?;
        conn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "VACUUM INTO ?",
            [path.into()],
        ))
        .await?;
        Ok(())
    }
}

/// The file an `sqlite:` URL names, as the driver reads the URL
/// (percent-decoded); `None` for another engine or an in-memory database.
#[cfg(feature = "sqlite")]
#[must_use]
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    if !url.starts_with("sqlite:") || url.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    let options = SqliteConnectOptions::from_str(url).ok()?;
    Some(options.get_filename().to_owned())
}

/// Without SQLite support no URL names an SQLite file.
#[cfg(not(feature = "sqlite"))]
#[must_use]
pub fn sqlite_file(_url: &str) -> Option<PathBuf> {
    None
}

fn utf8(path: &Path) -> Result<&str, StoreError> {
    path.to_str()
        .ok_or_else(|| StoreError::Config("a database path must be valid UTF-8".to_owned()))
}

/// Opens the SQLite file at `path` read-only, runs SQLite's integrity
/// check when asked, and summarizes it.
///
/// # Errors
/// [`StoreError::Config`] when the file is not a sound SQLite database (the
/// integrity check's first complaint) or has no migration record.
#[cfg(feature = "sqlite")]
pub async fn inspect_sqlite_file(path: &Path, check: Integrity) -> Result<FileSummary, StoreError> {
    if !path.is_file() {
        return Err(StoreError::Config(format!(
            "{} is not a file",
            path.display()
        )));
    }
    // As it is: read-only, no journal mode set, no statements logged.
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .disable_statement_logging();
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .map_err(|e| DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e))))?;
    let conn = SqlxSqliteConnector::from_sqlx_sqlite_pool(pool);
    let summary = summarize(&conn, check).await;
    conn.close().await?;
    summary
}

/// Without SQLite support there is nothing to open an SQLite file with.
///
/// # Errors
/// Always [`StoreError::Config`].
#[cfg(not(feature = "sqlite"))]
pub async fn inspect_sqlite_file(
    _path: &Path,
    _check: Integrity,
) -> Result<FileSummary, StoreError> {
    Err(StoreError::Config(
        "this build has no SQLite support (bookwarden-persistence's `sqlite` feature)".to_owned(),
    ))
}

/// Runs SQLite's integrity check; its first complaint is the error.
#[cfg(feature = "sqlite")]
async fn integrity(conn: &DatabaseConnection) -> Result<(), StoreError> {
    let check = conn
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA integrity_check",
        ))
        .await?
        .map(|row| row.try_get_by_index::<String>(0))
        .transpose()?;
    if check.as_deref() == Some("ok") {
        Ok(())
    } else {
        Err(StoreError::Config(format!(
            "the database file fails SQLite's integrity check: {}",
            check.unwrap_or_default()
        )))
    }
}

#[cfg(feature = "sqlite")]
async fn summarize(conn: &DatabaseConnection, check: Integrity) -> Result<FileSummary, StoreError> {
    let backend = DbBackend::Sqlite;
    if check == Integrity::Check {
        integrity(conn).await?;
    }
    let mut rows = BTreeMap::new();
    let tables = conn
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        ))
        .await?;
    for table in tables {
        let name: String = table.try_get_by_index(0)?;
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        let count = conn
            .query_one_raw(Statement::from_string(
                backend,
                format!("SELECT COUNT(*) FROM {quoted}"),
            ))
            .await?
            .map(|row| row.try_get_by_index::<i64>(0))
            .transpose()?
            .unwrap_or(0);
        rows.insert(name, u64::try_from(count).unwrap_or(0));
    }
    if !rows.contains_key("seaql_migrations") {
        return Err(StoreError::Config(
            "the database file has no migration record: not a Bookwarden database".to_owned(),
        ));
    }
    let migrations = conn
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT version FROM seaql_migrations ORDER BY version",
        ))
        .await?
        .into_iter()
        .map(|row| row.try_get_by_index::<String>(0))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(FileSummary { migrations, rows })
}
