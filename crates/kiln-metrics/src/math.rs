//! Small numerical helpers shared by the metric modules.

/// Writes the log-softmax of one row of logits into `out`, in `f64`.
///
/// Subtracting the row maximum keeps `exp` from overflowing, and working in `f64` makes log loss
/// and calibration agree with scikit-learn (which sees `f64` probabilities) to ~1e-12.
pub(crate) fn log_softmax_row(row: &[f32], out: &mut [f64]) {
    let max = row
        .iter()
        .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
    let sum: f64 = row.iter().map(|&v| (f64::from(v) - max).exp()).sum();
    let lse = max + sum.ln();
    for (o, &v) in out.iter_mut().zip(row) {
        *o = f64::from(v) - lse;
    }
}

/// Index of the largest value, the first one on ties (NumPy's `argmax`).
pub(crate) fn argmax<T: PartialOrd + Copy>(row: &[T]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate().skip(1) {
        if v > row[best] {
            best = i;
        }
    }
    best
}

/// Position of the target among a row's scores in scikit-learn's `top_k_accuracy_score` order:
/// descending score, ties broken in favour of the *higher* class index (a stable ascending
/// sort, reversed). A sample is a top-k hit when this rank is below `k`.
pub(crate) fn target_rank<T: PartialOrd + Copy>(row: &[T], target: usize) -> usize {
    let t = row[target];
    row.iter()
        .enumerate()
        .filter(|&(c, &v)| v > t || (v == t && c > target))
        .count()
}

/// `num / den`, or 0 when `den` is 0: scikit-learn's `zero_division=0`.
pub(crate) fn ratio(num: f64, den: f64) -> f64 {
    if den == 0.0 { 0.0 } else { num / den }
}
