//! Bookwarden's cryptography, a leaf crate that depends on no crate of ours.
//!
//! - [`password`]: argon2id hashing in PHC strings, verification of imported
//!   bcrypt hashes with upgrade on login, the NIST SP 800-63B policy, a dummy
//!   verify for unknown users and a bounded async hashing pool (promise P2).
//! - [`vault`]: the AES-256-GCM vault with versioned master keys, per-tenant
//!   data keys, HKDF-derived per-secret keys and associated data binding
//!   tenant, purpose and record (promise P3).
//! - [`token`]: prefixed, checksummed 256-bit tokens stored only as digests
//!   (promise P6).
//! - [`totp`]: RFC 6238 TOTP with replay refusal and single-use recovery codes
//!   (the two-factor part of promise P14).
//! - `aead` and `kdf`: the thin layers over `ring` that the vault uses and
//!   that the Wycheproof vectors drive. They are private to the crate: the raw
//!   AEAD takes any nonce, so no other crate may call it with a nonce of its
//!   own. Only their error types, [`AeadError`] and [`KdfError`], are public,
//!   as causes of vault errors.
//! - [`stream`]: streaming AES-GCM-HKDF in Tink's published layout, for
//!   backups too large to hold in memory (promise P11), under keys the
//!   master key ring derives ([`vault::MasterKeyRing::backup_key`]).
//! - [`secret`]: the types that hold secret material.
//! - [`digest`]: SHA-256 and constant-time comparison for the other crates
//!   (lookup keys, request fingerprints, the audit chain), so that no other
//!   crate names a hash library.
//!
//! Every primitive comes from `ring`, `argon2` or `bcrypt`; nothing is rolled by
//! hand. No function here panics on any input. The async hashing pool needs a
//! Tokio runtime with its time driver enabled (see
//! [`password::PasswordHasher`]).

mod aead;
pub mod digest;
mod kdf;
pub mod password;
mod rng;
pub mod secret;
pub mod stream;
pub mod token;
pub mod totp;
pub mod vault;

pub use aead::AeadError;
pub use kdf::KdfError;
pub use rng::RandomnessError;
pub use secret::{SecretBytes, SecretString};
