//! HKDF-SHA256 (RFC 5869) over `ring`, the key derivation the vault uses for
//! its per-secret keys and that the Wycheproof vectors drive.
//!
//! Private to the crate like [`crate::aead`]: other crates derive nothing
//! themselves. [`KdfError`] is re-exported at the crate root as a cause of
//! vault errors.

use ring::hkdf;
use zeroize::Zeroizing;

/// The most output HKDF-SHA256 can produce: 255 blocks of 32 bytes.
pub(crate) const HKDF_SHA256_MAX_OUTPUT: usize = 255 * 32;

/// Why a key derivation was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum KdfError {
    /// More output was asked for than HKDF-SHA256 can produce (255 blocks of
    /// 32 bytes).
    #[error(
        "HKDF-SHA256 produces at most {HKDF_SHA256_MAX_OUTPUT} bytes, {requested} were asked for"
    )]
    OutputTooLong {
        /// The requested output length.
        requested: usize,
    },
    /// `ring` refused the expansion.
    #[error("HKDF-SHA256 expansion failed")]
    Expand(#[source] ring::error::Unspecified),
}

/// An output length that `ring`'s HKDF accepts.
struct OkmLen(usize);

impl hkdf::KeyType for OkmLen {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-SHA256: extract with `salt` from `ikm`, expand with `info` into all
/// of `out`.
fn fill(salt: &[u8], ikm: &[u8], info: &[u8], out: &mut [u8]) -> Result<(), KdfError> {
    if out.len() > HKDF_SHA256_MAX_OUTPUT {
        return Err(KdfError::OutputTooLong {
            requested: out.len(),
        });
    }
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm);
    let info = [info];
    prk.expand(&info, OkmLen(out.len()))
        .and_then(|okm| okm.fill(out))
        .map_err(KdfError::Expand)
}

/// HKDF-SHA256 to a 256-bit key.
pub(crate) fn hkdf_sha256_key(
    salt: &[u8],
    ikm: &[u8],
    info: &[u8],
) -> Result<Zeroizing<[u8; 32]>, KdfError> {
    let mut out = Zeroizing::new([0u8; 32]);
    fill(salt, ikm, info, out.as_mut_slice())?;
    Ok(out)
}

/// Wycheproof vectors run against this private layer directly (promise P3).
#[cfg(test)]
mod tests {
    use wycheproof::TestResult;

    use super::{KdfError, fill, hkdf_sha256_key};

    #[test]
    fn p3_wycheproof_hkdf_sha256_vectors() {
        let set = wycheproof::hkdf::TestSet::load(wycheproof::hkdf::TestName::HkdfSha256).unwrap();
        let mut seen = 0;
        for group in &set.test_groups {
            for test in &group.tests {
                let mut derived = vec![0u8; test.size];
                let outcome = fill(&test.salt, &test.ikm, &test.info, &mut derived);
                match test.result {
                    TestResult::Valid | TestResult::Acceptable => {
                        outcome.unwrap_or_else(|e| panic!("tc {}: {e}", test.tc_id));
                        assert_eq!(derived, &test.okm[..], "tc {}", test.tc_id);
                        // The vault's 32-byte form agrees wherever it applies.
                        if test.size == 32 {
                            let key = hkdf_sha256_key(&test.salt, &test.ikm, &test.info).unwrap();
                            assert_eq!(key.as_slice(), &test.okm[..], "tc {}", test.tc_id);
                        }
                    }
                    TestResult::Invalid => assert!(
                        matches!(outcome, Err(KdfError::OutputTooLong { .. })),
                        "tc {} must be refused",
                        test.tc_id
                    ),
                }
                seen += 1;
            }
        }
        assert_eq!(seen, set.number_of_tests);
    }
}
