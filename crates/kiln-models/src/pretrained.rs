//! Per-architecture facts a generic pipeline needs: preprocessing, head and feature size.
//!
//! Every registered architecture carries a [`PretrainedCfg`], so transforms, head reset and
//! stage unfreezing never match on architecture names (the timm idea).

use serde::{Deserialize, Serialize};

/// The resize filter the reference preprocessing uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interpolation {
    /// Bilinear (torchvision's default for ResNet and ViT).
    Bilinear,
    /// Bicubic (torchvision's EfficientNet weights).
    Bicubic,
    /// Nearest neighbour.
    Nearest,
}

/// Which state-dict naming a weight file uses; each maps onto the same kiln modules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightLayout {
    /// torchvision (`torchvision.models.*`), also used by the HF/timm ResNets.
    Torchvision,
    /// timm (`conv_stem`, `blocks.S.I.conv_dw`, …), for EfficientNet.
    Timm,
    /// lukemelas' `efficientnet_pytorch` (`_conv_stem`, `_blocks.N._expand_conv`, …).
    EfficientNetPytorch,
    /// kiln's own module paths (burnpack checkpoints written by kiln).
    Kiln,
}

/// How an architecture's ImageNet weights expect their input and where its head lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainedCfg {
    /// Registry name, e.g. `"resnet50"`.
    pub arch: String,
    /// Per-channel mean subtracted from RGB in `[0, 1]`.
    pub mean: [f32; 3],
    /// Per-channel standard deviation dividing RGB in `[0, 1]`.
    pub std: [f32; 3],
    /// Square input side the weights were trained and evaluated at.
    pub input_size: usize,
    /// Centre-crop fraction of evaluation: resize the shorter side to
    /// `input_size / crop_fraction`, then crop `input_size`.
    pub crop_fraction: f32,
    /// Resize filter of the reference preprocessing.
    pub interpolation: Interpolation,
    /// Module path of the classifier (`"fc"`, `"classifier.1"`, `"heads.head"`).
    pub classifier_key: String,
    /// Width of the penultimate features.
    pub feature_dim: usize,
    /// Class count of the published weights (ImageNet-1k).
    pub pretrained_classes: usize,
    /// Naming of the published weight file.
    pub weight_layout: WeightLayout,
    /// Where a user downloads the published weights (kiln never downloads at run time).
    pub weights_url: String,
}

/// ImageNet mean, as used by torchvision and timm.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet standard deviation, as used by torchvision and timm.
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

impl PretrainedCfg {
    /// Side of the shorter edge before the evaluation centre crop.
    pub fn resize_size(&self) -> usize {
        (self.input_size as f32 / self.crop_fraction).round() as usize
    }
}
