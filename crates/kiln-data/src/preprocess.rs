//! How a backbone wants its input: size, crop fraction, interpolation and normalisation.
//!
//! kiln-data does not depend on kiln-models (crates stand alone), so it carries its own
//! [`Preprocess`] description; kiln-train converts a model's pretrained configuration into one.
//! Feeding a pretrained network input normalised differently from its training (e.g. ImageNet
//! mean/std to a net trained on `(x - 127) / 128`) silently costs accuracy, which is why the
//! transform presets take this struct rather than loose numbers.

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};

/// Resampling filter used when resizing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interpolation {
    /// Nearest neighbour (fast, aliased).
    Nearest,
    /// Bilinear, anti-aliased when downscaling (like PIL / torchvision `antialias=True`).
    #[default]
    Bilinear,
    /// Bicubic (Catmull-Rom, PIL's bicubic), anti-aliased when downscaling.
    Bicubic,
    /// Lanczos-3, anti-aliased when downscaling.
    Lanczos3,
    /// Box (area average); a good choice for large downscales.
    Box,
}

impl Interpolation {
    pub(crate) fn to_fir(self) -> fast_image_resize::ResizeAlg {
        use fast_image_resize::{FilterType, ResizeAlg};
        match self {
            Interpolation::Nearest => ResizeAlg::Nearest,
            Interpolation::Bilinear => ResizeAlg::Convolution(FilterType::Bilinear),
            Interpolation::Bicubic => ResizeAlg::Convolution(FilterType::CatmullRom),
            Interpolation::Lanczos3 => ResizeAlg::Convolution(FilterType::Lanczos3),
            Interpolation::Box => ResizeAlg::Convolution(FilterType::Box),
        }
    }
}

/// Input preprocessing expected by a backbone.
///
/// The value fed to the network for an 8-bit pixel `p` of channel `c` is
/// `(p / 255 * pixel_range - mean[c]) / std[c]`: `pixel_range = 1` gives the usual
/// torchvision convention (mean/std on `[0, 1]`), `pixel_range = 255` lets nets trained on raw
/// `(p - 127) / 128` input say so with `mean = 127, std = 128`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Preprocess {
    /// Side of the square network input, in pixels (e.g. 224).
    pub input_size: usize,
    /// Per-channel (RGB) mean, in units of `pixel_range`.
    pub mean: [f32; 3],
    /// Per-channel (RGB) standard deviation, in units of `pixel_range`.
    pub std: [f32; 3],
    /// Fraction of the resized image kept by the evaluation centre crop (timm's `crop_pct`):
    /// the shorter side is resized to `input_size / crop_fraction`, then centre-cropped.
    pub crop_fraction: f32,
    /// Resampling filter for every resize.
    pub interpolation: Interpolation,
    /// Pixel range `mean`/`std` refer to: 1 (pixels in `[0, 1]`) or 255 (raw pixels).
    #[serde(default = "one")]
    pub pixel_range: f32,
}

fn one() -> f32 {
    1.0
}

/// ImageNet channel means on `[0, 1]` (torchvision, timm).
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations on `[0, 1]`.
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

impl Default for Preprocess {
    fn default() -> Self {
        Preprocess::imagenet(224)
    }
}

impl Preprocess {
    /// The torchvision/timm ImageNet convention: mean/std on `[0, 1]`, crop fraction 0.875
    /// (resize to 256 then centre-crop 224), bilinear.
    pub fn imagenet(input_size: usize) -> Self {
        Preprocess {
            input_size,
            mean: IMAGENET_MEAN,
            std: IMAGENET_STD,
            crop_fraction: 0.875,
            interpolation: Interpolation::Bilinear,
            pixel_range: 1.0,
        }
    }

    /// Raw-pixel `(p - 127) / 128` input (e.g. EfficientNet-Lite, many TF ports).
    pub fn raw_127_128(input_size: usize) -> Self {
        Preprocess {
            input_size,
            mean: [127.0; 3],
            std: [128.0; 3],
            crop_fraction: 0.875,
            interpolation: Interpolation::Bilinear,
            pixel_range: 255.0,
        }
    }

    /// Same configuration with another input size.
    pub fn with_input_size(mut self, input_size: usize) -> Self {
        self.input_size = input_size;
        self
    }

    /// Same configuration with another crop fraction.
    pub fn with_crop_fraction(mut self, crop_fraction: f32) -> Self {
        self.crop_fraction = crop_fraction;
        self
    }

    /// Same configuration with another interpolation.
    pub fn with_interpolation(mut self, interpolation: Interpolation) -> Self {
        self.interpolation = interpolation;
        self
    }

    /// Shorter side the evaluation transform resizes to: `floor(input_size / crop_fraction)`,
    /// as timm computes it.
    pub fn resize_shorter(&self) -> usize {
        ((self.input_size as f64) / (self.crop_fraction as f64)).floor() as usize
    }

    /// Checks the values are usable (positive sizes and std, crop fraction in (0, 1]).
    pub fn validate(&self) -> Result<()> {
        if self.input_size == 0 {
            return Err(DataError::InvalidConfig("input_size must be > 0".into()));
        }
        if !(self.crop_fraction > 0.0 && self.crop_fraction <= 1.0) {
            return Err(DataError::InvalidConfig(format!(
                "crop_fraction must be in (0, 1], got {}",
                self.crop_fraction
            )));
        }
        if self.std.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(DataError::InvalidConfig(format!(
                "std must be positive, got {:?}",
                self.std
            )));
        }
        if !(self.pixel_range.is_finite() && self.pixel_range > 0.0) {
            return Err(DataError::InvalidConfig(format!(
                "pixel_range must be positive, got {}",
                self.pixel_range
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_shorter_matches_timm() {
        assert_eq!(Preprocess::imagenet(224).resize_shorter(), 256);
        assert_eq!(
            Preprocess::imagenet(224)
                .with_crop_fraction(0.95)
                .resize_shorter(),
            235
        );
    }

    #[test]
    fn serde_roundtrip_and_default_range() {
        let p = Preprocess::raw_127_128(240);
        let s = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<Preprocess>(&s).unwrap(), p);
        let j = r#"{"input_size":224,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"crop_fraction":0.9,"interpolation":"bicubic"}"#;
        let q: Preprocess = serde_json::from_str(j).unwrap();
        assert_eq!(q.pixel_range, 1.0);
        assert_eq!(q.interpolation, Interpolation::Bicubic);
        assert!(Preprocess::imagenet(0).validate().is_err());
    }
}
