//! kiln's own checkpoints: Burn's burnpack, written atomically.

use std::path::Path;

use burn_store::{BurnpackStore, ModuleSnapshot};

use super::load::{HeadPolicy, LoadOptions};
use crate::backbone::Backbone;
use crate::error::{ModelError, Result};
use crate::pretrained::WeightLayout;

/// Save every parameter and BatchNorm statistic of `model` to `path` (burnpack).
///
/// The file is written beside `path` under a temporary name and renamed into place, so a
/// crash mid-write leaves the previous checkpoint intact.
pub fn save_checkpoint(model: &Backbone, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let write_err = |reason: String| ModelError::Write {
        path: path.to_path_buf(),
        reason,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| write_err(e.to_string()))?;
    }
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "checkpoint".into());
    let tmp = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
    let mut store = BurnpackStore::from_file(&tmp)
        .auto_extension(false)
        .overwrite(true);
    if let Err(e) = model.save_into(&mut store) {
        let _ = std::fs::remove_file(&tmp);
        return Err(write_err(e.to_string()));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        write_err(e.to_string())
    })
}

/// Load a checkpoint written by [`save_checkpoint`] into `model` (same architecture and class
/// count), strictly: every key must match.
pub fn load_checkpoint(model: Backbone, path: impl AsRef<Path>) -> Result<Backbone> {
    let options = LoadOptions::default()
        .layout(WeightLayout::Kiln)
        .head(HeadPolicy::Require);
    model.load_weights(path, &options).map(|(m, _)| m)
}
