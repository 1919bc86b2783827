//! One type for every backbone family, with the operations generic training code needs.

use burn::module::{Module, ParamGroup};
use burn::tensor::{Device, Tensor};

use crate::efficientnet::EfficientNet;
use crate::pretrained::PretrainedCfg;
use crate::registry::Arch;
use crate::resnet::ResNet;
use crate::vit::VisionTransformer;

/// A named group of parameters, in input-to-output order (stem, stages…, head).
///
/// Training freezes and unfreezes whole stages and gives each its own learning rate; the
/// group selects the stage's parameters *and* its BatchNorm training flags, so
/// `model.freeze_group(stage.group)` really stops the stage (no gradient, no running-stat
/// updates).
#[derive(Debug, Clone)]
pub struct Stage {
    /// Name, e.g. `"stem"`, `"layer3"`, `"head"`.
    pub name: String,
    /// The stage's parameters and flags.
    pub group: ParamGroup,
}

impl Stage {
    /// A stage from a name and a group.
    pub fn new(name: impl Into<String>, group: ParamGroup) -> Self {
        Self {
            name: name.into(),
            group,
        }
    }
}

/// Any registered backbone with its classifier head.
///
/// Created by [`crate::create`]; weights come from [`crate::import`]. The variant is the
/// family; the architecture within it (e.g. ResNet-50) is [`Backbone::arch`].
#[derive(Module, Debug)]
pub enum Backbone {
    /// ResNet-18 … 152.
    ResNet(ResNet),
    /// EfficientNet-B0 … B7, Lite0 … Lite4.
    EfficientNet(EfficientNet),
    /// ViT-B/16.
    Vit(VisionTransformer),
}

impl Backbone {
    /// The registry entry of this network.
    pub fn arch(&self) -> Arch {
        match self {
            Backbone::ResNet(m) => m.arch,
            Backbone::EfficientNet(m) => m.arch,
            Backbone::Vit(m) => m.arch,
        }
    }

    /// Preprocessing, head location and feature width of this architecture.
    pub fn pretrained_cfg(&self) -> PretrainedCfg {
        self.arch().pretrained_cfg()
    }

    /// Penultimate features `[N, feature_dim]` of images `[N, 3, H, W]`.
    pub fn forward_features(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            Backbone::ResNet(m) => m.forward_features(images),
            Backbone::EfficientNet(m) => m.forward_features(images),
            Backbone::Vit(m) => m.forward_features(images),
        }
    }

    /// Apply only the classifier head to features from [`Backbone::forward_features`].
    pub fn forward_head(&self, features: Tensor<2>) -> Tensor<2> {
        match self {
            Backbone::ResNet(m) => m.fc.forward(features),
            Backbone::EfficientNet(m) => m.forward_head(features),
            Backbone::Vit(m) => m.heads.head.forward(features),
        }
    }

    /// Logits `[N, num_classes]` of images `[N, 3, H, W]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            Backbone::ResNet(m) => m.forward(images),
            Backbone::EfficientNet(m) => m.forward(images),
            Backbone::Vit(m) => m.forward(images),
        }
    }

    /// Stem, stages and head in input-to-output order; the last one is always the head.
    pub fn stages(&self) -> Vec<Stage> {
        match self {
            Backbone::ResNet(m) => m.stages(),
            Backbone::EfficientNet(m) => m.stages(),
            Backbone::Vit(m) => m.stages(),
        }
    }

    /// The head's parameter group (the last stage).
    pub fn head_group(&self) -> ParamGroup {
        let mut stages = self.stages();
        match stages.pop() {
            Some(s) => s.group,
            None => ParamGroup::all(),
        }
    }

    /// Every parameter except the head's.
    pub fn body_group(&self) -> ParamGroup {
        ParamGroup::all().exclude(self.head_group())
    }

    /// Replace the classifier with a freshly initialised one for `num_classes` outputs.
    pub fn reset_head(&mut self, num_classes: usize, device: &Device) {
        match self {
            Backbone::ResNet(m) => m.reset_head(num_classes, device),
            Backbone::EfficientNet(m) => m.reset_head(num_classes, device),
            Backbone::Vit(m) => m.reset_head(num_classes, device),
        }
    }

    /// Output classes of the current head.
    pub fn num_classes(&self) -> usize {
        match self {
            Backbone::ResNet(m) => m.num_classes(),
            Backbone::EfficientNet(m) => m.num_classes(),
            Backbone::Vit(m) => m.num_classes(),
        }
    }

    /// Width of the penultimate features.
    pub fn feature_dim(&self) -> usize {
        self.pretrained_cfg().feature_dim
    }
}
