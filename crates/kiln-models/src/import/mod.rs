//! Weight import (torchvision / timm / efficientnet_pytorch) and kiln checkpoints.
//!
//! Import goes through `burn-store`: `.pth` (zip or legacy pickle) with
//! [`burn_store::PytorchStore`], `.safetensors` with [`burn_store::SafetensorsStore`] and the
//! PyTorch→Burn adapter, kiln's own `.bpk` with [`burn_store::BurnpackStore`]. The store maps
//! the file's keys onto kiln's module paths with the per-layout remaps in [`keymap`]; then
//! every disagreement between file and model becomes a typed [`ModelError`] naming the key.

pub mod keymap;
mod load;
mod save;

pub use crate::pretrained::WeightLayout;
pub use load::{HeadPolicy, LoadOptions, LoadReport, WeightFormat};
pub use save::{load_checkpoint, save_checkpoint};

#[allow(unused_imports)]
use crate::error::ModelError;
