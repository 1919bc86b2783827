//! Calibration: is a predicted confidence of 0.9 right 90 % of the time?
//!
//! - [`reliability`] bins samples by confidence (the top softmax probability) into equal-width
//!   bins `(i/B, (i+1)/B]` and reports the expected calibration error
//!   `ECE = Σ_b (n_b / N)·|accuracy_b − confidence_b|` (Guo et al., 2017).
//! - [`TemperatureScaling`] fits one scalar `T` on validation logits so that `softmax(z / T)`
//!   minimises the negative log-likelihood. It changes confidences, never the argmax, so
//!   accuracy and F1 are untouched.

use serde::{Deserialize, Serialize};

use crate::error::{MetricsError, check_batch};
use crate::math::{argmax, log_softmax_row};

/// Default number of reliability bins (the common choice in the calibration literature).
pub const DEFAULT_CALIBRATION_BINS: usize = 15;

/// One bin of a reliability diagram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    /// Exclusive lower edge of the confidence interval.
    pub lower: f64,
    /// Inclusive upper edge of the confidence interval.
    pub upper: f64,
    /// Samples whose confidence falls in the bin.
    pub count: u64,
    /// Mean confidence of those samples (0 for an empty bin).
    pub mean_confidence: f64,
    /// Fraction of those samples predicted correctly (0 for an empty bin).
    pub accuracy: f64,
}

/// Expected calibration error and the reliability diagram it was computed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Expected calibration error in `[0, 1]`; lower is better.
    pub ece: f64,
    /// The bins, lowest confidence first.
    pub bins: Vec<ReliabilityBin>,
}

/// Streaming per-bin sums, so the evaluator need not keep confidences around.
#[derive(Debug, Clone)]
pub(crate) struct ReliabilityAccumulator {
    count: Vec<u64>,
    confidence_sum: Vec<f64>,
    correct: Vec<u64>,
}

impl ReliabilityAccumulator {
    pub(crate) fn new(n_bins: usize) -> Self {
        Self {
            count: vec![0; n_bins],
            confidence_sum: vec![0.0; n_bins],
            correct: vec![0; n_bins],
        }
    }

    pub(crate) fn add(&mut self, confidence: f64, correct: bool) {
        let n_bins = self.count.len();
        // Bin b holds (b/B, (b+1)/B]; confidence 0 (impossible for a softmax) goes to bin 0.
        let b = ((confidence * n_bins as f64).ceil() as usize).clamp(1, n_bins) - 1;
        self.count[b] += 1;
        self.confidence_sum[b] += confidence;
        self.correct[b] += u64::from(correct);
    }

    pub(crate) fn finish(&self) -> Calibration {
        let n_bins = self.count.len();
        let total: u64 = self.count.iter().sum();
        let mut ece = 0.0;
        let bins = (0..n_bins)
            .map(|b| {
                let count = self.count[b];
                let (mean_confidence, accuracy) = if count == 0 {
                    (0.0, 0.0)
                } else {
                    (
                        self.confidence_sum[b] / count as f64,
                        self.correct[b] as f64 / count as f64,
                    )
                };
                if total > 0 {
                    ece += count as f64 / total as f64 * (accuracy - mean_confidence).abs();
                }
                ReliabilityBin {
                    lower: b as f64 / n_bins as f64,
                    upper: (b + 1) as f64 / n_bins as f64,
                    count,
                    mean_confidence,
                    accuracy,
                }
            })
            .collect();
        Calibration { ece, bins }
    }
}

/// Reliability diagram and ECE of row-major `[n, K]` logits with `n_bins` equal-width bins.
pub fn reliability(
    logits: &[f32],
    targets: &[usize],
    num_classes: usize,
    n_bins: usize,
) -> Result<Calibration, MetricsError> {
    if n_bins == 0 {
        return Err(MetricsError::InvalidArgument(
            "n_bins must be at least 1".into(),
        ));
    }
    let n = check_batch(logits, targets, num_classes)?;
    if n == 0 {
        return Err(MetricsError::Empty { what: "logits" });
    }
    let mut acc = ReliabilityAccumulator::new(n_bins);
    let mut logp = vec![0.0; num_classes];
    for (row, &t) in logits.chunks(num_classes).zip(targets) {
        log_softmax_row(row, &mut logp);
        let pred = argmax(row);
        acc.add(logp[pred].exp(), pred == t);
    }
    Ok(acc.finish())
}

/// A fitted softmax temperature. Divide logits by `temperature` before the softmax; `T > 1`
/// softens over-confident predictions, `T < 1` sharpens under-confident ones.
///
/// Serializable so it can be saved next to a model and applied at prediction time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TemperatureScaling {
    /// The temperature `T > 0`.
    pub temperature: f64,
}

impl Default for TemperatureScaling {
    fn default() -> Self {
        Self::identity()
    }
}

/// Inverse temperatures searched by [`TemperatureScaling::fit`]: `T ∈ [1e-3, 1e3]`.
const MIN_INV_T: f64 = 1e-3;
const MAX_INV_T: f64 = 1e3;

impl TemperatureScaling {
    /// `T = 1`: leaves logits unchanged.
    pub fn identity() -> Self {
        Self { temperature: 1.0 }
    }

    /// Fits `T` on validation logits by minimising the mean negative log-likelihood.
    ///
    /// The NLL is convex in `β = 1/T` (a log-sum-exp of functions linear in `β`), so a
    /// safeguarded Newton search on `β` finds the global minimum in a few dozen passes over the
    /// data. `T` is kept within `[1e-3, 1e3]`. The result is never worse than `T = 1` on the
    /// fitting data: if the search ends above the NLL at `T = 1`, the identity is returned.
    pub fn fit(
        logits: &[f32],
        targets: &[usize],
        num_classes: usize,
    ) -> Result<Self, MetricsError> {
        let n = check_batch(logits, targets, num_classes)?;
        if n == 0 {
            return Err(MetricsError::Empty {
                what: "validation logits",
            });
        }
        let data = NllData {
            logits,
            targets,
            num_classes,
        };
        let beta = data.minimise();
        let fitted = data.nll(beta);
        let identity = data.nll(1.0);
        Ok(if fitted <= identity {
            Self {
                temperature: 1.0 / beta,
            }
        } else {
            Self::identity()
        })
    }

    /// Divides logits by the temperature in place.
    pub fn apply(&self, logits: &mut [f32]) {
        let inv = (1.0 / self.temperature) as f32;
        for z in logits {
            *z *= inv;
        }
    }

    /// Mean negative log-likelihood of `softmax(logits / T)`.
    pub fn nll(
        &self,
        logits: &[f32],
        targets: &[usize],
        num_classes: usize,
    ) -> Result<f64, MetricsError> {
        let n = check_batch(logits, targets, num_classes)?;
        if n == 0 {
            return Err(MetricsError::Empty { what: "logits" });
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(MetricsError::InvalidArgument(format!(
                "temperature must be positive and finite, got {}",
                self.temperature
            )));
        }
        let data = NllData {
            logits,
            targets,
            num_classes,
        };
        Ok(data.nll(1.0 / self.temperature))
    }
}

/// Validated data of the temperature objective.
struct NllData<'a> {
    logits: &'a [f32],
    targets: &'a [usize],
    num_classes: usize,
}

impl NllData<'_> {
    /// Mean NLL at inverse temperature `beta`, and its first two derivatives in `beta`:
    /// `NLL' = mean(E_p[z] − z_y)`, `NLL'' = mean(Var_p[z]) ≥ 0`.
    fn eval(&self, beta: f64) -> (f64, f64, f64) {
        let (mut f, mut g, mut h) = (0.0, 0.0, 0.0);
        for (row, &t) in self.logits.chunks(self.num_classes).zip(self.targets) {
            let max = row
                .iter()
                .fold(f64::NEG_INFINITY, |m, &v| m.max(beta * f64::from(v)));
            let (mut s, mut s1, mut s2) = (0.0, 0.0, 0.0);
            for &v in row {
                let z = f64::from(v);
                let e = (beta * z - max).exp();
                s += e;
                s1 += e * z;
                s2 += e * z * z;
            }
            let mean = s1 / s;
            let zt = f64::from(row[t]);
            f += max + s.ln() - beta * zt;
            g += mean - zt;
            h += (s2 / s - mean * mean).max(0.0);
        }
        let n = self.targets.len() as f64;
        (f / n, g / n, h / n)
    }

    fn nll(&self, beta: f64) -> f64 {
        self.eval(beta).0
    }

    /// The minimising `beta` within `[MIN_INV_T, MAX_INV_T]`.
    fn minimise(&self) -> f64 {
        let grad = |b: f64| self.eval(b).1;
        // Bracket the root of the (non-decreasing) derivative.
        let mut lo = MIN_INV_T;
        if grad(lo) >= 0.0 {
            return lo;
        }
        let mut hi = 1.0;
        while grad(hi) < 0.0 {
            lo = hi;
            hi *= 2.0;
            if hi >= MAX_INV_T {
                if grad(MAX_INV_T) < 0.0 {
                    return MAX_INV_T;
                }
                hi = MAX_INV_T;
                break;
            }
        }
        // Safeguarded Newton: fall back to bisection whenever a step leaves the bracket.
        let mut beta = 0.5 * (lo + hi);
        for _ in 0..100 {
            let (_, g, h) = self.eval(beta);
            if g == 0.0 {
                return beta;
            }
            if g < 0.0 {
                lo = beta;
            } else {
                hi = beta;
            }
            let newton = beta - g / h;
            beta = if h > 0.0 && newton > lo && newton < hi {
                newton
            } else {
                0.5 * (lo + hi)
            };
            if hi - lo <= 1e-12 * hi || g.abs() < 1e-12 {
                break;
            }
        }
        beta
    }
}
