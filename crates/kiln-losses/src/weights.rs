//! Class weights from class counts.
//!
//! Re-weighting counters imbalance by making each minority sample count more. Two standard
//! recipes are provided, both as plain functions of the training-set class counts:
//!
//! - inverse frequency, `w_c = N / n_c`: exact balancing, but extreme for very rare classes;
//! - effective number (Cui et al., 2019), `w_c = N / (K · E_c)` with
//!   `E_c = (1 − βⁿᶜ) / (1 − β)`: samples of a class overlap, so its value saturates; `β → 0`
//!   gives uniform weights, `β → 1` inverse frequency. `β = 0.999` or `0.9999` are typical.
//!
//! A class with zero count is treated as having one sample, so its weight is finite.

use serde::{Deserialize, Serialize};

use crate::error::LossError;

/// Which per-class weights a loss uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ClassWeights {
    /// Every class weighs 1.
    #[default]
    None,
    /// `N / n_c` ([`inverse_frequency_weights`]).
    Inverse,
    /// `N / (K · E_c)` ([`effective_number_weights`]).
    EffectiveNumber {
        /// `β ∈ [0, 1)`.
        beta: f64,
    },
    /// Given weights, one per class (finite, ≥ 0, not all zero).
    Explicit(Vec<f32>),
}

impl ClassWeights {
    /// The weight vector for these class counts; `None` for uniform weights.
    pub fn resolve(&self, class_counts: &[usize]) -> Result<Option<Vec<f32>>, LossError> {
        match self {
            Self::None => Ok(None),
            Self::Inverse => inverse_frequency_weights(class_counts).map(Some),
            Self::EffectiveNumber { beta } => {
                effective_number_weights(class_counts, *beta).map(Some)
            }
            Self::Explicit(w) => {
                check_explicit(w, class_counts.len())?;
                Ok(Some(w.clone()))
            }
        }
    }

    /// Whether resolving these weights needs real class counts (not just their number).
    pub fn needs_counts(&self) -> bool {
        matches!(self, Self::Inverse | Self::EffectiveNumber { .. })
    }
}

fn check_explicit(w: &[f32], num_classes: usize) -> Result<(), LossError> {
    if w.len() != num_classes {
        return Err(LossError::InvalidConfig(format!(
            "{} explicit class weights for {num_classes} classes",
            w.len()
        )));
    }
    if w.iter().any(|x| !x.is_finite() || *x < 0.0) || w.iter().all(|&x| x == 0.0) {
        return Err(LossError::InvalidConfig(
            "explicit class weights must be finite, non-negative and not all zero".into(),
        ));
    }
    Ok(())
}

fn total(class_counts: &[usize]) -> Result<f64, LossError> {
    if class_counts.is_empty() {
        return Err(LossError::ClassCounts("no classes".into()));
    }
    let n: usize = class_counts.iter().sum();
    if n == 0 {
        return Err(LossError::ClassCounts("all class counts are zero".into()));
    }
    Ok(n as f64)
}

/// Inverse-frequency weights `N / max(n_c, 1)`.
pub fn inverse_frequency_weights(class_counts: &[usize]) -> Result<Vec<f32>, LossError> {
    let n = total(class_counts)?;
    Ok(class_counts
        .iter()
        .map(|&c| (n / c.max(1) as f64) as f32)
        .collect())
}

/// Class-balanced weights by effective number: `N / (K · E_c)`, `E_c = (1 − β^n_c) / (1 − β)`.
pub fn effective_number_weights(class_counts: &[usize], beta: f64) -> Result<Vec<f32>, LossError> {
    if !(0.0..1.0).contains(&beta) {
        return Err(LossError::InvalidConfig(format!(
            "effective-number beta must be in [0, 1), got {beta}"
        )));
    }
    let n = total(class_counts)?;
    let k = class_counts.len() as f64;
    Ok(class_counts
        .iter()
        .map(|&c| {
            let count = c.max(1) as f64;
            // 1 − βⁿ computed as −expm1(n·ln β) keeps precision for β close to 1.
            let effective = if beta == 0.0 {
                1.0
            } else {
                -(count * beta.ln()).exp_m1() / (1.0 - beta)
            };
            (n / (k * effective)) as f32
        })
        .collect())
}

/// Class priors `max(n_c, 1) / Σ max(n_c, 1)`, as used by logit adjustment.
pub fn class_priors(class_counts: &[usize]) -> Result<Vec<f64>, LossError> {
    total(class_counts)?;
    let clipped: Vec<f64> = class_counts.iter().map(|&c| c.max(1) as f64).collect();
    let sum: f64 = clipped.iter().sum();
    Ok(clipped.iter().map(|c| c / sum).collect())
}
