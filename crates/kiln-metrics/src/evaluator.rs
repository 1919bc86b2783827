//! The streaming evaluator: feed it batches of logits and targets, get every metric at the
//! end of the epoch.
//!
//! Per batch it does O(n·K) work: a log-softmax per row (for log loss and calibration), the
//! confusion-matrix cell, the target's rank (for top-k) and a reliability bin. Only the ranking
//! metrics (PR-AUC, ROC-AUC) need the scores themselves; they are kept as `f32` probabilities
//! (`4·n·K` bytes) and can be switched off with [`Evaluator::without_ranking`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::calibration::{DEFAULT_CALIBRATION_BINS, ReliabilityAccumulator, ReliabilityBin};
use crate::confusion::ConfusionMatrix;
use crate::error::{MetricsError, check_batch};
use crate::math::{argmax, log_softmax_row, target_rank};
use crate::ranking::{mean_defined, one_vs_rest};
use crate::report::classification_report;
use crate::scores::{averages_of, class_scores};

/// Top-k values reported by default (those below the number of classes: top-K is always 1).
const DEFAULT_TOP_K: [usize; 2] = [2, 5];

/// Log loss clips probabilities at machine epsilon, as scikit-learn does, so one confidently
/// wrong sample cannot make the mean infinite.
const LOG_LOSS_EPS: f64 = f64::EPSILON;

/// Metrics of one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// `tp / (tp + fp)`; 0 when the class is never predicted.
    pub precision: f64,
    /// `tp / support`; 0 when the class never occurs.
    pub recall: f64,
    /// Harmonic mean of precision and recall; 0 when both are 0.
    pub f1: f64,
    /// Number of samples of this class.
    pub support: u64,
    /// Average precision of this class against the rest; `None` when the class never occurs
    /// or ranking is disabled.
    pub pr_auc: Option<f64>,
    /// ROC-AUC of this class against the rest; `None` when the class never occurs, is the only
    /// class present, or ranking is disabled.
    pub roc_auc: Option<f64>,
}

/// Everything the evaluator computes for one pass over a dataset.
///
/// Macro averages run over the classes present in targets or predictions (scikit-learn's
/// default label set); `balanced_accuracy` over the classes present in the targets; the
/// ranking macros over the classes where they are defined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Number of classes `K`.
    pub num_classes: usize,
    /// Number of samples evaluated.
    pub num_samples: u64,
    /// Fraction of correct argmax predictions. Misleading under imbalance: prefer
    /// `balanced_accuracy` or `macro_f1`.
    pub accuracy: f64,
    /// Mean per-class recall.
    pub balanced_accuracy: f64,
    /// Unweighted mean of per-class precision.
    pub macro_precision: f64,
    /// Unweighted mean of per-class recall.
    pub macro_recall: f64,
    /// Unweighted mean of per-class F1: the default model-selection metric.
    pub macro_f1: f64,
    /// Support-weighted mean of per-class F1.
    pub weighted_f1: f64,
    /// Per-class metrics, indexed by class.
    pub per_class: Vec<ClassMetrics>,
    /// Rows are true classes, columns predictions.
    pub confusion_matrix: ConfusionMatrix,
    /// Top-k accuracy for each requested k.
    pub top_k_accuracy: BTreeMap<usize, f64>,
    /// Mean negative log-likelihood of the targets (natural log).
    pub log_loss: f64,
    /// Macro-average of per-class average precision (PR-AUC).
    pub pr_auc_macro: Option<f64>,
    /// Macro-average of one-vs-rest ROC-AUC.
    pub roc_auc_ovr_macro: Option<f64>,
    /// Expected calibration error of the top-class confidence.
    pub ece: f64,
    /// Reliability diagram behind `ece`.
    pub reliability: Vec<ReliabilityBin>,
}

impl Metrics {
    /// The classification report of these metrics (see
    /// [`classification_report`](crate::classification_report)).
    pub fn classification_report(
        &self,
        target_names: Option<&[&str]>,
        digits: usize,
    ) -> Result<String, MetricsError> {
        classification_report(&self.confusion_matrix, target_names, digits)
    }

    /// Per-class F1 scores, indexed by class.
    pub fn f1_per_class(&self) -> Vec<f64> {
        self.per_class.iter().map(|c| c.f1).collect()
    }
}

/// Streaming accumulator of classification metrics.
#[derive(Debug, Clone)]
pub struct Evaluator {
    num_classes: usize,
    confusion: ConfusionMatrix,
    /// `rank_counts[r]`: samples whose target was ranked `r`-th (0 = top).
    rank_counts: Vec<u64>,
    log_loss_sum: f64,
    reliability: ReliabilityAccumulator,
    calibration_bins: usize,
    top_k: Vec<usize>,
    explicit_top_k: bool,
    keep_scores: bool,
    scores: Vec<f32>,
    targets: Vec<u32>,
    /// Scratch row buffer, to avoid an allocation per sample.
    row: Vec<f64>,
}

impl Evaluator {
    /// An evaluator for `num_classes` classes, with ranking metrics, 15 calibration bins and
    /// top-2 / top-5 accuracy (where below `num_classes`).
    pub fn new(num_classes: usize) -> Self {
        Self {
            num_classes,
            confusion: ConfusionMatrix::new(num_classes),
            rank_counts: vec![0; num_classes],
            log_loss_sum: 0.0,
            reliability: ReliabilityAccumulator::new(DEFAULT_CALIBRATION_BINS),
            calibration_bins: DEFAULT_CALIBRATION_BINS,
            top_k: DEFAULT_TOP_K.to_vec(),
            explicit_top_k: false,
            keep_scores: true,
            scores: Vec::new(),
            targets: Vec::new(),
            row: vec![0.0; num_classes],
        }
    }

    /// Reports top-k accuracy for exactly these `k` (each ≥ 1).
    pub fn with_top_k(mut self, ks: &[usize]) -> Result<Self, MetricsError> {
        if ks.contains(&0) {
            return Err(MetricsError::InvalidArgument("top-k needs k >= 1".into()));
        }
        self.top_k = ks.to_vec();
        self.top_k.sort_unstable();
        self.top_k.dedup();
        self.explicit_top_k = true;
        Ok(self)
    }

    /// Uses `n_bins` equal-width reliability bins for ECE (default 15). Resets accumulated
    /// calibration data, so call it before the first update.
    pub fn with_calibration_bins(mut self, n_bins: usize) -> Result<Self, MetricsError> {
        if n_bins == 0 {
            return Err(MetricsError::InvalidArgument(
                "n_bins must be at least 1".into(),
            ));
        }
        self.calibration_bins = n_bins;
        self.reliability = ReliabilityAccumulator::new(n_bins);
        Ok(self)
    }

    /// Skips PR-AUC and ROC-AUC, so no per-sample scores are stored: for very large
    /// evaluation sets or many classes where `4·n·K` bytes is too much.
    pub fn without_ranking(mut self) -> Self {
        self.keep_scores = false;
        self.scores = Vec::new();
        self.targets = Vec::new();
        self
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Number of samples accumulated so far.
    pub fn len(&self) -> u64 {
        self.confusion.total()
    }

    /// Whether no sample has been accumulated yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The confusion matrix accumulated so far.
    pub fn confusion(&self) -> &ConfusionMatrix {
        &self.confusion
    }

    /// Forgets every sample (keeps the configuration), for reuse across epochs.
    pub fn reset(&mut self) {
        self.confusion = ConfusionMatrix::new(self.num_classes);
        self.rank_counts.fill(0);
        self.log_loss_sum = 0.0;
        self.reliability = ReliabilityAccumulator::new(self.calibration_bins);
        self.scores.clear();
        self.targets.clear();
    }

    /// Adds a batch of row-major `[n, K]` logits and their targets.
    ///
    /// The whole batch is validated first (lengths, finite logits, targets `< K`); on error
    /// nothing is accumulated. An empty batch is a no-op.
    pub fn update(&mut self, logits: &[f32], targets: &[usize]) -> Result<(), MetricsError> {
        check_batch(logits, targets, self.num_classes)?;
        let k = self.num_classes;
        let mut row = std::mem::take(&mut self.row);
        for (z, &t) in logits.chunks(k).zip(targets) {
            log_softmax_row(z, &mut row);
            self.add_sample(&row, argmax(z), target_rank(z, t), t);
        }
        self.row = row;
        Ok(())
    }

    /// Adds a batch of row-major `[n, K]` probabilities (e.g. from an ensemble) and targets.
    ///
    /// Values must lie in `[0, 1]`; each row is clipped at machine epsilon and renormalised as
    /// scikit-learn's `log_loss` does.
    pub fn update_probs(&mut self, probs: &[f32], targets: &[usize]) -> Result<(), MetricsError> {
        check_batch(probs, targets, self.num_classes)?;
        let k = self.num_classes;
        for (i, row) in probs.chunks(k).enumerate() {
            if let Some(c) = row.iter().position(|p| !(0.0..=1.0).contains(p)) {
                return Err(MetricsError::InvalidProbability {
                    row: i,
                    column: c,
                    value: row[c],
                });
            }
        }
        let mut logp = std::mem::take(&mut self.row);
        for (p, &t) in probs.chunks(k).zip(targets) {
            let sum: f64 = p
                .iter()
                .map(|&v| f64::from(v).clamp(LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS))
                .sum();
            for (l, &v) in logp.iter_mut().zip(p) {
                *l = (f64::from(v).clamp(LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS) / sum).ln();
            }
            self.add_sample(&logp, argmax(p), target_rank(p, t), t);
        }
        self.row = logp;
        Ok(())
    }

    fn add_sample(&mut self, logp: &[f64], pred: usize, rank: usize, target: usize) {
        self.confusion.record(target, pred);
        self.rank_counts[rank] += 1;
        self.log_loss_sum -= logp[target].max(LOG_LOSS_EPS.ln());
        self.reliability.add(logp[pred].exp(), pred == target);
        if self.keep_scores {
            self.scores.extend(logp.iter().map(|&l| l.exp() as f32));
            // Class indices fit in u32: no classifier has 4 billion classes.
            self.targets.push(target as u32);
        }
    }

    /// Computes every metric over the samples accumulated so far.
    pub fn compute(&self) -> Result<Metrics, MetricsError> {
        if self.num_classes == 0 {
            return Err(MetricsError::NoClasses);
        }
        let total = self.confusion.total();
        if total == 0 {
            return Err(MetricsError::Empty {
                what: "no samples were added to the evaluator",
            });
        }
        let n = total as f64;
        let scores = class_scores(&self.confusion);
        let avg = averages_of(&scores, &self.confusion.present_classes());
        let recalls: Vec<f64> = scores
            .iter()
            .filter(|s| s.support > 0)
            .map(|s| s.recall)
            .collect();
        let balanced_accuracy = recalls.iter().sum::<f64>() / recalls.len() as f64;

        let (ap, auc) = if self.keep_scores {
            one_vs_rest(&self.scores, &self.targets, self.num_classes)
        } else {
            (vec![None; self.num_classes], vec![None; self.num_classes])
        };

        let per_class = scores
            .iter()
            .zip(ap.iter().zip(&auc))
            .map(|(s, (&pr_auc, &roc_auc))| ClassMetrics {
                precision: s.precision,
                recall: s.recall,
                f1: s.f1,
                support: s.support,
                pr_auc,
                roc_auc,
            })
            .collect();

        let top_k_accuracy = self
            .top_k
            .iter()
            .filter(|&&k| self.explicit_top_k || k < self.num_classes)
            .map(|&k| {
                let hits: u64 = self.rank_counts.iter().take(k).sum();
                (k, hits as f64 / n)
            })
            .collect();

        let calibration = self.reliability.finish();
        Ok(Metrics {
            num_classes: self.num_classes,
            num_samples: total,
            accuracy: self.confusion.correct() as f64 / n,
            balanced_accuracy,
            macro_precision: avg.macro_precision,
            macro_recall: avg.macro_recall,
            macro_f1: avg.macro_f1,
            weighted_f1: avg.weighted_f1,
            per_class,
            confusion_matrix: self.confusion.clone(),
            top_k_accuracy,
            log_loss: self.log_loss_sum / n,
            pr_auc_macro: mean_defined(&ap),
            roc_auc_ovr_macro: mean_defined(&auc),
            ece: calibration.ece,
            reliability: calibration.bins,
        })
    }
}
