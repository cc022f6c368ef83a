//! Tokens (promise P6): API keys, session tokens, booking-manage tokens,
//! invitation tokens and the like.
//!
//! A token is 256 random bits behind a readable type prefix and ahead of a
//! checksum:
//!
//! ```text
//! bw_key_ | base32(32 random bytes): 52 chars | base32(5-byte checksum): 8 chars
//! ```
//!
//! Base32 is RFC 4648's alphabet in lowercase without padding (`a-z`, `2-7`),
//! so a token is one word for double-click selection and a secret scanner can
//! match it with `bw_(key|ses|mng|inv|act|rst|drq)_[a-z2-7]{60}` and then confirm
//! the checksum (the first 5 bytes of SHA-256 over the prefix and body text)
//! to rule out false positives. [`parse`] checks length, prefix, alphabet and
//! checksum, each with its own error, before any digest work.
//!
//! The plaintext is shown once ([`generate`] returns it as a
//! [`SecretString`]); only its SHA-256 digest ([`TokenDigest`]) is stored, and
//! digests compare in constant time.

use std::fmt;

use data_encoding::BASE32_NOPAD;
use ring::digest::{SHA256, digest};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::rng::{self, RandomnessError};
use crate::secret::SecretString;

/// Length of every type prefix, such as `bw_key_`.
pub const PREFIX_LEN: usize = 7;
/// Random bytes in a token: 256 bits.
pub const RANDOM_BYTES: usize = 32;
/// Characters of the base32 body.
pub const BODY_CHARS: usize = 52;
/// Characters of the base32 checksum.
pub const CHECKSUM_CHARS: usize = 8;
/// Total token length.
pub const TOKEN_LEN: usize = PREFIX_LEN + BODY_CHARS + CHECKSUM_CHARS;

const CHECKSUM_BYTES: usize = 5;

/// What a token grants; its prefix says so to people and secret scanners.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenKind {
    /// A tenant's API key (`bw_key_`).
    ApiKey,
    /// A browser session (`bw_ses_`).
    Session,
    /// A customer's link to manage one booking (`bw_mng_`).
    BookingManage,
    /// An invitation to join a tenant (`bw_inv_`).
    Invitation,
    /// An OAuth-style access token (`bw_act_`).
    AccessToken,
    /// A password reset link (`bw_rst_`).
    PasswordReset,
    /// A customer's data-rights request link (`bw_drq_`).
    DataRequest,
}

impl TokenKind {
    /// Every kind.
    pub const ALL: [Self; 7] = [
        Self::ApiKey,
        Self::Session,
        Self::BookingManage,
        Self::Invitation,
        Self::AccessToken,
        Self::PasswordReset,
        Self::DataRequest,
    ];

    /// The type prefix.
    #[must_use]
    pub const fn prefix(self) -> &'static str {
        match self {
            Self::ApiKey => "bw_key_",
            Self::Session => "bw_ses_",
            Self::BookingManage => "bw_mng_",
            Self::Invitation => "bw_inv_",
            Self::AccessToken => "bw_act_",
            Self::PasswordReset => "bw_rst_",
            Self::DataRequest => "bw_drq_",
        }
    }

    fn from_prefix(prefix: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.prefix() == prefix)
    }
}

/// Why a presented token was refused. The order of the variants is the order
/// of the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not [`TOKEN_LEN`] characters.
    #[error("a token is {TOKEN_LEN} characters")]
    WrongLength,
    /// The prefix is not one of [`TokenKind`]'s.
    #[error("unknown token prefix")]
    UnknownPrefix,
    /// A character outside lowercase base32.
    #[error("a token holds only a-z and 2-7 after its prefix")]
    InvalidCharacter,
    /// The checksum does not match: a typo or a forged token.
    #[error("the token checksum does not match")]
    ChecksumMismatch,
    /// The body is not a canonical encoding of 32 bytes.
    #[error("the token body is not canonical")]
    NonCanonical(#[source] Option<data_encoding::DecodeError>),
    /// A valid token of another kind.
    #[error("expected a {expected:?} token, got a {found:?} token")]
    WrongKind {
        /// The kind the caller asked for.
        expected: TokenKind,
        /// The kind presented.
        found: TokenKind,
    },
}

/// The SHA-256 digest of a token: the only form that is stored. Equality is
/// constant-time.
#[derive(Clone, Copy)]
pub struct TokenDigest([u8; 32]);

impl TokenDigest {
    /// A digest read back from storage.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The digest bytes, for storage and lookup.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn of(token: &str) -> Self {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
        Self(out)
    }
}

impl PartialEq for TokenDigest {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for TokenDigest {}

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TokenDigest({})",
            data_encoding::HEXLOWER.encode(&self.0)
        )
    }
}

/// A presented token that passed every format check. It keeps only the kind
/// and the digest, not the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedToken {
    kind: TokenKind,
    digest: TokenDigest,
}

impl ParsedToken {
    /// The token's kind.
    #[must_use]
    pub const fn kind(&self) -> TokenKind {
        self.kind
    }

    /// The digest to look the token up by.
    #[must_use]
    pub const fn digest(&self) -> TokenDigest {
        self.digest
    }

    /// Whether this token is the one whose digest was stored, in constant
    /// time.
    #[must_use]
    pub fn verify(&self, stored: &TokenDigest) -> bool {
        self.digest == *stored
    }
}

fn checksum(prefix_and_body: &str) -> String {
    let hash = digest(&SHA256, prefix_and_body.as_bytes());
    let first = hash.as_ref().get(..CHECKSUM_BYTES).unwrap_or_default();
    BASE32_NOPAD.encode(first).to_ascii_lowercase()
}

/// Generates a token of `kind`. Show the [`SecretString`] to its owner once;
/// store only the [`TokenDigest`].
///
/// # Errors
/// [`RandomnessError`] if the OS has no randomness.
pub fn generate(kind: TokenKind) -> Result<(SecretString, TokenDigest), RandomnessError> {
    let random = Zeroizing::new(rng::array::<RANDOM_BYTES>()?);
    // Every buffer that holds the body is wiped on drop; `token` has its full
    // capacity from the start, so pushing never leaves a stale copy behind.
    let mut body = Zeroizing::new(BASE32_NOPAD.encode(random.as_slice()));
    body.make_ascii_lowercase();
    let mut token = Zeroizing::new(String::with_capacity(TOKEN_LEN));
    token.push_str(kind.prefix());
    token.push_str(&body);
    let check = checksum(&token);
    token.push_str(&check);
    let digest = TokenDigest::of(&token);
    Ok((SecretString::new(std::mem::take(&mut *token)), digest))
}

/// Checks a presented token's format and computes its digest.
///
/// # Errors
/// The first failing check: [`TokenError::WrongLength`],
/// [`TokenError::UnknownPrefix`], [`TokenError::InvalidCharacter`],
/// [`TokenError::ChecksumMismatch`], [`TokenError::NonCanonical`].
pub fn parse(presented: &str) -> Result<ParsedToken, TokenError> {
    if presented.len() != TOKEN_LEN || !presented.is_ascii() {
        return Err(TokenError::WrongLength);
    }
    let (prefix, rest) = presented
        .split_at_checked(PREFIX_LEN)
        .ok_or(TokenError::WrongLength)?;
    let kind = TokenKind::from_prefix(prefix).ok_or(TokenError::UnknownPrefix)?;
    if !rest
        .bytes()
        .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
    {
        return Err(TokenError::InvalidCharacter);
    }
    let (prefix_and_body, check) = presented
        .split_at_checked(PREFIX_LEN + BODY_CHARS)
        .ok_or(TokenError::WrongLength)?;
    let expected = checksum(prefix_and_body);
    if !bool::from(expected.as_bytes().ct_eq(check.as_bytes())) {
        return Err(TokenError::ChecksumMismatch);
    }
    // The caller owns `presented`; the copies made here are wiped on drop.
    let body = Zeroizing::new(
        prefix_and_body
            .get(PREFIX_LEN..)
            .ok_or(TokenError::WrongLength)?
            .to_ascii_uppercase(),
    );
    let decoded = Zeroizing::new(
        BASE32_NOPAD
            .decode(body.as_bytes())
            .map_err(|error| TokenError::NonCanonical(Some(error)))?,
    );
    if decoded.len() != RANDOM_BYTES {
        return Err(TokenError::NonCanonical(None));
    }
    Ok(ParsedToken {
        kind,
        digest: TokenDigest::of(presented),
    })
}

/// [`parse`], then a check that the token is of the `expected` kind.
///
/// # Errors
/// As [`parse`], then [`TokenError::WrongKind`].
pub fn parse_as(presented: &str, expected: TokenKind) -> Result<ParsedToken, TokenError> {
    let parsed = parse(presented)?;
    if parsed.kind == expected {
        Ok(parsed)
    } else {
        Err(TokenError::WrongKind {
            expected,
            found: parsed.kind,
        })
    }
}
