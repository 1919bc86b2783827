//! Shared test helpers: the PyTorch/scikit-learn fixture and a tiny deterministic RNG.
#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;

/// Path of the reference values, relative to this crate.
pub fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/metrics/cases.json")
}

/// Loads the fixture; fails (never skips) with the path in the message when it is missing.
pub fn load_cases() -> Vec<Value> {
    let path = fixture_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "reference fixture missing or unreadable at {}: {e} (generate it with generate.py beside it)",
            path.display()
        )
    });
    let root: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("fixture {} is not valid JSON: {e}", path.display()));
    root["cases"]
        .as_array()
        .unwrap_or_else(|| panic!("fixture {} has no `cases` array", path.display()))
        .clone()
}

pub fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

pub fn f64_(v: &Value) -> f64 {
    v.as_f64().expect("number")
}

/// Logits as row-major f32 plus (n, k).
pub fn logits(case: &Value) -> (Vec<f32>, usize, usize) {
    let rows = case["logits"].as_array().expect("logits");
    let k = case["k"].as_u64().expect("k") as usize;
    let flat: Vec<f32> = rows
        .iter()
        .flat_map(|r| f64s(r).into_iter().map(|x| x as f32))
        .collect();
    (flat, rows.len(), k)
}

pub fn targets(case: &Value) -> Vec<usize> {
    case["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| t.as_u64().expect("target") as usize)
        .collect()
}

pub fn assert_close(actual: f64, expected: f64, tol: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= tol,
        "{what}: got {actual}, expected {expected} (tolerance {tol})"
    );
}

/// xorshift64*: deterministic data for property tests without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.uniform().max(1e-12);
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// Imbalanced synthetic data: targets drawn from `priors`, Gaussian logits with the target's
/// logit raised by `signal * U(0, 1)` (like the fixture generator), scaled by `scale`.
pub fn synthetic(
    seed: u64,
    n: usize,
    priors: &[f64],
    signal: f64,
    scale: f64,
) -> (Vec<f32>, Vec<usize>) {
    let mut rng = Rng::new(seed);
    let k = priors.len();
    let total: f64 = priors.iter().sum();
    let mut logits = Vec::with_capacity(n * k);
    let mut targets = Vec::with_capacity(n);
    for _ in 0..n {
        let mut u = rng.uniform() * total;
        let mut y = k - 1;
        for (c, &p) in priors.iter().enumerate() {
            if u < p {
                y = c;
                break;
            }
            u -= p;
        }
        let extra = signal * rng.uniform();
        for c in 0..k {
            let mut z = rng.normal();
            if c == y {
                z += extra;
            }
            logits.push((z * scale) as f32);
        }
        targets.push(y);
    }
    (logits, targets)
}
