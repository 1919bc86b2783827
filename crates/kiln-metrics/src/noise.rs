//! Label-noise detection from predicted probabilities: suspects ranked by self-confidence
//! (the per-sample loss) and confident learning (Northcutt, Jiang & Chuang, "Confident
//! Learning: Estimating Uncertainty in Dataset Labels", JAIR 2021 — cleanlab's
//! `filter_by="confident_learning"`).
//!
//! Both work on a row-major `[n, K]` probability matrix and the *given* labels. The
//! probabilities should be out-of-sample (cross-validated, or from a model that did not train
//! on the sample): a model that memorised its training labels agrees with every wrong label.
//! With a few epochs of fine-tuning, label smoothing and early stopping, in-sample
//! probabilities still rank flipped labels first in practice; k-fold probabilities are better.

use serde::{Deserialize, Serialize};

use crate::error::{MetricsError, check_targets};

/// One sample and how much its label is in doubt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suspect {
    /// Row in the probability matrix (dataset index).
    pub index: usize,
    /// The label the data set gives.
    pub given: usize,
    /// The most probable class.
    pub predicted: usize,
    /// Probability of the given label (low = suspicious); cleanlab's `self_confidence`.
    pub self_confidence: f32,
    /// Cross-entropy of the given label, `-ln p(given)`.
    pub loss: f64,
    /// `p(given) − max_{j≠given} p(j)` (negative when another class wins); cleanlab's
    /// `normalized_margin` before rescaling.
    pub margin: f32,
}

/// What [`confident_learning`] finds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfidentLearning {
    /// Per-class threshold `t_j`: the mean probability of class `j` over samples labelled `j`
    /// (`None` when no sample has that label: the class is never a confident prediction).
    pub thresholds: Vec<Option<f64>>,
    /// Confident joint `C[given][confident]`: samples counted where their most probable class
    /// among those above threshold is `confident`.
    pub confident_joint: Vec<Vec<u64>>,
    /// The joint distribution of (given, true) labels estimated from `C`: each row rescaled
    /// to the number of samples with that given label, then the matrix to sum 1.
    pub joint: Vec<Vec<f64>>,
    /// Estimated fraction of wrong labels, `1 − trace(joint)`.
    pub noise_rate: f64,
    /// Label issues: samples off the diagonal of the confident joint, most suspicious
    /// (lowest self-confidence) first.
    pub issues: Vec<Suspect>,
}

fn check_probs(probs: &[f32], labels: &[usize], k: usize) -> Result<usize, MetricsError> {
    crate::error::check_batch(probs, labels, k)?;
    if labels.is_empty() {
        return Err(MetricsError::Empty {
            what: "labels for label-noise detection",
        });
    }
    if let Some(i) = probs.iter().position(|p| !(0.0..=1.0).contains(p)) {
        return Err(MetricsError::InvalidProbability {
            row: i / k,
            column: i % k,
            value: probs[i],
        });
    }
    check_targets(labels, k)?;
    Ok(labels.len())
}

fn suspect(index: usize, row: &[f32], given: usize) -> Suspect {
    let predicted = argmax(row.iter().copied().enumerate());
    let p = row[given];
    let best_other = row
        .iter()
        .enumerate()
        .filter(|&(j, _)| j != given)
        .map(|(_, &q)| q)
        .fold(0f32, f32::max);
    Suspect {
        index,
        given,
        predicted,
        self_confidence: p,
        loss: -(f64::from(p).max(f64::from(f32::EPSILON))).ln(),
        margin: p - best_other,
    }
}

/// Index of the largest value (the first on ties).
fn argmax(values: impl Iterator<Item = (usize, f32)>) -> usize {
    let mut best = (0, f32::NEG_INFINITY);
    for (j, v) in values {
        if v > best.1 {
            best = (j, v);
        }
    }
    best.0
}

fn by_suspicion(a: &Suspect, b: &Suspect) -> std::cmp::Ordering {
    a.self_confidence
        .total_cmp(&b.self_confidence)
        .then(a.margin.total_cmp(&b.margin))
        .then(a.index.cmp(&b.index))
}

/// Every sample, most suspicious first: ascending probability of the given label (descending
/// loss), ties by margin, then index.
pub fn rank_suspects(
    probs: &[f32],
    labels: &[usize],
    num_classes: usize,
) -> Result<Vec<Suspect>, MetricsError> {
    check_probs(probs, labels, num_classes)?;
    let mut all: Vec<Suspect> = probs
        .chunks(num_classes)
        .zip(labels)
        .enumerate()
        .map(|(i, (row, &y))| suspect(i, row, y))
        .collect();
    all.sort_by(by_suspicion);
    Ok(all)
}

/// Confident learning: per-class thresholds, the confident joint, the estimated joint of
/// given and true labels, the noise rate, and the samples it flags.
pub fn confident_learning(
    probs: &[f32],
    labels: &[usize],
    num_classes: usize,
) -> Result<ConfidentLearning, MetricsError> {
    let k = num_classes;
    let n = check_probs(probs, labels, k)?;
    let mut sums = vec![0f64; k];
    let mut counts = vec![0u64; k];
    for (row, &y) in probs.chunks(k).zip(labels) {
        sums[y] += f64::from(row[y]);
        counts[y] += 1;
    }
    let thresholds: Vec<Option<f64>> = sums
        .iter()
        .zip(&counts)
        .map(|(&s, &c)| (c > 0).then(|| s / c as f64))
        .collect();

    let mut joint_counts = vec![vec![0u64; k]; k];
    let mut issues = Vec::new();
    for (i, (row, &y)) in probs.chunks(k).zip(labels).enumerate() {
        let above = row
            .iter()
            .copied()
            .enumerate()
            .filter(|&(j, p)| thresholds[j].is_some_and(|t| f64::from(p) >= t));
        let mut any = false;
        let confident = argmax(above.inspect(|_| any = true));
        if !any {
            continue;
        }
        joint_counts[y][confident] += 1;
        if confident != y {
            issues.push(suspect(i, row, y));
        }
    }
    issues.sort_by(by_suspicion);

    // Calibrate: each row of C to the number of samples with that given label, then normalise.
    let mut joint = vec![vec![0f64; k]; k];
    for y in 0..k {
        let row_total: u64 = joint_counts[y].iter().sum();
        if row_total == 0 {
            continue;
        }
        for j in 0..k {
            joint[y][j] = joint_counts[y][j] as f64 / row_total as f64 * counts[y] as f64;
        }
    }
    let total: f64 = joint.iter().flatten().sum();
    if total > 0.0 {
        for v in joint.iter_mut().flatten() {
            *v /= total;
        }
    }
    let trace: f64 = (0..k).map(|j| joint[j][j]).sum();
    let noise_rate = if total > 0.0 { 1.0 - trace } else { 0.0 };
    debug_assert!(issues.len() <= n);
    Ok(ConfidentLearning {
        thresholds,
        confident_joint: joint_counts,
        joint,
        noise_rate,
        issues,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 3 classes; rows 0–3 confidently their label, row 4 labelled 0 but confidently class 2,
    /// row 5 labelled 1 and unsure.
    fn example() -> (Vec<f32>, Vec<usize>) {
        let probs = vec![
            0.9, 0.05, 0.05, //
            0.8, 0.1, 0.1, //
            0.1, 0.8, 0.1, //
            0.05, 0.05, 0.9, //
            0.1, 0.1, 0.8, //
            0.3, 0.4, 0.3, //
        ];
        (probs, vec![0, 0, 1, 2, 0, 1])
    }

    #[test]
    fn thresholds_joint_and_issues_by_hand() {
        let (p, y) = example();
        let cl = confident_learning(&p, &y, 3).unwrap();
        // t0 = mean(0.9, 0.8, 0.1), t1 = mean(0.8, 0.4), t2 = 0.9.
        let t: Vec<f64> = cl.thresholds.iter().map(|t| t.unwrap()).collect();
        assert!((t[0] - 0.6).abs() < 1e-6 && (t[1] - 0.6).abs() < 1e-6);
        assert!((t[2] - 0.9).abs() < 1e-6);
        // Row 4: class 0 (0.1 < 0.6) no, class 2 (0.8 < 0.9) no → not counted. Row 5: nothing
        // above threshold. Rows 0, 1 → (0, 0); row 2 → (1, 1); row 3 → (2, 2).
        assert_eq!(
            cl.confident_joint,
            vec![vec![2, 0, 0], vec![0, 1, 0], vec![0, 0, 1]]
        );
        assert!(cl.issues.is_empty());
        assert!(cl.noise_rate.abs() < 1e-12);

        // With row 4 at 0.95 for class 2 it crosses t2 = mean(0.9) and is flagged.
        let mut p2 = p.clone();
        p2[12..15].copy_from_slice(&[0.025, 0.025, 0.95]);
        let cl = confident_learning(&p2, &y, 3).unwrap();
        assert_eq!(cl.confident_joint[0], vec![2, 0, 1]);
        assert_eq!(cl.issues.len(), 1);
        assert_eq!(cl.issues[0].index, 4);
        assert_eq!(cl.issues[0].predicted, 2);
        // Row 0 rescaled to its 3 samples: (2, 0, 1); total 3 + 2 + 1 = 6; noise 1/6.
        assert!((cl.joint[0][2] - 1.0 / 6.0).abs() < 1e-12);
        assert!((cl.noise_rate - 1.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn suspects_rank_by_the_given_label_probability() {
        let (p, y) = example();
        let s = rank_suspects(&p, &y, 3).unwrap();
        let order: Vec<usize> = s.iter().map(|s| s.index).collect();
        assert_eq!(order, vec![4, 5, 1, 2, 0, 3]);
        assert_eq!(s[0].predicted, 2);
        assert!((s[0].loss - (-(0.1f64).ln())).abs() < 1e-6);
        assert!((s[0].margin - (0.1 - 0.8)).abs() < 1e-6);
    }

    #[test]
    fn planted_flips_are_found() {
        // 200 samples, 4 classes, a model that is right with probability 0.7 + noise;
        // 10 labels flipped to another class.
        let k = 4;
        let mut state = 7u64;
        let mut uniform = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 40) as f32 / (1u64 << 24) as f32
        };
        let mut probs = Vec::new();
        let mut labels = Vec::new();
        let mut flipped = Vec::new();
        for i in 0..200 {
            let truth = i % k;
            let mut row: Vec<f32> = (0..k).map(|_| 0.05 + 0.1 * uniform()).collect();
            row[truth] = 0.6 + 0.3 * uniform();
            let s: f32 = row.iter().sum();
            row.iter_mut().for_each(|v| *v /= s);
            probs.extend(row);
            let label = if i % 20 == 3 {
                flipped.push(i);
                (truth + 1 + i % 3) % k
            } else {
                truth
            };
            labels.push(label);
        }
        let cl = confident_learning(&probs, &labels, k).unwrap();
        // Confident learning is conservative: everything it flags is a flip, and it finds the
        // flips whose true class clears that class's threshold (about half of these).
        let found: Vec<usize> = cl.issues.iter().map(|s| s.index).collect();
        assert!(found.iter().all(|i| flipped.contains(i)), "{found:?}");
        assert!(found.len() >= 5, "{found:?}");
        assert!(
            cl.noise_rate > 0.02 && cl.noise_rate < 0.08,
            "{}",
            cl.noise_rate
        );
        let top: Vec<usize> = rank_suspects(&probs, &labels, k).unwrap()[..10]
            .iter()
            .map(|s| s.index)
            .collect();
        assert!(top.iter().all(|i| flipped.contains(i)));
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        assert!(matches!(
            rank_suspects(&[0.5, 0.5], &[0], 3),
            Err(MetricsError::LengthMismatch { .. })
        ));
        assert!(matches!(
            confident_learning(&[1.5, -0.5], &[0], 2),
            Err(MetricsError::InvalidProbability { .. })
        ));
        assert!(matches!(
            confident_learning(&[0.5, 0.5], &[2], 2),
            Err(MetricsError::TargetOutOfRange { .. })
        ));
        assert!(matches!(
            rank_suspects(&[], &[], 2),
            Err(MetricsError::Empty { .. })
        ));
    }
}
