//! The confusion matrix: the sufficient statistic of every threshold-dependent metric.
//!
//! Accuracy, balanced accuracy, precision, recall and F1 all derive from it, so the evaluator
//! keeps one `K × K` table of counts instead of every prediction.

use serde::{Deserialize, Serialize};

use crate::error::{MetricsError, check_targets};

/// Counts of (true class, predicted class) pairs; rows are true classes, columns predictions
/// (scikit-learn's `confusion_matrix` layout). Serialises as a list of rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Vec<Vec<u64>>", try_from = "Vec<Vec<u64>>")]
pub struct ConfusionMatrix {
    num_classes: usize,
    counts: Vec<u64>,
}

/// One off-diagonal cell of the confusion matrix: how often `actual` was predicted as
/// `predicted`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfusedPair {
    /// The true class.
    pub actual: usize,
    /// The class it was mistaken for.
    pub predicted: usize,
    /// Number of such mistakes.
    pub count: u64,
    /// `count` as a fraction of the support of `actual`: how much of that class is lost to
    /// this confusion.
    pub fraction_of_actual: f64,
}

impl ConfusionMatrix {
    /// An all-zero matrix for `num_classes` classes.
    pub fn new(num_classes: usize) -> Self {
        Self {
            num_classes,
            counts: vec![0; num_classes * num_classes],
        }
    }

    /// Builds the matrix from true and predicted labels.
    pub fn from_predictions(
        targets: &[usize],
        predictions: &[usize],
        num_classes: usize,
    ) -> Result<Self, MetricsError> {
        if num_classes == 0 {
            return Err(MetricsError::NoClasses);
        }
        if predictions.len() != targets.len() {
            return Err(MetricsError::LengthMismatch {
                what: "predictions",
                expected: targets.len(),
                actual: predictions.len(),
            });
        }
        check_targets(targets, num_classes)?;
        if let Some(row) = predictions.iter().position(|&p| p >= num_classes) {
            return Err(MetricsError::InvalidArgument(format!(
                "prediction {} at row {row} is out of range for {num_classes} classes",
                predictions[row]
            )));
        }
        let mut cm = Self::new(num_classes);
        for (&t, &p) in targets.iter().zip(predictions) {
            cm.counts[t * num_classes + p] += 1;
        }
        Ok(cm)
    }

    /// Adds one sample; callers have validated both indices.
    pub(crate) fn record(&mut self, target: usize, predicted: usize) {
        self.counts[target * self.num_classes + predicted] += 1;
    }

    /// Adds the counts of another matrix of the same size (e.g. from another worker).
    pub fn merge(&mut self, other: &ConfusionMatrix) -> Result<(), MetricsError> {
        if other.num_classes != self.num_classes {
            return Err(MetricsError::LengthMismatch {
                what: "confusion matrix classes",
                expected: self.num_classes,
                actual: other.num_classes,
            });
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        Ok(())
    }

    /// Number of classes (rows and columns).
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Count of samples of class `actual` predicted as `predicted` (0 when out of range).
    pub fn get(&self, actual: usize, predicted: usize) -> u64 {
        if actual < self.num_classes && predicted < self.num_classes {
            self.counts[actual * self.num_classes + predicted]
        } else {
            0
        }
    }

    /// Total number of samples.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Samples whose true class is `class` (its row sum).
    pub fn support(&self, class: usize) -> u64 {
        (0..self.num_classes).map(|p| self.get(class, p)).sum()
    }

    /// Samples predicted as `class` (its column sum).
    pub fn predicted(&self, class: usize) -> u64 {
        (0..self.num_classes).map(|t| self.get(t, class)).sum()
    }

    /// Correct predictions (the trace).
    pub fn correct(&self) -> u64 {
        (0..self.num_classes).map(|c| self.get(c, c)).sum()
    }

    /// The matrix as a list of rows (true class major).
    pub fn to_rows(&self) -> Vec<Vec<u64>> {
        if self.num_classes == 0 {
            return Vec::new();
        }
        self.counts
            .chunks(self.num_classes)
            .map(<[u64]>::to_vec)
            .collect()
    }

    /// Classes that occur among the targets or the predictions, ascending. scikit-learn
    /// averages over exactly these labels when none are given, so macro scores here use the
    /// same set.
    pub fn present_classes(&self) -> Vec<usize> {
        (0..self.num_classes)
            .filter(|&c| self.support(c) > 0 || self.predicted(c) > 0)
            .collect()
    }

    /// The `n` largest off-diagonal cells, largest first (ties: lower `actual`, then lower
    /// `predicted` first). Cells with zero count are never listed.
    pub fn most_confused(&self, n: usize) -> Vec<ConfusedPair> {
        let mut pairs: Vec<ConfusedPair> = Vec::new();
        for a in 0..self.num_classes {
            let support = self.support(a) as f64;
            for p in 0..self.num_classes {
                let count = self.get(a, p);
                if a != p && count > 0 {
                    pairs.push(ConfusedPair {
                        actual: a,
                        predicted: p,
                        count,
                        fraction_of_actual: count as f64 / support,
                    });
                }
            }
        }
        pairs.sort_by(|x, y| {
            y.count
                .cmp(&x.count)
                .then(x.actual.cmp(&y.actual))
                .then(x.predicted.cmp(&y.predicted))
        });
        pairs.truncate(n);
        pairs
    }
}

impl From<ConfusionMatrix> for Vec<Vec<u64>> {
    fn from(cm: ConfusionMatrix) -> Self {
        cm.to_rows()
    }
}

impl TryFrom<Vec<Vec<u64>>> for ConfusionMatrix {
    type Error = MetricsError;

    fn try_from(rows: Vec<Vec<u64>>) -> Result<Self, Self::Error> {
        let k = rows.len();
        if let Some(bad) = rows.iter().find(|r| r.len() != k) {
            return Err(MetricsError::LengthMismatch {
                what: "confusion matrix row",
                expected: k,
                actual: bad.len(),
            });
        }
        Ok(Self {
            num_classes: k,
            counts: rows.into_iter().flatten().collect(),
        })
    }
}
