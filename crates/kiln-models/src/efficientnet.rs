//! EfficientNet-B0…B7 (torchvision layout) and EfficientNet-Lite0…4 (TF Lite variants).
//!
//! Both are stacks of MBConv blocks and share the modules here; a [`EfficientNetConfig`]
//! says which flavour:
//! * torchvision B0–B7: SiLU, squeeze-excitation, symmetric padding `k/2`, BatchNorm eps
//!   1e-5 (B0–B4) or 1e-3 (B5–B7), channels and depths scaled by width/depth multipliers;
//! * Lite0–4: ReLU6, no squeeze-excitation, TensorFlow "SAME" padding (asymmetric for
//!   stride 2, computed from the actual input size), BatchNorm eps 1e-3, stem (32) and head
//!   (1280) widths fixed, first and last stage depths fixed.
//!
//! Module paths: `stem`, `stages.S.I.{expand,depthwise,se,project}`, `top`, `classifier`.
//! The torchvision, timm and efficientnet_pytorch key names are remap tables onto these in
//! [`crate::import::keymap`]. Stochastic depth (drop-path) runs only while training.

use burn::config::Config;
use burn::module::{Flag, Module, Param, ParamGroup};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d,
};

use crate::activation::{Act, batch_norm_act, sigmoid, silu};
use burn::tensor::ops::PadMode;
use burn::tensor::{Device, Distribution, Tensor};

use crate::backbone::Stage;
use crate::registry::Arch;
use crate::resnet::global_avg_pool;

/// One row of the B0 baseline: `(expand ratio, kernel, stride, in, out, layers)`.
const BASELINE: [(usize, usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
];

/// Shape and flavour of an EfficientNet.
#[derive(Config, Debug)]
pub struct EfficientNetConfig {
    /// Channel multiplier.
    pub width_mult: f64,
    /// Depth (blocks per stage) multiplier.
    pub depth_mult: f64,
    /// Dropout before the classifier (training only).
    pub dropout: f64,
    /// Output classes of the head.
    pub num_classes: usize,
    /// BatchNorm epsilon.
    pub bn_eps: f64,
    /// The Lite flavour (ReLU6, no SE, TF SAME padding, fixed stem/head).
    #[config(default = false)]
    pub lite: bool,
    /// Largest drop-path probability (reached by the last block; linear ramp).
    #[config(default = 0.2)]
    pub stochastic_depth_prob: f64,
}

/// `_make_divisible` of torchvision / `round_filters` of TF: nearest multiple of `divisor`,
/// never below 90 % of `v`.
fn make_divisible(v: f64, divisor: usize) -> usize {
    let d = divisor as f64;
    let mut new_v = (((v + d / 2.0) as usize) / divisor * divisor).max(divisor) as f64;
    if new_v < 0.9 * v {
        new_v += d;
    }
    new_v as usize
}

impl EfficientNetConfig {
    /// torchvision EfficientNet-B`n` (0…7).
    pub fn b(n: usize, num_classes: usize) -> Self {
        let (w, d, drop) = match n {
            0 => (1.0, 1.0, 0.2),
            1 => (1.0, 1.1, 0.2),
            2 => (1.1, 1.2, 0.3),
            3 => (1.2, 1.4, 0.3),
            4 => (1.4, 1.8, 0.4),
            5 => (1.6, 2.2, 0.4),
            6 => (1.8, 2.6, 0.5),
            _ => (2.0, 3.1, 0.5),
        };
        let eps = if n >= 5 { 1e-3 } else { 1e-5 };
        Self::new(w, d, drop, num_classes, eps)
    }

    /// EfficientNet-Lite`n` (0…4).
    pub fn lite(n: usize, num_classes: usize) -> Self {
        let (w, d, drop) = match n {
            0 => (1.0, 1.0, 0.2),
            1 => (1.0, 1.1, 0.2),
            2 => (1.1, 1.2, 0.3),
            3 => (1.2, 1.4, 0.3),
            _ => (1.4, 1.8, 0.3),
        };
        Self::new(w, d, drop, num_classes, 1e-3).with_lite(true)
    }

    fn channels(&self, c: usize) -> usize {
        make_divisible(c as f64 * self.width_mult, 8)
    }

    /// Blocks per stage after depth scaling.
    pub fn stage_depths(&self) -> Vec<usize> {
        BASELINE
            .iter()
            .enumerate()
            .map(|(i, &(.., layers))| {
                let fixed = self.lite && (i == 0 || i == BASELINE.len() - 1);
                if fixed {
                    layers
                } else {
                    (layers as f64 * self.depth_mult).ceil() as usize
                }
            })
            .collect()
    }

    fn stem_channels(&self) -> usize {
        if self.lite { 32 } else { self.channels(32) }
    }

    /// Width of the penultimate features.
    pub fn feature_dim(&self) -> usize {
        if self.lite {
            1280
        } else {
            4 * self.channels(BASELINE[6].4)
        }
    }

    fn act(&self) -> Activation {
        if self.lite {
            Activation::Relu6
        } else {
            Activation::Silu
        }
    }

    /// Build the network with fresh weights on `device`; `arch` is its registry entry.
    pub fn init(&self, arch: Arch, device: &Device) -> EfficientNet {
        let act = self.act();
        let stem_out = self.stem_channels();
        let stem = ConvBnAct::new(3, stem_out, 3, 2, 1, act, self, device);
        let depths = self.stage_depths();
        let total: usize = depths.iter().sum();
        let mut block_id = 0;
        let mut stages = Vec::with_capacity(BASELINE.len());
        for (i, &(ratio, k, stride, cin, cout, _)) in BASELINE.iter().enumerate() {
            let cin = if i == 0 { stem_out } else { self.channels(cin) };
            let cout = self.channels(cout);
            let mut blocks = Vec::with_capacity(depths[i]);
            for b in 0..depths[i] {
                let sd = self.stochastic_depth_prob * block_id as f64 / total as f64;
                let (bin, bstride) = if b == 0 { (cin, stride) } else { (cout, 1) };
                blocks.push(MBConv::new(bin, cout, ratio, k, bstride, sd, self, device));
                block_id += 1;
            }
            stages.push(blocks);
        }
        let last = self.channels(BASELINE[6].4);
        let top = ConvBnAct::new(last, self.feature_dim(), 1, 1, 1, act, self, device);
        EfficientNet {
            arch,
            stem,
            stages,
            top,
            dropout: DropoutConfig::new(self.dropout).init(),
            classifier: LinearConfig::new(self.feature_dim(), self.num_classes).init(device),
        }
    }
}

/// The activation after a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// No activation (projection convolutions).
    Identity,
    /// SiLU / swish (torchvision EfficientNet).
    Silu,
    /// ReLU6 (Lite).
    Relu6,
}

impl Activation {
    /// The same activation for [`batch_norm_act`].
    fn fused(self) -> Act {
        match self {
            Activation::Identity => Act::Identity,
            Activation::Silu => Act::Silu,
            Activation::Relu6 => Act::Relu6,
        }
    }
}

/// TensorFlow "SAME" padding for one spatial axis: `(before, after)`.
fn same_padding(size: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let out = size.div_ceil(stride);
    let total = ((out.saturating_sub(1)) * stride + kernel).saturating_sub(size);
    (total / 2, total - total / 2)
}

/// Convolution, BatchNorm, activation (torchvision's `Conv2dNormActivation`).
#[derive(Module, Debug)]
pub struct ConvBnAct {
    /// The convolution (no bias).
    pub conv: Conv2d,
    /// Its BatchNorm.
    pub bn: BatchNorm,
    /// Activation after the BatchNorm.
    #[module(skip)]
    pub act: Activation,
    /// TF "SAME" padding computed per input (Lite) instead of the conv's own symmetric one.
    #[module(skip)]
    pub tf_same: bool,
}

impl ConvBnAct {
    #[allow(clippy::too_many_arguments)]
    fn new(
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        groups: usize,
        act: Activation,
        cfg: &EfficientNetConfig,
        device: &Device,
    ) -> Self {
        let padding = if cfg.lite {
            PaddingConfig2d::Valid
        } else {
            let p = (k - 1) / 2;
            PaddingConfig2d::Explicit(p, p, p, p)
        };
        Self {
            conv: Conv2dConfig::new([cin, cout], [k, k])
                .with_stride([stride, stride])
                .with_groups(groups)
                .with_padding(padding)
                .with_bias(false)
                .init(device),
            bn: BatchNormConfig::new(cout)
                .with_epsilon(cfg.bn_eps)
                .init(device),
            act,
            tf_same: cfg.lite,
        }
    }

    /// `act(bn(conv(x)))`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = if self.tf_same {
            let [_, _, h, w] = x.dims();
            let [kh, kw] = self.conv.kernel_size;
            let [sh, sw] = self.conv.stride;
            let (top, bottom) = same_padding(h, kh, sh);
            let (left, right) = same_padding(w, kw, sw);
            if top + bottom + left + right > 0 {
                x.pad((left, right, top, bottom), PadMode::Constant(0.0))
            } else {
                x
            }
        } else {
            x
        };
        batch_norm_act(&self.bn, self.conv.forward(x), self.act.fused())
    }
}

/// Squeeze-excitation: channel gates from the globally pooled activation.
#[derive(Module, Debug)]
pub struct SqueezeExcitation {
    /// Reduction 1×1 convolution (with bias).
    pub fc1: Conv2d,
    /// Expansion 1×1 convolution (with bias).
    pub fc2: Conv2d,
}

impl SqueezeExcitation {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let s = x.clone().mean_dim(3).mean_dim(2);
        let s = sigmoid(self.fc2.forward(silu(self.fc1.forward(s))));
        x * s
    }
}

/// Stochastic depth ("row" mode): drops a sample's residual branch while training.
#[derive(Module, Debug)]
pub struct DropPath {
    /// Drop probability.
    pub prob: f64,
    /// Training flag (frozen or validation modules never drop).
    pub training: Param<Flag>,
}

impl DropPath {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        if self.prob == 0.0 || !self.training.is_enabled() || !x.device().is_autodiff() {
            return x;
        }
        let keep = 1.0 - self.prob;
        let [n, ..] = x.dims();
        let mask = Tensor::<4>::random([n, 1, 1, 1], Distribution::Bernoulli(keep), &x.device());
        x * mask.div_scalar(keep)
    }
}

/// Mobile inverted bottleneck: expand 1×1 → depthwise k×k → SE → project 1×1 (+ residual).
#[derive(Module, Debug)]
pub struct MBConv {
    /// Expansion (absent when the ratio is 1).
    pub expand: Option<ConvBnAct>,
    /// Depthwise convolution (carries the stride).
    pub depthwise: ConvBnAct,
    /// Squeeze-excitation (absent in Lite).
    pub se: Option<SqueezeExcitation>,
    /// Linear projection.
    pub project: ConvBnAct,
    /// Stochastic depth of the residual branch.
    pub drop_path: DropPath,
    /// Whether the block adds its input (stride 1 and same width).
    #[module(skip)]
    pub residual: bool,
}

impl MBConv {
    #[allow(clippy::too_many_arguments)]
    fn new(
        cin: usize,
        cout: usize,
        ratio: usize,
        k: usize,
        stride: usize,
        drop_prob: f64,
        cfg: &EfficientNetConfig,
        device: &Device,
    ) -> Self {
        let act = cfg.act();
        let expanded = make_divisible((cin * ratio) as f64, 8);
        let expand = (ratio != 1).then(|| ConvBnAct::new(cin, expanded, 1, 1, 1, act, cfg, device));
        let depthwise = ConvBnAct::new(expanded, expanded, k, stride, expanded, act, cfg, device);
        let se = (!cfg.lite).then(|| {
            let squeeze = (cin / 4).max(1);
            SqueezeExcitation {
                fc1: Conv2dConfig::new([expanded, squeeze], [1, 1]).init(device),
                fc2: Conv2dConfig::new([squeeze, expanded], [1, 1]).init(device),
            }
        });
        let project = ConvBnAct::new(expanded, cout, 1, 1, 1, Activation::Identity, cfg, device);
        Self {
            expand,
            depthwise,
            se,
            project,
            drop_path: DropPath {
                prob: drop_prob,
                training: Param::from_bool(true),
            },
            residual: stride == 1 && cin == cout,
        }
    }

    /// The block's output.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut y = match &self.expand {
            Some(e) => e.forward(x.clone()),
            None => x.clone(),
        };
        y = self.depthwise.forward(y);
        if let Some(se) = &self.se {
            y = se.forward(y);
        }
        y = self.project.forward(y);
        if self.residual {
            self.drop_path.forward(y) + x
        } else {
            y
        }
    }
}

/// An EfficientNet (B0–B7 or Lite0–4). Create one through [`crate::create`].
#[derive(Module, Debug)]
pub struct EfficientNet {
    /// The registry entry this network answers to.
    #[module(skip)]
    pub arch: Arch,
    /// Stem: 3×3 stride-2 convolution.
    pub stem: ConvBnAct,
    /// Seven stages of MBConv blocks.
    pub stages: Vec<Vec<MBConv>>,
    /// Head 1×1 convolution to the feature width.
    pub top: ConvBnAct,
    /// Dropout before the classifier.
    pub dropout: Dropout,
    /// Classifier.
    pub classifier: Linear,
}

impl EfficientNet {
    /// Penultimate features `[N, feature_dim]`.
    pub fn forward_features(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = self.stem.forward(x);
        for stage in &self.stages {
            for block in stage {
                x = block.forward(x);
            }
        }
        global_avg_pool(self.top.forward(x))
    }

    /// Classifier on features (dropout while training).
    pub fn forward_head(&self, features: Tensor<2>) -> Tensor<2> {
        self.classifier.forward(self.dropout.forward(features))
    }

    /// Logits `[N, num_classes]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.forward_head(self.forward_features(x))
    }

    /// `stem`, `stage1`…`stage7`, `top`, `head`.
    pub fn stages(&self) -> Vec<Stage> {
        let mut out = vec![Stage::new(
            "stem",
            ParamGroup::ids_from_module(self.stem.clone()),
        )];
        for (i, s) in self.stages.iter().enumerate() {
            out.push(Stage::new(
                format!("stage{}", i + 1),
                ParamGroup::ids_from_module(s.clone()),
            ));
        }
        out.push(Stage::new(
            "top",
            ParamGroup::ids_from_module(self.top.clone()),
        ));
        let head = ParamGroup::ids_from_module(self.classifier.clone())
            .fuse(&ParamGroup::ids_from_module(self.dropout.clone()));
        out.push(Stage::new("head", head));
        out
    }

    /// Replace the classifier for `num_classes` outputs.
    pub fn reset_head(&mut self, num_classes: usize, device: &Device) {
        let [d_in, _] = self.classifier.weight.shape().dims();
        self.classifier = LinearConfig::new(d_in, num_classes).init(device);
    }

    /// Classes of the current head.
    pub fn num_classes(&self) -> usize {
        let [_, out] = self.classifier.weight.shape().dims();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn make_divisible_matches_torchvision() {
        assert_eq!(make_divisible(32.0 * 1.1, 8), 32);
        assert_eq!(make_divisible(16.0 * 1.2, 8), 24);
        assert_eq!(make_divisible(320.0 * 2.0, 8), 640);
        assert_eq!(make_divisible(24.0 * 1.4, 8), 32);
        assert_eq!(make_divisible(3.0, 8), 8);
    }

    #[test]
    fn same_padding_is_asymmetric_for_stride_two() {
        assert_eq!(same_padding(224, 3, 2), (0, 1));
        assert_eq!(same_padding(224, 5, 2), (1, 2));
        assert_eq!(same_padding(225, 3, 2), (1, 1));
        assert_eq!(same_padding(56, 3, 1), (1, 1));
        assert_eq!(same_padding(7, 1, 1), (0, 0));
    }

    #[test]
    fn depths_follow_the_multipliers() {
        assert_eq!(
            EfficientNetConfig::b(0, 1).stage_depths(),
            [1, 2, 2, 3, 3, 4, 1]
        );
        assert_eq!(
            EfficientNetConfig::b(7, 1).stage_depths(),
            [4, 7, 7, 10, 10, 13, 4]
        );
        assert_eq!(
            EfficientNetConfig::lite(4, 1).stage_depths(),
            [1, 4, 4, 6, 6, 8, 1]
        );
    }
}
