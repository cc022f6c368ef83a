//! The composition root: configuration, the master key ring, the password
//! hashing pool and the tenant-sealed store wired into [`App`], whose
//! methods are the use cases the HTTP layer calls — sign-up, sign-in,
//! sessions, two-factor, invitations, roles and API keys.
//!
//! Authorization lives here, not in handlers: every method that acts for
//! someone takes the authenticated [`Principal`] and checks what it needs
//! first. The tenant always comes from the principal.
//!
//! [`App`] needs a Tokio runtime (multi-thread or current-thread, with its
//! time driver enabled): the store's drivers run on it, and password hashing
//! runs on its blocking pool.

// The canary leaks on purpose (see `catalog`): it must never be a release
// build, and a debug build refuses to open without an acknowledgement.
#[cfg(all(feature = "isolation-canary", not(debug_assertions)))]
compile_error!(
    "the isolation-canary feature makes a deliberately leaking test build; never build it \
     in release"
);

mod accounts;
mod audit;
mod auth;
pub mod backup;
mod bookings;
mod calendar_oauth;
pub mod calendars;
pub mod catalog;
pub mod config;
mod error;
pub mod export;
mod ics;
pub mod keys;
pub mod listing;
mod rights;
mod snapshot;
mod tenants;

use std::num::NonZeroUsize;
use std::sync::Arc;

use bookwarden_crypto::password::{HashScheme, PasswordHasher, PasswordPolicy, Passwords};
use bookwarden_crypto::vault::{MasterKeyRing, TenantDataKey};
use bookwarden_domain::jiff::Timestamp;
use bookwarden_persistence::{RegionDatabase, Store, StoreConfig, StoreError, TenantScope};

pub use accounts::{
    ApiKeyCreated, ApiKeyView, InvitationCreated, InvitationView, PrivilegedAccount, ResetIssued,
    Signup, SignupDone, TotpEnrollment, UserChange, UserView,
};
pub use audit::{AuditPage, AuditQuery, MAX_AUDIT_PAGE};
pub use auth::{
    Carrier, ClientInfo, Credential, LoginRequest, Need, Principal, SessionCreated, csrf_token_for,
};
pub use bookings::{
    AnswerValue, Booked, BookingRequest, BookingView, MAX_IDEMPOTENCY_KEY, answer_value,
};
pub use bookwarden_crypto::SecretString;
/// The kinds of token the server issues, each with its prefix (no token of
/// any kind belongs in a URL).
pub use bookwarden_crypto::token::TokenKind;
pub use bookwarden_persistence::{ChainBreak, ChainStatus, SignInNotice};
pub use bookwarden_persistence::{ErasureRecord, ErasureStep, ErasureVia};
pub use calendars::{ConnectCalendar, ConnectionView, SyncRound};
pub use catalog::CustomerInput;
pub use config::Config;
pub use error::{AppError, Conflict};
pub use export::{ExportProgress, ExportSummary};
pub use rights::{
    CONFIRMATION_LIFETIME, DataRequestLink, DataRequestOutcome, ERASURE_BATCH, Erasure,
    TenantErasure,
};
pub use tenants::{TenantChange, TenantChanged};

/// Where "now" comes from; tests move it forward.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// Facts about start-up worth a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Startup {
    /// A development master key is in use (`Some(true)`: made just now).
    pub development_key: Option<bool>,
}

/// The wired application.
pub struct App {
    store: Store,
    keys: MasterKeyRing,
    hasher: PasswordHasher,
    policy: PasswordPolicy,
    config: Config,
    clock: Arc<dyn Clock>,
    listings: listing::Listings,
    snapshots: snapshot::Snapshots,
    outbound: bookwarden_calendar_sync::outbound::Outbound,
    /// What the backup schedule last did, and when the app opened.
    backups: std::sync::Mutex<backup::BackupState>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("default_region", &self.config.default_region)
            .finish_non_exhaustive()
    }
}

fn region_databases(config: &Config) -> Vec<RegionDatabase> {
    config
        .databases
        .iter()
        .map(|(region, url)| RegionDatabase {
            region: region.clone(),
            url: url.clone(),
        })
        .collect()
}

/// Creates the data folder (owner-only on Unix) when the configuration
/// keeps anything in it.
fn prepare_data_dir(config: &Config) -> Result<(), AppError> {
    if !config.uses_data_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(&config.data_dir).map_err(AppError::internal)
}

/// Brings every configured database, and the key store, to the newest
/// schema, then moves any data key still kept in a data database to the
/// key store. On PostgreSQL run this with the schema owner's URL and name
/// the role the server connects as in `app_role`: it gets read and write
/// on the tables and owns nothing, so row-level security binds it (see
/// docs/OPERATIONS.md).
///
/// # Errors
/// When a database cannot be reached or migrated, or the role name is
/// not valid.
pub async fn migrate(config: &Config, app_role: Option<&str>) -> Result<(), AppError> {
    prepare_data_dir(config)?;
    let placement = &config.postgres_placement;
    for url in config.databases.values() {
        bookwarden_persistence::migrate_in(url, placement).await?;
        if let Some(role) = app_role {
            bookwarden_persistence::grant_app_role_in(url, role, placement)
                .await
                .map_err(|e| match e {
                    StoreError::Config(reason) => AppError::invalid("app_role", reason),
                    other => other.into(),
                })?;
        }
    }
    if let Some(url) = &config.key_store {
        bookwarden_persistence::migrate_key_store(url, placement).await?;
        if let Some(role) = app_role {
            bookwarden_persistence::grant_key_store_role(url, role, placement)
                .await
                .map_err(|e| match e {
                    StoreError::Config(reason) => AppError::invalid("app_role", reason),
                    other => other.into(),
                })?;
        }
        // Keys kept in the data databases from before the key store was
        // configured move to it, tenant by tenant.
        let store = App::open_store(config).await?;
        let moved = store.system().move_keys_to_key_store().await;
        store.close().await?;
        let moved = moved?;
        if moved > 0 {
            tracing::info!(moved, "tenant data keys moved to the key store");
        }
    }
    Ok(())
}

impl App {
    /// Opens the store and loads the keys. Embedded SQLite databases are
    /// migrated on the spot (no setup); PostgreSQL ones must have been
    /// migrated by `bookwarden migrate`.
    ///
    /// # Errors
    /// A configuration, key or database problem.
    pub async fn open(config: Config, clock: Arc<dyn Clock>) -> Result<(Self, Startup), AppError> {
        #[cfg(feature = "isolation-canary")]
        if std::env::var("BOOKWARDEN_TEST_ISOLATION_CANARY").as_deref() != Ok("leak") {
            return Err(AppError::invalid(
                "configuration",
                "this is the isolation-canary build, which leaks between tenants on purpose; \
                 it runs only with BOOKWARDEN_TEST_ISOLATION_CANARY=leak, for cargo xtask canary",
            ));
        }
        prepare_data_dir(&config)?;
        let loaded = keys::load(&config.keys, config.primary_key)
            .map_err(|e| AppError::invalid("configuration", e))?;
        for url in config
            .databases
            .values()
            .filter(|u| u.starts_with("sqlite:"))
        {
            bookwarden_persistence::migrate_in(url, &config.postgres_placement).await?;
        }
        if let Some(url) = config
            .key_store
            .as_ref()
            .filter(|u| u.starts_with("sqlite:"))
        {
            bookwarden_persistence::migrate_key_store(url, &config.postgres_placement).await?;
        }
        let store = Self::open_store(&config).await?;
        // Keys kept in embedded data databases from before the key store
        // move now (one query when there are none); on PostgreSQL,
        // `bookwarden migrate` moves them.
        if config.databases.values().all(|u| u.starts_with("sqlite:")) {
            let moved = store.system().move_keys_to_key_store().await?;
            if moved > 0 {
                tracing::info!(moved, "tenant data keys moved to the key store");
            }
        }
        let passwords = Passwords::new(HashScheme::Argon2id(config.argon2))?;
        let slots = NonZeroUsize::new(config.max_concurrent_hashes).unwrap_or(NonZeroUsize::MIN);
        let hasher = PasswordHasher::new(
            passwords,
            slots,
            bookwarden_crypto::password::DEFAULT_MAX_QUEUE_WAIT,
        );
        let outbound =
            bookwarden_calendar_sync::outbound::Outbound::new(&config.calendars.outbound)
                .map_err(|e| AppError::invalid("configuration", e))?;
        let clock_now = clock.now();
        let app = Self {
            outbound,
            store,
            keys: loaded.ring,
            hasher,
            policy: config.password_policy,
            config,
            clock,
            listings: listing::Listings::default(),
            snapshots: snapshot::Snapshots::default(),
            backups: std::sync::Mutex::new(backup::BackupState::since(clock_now)),
        };
        Ok((
            app,
            Startup {
                development_key: loaded.development,
            },
        ))
    }

    /// Opens only the store (for operator commands).
    ///
    /// # Errors
    /// When a database cannot be reached.
    pub async fn open_store(config: &Config) -> Result<Store, AppError> {
        Ok(Store::open(StoreConfig {
            regions: region_databases(config),
            directory: config.directory_region.clone(),
            max_connections: config.max_connections,
            placement: config.postgres_placement.clone(),
            key_store: config.key_store.clone(),
        })
        .await?)
    }

    /// The configuration the app runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store (for readiness checks and operator commands).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The master key ring.
    pub fn keys(&self) -> &MasterKeyRing {
        &self.keys
    }

    /// Password hashes running now (for metrics).
    pub fn hashes_in_flight(&self) -> usize {
        self.hasher.in_flight()
    }

    /// Whether every database answers.
    ///
    /// # Errors
    /// The first database that does not.
    pub async fn ready(&self) -> Result<(), AppError> {
        Ok(self.store.ping().await?)
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The tenant's data key, unwrapped, read inside `scope`.
    async fn data_key(&self, scope: &TenantScope) -> Result<TenantDataKey, AppError> {
        Ok(scope.open_data_key(&self.keys).await?)
    }
}
