//! Threshold-free ranking metrics: average precision (PR-AUC) and ROC-AUC, one class against
//! the rest.
//!
//! Under heavy imbalance ROC-AUC stays high while the minority class is still poorly ranked;
//! average precision does not, which is why both are reported. Both follow scikit-learn 1.2:
//! tied scores form one threshold, AP is `Σ (Rₙ − Rₙ₋₁)·Pₙ` over distinct thresholds (no
//! interpolation), ROC-AUC is the trapezoidal area.

use crate::error::MetricsError;

/// `(true positives, false positives)` at each distinct score, highest score first, plus the
/// totals `(positives, negatives)`.
fn binary_curve(scores: &[f32], positives: &[bool]) -> (Vec<(u64, u64)>, u64, u64) {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut curve = Vec::new();
    let (mut tp, mut fp) = (0u64, 0u64);
    for (i, &idx) in order.iter().enumerate() {
        if positives[idx] {
            tp += 1;
        } else {
            fp += 1;
        }
        let last_of_group = order
            .get(i + 1)
            .is_none_or(|&next| scores[next] != scores[idx]);
        if last_of_group {
            curve.push((tp, fp));
        }
    }
    (curve, tp, fp)
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
    Ok(average_precision_unchecked(scores, positives))
}

/// ROC-AUC of a binary ranking: the probability that a random positive outranks a random
/// negative (ties count one half). `Ok(None)` when either class is missing.
pub fn roc_auc(scores: &[f32], positives: &[bool]) -> Result<Option<f64>, MetricsError> {
    check_binary(scores, positives)?;
    Ok(roc_auc_unchecked(scores, positives))
}

pub(crate) fn average_precision_unchecked(scores: &[f32], positives: &[bool]) -> Option<f64> {
    let (curve, pos, _) = binary_curve(scores, positives);
    if pos == 0 {
        return None;
    }
    let mut ap = 0.0;
    let mut prev_tp = 0u64;
    for &(tp, fp) in &curve {
        if tp > prev_tp {
            let recall_step = (tp - prev_tp) as f64 / pos as f64;
            ap += recall_step * (tp as f64 / (tp + fp) as f64);
            prev_tp = tp;
        }
    }
    Some(ap)
}

pub(crate) fn roc_auc_unchecked(scores: &[f32], positives: &[bool]) -> Option<f64> {
    let (curve, pos, neg) = binary_curve(scores, positives);
    if pos == 0 || neg == 0 {
        return None;
    }
    let mut area = 0.0;
    let (mut prev_tp, mut prev_fp) = (0u64, 0u64);
    for &(tp, fp) in &curve {
        area += (fp - prev_fp) as f64 * (tp + prev_tp) as f64 / 2.0;
        prev_tp = tp;
        prev_fp = fp;
    }
    Some(area / (pos as f64 * neg as f64))
}

/// Per-class one-vs-rest AP and ROC-AUC from row-major `[n, K]` scores (inputs validated by
/// the caller).
pub(crate) fn one_vs_rest(
    scores: &[f32],
    targets: &[u32],
    num_classes: usize,
) -> (Vec<Option<f64>>, Vec<Option<f64>>) {
    let n = targets.len();
    let mut column = vec![0f32; n];
    let mut positives = vec![false; n];
    let mut ap = Vec::with_capacity(num_classes);
    let mut auc = Vec::with_capacity(num_classes);
    for c in 0..num_classes {
        for i in 0..n {
            column[i] = scores[i * num_classes + c];
            positives[i] = targets[i] as usize == c;
        }
        ap.push(average_precision_unchecked(&column, &positives));
        auc.push(roc_auc_unchecked(&column, &positives));
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
