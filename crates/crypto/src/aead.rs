//! The thin AES-256-GCM layer over `ring` that the vault uses and that the
//! Wycheproof vectors drive.
//!
//! Only 256-bit keys, 96-bit nonces and 128-bit tags exist here. Any other key
//! or nonce length is refused with a typed error before `ring` sees it, and
//! the ciphertext is checked to hold at least a tag before anything is sliced.
//!
//! This layer takes any nonce it is given, so it is private to the crate:
//! only the vault calls it, and the vault draws a fresh random nonce for every
//! seal (under a key that is itself fresh per secret, or a master key for
//! which each wrap draws a fresh nonce). Other crates reach AES-256-GCM only
//! through [`crate::vault`], and see only [`AeadError`] (re-exported at the
//! crate root) as the cause of a vault error.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use zeroize::Zeroizing;

use crate::secret::SecretBytes;

/// AES-256 key length in bytes.
pub(crate) const KEY_LEN: usize = 32;
/// GCM nonce length in bytes (96 bits); the only one accepted.
pub(crate) const NONCE_LEN: usize = 12;
/// GCM tag length in bytes (128 bits), appended to the ciphertext.
pub(crate) const TAG_LEN: usize = 16;

/// Why an AES-256-GCM operation was refused or failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AeadError {
    /// The key is not 32 bytes long.
    #[error("AES-256-GCM needs a {KEY_LEN}-byte key, got {actual} bytes")]
    KeyLength {
        /// The length that was given.
        actual: usize,
    },
    /// The nonce is not 12 bytes long.
    #[error("AES-256-GCM here takes only a {NONCE_LEN}-byte nonce, got {actual} bytes")]
    NonceLength {
        /// The length that was given.
        actual: usize,
    },
    /// The ciphertext cannot even hold the tag.
    #[error("the ciphertext is {actual} bytes, shorter than the {TAG_LEN}-byte tag")]
    CiphertextTooShort {
        /// The length that was given.
        actual: usize,
    },
    /// The tag did not verify: wrong key, nonce or associated data, or the
    /// ciphertext was modified.
    #[error("the ciphertext did not authenticate")]
    Authentication(#[source] ring::error::Unspecified),
    /// `ring` refused the key (cannot happen for a 32-byte key).
    #[error("ring refused the AES-256-GCM key")]
    KeyRejected(#[source] ring::error::Unspecified),
    /// `ring` refused to seal (the plaintext exceeds the GCM limit).
    #[error("AES-256-GCM refused to seal this plaintext")]
    Seal(#[source] ring::error::Unspecified),
}

fn key(key: &[u8]) -> Result<LessSafeKey, AeadError> {
    if key.len() != KEY_LEN {
        return Err(AeadError::KeyLength { actual: key.len() });
    }
    UnboundKey::new(&AES_256_GCM, key)
        .map(LessSafeKey::new)
        .map_err(AeadError::KeyRejected)
}

fn nonce(nonce: &[u8]) -> Result<Nonce, AeadError> {
    match nonce.first_chunk::<NONCE_LEN>() {
        Some(bytes) if nonce.len() == NONCE_LEN => Ok(Nonce::assume_unique_for_key(*bytes)),
        _ => Err(AeadError::NonceLength {
            actual: nonce.len(),
        }),
    }
}

/// Encrypts `plaintext` and returns `ciphertext || tag`.
///
/// # Errors
/// [`AeadError::KeyLength`] or [`AeadError::NonceLength`] for any key other
/// than 32 bytes or any nonce other than 12 bytes.
pub(crate) fn seal(
    key_bytes: &[u8],
    nonce_bytes: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, AeadError> {
    let mut out = Vec::with_capacity(plaintext.len().saturating_add(TAG_LEN));
    seal_append(key_bytes, nonce_bytes, aad, plaintext, &mut out)?;
    Ok(out)
}

/// [`seal`] that appends `ciphertext || tag` to `out`, so the vault writes
/// its header and ciphertext into one buffer.
pub(crate) fn seal_append(
    key_bytes: &[u8],
    nonce_bytes: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), AeadError> {
    let key = key(key_bytes)?;
    let nonce = nonce(nonce_bytes)?;
    let start = out.len();
    out.extend_from_slice(plaintext);
    let in_out = out.get_mut(start..).unwrap_or_default();
    let tag = key
        .seal_in_place_separate_tag(nonce, Aad::from(aad), in_out)
        .map_err(AeadError::Seal)?;
    out.extend_from_slice(tag.as_ref());
    Ok(())
}

/// Decrypts `ciphertext || tag` and returns the plaintext as a secret.
///
/// # Errors
/// [`AeadError::KeyLength`], [`AeadError::NonceLength`] or
/// [`AeadError::CiphertextTooShort`] before any decryption, then
/// [`AeadError::Authentication`] if the tag does not verify.
pub(crate) fn open(
    key_bytes: &[u8],
    nonce_bytes: &[u8],
    aad: &[u8],
    ciphertext_and_tag: &[u8],
) -> Result<SecretBytes, AeadError> {
    let key = key(key_bytes)?;
    let nonce = nonce(nonce_bytes)?;
    if ciphertext_and_tag.len() < TAG_LEN {
        return Err(AeadError::CiphertextTooShort {
            actual: ciphertext_and_tag.len(),
        });
    }
    // The buffer holds the plaintext once opened, so it is wiped on drop.
    let mut in_out = Zeroizing::new(ciphertext_and_tag.to_vec());
    let plaintext_len = key
        .open_in_place(nonce, Aad::from(aad), &mut in_out)
        .map_err(AeadError::Authentication)?
        .len();
    in_out.truncate(plaintext_len);
    Ok(SecretBytes::new(std::mem::take(&mut *in_out)))
}

/// Wycheproof vectors and the length refusals, run against this private layer
/// directly (promise P3).
#[cfg(test)]
mod tests {
    use wycheproof::TestResult;

    use super::{AeadError, NONCE_LEN, open, seal};

    #[test]
    fn p3_wycheproof_aes_256_gcm_vectors_pass_through_the_aead_layer() {
        let set = wycheproof::aead::TestSet::load(wycheproof::aead::TestName::AesGcm).unwrap();
        let mut valid = 0;
        let mut invalid = 0;
        for group in &set.test_groups {
            if (group.key_size, group.nonce_size, group.tag_size) != (256, 96, 128) {
                continue;
            }
            for test in &group.tests {
                let mut ct_and_tag = test.ct.to_vec();
                ct_and_tag.extend_from_slice(&test.tag);
                let opened = open(&test.key, &test.nonce, &test.aad, &ct_and_tag);
                match test.result {
                    TestResult::Valid | TestResult::Acceptable => {
                        let sealed = seal(&test.key, &test.nonce, &test.aad, &test.pt).unwrap();
                        assert_eq!(sealed, ct_and_tag, "tc {} seal", test.tc_id);
                        let opened = opened.unwrap_or_else(|e| panic!("tc {}: {e}", test.tc_id));
                        assert_eq!(
                            opened.expose_secret(),
                            &test.pt[..],
                            "tc {} open",
                            test.tc_id
                        );
                        valid += 1;
                    }
                    TestResult::Invalid => {
                        assert!(
                            matches!(opened, Err(AeadError::Authentication(_))),
                            "tc {} ({}) must fail to open",
                            test.tc_id,
                            test.comment
                        );
                        invalid += 1;
                    }
                }
            }
        }
        // The vectors are all there: a filter mistake must not pass silently.
        assert_eq!((valid, invalid), (39, 27));
    }

    #[test]
    fn p3_aead_refuses_every_nonce_length_but_96_bits() {
        let set = wycheproof::aead::TestSet::load(wycheproof::aead::TestName::AesGcm).unwrap();
        let mut refused = 0;
        for group in &set.test_groups {
            if group.key_size != 256 || group.nonce_size == 96 {
                continue;
            }
            for test in &group.tests {
                let mut ct_and_tag = test.ct.to_vec();
                ct_and_tag.extend_from_slice(&test.tag);
                let expected = AeadError::NonceLength {
                    actual: test.nonce.len(),
                };
                assert_eq!(
                    open(&test.key, &test.nonce, &test.aad, &ct_and_tag).unwrap_err(),
                    expected,
                    "tc {}",
                    test.tc_id
                );
                assert_eq!(
                    seal(&test.key, &test.nonce, &test.aad, &test.pt).unwrap_err(),
                    expected,
                    "tc {}",
                    test.tc_id
                );
                refused += 1;
            }
        }
        assert!(refused >= 20, "only {refused} other-nonce cases seen");
        // And every length from 0 to 64 bytes except 12, outside the vectors.
        let key = [7u8; 32];
        for len in (0..=64).filter(|len| *len != NONCE_LEN) {
            let nonce = vec![0u8; len];
            assert_eq!(
                seal(&key, &nonce, b"", b"x").unwrap_err(),
                AeadError::NonceLength { actual: len }
            );
            assert_eq!(
                open(&key, &nonce, b"", &[0u8; 32]).unwrap_err(),
                AeadError::NonceLength { actual: len }
            );
        }
    }

    #[test]
    fn p3_aead_refuses_keys_other_than_256_bits() {
        let set = wycheproof::aead::TestSet::load(wycheproof::aead::TestName::AesGcm).unwrap();
        let mut refused = 0;
        for group in set.test_groups.iter().filter(|g| g.key_size != 256) {
            for test in &group.tests {
                let expected = AeadError::KeyLength {
                    actual: test.key.len(),
                };
                assert_eq!(
                    seal(&test.key, &test.nonce, &test.aad, &test.pt).unwrap_err(),
                    expected
                );
                refused += 1;
            }
        }
        assert!(refused > 100);
        assert_eq!(
            open(&[0u8; 31], &[0u8; 12], b"", &[0u8; 16]).unwrap_err(),
            AeadError::KeyLength { actual: 31 }
        );
        assert_eq!(
            open(&[0u8; 32], &[0u8; 12], b"", &[0u8; 15]).unwrap_err(),
            AeadError::CiphertextTooShort { actual: 15 }
        );
    }
}
