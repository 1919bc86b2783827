//! Shared test helpers: the PyTorch fixture, devices, tensor conversion, a tiny RNG.
#![allow(dead_code)]

use std::path::PathBuf;

use burn::tensor::{Device, Tensor, TensorData};
use kiln_losses::{Loss, LossConfig, Targets};
use serde_json::Value;

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

pub fn matrix(v: &Value) -> (Vec<f32>, usize, usize) {
    let rows = v.as_array().expect("rows");
    let k = rows[0].as_array().expect("row").len();
    let flat: Vec<f32> = rows
        .iter()
        .flat_map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|x| x.as_f64().expect("number") as f32)
        })
        .collect();
    (flat, rows.len(), k)
}

pub fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as usize)
        .collect()
}

pub fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

pub fn plain() -> Device {
    Device::flex()
}

pub fn autodiff() -> Device {
    Device::flex().autodiff()
}

pub fn tensor2(values: &[f32], n: usize, k: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values.to_vec(), [n, k]), device)
}

pub fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.try_into_vec_as::<f32>().expect("f32 data")
}

/// Loss value and d(loss)/d(logits) on the autodiff device.
pub fn value_and_grad(
    loss: &Loss,
    logits: &[f32],
    n: usize,
    k: usize,
    targets: impl Fn(&Device) -> Targets,
) -> (Vec<f32>, Vec<f32>) {
    let device = autodiff();
    let x = tensor2(logits, n, k, &device).require_grad();
    let out = loss.forward(x.clone(), &targets(&device)).expect("forward");
    let grads = out.clone().sum().backward();
    let g = x.grad(&grads).expect("gradient of logits");
    (to_vec(out.inner()), to_vec(g))
}

/// Loss value on the plain device (no autodiff).
pub fn value(loss: &Loss, logits: &[f32], n: usize, k: usize, targets: &Targets) -> Vec<f32> {
    let device = plain();
    to_vec(
        loss.forward(tensor2(logits, n, k, &device), targets)
            .expect("forward"),
    )
}

/// Central finite differences of the (reduced) loss on the plain device.
pub fn finite_difference_grad(
    loss: &Loss,
    logits: &[f32],
    n: usize,
    k: usize,
    targets: &Targets,
    h: f32,
) -> Vec<f32> {
    (0..logits.len())
        .map(|i| {
            let mut up = logits.to_vec();
            let mut down = logits.to_vec();
            up[i] += h;
            down[i] -= h;
            let fu: f32 = value(loss, &up, n, k, targets).iter().sum();
            let fd: f32 = value(loss, &down, n, k, targets).iter().sum();
            (fu - fd) / (2.0 * h)
        })
        .collect()
}

pub fn build(config: &LossConfig, counts: &[usize]) -> Loss {
    config.build(counts).expect("valid loss")
}

pub fn assert_all_close(actual: &[f32], expected: &[f64], tol: f64, what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (f64::from(a) - e).abs() <= tol,
            "{what}[{i}]: got {a}, expected {e} (tolerance {tol})"
        );
    }
}

/// xorshift64*: deterministic data without a dependency.
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
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn normal(&mut self) -> f64 {
        let u = self.uniform().max(1e-12);
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
    /// `n × k` logits with standard deviation `scale`.
    pub fn logits(&mut self, n: usize, k: usize, scale: f64) -> Vec<f32> {
        (0..n * k).map(|_| (self.normal() * scale) as f32).collect()
    }
    pub fn labels(&mut self, n: usize, k: usize) -> Vec<usize> {
        (0..n).map(|_| self.below(k)).collect()
    }
    /// Random probability rows (Dirichlet-like).
    pub fn probabilities(&mut self, n: usize, k: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(n * k);
        for _ in 0..n {
            let row: Vec<f64> = (0..k).map(|_| -self.uniform().max(1e-9).ln()).collect();
            let s: f64 = row.iter().sum();
            out.extend(row.iter().map(|v| (v / s) as f32));
        }
        out
    }
}
pub mod reference;

/// Like [`assert_all_close`], with the tolerance relative to `max(1, |expected|)`: f32 losses
/// of a few hundred carry ~1e-5 absolute rounding.
pub fn assert_all_close_rel(actual: &[f32], expected: &[f64], tol: f64, what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (f64::from(a) - e).abs() <= tol * e.abs().max(1.0),
            "{what}[{i}]: got {a}, expected {e} (relative tolerance {tol})"
        );
    }
}
