//! The vault (promise P3): AES-256-GCM sealing of secrets that must be read
//! back, under per-tenant data keys wrapped by versioned master keys.
//!
//! # Key hierarchy
//!
//! - A [`MasterKeyRing`] holds 256-bit master keys, each with a
//!   [`MasterKeyVersion`]; exactly one is primary. They come from
//!   configuration as base64 and never touch the database.
//! - Each tenant has one random 256-bit [`TenantDataKey`]. It is stored only
//!   wrapped ([`WrappedDataKey`]): AES-256-GCM under a master key, with the
//!   tenant id and master version as associated data, so a wrapped key copied
//!   to another tenant's row does not unwrap.
//! - Each sealed secret gets a fresh 256-bit random salt; its key is
//!   HKDF-SHA256(ikm = tenant data key, salt, info = purpose). Each seal also
//!   draws a fresh random 96-bit nonce.
//!
//! # Sealed format, version 1
//!
//! ```text
//! offset  len  field
//!      0    3  magic "BWV"
//!      3    1  format version (1)
//!      4   32  salt
//!     36   12  nonce
//!     48    n  ciphertext
//!   48+n   16  GCM tag
//! ```
//!
//! The associated data is never stored; it is rebuilt on open from what the
//! caller says the value is:
//!
//! ```text
//! "BWV" | version u8 | tenant id (16) | len(purpose) u16 BE | purpose
//!       | len(record id) u16 BE | record id
//! ```
//!
//! [`open`] reads the header, checks the magic and the version, then checks
//! the length for that version before it slices anything; every mismatch is a
//! typed [`VaultError`], and no input makes it panic.
//!
//! # Rotation and crypto-shredding
//!
//! Rotation adds a master key with [`MasterKeyRing::add_primary`] and rewraps
//! every tenant data key ([`MasterKeyRing::rewrap_all`]); sealed secrets are
//! not touched because they depend only on the data key.
//! [`MasterKeyRing::stale_keys`] reports the tenants still wrapped under an
//! older version, and [`MasterKeyRing::retire`] drops a version once none are.
//! Deleting a tenant's wrapped data key destroys the only path to its secrets:
//! every value sealed for that tenant, including copies in backups, becomes
//! unrecoverable.
//!
//! # Example
//!
//! ```
//! use bookwarden_crypto::vault::{self, MasterKey, MasterKeyRing, MasterKeyVersion, Purpose, TenantRef};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let v1 = MasterKeyVersion::new(1)?;
//! let ring = MasterKeyRing::new(v1, [MasterKey::generate(v1)?])?;
//! let tenant = TenantRef::from_bytes([7; 16]);
//! // The data key is made once per tenant; only `wrapped` is stored.
//! let (data_key, wrapped) = ring.new_data_key(tenant)?;
//! let sealed = vault::seal(&data_key, &Purpose::WEBHOOK_SECRET, b"hook-1", b"whsec_x")?;
//! // Later: unwrap the stored key and open the secret.
//! let data_key = ring.unwrap(tenant, &wrapped)?;
//! let opened = vault::open(&data_key, &Purpose::WEBHOOK_SECRET, b"hook-1", &sealed)?;
//! assert_eq!(opened.expose_secret(), b"whsec_x");
//! // Bound to its record: the same ciphertext moved to another record fails.
//! assert!(vault::open(&data_key, &Purpose::WEBHOOK_SECRET, b"hook-2", &sealed).is_err());
//! // And to its tenant: another tenant's key cannot unwrap this one.
//! assert!(ring.unwrap(TenantRef::from_bytes([8; 16]), &wrapped).is_err());
//! # Ok(())
//! # }
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;
use zeroize::Zeroizing;

use crate::aead::{self, AeadError};
use crate::kdf::{self, KdfError};
use crate::rng::{self, RandomnessError};
use crate::secret::{SecretBytes, SecretString};
use crate::stream::StreamKey;

/// Magic bytes that open every sealed value.
pub const MAGIC: [u8; 3] = *b"BWV";
/// The sealed format this code writes.
pub const FORMAT_VERSION: u8 = 1;
/// Length of the per-secret HKDF salt.
pub const SALT_LEN: usize = 32;
/// Offset of the salt in a version-1 sealed value.
pub const SALT_OFFSET: usize = MAGIC.len() + 1;
/// Offset of the nonce in a version-1 sealed value.
pub const NONCE_OFFSET: usize = SALT_OFFSET + SALT_LEN;
/// Offset of the ciphertext in a version-1 sealed value.
pub const CIPHERTEXT_OFFSET: usize = NONCE_OFFSET + aead::NONCE_LEN;
/// The shortest version-1 sealed value: header and tag around an empty
/// plaintext.
pub const MIN_SEALED_LEN: usize = CIPHERTEXT_OFFSET + aead::TAG_LEN;
/// Longest record id bound into the associated data.
pub const MAX_RECORD_ID_LEN: usize = 256;

const DATA_KEY_LEN: usize = 32;
/// The length of a [`keyed_digest`].
pub const KEYED_DIGEST_LEN: usize = 32;
/// Sets a digest key's derivation apart from every sealing key's.
const KEYED_DIGEST_LABEL: &[u8] = b"bookwarden keyed digest v1\0";
/// The HKDF salt of backup keys ([`MasterKeyRing::backup_key`]).
const BACKUP_KEY_SALT: &[u8] = b"bookwarden backup key v1\0";
const WRAP_MAGIC: [u8; 3] = *b"BWK";
const WRAP_FORMAT_VERSION: u8 = 1;
const WRAP_HEADER_LEN: usize = WRAP_MAGIC.len() + 1 + 4;
/// Length of a wrapped data key in its stored form: `"BWK" | 1 |
/// master version u32 BE | nonce (12) | wrapped key (32) | tag (16)`.
pub const WRAPPED_KEY_LEN: usize = WRAP_HEADER_LEN + aead::NONCE_LEN + DATA_KEY_LEN + aead::TAG_LEN;

/// Why sealing or opening a secret failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The record id is longer than [`MAX_RECORD_ID_LEN`].
    #[error("record id is {len} bytes; at most {MAX_RECORD_ID_LEN} are allowed")]
    RecordIdTooLong {
        /// The length that was given.
        len: usize,
    },
    /// The input is shorter than the header or the minimum for its version.
    #[error("sealed value is {len} bytes, shorter than the {min} its format needs")]
    Truncated {
        /// The length that was given.
        len: usize,
        /// The minimum for the format.
        min: usize,
    },
    /// The input does not start with the vault's magic bytes.
    #[error("input is not a value sealed by the Bookwarden vault")]
    NotSealed,
    /// The format version is one this code does not read.
    #[error("sealed format version {version} is not supported")]
    UnsupportedVersion {
        /// The version byte found.
        version: u8,
    },
    /// The value does not open under this key, tenant, purpose and record id:
    /// it belongs elsewhere, its key was destroyed, or it was modified.
    #[error("sealed value does not open for this tenant, purpose and record")]
    Unauthentic(#[source] AeadError),
    /// AES-256-GCM refused the operation.
    #[error("AES-256-GCM failed")]
    Aead(#[source] AeadError),
    /// Deriving the per-secret key failed.
    #[error("per-secret key derivation failed")]
    Kdf(#[from] KdfError),
    /// No randomness for the salt or nonce.
    #[error(transparent)]
    Random(#[from] RandomnessError),
}

/// Why loading, rotating or using master keys failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyRingError {
    /// Master key versions start at 1.
    #[error("master key version 0 is not allowed; versions start at 1")]
    ZeroVersion,
    /// The configured master key is not valid base64. The decoder's own error
    /// is not kept: it quotes a byte of the key.
    #[error("master key version {version} is not valid base64")]
    MasterKeyEncoding {
        /// The version whose key is malformed.
        version: MasterKeyVersion,
    },
    /// The configured master key does not decode to 32 bytes.
    #[error("master key version {version} decodes to {actual} bytes; 32 are required")]
    MasterKeyLength {
        /// The version whose key is malformed.
        version: MasterKeyVersion,
        /// The decoded length.
        actual: usize,
    },
    /// Two keys share a version.
    #[error("master key version {0} is configured twice")]
    DuplicateVersion(MasterKeyVersion),
    /// The primary version has no key.
    #[error("primary master key version {0} is not among the configured keys")]
    PrimaryMissing(MasterKeyVersion),
    /// A new primary must have a higher version than every existing key.
    #[error("new master key version {new} is not higher than the newest version {newest}")]
    VersionNotNewer {
        /// The version offered.
        new: MasterKeyVersion,
        /// The newest version already in the ring.
        newest: MasterKeyVersion,
    },
    /// No key with this version is in the ring.
    #[error("master key version {0} is not in the key ring")]
    UnknownVersion(MasterKeyVersion),
    /// The primary key cannot be retired.
    #[error("master key version {0} is primary and cannot be retired")]
    RetirePrimary(MasterKeyVersion),
    /// A stored wrapped key is not in the expected format.
    #[error("wrapped data key is malformed: {reason}")]
    MalformedWrappedKey {
        /// What was wrong.
        reason: &'static str,
    },
    /// The wrapped key does not open under its master key for this tenant.
    #[error("wrapped data key does not unwrap under master key version {version} for this tenant")]
    Unwrap {
        /// The master version named by the wrapped key.
        version: MasterKeyVersion,
        /// The AEAD failure.
        #[source]
        source: AeadError,
    },
    /// Wrapping a data key failed.
    #[error("wrapping the data key failed")]
    Wrap(#[source] AeadError),
    /// Deriving a key from a master key failed (cannot happen for 32
    /// bytes of output).
    #[error("deriving a key from the master key failed")]
    Derive(#[source] KdfError),
    /// No randomness for a key or nonce.
    #[error(transparent)]
    Random(#[from] RandomnessError),
}

/// The 16 bytes of a tenant's id (its UUID) as the vault binds them.
///
/// `crypto` does not know the domain's `TenantId`; callers pass its bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantRef([u8; 16]);

impl TenantRef {
    /// Wraps the 16 id bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The 16 id bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Debug for TenantRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantRef({})", data_encoding::HEXLOWER.encode(&self.0))
    }
}

/// What a sealed secret is for; it selects the per-secret key (HKDF info) and
/// is bound into the associated data, so a value sealed for one purpose never
/// opens as another.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Purpose(Cow<'static, str>);

/// Why a purpose name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "purpose names are 1 to 64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter"
)]
pub struct PurposeError;

impl Purpose {
    /// OAuth 2.0 access tokens of calendar connections.
    pub const OAUTH_ACCESS_TOKEN: Self = Self(Cow::Borrowed("oauth.access_token"));
    /// OAuth 2.0 refresh tokens of calendar connections.
    pub const OAUTH_REFRESH_TOKEN: Self = Self(Cow::Borrowed("oauth.refresh_token"));
    /// CalDAV app-specific passwords (iCloud).
    pub const CALDAV_PASSWORD: Self = Self(Cow::Borrowed("caldav.app_password"));
    /// Private ICS feed URLs, whose path is a credential.
    pub const ICS_FEED_URL: Self = Self(Cow::Borrowed("ics.feed_url"));
    /// Webhook signing secrets.
    pub const WEBHOOK_SECRET: Self = Self(Cow::Borrowed("webhook.secret"));
    /// TOTP seeds.
    pub const TOTP_SEED: Self = Self(Cow::Borrowed("totp.seed"));
    /// Values a person typed that the audit chain records only as a keyed
    /// digest (an email address given at a failed sign-in).
    pub const AUDIT_TYPED_VALUE: Self = Self(Cow::Borrowed("audit.typed_value"));
    /// The checkpoint where audit retention purging stopped.
    pub const AUDIT_ANCHOR: Self = Self(Cow::Borrowed("audit.anchor"));
    /// The confirmation an erasure asks for before it runs.
    pub const ERASURE_CONFIRMATION: Self = Self(Cow::Borrowed("rights.erasure_confirmation"));
    /// The devices and networks an account signed in from, kept only as
    /// keyed digests.
    pub const SIGN_IN_SOURCE: Self = Self(Cow::Borrowed("accounts.sign_in_source"));

    /// A purpose not in the list above.
    ///
    /// # Errors
    /// [`PurposeError`] unless `name` is 1 to 64 characters of `a-z`, `0-9`,
    /// `.`, `_` or `-` and starts with a letter.
    pub fn new(name: &str) -> Result<Self, PurposeError> {
        let valid_start = name.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
        let valid_chars = name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
        if valid_start && valid_chars && name.len() <= 64 {
            Ok(Self(Cow::Owned(name.to_owned())))
        } else {
            Err(PurposeError)
        }
    }

    /// The purpose name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The version of a master key, 1 or higher.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MasterKeyVersion(u32);

impl MasterKeyVersion {
    /// A version number.
    ///
    /// # Errors
    /// [`KeyRingError::ZeroVersion`] for 0.
    pub const fn new(version: u32) -> Result<Self, KeyRingError> {
        if version == 0 {
            Err(KeyRingError::ZeroVersion)
        } else {
            Ok(Self(version))
        }
    }

    /// The version number.
    #[must_use]
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for MasterKeyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A 256-bit master key with its version. Zeroized on drop; `Debug` shows
/// only the version.
pub struct MasterKey {
    version: MasterKeyVersion,
    key: Zeroizing<[u8; 32]>,
}

impl MasterKey {
    /// Decodes a master key from configuration (standard base64 of 32 bytes).
    ///
    /// # Errors
    /// [`KeyRingError::MasterKeyEncoding`] or [`KeyRingError::MasterKeyLength`].
    pub fn from_base64(version: MasterKeyVersion, encoded: &str) -> Result<Self, KeyRingError> {
        #[expect(
            clippy::map_err_ignore,
            reason = "base64's error quotes a byte of the secret key; it must not reach a log"
        )]
        let decoded = Zeroizing::new(
            STANDARD
                .decode(encoded.trim())
                .map_err(|_| KeyRingError::MasterKeyEncoding { version })?,
        );
        let Some(bytes) = decoded.first_chunk::<32>().filter(|_| decoded.len() == 32) else {
            return Err(KeyRingError::MasterKeyLength {
                version,
                actual: decoded.len(),
            });
        };
        Ok(Self {
            version,
            key: Zeroizing::new(*bytes),
        })
    }

    /// Generates a new random master key (for `bookwarden keys generate`).
    ///
    /// # Errors
    /// [`RandomnessError`] if the OS has no randomness.
    pub fn generate(version: MasterKeyVersion) -> Result<Self, RandomnessError> {
        let mut key = Zeroizing::new([0u8; 32]);
        rng::fill(key.as_mut_slice())?;
        Ok(Self { version, key })
    }

    /// The key as standard base64, for an operator to put into configuration
    /// once.
    #[must_use]
    pub fn export_base64(&self) -> SecretString {
        SecretString::new(STANDARD.encode(self.key.as_slice()))
    }

    /// The key's version.
    #[must_use]
    pub const fn version(&self) -> MasterKeyVersion {
        self.version
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("version", &self.version)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

/// A tenant's unwrapped data key. Zeroized on drop; not `Clone`; `Debug`
/// shows only the tenant.
pub struct TenantDataKey {
    tenant: TenantRef,
    key: Zeroizing<[u8; DATA_KEY_LEN]>,
}

impl TenantDataKey {
    /// The tenant this key belongs to; it is bound into everything sealed
    /// with it.
    #[must_use]
    pub const fn tenant(&self) -> TenantRef {
        self.tenant
    }
}

impl fmt::Debug for TenantDataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantDataKey")
            .field("tenant", &self.tenant)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

/// A tenant data key wrapped by a master key: what the database stores.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedDataKey {
    master_version: MasterKeyVersion,
    nonce: [u8; aead::NONCE_LEN],
    ciphertext: Vec<u8>,
}

impl WrappedDataKey {
    /// The master key version this data key is wrapped under.
    #[must_use]
    pub const fn master_version(&self) -> MasterKeyVersion {
        self.master_version
    }

    /// The stored form, [`WRAPPED_KEY_LEN`] bytes.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(WRAPPED_KEY_LEN);
        out.extend_from_slice(&WRAP_MAGIC);
        out.push(WRAP_FORMAT_VERSION);
        out.extend_from_slice(&self.master_version.get().to_be_bytes());
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.ciphertext);
        out
    }

    /// Parses the stored form.
    ///
    /// # Errors
    /// [`KeyRingError::MalformedWrappedKey`] for a wrong length, magic or
    /// format version, or a zero master version.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyRingError> {
        let malformed = |reason| KeyRingError::MalformedWrappedKey { reason };
        if bytes.len() != WRAPPED_KEY_LEN {
            return Err(malformed("wrong length"));
        }
        let (magic, rest) = bytes
            .split_first_chunk::<3>()
            .ok_or(malformed("wrong length"))?;
        if *magic != WRAP_MAGIC {
            return Err(malformed("not a Bookwarden wrapped key"));
        }
        let (&version, rest) = rest.split_first().ok_or(malformed("wrong length"))?;
        if version != WRAP_FORMAT_VERSION {
            return Err(malformed("unsupported format version"));
        }
        let (master, rest) = rest
            .split_first_chunk::<4>()
            .ok_or(malformed("wrong length"))?;
        let master_version = u32::from_be_bytes(*master);
        if master_version == 0 {
            return Err(malformed("master version 0"));
        }
        let master_version = MasterKeyVersion(master_version);
        let (nonce, ciphertext) = rest
            .split_first_chunk::<{ aead::NONCE_LEN }>()
            .ok_or(malformed("wrong length"))?;
        Ok(Self {
            master_version,
            nonce: *nonce,
            ciphertext: ciphertext.to_vec(),
        })
    }
}

impl fmt::Debug for WrappedDataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappedDataKey")
            .field("master_version", &self.master_version)
            .finish_non_exhaustive()
    }
}

/// A tenant whose data key is wrapped under a master key older than the
/// primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaleKey {
    /// The tenant.
    pub tenant: TenantRef,
    /// The version its data key is wrapped under.
    pub master_version: MasterKeyVersion,
}

/// The outcome of [`MasterKeyRing::rewrap_all`].
#[derive(Debug, Default)]
pub struct RotationReport {
    /// Data keys now wrapped under the primary key: store these.
    pub rewrapped: Vec<(TenantRef, WrappedDataKey)>,
    /// Tenants whose data key was already under the primary key.
    pub already_current: Vec<TenantRef>,
    /// Tenants whose data key could not be rewrapped, with the reason.
    pub failed: Vec<(TenantRef, KeyRingError)>,
}

/// Versioned master keys, one of them primary.
pub struct MasterKeyRing {
    primary: MasterKeyVersion,
    keys: BTreeMap<MasterKeyVersion, MasterKey>,
}

impl fmt::Debug for MasterKeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKeyRing")
            .field("primary", &self.primary)
            .field("versions", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl MasterKeyRing {
    /// A ring from configured keys and the primary version.
    ///
    /// # Errors
    /// [`KeyRingError::DuplicateVersion`] or [`KeyRingError::PrimaryMissing`].
    pub fn new(
        primary: MasterKeyVersion,
        keys: impl IntoIterator<Item = MasterKey>,
    ) -> Result<Self, KeyRingError> {
        let mut map = BTreeMap::new();
        for key in keys {
            let version = key.version;
            if map.insert(version, key).is_some() {
                return Err(KeyRingError::DuplicateVersion(version));
            }
        }
        if !map.contains_key(&primary) {
            return Err(KeyRingError::PrimaryMissing(primary));
        }
        Ok(Self { primary, keys: map })
    }

    /// The primary version: new and rewrapped data keys use it.
    #[must_use]
    pub const fn primary_version(&self) -> MasterKeyVersion {
        self.primary
    }

    /// Every version in the ring, ascending.
    #[must_use]
    pub fn versions(&self) -> Vec<MasterKeyVersion> {
        self.keys.keys().copied().collect()
    }

    /// Adds a key with a version higher than any in the ring and makes it
    /// primary. Existing wrapped keys keep unwrapping under their old version
    /// until they are rewrapped.
    ///
    /// # Errors
    /// [`KeyRingError::VersionNotNewer`].
    pub fn add_primary(&mut self, key: MasterKey) -> Result<(), KeyRingError> {
        if let Some(&newest) = self.keys.keys().next_back()
            && key.version <= newest
        {
            return Err(KeyRingError::VersionNotNewer {
                new: key.version,
                newest,
            });
        }
        self.primary = key.version;
        self.keys.insert(key.version, key);
        Ok(())
    }

    /// Removes an old version once [`Self::stale_keys`] reports no data key
    /// under it. Anything still wrapped under it becomes unrecoverable.
    ///
    /// # Errors
    /// [`KeyRingError::RetirePrimary`] or [`KeyRingError::UnknownVersion`].
    pub fn retire(&mut self, version: MasterKeyVersion) -> Result<(), KeyRingError> {
        if version == self.primary {
            return Err(KeyRingError::RetirePrimary(version));
        }
        self.keys
            .remove(&version)
            .map(drop)
            .ok_or(KeyRingError::UnknownVersion(version))
    }

    /// Generates a tenant's data key and wraps it under the primary key.
    ///
    /// # Errors
    /// [`KeyRingError::Random`] or [`KeyRingError::Wrap`].
    pub fn new_data_key(
        &self,
        tenant: TenantRef,
    ) -> Result<(TenantDataKey, WrappedDataKey), KeyRingError> {
        let mut key = Zeroizing::new([0u8; DATA_KEY_LEN]);
        rng::fill(key.as_mut_slice())?;
        let data_key = TenantDataKey { tenant, key };
        let wrapped = self.wrap(&data_key)?;
        Ok((data_key, wrapped))
    }

    /// Wraps a data key under the primary key.
    ///
    /// # Errors
    /// [`KeyRingError::Random`] or [`KeyRingError::Wrap`].
    pub fn wrap(&self, data_key: &TenantDataKey) -> Result<WrappedDataKey, KeyRingError> {
        let master = self
            .keys
            .get(&self.primary)
            .ok_or(KeyRingError::PrimaryMissing(self.primary))?;
        let nonce = rng::array::<{ aead::NONCE_LEN }>()?;
        let aad = wrap_aad(data_key.tenant, self.primary);
        let ciphertext = aead::seal(master.key.as_slice(), &nonce, &aad, data_key.key.as_slice())
            .map_err(KeyRingError::Wrap)?;
        Ok(WrappedDataKey {
            master_version: self.primary,
            nonce,
            ciphertext,
        })
    }

    /// Unwraps a tenant's data key.
    ///
    /// # Errors
    /// [`KeyRingError::UnknownVersion`] if the master key was retired,
    /// [`KeyRingError::Unwrap`] if the wrapped key belongs to another tenant or
    /// was modified.
    pub fn unwrap(
        &self,
        tenant: TenantRef,
        wrapped: &WrappedDataKey,
    ) -> Result<TenantDataKey, KeyRingError> {
        let version = wrapped.master_version;
        let master = self
            .keys
            .get(&version)
            .ok_or(KeyRingError::UnknownVersion(version))?;
        let aad = wrap_aad(tenant, version);
        let plain = aead::open(
            master.key.as_slice(),
            &wrapped.nonce,
            &aad,
            &wrapped.ciphertext,
        )
        .map_err(|source| KeyRingError::Unwrap { version, source })?;
        let key = plain
            .expose_secret()
            .first_chunk::<DATA_KEY_LEN>()
            .filter(|_| plain.len() == DATA_KEY_LEN)
            .ok_or(KeyRingError::MalformedWrappedKey {
                reason: "unwrapped key has the wrong length",
            })?;
        Ok(TenantDataKey {
            tenant,
            key: Zeroizing::new(*key),
        })
    }

    /// The key backups are encrypted under with master key `version`
    /// ([`crate::stream`]): derived from it (HKDF-SHA256, its own label),
    /// so it is never the master key itself, and a backup names the
    /// version it was made under: one made before a rotation restores while
    /// that version is in the ring.
    ///
    /// # Errors
    /// [`KeyRingError::UnknownVersion`] if the version is not in the ring.
    pub fn backup_key(&self, version: MasterKeyVersion) -> Result<StreamKey, KeyRingError> {
        let master = self
            .keys
            .get(&version)
            .ok_or(KeyRingError::UnknownVersion(version))?;
        let key = kdf::hkdf_sha256_key(
            BACKUP_KEY_SALT,
            master.key.as_slice(),
            &version.get().to_be_bytes(),
        )
        .map_err(KeyRingError::Derive)?;
        Ok(StreamKey::from_zeroizing(key))
    }

    /// Unwraps a data key and wraps it again under the primary key. The data
    /// key itself, and so every secret sealed with it, is unchanged.
    ///
    /// # Errors
    /// As [`Self::unwrap`] and [`Self::wrap`].
    pub fn rewrap(
        &self,
        tenant: TenantRef,
        wrapped: &WrappedDataKey,
    ) -> Result<WrappedDataKey, KeyRingError> {
        let data_key = self.unwrap(tenant, wrapped)?;
        self.wrap(&data_key)
    }

    /// Rewraps every data key not yet under the primary key.
    pub fn rewrap_all(
        &self,
        wrapped_keys: impl IntoIterator<Item = (TenantRef, WrappedDataKey)>,
    ) -> RotationReport {
        let mut report = RotationReport::default();
        for (tenant, wrapped) in wrapped_keys {
            if wrapped.master_version == self.primary {
                report.already_current.push(tenant);
                continue;
            }
            match self.rewrap(tenant, &wrapped) {
                Ok(rewrapped) => report.rewrapped.push((tenant, rewrapped)),
                Err(error) => report.failed.push((tenant, error)),
            }
        }
        report
    }

    /// The tenants whose data key is wrapped under a version other than the
    /// primary.
    pub fn stale_keys<'a>(
        &self,
        wrapped_keys: impl IntoIterator<Item = (TenantRef, &'a WrappedDataKey)>,
    ) -> Vec<StaleKey> {
        wrapped_keys
            .into_iter()
            .filter(|(_, wrapped)| wrapped.master_version != self.primary)
            .map(|(tenant, wrapped)| StaleKey {
                tenant,
                master_version: wrapped.master_version,
            })
            .collect()
    }
}

fn wrap_aad(tenant: TenantRef, version: MasterKeyVersion) -> Vec<u8> {
    let mut aad = Vec::with_capacity(WRAP_HEADER_LEN + 16);
    aad.extend_from_slice(&WRAP_MAGIC);
    aad.push(WRAP_FORMAT_VERSION);
    aad.extend_from_slice(tenant.as_bytes());
    aad.extend_from_slice(&version.get().to_be_bytes());
    aad
}

/// The associated data of a sealed value; see the module docs for the layout.
fn seal_aad(
    version: u8,
    tenant: TenantRef,
    purpose: &Purpose,
    record_id: &[u8],
) -> Result<Vec<u8>, VaultError> {
    if record_id.len() > MAX_RECORD_ID_LEN {
        return Err(VaultError::RecordIdTooLong {
            len: record_id.len(),
        });
    }
    let purpose = purpose.as_str().as_bytes();
    // Both lengths are bounded (64 and 256), so the casts cannot truncate.
    let purpose_len = u16::try_from(purpose.len()).unwrap_or(u16::MAX);
    let record_len = u16::try_from(record_id.len()).unwrap_or(u16::MAX);
    let mut aad =
        Vec::with_capacity(MAGIC.len() + 1 + 16 + 2 + purpose.len() + 2 + record_id.len());
    aad.extend_from_slice(&MAGIC);
    aad.push(version);
    aad.extend_from_slice(tenant.as_bytes());
    aad.extend_from_slice(&purpose_len.to_be_bytes());
    aad.extend_from_slice(purpose);
    aad.extend_from_slice(&record_len.to_be_bytes());
    aad.extend_from_slice(record_id);
    Ok(aad)
}

/// Seals `plaintext` for `key`'s tenant, for `purpose`, in the row
/// `record_id`. The result opens only with the same four.
///
/// # Errors
/// [`VaultError::RecordIdTooLong`], or [`VaultError::Random`] if the OS has no
/// randomness.
pub fn seal(
    key: &TenantDataKey,
    purpose: &Purpose,
    record_id: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, VaultError> {
    let aad = seal_aad(FORMAT_VERSION, key.tenant, purpose, record_id)?;
    let salt_and_nonce = rng::array::<{ SALT_LEN + aead::NONCE_LEN }>()?;
    let (salt, nonce) = salt_and_nonce.split_at(SALT_LEN);
    let secret_key = kdf::hkdf_sha256_key(salt, key.key.as_slice(), purpose.as_str().as_bytes())?;
    let mut out = Vec::with_capacity(MIN_SEALED_LEN.saturating_add(plaintext.len()));
    out.extend_from_slice(&MAGIC);
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&salt_and_nonce);
    aead::seal_append(secret_key.as_slice(), nonce, &aad, plaintext, &mut out)
        .map_err(VaultError::Aead)?;
    Ok(out)
}

/// Opens a value sealed by [`seal`] for the same tenant, purpose and record
/// id.
///
/// # Errors
/// [`VaultError::Truncated`], [`VaultError::NotSealed`] or
/// [`VaultError::UnsupportedVersion`] before any decryption;
/// [`VaultError::Unauthentic`] if the value belongs to another tenant,
/// purpose or record, its data key was destroyed, or it was modified;
/// [`VaultError::RecordIdTooLong`].
pub fn open(
    key: &TenantDataKey,
    purpose: &Purpose,
    record_id: &[u8],
    sealed: &[u8],
) -> Result<SecretBytes, VaultError> {
    let Some((magic, rest)) = sealed.split_first_chunk::<3>() else {
        return Err(VaultError::Truncated {
            len: sealed.len(),
            min: MIN_SEALED_LEN,
        });
    };
    let Some((&version, rest)) = rest.split_first() else {
        return Err(VaultError::Truncated {
            len: sealed.len(),
            min: MIN_SEALED_LEN,
        });
    };
    if *magic != MAGIC {
        return Err(VaultError::NotSealed);
    }
    if version != FORMAT_VERSION {
        return Err(VaultError::UnsupportedVersion { version });
    }
    if sealed.len() < MIN_SEALED_LEN {
        return Err(VaultError::Truncated {
            len: sealed.len(),
            min: MIN_SEALED_LEN,
        });
    }
    let truncated = VaultError::Truncated {
        len: sealed.len(),
        min: MIN_SEALED_LEN,
    };
    let Some((salt, rest)) = rest.split_first_chunk::<SALT_LEN>() else {
        return Err(truncated);
    };
    let Some((nonce, ciphertext)) = rest.split_first_chunk::<{ aead::NONCE_LEN }>() else {
        return Err(truncated);
    };
    let aad = seal_aad(version, key.tenant, purpose, record_id)?;
    let secret_key = kdf::hkdf_sha256_key(salt, key.key.as_slice(), purpose.as_str().as_bytes())?;
    aead::open(secret_key.as_slice(), nonce, &aad, ciphertext).map_err(VaultError::Unauthentic)
}

/// A keyed digest of `value` for `key`'s tenant and `purpose`: HMAC-SHA256
/// under a key derived from the tenant's data key. Equal values give equal
/// digests within one tenant and purpose, so repeats still correlate;
/// nothing of the value can be read back, one value's digests in two
/// tenants differ, and once the data key is destroyed no one can match a
/// digest to a value again (crypto-shredding reaches digests too).
///
/// # Errors
/// [`VaultError::Kdf`] if the key derivation fails.
pub fn keyed_digest(
    key: &TenantDataKey,
    purpose: &Purpose,
    value: &[u8],
) -> Result<[u8; KEYED_DIGEST_LEN], VaultError> {
    let mut info = Vec::with_capacity(KEYED_DIGEST_LABEL.len() + purpose.as_str().len());
    info.extend_from_slice(KEYED_DIGEST_LABEL);
    info.extend_from_slice(purpose.as_str().as_bytes());
    let digest_key = kdf::hkdf_sha256_key(key.tenant.as_bytes(), key.key.as_slice(), &info)?;
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, digest_key.as_slice()),
        value,
    );
    let mut out = [0u8; KEYED_DIGEST_LEN];
    for (slot, byte) in out.iter_mut().zip(tag.as_ref()) {
        *slot = *byte;
    }
    Ok(out)
}

/// What the integration tests cannot reach: the tenant and purpose in the
/// associated data, each shown to matter on its own (promise P3). Through the
/// public API another tenant always means another data key and another
/// purpose always means another per-secret key, so a failure there could come
/// from the key alone; here the key is held fixed and only the AAD changes.
#[cfg(test)]
mod tests {
    use zeroize::Zeroizing;

    use super::{
        AeadError, CIPHERTEXT_OFFSET, FORMAT_VERSION, NONCE_OFFSET, Purpose, SALT_OFFSET,
        TenantDataKey, TenantRef, VaultError, aead, kdf, open, seal, seal_aad,
    };

    const TENANT_A: TenantRef = TenantRef::from_bytes([0xa1; 16]);
    const TENANT_B: TenantRef = TenantRef::from_bytes([0xb2; 16]);
    const RECORD: &[u8] = b"0192f0c4-connection-1";
    const KEY_BYTES: [u8; 32] = [0x5c; 32];

    fn key_for(tenant: TenantRef) -> TenantDataKey {
        TenantDataKey {
            tenant,
            key: Zeroizing::new(KEY_BYTES),
        }
    }

    #[test]
    fn p3_aad_binds_the_tenant_even_under_the_same_key() {
        let key_a = key_for(TENANT_A);
        let same_bytes_for_b = key_for(TENANT_B);
        let purpose = Purpose::WEBHOOK_SECRET;
        let sealed = seal(&key_a, &purpose, RECORD, b"whsec_value").unwrap();
        // Control: the same bytes under the same tenant open it.
        assert_eq!(
            open(&key_for(TENANT_A), &purpose, RECORD, &sealed)
                .unwrap()
                .expose_secret(),
            b"whsec_value"
        );
        // The same data-key bytes, so the same per-secret key: only the tenant
        // id in the AAD differs, and the tag does not verify.
        assert!(matches!(
            open(&same_bytes_for_b, &purpose, RECORD, &sealed),
            Err(VaultError::Unauthentic(AeadError::Authentication(_)))
        ));
    }

    #[test]
    fn p3_aad_binds_the_purpose_even_under_the_same_key() {
        let key = key_for(TENANT_A);
        let purposes = [
            Purpose::OAUTH_ACCESS_TOKEN,
            Purpose::OAUTH_REFRESH_TOKEN,
            Purpose::CALDAV_PASSWORD,
            Purpose::ICS_FEED_URL,
            Purpose::WEBHOOK_SECRET,
            Purpose::TOTP_SEED,
        ];
        for purpose in &purposes {
            let sealed = seal(&key, purpose, RECORD, b"secret material").unwrap();
            let salt = &sealed[SALT_OFFSET..NONCE_OFFSET];
            let nonce = &sealed[NONCE_OFFSET..CIPHERTEXT_OFFSET];
            let ciphertext = &sealed[CIPHERTEXT_OFFSET..];
            // The per-secret key this value was sealed under, derived once
            // with this purpose as HKDF info and then held fixed.
            let derived =
                kdf::hkdf_sha256_key(salt, key.key.as_slice(), purpose.as_str().as_bytes())
                    .unwrap();
            let own_aad = seal_aad(FORMAT_VERSION, TENANT_A, purpose, RECORD).unwrap();
            assert_eq!(
                aead::open(derived.as_slice(), nonce, &own_aad, ciphertext)
                    .unwrap()
                    .expose_secret(),
                b"secret material"
            );
            for other in purposes.iter().filter(|other| *other != purpose) {
                let other_aad = seal_aad(FORMAT_VERSION, TENANT_A, other, RECORD).unwrap();
                assert!(
                    matches!(
                        aead::open(derived.as_slice(), nonce, &other_aad, ciphertext),
                        Err(AeadError::Authentication(_))
                    ),
                    "{} opened with the AAD of {}",
                    purpose.as_str(),
                    other.as_str()
                );
            }
        }
    }
}
