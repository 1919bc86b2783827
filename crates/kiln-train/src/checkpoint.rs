//! Run state on disk: written atomically so a crash never loses what was already saved.
//!
//! Each epoch writes the model (`last-eNNN.bpk`), the optimiser (`last-eNNN.optim.bpk`) and,
//! last, `state.json` (temp file + rename): `state.json` is the commit point and names the
//! files it belongs to, so a crash between writes leaves the previous epoch's state intact.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// Metrics of one finished epoch (one line of `metrics.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch over the whole run (0-based).
    pub epoch: usize,
    /// Recipe stage name.
    pub stage: String,
    /// Mean training loss.
    pub train_loss: f64,
    /// Validation accuracy.
    pub accuracy: f64,
    /// Validation balanced accuracy.
    pub balanced_accuracy: f64,
    /// Validation macro-F1.
    pub macro_f1: f64,
    /// Validation log loss.
    pub log_loss: f64,
    /// Value of the selection metric.
    pub selection: f64,
    /// Training images per second (forward + backward + step, data included).
    pub images_per_s: f64,
    /// Seconds the epoch took (training and validation).
    pub seconds: f64,
}

impl EpochRecord {
    /// This record with the wall-clock fields (`seconds`, `images_per_s`) of `other`: the
    /// rest of a record is deterministic, these are not.
    pub fn with_seconds_of(mut self, other: &EpochRecord) -> Self {
        self.seconds = other.seconds;
        self.images_per_s = other.images_per_s;
        self
    }
}

/// Where a run stands; `state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Index of the stage to run next.
    pub stage: usize,
    /// Epoch within that stage to run next.
    pub epoch_in_stage: usize,
    /// Epochs finished over the whole run.
    pub global_epoch: usize,
    /// Best selection-metric value so far.
    pub best_value: Option<f64>,
    /// Global epoch of the best value.
    pub best_epoch: Option<usize>,
    /// Epochs without improvement (early stopping).
    pub stale_epochs: usize,
    /// Every finished epoch.
    pub history: Vec<EpochRecord>,
    /// Model file of the last finished epoch (relative to the run folder).
    pub last_model: Option<String>,
    /// Optimiser file of the last finished epoch, when the next epoch continues its stage.
    pub last_optimizer: Option<String>,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
    /// Weight-EMA model file of the last finished epoch, when an EMA is kept.
    #[serde(default)]
    pub last_ema: Option<String>,
}

impl RunState {
    /// A fresh run.
    pub fn new() -> Self {
        Self {
            stage: 0,
            epoch_in_stage: 0,
            global_epoch: 0,
            best_value: None,
            best_epoch: None,
            stale_epochs: 0,
            history: Vec::new(),
            last_model: None,
            last_optimizer: None,
            stopped_early: false,
            last_ema: None,
        }
    }

    /// Read `dir/state.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("state.json");
        let text = std::fs::read_to_string(&path).map_err(|source| TrainError::Io {
            path: path.clone(),
            source,
        })?;
        serde_json::from_str(&text)
            .map_err(|e| TrainError::InvalidConfig(format!("{}: {e}", path.display())))
    }
}

impl Default for RunState {
    fn default() -> Self {
        Self::new()
    }
}

/// Write `bytes` to `path` through a temporary sibling and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = tmp_path(path);
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}

/// A temporary sibling of `path` (same folder, so the rename stays on one filesystem).
pub fn tmp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Append one JSON line to `path` (the epoch log). Appends are small and line-sized; a crash
/// can at worst leave the last line incomplete, which readers skip.
pub fn append_jsonl<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    use std::io::Write;
    let io = |source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    };
    let line = serde_json::to_string(value)
        .map_err(|e| TrainError::InvalidConfig(format!("cannot serialise log line: {e}")))?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    writeln!(f, "{line}").map_err(io)
}
