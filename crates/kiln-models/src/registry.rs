//! The registry: architectures by name, each with its [`PretrainedCfg`].

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::backbone::Backbone;
use crate::error::{ModelError, Result};
use crate::pretrained::{IMAGENET_MEAN, IMAGENET_STD, Interpolation, PretrainedCfg, WeightLayout};
use crate::resnet::ResNetConfig;

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
}

/// Architecture family: one source file and one [`Backbone`] variant each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// ResNet-18 … 152.
    ResNet,
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
        }
    }
}
