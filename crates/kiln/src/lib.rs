//! **kiln** — transfer learning for image classification, in pure Rust on Burn.
//!
//! Take an ImageNet backbone (ResNet, EfficientNet, ViT), import its torchvision/timm
//! weights, and fine-tune it on a small, imbalanced, slightly mislabeled image folder.
//!
//! This facade re-exports the workspace crates, one job each:
//! [`models`] (backbones, registry, weight import), [`data`] (image folders, transforms,
//! splits, samplers, audit), [`losses`], [`metrics`] and [`train`] (the fine-tuning recipe).
//! The backend is a runtime [`Device`]: `Device::flex()` (pure-Rust CPU, feature `flex`, on by
//! default), `Device::wgpu(..)` (feature `wgpu`) or `Device::cuda(0)` (feature `cuda`).
#![deny(missing_docs)]

pub use burn;
pub use kiln_data as data;
pub use kiln_losses as losses;
pub use kiln_metrics as metrics;
pub use kiln_models as models;
pub use kiln_train as train;

pub use burn::tensor::{Device, Tensor};

/// The names most programs need: `use kiln::prelude::*;`.
pub mod prelude {
    pub use burn::module::Module;
    pub use burn::tensor::{Device, Int, Tensor, TensorData};
    pub use kiln_data::{Dataset, ImageFolder, Preprocess};
    pub use kiln_losses::{ClassWeights, LossConfig};
    pub use kiln_metrics::{Evaluator, Metrics, SelectionMetric};
    pub use kiln_models::import::{HeadPolicy, LoadOptions, load_checkpoint, save_checkpoint};
    pub use kiln_models::{Arch, Backbone, ModelError, PretrainedCfg, create, list_archs};
    pub use kiln_train::{
        Augment, Finetune, Precision, Recipe, RunReport, SamplerKind, StageLr, StageSpec,
        TrainError, Tta, Unfreeze,
    };
}
