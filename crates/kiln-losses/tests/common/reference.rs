//! Independent f64 host implementations of the loss formulas (from the papers / PyTorch docs),
//! to check the tensor implementations of losses the PyTorch fixture does not cover.

use kiln_losses::{BootstrapMode, LossKind};

pub struct Setup<'a> {
    pub logits: &'a [f32],
    pub n: usize,
    pub k: usize,
    /// Raw target probabilities (one-hot rows for hard targets).
    pub targets: Vec<f64>,
    /// Hard labels, when the targets are class indices.
    pub hard: Option<&'a [usize]>,
    pub weights: Option<Vec<f64>>,
    pub smoothing: f64,
    pub counts: &'a [usize],
}

pub fn one_hot(labels: &[usize], k: usize) -> Vec<f64> {
    let mut t = vec![0.0; labels.len() * k];
    for (i, &y) in labels.iter().enumerate() {
        t[i * k + y] = 1.0;
    }
    t
}

fn log_softmax(z: &[f64]) -> Vec<f64> {
    let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let lse = m + z.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
    z.iter().map(|v| v - lse).collect()
}

fn ce(z: &[f64], tw: &[f64]) -> f64 {
    log_softmax(z).iter().zip(tw).map(|(l, t)| -l * t).sum()
}

/// Per-sample losses.
pub fn per_sample(kind: &LossKind, s: &Setup) -> Vec<f64> {
    let k = s.k;
    let w = |c: usize| s.weights.as_ref().map_or(1.0, |w| w[c]);
    let total: usize = s.counts.iter().map(|&c| c.max(1)).sum();
    let prior = |c: usize| s.counts[c].max(1) as f64 / total as f64;
    (0..s.n)
        .map(|i| {
            let z: Vec<f64> = s.logits[i * k..(i + 1) * k]
                .iter()
                .map(|&v| f64::from(v))
                .collect();
            let raw = &s.targets[i * k..(i + 1) * k];
            let t: Vec<f64> = raw
                .iter()
                .map(|&v| (1.0 - s.smoothing) * v + s.smoothing / k as f64)
                .collect();
            let tw: Vec<f64> = (0..k).map(|c| w(c) * t[c]).collect();
            let logp = log_softmax(&z);
            let p: Vec<f64> = logp.iter().map(|l| l.exp()).collect();
            match *kind {
                LossKind::CrossEntropy {} => ce(&z, &tw),
                LossKind::Focal { gamma } => (0..k)
                    .map(|c| {
                        let pc = p[c].clamp(1e-6, 1.0 - 1e-6);
                        -tw[c] * (1.0 - pc).powf(f64::from(gamma)) * logp[c]
                    })
                    .sum(),
                LossKind::LogitAdjusted { tau } => {
                    let za: Vec<f64> = (0..k)
                        .map(|c| z[c] + f64::from(tau) * prior(c).ln())
                        .collect();
                    ce(&za, &tw)
                }
                LossKind::BalancedSoftmax {} => {
                    let za: Vec<f64> = (0..k).map(|c| z[c] + prior(c).ln()).collect();
                    ce(&za, &tw)
                }
                LossKind::Ldam { max_margin, scale } => {
                    let raw_m: Vec<f64> = s
                        .counts
                        .iter()
                        .map(|&c| (c.max(1) as f64).powf(-0.25))
                        .collect();
                    let mx = raw_m.iter().cloned().fold(0.0, f64::max);
                    let zs: Vec<f64> = (0..k)
                        .map(|c| {
                            f64::from(scale)
                                * (z[c] - raw[c] * f64::from(max_margin) * raw_m[c] / mx)
                        })
                        .collect();
                    ce(&zs, &tw)
                }
                LossKind::Bootstrapped { lambda, mode } => {
                    let l = f64::from(lambda);
                    let pred: Vec<f64> = match mode {
                        BootstrapMode::Soft => p.clone(),
                        BootstrapMode::Hard => {
                            let a = (0..k).fold(0, |b, c| if z[c] > z[b] { c } else { b });
                            (0..k).map(|c| f64::from(u8::from(c == a))).collect()
                        }
                    };
                    (0..k)
                        .map(|c| -w(c) * ((1.0 - l) * t[c] + l * pred[c]) * logp[c])
                        .sum()
                }
                LossKind::GeneralizedCrossEntropy { q } => {
                    let q = f64::from(q);
                    (0..k).map(|c| tw[c] * (1.0 - p[c].powf(q)) / q).sum()
                }
                LossKind::SymmetricCrossEntropy { alpha, beta } => {
                    let rce: f64 = (0..k)
                        .map(|c| -p[c].clamp(1e-7, 1.0) * t[c].clamp(1e-4, 1.0).ln())
                        .sum();
                    let omega: f64 = tw.iter().sum();
                    f64::from(alpha) * ce(&z, &tw) + f64::from(beta) * omega * rce
                }
            }
        })
        .collect()
}

/// Mean reduction: PyTorch's weighted mean for hard targets with weights (except focal),
/// otherwise the plain mean.
pub fn mean(kind: &LossKind, s: &Setup) -> f64 {
    let per = per_sample(kind, s);
    let sum: f64 = per.iter().sum();
    match (s.hard, &s.weights, kind) {
        (_, _, LossKind::Focal { .. }) => sum / s.n as f64,
        (Some(h), Some(w), _) => sum / h.iter().map(|&y| w[y]).sum::<f64>(),
        _ => sum / s.n as f64,
    }
}
