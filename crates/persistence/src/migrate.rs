//! Schema migrations: one migration set, written once per dialect where the
//! dialects differ (row-level security and the exclusion constraint on
//! PostgreSQL, a trigger on SQLite).
//!
//! Migrations run as the schema owner. On PostgreSQL the application then
//! connects as a separate role that neither owns the tables nor bypasses
//! row-level security; [`grant_app_role`] gives it exactly the rights it
//! needs.

use sea_orm::{ConnectionTrait, DbBackend, DbErr};
use sea_orm_migration::{MigrationName, MigrationTrait, MigratorTrait, SchemaManager, async_trait};

use crate::db::connect_for_schema;
use crate::error::StoreError;

/// Every migration, oldest first.
pub(crate) struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(Schema1),
            Box::new(BookingWithCustomer),
            Box::new(BookingTenantFromCaller),
        ]
    }
}

/// Runs a migration's SQL for the connection's dialect.
async fn run_sql(manager: &SchemaManager<'_>, sqlite: &str, postgres: &str) -> Result<(), DbErr> {
    let sql = match manager.get_database_backend() {
        DbBackend::Sqlite => sqlite,
        DbBackend::Postgres => postgres,
        other => {
            return Err(DbErr::Migration(format!(
                "{} is not supported; use SQLite or PostgreSQL",
                other.as_str()
            )));
        }
    };
    manager.get_connection().execute_unprepared(sql).await?;
    Ok(())
}

/// The first schema.
struct Schema1;

impl MigrationName for Schema1 {
    fn name(&self) -> &str {
        "m0001_schema"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Schema1 {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_sql(
            manager,
            include_str!("../migrations/0001_schema.sqlite.sql"),
            include_str!("../migrations/0001_schema.postgres.sql"),
        )
        .await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "the first schema is not rolled back; restore a backup instead".to_owned(),
        ))
    }
}

/// A public booking adds its customer and registers its manage link in the
/// booking's own statement.
struct BookingWithCustomer;

impl MigrationName for BookingWithCustomer {
    fn name(&self) -> &str {
        "m0002_booking_with_customer"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for BookingWithCustomer {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_sql(
            manager,
            include_str!("../migrations/0002_booking_with_customer.sqlite.sql"),
            include_str!("../migrations/0002_booking_with_customer.postgres.sql"),
        )
        .await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "migrations are not rolled back; restore a backup instead".to_owned(),
        ))
    }
}

/// The booking function takes its tenant from the caller's transaction,
/// never from its own argument, so row-level security binds it.
struct BookingTenantFromCaller;

impl MigrationName for BookingTenantFromCaller {
    fn name(&self) -> &str {
        "m0003_booking_tenant_from_caller"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for BookingTenantFromCaller {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_sql(
            manager,
            include_str!("../migrations/0003_booking_tenant_from_caller.sqlite.sql"),
            include_str!("../migrations/0003_booking_tenant_from_caller.postgres.sql"),
        )
        .await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "migrations are not rolled back; restore a backup instead".to_owned(),
        ))
    }
}

/// Brings the database at `url` to the newest schema. Run it as the schema
/// owner.
pub async fn migrate(url: &str) -> Result<(), StoreError> {
    let conn = connect_for_schema(url).await?;
    Migrator::up(&conn, None).await?;
    conn.close().await?;
    Ok(())
}

/// Gives the PostgreSQL role `role` what the application needs and no more:
/// read and write on the tables, but it owns nothing and so cannot change
/// the schema or turn row-level security off. Does nothing on SQLite.
pub async fn grant_app_role(owner_url: &str, role: &str) -> Result<(), StoreError> {
    let valid = !role.is_empty()
        && role.len() <= 63
        && role.starts_with(|c: char| c.is_ascii_lowercase())
        && role
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !valid {
        return Err(StoreError::Config(
            "the application role is 1 to 63 lowercase letters, digits and underscores".to_owned(),
        ));
    }
    let conn = connect_for_schema(owner_url).await?;
    if conn.get_database_backend() == DbBackend::Postgres {
        // The role name was checked above to be a plain identifier.
        let sql = format!(
            "GRANT USAGE ON SCHEMA public TO {role};
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};
             REVOKE ALL ON seaql_migrations FROM {role};
             REVOKE UPDATE, DELETE ON audit_log FROM {role};
             REVOKE UPDATE, DELETE ON audit_heads FROM {role};
             GRANT UPDATE (seq, hash) ON audit_heads TO {role};
             REVOKE CREATE ON SCHEMA public FROM PUBLIC;
             REVOKE ALL ON FUNCTION bookwarden_create_booking FROM PUBLIC;
             GRANT EXECUTE ON FUNCTION bookwarden_create_booking TO {role};"
        );
        conn.execute_unprepared(&sql).await?;
    }
    conn.close().await?;
    Ok(())
}
