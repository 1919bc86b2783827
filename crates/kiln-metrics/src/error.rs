//! Typed errors, and the input checks every public entry point shares.
//!
//! Metrics are computed from user data (model outputs, dataset labels), so every problem with
//! that data is reported as a [`MetricsError`] instead of a panic: a NaN logit from a diverged
//! model must not bring down a training run at the end of an epoch.

use thiserror::Error;

/// Everything that can go wrong when computing metrics from user data.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum MetricsError {
    /// `num_classes` was zero: no classification problem has zero classes.
    #[error("num_classes must be at least 1")]
    NoClasses,
    /// There was nothing to compute the metric on.
    #[error("empty input: {what}")]
    Empty {
        /// What was empty.
        what: &'static str,
    },
    /// Two inputs that must agree in length (or a length and a shape) did not.
    #[error("length mismatch for {what}: expected {expected}, got {actual}")]
    LengthMismatch {
        /// Which input had the wrong length.
        what: &'static str,
        /// The length implied by the other inputs.
        expected: usize,
        /// The length that was passed.
        actual: usize,
    },
    /// A logit, probability or other score was NaN or infinite.
    #[error("non-finite value {value} at row {row}, column {column}")]
    NonFinite {
        /// Sample index within the batch.
        row: usize,
        /// Class index.
        column: usize,
        /// The offending value.
        value: f32,
    },
    /// A target label was not a valid class index.
    #[error("target {target} at row {row} is out of range for {num_classes} classes")]
    TargetOutOfRange {
        /// Sample index within the batch.
        row: usize,
        /// The label that was passed.
        target: usize,
        /// The number of classes of the evaluator.
        num_classes: usize,
    },
    /// A probability was negative, above one, or a row summed to zero.
    #[error("invalid probability {value} at row {row}, column {column}")]
    InvalidProbability {
        /// Sample index within the batch.
        row: usize,
        /// Class index.
        column: usize,
        /// The offending value.
        value: f32,
    },
    /// A configuration value (number of bins, cost matrix, group labels, …) was invalid.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// Checks that `scores` is an `[n, num_classes]` row-major matrix of finite values and that every
/// target is a class index; returns `n`.
///
/// The whole batch is checked before anything is accumulated, so a failed update leaves an
/// accumulator unchanged.
pub(crate) fn check_batch(
    scores: &[f32],
    targets: &[usize],
    num_classes: usize,
) -> Result<usize, MetricsError> {
    if num_classes == 0 {
        return Err(MetricsError::NoClasses);
    }
    let n = targets.len();
    let expected = n.checked_mul(num_classes).ok_or_else(|| {
        MetricsError::InvalidArgument("targets.len() * num_classes overflows usize".into())
    })?;
    if scores.len() != expected {
        return Err(MetricsError::LengthMismatch {
            what: "scores (targets.len() * num_classes)",
            expected,
            actual: scores.len(),
        });
    }
    check_finite(scores, num_classes)?;
    check_targets(targets, num_classes)?;
    Ok(n)
}

/// Checks that every value of a row-major `[_, num_classes]` matrix is finite.
pub(crate) fn check_finite(scores: &[f32], num_classes: usize) -> Result<(), MetricsError> {
    match scores.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(MetricsError::NonFinite {
            row: i / num_classes,
            column: i % num_classes,
            value: scores[i],
        }),
    }
}

/// Checks that every target is a valid class index.
pub(crate) fn check_targets(targets: &[usize], num_classes: usize) -> Result<(), MetricsError> {
    match targets.iter().position(|&t| t >= num_classes) {
        None => Ok(()),
        Some(row) => Err(MetricsError::TargetOutOfRange {
            row,
            target: targets[row],
            num_classes,
        }),
    }
}
