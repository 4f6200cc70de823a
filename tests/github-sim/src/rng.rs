//! A small deterministic generator (SplitMix64) for the seeded organization, fault draws and
//! jitter. It is defined here rather than taken from `rand` so that a seed gives the same
//! organization whatever `rand` version is in the lock file.

/// SplitMix64.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator for `seed` and a stream label, independent of other streams.
    pub(crate) fn derive(seed: u64, stream: u64) -> Self {
        let mut g = Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ stream ^ 0x5DEE_CE66_D1CE_4E5B);
        g.next_u64();
        g
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when n is 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    /// `len` characters of `[A-Za-z0-9]`.
    pub(crate) fn alnum(&mut self, len: usize) -> String {
        const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..len)
            .map(|_| CHARS[self.below(CHARS.len() as u64) as usize] as char)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_in_range() {
        let mut a = SplitMix64::derive(7, 1);
        let mut b = SplitMix64::derive(7, 1);
        let mut c = SplitMix64::derive(7, 2);
        let mut differs = false;
        for _ in 0..100 {
            let x = a.next_u64();
            assert_eq!(x, b.next_u64());
            differs |= x != c.next_u64();
            assert!(a.below(10) < 10);
            b.below(10);
        }
        assert!(differs);
        assert_eq!(a.alnum(36).len(), 36);
    }
}
