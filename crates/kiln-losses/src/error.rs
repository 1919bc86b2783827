//! Typed loss errors.
//!
//! Shape problems are caught on every forward (they cost nothing: shapes are host metadata).
//! Value problems (NaN logits, out-of-range class indices) need the data, which may live on a
//! GPU; they are checked where the data is already on the host ([`Targets::from_indices`]) or on
//! request ([`Loss::forward_checked`], [`check_logits_finite`]), never behind the caller's back.
//!
//! [`Targets::from_indices`]: crate::Targets::from_indices
//! [`Loss::forward_checked`]: crate::Loss::forward_checked
//! [`check_logits_finite`]: crate::check_logits_finite

use thiserror::Error;

/// Everything that can go wrong when configuring or evaluating a loss.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum LossError {
    /// Logits were not `[batch, num_classes]`.
    #[error("logits must have shape [batch, {num_classes}], got {shape:?}")]
    LogitsShape {
        /// The number of classes the loss was built for.
        num_classes: usize,
        /// The shape that was passed.
        shape: Vec<usize>,
    },
    /// Targets did not match the logits (`[batch]` class indices or `[batch, K]` probabilities).
    #[error("targets must have shape {expected:?}, got {shape:?}")]
    TargetsShape {
        /// The shape implied by the logits.
        expected: Vec<usize>,
        /// The shape that was passed.
        shape: Vec<usize>,
    },
    /// The batch had no samples: a mean over nothing is undefined.
    #[error("empty batch")]
    EmptyBatch,
    /// A class index was negative or not below the number of classes.
    #[error("target {target} at row {row} is out of range for {num_classes} classes")]
    TargetOutOfRange {
        /// Sample index.
        row: usize,
        /// The class index that was passed.
        target: i64,
        /// The number of classes.
        num_classes: usize,
    },
    /// Soft targets were not probability rows (negative, non-finite, or not summing to 1).
    #[error("invalid soft targets: {0}")]
    InvalidSoftTargets(String),
    /// Logits (or a computed loss) contained NaN or infinite values.
    #[error("non-finite values in {0}")]
    NonFinite(&'static str),
    /// A configuration value was out of its valid range.
    #[error("invalid loss configuration: {0}")]
    InvalidConfig(String),
    /// Class counts were needed (class weights from frequencies, priors, margins) but invalid
    /// or missing.
    #[error("invalid class counts: {0}")]
    ClassCounts(String),
    /// Reading tensor data back from the device failed.
    #[error("could not read tensor data: {0}")]
    Read(String),
}
