//! What the use cases need to open: databases per region, master keys,
//! password hashing and sign-in limits. Reading it from a file and the
//! environment, and the server's own settings (address, TLS, workers,
//! request and rate limits, logs), are the `bookwarden` server's
//! (`bookwarden-http-api`'s `config`); an embedder builds this directly.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use bookwarden_calendar_sync::oauth::OAuthApp;
pub use bookwarden_calendar_sync::outbound::OutboundConfig;
use bookwarden_crypto::SecretString;
pub use bookwarden_crypto::password::{ARGON2_DEFAULT, Argon2Params, PasswordPolicy};
use bookwarden_domain::tenant::Region;
pub use bookwarden_persistence::PgPlacement;

/// A configuration value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read the configuration file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML or has unknown keys. Only
    /// the position and parser's reason are kept: the offending line may
    /// hold a master key.
    #[error("the configuration file {path} is not valid at line {line}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// The parser's reason, without the line's text.
        reason: String,
    },
    /// One setting has a value that cannot be used.
    #[error("setting `{setting}`: {reason}")]
    Invalid {
        /// The setting's name as written in the file.
        setting: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Where the master keys come from. `Debug` never shows a key.
#[derive(Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Given in the configuration, as `VERSION:BASE64` entries.
    Inline(Vec<String>),
    /// A file with one `VERSION:BASE64` per line.
    File(PathBuf),
    /// Nothing configured: a development key in the data folder, made on
    /// first start.
    Development(PathBuf),
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Inline(entries) => write!(f, "Inline({} keys, redacted)", entries.len()),
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Development(path) => f.debug_tuple("Development").field(path).finish(),
        }
    }
}

/// Sign-in throttling and session lifetimes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthSettings {
    /// Failed sign-ins that lock an account.
    pub lockout_failures: u32,
    /// How far back failures count.
    pub lockout_window: Duration,
    /// How long a lockout lasts.
    pub lockout: Duration,
    /// How long a session may sit unused.
    pub session_idle: Duration,
    /// How long a session lasts whatever happens.
    pub session_absolute: Duration,
    /// How long an invitation stays valid.
    pub invitation_ttl: Duration,
    /// How long a forced reset's token stays valid.
    pub reset_ttl: Duration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            lockout_failures: 5,
            lockout_window: Duration::from_secs(15 * 60),
            lockout: Duration::from_secs(15 * 60),
            session_idle: Duration::from_secs(30 * 60),
            session_absolute: Duration::from_secs(12 * 3600),
            invitation_ttl: Duration::from_secs(72 * 3600),
            reset_ttl: Duration::from_secs(24 * 3600),
        }
    }
}

/// How staff calendars are synced.
#[derive(Clone, Debug)]
pub struct CalendarSettings {
    /// The outbound HTTP client every calendar request goes through: the
    /// private-network guard, body size and time caps.
    pub outbound: OutboundConfig,
    /// Connections one process syncs at once.
    pub max_concurrent_syncs: usize,
    /// Google Calendar, when the deployment registered an OAuth app there.
    pub google: Option<CalendarProvider>,
    /// Microsoft 365 and Outlook.com calendars, when the deployment
    /// registered an app with the Microsoft identity platform.
    pub microsoft: Option<CalendarProvider>,
}

impl Default for CalendarSettings {
    fn default() -> Self {
        Self {
            outbound: OutboundConfig::default(),
            max_concurrent_syncs: 4,
            google: None,
            microsoft: None,
        }
    }
}

/// Google's production endpoints: authorization, token, API, revocation.
pub const GOOGLE_DEFAULTS: [&str; 4] = [
    bookwarden_calendar_sync::google::AUTH_URL,
    bookwarden_calendar_sync::google::TOKEN_URL,
    bookwarden_calendar_sync::google::API_BASE,
    bookwarden_calendar_sync::google::REVOKE_URL,
];

/// Microsoft's production endpoints: authorization, token, API (no
/// revocation).
pub const MICROSOFT_DEFAULTS: [&str; 3] = [
    bookwarden_calendar_sync::microsoft::AUTH_URL,
    bookwarden_calendar_sync::microsoft::TOKEN_URL,
    bookwarden_calendar_sync::microsoft::API_BASE,
];

/// The text of a provider's settings, before checking.
#[derive(Clone, Copy, Debug)]
pub struct ProviderText<'a> {
    /// The OAuth client identifier the provider issued.
    pub oauth_client: &'a str,
    /// The authorization endpoint.
    pub auth_url: &'a str,
    /// The token endpoint.
    pub token_url: &'a str,
    /// The revocation endpoint, where there is one.
    pub revoke_url: Option<&'a str>,
    /// Where the browser comes back.
    pub redirect_url: &'a str,
    /// The calendar API's root.
    pub api_url: &'a str,
}

/// An OAuth calendar provider: the app registered with it, and its API.
#[derive(Clone, Debug)]
pub struct CalendarProvider {
    /// The registered app and the provider's OAuth endpoints.
    pub oauth: Arc<OAuthApp>,
    /// The calendar API's root (Google's `https://www.googleapis.com/calendar/v3/`,
    /// Graph's `https://graph.microsoft.com/v1.0/`).
    pub api_base: String,
}

impl CalendarProvider {
    /// A provider from its settings' text and its client secret.
    ///
    /// # Errors
    /// The name of the first field that is not an http(s) URL
    /// (`auth_url`, `token_url`, `revoke_url`, `redirect_url`, `api_url`).
    pub fn new(text: ProviderText<'_>, client_secret: SecretString) -> Result<Self, &'static str> {
        let oauth = OAuthApp::new(
            text.oauth_client,
            client_secret,
            [text.auth_url, text.token_url, text.redirect_url],
            text.revoke_url,
        )?;
        let api = text.api_url.trim();
        if !(api.starts_with("https://") || api.starts_with("http://")) {
            return Err("api_url");
        }
        Ok(Self {
            oauth: Arc::new(oauth),
            api_base: api.to_owned(),
        })
    }
}

/// What [`crate::App`] opens with. `Debug` shows database URLs only up to
/// their scheme (they may carry passwords) and no key.
#[derive(Clone)]
pub struct Config {
    /// Folder for embedded data.
    pub data_dir: PathBuf,
    /// Database URL per region.
    pub databases: BTreeMap<Region, String>,
    /// The region new tenants are created in.
    pub default_region: Region,
    /// The region holding the tenant directory.
    pub directory_region: Region,
    /// Connections per pool.
    pub max_connections: u32,
    /// Where the tables live in PostgreSQL databases.
    pub postgres_placement: PgPlacement,
    /// The key store's database URL (tenants' wrapped data keys, apart
    /// from every data database so no backup of the data holds one);
    /// `None` keeps each key in its tenant's data database.
    pub key_store: Option<String>,
    /// Where master keys come from.
    pub keys: KeySource,
    /// The primary master key version, if set (else the highest).
    pub primary_key: Option<u32>,
    /// argon2id parameters.
    pub argon2: Argon2Params,
    /// Password policy.
    pub password_policy: PasswordPolicy,
    /// Hashes at once.
    pub max_concurrent_hashes: usize,
    /// Sign-in throttling and sessions.
    pub auth: AuthSettings,
    /// Calendar sync.
    pub calendars: CalendarSettings,
    /// Backups `serve` makes on a schedule; `None`: none.
    pub backups: Option<crate::backup::BackupSchedule>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let databases: BTreeMap<&str, &str> = self
            .databases
            .iter()
            .map(|(region, url)| (region.as_str(), url.split(':').next().unwrap_or("?")))
            .collect();
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("databases", &databases)
            .field("default_region", &self.default_region)
            .field("keys", &self.keys)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Everything in `data_dir`, as `bookwarden serve` runs with no
    /// configuration: one SQLite file (`bookwarden.db`) for region
    /// `local` ([`Region::local`]) and a development master key (`master.key`,
    /// made on first open). For tests and trying things out; production
    /// supplies its own keys ([`KeySource::Inline`] or
    /// [`KeySource::File`]).
    pub fn embedded(data_dir: PathBuf) -> Self {
        let local = Region::local();
        let url = format!(
            "sqlite://{}?mode=rwc",
            data_dir.join("bookwarden.db").display()
        );
        Self {
            databases: BTreeMap::from([(local.clone(), url)]),
            key_store: Some(Self::embedded_key_store(&data_dir)),
            default_region: local.clone(),
            directory_region: local,
            max_connections: 16,
            postgres_placement: PgPlacement::default(),
            keys: KeySource::Development(data_dir.join("master.key")),
            primary_key: None,
            argon2: ARGON2_DEFAULT,
            password_policy: PasswordPolicy::NIST,
            max_concurrent_hashes: std::thread::available_parallelism()
                .map_or(2, std::num::NonZero::get),
            auth: AuthSettings::default(),
            calendars: CalendarSettings::default(),
            backups: None,
            data_dir,
        }
    }

    /// The embedded key store: `keys.db` in the data folder.
    pub fn embedded_key_store(data_dir: &std::path::Path) -> String {
        format!("sqlite://{}?mode=rwc", data_dir.join("keys.db").display())
    }

    /// Whether the data folder is in use (an embedded SQLite database, key
    /// store or the development master key lives there).
    pub fn uses_data_dir(&self) -> bool {
        matches!(self.keys, KeySource::Development(_))
            || self
                .databases
                .values()
                .chain(&self.key_store)
                .any(|url| url.starts_with("sqlite:"))
    }
}
