//! Bookwarden's tenant-sealed store, on SQLite (the embedded default, one
//! file in WAL mode) and PostgreSQL, through sea-orm.
//!
//! Tenant data is reached only through a [`TenantScope`], a transaction
//! bound to one tenant, got from [`Store::write`] or [`Store::read`]. Every
//! table carries `tenant_id`, every key and reference is composite
//! `(tenant_id, id)`, and PostgreSQL adds row-level security keyed on a
//! transaction-local setting. Overlapping bookings of one staff member are
//! refused by the database itself.
//!
//! # Runtime
//!
//! Every method is async and needs a Tokio runtime (current-thread or
//! multi-thread, with its time driver): the drivers (sqlx) run on it.
//!
//! # Features
//!
//! `sqlite` (SQLite, bundled: no system library) and `postgres` are both
//! on by default; a store picks its engine by URL scheme. Turn the default
//! off and keep one to build only that driver; a URL of an engine the
//! build lacks is refused with [`StoreError::Config`].
//!
//! # Vault
//!
//! Tenants' secrets are sealed with `bookwarden-crypto`'s vault: [`TenantScope::create_data_key`] and
//! [`TenantScope::open_data_key`] keep a tenant's data key wrapped under
//! your master keys. `examples/embedded.rs` is a whole small service built
//! on this crate, the domain and the vault alone.
//!
//! # Example
//!
//! ```
//! use bookwarden_domain::jiff::Timestamp;
//! use bookwarden_domain::tenant::{Region, Tenant, TenantName, TenantSlug};
//! use bookwarden_domain::time::TimeZone;
//! use bookwarden_persistence::{RegionDatabase, Store, StoreConfig, migrate};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let folder = std::env::temp_dir().join(format!("bookwarden-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&folder)?;
//! let url = format!("sqlite://{}?mode=rwc", folder.join("doc.db").display());
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! runtime.block_on(async {
//!     migrate(&url).await?;
//!     let local = Region::parse("local")?;
//!     let store = Store::open(StoreConfig {
//!         regions: vec![RegionDatabase { region: local.clone(), url: url.clone() }],
//!         directory: local.clone(),
//!         max_connections: 2,
//!         placement: Default::default(),
//!         key_store: None,
//!     })
//!     .await?;
//!     let tenant = Tenant::create(
//!         TenantName::parse("Harbour Physio")?,
//!         TenantSlug::parse("harbour")?,
//!         local,
//!         TimeZone::parse("Europe/Berlin")?,
//!     );
//!     store.system().create_tenant(&tenant, Timestamp::now()).await?;
//!     // Everything of the tenant's is reached through a scope bound to it.
//!     let scope = store.read(tenant.id()).await?;
//!     assert_eq!(scope.tenant_row().await?.map(|t| t.id()), Some(tenant.id()));
//!     assert!(scope.services().list().await?.is_empty());
//!     scope.commit().await?;
//!     store.close().await?;
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//! # std::fs::remove_dir_all(&folder)?;
//! # Ok(())
//! # }
//! ```

#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
compile_error!("bookwarden-persistence needs the `sqlite` or the `postgres` feature, or both");

mod access;
mod accounts;
mod audit;
mod backup;
mod bookings;
mod calendars;
mod combine;
mod db;
mod entity;
mod erasure;
mod error;
mod migrate;
mod people;
mod rights;
mod rows;
mod services;
mod sign_ins;
mod store;
mod tenants;

pub use access::{
    FailureOutcome, InvitationRecord, Invitations, LoginThrottle, ThrottleRule, ThrottleState,
};
pub use accounts::{
    ApiKeyRecord, ApiKeys, CredentialKind, SessionRecord, Sessions, UserRecord, Users,
};
pub use audit::{AuditEntry, AuditEvent, AuditFilter, ChainBreak, ChainStatus, Purged};
pub use backup::{
    DatabaseRole, FileSummary, Integrity, inspect_sqlite_file, known_migrations, sqlite_file,
};
pub use bookings::{Booker, BookingExtras, Bookings, Created, Idempotency};
pub use calendars::{Calendars, ConnectionRecord, Merged, SyncFailure, SyncSuccess};
pub use db::PgPlacement;
pub use erasure::{ERASED_TABLES, ErasureRecord, ErasureStep, ErasureVia};
pub use error::{DatabaseError, StoreError, Unique};
pub use migrate::{
    TABLES, grant_app_role, grant_app_role_in, grant_key_store_role, migrate, migrate_in,
    migrate_key_store,
};
pub use people::{Customers, Staff};
pub use rights::{BookingRecord, CustomerErased, CustomerRecord, DataRequestRecord, DataRequests};
pub use services::{Schedules, Services};
pub use sign_ins::{SignInNotice, SignIns};
pub use store::{RegionDatabase, Store, StoreConfig, System, TenantScope};
pub use tenants::{Rewrap, StoredDataKey};
