//! Threshold-dependent scores (accuracy, balanced accuracy, precision, recall, F1) from a
//! confusion matrix, with scikit-learn 1.2 semantics.
//!
//! Conventions, chosen so numbers match `sklearn.metrics` called without `labels` and with
//! `zero_division=0`:
//! - a ratio with a zero denominator is 0 (no warning, no NaN);
//! - F1 is `2·P·R / (P + R)` of the per-class precision and recall (0 when both are 0);
//! - macro averages run over the classes present in the targets *or* the predictions;
//! - balanced accuracy is the mean recall over classes present in the targets.

use serde::{Deserialize, Serialize};

use crate::confusion::ConfusionMatrix;
use crate::error::MetricsError;
use crate::math::ratio;

/// Precision, recall, F1 and support of one class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    /// `tp / (tp + fp)`, 0 when the class is never predicted.
    pub precision: f64,
    /// `tp / support`, 0 when the class is absent from the targets.
    pub recall: f64,
    /// Harmonic mean of precision and recall, 0 when both are 0.
    pub f1: f64,
    /// Number of samples whose target is this class.
    pub support: u64,
}

/// Averages of the per-class scores.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Averages {
    /// Unweighted mean of per-class precision over the present classes.
    pub macro_precision: f64,
    /// Unweighted mean of per-class recall over the present classes.
    pub macro_recall: f64,
    /// Unweighted mean of per-class F1 over the present classes: the score that does not let
    /// a majority class hide a minority class the model never gets right.
    pub macro_f1: f64,
    /// Support-weighted mean precision.
    pub weighted_precision: f64,
    /// Support-weighted mean recall (equals accuracy).
    pub weighted_recall: f64,
    /// Support-weighted mean F1.
    pub weighted_f1: f64,
}

/// Per-class scores of every class `0..K`, absent ones included (all zero).
pub fn class_scores(cm: &ConfusionMatrix) -> Vec<ClassScores> {
    (0..cm.num_classes())
        .map(|c| {
            let tp = cm.get(c, c) as f64;
            let support = cm.support(c);
            let precision = ratio(tp, cm.predicted(c) as f64);
            let recall = ratio(tp, support as f64);
            let f1 = ratio(2.0 * precision * recall, precision + recall);
            ClassScores {
                precision,
                recall,
                f1,
                support,
            }
        })
        .collect()
}

/// Fraction of samples predicted correctly.
pub fn accuracy(cm: &ConfusionMatrix) -> Result<f64, MetricsError> {
    let total = nonempty_total(cm)?;
    Ok(cm.correct() as f64 / total)
}

/// Mean recall over the classes present in the targets: accuracy as if every class were
/// equally frequent. Classes only ever predicted (never a target) are skipped, as in
/// scikit-learn.
pub fn balanced_accuracy(cm: &ConfusionMatrix) -> Result<f64, MetricsError> {
    nonempty_total(cm)?;
    let recalls: Vec<f64> = class_scores(cm)
        .iter()
        .filter(|s| s.support > 0)
        .map(|s| s.recall)
        .collect();
    Ok(recalls.iter().sum::<f64>() / recalls.len() as f64)
}

/// Macro and weighted averages over the classes present in targets or predictions.
pub fn averages(cm: &ConfusionMatrix) -> Result<Averages, MetricsError> {
    nonempty_total(cm)?;
    let scores = class_scores(cm);
    Ok(averages_of(&scores, &cm.present_classes()))
}

/// Averages of `scores` restricted to `labels` (which must be non-empty with positive
/// total support, as they are for a non-empty confusion matrix).
pub(crate) fn averages_of(scores: &[ClassScores], labels: &[usize]) -> Averages {
    let n = labels.len() as f64;
    let mean = |f: fn(&ClassScores) -> f64| labels.iter().map(|&c| f(&scores[c])).sum::<f64>() / n;
    let total_support: f64 = labels.iter().map(|&c| scores[c].support as f64).sum();
    let weighted = |f: fn(&ClassScores) -> f64| {
        labels
            .iter()
            .map(|&c| f(&scores[c]) * scores[c].support as f64)
            .sum::<f64>()
            / total_support
    };
    Averages {
        macro_precision: mean(|s| s.precision),
        macro_recall: mean(|s| s.recall),
        macro_f1: mean(|s| s.f1),
        weighted_precision: weighted(|s| s.precision),
        weighted_recall: weighted(|s| s.recall),
        weighted_f1: weighted(|s| s.f1),
    }
}

/// Macro-F1 of hard predictions: a shortcut used to compare decision rules.
pub fn macro_f1(
    targets: &[usize],
    predictions: &[usize],
    num_classes: usize,
) -> Result<f64, MetricsError> {
    let cm = ConfusionMatrix::from_predictions(targets, predictions, num_classes)?;
    Ok(averages(&cm)?.macro_f1)
}

fn nonempty_total(cm: &ConfusionMatrix) -> Result<f64, MetricsError> {
    match cm.total() {
        0 => Err(MetricsError::Empty {
            what: "confusion matrix has no samples",
        }),
        t => Ok(t as f64),
    }
}
