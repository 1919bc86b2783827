//! ResNet-18/34/50/101/152 in torchvision's layout (v1.5: stride on the 3×3 convolution).
//!
//! Field names are torchvision's state-dict keys: `conv1`, `bn1`, `layer1.0.conv1`, …, `fc`.
//! The only remap an import needs is `downsample.0|1` → `downsample.conv|bn`, because Rust
//! cannot name a field `0`.

use burn::config::Config;
use burn::module::{Module, ParamGroup};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use crate::activation::{Act, batch_norm_act};
use crate::backbone::Stage;
use crate::registry::Arch;

/// BatchNorm epsilon of torchvision's ResNets.
const BN_EPS: f64 = 1e-5;

/// Shape of a ResNet: blocks per stage and block type.
#[derive(Config, Debug)]
pub struct ResNetConfig {
    /// Number of residual blocks in each of the four stages.
    pub layers: [usize; 4],
    /// Bottleneck blocks (1×1, 3×3, 1×1; expansion 4) instead of basic blocks (two 3×3).
    pub bottleneck: bool,
    /// Output classes of the head.
    pub num_classes: usize,
}

impl ResNetConfig {
    /// ResNet-18.
    pub fn resnet18(num_classes: usize) -> Self {
        Self::new([2, 2, 2, 2], false, num_classes)
    }
    /// ResNet-34.
    pub fn resnet34(num_classes: usize) -> Self {
        Self::new([3, 4, 6, 3], false, num_classes)
    }
    /// ResNet-50.
    pub fn resnet50(num_classes: usize) -> Self {
        Self::new([3, 4, 6, 3], true, num_classes)
    }
    /// ResNet-101.
    pub fn resnet101(num_classes: usize) -> Self {
        Self::new([3, 4, 23, 3], true, num_classes)
    }
    /// ResNet-152.
    pub fn resnet152(num_classes: usize) -> Self {
        Self::new([3, 8, 36, 3], true, num_classes)
    }

    /// Channel expansion of the last convolution of a block.
    pub fn expansion(&self) -> usize {
        if self.bottleneck { 4 } else { 1 }
    }

    /// Width of the penultimate features (512 · expansion).
    pub fn feature_dim(&self) -> usize {
        512 * self.expansion()
    }

    /// Build the network with freshly initialised weights on `device`; `arch` is the
    /// registry entry it answers to (its [`crate::PretrainedCfg`]).
    pub fn init(&self, arch: Arch, device: &Device) -> ResNet {
        let conv1 = Conv2dConfig::new([3, 64], [7, 7])
            .with_stride([2, 2])
            .with_padding(PaddingConfig2d::Explicit(3, 3, 3, 3))
            .with_bias(false)
            .init(device);
        let bn1 = BatchNormConfig::new(64).with_epsilon(BN_EPS).init(device);
        let maxpool = MaxPool2dConfig::new([3, 3])
            .with_strides([2, 2])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init();
        let mut in_planes = 64;
        let mut stages = Vec::with_capacity(4);
        for (i, &blocks) in self.layers.iter().enumerate() {
            let planes = 64 << i;
            let stride = if i == 0 { 1 } else { 2 };
            let mut layer = Vec::with_capacity(blocks);
            for b in 0..blocks {
                let s = if b == 0 { stride } else { 1 };
                layer.push(Block::new(in_planes, planes, s, self.bottleneck, device));
                in_planes = planes * self.expansion();
            }
            stages.push(layer);
        }
        let mut stages = stages.into_iter();
        let mut next = || stages.next().unwrap_or_default();
        ResNet {
            arch,
            conv1,
            bn1,
            maxpool,
            layer1: next(),
            layer2: next(),
            layer3: next(),
            layer4: next(),
            fc: LinearConfig::new(self.feature_dim(), self.num_classes).init(device),
        }
    }
}

/// A ResNet. Create one through [`crate::create`] or [`ResNetConfig::init`].
#[derive(Module, Debug)]
pub struct ResNet {
    /// The registry entry this network answers to.
    #[module(skip)]
    pub arch: Arch,
    /// Stem convolution, 7×7 stride 2.
    pub conv1: Conv2d,
    /// Stem BatchNorm.
    pub bn1: BatchNorm,
    /// Stem max-pool, 3×3 stride 2.
    pub maxpool: MaxPool2d,
    /// Stage 1 (stride 4 overall).
    pub layer1: Vec<Block>,
    /// Stage 2 (stride 8).
    pub layer2: Vec<Block>,
    /// Stage 3 (stride 16).
    pub layer3: Vec<Block>,
    /// Stage 4 (stride 32).
    pub layer4: Vec<Block>,
    /// Classifier.
    pub fc: Linear,
}

impl ResNet {
    /// Penultimate features `[N, feature_dim]`: global average of the last stage.
    pub fn forward_features(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self
            .maxpool
            .forward(batch_norm_act(&self.bn1, self.conv1.forward(x), Act::Relu));
        let x = run(&self.layer1, x);
        let x = run(&self.layer2, x);
        let x = run(&self.layer3, x);
        let x = run(&self.layer4, x);
        global_avg_pool(x)
    }

    /// Logits `[N, num_classes]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.fc.forward(self.forward_features(x))
    }

    /// Stem, the four stages, then the head, in input-to-output order.
    pub fn stages(&self) -> Vec<Stage> {
        let stem = ParamGroup::ids_from_module(self.conv1.clone())
            .fuse(&ParamGroup::ids_from_module(self.bn1.clone()));
        vec![
            Stage::new("stem", stem),
            Stage::new("layer1", ParamGroup::ids_from_module(self.layer1.clone())),
            Stage::new("layer2", ParamGroup::ids_from_module(self.layer2.clone())),
            Stage::new("layer3", ParamGroup::ids_from_module(self.layer3.clone())),
            Stage::new("layer4", ParamGroup::ids_from_module(self.layer4.clone())),
            Stage::new("head", ParamGroup::ids_from_module(self.fc.clone())),
        ]
    }

    /// Replace the classifier with a freshly initialised one for `num_classes`.
    pub fn reset_head(&mut self, num_classes: usize, device: &Device) {
        let [d_in, _] = self.fc.weight.shape().dims();
        self.fc = LinearConfig::new(d_in, num_classes).init(device);
    }

    /// Classes of the current head.
    pub fn num_classes(&self) -> usize {
        let [_, out] = self.fc.weight.shape().dims();
        out
    }
}

fn run(blocks: &[Block], mut x: Tensor<4>) -> Tensor<4> {
    for block in blocks {
        x = block.forward(x);
    }
    x
}

/// Mean over the spatial axes: `[N, C, H, W]` → `[N, C]`.
pub(crate) fn global_avg_pool(x: Tensor<4>) -> Tensor<2> {
    let [n, c, _, _] = x.dims();
    x.mean_dim(3).mean_dim(2).reshape([n, c])
}

/// A residual block, basic (two 3×3) or bottleneck (1×1, 3×3, 1×1) by whether `conv3` exists.
#[derive(Module, Debug)]
pub struct Block {
    /// First convolution (3×3 basic, 1×1 bottleneck).
    pub conv1: Conv2d,
    /// BatchNorm after `conv1`.
    pub bn1: BatchNorm,
    /// Second convolution (3×3; carries the stride).
    pub conv2: Conv2d,
    /// BatchNorm after `conv2`.
    pub bn2: BatchNorm,
    /// Third convolution (bottleneck only, 1×1 expansion).
    pub conv3: Option<Conv2d>,
    /// BatchNorm after `conv3` (bottleneck only).
    pub bn3: Option<BatchNorm>,
    /// Projection of the shortcut when shape changes (`downsample.0|1` in torchvision).
    pub downsample: Option<Downsample>,
}

/// Shortcut projection: 1×1 convolution with stride, then BatchNorm.
#[derive(Module, Debug)]
pub struct Downsample {
    /// torchvision `downsample.0`.
    pub conv: Conv2d,
    /// torchvision `downsample.1`.
    pub bn: BatchNorm,
}

fn conv(cin: usize, cout: usize, k: usize, stride: usize, device: &Device) -> Conv2d {
    let p = k / 2;
    Conv2dConfig::new([cin, cout], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        .with_bias(false)
        .init(device)
}

fn bn(c: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(c).with_epsilon(BN_EPS).init(device)
}

impl Block {
    fn new(
        in_planes: usize,
        planes: usize,
        stride: usize,
        bottleneck: bool,
        device: &Device,
    ) -> Self {
        let expansion = if bottleneck { 4 } else { 1 };
        let out = planes * expansion;
        let downsample = (stride != 1 || in_planes != out).then(|| Downsample {
            conv: conv(in_planes, out, 1, stride, device),
            bn: bn(out, device),
        });
        if bottleneck {
            Block {
                conv1: conv(in_planes, planes, 1, 1, device),
                bn1: bn(planes, device),
                conv2: conv(planes, planes, 3, stride, device),
                bn2: bn(planes, device),
                conv3: Some(conv(planes, out, 1, 1, device)),
                bn3: Some(bn(out, device)),
                downsample,
            }
        } else {
            Block {
                conv1: conv(in_planes, planes, 3, stride, device),
                bn1: bn(planes, device),
                conv2: conv(planes, planes, 3, 1, device),
                bn2: bn(planes, device),
                conv3: None,
                bn3: None,
                downsample,
            }
        }
    }

    /// `relu(F(x) + shortcut(x))`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(d) => batch_norm_act(&d.bn, d.conv.forward(x.clone()), Act::Identity),
            None => x.clone(),
        };
        let out = batch_norm_act(&self.bn1, self.conv1.forward(x), Act::Relu);
        let bottleneck = self.conv3.is_some();
        let mut out = batch_norm_act(
            &self.bn2,
            self.conv2.forward(out),
            if bottleneck { Act::Relu } else { Act::Identity },
        );
        if let (Some(conv3), Some(bn3)) = (&self.conv3, &self.bn3) {
            out = batch_norm_act(bn3, conv3.forward(out), Act::Identity);
        }
        relu(out + identity)
    }
}
