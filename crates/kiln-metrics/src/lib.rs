//! Classification metrics that do not flatter, in plain Rust.
//!
//! With imbalanced classes accuracy lies: predicting the majority class everywhere scores
//! high. This crate reports the metrics that expose that — balanced accuracy, macro-F1,
//! per-class precision/recall, PR-AUC — next to the usual ones, plus calibration (ECE,
//! temperature scaling) and per-class decision thresholds.
//!
//! - [`Evaluator`]: streaming accumulator; `update(logits, targets)` per batch, `compute()` at
//!   the end gives [`Metrics`] (serde-serializable).
//! - [`SelectionMetric`]: names the number that picks the best checkpoint.
//! - [`classification_report`]: scikit-learn's text report, byte for byte.
//! - [`SlicedEvaluator`]: the same metrics per data slice.
//! - [`TemperatureScaling`], [`reliability`]: calibration.
//! - [`ClassThresholds`]: per-class decision offsets tuned for macro-F1 or a cost matrix.
//! - [`rank_suspects`], [`confident_learning`]: label-noise detection from probabilities.
//!
//! Numbers follow scikit-learn 1.2 (`zero_division=0`); the tests check them against values
//! computed by scikit-learn. No function panics on user data: problems are [`MetricsError`]s.
//! The crate has no dependency on Burn: it consumes plain `&[f32]` logits so it can run on
//! outputs from any backend or from disk.
#![deny(missing_docs)]

mod calibration;
mod confusion;
mod error;
mod evaluator;
mod math;
mod noise;
mod ranking;
mod report;
mod scores;
mod selection;
mod slices;
mod thresholds;

pub use calibration::{
    Calibration, DEFAULT_CALIBRATION_BINS, ReliabilityBin, TemperatureScaling, reliability,
};
pub use confusion::{ConfusedPair, ConfusionMatrix};
pub use error::MetricsError;
pub use evaluator::{ClassMetrics, Evaluator, Metrics};
pub use noise::{ConfidentLearning, Suspect, confident_learning, rank_suspects};
pub use ranking::{average_precision, roc_auc};
pub use report::classification_report;
pub use scores::{
    Averages, ClassScores, accuracy, averages, balanced_accuracy, class_scores, macro_f1,
};
pub use selection::SelectionMetric;
pub use slices::{SlicedEvaluator, SlicedMetrics};
pub use thresholds::{ClassThresholds, ThresholdObjective};
