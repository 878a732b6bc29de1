//! A small seeded PRNG (splitmix64 for seeding, xoshiro256** for the stream).
//!
//! No `rand` crate: the generator must be reproducible from `--seed` alone, so every random
//! decision goes through [`Rng`], and independent parts of the model draw from independent
//! streams ([`Rng::stream`]) so that changing one part does not shift the others.

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// One splitmix64 step; also used to derive seeds.
pub(crate) fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Mixes two words into one well-distributed word (for per-item seeds).
pub(crate) fn mix(a: u64, b: u64) -> u64 {
    let mut x = a ^ b.rotate_left(29) ^ 0x6A09_E667_F3BC_C909;
    splitmix64(&mut x) ^ splitmix64(&mut x).rotate_left(17)
}

/// A uniform number in `[0, 1)` derived from a hash (no stream state).
pub(crate) fn unit(h: u64) -> f64 {
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// xoshiro256** state.
#[derive(Clone, Debug)]
pub(crate) struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator seeded from one word.
    pub(crate) fn new(seed: u64) -> Self {
        let mut x = seed;
        let s = [
            splitmix64(&mut x),
            splitmix64(&mut x),
            splitmix64(&mut x),
            splitmix64(&mut x),
        ];
        Rng { s }
    }

    /// An independent stream named by `label` and `idx` under the run seed.
    pub(crate) fn stream(seed: u64, label: &str, idx: u64) -> Self {
        Rng::new(mix(xxh3_64_with_seed(label.as_bytes(), seed), idx))
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn f64(&mut self) -> f64 {
        unit(self.next_u64())
    }

    /// Uniform in `[0, n)`; `n` must be > 0.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform index into a slice of length `n` (> 0).
    pub(crate) fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// Uniform in `[lo, hi)`.
    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        debug_assert!(hi > lo);
        lo + self.below((hi - lo) as u64) as i64
    }

    /// Uniform float in `[lo, hi)`.
    pub(crate) fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Standard normal (Box-Muller).
    pub(crate) fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.f64(); // (0, 1]
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Lognormal with the given median and sigma, clamped to `[lo, hi]`.
    pub(crate) fn lognormal(&mut self, median: f64, sigma: f64, lo: f64, hi: f64) -> f64 {
        (median * (sigma * self.normal()).exp()).clamp(lo, hi)
    }

    /// A uniformly chosen element.
    pub(crate) fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.index(xs.len())]
    }

    /// `N` random bytes.
    pub(crate) fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for chunk in out.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        out
    }

    /// A count around `mean` (mean * U(0.75, 1.25), rounded stochastically).
    pub(crate) fn around(&mut self, mean: f64) -> usize {
        let x = mean * self.uniform(0.75, 1.25);
        let base = x.floor();
        (base as usize) + usize::from(self.chance(x - base))
    }

    /// Fisher-Yates shuffle.
    pub(crate) fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.index(i + 1);
            xs.swap(i, j);
        }
    }
}

/// Sampling from fixed weights by binary search over the cumulative sums.
#[derive(Debug, Default)]
pub(crate) struct Weighted {
    cum: Vec<f64>,
}

impl Weighted {
    /// Builds the table; zero weights are never drawn.
    pub(crate) fn new(weights: impl IntoIterator<Item = f64>) -> Self {
        let mut acc = 0.0;
        let cum = weights
            .into_iter()
            .map(|w| {
                acc += w.max(0.0);
                acc
            })
            .collect();
        Weighted { cum }
    }

    /// Draws an index (the table must not be empty).
    pub(crate) fn sample(&self, rng: &mut Rng) -> usize {
        let total = *self.cum.last().expect("sample on an empty table");
        let x = rng.f64() * total;
        self.cum
            .partition_point(|&c| c <= x)
            .min(self.cum.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| Rng::stream(42, "x", 1).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(
            Rng::stream(42, "x", 1).next_u64(),
            Rng::stream(42, "x", 2).next_u64()
        );
        assert_ne!(
            Rng::stream(42, "x", 1).next_u64(),
            Rng::stream(43, "x", 1).next_u64()
        );
    }

    #[test]
    fn weighted_skips_zero_weights() {
        let w = Weighted::new([0.0, 1.0, 0.0]);
        let mut r = Rng::new(1);
        assert!((0..100).all(|_| w.sample(&mut r) == 1));
    }
}
