//! Passwords (promise P2): the NIST SP 800-63B policy, argon2id hashing in PHC
//! strings, verification of bcrypt hashes imported from other systems with an
//! upgrade at the next login, a dummy verify for unknown users, and a bounded
//! async hashing pool.
//!
//! # Flow
//!
//! - A new password passes [`PasswordPolicy::check`], which yields a
//!   [`NewPassword`]; only that type can be hashed ([`Passwords::hash`]).
//! - At login, [`Passwords::verify`] checks a candidate against a stored
//!   [`PasswordHash`]. If the hash should be replaced, the answer is
//!   [`Verification::ValidNeedsRehash`], which carries the
//!   [`VerifiedPassword`] that [`Passwords::rehash_verified`] takes; nothing
//!   else can be rehashed without the policy. For an unknown user,
//!   [`Passwords::verify_dummy`] spends the same time as a verify.
//! - A candidate over [`MAX_CANDIDATE_BYTES`] cannot be a password; `verify`
//!   spends a dummy verify on it and answers [`Verification::Invalid`],
//!   exactly what an unknown user gets, so its length does not reveal that
//!   the account exists.
//! - In async code, [`PasswordHasher`] runs all of this on the blocking pool
//!   with a bound on concurrent hashes and on the time a caller waits for one
//!   ([`PasswordError::Busy`]).
//!
//! # Stored formats
//!
//! - argon2id: a standard PHC string, `$argon2id$v=19$m=..,t=..,p=..$salt$hash`.
//! - Imported bcrypt: `$2a$`, `$2b$` or `$2y$` as the other system wrote it.
//! - Opt-in bcrypt mode: `$bw-bcrypt-hmac-sha384$v=1` followed by a `$2b$`
//!   hash of `base64(HMAC-SHA-384(pepper, NFKC(password)))`: 64 characters,
//!   so bcrypt never truncates and an interior NUL cannot cut the input.
//!
//! Passwords are NFKC-normalized before the policy check and before hashing,
//! so the same password typed on different keyboards verifies. A password of
//! more than 72 bytes is never accepted by an imported bcrypt hash, which
//! would only check its first 72: if those 72 bytes match, verification fails
//! with [`PasswordError::ResetRequired`], otherwise it is
//! [`Verification::Invalid`], after one bcrypt verification either way.

use std::collections::HashSet;
use std::fmt;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use argon2::password_hash::Error as PhcError;
use argon2::{Algorithm, Argon2, PasswordHasher as _, PasswordVerifier as _, Version};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;
use tokio::runtime::{Handle, TryCurrentError};
use tokio::sync::{AcquireError, Semaphore};
use tokio::task::JoinError;
use tokio::time::error::Elapsed;
use unicode_normalization::UnicodeNormalization as _;
use zeroize::Zeroizing;

use crate::rng::{self, RandomnessError};
use crate::secret::SecretString;

/// The argon2id parameters for new hashes: OWASP's recommended minimum
/// (19 MiB of memory, 2 passes, 1 lane). Configuration may raise them, never
/// lower them.
pub const ARGON2_DEFAULT: Argon2Params = Argon2Params {
    m_cost_kib: 19_456,
    t_cost: 2,
    p_cost: 1,
};
/// Upper bound on argon2 memory (2 GiB), for configuration and for stored
/// hashes, so a hostile stored hash cannot exhaust memory.
pub const ARGON2_MAX_M_COST_KIB: u32 = 2 * 1024 * 1024;
/// Upper bound on argon2 passes.
pub const ARGON2_MAX_T_COST: u32 = 16;
/// Upper bound on argon2 lanes.
pub const ARGON2_MAX_P_COST: u32 = 16;
/// The lowest bcrypt cost the opt-in bcrypt mode accepts (OWASP).
pub const BCRYPT_MIN_COST: u32 = 10;
/// The highest bcrypt cost accepted, in configuration and in stored hashes:
/// each step doubles the work, and cost 16 already takes seconds, so a
/// hostile imported hash cannot tie up a hashing thread for hours.
pub const BCRYPT_MAX_COST: u32 = 16;
/// The most bytes bcrypt reads; longer inputs would be silently truncated.
pub const BCRYPT_MAX_PASSWORD_BYTES: usize = 72;
/// The lowest minimum length the policy accepts (NIST SP 800-63B).
pub const MIN_LENGTH_FLOOR: usize = 8;
/// How long a caller of [`PasswordHasher`] waits for a free hashing slot by
/// default before it gets [`PasswordError::Busy`].
pub const DEFAULT_MAX_QUEUE_WAIT: Duration = Duration::from_secs(2);
/// The longest password the policy accepts, in characters.
pub const MAX_LENGTH: usize = 128;
/// Longest candidate, in bytes, that verification will look at. Anything
/// longer cannot be a valid password (the policy allows at most
/// [`MAX_LENGTH`] characters, 512 bytes); it is never hashed, but answered as
/// a wrong password after the time of a dummy verify.
pub const MAX_CANDIDATE_BYTES: usize = 1024;
/// Email local parts and tenant names shorter than this many characters are
/// refused only as the whole password, not as a part of it, so that a
/// three-letter name does not forbid every password containing it.
pub const CONTEXT_MIN_CHARS: usize = 4;
/// The minimum pepper length for the bcrypt mode, in bytes.
pub const PEPPER_MIN_BYTES: usize = 32;

const ARGON2_SALT_LEN: usize = 16;
const ARGON2_OUTPUT_LEN: usize = 32;
const BCRYPT_SALT_LEN: usize = 16;
const PEPPERED_PREFIX: &str = "$bw-bcrypt-hmac-sha384$v=1";
/// Length of the base64 HMAC-SHA-384 pre-hash (48 bytes).
const PREHASH_CHARS: usize = 64;

static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../data/common-passwords.txt")
        .lines()
        .filter(|line| !line.is_empty())
        .collect()
});

/// Whether `password` (after NFKC and lowercasing) is on the shipped list of
/// the 30,000 most common passwords (`data/common-passwords.txt`). Only the
/// 11,611 entries of 8 or more characters can matter to the policy: the
/// shorter ones are already refused as too short.
#[must_use]
pub fn is_common_password(password: &str) -> bool {
    let normalized = Zeroizing::new(password.nfkc().collect::<String>());
    let folded = Zeroizing::new(normalized.to_lowercase());
    COMMON_PASSWORDS.contains(folded.as_str())
}

/// Why a password configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordConfigError {
    /// An argon2 parameter is below [`ARGON2_DEFAULT`].
    #[error("argon2 {name} = {value} is below the minimum {min}")]
    Argon2BelowMinimum {
        /// `m_cost_kib`, `t_cost` or `p_cost`.
        name: &'static str,
        /// The configured value.
        value: u32,
        /// The minimum.
        min: u32,
    },
    /// An argon2 parameter is above its upper bound.
    #[error("argon2 {name} = {value} is above the maximum {max}")]
    Argon2AboveMaximum {
        /// `m_cost_kib`, `t_cost` or `p_cost`.
        name: &'static str,
        /// The configured value.
        value: u32,
        /// The maximum.
        max: u32,
    },
    /// The bcrypt cost is outside [`BCRYPT_MIN_COST`]..=[`BCRYPT_MAX_COST`].
    #[error("bcrypt cost {cost} is outside {BCRYPT_MIN_COST}..={BCRYPT_MAX_COST}")]
    BcryptCost {
        /// The configured cost.
        cost: u32,
    },
    /// The pepper is not valid base64. The decoder's error is not kept: it
    /// quotes a byte of the pepper.
    #[error("the password pepper is not valid base64")]
    PepperEncoding,
    /// The pepper is shorter than [`PEPPER_MIN_BYTES`].
    #[error("the password pepper is {len} bytes; at least {PEPPER_MIN_BYTES} are required")]
    PepperTooShort {
        /// The decoded length.
        len: usize,
    },
    /// The configured minimum length is outside [`MIN_LENGTH_FLOOR`]..=[`MAX_LENGTH`].
    #[error("minimum password length {requested} is outside {MIN_LENGTH_FLOOR}..={MAX_LENGTH}")]
    MinLength {
        /// The configured minimum.
        requested: usize,
    },
}

/// argon2id cost parameters, each at least [`ARGON2_DEFAULT`]'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
}

impl Argon2Params {
    /// Parameters from configuration.
    ///
    /// # Errors
    /// [`PasswordConfigError::Argon2BelowMinimum`] if any is weaker than
    /// [`ARGON2_DEFAULT`], [`PasswordConfigError::Argon2AboveMaximum`] if any
    /// exceeds its bound.
    pub const fn new(
        m_cost_kib: u32,
        t_cost: u32,
        p_cost: u32,
    ) -> Result<Self, PasswordConfigError> {
        if let Err(error) = bounded(
            "m_cost_kib",
            m_cost_kib,
            ARGON2_DEFAULT.m_cost_kib,
            ARGON2_MAX_M_COST_KIB,
        ) {
            return Err(error);
        }
        if let Err(error) = bounded("t_cost", t_cost, ARGON2_DEFAULT.t_cost, ARGON2_MAX_T_COST) {
            return Err(error);
        }
        if let Err(error) = bounded("p_cost", p_cost, ARGON2_DEFAULT.p_cost, ARGON2_MAX_P_COST) {
            return Err(error);
        }
        Ok(Self {
            m_cost_kib,
            t_cost,
            p_cost,
        })
    }

    /// Memory in KiB.
    #[must_use]
    pub const fn m_cost_kib(&self) -> u32 {
        self.m_cost_kib
    }

    /// Number of passes.
    #[must_use]
    pub const fn t_cost(&self) -> u32 {
        self.t_cost
    }

    /// Number of lanes.
    #[must_use]
    pub const fn p_cost(&self) -> u32 {
        self.p_cost
    }
}

const fn bounded(
    name: &'static str,
    value: u32,
    min: u32,
    max: u32,
) -> Result<(), PasswordConfigError> {
    if value < min {
        Err(PasswordConfigError::Argon2BelowMinimum { name, value, min })
    } else if value > max {
        Err(PasswordConfigError::Argon2AboveMaximum { name, value, max })
    } else {
        Ok(())
    }
}

/// A bcrypt cost for the opt-in bcrypt mode, [`BCRYPT_MIN_COST`] or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BcryptCost(u32);

impl BcryptCost {
    /// The cost for new bcrypt-mode hashes unless configured higher.
    pub const DEFAULT: Self = Self(12);

    /// A cost from configuration.
    ///
    /// # Errors
    /// [`PasswordConfigError::BcryptCost`] outside
    /// [`BCRYPT_MIN_COST`]..=[`BCRYPT_MAX_COST`].
    pub const fn new(cost: u32) -> Result<Self, PasswordConfigError> {
        if cost < BCRYPT_MIN_COST || cost > BCRYPT_MAX_COST {
            Err(PasswordConfigError::BcryptCost { cost })
        } else {
            Ok(Self(cost))
        }
    }

    /// The cost.
    #[must_use]
    pub const fn get(self) -> u32 {
        self.0
    }
}

/// The server-side secret of the bcrypt mode. Zeroized on drop; `Debug` is
/// redacted.
pub struct Pepper(Zeroizing<Vec<u8>>);

impl Pepper {
    /// Decodes a pepper from configuration (standard base64, at least
    /// [`PEPPER_MIN_BYTES`] bytes).
    ///
    /// # Errors
    /// [`PasswordConfigError::PepperEncoding`] or
    /// [`PasswordConfigError::PepperTooShort`].
    pub fn from_base64(encoded: &str) -> Result<Self, PasswordConfigError> {
        #[expect(
            clippy::map_err_ignore,
            reason = "base64's error quotes a byte of the pepper; it must not reach a log"
        )]
        let bytes = STANDARD
            .decode(encoded.trim())
            .map_err(|_| PasswordConfigError::PepperEncoding)?;
        let bytes = Zeroizing::new(bytes);
        if bytes.len() < PEPPER_MIN_BYTES {
            return Err(PasswordConfigError::PepperTooShort { len: bytes.len() });
        }
        Ok(Self(bytes))
    }

    /// `base64(HMAC-SHA-384(pepper, normalized))`, 64 characters. The tag is
    /// copied out of `ring`'s `Tag` at once and both copies made here are
    /// wiped on drop; the `Tag` itself is a stack temporary that `ring` does
    /// not zeroize (the same known limit as its key schedules).
    fn prehash(&self, normalized: &str) -> Zeroizing<String> {
        let key = hmac::Key::new(hmac::HMAC_SHA384, &self.0);
        let tag = Zeroizing::new(hmac::sign(&key, normalized.as_bytes()).as_ref().to_vec());
        // Sized up front, so encoding never reallocates and leaves no copy.
        let mut encoded = Zeroizing::new(String::with_capacity(PREHASH_CHARS));
        STANDARD.encode_string(tag.as_slice(), &mut encoded);
        encoded
    }
}

impl fmt::Debug for Pepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pepper([REDACTED])")
    }
}

/// How new passwords are hashed.
#[derive(Debug)]
#[non_exhaustive]
pub enum HashScheme {
    /// argon2id with these parameters (the default: [`ARGON2_DEFAULT`]).
    Argon2id(Argon2Params),
    /// bcrypt over `base64(HMAC-SHA-384(pepper, password))`, for operators
    /// whose policy names bcrypt.
    BcryptHmacSha384 {
        /// The bcrypt cost.
        cost: BcryptCost,
        /// The server pepper.
        pepper: Pepper,
    },
}

/// The minimum length and the rules of NIST SP 800-63B: at most
/// [`MAX_LENGTH`] characters, no composition rules, no common passwords, no
/// password made of the email's local part or the tenant's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    min_chars: usize,
}

/// What a new password is checked against besides the lists: who sets it,
/// and for which tenant.
#[derive(Debug, Clone, Copy)]
pub struct PolicyContext<'a> {
    email: &'a str,
    tenant_name: &'a str,
}

impl<'a> PolicyContext<'a> {
    /// The account's email address and the tenant's display name.
    #[must_use]
    pub const fn new(email: &'a str, tenant_name: &'a str) -> Self {
        Self { email, tenant_name }
    }
}

/// Why the policy refused a new password. Each reason is its own variant so
/// the caller can say exactly what to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyViolation {
    /// Fewer characters than the policy's minimum.
    #[error("the password must have at least {min} characters")]
    TooShort {
        /// The minimum.
        min: usize,
    },
    /// More than [`MAX_LENGTH`] characters.
    #[error("the password must have at most {max} characters")]
    TooLong {
        /// The maximum.
        max: usize,
    },
    /// On the list of the most common passwords.
    #[error("the password is one of the most common passwords")]
    Common,
    /// The same as the local part of the account's email address.
    #[error("the password is the account's email name")]
    EqualsEmailLocalPart,
    /// Contains the local part of the account's email address.
    #[error("the password contains the account's email name")]
    ContainsEmailLocalPart,
    /// The same as the tenant's name.
    #[error("the password is the business name")]
    EqualsTenantName,
    /// Contains the tenant's name.
    #[error("the password contains the business name")]
    ContainsTenantName,
}

/// A password that passed the policy, NFKC-normalized. Only this can be
/// hashed.
pub struct NewPassword(SecretString);

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword([REDACTED])")
    }
}

impl PasswordPolicy {
    /// NIST SP 800-63B: at least [`MIN_LENGTH_FLOOR`] characters.
    pub const NIST: Self = Self {
        min_chars: MIN_LENGTH_FLOOR,
    };

    /// A policy with a higher minimum length.
    ///
    /// # Errors
    /// [`PasswordConfigError::MinLength`] below [`MIN_LENGTH_FLOOR`] or above
    /// [`MAX_LENGTH`].
    pub const fn new(min_chars: usize) -> Result<Self, PasswordConfigError> {
        if min_chars < MIN_LENGTH_FLOOR || min_chars > MAX_LENGTH {
            Err(PasswordConfigError::MinLength {
                requested: min_chars,
            })
        } else {
            Ok(Self { min_chars })
        }
    }

    /// The minimum length in characters.
    #[must_use]
    pub const fn min_chars(&self) -> usize {
        self.min_chars
    }

    /// Checks a new password. Lengths count Unicode scalar values after NFKC;
    /// comparisons with the lists and the context are case-insensitive.
    ///
    /// # Errors
    /// The first [`PolicyViolation`] found, in the order of its variants.
    pub fn check(
        &self,
        candidate: SecretString,
        context: &PolicyContext<'_>,
    ) -> Result<NewPassword, PolicyViolation> {
        let too_long = PolicyViolation::TooLong { max: MAX_LENGTH };
        // A candidate this long cannot pass; refuse before normalizing it.
        if candidate.len() > MAX_CANDIDATE_BYTES {
            return Err(too_long);
        }
        let mut normalized = nfkc(&candidate);
        let chars = normalized.chars().count();
        if chars > MAX_LENGTH {
            return Err(too_long);
        }
        if chars < self.min_chars {
            return Err(PolicyViolation::TooShort {
                min: self.min_chars,
            });
        }
        let folded = Zeroizing::new(normalized.to_lowercase());
        if COMMON_PASSWORDS.contains(folded.as_str()) {
            return Err(PolicyViolation::Common);
        }
        let local_part = context
            .email
            .rsplit_once('@')
            .map_or(context.email, |(local, _domain)| local);
        let mut email_names = vec![fold(local_part)];
        if let Some((base, _tag)) = local_part.split_once('+') {
            email_names.push(fold(base));
        }
        if let Some(violation) = match_context(
            &folded,
            &email_names,
            PolicyViolation::EqualsEmailLocalPart,
            PolicyViolation::ContainsEmailLocalPart,
        ) {
            return Err(violation);
        }
        let tenant = fold(context.tenant_name);
        let tenant_compact: String = tenant.chars().filter(|c| !c.is_whitespace()).collect();
        if let Some(violation) = match_context(
            &folded,
            &[tenant, tenant_compact],
            PolicyViolation::EqualsTenantName,
            PolicyViolation::ContainsTenantName,
        ) {
            return Err(violation);
        }
        Ok(NewPassword(SecretString::new(std::mem::take(
            &mut *normalized,
        ))))
    }
}

fn fold(text: &str) -> String {
    text.nfkc()
        .collect::<String>()
        .to_lowercase()
        .trim()
        .to_owned()
}

fn match_context(
    folded_password: &str,
    names: &[String],
    equals: PolicyViolation,
    contains: PolicyViolation,
) -> Option<PolicyViolation> {
    let names = names.iter().filter(|name| !name.is_empty());
    for name in names {
        if folded_password == name {
            return Some(equals);
        }
        if name.chars().count() >= CONTEXT_MIN_CHARS && folded_password.contains(name.as_str()) {
            return Some(contains);
        }
    }
    None
}

fn nfkc(text: &SecretString) -> Zeroizing<String> {
    Zeroizing::new(text.expose_secret().nfkc().collect())
}

/// Why a stored hash could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HashFormatError {
    /// The string does not start with a scheme this crate reads (`$argon2id$`,
    /// `$2a$`, `$2b$`, `$2y$` or the bcrypt-mode prefix).
    #[error("unsupported password hash scheme")]
    Unsupported,
    /// An argon2id PHC string that does not parse.
    #[error("malformed argon2id hash")]
    Argon2(#[source] argon2::password_hash::phc::Error),
    /// An argon2id PHC string whose parameters are not valid for argon2.
    #[error("argon2id hash with invalid parameters")]
    Argon2Params(#[source] PhcError),
    /// An argon2id PHC string without a salt or without a hash.
    #[error("argon2id hash without salt or hash")]
    Argon2Incomplete,
    /// A bcrypt hash that does not parse.
    #[error("malformed bcrypt hash")]
    Bcrypt(#[source] bcrypt::BcryptError),
}

/// Which scheme a stored hash uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoredScheme {
    /// argon2id PHC string.
    Argon2id,
    /// A bcrypt hash imported from another system.
    LegacyBcrypt,
    /// The opt-in bcrypt mode over an HMAC-SHA-384 pre-hash.
    BcryptHmacSha384,
}

/// A stored password hash, parsed. `Debug` shows only the scheme: a hash is
/// material for an offline guessing attack and does not belong in logs.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash {
    encoded: String,
    scheme: StoredScheme,
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHash")
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

impl PasswordHash {
    /// Parses a stored hash.
    ///
    /// # Errors
    /// [`HashFormatError`] for an unknown scheme or a malformed hash.
    pub fn parse(encoded: &str) -> Result<Self, HashFormatError> {
        let scheme = if encoded.starts_with("$argon2id$") {
            let phc = argon2::PasswordHash::new(encoded).map_err(HashFormatError::Argon2)?;
            if phc.salt.is_none() || phc.hash.is_none() {
                return Err(HashFormatError::Argon2Incomplete);
            }
            argon2::Params::try_from(&phc).map_err(HashFormatError::Argon2Params)?;
            StoredScheme::Argon2id
        } else if let Some(inner) = encoded.strip_prefix(PEPPERED_PREFIX) {
            if !inner.starts_with("$2b$") {
                return Err(HashFormatError::Unsupported);
            }
            inner
                .parse::<bcrypt::HashParts>()
                .map_err(HashFormatError::Bcrypt)?;
            StoredScheme::BcryptHmacSha384
        } else if ["$2a$", "$2b$", "$2y$"]
            .iter()
            .any(|prefix| encoded.starts_with(prefix))
        {
            encoded
                .parse::<bcrypt::HashParts>()
                .map_err(HashFormatError::Bcrypt)?;
            StoredScheme::LegacyBcrypt
        } else {
            return Err(HashFormatError::Unsupported);
        };
        Ok(Self {
            encoded: encoded.to_owned(),
            scheme,
        })
    }

    /// The stored string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.encoded
    }

    /// The scheme.
    #[must_use]
    pub const fn scheme(&self) -> StoredScheme {
        self.scheme
    }
}

/// The outcome of a verification that ran.
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub enum Verification {
    /// The password matches and the stored hash is in the configured scheme
    /// and parameters.
    Valid,
    /// The password matches, but the stored hash is not in the configured
    /// scheme and parameters: hash the password again with
    /// [`Passwords::rehash_verified`] and store the new hash.
    ValidNeedsRehash(VerifiedPassword),
    /// The password does not match (or could not be a password at all).
    Invalid,
}

impl Verification {
    /// Whether the password matched, with or without a rehash to do.
    #[must_use]
    pub const fn is_valid(&self) -> bool {
        matches!(self, Self::Valid | Self::ValidNeedsRehash(_))
    }
}

/// A password that has just verified against its stored hash, NFKC-normalized.
/// Only [`Passwords::verify`] makes one (inside
/// [`Verification::ValidNeedsRehash`]), and only it can be passed to
/// [`Passwords::rehash_verified`], which skips the policy: a password that
/// did not verify cannot be stored that way. Zeroized on drop; `Debug` is
/// redacted.
#[derive(PartialEq, Eq)]
pub struct VerifiedPassword(SecretString);

impl fmt::Debug for VerifiedPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VerifiedPassword([REDACTED])")
    }
}

/// Why hashing or verifying failed (a wrong password is not an error; see
/// [`Verification::Invalid`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The password is longer than 72 bytes, the stored hash is an imported
    /// bcrypt hash, which would only check its first 72 bytes, and those 72
    /// bytes match. It is refused rather than accepted on a truncation; the
    /// account needs a password reset. (If the first 72 bytes do not match,
    /// the answer is [`Verification::Invalid`].)
    #[error(
        "the password is longer than {BCRYPT_MAX_PASSWORD_BYTES} bytes and the stored bcrypt hash \
         would truncate it; a password reset is needed"
    )]
    ResetRequired,
    /// The stored hash is in the bcrypt mode but no pepper is configured.
    #[error("the stored hash needs the bcrypt pepper, which is not configured")]
    PepperNotConfigured,
    /// The stored hash asks for more work than the upper bounds allow.
    #[error("the stored password hash has out-of-range parameters")]
    StoredParamsOutOfRange,
    /// The stored hash does not parse.
    #[error("the stored password hash is malformed")]
    Format(#[from] HashFormatError),
    /// argon2 refused the parameters.
    #[error("argon2 refused the parameters")]
    Argon2Params(#[source] argon2::Error),
    /// argon2 failed to hash or verify.
    #[error("argon2 failed")]
    Argon2(#[source] PhcError),
    /// bcrypt failed to hash or verify.
    #[error("bcrypt failed")]
    Bcrypt(#[source] bcrypt::BcryptError),
    /// No randomness for a salt.
    #[error(transparent)]
    Random(#[from] RandomnessError),
    /// The future was polled outside a Tokio runtime, which has the blocking
    /// pool the hashes run on.
    #[error("password hashing needs a Tokio runtime")]
    NoRuntime(#[source] TryCurrentError),
    /// The hashing pool was shut down.
    #[error("the password hashing pool is closed")]
    PoolClosed(#[source] AcquireError),
    /// The blocking hashing task panicked or was cancelled.
    #[error("the password hashing task failed")]
    TaskFailed(#[source] JoinError),
    /// Every hashing slot stayed taken for the whole allowed wait: the server
    /// is overloaded, and should answer 503 rather than queue without bound.
    #[error("no password hashing slot came free within {max_wait:?}")]
    Busy {
        /// The wait the pool is configured with.
        max_wait: Duration,
        /// The timer that ran out.
        #[source]
        source: Elapsed,
    },
}

/// Synchronous password hashing and verification in the configured scheme.
///
/// Each call costs a full password hash; from async code go through
/// [`PasswordHasher`].
#[derive(Debug)]
pub struct Passwords {
    scheme: HashScheme,
    verify_pepper: Option<Pepper>,
    dummy: PasswordHash,
}

impl Passwords {
    /// Hashing in `scheme`. Computes the dummy hash for
    /// [`Self::verify_dummy`] once, which costs one hash.
    ///
    /// # Errors
    /// [`PasswordError`] if the dummy hash cannot be computed.
    pub fn new(scheme: HashScheme) -> Result<Self, PasswordError> {
        let filler = SecretString::new(STANDARD.encode(rng::array::<32>()?));
        let dummy = hash_in(&scheme, &filler)?;
        Ok(Self {
            scheme,
            verify_pepper: None,
            dummy,
        })
    }

    /// Keeps a pepper for verifying bcrypt-mode hashes after the operator
    /// switched new hashes back to argon2id. Those hashes are upgraded at the
    /// next login.
    #[must_use]
    pub fn with_verify_pepper(mut self, pepper: Pepper) -> Self {
        self.verify_pepper = Some(pepper);
        self
    }

    /// The scheme for new hashes.
    #[must_use]
    pub const fn scheme(&self) -> &HashScheme {
        &self.scheme
    }

    /// Hashes a password that passed the policy.
    ///
    /// # Errors
    /// [`PasswordError`] if randomness or the hash function fails.
    pub fn hash(&self, password: &NewPassword) -> Result<PasswordHash, PasswordError> {
        hash_in(&self.scheme, &password.0)
    }

    /// Hashes again, in the configured scheme, a password that just verified
    /// against a hash that needs replacing
    /// ([`Verification::ValidNeedsRehash`]). The policy is not applied: the
    /// user chose this password under an earlier policy, and refusing it here
    /// would lock them out. That is safe only because a [`VerifiedPassword`]
    /// cannot be made any other way.
    ///
    /// # Errors
    /// As [`Self::hash`].
    pub fn rehash_verified(
        &self,
        password: &VerifiedPassword,
    ) -> Result<PasswordHash, PasswordError> {
        hash_in(&self.scheme, &password.0)
    }

    /// Verifies `candidate` against a stored hash.
    ///
    /// A candidate longer than [`MAX_CANDIDATE_BYTES`] is answered
    /// [`Verification::Invalid`] after exactly the work of
    /// [`Self::verify_dummy`] on it, which is what a login for an unknown
    /// user costs and answers: neither its length nor the time reveals that
    /// the account exists.
    ///
    /// # Errors
    /// [`PasswordError::ResetRequired`] for a password over 72 bytes against
    /// an imported bcrypt hash whose first 72 bytes match (one bcrypt
    /// verification, as for a mismatch, which is
    /// [`Verification::Invalid`]); [`PasswordError::PepperNotConfigured`];
    /// [`PasswordError::StoredParamsOutOfRange`]; or a failure of the hash
    /// function.
    pub fn verify(
        &self,
        candidate: &SecretString,
        stored: &PasswordHash,
    ) -> Result<Verification, PasswordError> {
        if candidate.len() > MAX_CANDIDATE_BYTES {
            self.verify_dummy(candidate);
            return Ok(Verification::Invalid);
        }
        let matched = match stored.scheme {
            StoredScheme::Argon2id => verify_argon2id(&nfkc(candidate), &stored.encoded)?,
            StoredScheme::LegacyBcrypt => Self::verify_legacy_bcrypt(candidate, &stored.encoded)?,
            StoredScheme::BcryptHmacSha384 => {
                let pepper = match &self.scheme {
                    HashScheme::BcryptHmacSha384 { pepper, .. } => Some(pepper),
                    HashScheme::Argon2id(_) => self.verify_pepper.as_ref(),
                }
                .ok_or(PasswordError::PepperNotConfigured)?;
                let inner = stored
                    .encoded
                    .strip_prefix(PEPPERED_PREFIX)
                    .ok_or(HashFormatError::Unsupported)?;
                bcrypt_within_bounds(inner)?;
                bcrypt::verify(pepper.prehash(&nfkc(candidate)).as_bytes(), inner)
                    .map_err(PasswordError::Bcrypt)?
            }
        };
        Ok(if !matched {
            Verification::Invalid
        } else if self.needs_rehash(stored) {
            let mut normalized = nfkc(candidate);
            Verification::ValidNeedsRehash(VerifiedPassword(SecretString::new(std::mem::take(
                &mut *normalized,
            ))))
        } else {
            Verification::Valid
        })
    }

    fn verify_legacy_bcrypt(
        candidate: &SecretString,
        encoded: &str,
    ) -> Result<bool, PasswordError> {
        bcrypt_within_bounds(encoded)?;
        let raw = candidate.expose_secret().as_bytes();
        if let Some(first) = raw
            .first_chunk::<BCRYPT_MAX_PASSWORD_BYTES>()
            .filter(|_| raw.len() > BCRYPT_MAX_PASSWORD_BYTES)
        {
            // What the other system checked: the first 72 bytes as typed. One
            // bcrypt verification whatever the outcome, as for a short
            // password. Only someone who knows those 72 bytes learns that a
            // reset is needed; anyone else gets an ordinary wrong password.
            return if bcrypt::verify(first, encoded).map_err(PasswordError::Bcrypt)? {
                Err(PasswordError::ResetRequired)
            } else {
                Ok(false)
            };
        }
        // The other system hashed what the user typed, most likely without
        // normalizing; try that first, then the NFKC form if it differs.
        if bcrypt::verify(raw, encoded).map_err(PasswordError::Bcrypt)? {
            return Ok(true);
        }
        let normalized = nfkc(candidate);
        if normalized.as_bytes() != raw && normalized.len() <= BCRYPT_MAX_PASSWORD_BYTES {
            return bcrypt::verify(normalized.as_bytes(), encoded).map_err(PasswordError::Bcrypt);
        }
        Ok(false)
    }

    /// Spends the time of one verification in the configured scheme and
    /// parameters, for a login to an account that does not exist. The result
    /// is always a failed login.
    pub fn verify_dummy(&self, candidate: &SecretString) {
        // An over-long candidate is replaced, not refused, so the time spent
        // stays the same.
        let placeholder;
        let candidate = if candidate.len() > MAX_CANDIDATE_BYTES {
            placeholder = SecretString::new(String::new());
            &placeholder
        } else {
            candidate
        };
        let normalized = nfkc(candidate);
        // The outcome does not matter: the login fails either way.
        let _: Result<bool, PasswordError> = match &self.scheme {
            HashScheme::Argon2id(_) => verify_argon2id(&normalized, &self.dummy.encoded),
            HashScheme::BcryptHmacSha384 { pepper, .. } => self
                .dummy
                .encoded
                .strip_prefix(PEPPERED_PREFIX)
                .map_or(Ok(false), |inner| {
                    bcrypt::verify(pepper.prehash(&normalized).as_bytes(), inner)
                        .map_err(PasswordError::Bcrypt)
                }),
        };
    }

    /// Whether a stored hash should be replaced by one in the configured
    /// scheme and parameters: any imported bcrypt hash, any hash in the other
    /// scheme, and any hash with different parameters.
    #[must_use]
    pub fn needs_rehash(&self, stored: &PasswordHash) -> bool {
        match (&self.scheme, stored.scheme) {
            (HashScheme::Argon2id(params), StoredScheme::Argon2id) => {
                !argon2id_matches(&stored.encoded, params)
            }
            (HashScheme::BcryptHmacSha384 { cost, .. }, StoredScheme::BcryptHmacSha384) => stored
                .encoded
                .strip_prefix(PEPPERED_PREFIX)
                .and_then(|inner| inner.parse::<bcrypt::HashParts>().ok())
                .is_none_or(|parts| parts.get_cost() != cost.get()),
            _ => true,
        }
    }
}

/// Parses a bcrypt hash and refuses a cost above [`BCRYPT_MAX_COST`] before
/// any work.
fn bcrypt_within_bounds(encoded: &str) -> Result<(), PasswordError> {
    let parts = encoded
        .parse::<bcrypt::HashParts>()
        .map_err(HashFormatError::Bcrypt)?;
    if parts.get_cost() > BCRYPT_MAX_COST {
        return Err(PasswordError::StoredParamsOutOfRange);
    }
    Ok(())
}

fn argon2id_matches(encoded: &str, wanted: &Argon2Params) -> bool {
    let Ok(phc) = argon2::PasswordHash::new(encoded) else {
        return false;
    };
    let Ok(params) = argon2::Params::try_from(&phc) else {
        return false;
    };
    phc.version == Some(Version::V0x13 as u32)
        && params.m_cost() == wanted.m_cost_kib
        && params.t_cost() == wanted.t_cost
        && params.p_cost() == wanted.p_cost
        && params.output_len() == Some(ARGON2_OUTPUT_LEN)
        && phc.salt.is_some_and(|salt| salt.len() >= ARGON2_SALT_LEN)
}

fn hash_in(scheme: &HashScheme, password: &SecretString) -> Result<PasswordHash, PasswordError> {
    match scheme {
        HashScheme::Argon2id(params) => {
            let params = argon2::Params::new(
                params.m_cost_kib,
                params.t_cost,
                params.p_cost,
                Some(ARGON2_OUTPUT_LEN),
            )
            .map_err(PasswordError::Argon2Params)?;
            let salt = rng::array::<ARGON2_SALT_LEN>()?;
            let phc = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                .hash_password_with_salt(password.expose_secret().as_bytes(), &salt)
                .map_err(PasswordError::Argon2)?;
            Ok(PasswordHash {
                encoded: phc.to_string(),
                scheme: StoredScheme::Argon2id,
            })
        }
        HashScheme::BcryptHmacSha384 { cost, pepper } => {
            let salt = rng::array::<BCRYPT_SALT_LEN>()?;
            let parts = bcrypt::hash_with_salt(
                pepper.prehash(password.expose_secret()).as_bytes(),
                cost.get(),
                salt,
            )
            .map_err(PasswordError::Bcrypt)?;
            Ok(PasswordHash {
                encoded: format!(
                    "{PEPPERED_PREFIX}{}",
                    parts.format_for_version(bcrypt::Version::TwoB)
                ),
                scheme: StoredScheme::BcryptHmacSha384,
            })
        }
    }
}

fn verify_argon2id(normalized: &str, encoded: &str) -> Result<bool, PasswordError> {
    let phc = argon2::PasswordHash::new(encoded).map_err(HashFormatError::Argon2)?;
    if phc.algorithm != argon2::ARGON2ID_IDENT {
        return Err(HashFormatError::Unsupported.into());
    }
    let params = argon2::Params::try_from(&phc).map_err(PasswordError::Argon2)?;
    if params.m_cost() > ARGON2_MAX_M_COST_KIB
        || params.t_cost() > ARGON2_MAX_T_COST
        || params.p_cost() > ARGON2_MAX_P_COST
    {
        return Err(PasswordError::StoredParamsOutOfRange);
    }
    match Argon2::default().verify_password(normalized.as_bytes(), &phc) {
        Ok(()) => Ok(true),
        Err(PhcError::PasswordInvalid) => Ok(false),
        Err(other) => Err(PasswordError::Argon2(other)),
    }
}

/// Runs [`Passwords`] off the async executor: each hash or verify waits for
/// one of a fixed number of permits, then runs on Tokio's blocking pool, so a
/// login flood neither starves the executor nor exhausts memory. The wait is
/// bounded too: a caller that gets no permit within the configured time
/// fails with [`PasswordError::Busy`] (the server answers 503), so a flood
/// cannot build an unbounded queue of requests that time out anyway.
///
/// Its futures must be polled inside a Tokio runtime; elsewhere they fail with
/// [`PasswordError::NoRuntime`] rather than panic. The wait is a Tokio timer,
/// so that runtime must have its time driver enabled (`enable_time` or
/// `enable_all`, as `#[tokio::main]` does): Tokio panics when a timer is
/// created without one, and this pool creates one whenever every permit is
/// taken.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    passwords: Arc<Passwords>,
    permits: Arc<Semaphore>,
    in_flight: Arc<AtomicUsize>,
    max_wait: Duration,
}

/// Decrements the in-flight gauge when a hashing job ends, even by panic.
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl PasswordHasher {
    /// A pool that runs at most `max_concurrent` hashes at a time, and in
    /// which a caller waits at most `max_wait` (for example
    /// [`DEFAULT_MAX_QUEUE_WAIT`]) for its turn. A zero `max_wait` means no
    /// queue: a caller either finds a free slot or is told the pool is busy.
    #[must_use]
    pub fn new(passwords: Passwords, max_concurrent: NonZeroUsize, max_wait: Duration) -> Self {
        Self {
            passwords: Arc::new(passwords),
            permits: Arc::new(Semaphore::new(max_concurrent.get())),
            in_flight: Arc::new(AtomicUsize::new(0)),
            max_wait,
        }
    }

    /// The longest a caller waits for a hashing slot.
    #[must_use]
    pub const fn max_wait(&self) -> Duration {
        self.max_wait
    }

    /// The synchronous engine, for the cheap calls such as
    /// [`Passwords::needs_rehash`].
    #[must_use]
    pub fn passwords(&self) -> &Passwords {
        &self.passwords
    }

    /// How many hashes are running right now (a gauge for metrics).
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    async fn run<T, F>(&self, job: F) -> Result<T, PasswordError>
    where
        T: Send + 'static,
        F: FnOnce(&Passwords) -> T + Send + 'static,
    {
        // First, so that no timer is created outside a runtime.
        let runtime = Handle::try_current().map_err(PasswordError::NoRuntime)?;
        // A free slot is taken at once, without a timer; otherwise wait for
        // one, but not longer than `max_wait`.
        let permit = match Arc::clone(&self.permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_no_permit_or_closed) => {
                tokio::time::timeout(self.max_wait, Arc::clone(&self.permits).acquire_owned())
                    .await
                    .map_err(|source| PasswordError::Busy {
                        max_wait: self.max_wait,
                        source,
                    })?
                    .map_err(PasswordError::PoolClosed)?
            }
        };
        let passwords = Arc::clone(&self.passwords);
        let in_flight = Arc::clone(&self.in_flight);
        runtime
            .spawn_blocking(move || {
                // Locals drop in reverse order: the gauge goes down before the
                // permit is released, so the gauge never exceeds the bound.
                let _permit = permit;
                in_flight.fetch_add(1, Ordering::SeqCst);
                let _gauge = InFlight(in_flight);
                job(&passwords)
            })
            .await
            .map_err(PasswordError::TaskFailed)
    }

    /// [`Passwords::hash`] on the blocking pool.
    ///
    /// # Errors
    /// As [`Passwords::hash`], [`PasswordError::Busy`], or a pool failure.
    pub async fn hash(&self, password: NewPassword) -> Result<PasswordHash, PasswordError> {
        self.run(move |passwords| passwords.hash(&password)).await?
    }

    /// [`Passwords::rehash_verified`] on the blocking pool.
    ///
    /// # Errors
    /// As [`Passwords::rehash_verified`], [`PasswordError::Busy`], or a pool
    /// failure.
    pub async fn rehash_verified(
        &self,
        password: VerifiedPassword,
    ) -> Result<PasswordHash, PasswordError> {
        self.run(move |passwords| passwords.rehash_verified(&password))
            .await?
    }

    /// [`Passwords::verify`] on the blocking pool.
    ///
    /// # Errors
    /// As [`Passwords::verify`], [`PasswordError::Busy`], or a pool failure.
    /// A login that gets `Busy` must fail the same way for known and unknown
    /// users; it says nothing about the account.
    pub async fn verify(
        &self,
        candidate: SecretString,
        stored: PasswordHash,
    ) -> Result<Verification, PasswordError> {
        self.run(move |passwords| passwords.verify(&candidate, &stored))
            .await?
    }

    /// [`Passwords::verify_dummy`] on the blocking pool.
    ///
    /// # Errors
    /// [`PasswordError::Busy`] or another pool failure.
    pub async fn verify_dummy(&self, candidate: SecretString) -> Result<(), PasswordError> {
        self.run(move |passwords| passwords.verify_dummy(&candidate))
            .await
    }
}
