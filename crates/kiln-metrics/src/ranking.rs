//! Threshold-free ranking metrics: average precision (PR-AUC) and ROC-AUC, one class against
//! the rest.
//!
//! Under heavy imbalance ROC-AUC stays high while the minority class is still poorly ranked;
//! average precision does not, which is why both are reported. Both follow scikit-learn 1.2:
//! tied scores form one threshold, AP is `Σ (Rₙ − Rₙ₋₁)·Pₙ` over distinct thresholds (no
//! interpolation), ROC-AUC is the trapezoidal area.

use crate::error::MetricsError;

/// `(true positives, false positives)` at each distinct score, highest score first, plus the
/// totals `(positives, negatives)`. Sorts `pairs` (score, is-positive) in place.
fn binary_curve(pairs: &mut [(f32, bool)]) -> (Vec<(u64, u64)>, u64, u64) {
    pairs.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
    let mut curve = Vec::new();
    let (mut tp, mut fp) = (0u64, 0u64);
    for (i, &(score, positive)) in pairs.iter().enumerate() {
        if positive {
            tp += 1;
        } else {
            fp += 1;
        }
        if pairs.get(i + 1).is_none_or(|next| next.0 != score) {
            curve.push((tp, fp));
        }
    }
    (curve, tp, fp)
}

fn pairs(scores: &[f32], positives: &[bool]) -> Vec<(f32, bool)> {
    scores
        .iter()
        .copied()
        .zip(positives.iter().copied())
        .collect()
}

fn check_binary(scores: &[f32], positives: &[bool]) -> Result<(), MetricsError> {
    if positives.len() != scores.len() {
        return Err(MetricsError::LengthMismatch {
            what: "labels",
            expected: scores.len(),
            actual: positives.len(),
        });
    }
    if scores.is_empty() {
        return Err(MetricsError::Empty { what: "scores" });
    }
    match scores.iter().position(|s| !s.is_finite()) {
        Some(row) => Err(MetricsError::NonFinite {
            row,
            column: 0,
            value: scores[row],
        }),
        None => Ok(()),
    }
}

/// Average precision of a binary ranking (`positives[i]` marks the positive samples).
///
/// Returns `Ok(None)` when there is no positive sample: recall is undefined, and reporting 0
/// (as scikit-learn ≥ 1.1 does, with a warning) would blame the model for the dataset.
pub fn average_precision(scores: &[f32], positives: &[bool]) -> Result<Option<f64>, MetricsError> {
    check_binary(scores, positives)?;
    Ok(average_precision_of(&mut pairs(scores, positives)))
}

/// ROC-AUC of a binary ranking: the probability that a random positive outranks a random
/// negative (ties count one half). `Ok(None)` when either class is missing.
pub fn roc_auc(scores: &[f32], positives: &[bool]) -> Result<Option<f64>, MetricsError> {
    check_binary(scores, positives)?;
    Ok(roc_auc_of(&mut pairs(scores, positives)))
}

/// Average precision from the sorted curve (see [`average_precision`]).
fn average_precision_from(curve: &[(u64, u64)], pos: u64) -> Option<f64> {
    if pos == 0 {
        return None;
    }
    let mut ap = 0.0;
    let mut prev_tp = 0u64;
    for &(tp, fp) in curve {
        if tp > prev_tp {
            let recall_step = (tp - prev_tp) as f64 / pos as f64;
            ap += recall_step * (tp as f64 / (tp + fp) as f64);
            prev_tp = tp;
        }
    }
    Some(ap)
}

/// ROC-AUC from the sorted curve (see [`roc_auc`]).
fn roc_auc_from(curve: &[(u64, u64)], pos: u64, neg: u64) -> Option<f64> {
    if pos == 0 || neg == 0 {
        return None;
    }
    let mut area = 0.0;
    let (mut prev_tp, mut prev_fp) = (0u64, 0u64);
    for &(tp, fp) in curve {
        area += (fp - prev_fp) as f64 * (tp + prev_tp) as f64 / 2.0;
        prev_tp = tp;
        prev_fp = fp;
    }
    Some(area / (pos as f64 * neg as f64))
}

fn average_precision_of(pairs: &mut [(f32, bool)]) -> Option<f64> {
    let (curve, pos, _) = binary_curve(pairs);
    average_precision_from(&curve, pos)
}

fn roc_auc_of(pairs: &mut [(f32, bool)]) -> Option<f64> {
    let (curve, pos, neg) = binary_curve(pairs);
    roc_auc_from(&curve, pos, neg)
}

/// Per-class one-vs-rest AP and ROC-AUC from row-major `[n, K]` scores (inputs validated by
/// the caller). One sort per class serves both metrics.
pub(crate) fn one_vs_rest(
    scores: &[f32],
    targets: &[u32],
    num_classes: usize,
) -> (Vec<Option<f64>>, Vec<Option<f64>>) {
    let mut column: Vec<(f32, bool)> = Vec::with_capacity(targets.len());
    let mut ap = Vec::with_capacity(num_classes);
    let mut auc = Vec::with_capacity(num_classes);
    for c in 0..num_classes {
        column.clear();
        column.extend(
            targets
                .iter()
                .enumerate()
                .map(|(i, &t)| (scores[i * num_classes + c], t as usize == c)),
        );
        let (curve, pos, neg) = binary_curve(&mut column);
        ap.push(average_precision_from(&curve, pos));
        auc.push(roc_auc_from(&curve, pos, neg));
    }
    (ap, auc)
}

/// Mean of the defined values, `None` when no value is defined.
pub(crate) fn mean_defined(values: &[Option<f64>]) -> Option<f64> {
    let defined: Vec<f64> = values.iter().flatten().copied().collect();
    if defined.is_empty() {
        None
    } else {
        Some(defined.iter().sum::<f64>() / defined.len() as f64)
    }
}
