//! TOTP two-factor authentication (the two-factor part of promise P14):
//! RFC 6238 over RFC 4226 HOTP, computed with `ring`'s HMAC.
//!
//! - SHA-1 is the default because every authenticator app supports it;
//!   SHA-256 and SHA-512 are available. Codes have 6 or 8 digits.
//! - [`Totp::verify`] accepts the current step and one step either side, and
//!   refuses any step at or before the last one used, so a code cannot be
//!   replayed.
//! - Seeds are 160 bits for SHA-1 and the hash length for the others; they
//!   are sealed in the vault under [`Purpose::TOTP_SEED`] and never stored in
//!   clear ([`TotpSeed::seal`], [`TotpSeed::open`]).
//! - Recovery codes: [`RECOVERY_CODE_COUNT`] random 80-bit codes, shown once,
//!   stored as digests bound to their user ([`RecoveryCodeDigest`]), each
//!   usable once ([`match_recovery_code`]).
//!
//! # What storage must do
//!
//! This crate decides whether a code is right; it cannot make a code single
//! use, because two logins with the same code may run at the same time. Each
//! check therefore returns what the caller must persist, and the persistence
//! layer must write it with one conditional statement and accept the login
//! only if that statement affected exactly one row:
//!
//! - TOTP: [`Totp::verify`] returns the [`MatchedStep`]; store it with
//!   `UPDATE ... SET last_step = ? WHERE user_id = ? AND (last_step IS NULL
//!   OR last_step < ?)` (the matched step in both places). Zero rows means
//!   another login used this step or a later one first: refuse as replayed.
//! - Recovery codes: [`match_recovery_code`] returns the matched
//!   [`RecoveryCodeDigest`]; remove it with `DELETE ... WHERE user_id = ? AND
//!   digest = ?`. Zero rows means it was already used: refuse.
//!
//! A read-modify-write of the whole row or list would let both concurrent
//! logins through.

use std::fmt;

use data_encoding::BASE32_NOPAD;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use ring::digest;
use ring::hmac;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::rng::{self, RandomnessError};
use crate::secret::{SecretBytes, SecretString};
use crate::vault::{self, Purpose, TenantDataKey, VaultError};

/// The shortest seed accepted: 128 bits (RFC 4226, section 4).
pub const MIN_SEED_BYTES: usize = 16;
/// How many recovery codes a user gets.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Random bytes per recovery code (80 bits).
pub const RECOVERY_CODE_BYTES: usize = 10;
/// Steps accepted either side of the current one.
pub const WINDOW: u64 = 1;

/// The HMAC behind the codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TotpAlgorithm {
    /// HMAC-SHA-1, what authenticator apps expect (the default).
    #[default]
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

impl TotpAlgorithm {
    const fn hmac(self) -> hmac::Algorithm {
        match self {
            Self::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha256 => hmac::HMAC_SHA256,
            Self::Sha512 => hmac::HMAC_SHA512,
        }
    }

    const fn seed_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }

    const fn uri_name(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
            Self::Sha512 => "SHA512",
        }
    }
}

/// Code length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TotpDigits {
    /// Six digits (the default).
    #[default]
    Six,
    /// Eight digits.
    Eight,
}

impl TotpDigits {
    const fn count(self) -> usize {
        match self {
            Self::Six => 6,
            Self::Eight => 8,
        }
    }

    const fn modulus(self) -> u32 {
        match self {
            Self::Six => 1_000_000,
            Self::Eight => 100_000_000,
        }
    }
}

/// Why a TOTP operation failed or a code was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TotpError {
    /// The code is not the configured number of ASCII digits.
    #[error("a code is {expected} digits")]
    MalformedCode {
        /// The configured number of digits.
        expected: usize,
    },
    /// No step in the window produces this code.
    #[error("the code is not valid")]
    InvalidCode,
    /// The code is valid for a step already used (or older than one used).
    #[error("the code was already used")]
    Replayed,
    /// The seed is shorter than [`MIN_SEED_BYTES`].
    #[error("a TOTP seed needs at least {MIN_SEED_BYTES} bytes, got {len}")]
    SeedTooShort {
        /// The given length.
        len: usize,
    },
    /// The time step is zero.
    #[error("the TOTP time step must be at least one second")]
    ZeroStep,
    /// Sealing or opening the seed failed.
    #[error("the TOTP seed could not be sealed or opened")]
    Vault(#[from] VaultError),
    /// No randomness for a seed.
    #[error(transparent)]
    Random(#[from] RandomnessError),
}

/// A TOTP shared secret. Zeroized on drop; `Debug` is redacted.
pub struct TotpSeed(SecretBytes);

impl fmt::Debug for TotpSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSeed([REDACTED])")
    }
}

impl TotpSeed {
    /// A fresh random seed of the natural length for `algorithm`.
    ///
    /// # Errors
    /// [`TotpError::Random`].
    pub fn generate(algorithm: TotpAlgorithm) -> Result<Self, TotpError> {
        let mut bytes = Zeroizing::new(vec![0u8; algorithm.seed_len()]);
        rng::fill(&mut bytes)?;
        Ok(Self(SecretBytes::new(std::mem::take(&mut *bytes))))
    }

    /// A seed from its bytes (for example an RFC test vector).
    ///
    /// # Errors
    /// [`TotpError::SeedTooShort`].
    pub fn from_secret(bytes: SecretBytes) -> Result<Self, TotpError> {
        if bytes.len() < MIN_SEED_BYTES {
            return Err(TotpError::SeedTooShort { len: bytes.len() });
        }
        Ok(Self(bytes))
    }

    /// Seals the seed in the vault for the user's row `record_id`.
    ///
    /// # Errors
    /// [`TotpError::Vault`].
    pub fn seal(&self, key: &TenantDataKey, record_id: &[u8]) -> Result<Vec<u8>, TotpError> {
        Ok(vault::seal(
            key,
            &Purpose::TOTP_SEED,
            record_id,
            self.0.expose_secret(),
        )?)
    }

    /// Opens a seed sealed by [`Self::seal`] for the same tenant and record.
    ///
    /// # Errors
    /// [`TotpError::Vault`] or [`TotpError::SeedTooShort`].
    pub fn open(key: &TenantDataKey, record_id: &[u8], sealed: &[u8]) -> Result<Self, TotpError> {
        Self::from_secret(vault::open(key, &Purpose::TOTP_SEED, record_id, sealed)?)
    }
}

/// A time step that a code matched: what the caller must persist before the
/// code counts.
///
/// Store [`Self::get`] as the user's last used step with a conditional
/// update, `UPDATE ... SET last_step = ? WHERE user_id = ? AND (last_step IS
/// NULL OR last_step < ?)`, and accept the code only if exactly one row was
/// affected (see the module docs). Pass the stored step to the next
/// [`Totp::verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[must_use = "the code counts only once this step is stored with a conditional UPDATE"]
pub struct MatchedStep(u64);

impl MatchedStep {
    /// The step number: Unix time divided by the step length.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// A user's TOTP generator and verifier.
#[derive(Debug)]
pub struct Totp {
    seed: TotpSeed,
    algorithm: TotpAlgorithm,
    digits: TotpDigits,
    step_secs: u64,
}

impl Totp {
    /// The usual configuration: SHA-1, 6 digits, 30-second steps.
    #[must_use]
    pub const fn new(seed: TotpSeed) -> Self {
        Self {
            seed,
            algorithm: TotpAlgorithm::Sha1,
            digits: TotpDigits::Six,
            step_secs: 30,
        }
    }

    /// Another algorithm, code length or step length.
    ///
    /// # Errors
    /// [`TotpError::ZeroStep`].
    pub fn with_params(
        seed: TotpSeed,
        algorithm: TotpAlgorithm,
        digits: TotpDigits,
        step_secs: u64,
    ) -> Result<Self, TotpError> {
        if step_secs == 0 {
            return Err(TotpError::ZeroStep);
        }
        Ok(Self {
            seed,
            algorithm,
            digits,
            step_secs,
        })
    }

    /// The step that contains `unix_time`.
    #[must_use]
    pub const fn step_at(&self, unix_time: u64) -> u64 {
        unix_time / self.step_secs
    }

    fn code_number(&self, step: u64) -> u32 {
        let key = hmac::Key::new(self.algorithm.hmac(), self.seed.0.expose_secret());
        let tag = hmac::sign(&key, &step.to_be_bytes());
        let mac = tag.as_ref();
        // RFC 4226 section 5.3 dynamic truncation. Every HMAC here is at least
        // 20 bytes, so the offset (at most 15) and the 4 bytes after it are in
        // range; `get` keeps that a checked fact rather than an assumption.
        let offset = usize::from(mac.last().copied().unwrap_or(0) & 0x0f);
        let word = mac
            .get(offset..)
            .and_then(<[u8]>::first_chunk::<4>)
            .map_or(0, |bytes| u32::from_be_bytes(*bytes) & 0x7fff_ffff);
        word % self.digits.modulus()
    }

    /// The code for a step, zero-padded (RFC 4226 HOTP with the step as
    /// counter).
    #[must_use]
    pub fn code_for_step(&self, step: u64) -> SecretString {
        SecretString::new(format!(
            "{:0width$}",
            self.code_number(step),
            width = self.digits.count()
        ))
    }

    /// The code at `unix_time`.
    #[must_use]
    pub fn code_at(&self, unix_time: u64) -> SecretString {
        self.code_for_step(self.step_at(unix_time))
    }

    /// Checks `code` at `unix_time` against the step before, the current step
    /// and the step after. ASCII spaces in the code are ignored.
    ///
    /// The check alone does not stop a replay: two requests with the same code
    /// can both pass it before either stores its step. The code is accepted
    /// only once the returned [`MatchedStep`] is stored with `UPDATE ... SET
    /// last_step = ? WHERE user_id = ? AND (last_step IS NULL OR last_step <
    /// ?)` and exactly one row was affected.
    ///
    /// # Errors
    /// [`TotpError::MalformedCode`]; [`TotpError::Replayed`] if the code
    /// matches only steps at or before `last_used_step`;
    /// [`TotpError::InvalidCode`] if it matches none.
    pub fn verify(
        &self,
        code: &str,
        unix_time: u64,
        last_used_step: Option<u64>,
    ) -> Result<MatchedStep, TotpError> {
        let expected = self.digits.count();
        if code.len() > 2 * expected {
            return Err(TotpError::MalformedCode { expected });
        }
        let given: Zeroizing<String> = Zeroizing::new(code.chars().filter(|c| *c != ' ').collect());
        if given.len() != expected || !given.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TotpError::MalformedCode { expected });
        }
        let current = self.step_at(unix_time);
        let first = current.saturating_sub(WINDOW);
        let last = current.saturating_add(WINDOW);
        // Every step in the window is computed and compared, in constant time,
        // whatever matched earlier.
        let mut newest_match: Option<u64> = None;
        for step in first..=last {
            let candidate = self.code_for_step(step);
            if bool::from(candidate.expose_secret().as_bytes().ct_eq(given.as_bytes())) {
                newest_match = Some(step);
            }
        }
        match (newest_match, last_used_step) {
            (None, _) => Err(TotpError::InvalidCode),
            (Some(step), Some(used)) if step <= used => Err(TotpError::Replayed),
            (Some(step), _) => Ok(MatchedStep(step)),
        }
    }

    /// The `otpauth://` URI for enrollment (shown as a QR code). It contains
    /// the seed, so it is a secret.
    #[must_use]
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> SecretString {
        let issuer = utf8_percent_encode(issuer, NON_ALPHANUMERIC).to_string();
        let account = utf8_percent_encode(account, NON_ALPHANUMERIC).to_string();
        let secret = Zeroizing::new(BASE32_NOPAD.encode(self.seed.0.expose_secret()));
        SecretString::new(format!(
            "otpauth://totp/{issuer}:{account}?secret={}&issuer={issuer}&algorithm={}&digits={}&period={}",
            secret.as_str(),
            self.algorithm.uri_name(),
            self.digits.count(),
            self.step_secs,
        ))
    }
}

/// The digest of a recovery code: the only form stored. Equality is
/// constant-time.
///
/// It is `SHA-256("bookwarden recovery v1" || user id (16 bytes) || code)`,
/// the code lowercased without hyphens or spaces. The user id binds each
/// digest to its user: the same code gives another digest for anyone else,
/// so a dump of the table cannot be searched for all users at once, and a
/// digest copied to another user's rows does not match their codes.
#[derive(Clone, Copy)]
pub struct RecoveryCodeDigest([u8; 32]);

impl RecoveryCodeDigest {
    /// A digest read back from storage.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The digest bytes, for storage.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn of(user: &[u8; 16], normalized: &str) -> Self {
        // The label and the user id have fixed lengths, so the concatenation
        // is unambiguous.
        let mut context = digest::Context::new(&digest::SHA256);
        context.update(RECOVERY_DIGEST_LABEL);
        context.update(user);
        context.update(normalized.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(context.finish().as_ref());
        Self(out)
    }
}

impl PartialEq for RecoveryCodeDigest {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for RecoveryCodeDigest {}

impl fmt::Debug for RecoveryCodeDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCodeDigest(..)")
    }
}

/// Why a recovery code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecoveryCodeError {
    /// Not 16 base32 characters (hyphens and spaces aside).
    #[error("a recovery code is 16 letters and digits")]
    Malformed,
    /// Not one of the user's unused codes.
    #[error("the recovery code is not valid or was already used")]
    NotFound,
}

const RECOVERY_CODE_CHARS: usize = 16;
/// Domain separation for recovery-code digests; a new version of the scheme
/// gets a new label.
const RECOVERY_DIGEST_LABEL: &[u8] = b"bookwarden recovery v1";

fn normalize_recovery_code(input: &str) -> Result<Zeroizing<String>, RecoveryCodeError> {
    if input.len() > 4 * RECOVERY_CODE_CHARS {
        return Err(RecoveryCodeError::Malformed);
    }
    let normalized: Zeroizing<String> = Zeroizing::new(
        input
            .chars()
            .filter(|c| *c != '-' && !c.is_whitespace())
            .map(|c| c.to_ascii_lowercase())
            .collect(),
    );
    let base32 = |b: u8| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b);
    if normalized.len() != RECOVERY_CODE_CHARS || !normalized.bytes().all(base32) {
        return Err(RecoveryCodeError::Malformed);
    }
    Ok(normalized)
}

/// Generates [`RECOVERY_CODE_COUNT`] recovery codes for the user whose id
/// (UUID) bytes are `user`, formatted `xxxx-xxxx-xxxx-xxxx`. Show the codes
/// once; store only the digests, one row each, with the user id.
///
/// # Errors
/// [`RandomnessError`].
pub fn generate_recovery_codes(
    user: &[u8; 16],
) -> Result<(Vec<SecretString>, Vec<RecoveryCodeDigest>), RandomnessError> {
    let mut codes = Vec::with_capacity(RECOVERY_CODE_COUNT);
    let mut digests = Vec::with_capacity(RECOVERY_CODE_COUNT);
    for _ in 0..RECOVERY_CODE_COUNT {
        let random = Zeroizing::new(rng::array::<RECOVERY_CODE_BYTES>()?);
        let plain = Zeroizing::new(BASE32_NOPAD.encode(random.as_slice()).to_ascii_lowercase());
        digests.push(RecoveryCodeDigest::of(user, &plain));
        let mut display = String::with_capacity(RECOVERY_CODE_CHARS + 3);
        for (i, c) in plain.chars().enumerate() {
            if i > 0 && i % 4 == 0 {
                display.push('-');
            }
            display.push(c);
        }
        codes.push(SecretString::new(display));
    }
    Ok((codes, digests))
}

/// The digest of a presented recovery code, for a store that deletes the
/// matching row in one conditional statement (so a code works once even
/// under concurrency).
///
/// # Errors
/// [`RecoveryCodeError::Malformed`] when the input cannot be a code.
pub fn recovery_code_digest(
    user: &[u8; 16],
    input: &str,
) -> Result<RecoveryCodeDigest, RecoveryCodeError> {
    let normalized = normalize_recovery_code(input)?;
    Ok(RecoveryCodeDigest::of(user, &normalized))
}

/// Finds which of the user's `unused` recovery codes `input` is, and returns
/// its digest: the row the caller must delete before the login may proceed.
///
/// Matching does not use the code up. The caller consumes it with `DELETE
/// ... WHERE user_id = ? AND digest = ?` and accepts the login only if
/// exactly one row was affected; zero rows means a concurrent login used it
/// first. `user` is the same id bytes the codes were generated for: a code
/// matches only for its own user.
///
/// # Errors
/// [`RecoveryCodeError::Malformed`] or [`RecoveryCodeError::NotFound`].
pub fn match_recovery_code(
    user: &[u8; 16],
    unused: &[RecoveryCodeDigest],
    input: &str,
) -> Result<RecoveryCodeDigest, RecoveryCodeError> {
    let normalized = normalize_recovery_code(input)?;
    let presented = RecoveryCodeDigest::of(user, &normalized);
    // Compare against every stored digest, without stopping at a match.
    let mut found = false;
    for stored in unused {
        found |= *stored == presented;
    }
    if found {
        Ok(presented)
    } else {
        Err(RecoveryCodeError::NotFound)
    }
}
