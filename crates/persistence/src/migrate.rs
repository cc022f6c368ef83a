//! Schema migrations: one migration set, written once per dialect where the
//! dialects differ (row-level security and the exclusion constraint on
//! PostgreSQL, a trigger on SQLite).
//!
//! Migrations run as the schema owner. On PostgreSQL the application then
//! connects as a separate role that neither owns the tables nor bypasses
//! row-level security; [`grant_app_role`] gives it exactly the rights it
//! needs, on the store's own tables only. A [`PgPlacement`] puts the tables
//! and the migration record in a schema of their own, for a database the
//! store shares with other software.

use sea_orm::sea_query::{Alias, IntoIden as _};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, DynIden};
use sea_orm_migration::{
    MigrationName, MigrationTrait, MigratorTraitSelf, SchemaManager, async_trait,
};

use crate::db::{PgPlacement, connect_for_schema};
use crate::error::StoreError;

/// Every table the migrations create, for grants that touch nothing else.
/// A test checks it against the migrated schema.
pub const TABLES: [&str; 27] = [
    "tenant_directory",
    "tenants",
    "tenant_keys",
    "users",
    "staff",
    "customers",
    "services",
    "service_staff",
    "schedules",
    "holds",
    "bookings",
    "idempotency_keys",
    "audit_log",
    "audit_heads",
    "credential_directory",
    "recovery_codes",
    "api_keys",
    "sessions",
    "login_throttle",
    "invitations",
    "calendar_connections",
    "busy_blocks",
    "sign_in_sources",
    "sign_in_notices",
    "tenant_erasures",
    "data_requests",
    "key_store_binding",
];

/// Every migration, oldest first, recorded in the placement's table.
pub(crate) struct Migrator {
    pub(crate) table: String,
}

impl MigratorTraitSelf for Migrator {
    fn migrations(&self) -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(Schema1),
            Box::new(BookingWithCustomer),
            Box::new(BookingTenantFromCaller),
            Box::new(CalendarSync),
            Box::new(AuditRetention),
            Box::new(DataRights),
            Box::new(TenantErasure),
            Box::new(DataRequests),
        ]
    }

    fn migration_table_name(&self) -> DynIden {
        Alias::new(self.table.as_str()).into_iden()
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

/// A migration that runs one SQL file per dialect and is never rolled back
/// (a backup is restored instead).
macro_rules! sql_migration {
    ($(#[$doc:meta])* $name:ident, $file:literal) => {
        $(#[$doc])*
        struct $name;

        impl MigrationName for $name {
            fn name(&self) -> &str {
                concat!("m", $file)
            }
        }

        #[async_trait::async_trait]
        impl MigrationTrait for $name {
            async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
                run_sql(
                    manager,
                    include_str!(concat!("../migrations/", $file, ".sqlite.sql")),
                    include_str!(concat!("../migrations/", $file, ".postgres.sql")),
                )
                .await
            }

            async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
                Err(DbErr::Migration(
                    "migrations are not rolled back; restore a backup instead".to_owned(),
                ))
            }
        }
    };
}

sql_migration!(
    /// A public booking adds its customer and registers its manage link in
    /// the booking's own statement.
    BookingWithCustomer,
    "0002_booking_with_customer"
);

sql_migration!(
    /// The booking function takes its tenant from the caller's transaction,
    /// never from its own argument, so row-level security binds it.
    BookingTenantFromCaller,
    "0003_booking_tenant_from_caller"
);

sql_migration!(
    /// Calendar sync: leases, backoff and health on connections, occurrence
    /// keys on busy blocks, and the tenant's fail policy.
    CalendarSync,
    "0004_calendar_sync"
);

sql_migration!(
    /// Audit retention: the purge's checkpoint on the chain head, and on
    /// PostgreSQL the one function through which the application purges.
    AuditRetention,
    "0005_audit_retention"
);

sql_migration!(
    /// Data rights: the tenant's legal hold and the erased customer's
    /// tombstone.
    DataRights,
    "0006_data_rights"
);

sql_migration!(
    /// Whole-business erasure: the directory's and the business's marks,
    /// the system-level tombstone and, on PostgreSQL, the one function
    /// through which an erasure removes a business's audit trail.
    TenantErasure,
    "0007_tenant_erasure"
);

sql_migration!(
    /// A customer's own data-rights request links.
    DataRequests,
    "0008_data_requests"
);

/// The key store's own migrations, recorded in its own database.
pub(crate) struct KeyStoreMigrator {
    pub(crate) table: String,
}

impl MigratorTraitSelf for KeyStoreMigrator {
    fn migrations(&self) -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(KeyStore1)]
    }

    fn migration_table_name(&self) -> DynIden {
        Alias::new(self.table.as_str()).into_iden()
    }
}

sql_migration!(
    /// The key store's one table: tenants' wrapped data keys.
    KeyStore1,
    "keys_0001"
);

/// Brings the key store at `url` (a database of its own, never one of the
/// data databases) to the newest schema, in `placement` on PostgreSQL. Run
/// it as the key store's owner.
///
/// # Errors
/// When the database cannot be reached or migrated.
pub async fn migrate_key_store(url: &str, placement: &PgPlacement) -> Result<(), StoreError> {
    let conn = connect_for_schema(url, placement).await?;
    if conn.get_database_backend() == DbBackend::Postgres {
        conn.execute_unprepared(&format!(
            "CREATE SCHEMA IF NOT EXISTS \"{}\"",
            placement.schema()
        ))
        .await?;
    }
    let migrator = KeyStoreMigrator {
        table: placement.migrations_table().to_owned(),
    };
    migrator.up(&conn, None).await?;
    conn.close().await?;
    Ok(())
}

/// Brings the database at `url` to the newest schema, in the default
/// placement (schema `public`). Run it as the schema owner.
pub async fn migrate(url: &str) -> Result<(), StoreError> {
    migrate_in(url, &PgPlacement::default()).await
}

/// [`migrate`] into `placement`: on PostgreSQL the schema is created if
/// missing (the owner needs `CREATE` on the database for that) and holds
/// the tables, functions and the migration record.
pub async fn migrate_in(url: &str, placement: &PgPlacement) -> Result<(), StoreError> {
    let conn = connect_for_schema(url, placement).await?;
    if conn.get_database_backend() == DbBackend::Postgres {
        // A plain identifier, checked by PgPlacement::new, and quoted.
        conn.execute_unprepared(&format!(
            "CREATE SCHEMA IF NOT EXISTS \"{}\"",
            placement.schema()
        ))
        .await?;
    }
    let migrator = Migrator {
        table: placement.migrations_table().to_owned(),
    };
    migrator.up(&conn, None).await?;
    conn.close().await?;
    Ok(())
}

/// Refuses a role name that is not a plain identifier or that PostgreSQL
/// gives a meaning of its own.
fn check_role(role: &str) -> Result<(), StoreError> {
    let valid = !role.is_empty()
        && role.len() <= 63
        && role.starts_with(|c: char| c.is_ascii_lowercase())
        && role
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        // Names PostgreSQL gives a meaning of their own: `public` is every
        // role, and the rest name the caller or are reserved.
        && !role.starts_with("pg_")
        && !matches!(
            role,
            "public" | "none" | "all" | "user" | "current_user" | "current_role" | "session_user"
        );
    if valid {
        Ok(())
    } else {
        Err(StoreError::Config(
            "the application role is 1 to 63 lowercase letters, digits and underscores, and \
             not a name PostgreSQL reserves (public, pg_..., current_user, ...)"
                .to_owned(),
        ))
    }
}

/// Gives the PostgreSQL role `role` read and write on the key store's one
/// table and nothing else there (SQLite ignores it).
///
/// # Errors
/// When the role name is not valid or the grant fails.
pub async fn grant_key_store_role(
    owner_url: &str,
    role: &str,
    placement: &PgPlacement,
) -> Result<(), StoreError> {
    check_role(role)?;
    let conn = connect_for_schema(owner_url, placement).await?;
    if conn.get_database_backend() == DbBackend::Postgres {
        let role = format!("\"{role}\"");
        let schema = format!("\"{}\"", placement.schema());
        let record = format!("\"{}\"", placement.migrations_table());
        conn.execute_unprepared(&format!(
            "GRANT USAGE ON SCHEMA {schema} TO {role};
             GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.tenant_keys TO {role};
             GRANT SELECT, INSERT ON {schema}.key_store_identity TO {role};
             REVOKE ALL ON {schema}.{record} FROM {role};
             REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC;"
        ))
        .await?;
    }
    conn.close().await?;
    Ok(())
}

/// Gives the PostgreSQL role `role` what the application needs and no more,
/// in the default placement (see [`grant_app_role_in`]).
pub async fn grant_app_role(owner_url: &str, role: &str) -> Result<(), StoreError> {
    grant_app_role_in(owner_url, role, &PgPlacement::default()).await
}

/// Gives the PostgreSQL role `role` read and write on the store's own
/// tables in `placement`'s schema (never on other tables of the schema or
/// the database), execute on the booking function, and no more: it owns
/// nothing, so it cannot change the schema or turn row-level security off;
/// it cannot touch the migration record, and the audit log is append-only
/// to it. Does nothing on SQLite.
pub async fn grant_app_role_in(
    owner_url: &str,
    role: &str,
    placement: &PgPlacement,
) -> Result<(), StoreError> {
    check_role(role)?;
    let conn = connect_for_schema(owner_url, placement).await?;
    if conn.get_database_backend() == DbBackend::Postgres {
        // Plain identifiers (checked above and by PgPlacement::new), and
        // quoted all the same, so a keyword cannot change the statement.
        let role = format!("\"{role}\"");
        let schema = format!("\"{}\"", placement.schema());
        let record = format!("\"{}\"", placement.migrations_table());
        let tables = TABLES
            .iter()
            .map(|t| format!("{schema}.{t}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "GRANT USAGE ON SCHEMA {schema} TO {role};
             GRANT SELECT, INSERT, UPDATE, DELETE ON {tables} TO {role};
             REVOKE ALL ON {schema}.{record} FROM {role};
             REVOKE UPDATE, DELETE ON {schema}.audit_log FROM {role};
             REVOKE UPDATE, DELETE ON {schema}.audit_heads FROM {role};
             GRANT UPDATE (seq, hash) ON {schema}.audit_heads TO {role};
             REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC;
             REVOKE ALL ON FUNCTION {schema}.bookwarden_create_booking FROM PUBLIC;
             GRANT EXECUTE ON FUNCTION {schema}.bookwarden_create_booking TO {role};
             REVOKE ALL ON FUNCTION {schema}.bookwarden_purge_audit FROM PUBLIC;
             GRANT EXECUTE ON FUNCTION {schema}.bookwarden_purge_audit TO {role};
             REVOKE DELETE ON {schema}.tenant_erasures FROM {role};
             REVOKE UPDATE, DELETE ON {schema}.key_store_binding FROM {role};
             REVOKE ALL ON FUNCTION {schema}.bookwarden_erase_audit FROM PUBLIC;
             GRANT EXECUTE ON FUNCTION {schema}.bookwarden_erase_audit TO {role};"
        );
        conn.execute_unprepared(&sql).await?;
    }
    conn.close().await?;
    Ok(())
}
