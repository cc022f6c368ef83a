//! The server's configuration: built-in defaults that run on an embedded
//! SQLite file with no setup, then a TOML file (`--config`), then
//! `BOOKWARDEN_*` environment variables, then command-line flags, each
//! overriding the one before. Every value is checked here, once, into typed
//! settings; a bad value is refused with the name of the setting.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bookwarden_crypto::password::{ARGON2_DEFAULT, Argon2Params, PasswordPolicy};
use bookwarden_domain::tenant::Region;
use serde::Deserialize;

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

fn invalid(setting: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting: setting.to_owned(),
        reason: reason.into(),
    }
}

/// The configuration file, as written. Every key is optional; unknown keys
/// are refused so a typo does not silently leave a default in place. No
/// `Debug`: it may hold master keys and database passwords.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Address to listen on.
    pub listen: Option<String>,
    /// Folder for the embedded database and the development master key.
    pub data_dir: Option<PathBuf>,
    /// The region new tenants are created in.
    pub default_region: Option<String>,
    /// The region whose database holds the tenant directory.
    pub directory_region: Option<String>,
    /// Database URL per region (`sqlite://...` or `postgres://...`).
    #[serde(default)]
    pub databases: BTreeMap<String, String>,
    /// Connections per database pool.
    pub max_connections: Option<u32>,
    /// Master keys as `VERSION:BASE64` entries.
    pub master_keys: Option<Vec<String>>,
    /// A file holding master keys, one `VERSION:BASE64` per line.
    pub master_keys_file: Option<PathBuf>,
    /// The master key version that wraps new data keys.
    pub primary_key: Option<u32>,
    /// TLS certificate chain (PEM).
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// Whether a reverse proxy in front terminates HTTPS and sets
    /// `X-Forwarded-For` (see docs/OPERATIONS.md).
    pub behind_proxy: Option<bool>,
    /// argon2id memory in KiB.
    pub argon2_m_kib: Option<u32>,
    /// argon2id passes.
    pub argon2_t: Option<u32>,
    /// argon2id lanes.
    pub argon2_p: Option<u32>,
    /// Shortest password accepted.
    pub password_min_length: Option<usize>,
    /// Password hashes running at once.
    pub max_concurrent_hashes: Option<usize>,
    /// HTTP worker threads.
    pub workers: Option<usize>,
    /// Sign-in attempts per client address per minute.
    pub login_per_minute: Option<u32>,
    /// Sign-ups per client address per hour.
    pub signup_per_hour: Option<u32>,
    /// Public booking-flow requests per client address per minute.
    pub public_per_minute: Option<u32>,
    /// Failed sign-ins that lock an account.
    pub lockout_failures: Option<u32>,
    /// Minutes over which failed sign-ins count.
    pub lockout_window_minutes: Option<u32>,
    /// Minutes an account stays locked.
    pub lockout_minutes: Option<u32>,
    /// Minutes a session may sit unused.
    pub session_idle_minutes: Option<u32>,
    /// Hours a session lasts at most.
    pub session_absolute_hours: Option<u32>,
    /// `text` or `json`.
    pub log_format: Option<String>,
    /// A tracing filter such as `info` or `bookwarden=debug`.
    pub log_filter: Option<String>,
}

impl FileConfig {
    /// Reads a TOML file.
    ///
    /// # Errors
    /// [`ConfigError::Read`] or [`ConfigError::Parse`].
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|error: toml::de::Error| ConfigError::Parse {
            path: path.to_owned(),
            line: error.span().map_or(0, |span| {
                text.get(..span.start)
                    .map_or(0, |before| before.matches('\n').count() + 1)
            }),
            reason: error.message().to_owned(),
        })
    }

    /// Applies `BOOKWARDEN_*` variables from `vars` over the file's values.
    /// Database URLs are `BOOKWARDEN_DATABASE_<REGION>` (region in upper
    /// case, hyphens as underscores); master keys are a comma-separated
    /// `BOOKWARDEN_MASTER_KEYS`.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for a variable that is not a number where one
    /// is needed, or an unknown `BOOKWARDEN_` name.
    pub fn apply_env(
        &mut self,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(), ConfigError> {
        for (name, value) in vars {
            let Some(key) = name.strip_prefix("BOOKWARDEN_") else {
                continue;
            };
            let number = |setting: &str| {
                value
                    .trim()
                    .parse::<u32>()
                    .map_err(|e| invalid(setting, format!("{name} is not a whole number: {e}")))
            };
            match key {
                "LISTEN" => self.listen = Some(value.clone()),
                "DATA_DIR" => self.data_dir = Some(PathBuf::from(&value)),
                // Read elsewhere (the flag parser, the log filter).
                "CONFIG" | "LOG" => {}
                // Test harnesses' own settings, never the server's.
                _ if key.starts_with("TEST_") => {}
                "DEFAULT_REGION" => self.default_region = Some(value.clone()),
                "DIRECTORY_REGION" => self.directory_region = Some(value.clone()),
                "MAX_CONNECTIONS" => self.max_connections = Some(number("max_connections")?),
                "MASTER_KEYS" => {
                    // Replaces keys from the file, whichever way it gave them.
                    self.master_keys_file = None;
                    self.master_keys = Some(
                        value
                            .split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned)
                            .collect(),
                    );
                }
                "MASTER_KEYS_FILE" => {
                    self.master_keys = None;
                    self.master_keys_file = Some(PathBuf::from(&value));
                }
                "PRIMARY_KEY" => self.primary_key = Some(number("primary_key")?),
                "TLS_CERT" => self.tls_cert = Some(PathBuf::from(&value)),
                "TLS_KEY" => self.tls_key = Some(PathBuf::from(&value)),
                "BEHIND_PROXY" => {
                    self.behind_proxy = Some(match value.trim() {
                        "1" | "true" | "yes" => true,
                        "0" | "false" | "no" => false,
                        _ => {
                            return Err(invalid(
                                "behind_proxy",
                                format!("{name} is not true or false"),
                            ));
                        }
                    });
                }
                "ARGON2_M_KIB" => self.argon2_m_kib = Some(number("argon2_m_kib")?),
                "ARGON2_T" => self.argon2_t = Some(number("argon2_t")?),
                "ARGON2_P" => self.argon2_p = Some(number("argon2_p")?),
                "PASSWORD_MIN_LENGTH" => {
                    self.password_min_length = Some(number("password_min_length")? as usize);
                }
                "MAX_CONCURRENT_HASHES" => {
                    self.max_concurrent_hashes = Some(number("max_concurrent_hashes")? as usize);
                }
                "WORKERS" => self.workers = Some(number("workers")? as usize),
                "LOGIN_PER_MINUTE" => self.login_per_minute = Some(number("login_per_minute")?),
                "SIGNUP_PER_HOUR" => self.signup_per_hour = Some(number("signup_per_hour")?),
                "PUBLIC_PER_MINUTE" => self.public_per_minute = Some(number("public_per_minute")?),
                "LOCKOUT_FAILURES" => self.lockout_failures = Some(number("lockout_failures")?),
                "LOCKOUT_WINDOW_MINUTES" => {
                    self.lockout_window_minutes = Some(number("lockout_window_minutes")?);
                }
                "LOCKOUT_MINUTES" => self.lockout_minutes = Some(number("lockout_minutes")?),
                "SESSION_IDLE_MINUTES" => {
                    self.session_idle_minutes = Some(number("session_idle_minutes")?);
                }
                "SESSION_ABSOLUTE_HOURS" => {
                    self.session_absolute_hours = Some(number("session_absolute_hours")?);
                }
                "LOG_FORMAT" => self.log_format = Some(value.clone()),
                _ => {
                    if let Some(region) = key.strip_prefix("DATABASE_") {
                        let region = region.to_ascii_lowercase().replace('_', "-");
                        self.databases.insert(region, value.clone());
                    } else {
                        return Err(invalid(&name, "unknown BOOKWARDEN_ variable"));
                    }
                }
            }
        }
        Ok(())
    }
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
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

/// Per-address request budgets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// Sign-in (and invitation acceptance) attempts per address per minute.
    pub login_per_minute: u32,
    /// Sign-ups per address per hour.
    pub signup_per_hour: u32,
    /// Public booking-flow requests (services, slots, bookings, manage
    /// links) per address per minute.
    pub public_per_minute: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            login_per_minute: 20,
            signup_per_hour: 10,
            public_per_minute: 120,
        }
    }
}

/// The whole, checked configuration. `Debug` shows database URLs only up
/// to their scheme (they may carry passwords) and no key.
#[derive(Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
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
    /// Where master keys come from.
    pub keys: KeySource,
    /// The primary master key version, if set (else the highest).
    pub primary_key: Option<u32>,
    /// Certificate and key for built-in TLS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Behind a reverse proxy that terminates HTTPS.
    pub behind_proxy: bool,
    /// argon2id parameters.
    pub argon2: Argon2Params,
    /// Password policy.
    pub password_policy: PasswordPolicy,
    /// Hashes at once.
    pub max_concurrent_hashes: usize,
    /// HTTP worker threads.
    pub workers: usize,
    /// Sign-in throttling and sessions.
    pub auth: AuthSettings,
    /// Per-address budgets.
    pub rate_limits: RateLimits,
    /// Log line format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log_filter: String,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let databases: BTreeMap<&str, &str> = self
            .databases
            .iter()
            .map(|(region, url)| (region.as_str(), url.split(':').next().unwrap_or("?")))
            .collect();
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("databases", &databases)
            .field("default_region", &self.default_region)
            .field("keys", &self.keys)
            .field("tls", &self.tls.is_some())
            .field("behind_proxy", &self.behind_proxy)
            .field("auth", &self.auth)
            .field("rate_limits", &self.rate_limits)
            .finish_non_exhaustive()
    }
}

/// The default listening address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The default data folder.
pub const DEFAULT_DATA_DIR: &str = "./bookwarden-data";
/// The region of a single-machine deployment.
pub const DEFAULT_REGION: &str = "local";

fn positive(setting: &str, value: Option<u32>, default: u32) -> Result<u32, ConfigError> {
    match value {
        Some(0) => Err(invalid(setting, "must be at least 1")),
        Some(v) => Ok(v),
        None => Ok(default),
    }
}

fn minutes(value: u32) -> Duration {
    Duration::from_secs(u64::from(value) * 60)
}

impl Config {
    /// Checks a file configuration (with environment applied) into settings.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the first setting that is wrong.
    pub fn from_file_config(file: FileConfig) -> Result<Self, ConfigError> {
        let listen_text = file.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen: SocketAddr = listen_text.parse().map_err(|e| {
            invalid(
                "listen",
                format!("{listen_text:?} is not an address:port: {e}"),
            )
        })?;
        let data_dir = file
            .data_dir
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let region = |setting: &str, name: &str| {
            Region::parse(name).map_err(|e| invalid(setting, format!("{name:?}: {e}")))
        };
        let default_region = region(
            "default_region",
            file.default_region.as_deref().unwrap_or(DEFAULT_REGION),
        )?;
        let mut databases = BTreeMap::new();
        for (name, url) in &file.databases {
            let r = region("databases", name)?;
            if !(url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
            {
                return Err(invalid(
                    &format!("databases.{name}"),
                    "must be a sqlite: or postgres:// URL",
                ));
            }
            databases.insert(r, url.clone());
        }
        if databases.is_empty() {
            let file = data_dir.join("bookwarden.db");
            databases.insert(
                default_region.clone(),
                format!("sqlite://{}?mode=rwc", file.display()),
            );
        }
        if !databases.contains_key(&default_region) {
            return Err(invalid(
                "default_region",
                format!("no database is configured for region {default_region}"),
            ));
        }
        let directory_region = match file.directory_region.as_deref() {
            Some(name) => region("directory_region", name)?,
            None => default_region.clone(),
        };
        if !databases.contains_key(&directory_region) {
            return Err(invalid(
                "directory_region",
                format!("no database is configured for region {directory_region}"),
            ));
        }
        let keys = match (file.master_keys, file.master_keys_file) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "master_keys",
                    "give master_keys or master_keys_file, not both",
                ));
            }
            (Some(entries), None) if entries.is_empty() => {
                return Err(invalid("master_keys", "is empty"));
            }
            (Some(entries), None) => KeySource::Inline(entries),
            (None, Some(path)) => KeySource::File(path),
            (None, None) if databases.values().any(|url| url.starts_with("sqlite:")) => {
                KeySource::Development(data_dir.join("master.key"))
            }
            // A server on PostgreSQL is a real deployment: no silent
            // development key.
            (None, None) => {
                return Err(invalid(
                    "master_keys",
                    "a deployment without an embedded database must configure master_keys or \
                     master_keys_file (see docs/OPERATIONS.md)",
                ));
            }
        };
        let tls = match (file.tls_cert, file.tls_key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => return Err(invalid("tls_cert", "tls_cert and tls_key go together")),
        };
        let argon2 = Argon2Params::new(
            file.argon2_m_kib.unwrap_or(ARGON2_DEFAULT.m_cost_kib()),
            file.argon2_t.unwrap_or(ARGON2_DEFAULT.t_cost()),
            file.argon2_p.unwrap_or(ARGON2_DEFAULT.p_cost()),
        )
        .map_err(|e| invalid("argon2", e.to_string()))?;
        let password_policy = match file.password_min_length {
            Some(min) => PasswordPolicy::new(min)
                .map_err(|e| invalid("password_min_length", e.to_string()))?,
            None => PasswordPolicy::NIST,
        };
        let max_concurrent_hashes = match file.max_concurrent_hashes {
            Some(0) => return Err(invalid("max_concurrent_hashes", "must be at least 1")),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
        };
        // Handlers spend most of a request waiting for the database's own
        // threads; twice the CPUs keeps the cores busy meanwhile.
        let workers = match file.workers {
            Some(0) => return Err(invalid("workers", "must be at least 1")),
            Some(n) if n > 256 => return Err(invalid("workers", "at most 256")),
            Some(n) => n,
            None => std::thread::available_parallelism()
                .map_or(2, std::num::NonZero::get)
                .saturating_mul(2),
        };
        let defaults = AuthSettings::default();
        let auth = AuthSettings {
            lockout_failures: positive("lockout_failures", file.lockout_failures, 5)?,
            lockout_window: minutes(positive(
                "lockout_window_minutes",
                file.lockout_window_minutes,
                15,
            )?),
            lockout: minutes(positive("lockout_minutes", file.lockout_minutes, 15)?),
            session_idle: minutes(positive(
                "session_idle_minutes",
                file.session_idle_minutes,
                30,
            )?),
            session_absolute: Duration::from_secs(
                u64::from(positive(
                    "session_absolute_hours",
                    file.session_absolute_hours,
                    12,
                )?) * 3600,
            ),
            invitation_ttl: defaults.invitation_ttl,
            reset_ttl: defaults.reset_ttl,
        };
        if auth.session_idle > auth.session_absolute {
            return Err(invalid(
                "session_idle_minutes",
                "is longer than session_absolute_hours",
            ));
        }
        let limits = RateLimits::default();
        let rate_limits = RateLimits {
            login_per_minute: positive(
                "login_per_minute",
                file.login_per_minute,
                limits.login_per_minute,
            )?,
            signup_per_hour: positive(
                "signup_per_hour",
                file.signup_per_hour,
                limits.signup_per_hour,
            )?,
            public_per_minute: positive(
                "public_per_minute",
                file.public_per_minute,
                limits.public_per_minute,
            )?,
        };
        let log_format = match file.log_format.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(invalid(
                    "log_format",
                    format!("{other:?} is not text or json"),
                ));
            }
        };
        Ok(Self {
            listen,
            data_dir,
            databases,
            default_region,
            directory_region,
            max_connections: positive("max_connections", file.max_connections, 16)?,
            keys,
            primary_key: file.primary_key,
            tls,
            behind_proxy: file.behind_proxy.unwrap_or(false),
            argon2,
            password_policy,
            max_concurrent_hashes,
            workers,
            auth,
            rate_limits,
            log_format,
            log_filter: file.log_filter.unwrap_or_else(|| "info".to_owned()),
        })
    }

    /// Whether the data folder is in use (an embedded SQLite database or the
    /// development master key lives there).
    pub fn uses_data_dir(&self) -> bool {
        matches!(self.keys, KeySource::Development(_))
            || self
                .databases
                .values()
                .any(|url| url.starts_with("sqlite:"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn defaults_run_on_sqlite_in_the_data_folder_with_a_development_key() {
        let config = Config::from_file_config(FileConfig::default()).unwrap();
        assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
        let url = config.databases.values().next().unwrap();
        assert!(
            url.starts_with("sqlite://./bookwarden-data/bookwarden.db"),
            "{url}"
        );
        assert!(matches!(config.keys, KeySource::Development(_)));
        assert_eq!(config.log_format, LogFormat::Text);
    }

    #[test]
    fn environment_overrides_the_file_and_bad_values_name_their_setting() {
        let mut file: FileConfig =
            toml::from_str("listen = \"127.0.0.1:1\"\nlockout_failures = 3").unwrap();
        file.apply_env([
            ("BOOKWARDEN_LISTEN".to_owned(), "0.0.0.0:9000".to_owned()),
            (
                "BOOKWARDEN_DATABASE_EU_WEST".to_owned(),
                "postgres://app@db/eu".to_owned(),
            ),
            ("BOOKWARDEN_DEFAULT_REGION".to_owned(), "eu-west".to_owned()),
            (
                "BOOKWARDEN_MASTER_KEYS".to_owned(),
                "1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_owned(),
            ),
            ("PATH".to_owned(), "/bin".to_owned()),
        ])
        .unwrap();
        let config = Config::from_file_config(file).unwrap();
        assert_eq!(config.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(config.auth.lockout_failures, 3);
        assert_eq!(config.default_region.as_str(), "eu-west");
        assert!(matches!(config.keys, KeySource::Inline(_)));
        // PostgreSQL without keys is refused, not given a development key.
        let mut no_keys = FileConfig::default();
        no_keys
            .apply_env([(
                "BOOKWARDEN_DATABASE_LOCAL".to_owned(),
                "postgres://app@db/x".to_owned(),
            )])
            .unwrap();
        let err = Config::from_file_config(no_keys).err().unwrap();
        assert!(err.to_string().contains("master_keys"), "{err}");
        let mut bad = FileConfig::default();
        let err = bad
            .apply_env([("BOOKWARDEN_LOCKOUT_FAILURES".to_owned(), "many".to_owned())])
            .unwrap_err();
        assert!(err.to_string().contains("lockout_failures"), "{err}");
        let err = FileConfig::default()
            .apply_env([("BOOKWARDEN_LISTNE".to_owned(), "x".to_owned())])
            .unwrap_err();
        assert!(err.to_string().contains("BOOKWARDEN_LISTNE"), "{err}");
        let unknown = toml::from_str::<FileConfig>("lisen = \"x\"");
        assert!(unknown.is_err(), "unknown keys are refused");
        FileConfig::default()
            .apply_env([("BOOKWARDEN_TEST_POSTGRES".to_owned(), "x".to_owned())])
            .unwrap();
        let weak = FileConfig {
            argon2_m_kib: Some(1024),
            ..FileConfig::default()
        };
        let err = Config::from_file_config(weak).unwrap_err();
        assert!(err.to_string().contains("argon2"), "{err}");
    }
}

#[cfg(test)]
mod workers {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn workers_default_to_twice_the_cpus_and_refuse_zero() {
        let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let config = Config::from_file_config(FileConfig::default()).unwrap();
        assert_eq!(config.workers, cpus * 2);
        let mut file = FileConfig::default();
        file.apply_env([("BOOKWARDEN_WORKERS".to_owned(), "3".to_owned())])
            .unwrap();
        assert_eq!(Config::from_file_config(file).unwrap().workers, 3);
        for bad in ["0", "257"] {
            let mut file = FileConfig::default();
            file.apply_env([("BOOKWARDEN_WORKERS".to_owned(), bad.to_owned())])
                .unwrap();
            let err = Config::from_file_config(file).unwrap_err();
            assert!(err.to_string().contains("workers"), "{bad}: {err}");
        }
    }
}

#[cfg(test)]
mod secrecy {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn p9_configuration_never_shows_keys_or_database_passwords() {
        let secret_key = "1:c2VjcmV0IGtleSBtYXRlcmlhbCBmb3IgdGhlIHRlc3QhIQ==";
        let mut file: FileConfig = toml::from_str(&format!(
            "master_keys = [\"{secret_key}\"]\n[databases]\nlocal = \"postgres://app:hunter2@db/x\"\n"
        ))
        .unwrap();
        file.apply_env([]).unwrap();
        let config = Config::from_file_config(file).unwrap();
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("c2VjcmV0"),
            "{shown}"
        );
        let dir = std::env::temp_dir().join(format!("bw-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.toml");
        std::fs::write(
            &path,
            format!("listen = \"x\"\nmaster_keys = {secret_key}\n"),
        )
        .unwrap();
        let error = FileConfig::read(&path).err().unwrap().to_string();
        assert!(error.contains("line 2"), "{error}");
        assert!(
            !error.contains("c2VjcmV0"),
            "the offending line is not repeated: {error}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
