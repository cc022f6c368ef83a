//! The one source of randomness: the operating system's CSPRNG through `ring`.

use ring::rand::{SecureRandom, SystemRandom};

/// The operating system could not provide random bytes.
///
/// Nothing that needs a key, salt, nonce or token falls back to weaker
/// randomness: the operation fails with this error instead.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed")]
pub struct RandomnessError(#[source] ring::error::Unspecified);

/// Fills `out` with random bytes from the operating system.
pub(crate) fn fill(out: &mut [u8]) -> Result<(), RandomnessError> {
    SystemRandom::new().fill(out).map_err(RandomnessError)
}

/// Returns `N` random bytes.
pub(crate) fn array<const N: usize>() -> Result<[u8; N], RandomnessError> {
    let mut out = [0u8; N];
    fill(&mut out)?;
    Ok(out)
}
