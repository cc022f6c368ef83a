//! Opening connection pools for SQLite and PostgreSQL.

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

use crate::error::StoreError;

/// Opens a pool of at most `max_connections` to `url`: `sqlite://PATH` (the
/// file is created; WAL journal, foreign keys on, a 5 s busy timeout) or
/// `postgres://...`.
pub(crate) async fn connect_url(
    url: &str,
    max_connections: u32,
) -> Result<DatabaseConnection, StoreError> {
    Ok(Database::connect(options(url, max_connections)?).await?)
}

/// Opens one connection to `url` for schema work (migrations, grants).
/// PostgreSQL is asked to send only warnings and errors: its notices about
/// objects that already exist (`relation "seaql_migrations" already exists,
/// skipping`) are routine there, and sqlx would relay each at `INFO`.
pub(crate) async fn connect_for_schema(url: &str) -> Result<DatabaseConnection, StoreError> {
    let mut options = options(url, 1)?;
    options.map_sqlx_postgres_opts(|pg| pg.options([("client_min_messages", "warning")]));
    Ok(Database::connect(options).await?)
}

/// The pool options for `url`, checking its scheme.
fn options(url: &str, max_connections: u32) -> Result<ConnectOptions, StoreError> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections.max(1))
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    if url.starts_with("sqlite:") {
        options.map_sqlx_sqlite_opts(|o| {
            o.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
                // Statement journals (each booking of a batch can be undone
                // alone) and temporary tables stay in memory, not in files.
                .pragma("temp_store", "MEMORY")
        });
    } else if !url.starts_with("postgres:") && !url.starts_with("postgresql:") {
        return Err(StoreError::Config(
            "a database URL starts with sqlite:// or postgres://".to_owned(),
        ));
    }
    Ok(options)
}
