//! ImageNet backbones for transfer learning, in torchvision's layout.
//!
//! * [`registry`]: create a backbone by name (`"resnet50"`, …) with a fresh head for your
//!   class count, timm-style, and look up its [`PretrainedCfg`].
//! * [`Backbone`]: one type for every family, with `forward_features` (penultimate
//!   embedding), `forward` (logits), head replacement and the ordered [`Stage`]s that the
//!   training crate freezes, unfreezes and gives their own learning rates.
//! * [`import`]: torchvision / timm / efficientnet_pytorch weights from `.pth` (zip or legacy
//!   pickle) and `.safetensors` through `burn-store`, with typed errors for every mismatch;
//!   kiln's own checkpoints in Burn's burnpack format.
//!
//! Module fields are named after the torchvision state-dict keys (`conv1`, `bn1`,
//! `layer1.0.conv1`, `fc`, …) so the importer needs only a handful of remaps.
#![deny(missing_docs)]

pub mod activation;
pub mod backbone;
pub mod efficientnet;
pub mod error;
pub mod import;
pub mod parity;
pub mod pretrained;
pub mod registry;
pub mod resnet;
pub mod vit;

pub use backbone::{Backbone, Stage};
pub use error::ModelError;
pub use import::{LoadOptions, LoadReport, WeightLayout};
pub use pretrained::{Interpolation, PretrainedCfg};
pub use registry::{Arch, create, list_archs};
