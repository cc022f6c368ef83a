//! Opening connection pools for SQLite and PostgreSQL.

use std::time::Duration;

#[cfg(feature = "sqlite")]
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

use crate::error::StoreError;

/// Where the store's tables live in a PostgreSQL database (SQLite ignores
/// it): a schema of their own and the name of the table that records which
/// migrations ran, so the store can share a database with other software
/// without taking over `public` or clashing with its migration record.
/// The default is schema `public` and table `seaql_migrations`, where every
/// deployment before this setting has its tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgPlacement {
    schema: String,
    migrations_table: String,
}

impl Default for PgPlacement {
    fn default() -> Self {
        Self {
            schema: "public".to_owned(),
            migrations_table: "seaql_migrations".to_owned(),
        }
    }
}

impl PgPlacement {
    /// A schema and a migration table name, each 1 to 63 lowercase ASCII
    /// letters, digits and underscores, starting with a letter or an
    /// underscore (so they need no quoting), and not a system name
    /// (`pg_...`, `information_schema`).
    ///
    /// # Errors
    /// [`StoreError::Config`] naming what is wrong.
    pub fn new(schema: &str, migrations_table: &str) -> Result<Self, StoreError> {
        for (what, name) in [("schema", schema), ("migration table", migrations_table)] {
            let plain = !name.is_empty()
                && name.len() <= 63
                && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !plain || name.starts_with("pg_") || name == "information_schema" {
                return Err(StoreError::Config(format!(
                    "the PostgreSQL {what} name is 1 to 63 lowercase letters, digits and \
                     underscores, starting with a letter, and not a system name"
                )));
            }
        }
        Ok(Self {
            schema: schema.to_owned(),
            migrations_table: migrations_table.to_owned(),
        })
    }

    /// The schema the store's tables, functions and policies live in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The table that records which of the store's migrations ran (in the
    /// schema).
    pub fn migrations_table(&self) -> &str {
        &self.migrations_table
    }

    /// The connection's search path: the store's schema alone (PostgreSQL
    /// searches `pg_catalog` first anyway), so every unqualified name the
    /// store uses is its own or built in, and nothing another role creates
    /// in `public` can stand in for one of them. `btree_gist`'s operator
    /// classes are found as defaults whatever the path; where the
    /// extension is missing, the migration installs it into this schema.
    fn search_path(&self) -> String {
        format!("\"{}\"", self.schema)
    }
}

/// Opens a pool of at most `max_connections` to `url`: `sqlite://PATH` (the
/// file is created; WAL journal, foreign keys on, a 5 s busy timeout) or
/// `postgres://...`, whose connections look in `placement`'s schema first.
pub(crate) async fn connect_url(
    url: &str,
    max_connections: u32,
    placement: &PgPlacement,
) -> Result<DatabaseConnection, StoreError> {
    let options = postgres_settings(
        options(url, max_connections, Sync::Normal)?,
        vec![("search_path", placement.search_path())],
    );
    Ok(Database::connect(options).await?)
}

/// Opens the key store's pool: as [`connect_url`], and on SQLite every
/// commit is synced to disk before it returns (`synchronous = FULL`): a
/// data key lost to a power cut would take every secret sealed under it.
pub(crate) async fn connect_key_store(
    url: &str,
    max_connections: u32,
    placement: &PgPlacement,
) -> Result<DatabaseConnection, StoreError> {
    let options = postgres_settings(
        options(url, max_connections, Sync::Full)?,
        vec![("search_path", placement.search_path())],
    );
    Ok(Database::connect(options).await?)
}

/// Opens one connection to `url` for schema work (migrations, grants).
/// PostgreSQL is asked to send only warnings and errors: its notices about
/// objects that already exist (`relation "seaql_migrations" already exists,
/// skipping`) are routine there, and sqlx would relay each at `INFO`.
pub(crate) async fn connect_for_schema(
    url: &str,
    placement: &PgPlacement,
) -> Result<DatabaseConnection, StoreError> {
    let options = postgres_settings(
        options(url, 1, Sync::Normal)?,
        vec![
            ("client_min_messages", "warning".to_owned()),
            ("search_path", placement.search_path()),
        ],
    );
    Ok(Database::connect(options).await?)
}

/// Settings PostgreSQL applies to each connection as it opens (a SQLite
/// URL ignores them; a build without PostgreSQL has nothing to apply).
#[cfg(feature = "postgres")]
fn postgres_settings(
    mut options: ConnectOptions,
    settings: Vec<(&'static str, String)>,
) -> ConnectOptions {
    options.map_sqlx_postgres_opts(move |pg| pg.options(settings.clone()));
    options
}

#[cfg(not(feature = "postgres"))]
fn postgres_settings(options: ConnectOptions, _: Vec<(&'static str, String)>) -> ConnectOptions {
    options
}

/// The pool options for `url`, checking its scheme against the engines
/// this build has (the `sqlite` and `postgres` features).
/// How SQLite syncs a commit in WAL mode: `Normal` survives a crash of
/// the process (a power cut may undo the last commits), `Full` a power cut
/// too.
#[derive(Clone, Copy)]
enum Sync {
    Normal,
    Full,
}

fn options(url: &str, max_connections: u32, sync: Sync) -> Result<ConnectOptions, StoreError> {
    #[cfg(not(feature = "sqlite"))]
    let _only_sqlite = sync;
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections.max(1))
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    let sqlite = url.starts_with("sqlite:");
    let postgres = url.starts_with("postgres:") || url.starts_with("postgresql:");
    if !sqlite && !postgres {
        return Err(StoreError::Config(
            "a database URL starts with sqlite:// or postgres://".to_owned(),
        ));
    }
    if (sqlite && !cfg!(feature = "sqlite")) || (postgres && !cfg!(feature = "postgres")) {
        return Err(StoreError::Config(format!(
            "this build has no {} support (bookwarden-persistence's `{}` feature)",
            if sqlite { "SQLite" } else { "PostgreSQL" },
            if sqlite { "sqlite" } else { "postgres" },
        )));
    }
    #[cfg(feature = "sqlite")]
    if sqlite {
        options.map_sqlx_sqlite_opts(move |o| {
            o.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(match sync {
                    Sync::Normal => SqliteSynchronous::Normal,
                    Sync::Full => SqliteSynchronous::Full,
                })
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
                // Statement journals (each booking of a batch can be undone
                // alone) and temporary tables stay in memory, not in files.
                .pragma("temp_store", "MEMORY")
        });
    }
    Ok(options)
}
