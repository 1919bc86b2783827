//! Naming the metric that picks the best checkpoint.
//!
//! Training selects models by one number; making it an enum (serialised in run configs)
//! keeps "which metric" explicit and avoids stringly-typed lookups. Every value is oriented so
//! that higher is better, so the trainer needs no per-metric direction.

use serde::{Deserialize, Serialize};

use crate::evaluator::Metrics;

/// The metric used to select among checkpoints; higher [`value`](Self::value) is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SelectionMetric {
    /// Macro-averaged F1 (the default: robust to imbalance, sensitive to every class).
    #[default]
    MacroF1,
    /// Mean per-class recall.
    BalancedAccuracy,
    /// Plain accuracy.
    Accuracy,
    /// Support-weighted F1.
    WeightedF1,
    /// Negated log loss.
    NegLogLoss,
    /// Macro-average PR-AUC.
    PrAucMacro,
    /// Macro-average one-vs-rest ROC-AUC.
    RocAucMacro,
    /// Negated expected calibration error.
    NegEce,
}

impl SelectionMetric {
    /// The metric's value in `metrics`, higher is better. An undefined ranking metric (no
    /// ranking data, or no class where it is defined) is `-∞`, so it never wins a comparison
    /// against a defined value.
    pub fn value(&self, metrics: &Metrics) -> f64 {
        match self {
            Self::MacroF1 => metrics.macro_f1,
            Self::BalancedAccuracy => metrics.balanced_accuracy,
            Self::Accuracy => metrics.accuracy,
            Self::WeightedF1 => metrics.weighted_f1,
            Self::NegLogLoss => -metrics.log_loss,
            Self::PrAucMacro => metrics.pr_auc_macro.unwrap_or(f64::NEG_INFINITY),
            Self::RocAucMacro => metrics.roc_auc_ovr_macro.unwrap_or(f64::NEG_INFINITY),
            Self::NegEce => -metrics.ece,
        }
    }

    /// Whether `candidate` is strictly better than `best` under this metric.
    pub fn is_better(&self, candidate: &Metrics, best: &Metrics) -> bool {
        self.value(candidate) > self.value(best)
    }

    /// The snake-case name used in configs and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::MacroF1 => "macro_f1",
            Self::BalancedAccuracy => "balanced_accuracy",
            Self::Accuracy => "accuracy",
            Self::WeightedF1 => "weighted_f1",
            Self::NegLogLoss => "neg_log_loss",
            Self::PrAucMacro => "pr_auc_macro",
            Self::RocAucMacro => "roc_auc_macro",
            Self::NegEce => "neg_ece",
        }
    }
}

impl std::fmt::Display for SelectionMetric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
