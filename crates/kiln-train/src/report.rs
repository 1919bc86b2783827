//! The run report: scores of the best epoch, per-class table, confusions and history.

use std::fmt;
use std::path::Path;

use kiln_metrics::{Metrics, SelectionMetric};
use serde::Serialize;

use crate::checkpoint::{EpochRecord, write_atomic};
use crate::error::{Result, TrainError};

/// What a run achieved, readable with `{}` and saved as `report.json` / `report.txt`.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Architecture.
    pub arch: String,
    /// Class names.
    pub classes: Vec<String>,
    /// Validation metrics of the selected (best) model.
    pub metrics: Metrics,
    /// Every epoch.
    pub history: Vec<EpochRecord>,
    /// Epoch of the selected model.
    pub best_epoch: Option<usize>,
    /// The selection metric.
    pub selection: SelectionMetric,
}

impl RunReport {
    /// Assemble a report.
    pub fn new(
        arch: String,
        classes: Vec<String>,
        metrics: Metrics,
        history: Vec<EpochRecord>,
        best_epoch: Option<usize>,
        selection: SelectionMetric,
    ) -> Self {
        Self {
            arch,
            classes,
            metrics,
            history,
            best_epoch,
            selection,
        }
    }

    /// Write `report.json` and `report.txt` into `dir`, atomically.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| TrainError::InvalidConfig(format!("report: {e}")))?;
        write_atomic(&dir.join("report.json"), json.as_bytes())?;
        write_atomic(&dir.join("report.txt"), self.to_string().as_bytes())
    }
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.metrics;
        writeln!(f, "kiln run report — {}", self.arch)?;
        if let Some(e) = self.best_epoch {
            writeln!(f, "selected epoch {e} by {}", self.selection.name())?;
        }
        writeln!(
            f,
            "macro-F1 {:.4}   balanced accuracy {:.4}   accuracy {:.4}   log loss {:.4}   ECE {:.4}",
            m.macro_f1, m.balanced_accuracy, m.accuracy, m.log_loss, m.ece
        )?;
        if let Some(pr) = m.pr_auc_macro {
            writeln!(f, "PR-AUC (macro) {pr:.4}")?;
        }
        writeln!(f)?;
        let names: Vec<&str> = self.classes.iter().map(String::as_str).collect();
        match m.classification_report(Some(&names), 4) {
            Ok(t) => writeln!(f, "{t}")?,
            Err(e) => writeln!(f, "(no classification report: {e})")?,
        }
        let pairs = m.confusion_matrix.most_confused(5);
        if !pairs.is_empty() {
            writeln!(f, "most confused (true → predicted: count)")?;
            for p in pairs {
                let name = |i: usize| names.get(i).copied().unwrap_or("?");
                writeln!(
                    f,
                    "  {} → {}: {}",
                    name(p.actual),
                    name(p.predicted),
                    p.count
                )?;
            }
            writeln!(f)?;
        }
        writeln!(
            f,
            "epoch  stage      loss     acc      bal-acc  macro-F1  img/s"
        )?;
        for r in &self.history {
            writeln!(
                f,
                "{:>5}  {:<9} {:>7.4}  {:>7.4}  {:>7.4}  {:>7.4}  {:>6.1}",
                r.epoch,
                r.stage,
                r.train_loss,
                r.accuracy,
                r.balanced_accuracy,
                r.macro_f1,
                r.images_per_s
            )?;
        }
        Ok(())
    }
}
