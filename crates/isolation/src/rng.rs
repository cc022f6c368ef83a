//! A small seeded generator (SplitMix64): the same seed gives the same
//! plan of operations, so a failure found against one deployment can be
//! replayed against another, without a dependency for it.

/// A deterministic stream of pseudo-random numbers.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator whose stream is fixed by `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`0` when `n` is `0`).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        if n == 0 {
            return 0;
        }
        usize::try_from(self.next_u64() % n).unwrap_or(0)
    }

    /// A random (version 4) UUID drawn from this stream: an id that belongs
    /// to no business.
    pub(crate) fn uuid(&mut self) -> uuid::Uuid {
        let high = self.next_u64().to_be_bytes();
        let low = self.next_u64().to_be_bytes();
        let mut bytes = [0_u8; 16];
        for (slot, byte) in bytes.iter_mut().zip(high.iter().chain(low.iter())) {
            *slot = *byte;
        }
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn the_same_seed_gives_the_same_stream_and_another_seed_another() {
        let (mut a, mut b, mut c) = (Rng::new(7), Rng::new(7), Rng::new(8));
        let first: Vec<u64> = (0..16).map(|_| a.next_u64()).collect();
        let second: Vec<u64> = (0..16).map(|_| b.next_u64()).collect();
        let third: Vec<u64> = (0..16).map(|_| c.next_u64()).collect();
        assert_eq!(first, second);
        assert_ne!(first, third);
    }

    #[test]
    fn below_stays_in_range_and_reaches_every_value() {
        let mut rng = Rng::new(1);
        let mut seen = [false; 7];
        for _ in 0..1_000 {
            let n = rng.below(7);
            assert!(n < 7);
            if let Some(slot) = seen.get_mut(n) {
                *slot = true;
            }
        }
        assert!(seen.iter().all(|s| *s), "{seen:?}");
        assert_eq!(rng.below(0), 0);
    }

    #[test]
    fn uuids_are_version_4() {
        let mut rng = Rng::new(3);
        let id = rng.uuid();
        assert_eq!(id.get_version_num(), 4);
        assert_ne!(id, rng.uuid());
    }
}
