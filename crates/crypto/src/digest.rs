//! SHA-256 for the other crates: lookup keys (failed sign-ins counted per
//! tenant and email), request fingerprints (an idempotency key reused for
//! another request), tokens derived from other tokens (CSRF) and the audit
//! hash chain. With it, no crate but this one names a hash library, so the
//! choice of primitives lives in one place (a tidy test keeps it so).
//!
//! ```
//! use bookwarden_crypto::digest::{Sha256, constant_time_eq};
//!
//! let mut one = Sha256::labelled(b"example v1");
//! one.update_framed(b"ab");
//! one.update_framed(b"c");
//! let mut other = Sha256::labelled(b"example v1");
//! other.update_framed(b"a");
//! other.update_framed(b"bc");
//! // Framing keeps adjacent fields from running together.
//! assert!(!constant_time_eq(&one.finish(), &other.finish()));
//! ```

use subtle::ConstantTimeEq as _;

/// The length of a SHA-256 digest in bytes.
pub const SHA256_LEN: usize = 32;

/// A SHA-256 digest being computed.
pub struct Sha256(ring::digest::Context);

impl std::fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // What went in may be secret (a session token, an email).
        f.write_str("Sha256(..)")
    }
}

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl Sha256 {
    /// An empty digest.
    pub fn new() -> Self {
        Self(ring::digest::Context::new(&ring::digest::SHA256))
    }

    /// A digest that starts with `label` and a NUL byte, so digests made
    /// for different purposes never collide.
    pub fn labelled(label: &[u8]) -> Self {
        let mut digest = Self::new();
        digest.update(label);
        digest.update(&[0]);
        digest
    }

    /// Adds `bytes` as they are.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// Adds `bytes` after their length (eight bytes, big-endian), so that
    /// a sequence of fields has exactly one reading.
    pub fn update_framed(&mut self, bytes: &[u8]) {
        self.0.update(&(bytes.len() as u64).to_be_bytes());
        self.0.update(bytes);
    }

    /// The digest.
    pub fn finish(self) -> [u8; SHA256_LEN] {
        let mut out = [0_u8; SHA256_LEN];
        out.copy_from_slice(self.0.finish().as_ref());
        out
    }
}

/// The SHA-256 digest of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; SHA256_LEN] {
    let mut digest = Sha256::new();
    digest.update(bytes);
    digest.finish()
}

/// Whether `a` and `b` are equal, in time that depends only on their
/// lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_fips_180_2_vector() {
        // FIPS 180-2, appendix B.1: SHA-256("abc").
        let expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let hex: String = sha256(b"abc").iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, expected);
    }

    #[test]
    fn a_label_is_the_label_and_a_nul_byte_first() {
        let mut by_hand = Sha256::new();
        by_hand.update(b"purpose v1\0");
        by_hand.update(b"value");
        let mut labelled = Sha256::labelled(b"purpose v1");
        labelled.update(b"value");
        assert_eq!(by_hand.finish(), labelled.finish());
        assert_ne!(
            Sha256::labelled(b"one").finish(),
            Sha256::labelled(b"two").finish()
        );
    }

    #[test]
    fn constant_time_eq_compares_whole_values() {
        assert!(constant_time_eq(b"same", b"same"));
        assert!(!constant_time_eq(b"same", b"sane"));
        assert!(!constant_time_eq(b"same", b"same!"));
    }
}
