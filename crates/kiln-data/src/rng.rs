//! A small, fast, version-stable random number generator.
//!
//! Augmentation must be reproducible from `(seed, epoch, position)` alone so that a loader can
//! be resumed mid-epoch and give bit-identical batches, on any machine and with any thread
//! count. `rand`'s `StdRng` does not promise a stable stream across releases, so kiln-data
//! carries its own xoshiro256++ seeded through SplitMix64; its stream never changes.

/// Stream tags keep the random streams of different consumers independent.
pub(crate) mod tag {
    pub const SAMPLE: u64 = 0x5a4d_504c_4501;
    pub const SHUFFLE: u64 = 0x5348_5546_4c45;
    pub const MIX: u64 = 0x4d49_5845_5300;
    pub const SPLIT: u64 = 0x5350_4c49_5400;
    pub const WEIGHTED: u64 = 0x5745_4947_4854;
    pub const CLASS_AWARE: u64 = 0x434c_4153_5300;
    pub const FASHION: u64 = 0x4641_5348_494f;
}

/// xoshiro256++ generator with helpers for the distributions augmentation needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator seeded from one 64-bit value.
    pub fn new(seed: u64) -> Self {
        let mut st = seed;
        let s = [
            splitmix64(&mut st),
            splitmix64(&mut st),
            splitmix64(&mut st),
            splitmix64(&mut st),
        ];
        Rng { s }
    }

    /// A generator for a stream identified by `seed` and a path of keys (e.g. `[tag, epoch,
    /// position]`): different key paths give statistically independent streams.
    pub fn derive(seed: u64, keys: &[u64]) -> Self {
        let mut h = seed ^ 0x6A09_E667_F3BC_C908;
        let mut st = h;
        for &k in keys {
            h = splitmix64(&mut st) ^ k.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            st = h;
        }
        Rng::new(splitmix64(&mut st))
    }

    /// The stream used to augment the sample at `position` of `epoch`.
    pub fn for_sample(seed: u64, epoch: u64, position: u64) -> Self {
        Rng::derive(seed, &[tag::SAMPLE, epoch, position])
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[0]
            .wrapping_add(self.s[3])
            .rotate_left(23)
            .wrapping_add(self.s[0]);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[0, 1)` as `f32`.
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }

    /// Uniform in `[lo, hi)` (returns `lo` when `hi <= lo`).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        if hi <= lo {
            lo
        } else {
            lo + (hi - lo) * self.next_f64()
        }
    }

    /// Uniform integer in `[0, n)`; `n == 0` gives 0. Unbiased (Lemire's method).
    pub fn below(&mut self, n: usize) -> usize {
        if n <= 1 {
            return 0;
        }
        let n = n as u64;
        loop {
            let m = (self.next_u64() as u128) * (n as u128);
            let lo = m as u64;
            if lo >= n.wrapping_neg() % n {
                return (m >> 64) as usize;
            }
        }
    }

    /// Uniform integer in `[lo, hi]` (inclusive); `lo` when `hi < lo`.
    pub fn range_inclusive(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + self.below((hi - lo + 1) as usize) as i64
    }

    /// `true` with probability `p`.
    pub fn bernoulli(&mut self, p: f64) -> bool {
        p > 0.0 && self.next_f64() < p
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64(); // (0, 1]
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Gamma(shape, 1) by Marsaglia–Tsang (with the boost for shape < 1).
    pub fn gamma(&mut self, shape: f64) -> f64 {
        if shape <= 0.0 {
            return 0.0;
        }
        if shape < 1.0 {
            let u = 1.0 - self.next_f64();
            return self.gamma(shape + 1.0) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = 1.0 + c * x;
            if v <= 0.0 {
                continue;
            }
            let v = v * v * v;
            let u = 1.0 - self.next_f64();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }

    /// Beta(a, b) from two gammas.
    pub fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a);
        let y = self.gamma(b);
        if x + y <= 0.0 { 0.5 } else { x / (x + y) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4)
            .map(|_| Rng::for_sample(1, 2, 3).next_u64())
            .collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(
            Rng::for_sample(1, 2, 3).next_u64(),
            Rng::for_sample(1, 2, 4).next_u64()
        );
        assert_ne!(
            Rng::for_sample(1, 2, 3).next_u64(),
            Rng::for_sample(1, 3, 3).next_u64()
        );
    }

    #[test]
    fn below_is_uniform_and_in_range() {
        let mut r = Rng::new(9);
        let mut counts = [0usize; 7];
        for _ in 0..70_000 {
            counts[r.below(7)] += 1;
        }
        for c in counts {
            assert!((9_300..10_700).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn beta_mean_matches() {
        let mut r = Rng::new(3);
        let n = 20_000;
        let m: f64 = (0..n).map(|_| r.beta(2.0, 6.0)).sum::<f64>() / n as f64;
        assert!((m - 0.25).abs() < 0.01, "{m}");
        let m: f64 = (0..n).map(|_| r.beta(0.2, 0.2)).sum::<f64>() / n as f64;
        assert!((m - 0.5).abs() < 0.02, "{m}");
    }
}
