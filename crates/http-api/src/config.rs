//! The server's configuration: built-in defaults that run on an embedded
//! SQLite file with no setup, then a TOML file (`--config`), then
//! `BOOKWARDEN_*` environment variables, then command-line flags, each
//! overriding the one before. Every value is checked here, once, into typed
//! settings; a bad value is refused with the name of the setting. What the
//! use cases open with is [`bookwarden_app::Config`] (the `app` part);
//! the rest is the server's own: address, TLS, workers, limits and logs.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use bookwarden_app::config::ConfigError;
use bookwarden_app::config::{
    ARGON2_DEFAULT, Argon2Params, AuthSettings, KeySource, PasswordPolicy, PgPlacement,
};
use bookwarden_domain::tenant::Region;
use serde::Deserialize;

/// A parser's message with every quoted value masked: for a value of the
/// wrong type the parser quotes it (`invalid type: string "1:c2Vj...",
/// expected a sequence`), and the value may be a master key or a database
/// URL with its password. Key names stay: the parser puts them in
/// backticks.
fn without_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        match (c, quoted) {
            ('"', false) => {
                quoted = true;
                out.push_str("\"…\"");
            }
            ('"', true) => quoted = false,
            (_, true) => {}
            (c, false) => out.push(c),
        }
    }
    out
}

/// A calendar provider's OAuth app, when its client id and secret are
/// set (both, or neither), with the redirect URL and its endpoints
/// (`endpoints`: the settings' values, in the order of `defaults`).
fn oauth_provider(
    redirect: Option<&str>,
    name: &str,
    (id, secret): (Option<&str>, Option<&str>),
    endpoints: &[Option<&str>],
    defaults: &[&'static str],
) -> Result<Option<bookwarden_app::config::CalendarProvider>, ConfigError> {
    let (id, secret) = match (id, secret) {
        (None, None) => return Ok(None),
        (Some(id), Some(secret)) if !id.trim().is_empty() && !secret.trim().is_empty() => {
            (id, secret)
        }
        _ => {
            return Err(invalid(
                &format!("{name}_client_secret"),
                format!("{name}_client_id and {name}_client_secret are set together"),
            ));
        }
    };
    let redirect_url = redirect.ok_or_else(|| {
        invalid(
            "calendar_oauth_redirect_url",
            format!("is needed to enable {name} calendars"),
        )
    })?;
    let at = |i: usize| {
        endpoints
            .get(i)
            .copied()
            .flatten()
            .or_else(|| defaults.get(i).copied())
            .unwrap_or_default()
    };
    let text = bookwarden_app::config::ProviderText {
        oauth_client: id,
        auth_url: at(0),
        token_url: at(1),
        api_url: at(2),
        revoke_url: (defaults.len() > 3).then(|| at(3)),
        redirect_url,
    };
    bookwarden_app::config::CalendarProvider::new(
        text,
        bookwarden_app::SecretString::new(secret.trim().to_owned()),
    )
    .map(Some)
    .map_err(|field| {
        let setting = if field == "redirect_url" {
            "calendar_oauth_redirect_url".to_owned()
        } else {
            format!("{name}_{field}")
        };
        invalid(&setting, "is not an http(s) URL")
    })
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
    /// The key store's database URL.
    pub key_store: Option<String>,
    /// Connections per database pool.
    pub max_connections: Option<u32>,
    /// PostgreSQL schema of the store's tables.
    pub postgres_schema: Option<String>,
    /// PostgreSQL table recording the store's migrations.
    pub postgres_migrations_table: Option<String>,
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
    /// Largest header section of a request, in bytes.
    pub max_header_bytes: Option<u32>,
    /// Longest request target (path and query), in bytes.
    pub max_uri_bytes: Option<u32>,
    /// Largest request body, in bytes.
    pub max_body_bytes: Option<u32>,
    /// Seconds a client has to send a request's head.
    pub request_timeout_seconds: Option<u32>,
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
    /// Let calendar URLs point at loopback (tests and local development).
    pub calendar_allow_loopback: Option<bool>,
    /// Calendar connections one process syncs at once.
    pub calendar_max_concurrent_syncs: Option<usize>,
    /// A PEM file of extra certificate authorities calendar requests trust (tests).
    pub calendar_extra_ca_file: Option<PathBuf>,
    /// Where Google and Microsoft send the browser back after consent.
    pub calendar_oauth_redirect_url: Option<String>,
    /// Where `serve` writes scheduled backups of the data.
    pub backup_dir: Option<PathBuf>,
    /// Where `serve` writes scheduled backups of the key store.
    pub backup_key_store_dir: Option<PathBuf>,
    /// Hours between scheduled backups.
    pub backup_every_hours: Option<u32>,
    /// Scheduled backups of each kind kept.
    pub backup_keep: Option<u32>,
    /// Hours after which a missing good backup fails readiness.
    pub backup_max_age_hours: Option<u32>,
    /// Google OAuth client id.
    pub google_client_id: Option<String>,
    /// Google OAuth client secret.
    pub google_client_secret: Option<String>,
    /// Google's authorization endpoint.
    pub google_auth_url: Option<String>,
    /// Google's token endpoint.
    pub google_token_url: Option<String>,
    /// Google's revocation endpoint.
    pub google_revoke_url: Option<String>,
    /// Google Calendar API root.
    pub google_api_url: Option<String>,
    /// Microsoft identity platform application (client) id.
    pub microsoft_client_id: Option<String>,
    /// Microsoft client secret.
    pub microsoft_client_secret: Option<String>,
    /// Microsoft's authorization endpoint.
    pub microsoft_auth_url: Option<String>,
    /// Microsoft's token endpoint.
    pub microsoft_token_url: Option<String>,
    /// Microsoft Graph API root.
    pub microsoft_api_url: Option<String>,
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
            reason: without_values(error.message()),
        })
    }

    /// Applies `BOOKWARDEN_*` variables from `vars` over the file's values,
    /// each through its entry in [`SETTINGS`]. Database URLs are
    /// `BOOKWARDEN_DATABASE_<REGION>` (region in upper case, hyphens as
    /// underscores); master keys are a comma-separated
    /// `BOOKWARDEN_MASTER_KEYS`, which replaces a `master_keys_file` and the
    /// other way round. `BOOKWARDEN_CONFIG` (read by the flag parser) and
    /// `BOOKWARDEN_TEST_*` (the test harnesses' own) are passed over.
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
            if key == "CONFIG" || key.starts_with("TEST_") {
                continue;
            }
            let setting = setting_for_env(&name)
                .ok_or_else(|| invalid(&name, "unknown BOOKWARDEN_ variable"))?;
            (setting.apply)(
                self,
                &EnvValue {
                    name: &name,
                    value: &value,
                    setting: setting.key,
                },
            )?;
        }
        Ok(())
    }
}

/// The kind of value a setting takes: how its environment variable is read
/// and how the settings table shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// Free text: an address, a region name, a filter.
    Text,
    /// A file or folder.
    Path,
    /// A whole number.
    Number,
    /// `true`/`false`, `1`/`0` or `yes`/`no`.
    Switch,
    /// A list: a TOML array, or comma-separated in the variable.
    List,
    /// One value per region: a `[databases]` table in the file, one
    /// `BOOKWARDEN_DATABASE_<REGION>` variable per region.
    PerRegion,
}

/// A setting's default, as documented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultValue {
    /// A fixed value, written as it would be in the variable.
    Value(&'static str),
    /// A fixed value and a note shown after it.
    ValueWithNote(&'static str, &'static str),
    /// No fixed value; the words (Markdown) say what applies.
    Described(&'static str),
}

impl DefaultValue {
    /// The fixed value, if there is one.
    pub fn value(&self) -> Option<&'static str> {
        match self {
            Self::Value(value) | Self::ValueWithNote(value, _) => Some(value),
            Self::Described(_) => None,
        }
    }
}

/// One `BOOKWARDEN_*` variable being applied to a setting.
struct EnvValue<'a> {
    /// The variable's whole name.
    name: &'a str,
    /// Its value.
    value: &'a str,
    /// The setting's TOML key, for errors.
    setting: &'static str,
}

impl EnvValue<'_> {
    fn text(&self) -> Option<String> {
        Some(self.value.to_owned())
    }

    fn path(&self) -> Option<PathBuf> {
        Some(PathBuf::from(self.value))
    }

    fn number<T>(&self) -> Result<Option<T>, ConfigError>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        // The parser's reason never repeats the value.
        self.value.trim().parse::<T>().map(Some).map_err(|e| {
            invalid(
                self.setting,
                format!("{} is not a whole number: {e}", self.name),
            )
        })
    }

    fn switch(&self) -> Result<Option<bool>, ConfigError> {
        match self.value.trim() {
            "1" | "true" | "yes" => Ok(Some(true)),
            "0" | "false" | "no" => Ok(Some(false)),
            _ => Err(invalid(
                self.setting,
                format!("{} is not true or false", self.name),
            )),
        }
    }

    fn list(&self) -> Vec<String> {
        self.value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// Applies one variable's value to the file configuration.
type Apply = fn(&mut FileConfig, &EnvValue<'_>) -> Result<(), ConfigError>;

/// One setting: its TOML key, its variable, its default and what it
/// means. [`SETTINGS`] lists them all; the variables are read through it
/// and the table in docs/OPERATIONS.md is rendered from it.
#[derive(Clone, Copy)]
pub struct Setting {
    /// The key in the TOML file (for [`Kind::PerRegion`], the table's name).
    pub key: &'static str,
    /// The environment variable (for [`Kind::PerRegion`], ending in
    /// `<REGION>`).
    pub env: &'static str,
    /// What kind of value it takes.
    pub kind: Kind,
    /// What applies when it is not set.
    pub default: DefaultValue,
    /// What it means, in Markdown on one line.
    pub meaning: &'static str,
    apply: Apply,
}

impl std::fmt::Debug for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Setting")
            .field("key", &self.key)
            .field("env", &self.env)
            .field("kind", &self.kind)
            .field("default", &self.default)
            .finish_non_exhaustive()
    }
}

impl Setting {
    /// Whether the environment variable `name` sets this setting.
    pub fn reads(&self, name: &str) -> bool {
        match self.kind {
            Kind::PerRegion => self
                .env
                .strip_suffix("<REGION>")
                .and_then(|prefix| name.strip_prefix(prefix))
                .is_some_and(|region| !region.is_empty()),
            _ => self.env == name,
        }
    }

    fn key_cell(&self) -> String {
        match self.kind {
            Kind::PerRegion => format!("`[{}]` `<region> = \"URL\"`", self.key),
            _ => format!("`{}`", self.key),
        }
    }

    fn env_cell(&self) -> String {
        match self.kind {
            Kind::List => format!("`{}` (comma-separated)", self.env),
            Kind::Switch => format!("`{}` (`true`/`false`, `1`/`0`, `yes`/`no`)", self.env),
            _ => format!("`{}`", self.env),
        }
    }

    fn default_cell(&self) -> String {
        match self.default {
            DefaultValue::Value(value) => format!("`{value}`"),
            DefaultValue::ValueWithNote(value, note) => format!("`{value}` ({note})"),
            DefaultValue::Described(words) => words.to_owned(),
        }
    }
}

/// Bounds of a whole-number setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// The default.
    pub default: u32,
    /// The smallest value accepted.
    pub min: u32,
    /// The largest value accepted.
    pub max: u32,
}

impl Bounds {
    fn check(self, setting: &str, value: Option<u32>) -> Result<u32, ConfigError> {
        match value {
            None => Ok(self.default),
            Some(v) if (self.min..=self.max).contains(&v) => Ok(v),
            Some(_) => Err(invalid(
                setting,
                format!("must be between {} and {}", self.min, self.max),
            )),
        }
    }
}

/// `max_header_bytes`: the header section of one request.
pub const MAX_HEADER_BYTES: Bounds = Bounds {
    default: 16_384,
    min: 1024,
    max: 65_536,
};
/// `max_uri_bytes`: the request target (path and query). At most 32 KiB:
/// the HTTP library refuses a target near 64 KiB with a bare 400 first.
pub const MAX_URI_BYTES: Bounds = Bounds {
    default: 8192,
    min: 256,
    max: 32_768,
};
/// `max_body_bytes`: one request body.
pub const MAX_BODY_BYTES: Bounds = Bounds {
    default: 65_536,
    min: 1024,
    max: 1_048_576,
};
/// `request_timeout_seconds`: time to send a request's head.
pub const REQUEST_TIMEOUT_SECONDS: Bounds = Bounds {
    default: 10,
    min: 1,
    max: 60,
};

/// Every setting, in the order the documentation lists them.
pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "listen",
        env: "BOOKWARDEN_LISTEN",
        kind: Kind::Text,
        default: DefaultValue::Value(DEFAULT_LISTEN),
        meaning: "Address and port to listen on, as `IP:PORT` (a host name is refused). Flag \
                  `--listen`.",
        apply: |file, var| {
            file.listen = var.text();
            Ok(())
        },
    },
    Setting {
        key: "data_dir",
        env: "BOOKWARDEN_DATA_DIR",
        kind: Kind::Path,
        default: DefaultValue::Value(DEFAULT_DATA_DIR),
        meaning: "Folder for the embedded SQLite database and the development key; created \
                  (0700) only when one of them is in use. Flag `--data-dir`.",
        apply: |file, var| {
            file.data_dir = var.path();
            Ok(())
        },
    },
    Setting {
        key: "databases",
        env: "BOOKWARDEN_DATABASE_<REGION>",
        kind: Kind::PerRegion,
        default: DefaultValue::Described(
            "`sqlite://<data_dir>/bookwarden.db?mode=rwc` for `default_region`",
        ),
        meaning: "One database URL per region: `sqlite:...`, `postgres://...` or \
                  `postgresql://...`. In the variable the region is upper case with `_` for \
                  `-`: `BOOKWARDEN_DATABASE_EU_CENTRAL` sets `eu-central`. A variable adds a \
                  region or replaces the file's URL for it. The SQLite default applies only \
                  when no database is configured at all.",
        apply: |file, var| {
            let region = var
                .name
                .strip_prefix("BOOKWARDEN_DATABASE_")
                .unwrap_or_default()
                .to_ascii_lowercase()
                .replace('_', "-");
            file.databases.insert(region, var.value.to_owned());
            Ok(())
        },
    },
    Setting {
        key: "default_region",
        env: "BOOKWARDEN_DEFAULT_REGION",
        kind: Kind::Text,
        default: DefaultValue::Value(DEFAULT_REGION),
        meaning: "Region new tenants are created in (sign-up and `tenant create`). Must have a \
                  database. Region names are 2 to 32 lowercase letters, digits and single \
                  inner hyphens.",
        apply: |file, var| {
            file.default_region = var.text();
            Ok(())
        },
    },
    Setting {
        key: "directory_region",
        env: "BOOKWARDEN_DIRECTORY_REGION",
        kind: Kind::Text,
        default: DefaultValue::Described("`default_region`"),
        meaning: "Region whose database holds the tenant directory (slug to tenant and region) \
                  and the credential directory (token digest to tenant). Every sign-in and \
                  every authenticated request looks there. Must have a database.",
        apply: |file, var| {
            file.directory_region = var.text();
            Ok(())
        },
    },
    Setting {
        key: "key_store",
        env: "BOOKWARDEN_KEY_STORE",
        kind: Kind::Text,
        default: DefaultValue::Described(
            "`sqlite://<data_dir>/keys.db?mode=rwc` when the directory region's database is \
             SQLite; otherwise none",
        ),
        meaning: "Database of its own for the businesses' data keys (each wrapped under a \
                  master key): `sqlite:...` or `postgres://...`, never one of `databases`. \
                  Kept apart so no backup of the data holds a key, and erasing a business \
                  destroys its key for every backup too. Without one, keys stay in the data \
                  databases and the server warns at start. Back it up apart from the data, \
                  on a shorter retention (docs/OPERATIONS.md).",
        apply: |file, var| {
            file.key_store = var.text();
            Ok(())
        },
    },
    Setting {
        key: "max_connections",
        env: "BOOKWARDEN_MAX_CONNECTIONS",
        kind: Kind::Number,
        default: DefaultValue::Value("16"),
        meaning: "Connections per database pool, that is per region per process. At least 1.",
        apply: |file, var| {
            file.max_connections = var.number()?;
            Ok(())
        },
    },
    Setting {
        key: "postgres_schema",
        env: "BOOKWARDEN_POSTGRES_SCHEMA",
        kind: Kind::Text,
        default: DefaultValue::Value("public"),
        meaning: "PostgreSQL schema that holds Bookwarden's tables, functions and migration \
                  record, in every region's database; `migrate` creates it. Set it (for \
                  example `bookwarden`) to share a database with other software: the tables \
                  then keep out of `public`, and `migrate --app-role` grants the application \
                  role Bookwarden's own tables only. A plain lowercase identifier. Every \
                  command and node must use the same one; SQLite ignores it.",
        apply: |file, var| {
            file.postgres_schema = var.text();
            Ok(())
        },
    },
    Setting {
        key: "postgres_migrations_table",
        env: "BOOKWARDEN_POSTGRES_MIGRATIONS_TABLE",
        kind: Kind::Text,
        default: DefaultValue::Value("seaql_migrations"),
        meaning: "Table (in `postgres_schema`) recording which of Bookwarden's migrations ran, \
                  so it cannot clash with another application's record. A plain lowercase \
                  identifier; never change it on a migrated database.",
        apply: |file, var| {
            file.postgres_migrations_table = var.text();
            Ok(())
        },
    },
    Setting {
        key: "master_keys",
        env: "BOOKWARDEN_MASTER_KEYS",
        kind: Kind::List,
        default: DefaultValue::Described("none"),
        meaning: "Master keys as `VERSION:BASE64` entries.",
        apply: |file, var| {
            // Replaces keys from the file, whichever way it gave them.
            file.master_keys_file = None;
            file.master_keys = Some(var.list());
            Ok(())
        },
    },
    Setting {
        key: "master_keys_file",
        env: "BOOKWARDEN_MASTER_KEYS_FILE",
        kind: Kind::Path,
        default: DefaultValue::Described("none"),
        meaning: "A file with one `VERSION:BASE64` per line; blank lines and lines starting \
                  with `#` are skipped. With neither setting, the development key \
                  `<data_dir>/master.key` is used, but only when a database is embedded \
                  SQLite: a deployment on PostgreSQL alone refuses to start without configured \
                  keys.",
        apply: |file, var| {
            file.master_keys = None;
            file.master_keys_file = var.path();
            Ok(())
        },
    },
    Setting {
        key: "primary_key",
        env: "BOOKWARDEN_PRIMARY_KEY",
        kind: Kind::Number,
        default: DefaultValue::Described("highest configured version"),
        meaning: "The master key version that wraps new and rewrapped tenant data keys. Must \
                  be one of the configured keys.",
        apply: |file, var| {
            file.primary_key = var.number()?;
            Ok(())
        },
    },
    Setting {
        key: "tls_cert",
        env: "BOOKWARDEN_TLS_CERT",
        kind: Kind::Path,
        default: DefaultValue::Described("none"),
        meaning: "PEM certificate chain for built-in TLS.",
        apply: |file, var| {
            file.tls_cert = var.path();
            Ok(())
        },
    },
    Setting {
        key: "tls_key",
        env: "BOOKWARDEN_TLS_KEY",
        kind: Kind::Path,
        default: DefaultValue::Described("none"),
        meaning: "PEM private key for built-in TLS (PKCS#8, RSA or SEC1).",
        apply: |file, var| {
            file.tls_key = var.path();
            Ok(())
        },
    },
    Setting {
        key: "behind_proxy",
        env: "BOOKWARDEN_BEHIND_PROXY",
        kind: Kind::Switch,
        default: DefaultValue::Value("false"),
        meaning: "A reverse proxy terminates HTTPS and sets `X-Forwarded-For` (section 5).",
        apply: |file, var| {
            file.behind_proxy = var.switch()?;
            Ok(())
        },
    },
    Setting {
        key: "argon2_m_kib",
        env: "BOOKWARDEN_ARGON2_M_KIB",
        kind: Kind::Number,
        default: DefaultValue::ValueWithNote("19456", "19 MiB"),
        meaning: "argon2id memory per hash. May be raised (up to 2 GiB), never lowered.",
        apply: |file, var| {
            file.argon2_m_kib = var.number()?;
            Ok(())
        },
    },
    Setting {
        key: "argon2_t",
        env: "BOOKWARDEN_ARGON2_T",
        kind: Kind::Number,
        default: DefaultValue::Value("2"),
        meaning: "argon2id passes, 2 to 16.",
        apply: |file, var| {
            file.argon2_t = var.number()?;
            Ok(())
        },
    },
    Setting {
        key: "argon2_p",
        env: "BOOKWARDEN_ARGON2_P",
        kind: Kind::Number,
        default: DefaultValue::Value("1"),
        meaning: "argon2id lanes, 1 to 16.",
        apply: |file, var| {
            file.argon2_p = var.number()?;
            Ok(())
        },
    },
    Setting {
        key: "password_min_length",
        env: "BOOKWARDEN_PASSWORD_MIN_LENGTH",
        kind: Kind::Number,
        default: DefaultValue::Value("8"),
        meaning: "Shortest password accepted, 8 to 128 characters.",
        apply: |file, var| {
            file.password_min_length = var.number()?;
            Ok(())
        },
    },
    Setting {
        key: "max_concurrent_hashes",
        env: "BOOKWARDEN_MAX_CONCURRENT_HASHES",
        kind: Kind::Number,
        default: DefaultValue::Described("number of CPUs (2 if unknown)"),
        meaning: "Password hashes running at once per process. A request that waits more \
                  than 2 s for a slot gets `503 busy` with `Retry-After: 1`. Peak hashing \
                  memory is about this times `argon2_m_kib`.",
        apply: |file, var| {
            file.max_concurrent_hashes = var.number()?;
            Ok(())
        },
    },
    Setting {
        key: "workers",
        env: "BOOKWARDEN_WORKERS",
        kind: Kind::Number,
        default: DefaultValue::Described("twice the number of CPUs"),
        meaning: "HTTP worker threads, 1 to 256. Handlers mostly wait on the database's own \
                  threads, so more workers than cores keep the cores busy (on 2 cores, 4 \
                  books about 13% more than 2 and 8 fewer; docs/PERFORMANCE.md).",
        apply: |file, var| {
            file.workers = var.number()?;
            Ok(())
        },
    },
    Setting {
        key: "max_header_bytes",
        env: "BOOKWARDEN_MAX_HEADER_BYTES",
        kind: Kind::Number,
        default: DefaultValue::Value("16384"),
        meaning: "Largest header section of one request, in bytes, each header line counted \
                  as `name: value` and its line break; 1024 to 65536. More is answered `431 \
                  headers_too_large` (section 5, *Request limits*).",
        apply: |file, var| {
            file.max_header_bytes = var.number()?;
            Ok(())
        },
    },
    Setting {
        key: "max_uri_bytes",
        env: "BOOKWARDEN_MAX_URI_BYTES",
        kind: Kind::Number,
        default: DefaultValue::Value("8192"),
        meaning: "Longest request target (path and query), in bytes; 256 to 32768. Longer is \
                  answered `414 uri_too_long`.",
        apply: |file, var| {
            file.max_uri_bytes = var.number()?;
            Ok(())
        },
    },
    Setting {
        key: "max_body_bytes",
        env: "BOOKWARDEN_MAX_BODY_BYTES",
        kind: Kind::Number,
        default: DefaultValue::ValueWithNote("65536", "64 KiB"),
        meaning: "Largest request body, in bytes; 1024 to 1048576. More is answered `413 \
                  payload_too_large`. A reverse proxy's own limit (nginx \
                  `client_max_body_size`) should not be lower.",
        apply: |file, var| {
            file.max_body_bytes = var.number()?;
            Ok(())
        },
    },
    Setting {
        key: "request_timeout_seconds",
        env: "BOOKWARDEN_REQUEST_TIMEOUT_SECONDS",
        kind: Kind::Number,
        default: DefaultValue::Value("10"),
        meaning: "Seconds a client has, from connecting, to send the request line and headers \
                  of its first request; 1 to 60 (timed on a clock that advances every half \
                  second, so up to 0.5 s less). A slower one is answered `408` and the \
                  connection is closed.",
        apply: |file, var| {
            file.request_timeout_seconds = var.number()?;
            Ok(())
        },
    },
    Setting {
        key: "login_per_minute",
        env: "BOOKWARDEN_LOGIN_PER_MINUTE",
        kind: Kind::Number,
        default: DefaultValue::Value("20"),
        meaning: "Sign-in and invitation-acceptance attempts per client address per minute, \
                  per process.",
        apply: |file, var| {
            file.login_per_minute = var.number()?;
            Ok(())
        },
    },
    Setting {
        key: "signup_per_hour",
        env: "BOOKWARDEN_SIGNUP_PER_HOUR",
        kind: Kind::Number,
        default: DefaultValue::Value("10"),
        meaning: "Sign-ups per client address per hour, per process.",
        apply: |file, var| {
            file.signup_per_hour = var.number()?;
            Ok(())
        },
    },
    Setting {
        key: "public_per_minute",
        env: "BOOKWARDEN_PUBLIC_PER_MINUTE",
        kind: Kind::Number,
        default: DefaultValue::Value("120"),
        meaning: "Requests to the public booking endpoints (services, slots, booking, and the \
                  manage-link view, cancel, reschedule and calendar file) per client address \
                  per minute, per process; past it they are answered `429 rate_limited` with \
                  `Retry-After`. A load test from one address meets those 429s: raise this on \
                  the server under test (for example to `100000`), not on one facing the \
                  internet.",
        apply: |file, var| {
            file.public_per_minute = var.number()?;
            Ok(())
        },
    },
    Setting {
        key: "lockout_failures",
        env: "BOOKWARDEN_LOCKOUT_FAILURES",
        kind: Kind::Number,
        default: DefaultValue::Value("5"),
        meaning: "Failed sign-ins to one account (tenant and email) within the window that \
                  lock it.",
        apply: |file, var| {
            file.lockout_failures = var.number()?;
            Ok(())
        },
    },
    Setting {
        key: "lockout_window_minutes",
        env: "BOOKWARDEN_LOCKOUT_WINDOW_MINUTES",
        kind: Kind::Number,
        default: DefaultValue::Value("15"),
        meaning: "How far back failed sign-ins count.",
        apply: |file, var| {
            file.lockout_window_minutes = var.number()?;
            Ok(())
        },
    },
    Setting {
        key: "lockout_minutes",
        env: "BOOKWARDEN_LOCKOUT_MINUTES",
        kind: Kind::Number,
        default: DefaultValue::Value("15"),
        meaning: "How long a locked account stays locked.",
        apply: |file, var| {
            file.lockout_minutes = var.number()?;
            Ok(())
        },
    },
    Setting {
        key: "session_idle_minutes",
        env: "BOOKWARDEN_SESSION_IDLE_MINUTES",
        kind: Kind::Number,
        default: DefaultValue::Value("30"),
        meaning: "How long a session may sit unused. May not exceed `session_absolute_hours`.",
        apply: |file, var| {
            file.session_idle_minutes = var.number()?;
            Ok(())
        },
    },
    Setting {
        key: "session_absolute_hours",
        env: "BOOKWARDEN_SESSION_ABSOLUTE_HOURS",
        kind: Kind::Number,
        default: DefaultValue::Value("12"),
        meaning: "How long a session lasts at most.",
        apply: |file, var| {
            file.session_absolute_hours = var.number()?;
            Ok(())
        },
    },
    Setting {
        key: "calendar_allow_loopback",
        env: "BOOKWARDEN_CALENDAR_ALLOW_LOOPBACK",
        kind: Kind::Switch,
        default: DefaultValue::Value("false"),
        meaning: "Lets calendar feed and CalDAV addresses point at loopback (127.0.0.1, ::1), \
                  over plain http too. For tests and local development only: with it off, \
                  only public https addresses are fetched (section 9).",
        apply: |file, var| {
            file.calendar_allow_loopback = var.switch()?;
            Ok(())
        },
    },
    Setting {
        key: "calendar_max_concurrent_syncs",
        env: "BOOKWARDEN_CALENDAR_MAX_CONCURRENT_SYNCS",
        kind: Kind::Number,
        default: DefaultValue::Value("4"),
        meaning: "Calendar connections one process syncs at once, 1 to 64. Servers sharing a \
                  database split the work through per-connection leases.",
        apply: |file, var| {
            file.calendar_max_concurrent_syncs = var.number()?;
            Ok(())
        },
    },
    Setting {
        key: "calendar_extra_ca_file",
        env: "BOOKWARDEN_CALENDAR_EXTRA_CA_FILE",
        kind: Kind::Path,
        default: DefaultValue::Described("none"),
        meaning: "A PEM file of certificate authorities calendar requests trust besides the public ones. For tests whose fake providers serve https with their own authority; never needed in production.",
        apply: |file, var| {
            file.calendar_extra_ca_file = var.path();
            Ok(())
        },
    },
    Setting {
        key: "calendar_oauth_redirect_url",
        env: "BOOKWARDEN_CALENDAR_OAUTH_REDIRECT_URL",
        kind: Kind::Text,
        default: DefaultValue::Described("none"),
        meaning: "Where Google and Microsoft send a person's browser back after consent: your page that passes `code` and `state` to `POST /v1/calendar-connections/oauth/complete`. Register it with both providers (section 9). Needed to enable either.",
        apply: |file, var| {
            file.calendar_oauth_redirect_url = var.text();
            Ok(())
        },
    },
    Setting {
        key: "google_client_id",
        env: "BOOKWARDEN_GOOGLE_CLIENT_ID",
        kind: Kind::Text,
        default: DefaultValue::Described("none (Google off)"),
        meaning: "The OAuth client id of your Google Cloud app; with `google_client_secret` and `calendar_oauth_redirect_url` it enables Google calendars.",
        apply: |file, var| {
            file.google_client_id = var.text();
            Ok(())
        },
    },
    Setting {
        key: "google_client_secret",
        env: "BOOKWARDEN_GOOGLE_CLIENT_SECRET",
        kind: Kind::Text,
        default: DefaultValue::Described("none"),
        meaning: "The OAuth client secret of your Google Cloud app. Prefer the variable to the file.",
        apply: |file, var| {
            file.google_client_secret = var.text();
            Ok(())
        },
    },
    Setting {
        key: "google_auth_url",
        env: "BOOKWARDEN_GOOGLE_AUTH_URL",
        kind: Kind::Text,
        default: DefaultValue::Value("https://accounts.google.com/o/oauth2/v2/auth"),
        meaning: "Google's authorization endpoint.",
        apply: |file, var| {
            file.google_auth_url = var.text();
            Ok(())
        },
    },
    Setting {
        key: "google_token_url",
        env: "BOOKWARDEN_GOOGLE_TOKEN_URL",
        kind: Kind::Text,
        default: DefaultValue::Value("https://oauth2.googleapis.com/token"),
        meaning: "Google's token endpoint.",
        apply: |file, var| {
            file.google_token_url = var.text();
            Ok(())
        },
    },
    Setting {
        key: "google_revoke_url",
        env: "BOOKWARDEN_GOOGLE_REVOKE_URL",
        kind: Kind::Text,
        default: DefaultValue::Value("https://oauth2.googleapis.com/revoke"),
        meaning: "Google's revocation endpoint, called when a connection is disconnected.",
        apply: |file, var| {
            file.google_revoke_url = var.text();
            Ok(())
        },
    },
    Setting {
        key: "google_api_url",
        env: "BOOKWARDEN_GOOGLE_API_URL",
        kind: Kind::Text,
        default: DefaultValue::Value("https://www.googleapis.com/calendar/v3/"),
        meaning: "The Google Calendar API root.",
        apply: |file, var| {
            file.google_api_url = var.text();
            Ok(())
        },
    },
    Setting {
        key: "microsoft_client_id",
        env: "BOOKWARDEN_MICROSOFT_CLIENT_ID",
        kind: Kind::Text,
        default: DefaultValue::Described("none (Microsoft off)"),
        meaning: "The application (client) id of your Microsoft Entra app registration; with `microsoft_client_secret` and `calendar_oauth_redirect_url` it enables Microsoft calendars.",
        apply: |file, var| {
            file.microsoft_client_id = var.text();
            Ok(())
        },
    },
    Setting {
        key: "microsoft_client_secret",
        env: "BOOKWARDEN_MICROSOFT_CLIENT_SECRET",
        kind: Kind::Text,
        default: DefaultValue::Described("none"),
        meaning: "A client secret of your Microsoft app registration. Prefer the variable to the file.",
        apply: |file, var| {
            file.microsoft_client_secret = var.text();
            Ok(())
        },
    },
    Setting {
        key: "microsoft_auth_url",
        env: "BOOKWARDEN_MICROSOFT_AUTH_URL",
        kind: Kind::Text,
        default: DefaultValue::Value(
            "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
        ),
        meaning: "The Microsoft identity platform's authorization endpoint (`common` takes work, school and personal accounts; put your directory's id there to take only its accounts).",
        apply: |file, var| {
            file.microsoft_auth_url = var.text();
            Ok(())
        },
    },
    Setting {
        key: "microsoft_token_url",
        env: "BOOKWARDEN_MICROSOFT_TOKEN_URL",
        kind: Kind::Text,
        default: DefaultValue::Value("https://login.microsoftonline.com/common/oauth2/v2.0/token"),
        meaning: "The Microsoft identity platform's token endpoint.",
        apply: |file, var| {
            file.microsoft_token_url = var.text();
            Ok(())
        },
    },
    Setting {
        key: "microsoft_api_url",
        env: "BOOKWARDEN_MICROSOFT_API_URL",
        kind: Kind::Text,
        default: DefaultValue::Value("https://graph.microsoft.com/v1.0/"),
        meaning: "The Microsoft Graph API root.",
        apply: |file, var| {
            file.microsoft_api_url = var.text();
            Ok(())
        },
    },
    Setting {
        key: "backup_dir",
        env: "BOOKWARDEN_BACKUP_DIR",
        kind: Kind::Path,
        default: DefaultValue::Described("none (no scheduled backups)"),
        meaning: "A folder where `serve` writes an encrypted backup of every SQLite data database (as `bookwarden backup`) every `backup_every_hours`, the first at start, keeping the newest `backup_keep` (section 1, \"Backing up and restoring\").",
        apply: |file, var| {
            file.backup_dir = var.path();
            Ok(())
        },
    },
    Setting {
        key: "backup_key_store_dir",
        env: "BOOKWARDEN_BACKUP_KEY_STORE_DIR",
        kind: Kind::Path,
        default: DefaultValue::Described("none"),
        meaning: "A folder, apart from `backup_dir`, where the same schedule backs up the key store (an SQLite one). Keep it on other storage than the data's backups, and for less time.",
        apply: |file, var| {
            file.backup_key_store_dir = var.path();
            Ok(())
        },
    },
    Setting {
        key: "backup_every_hours",
        env: "BOOKWARDEN_BACKUP_EVERY_HOURS",
        kind: Kind::Number,
        default: DefaultValue::Value("24"),
        meaning: "Hours between scheduled backups, 1 to 168.",
        apply: |file, var| {
            file.backup_every_hours = var.number()?;
            Ok(())
        },
    },
    Setting {
        key: "backup_keep",
        env: "BOOKWARDEN_BACKUP_KEEP",
        kind: Kind::Number,
        default: DefaultValue::Value("7"),
        meaning: "Scheduled backups of each kind kept, 1 to 1000; older ones are removed after each good backup.",
        apply: |file, var| {
            file.backup_keep = var.number()?;
            Ok(())
        },
    },
    Setting {
        key: "backup_max_age_hours",
        env: "BOOKWARDEN_BACKUP_MAX_AGE_HOURS",
        kind: Kind::Number,
        default: DefaultValue::Described("`backup_every_hours` + 2"),
        meaning: "`/readyz` answers 503 once the last good scheduled backup (or, before the first, the start) is older than this many hours: the recovery point the schedule must meet. At least `backup_every_hours`.",
        apply: |file, var| {
            file.backup_max_age_hours = var.number()?;
            Ok(())
        },
    },
    Setting {
        key: "log_format",
        env: "BOOKWARDEN_LOG_FORMAT",
        kind: Kind::Text,
        default: DefaultValue::Value("text"),
        meaning: "`text` or `json`.",
        apply: |file, var| {
            file.log_format = var.text();
            Ok(())
        },
    },
    Setting {
        key: "log_filter",
        env: "BOOKWARDEN_LOG",
        kind: Kind::Text,
        default: DefaultValue::Value("info"),
        meaning: "A tracing filter such as `info`, `warn` or `info,bookwarden_app=debug`. \
                  `BOOKWARDEN_LOG` wins over the file; an invalid filter stops start-up with \
                  an error.",
        apply: |file, var| {
            file.log_filter = var.text();
            Ok(())
        },
    },
];

/// The setting an environment variable sets, if any.
pub fn setting_for_env(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|setting| setting.reads(name))
}

/// Every setting as a Markdown table (TOML key, environment variable,
/// default, meaning): the table in docs/OPERATIONS.md, which `bookwarden
/// settings` prints.
pub fn settings_table() -> String {
    let mut table = String::from(
        "| TOML key | Environment variable | Default | Meaning |\n|---|---|---|---|\n",
    );
    for setting in SETTINGS {
        table.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            setting.key_cell(),
            setting.env_cell(),
            setting.default_cell(),
            setting.meaning
        ));
    }
    table
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
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

/// What one request may send before it is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestLimits {
    /// Bytes of the header section, each line counted as `name: value` and
    /// its line break.
    pub max_header_bytes: usize,
    /// Bytes of the request target (path and query).
    pub max_uri_bytes: usize,
    /// Bytes of the body.
    pub max_body_bytes: usize,
    /// Time from connecting to the end of the first request's head.
    pub request_timeout: Duration,
}

fn bytes(value: u32) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            max_header_bytes: bytes(MAX_HEADER_BYTES.default),
            max_uri_bytes: bytes(MAX_URI_BYTES.default),
            max_body_bytes: bytes(MAX_BODY_BYTES.default),
            request_timeout: Duration::from_secs(u64::from(REQUEST_TIMEOUT_SECONDS.default)),
        }
    }
}

/// The whole, checked configuration: what the use cases open with, and
/// the server's own settings. `Debug` shows no key and no database
/// password (see [`bookwarden_app::Config`]).
#[derive(Clone)]
pub struct Config {
    /// What [`bookwarden_app::App`] opens with.
    pub app: bookwarden_app::Config,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Certificate and key for built-in TLS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Behind a reverse proxy that terminates HTTPS.
    pub behind_proxy: bool,
    /// HTTP worker threads.
    pub workers: usize,
    /// Per-address budgets.
    pub rate_limits: RateLimits,
    /// What one request may send.
    pub request_limits: RequestLimits,
    /// Log line format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log_filter: String,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("app", &self.app)
            .field("listen", &self.listen)
            .field("tls", &self.tls.is_some())
            .field("behind_proxy", &self.behind_proxy)
            .field("rate_limits", &self.rate_limits)
            .field("request_limits", &self.request_limits)
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
        let key_store = match file.key_store {
            Some(url) => {
                if !(url.starts_with("sqlite:")
                    || url.starts_with("postgres://")
                    || url.starts_with("postgresql://"))
                {
                    return Err(invalid("key_store", "must be a sqlite: or postgres:// URL"));
                }
                if databases.values().any(|db| *db == url) {
                    return Err(invalid(
                        "key_store",
                        "is a database of its own, not one of `databases`",
                    ));
                }
                Some(url)
            }
            None if databases
                .get(&directory_region)
                .is_some_and(|url| url.starts_with("sqlite:")) =>
            {
                Some(bookwarden_app::Config::embedded_key_store(&data_dir))
            }
            None => None,
        };
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
        let request_limits = RequestLimits {
            max_header_bytes: bytes(
                MAX_HEADER_BYTES.check("max_header_bytes", file.max_header_bytes)?,
            ),
            max_uri_bytes: bytes(MAX_URI_BYTES.check("max_uri_bytes", file.max_uri_bytes)?),
            max_body_bytes: bytes(MAX_BODY_BYTES.check("max_body_bytes", file.max_body_bytes)?),
            request_timeout: Duration::from_secs(u64::from(
                REQUEST_TIMEOUT_SECONDS
                    .check("request_timeout_seconds", file.request_timeout_seconds)?,
            )),
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
        let extra_roots_pem =
            match &file.calendar_extra_ca_file {
                None => Vec::new(),
                Some(path) => vec![std::fs::read(path).map_err(|e| {
                    invalid("calendar_extra_ca_file", format!("cannot read it: {e}"))
                })?],
            };
        let calendars = bookwarden_app::config::CalendarSettings {
            outbound: bookwarden_app::config::OutboundConfig {
                allow_loopback: file.calendar_allow_loopback.unwrap_or(false),
                extra_roots_pem,
                ..bookwarden_app::config::OutboundConfig::default()
            },
            max_concurrent_syncs: match file.calendar_max_concurrent_syncs {
                None => 4,
                Some(n @ 1..=64) => n,
                Some(_) => return Err(invalid("calendar_max_concurrent_syncs", "1 to 64")),
            },
            google: oauth_provider(
                file.calendar_oauth_redirect_url.as_deref(),
                "google",
                (
                    file.google_client_id.as_deref(),
                    file.google_client_secret.as_deref(),
                ),
                &[
                    file.google_auth_url.as_deref(),
                    file.google_token_url.as_deref(),
                    file.google_api_url.as_deref(),
                    file.google_revoke_url.as_deref(),
                ],
                &bookwarden_app::config::GOOGLE_DEFAULTS,
            )?,
            microsoft: oauth_provider(
                file.calendar_oauth_redirect_url.as_deref(),
                "microsoft",
                (
                    file.microsoft_client_id.as_deref(),
                    file.microsoft_client_secret.as_deref(),
                ),
                &[
                    file.microsoft_auth_url.as_deref(),
                    file.microsoft_token_url.as_deref(),
                    file.microsoft_api_url.as_deref(),
                ],
                &bookwarden_app::config::MICROSOFT_DEFAULTS,
            )?,
        };
        let backups = match file.backup_dir {
            None => {
                if file.backup_key_store_dir.is_some() {
                    return Err(invalid(
                        "backup_key_store_dir",
                        "goes with backup_dir, which turns scheduled backups on",
                    ));
                }
                None
            }
            Some(dir) => {
                let every = match file.backup_every_hours {
                    None => 24,
                    Some(n @ 1..=168) => n,
                    Some(_) => return Err(invalid("backup_every_hours", "1 to 168")),
                };
                let max_age = match file.backup_max_age_hours {
                    None => every + 2,
                    Some(n) if n >= every && n <= 10_000 => n,
                    Some(_) => {
                        return Err(invalid(
                            "backup_max_age_hours",
                            "at least backup_every_hours, at most 10000",
                        ));
                    }
                };
                let keep = match file.backup_keep {
                    None => 7,
                    Some(n @ 1..=1000) => n,
                    Some(_) => return Err(invalid("backup_keep", "1 to 1000")),
                };
                if databases.values().any(|url| !url.starts_with("sqlite:")) {
                    return Err(invalid(
                        "backup_dir",
                        "scheduled backups copy SQLite databases; back PostgreSQL regions up \
                         with PostgreSQL's own tools",
                    ));
                }
                if file.backup_key_store_dir.as_ref() == Some(&dir) {
                    return Err(invalid(
                        "backup_key_store_dir",
                        "must be another folder than backup_dir: the key store's backups are kept apart",
                    ));
                }
                let hours = |n: u32| Duration::from_secs(u64::from(n) * 3600);
                Some(bookwarden_app::backup::BackupSchedule {
                    dir,
                    key_store_dir: file.backup_key_store_dir,
                    every: hours(every),
                    keep: keep as usize,
                    max_age: hours(max_age),
                })
            }
        };
        let app = bookwarden_app::Config {
            backups,
            data_dir,
            databases,
            key_store,
            default_region,
            directory_region,
            max_connections: positive("max_connections", file.max_connections, 16)?,
            postgres_placement: PgPlacement::new(
                file.postgres_schema.as_deref().unwrap_or("public"),
                file.postgres_migrations_table
                    .as_deref()
                    .unwrap_or("seaql_migrations"),
            )
            .map_err(|e| invalid("postgres_schema", e.to_string()))?,
            keys,
            primary_key: file.primary_key,
            argon2,
            password_policy,
            max_concurrent_hashes,
            auth,
            calendars,
        };
        Ok(Self {
            app,
            listen,
            tls,
            behind_proxy: file.behind_proxy.unwrap_or(false),
            workers,
            rate_limits,
            request_limits,
            log_format,
            log_filter: file.log_filter.unwrap_or_else(|| "info".to_owned()),
        })
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
        let url = config.app.databases.values().next().unwrap();
        assert!(
            url.starts_with("sqlite://./bookwarden-data/bookwarden.db"),
            "{url}"
        );
        assert!(matches!(config.app.keys, KeySource::Development(_)));
        assert_eq!(config.log_format, LogFormat::Text);
    }

    #[test]
    fn p11_scheduled_backups_take_sound_settings_only() {
        let with = |edit: &dyn Fn(&mut FileConfig)| {
            let mut file = FileConfig {
                backup_dir: Some(PathBuf::from("/backups/data")),
                ..FileConfig::default()
            };
            edit(&mut file);
            Config::from_file_config(file)
        };
        let schedule = with(&|_| {}).unwrap().app.backups.unwrap();
        assert_eq!(schedule.every, Duration::from_secs(24 * 3600));
        assert_eq!(schedule.max_age, Duration::from_secs(26 * 3600));
        assert_eq!((schedule.keep, schedule.key_store_dir), (7, None));
        assert!(
            Config::from_file_config(FileConfig::default())
                .unwrap()
                .app
                .backups
                .is_none()
        );
        type Edit<'a> = &'a dyn Fn(&mut FileConfig);
        let refusals: [(&str, Edit<'_>); 6] = [
            ("backup_every_hours", &|f| f.backup_every_hours = Some(0)),
            ("backup_keep", &|f| f.backup_keep = Some(0)),
            ("backup_max_age_hours", &|f| {
                f.backup_every_hours = Some(24);
                f.backup_max_age_hours = Some(12);
            }),
            ("backup_key_store_dir", &|f| {
                f.backup_key_store_dir = Some(PathBuf::from("/backups/data"));
            }),
            ("backup_key_store_dir", &|f| {
                f.backup_dir = None;
                f.backup_key_store_dir = Some(PathBuf::from("/backups/keys"));
            }),
            ("backup_dir", &|f| {
                f.databases
                    .insert("local".to_owned(), "postgres://db/bookwarden".to_owned());
                f.master_keys = Some(vec![
                    bookwarden_app::keys::generate_entry(1)
                        .unwrap()
                        .expose_secret()
                        .to_owned(),
                ]);
            }),
        ];
        for (setting, edit) in refusals {
            let error = with(edit).unwrap_err().to_string();
            assert!(error.contains(setting), "{setting}: {error}");
        }
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
        assert_eq!(config.app.auth.lockout_failures, 3);
        assert_eq!(config.app.default_region.as_str(), "eu-west");
        assert!(matches!(config.app.keys, KeySource::Inline(_)));
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
        // A value of the wrong type is quoted by the parser: never shown.
        for (name, text) in [
            ("keys.toml", format!("master_keys = \"{secret_key}\"\n")),
            (
                "url.toml",
                "databases = \"postgres://app:hunter2@db/x\"\n".to_owned(),
            ),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            let error = FileConfig::read(&path).err().unwrap().to_string();
            assert!(
                !error.contains("c2VjcmV0") && !error.contains("hunter2"),
                "a wrong-typed value is not repeated: {error}"
            );
            assert!(error.contains("line 1"), "{error}");
        }
        assert!(
            !error.contains("c2VjcmV0"),
            "the offending line is not repeated: {error}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[cfg(test)]
mod table {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

    use std::collections::BTreeSet;

    use super::*;

    /// Every field of a file configuration, for comparing two (tests only:
    /// it shows keys).
    fn fingerprint(file: &FileConfig) -> String {
        let FileConfig {
            listen,
            data_dir,
            default_region,
            directory_region,
            databases,
            key_store,
            max_connections,
            postgres_schema,
            postgres_migrations_table,
            master_keys,
            master_keys_file,
            primary_key,
            tls_cert,
            tls_key,
            behind_proxy,
            argon2_m_kib,
            argon2_t,
            argon2_p,
            password_min_length,
            max_concurrent_hashes,
            workers,
            max_header_bytes,
            max_uri_bytes,
            max_body_bytes,
            request_timeout_seconds,
            login_per_minute,
            signup_per_hour,
            public_per_minute,
            lockout_failures,
            lockout_window_minutes,
            lockout_minutes,
            session_idle_minutes,
            session_absolute_hours,
            calendar_allow_loopback,
            calendar_max_concurrent_syncs,
            calendar_extra_ca_file,
            calendar_oauth_redirect_url,
            backup_dir,
            backup_key_store_dir,
            backup_every_hours,
            backup_keep,
            backup_max_age_hours,
            google_client_id,
            google_client_secret,
            google_auth_url,
            google_token_url,
            google_revoke_url,
            google_api_url,
            microsoft_client_id,
            microsoft_client_secret,
            microsoft_auth_url,
            microsoft_token_url,
            microsoft_api_url,
            log_format,
            log_filter,
        } = file;
        format!(
            "{listen:?} {data_dir:?} {default_region:?} {directory_region:?} {databases:?} \
             {key_store:?} {max_connections:?} {postgres_schema:?} {postgres_migrations_table:?} \
             {master_keys:?} {master_keys_file:?} {primary_key:?} \
             {tls_cert:?} {tls_key:?} {behind_proxy:?} {argon2_m_kib:?} {argon2_t:?} \
             {argon2_p:?} {password_min_length:?} {max_concurrent_hashes:?} {workers:?} \
             {max_header_bytes:?} {max_uri_bytes:?} {max_body_bytes:?} \
             {request_timeout_seconds:?} {login_per_minute:?} {signup_per_hour:?} \
             {public_per_minute:?} {lockout_failures:?} {lockout_window_minutes:?} \
             {lockout_minutes:?} {session_idle_minutes:?} {session_absolute_hours:?} \
             {calendar_allow_loopback:?} {calendar_max_concurrent_syncs:?} \
             {calendar_extra_ca_file:?} {calendar_oauth_redirect_url:?} {backup_dir:?} {backup_key_store_dir:?} {backup_every_hours:?} {backup_keep:?} {backup_max_age_hours:?} {google_client_id:?} {google_client_secret:?} {google_auth_url:?} {google_token_url:?} {google_revoke_url:?} {google_api_url:?} {microsoft_client_id:?} {microsoft_client_secret:?} {microsoft_auth_url:?} {microsoft_token_url:?} {microsoft_api_url:?} \
             {log_format:?} {log_filter:?}"
        )
    }

    /// Every field of a checked configuration.
    fn shown(config: &Config) -> String {
        let Config {
            app,
            listen,
            tls,
            behind_proxy,
            workers,
            rate_limits,
            request_limits,
            log_format,
            log_filter,
        } = config;
        format!(
            "{listen:?} {} {tls:?} {behind_proxy:?} {workers:?} {rate_limits:?} \
             {request_limits:?} {log_format:?} {log_filter:?}",
            app_fields(app)
        )
    }

    /// Every field of what the app opens with.
    fn app_fields(app: &bookwarden_app::Config) -> String {
        let bookwarden_app::Config {
            data_dir,
            databases,
            key_store,
            default_region,
            directory_region,
            max_connections,
            postgres_placement,
            keys,
            primary_key,
            argon2,
            password_policy,
            max_concurrent_hashes,
            auth,
            calendars,
            backups,
        } = app;
        format!(
            "{data_dir:?} {databases:?} {key_store:?} {default_region:?} {directory_region:?} \
             {max_connections:?} {postgres_placement:?} {keys:?} {primary_key:?} {argon2:?} \
             {password_policy:?} {max_concurrent_hashes:?} {auth:?} {calendars:?} {backups:?}"
        )
    }

    #[test]
    fn no_configuration_is_what_the_app_calls_embedded() {
        // The server with nothing configured and an embedder's
        // `Config::embedded` open the same thing.
        let folder = PathBuf::from("/srv/bookwarden-sample");
        let config = Config::from_file_config(FileConfig {
            data_dir: Some(folder.clone()),
            ..FileConfig::default()
        })
        .unwrap();
        assert_eq!(
            app_fields(&config.app),
            app_fields(&bookwarden_app::Config::embedded(folder))
        );
    }

    /// A value for `setting` that is not its default: as the variable's
    /// name and value, and as a TOML line.
    fn sample(setting: &Setting) -> (String, String, String) {
        let (value, toml) = match setting.kind {
            Kind::Text => ("eu-west".to_owned(), "\"eu-west\"".to_owned()),
            Kind::Path => ("/srv/sample".to_owned(), "\"/srv/sample\"".to_owned()),
            Kind::Number => ("7".to_owned(), "7".to_owned()),
            Kind::Switch => ("yes".to_owned(), "true".to_owned()),
            Kind::List => (
                "1:AAAA, 2:BBBB".to_owned(),
                "[\"1:AAAA\", \"2:BBBB\"]".to_owned(),
            ),
            Kind::PerRegion => {
                let url = "postgres://app@db/eu";
                return (
                    setting.env.replace("<REGION>", "EU_WEST"),
                    url.to_owned(),
                    format!("[{}]\neu-west = \"{url}\"\n", setting.key),
                );
            }
        };
        (
            setting.env.to_owned(),
            value,
            format!("{} = {toml}\n", setting.key),
        )
    }

    #[test]
    fn the_table_lists_exactly_the_keys_the_file_accepts() {
        // serde names every field it expected when it meets an unknown one.
        let error = toml::from_str::<FileConfig>("no_such_setting = 1")
            .err()
            .expect("an unknown key is refused");
        let message = error.message().to_owned();
        let (_, expected) = message
            .split_once("expected one of")
            .expect("serde lists the expected keys");
        let file_keys: BTreeSet<&str> = expected.split('`').skip(1).step_by(2).collect();
        let table_keys: BTreeSet<&str> = SETTINGS.iter().map(|s| s.key).collect();
        assert!(file_keys.len() >= 30, "{message}");
        assert_eq!(file_keys, table_keys, "FileConfig and SETTINGS disagree");
        assert_eq!(table_keys.len(), SETTINGS.len(), "a key is listed twice");
        let variables: BTreeSet<&str> = SETTINGS.iter().map(|s| s.env).collect();
        assert_eq!(
            variables.len(),
            SETTINGS.len(),
            "a variable is listed twice"
        );
    }

    #[test]
    fn every_variable_in_the_table_sets_what_its_toml_key_sets() {
        let untouched = fingerprint(&FileConfig::default());
        for setting in SETTINGS {
            let (name, value, toml_text) = sample(setting);
            assert_eq!(
                setting_for_env(&name).map(|s| s.key),
                Some(setting.key),
                "{name}"
            );
            let mut from_env = FileConfig::default();
            from_env
                .apply_env([(name.clone(), value)])
                .unwrap_or_else(|e| panic!("{name} refused: {e}"));
            let from_file: FileConfig = toml::from_str(&toml_text).unwrap();
            assert_eq!(
                fingerprint(&from_env),
                fingerprint(&from_file),
                "{name} and `{}` differ",
                setting.key
            );
            assert_ne!(fingerprint(&from_env), untouched, "{name} changed nothing");
        }
    }

    #[test]
    fn special_variables_keep_their_rules() {
        // Each way of giving master keys replaces the other.
        let mut file: FileConfig = toml::from_str("master_keys_file = \"/k\"").unwrap();
        file.apply_env([("BOOKWARDEN_MASTER_KEYS".to_owned(), "1:AAAA".to_owned())])
            .unwrap();
        assert!(file.master_keys_file.is_none());
        assert_eq!(file.master_keys, Some(vec!["1:AAAA".to_owned()]));
        file.apply_env([(
            "BOOKWARDEN_MASTER_KEYS_FILE".to_owned(),
            "/other".to_owned(),
        )])
        .unwrap();
        assert!(file.master_keys.is_none());
        assert_eq!(file.master_keys_file, Some(PathBuf::from("/other")));
        // Read elsewhere, or the harnesses' own: passed over.
        let before = fingerprint(&file);
        file.apply_env([
            ("BOOKWARDEN_CONFIG".to_owned(), "/etc/x.toml".to_owned()),
            ("BOOKWARDEN_TEST_ANYTHING".to_owned(), "x".to_owned()),
            ("HOME".to_owned(), "/root".to_owned()),
        ])
        .unwrap();
        assert_eq!(fingerprint(&file), before);
        // `BOOKWARDEN_LOG` is the variable of `log_filter`.
        file.apply_env([("BOOKWARDEN_LOG".to_owned(), "debug".to_owned())])
            .unwrap();
        assert_eq!(file.log_filter.as_deref(), Some("debug"));
        for unknown in [
            "BOOKWARDEN_LOG_FILTER",
            "BOOKWARDEN_DATABASE_",
            "BOOKWARDEN_DATABASES",
        ] {
            let err = FileConfig::default()
                .apply_env([(unknown.to_owned(), "x".to_owned())])
                .unwrap_err();
            assert!(err.to_string().contains(unknown), "{err}");
        }
        let err = FileConfig::default()
            .apply_env([("BOOKWARDEN_BEHIND_PROXY".to_owned(), "maybe".to_owned())])
            .unwrap_err();
        assert!(err.to_string().contains("behind_proxy"), "{err}");
    }

    #[test]
    fn documented_defaults_are_the_ones_the_code_uses() {
        let baseline = shown(&Config::from_file_config(FileConfig::default()).unwrap());
        let mut checked = 0;
        for setting in SETTINGS {
            let Some(value) = setting.default.value() else {
                continue;
            };
            let mut file = FileConfig::default();
            file.apply_env([(setting.env.to_owned(), value.to_owned())])
                .unwrap();
            let config = Config::from_file_config(file).unwrap();
            assert_eq!(
                shown(&config),
                baseline,
                "the documented default of `{}` is not the code's",
                setting.key
            );
            checked += 1;
        }
        assert!(checked >= 20, "only {checked} defaults are concrete");
        let config = Config::from_file_config(FileConfig::default()).unwrap();
        assert_eq!(config.app.directory_region, config.app.default_region);
        assert_eq!(config.app.primary_key, None);
        assert_eq!(config.tls, None);
    }

    #[test]
    fn request_limits_keep_to_their_documented_bounds() {
        for (key, bounds) in [
            ("max_header_bytes", MAX_HEADER_BYTES),
            ("max_uri_bytes", MAX_URI_BYTES),
            ("max_body_bytes", MAX_BODY_BYTES),
            ("request_timeout_seconds", REQUEST_TIMEOUT_SECONDS),
        ] {
            let setting = SETTINGS.iter().find(|s| s.key == key).unwrap();
            assert_eq!(
                setting.default.value(),
                Some(bounds.default.to_string().as_str())
            );
            let range = format!("{} to {}", bounds.min, bounds.max);
            assert!(setting.meaning.contains(&range), "{key}: {range}");
            let configured = |value: u32| {
                let mut file = FileConfig::default();
                file.apply_env([(setting.env.to_owned(), value.to_string())])
                    .unwrap();
                Config::from_file_config(file).map(|c| c.request_limits)
            };
            for good in [bounds.min, bounds.max] {
                let limits = configured(good).unwrap();
                let seen = match key {
                    "max_header_bytes" => limits.max_header_bytes,
                    "max_uri_bytes" => limits.max_uri_bytes,
                    "max_body_bytes" => limits.max_body_bytes,
                    _ => usize::try_from(limits.request_timeout.as_secs()).unwrap(),
                };
                assert_eq!(seen, usize::try_from(good).unwrap(), "{key}");
            }
            for bad in [bounds.min - 1, bounds.max + 1] {
                let err = configured(bad).unwrap_err();
                assert!(err.to_string().contains(key), "{key} = {bad}: {err}");
            }
        }
    }

    #[test]
    fn the_settings_table_in_operations_md_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/OPERATIONS.md");
        let doc = std::fs::read_to_string(path).unwrap();
        let begin = doc.find("<!-- settings:begin").expect("begin marker");
        let after_begin = doc
            .get(begin..)
            .and_then(|rest| rest.find('\n'))
            .map(|n| begin + n + 1)
            .unwrap();
        let end = doc.find("<!-- settings:end -->").expect("end marker");
        let written = doc.get(after_begin..end).unwrap();
        assert!(
            written == settings_table(),
            "the settings table in docs/OPERATIONS.md is stale: run `cargo xtask settings`"
        );
    }
}
