//! Master keys: read from the configuration or a key file, or, when nothing
//! is configured, a development key made on first start in the data folder
//! (mode 0600) with a loud warning. Also the operator's rotation: rewrap
//! every tenant's data key under the primary master key.

/// The master key ring, for commands that read backups without opening
/// the app.
pub use bookwarden_crypto::vault::MasterKeyRing;
use std::io::Write as _;
use std::path::Path;

use bookwarden_crypto::SecretString;
use bookwarden_crypto::vault::{MasterKey, MasterKeyVersion};
use bookwarden_domain::jiff::Timestamp;
use bookwarden_persistence::{Rewrap, Store};

use crate::config::{ConfigError, KeySource};
use crate::error::AppError;

fn invalid(setting: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting: setting.to_owned(),
        reason: reason.into(),
    }
}

/// Parses one `VERSION:BASE64` entry. The error never repeats the key.
fn parse_entry(setting: &str, entry: &str) -> Result<MasterKey, ConfigError> {
    let (version, encoded) = entry
        .trim()
        .split_once(':')
        .ok_or_else(|| invalid(setting, "each master key is VERSION:BASE64"))?;
    let version = version
        .trim()
        .parse::<u32>()
        .map_err(|_not_a_number| invalid(setting, "a master key version is a whole number"))
        .and_then(|v| MasterKeyVersion::new(v).map_err(|e| invalid(setting, e.to_string())))?;
    MasterKey::from_base64(version, encoded.trim()).map_err(|e| invalid(setting, e.to_string()))
}

/// A new master key line, `VERSION:BASE64`, for `bookwarden keys generate`.
///
/// # Errors
/// When the version is 0 or the OS has no randomness.
pub fn generate_entry(version: u32) -> Result<SecretString, ConfigError> {
    let version = MasterKeyVersion::new(version).map_err(|e| invalid("version", e.to_string()))?;
    let key = MasterKey::generate(version).map_err(|e| invalid("version", e.to_string()))?;
    Ok(SecretString::new(format!(
        "{}:{}",
        version.get(),
        key.export_base64().expose_secret()
    )))
}

/// What loading the keys found.
pub struct LoadedKeys {
    /// The ring.
    pub ring: MasterKeyRing,
    /// Set when a development key is in use (and whether it was just made).
    pub development: Option<bool>,
}

/// Loads the key ring from `source`; the primary is `primary` or else the
/// highest version.
///
/// # Errors
/// [`ConfigError`] naming the setting, never the key material.
pub fn load(source: &KeySource, primary: Option<u32>) -> Result<LoadedKeys, ConfigError> {
    let (entries, setting, development): (Vec<String>, &str, Option<bool>) = match source {
        KeySource::Inline(entries) => (entries.clone(), "master_keys", None),
        KeySource::File(path) => (read_key_file(path)?, "master_keys_file", None),
        KeySource::Development(path) => {
            let made = ensure_development_key(path)?;
            (read_key_file(path)?, "master_keys_file", Some(made))
        }
    };
    let keys = entries
        .iter()
        .map(|entry| parse_entry(setting, entry))
        .collect::<Result<Vec<_>, _>>()?;
    let newest = keys
        .iter()
        .map(MasterKey::version)
        .max()
        .ok_or_else(|| invalid(setting, "no master key is configured"))?;
    let primary = match primary {
        Some(v) => MasterKeyVersion::new(v).map_err(|e| invalid("primary_key", e.to_string()))?,
        None => newest,
    };
    let ring = MasterKeyRing::new(primary, keys).map_err(|e| invalid(setting, e.to_string()))?;
    Ok(LoadedKeys { ring, development })
}

fn read_key_file(path: &Path) -> Result<Vec<String>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect())
}

/// Makes the development key file if it is missing; true when it was made.
fn ensure_development_key(path: &Path) -> Result<bool, ConfigError> {
    if path.exists() {
        return Ok(false);
    }
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder).map_err(|source| ConfigError::Read {
            path: folder.to_owned(),
            source,
        })?;
    }
    let entry = generate_entry(1)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let written = options.open(path).and_then(|mut file| {
        writeln!(
            file,
            "# DEVELOPMENT master key made by `bookwarden serve`. Production must supply its own\n\
             # (master_keys or master_keys_file; see docs/OPERATIONS.md).\n{}",
            entry.expose_secret()
        )?;
        file.sync_all()
    });
    written.map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    Ok(true)
}

/// What a rotation did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RotationSummary {
    /// Tenants whose data key was rewrapped.
    pub rewrapped: usize,
    /// Tenants already under the primary key.
    pub current: usize,
    /// Tenants with no data key.
    pub without_key: usize,
}

/// Rewraps every tenant's data key under the ring's primary key, one
/// tenant per transaction, calling `progress(done, total)` after each.
/// Safe to run while the server runs and to run again after a failure.
///
/// # Errors
/// The first tenant whose key cannot be rewrapped stops the run (its key is
/// unchanged); earlier tenants stay rewrapped.
pub async fn rotate(
    store: &Store,
    ring: &MasterKeyRing,
    mut progress: impl FnMut(usize, usize),
) -> Result<RotationSummary, AppError> {
    let tenants = store.system().tenants().await?;
    let total = tenants.len();
    let mut summary = RotationSummary::default();
    for (done, (tenant, _region)) in tenants.into_iter().enumerate() {
        let scope = store.write(tenant).await?;
        match scope.rewrap_data_key(ring, Timestamp::now()).await? {
            Rewrap::Rewrapped => summary.rewrapped += 1,
            Rewrap::Current => summary.current += 1,
            Rewrap::NoKey => summary.without_key += 1,
        }
        scope.commit().await?;
        progress(done + 1, total);
    }
    Ok(summary)
}
