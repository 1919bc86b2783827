//! Image transforms: a pipeline from a decoded RGB8 image to a normalised CHW slice.
//!
//! Order (torchvision's): geometry (crop + resize, one SIMD pass) → horizontal flip →
//! RandAugment / TrivialAugment → colour jitter → normalise (jitter, clamp, mean/std and the
//! CHW transpose fused into one pass writing the caller's batch slice) → RandomErasing.
//!
//! Every random draw comes from the [`Rng`] passed in, in a fixed order, so a sample's
//! augmentation is a pure function of `(seed, epoch, position)`: loaders are reproducible and
//! resumable regardless of thread count.

pub mod auto_augment;
pub mod color;
pub mod erase;
pub mod geometry;
pub mod normalize;
pub mod presets;

use serde::{Deserialize, Serialize};

pub use auto_augment::{AugOp, AutoAugment};
pub use color::{ColorAffine, ColorJitter, JitterParams};
pub use erase::{EraseValue, RandomErasing};
pub use geometry::{Geometry, RandomResizedCrop, Resize, ResizeCenterCrop, SourceBox};
pub use normalize::Normalize;
pub use presets::{
    PerClassTransform, eval_transform, per_class_strength, train_transform,
    train_transform_with_strength,
};

use crate::decode::RgbImage;
use crate::error::{DataError, Result};
use crate::rng::Rng;

/// Something that turns a decoded image (and its label) into a normalised CHW slice.
///
/// The label lets a transform augment classes differently (see [`PerClassTransform`]).
pub trait SampleTransform: Send + Sync {
    /// Output `[height, width]` (3 channels).
    fn output_size(&self) -> [usize; 2];

    /// Writes the transformed image into `out` (length `3 · h · w`, CHW).
    fn apply(&self, img: &RgbImage, label: usize, rng: &mut Rng, out: &mut [f32]) -> Result<()>;
}

/// A transform pipeline (serialisable, so recipes can record exactly what they used).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transform {
    /// Crop and resize.
    pub geometry: Geometry,
    /// Probability of a horizontal flip.
    pub hflip_prob: f32,
    /// Optional RandAugment / TrivialAugment.
    pub auto_augment: Option<AutoAugment>,
    /// Optional colour jitter.
    pub color_jitter: Option<ColorJitter>,
    /// Normalisation.
    pub normalize: Normalize,
    /// Optional RandomErasing (after normalisation).
    pub erasing: Option<RandomErasing>,
}

impl Transform {
    /// A pipeline with only a geometry and normalisation.
    pub fn new(geometry: Geometry, normalize: Normalize) -> Self {
        Transform {
            geometry,
            hflip_prob: 0.0,
            auto_augment: None,
            color_jitter: None,
            normalize,
            erasing: None,
        }
    }

    /// Checks every stage's parameters.
    pub fn validate(&self) -> Result<()> {
        self.geometry.validate()?;
        if !(0.0..=1.0).contains(&self.hflip_prob) {
            return Err(DataError::InvalidConfig(format!(
                "hflip_prob must be in [0, 1], got {}",
                self.hflip_prob
            )));
        }
        if let Some(a) = &self.auto_augment {
            a.validate()?;
        }
        if let Some(c) = &self.color_jitter {
            c.validate()?;
        }
        self.normalize.validate()?;
        if let Some(e) = &self.erasing {
            e.validate()?;
        }
        Ok(())
    }

    /// Whether the output depends on the random stream (false for evaluation transforms).
    pub fn is_random(&self) -> bool {
        self.geometry.is_random()
            || self.hflip_prob > 0.0
            || self.auto_augment.is_some()
            || self.color_jitter.is_some()
            || self.erasing.is_some_and(|e| e.p > 0.0)
    }

    /// Output `[height, width]`.
    pub fn output_size(&self) -> [usize; 2] {
        self.geometry.output_size()
    }

    /// Number of `f32` values one sample occupies (`3 · h · w`).
    pub fn sample_len(&self) -> usize {
        let [h, w] = self.output_size();
        3 * h * w
    }

    /// The u8 stages: geometry, flip, auto-augment; plus the drawn colour map.
    fn u8_stages(&self, img: &RgbImage, rng: &mut Rng) -> Result<(RgbImage, Option<ColorAffine>)> {
        let (w, h) = img.dimensions();
        if w == 0 || h == 0 {
            return Err(DataError::Image("empty image".into()));
        }
        let [oh, ow] = self.output_size();
        let bx = self.geometry.source_box(w, h, rng);
        let mut out = geometry::crop_resize(img, bx, ow, oh, self.geometry.interpolation())?;
        if self.hflip_prob > 0.0 && rng.bernoulli(self.hflip_prob as f64) {
            geometry::hflip(&mut out);
        }
        if let Some(a) = &self.auto_augment {
            a.apply(&mut out, rng);
        }
        let affine = self
            .color_jitter
            .map(|cj| cj.sample(rng).to_affine(color::mean_rgb(&out)));
        Ok((out, affine))
    }

    /// Runs the pipeline into `out` (`3 · h · w` values, CHW).
    pub fn apply_into(&self, img: &RgbImage, rng: &mut Rng, out: &mut [f32]) -> Result<()> {
        if out.len() != self.sample_len() {
            return Err(DataError::InvalidConfig(format!(
                "output slice has {} values, the transform writes {}",
                out.len(),
                self.sample_len()
            )));
        }
        let (img8, affine) = self.u8_stages(img, rng)?;
        let [oh, ow] = self.output_size();
        self.normalize
            .write_chw(img8.as_raw(), ow, oh, affine.as_ref(), out)?;
        if let Some(e) = &self.erasing {
            e.apply(out, [3, oh, ow], rng);
        }
        Ok(())
    }

    /// Runs the pipeline and returns a fresh CHW buffer.
    pub fn apply(&self, img: &RgbImage, rng: &mut Rng) -> Result<Vec<f32>> {
        let mut out = vec![0f32; self.sample_len()];
        self.apply_into(img, rng, &mut out)?;
        Ok(out)
    }

    /// The augmented image before normalisation (colour jitter applied in 8 bits), for
    /// previews and tests. Draws the same random numbers as [`Transform::apply`] up to
    /// erasing, so it previews exactly what the network sees.
    pub fn preview(&self, img: &RgbImage, rng: &mut Rng) -> Result<RgbImage> {
        let (mut img8, affine) = self.u8_stages(img, rng)?;
        if let Some(a) = affine {
            color::apply_affine_u8(&mut img8, &a);
        }
        Ok(img8)
    }
}

impl SampleTransform for Transform {
    fn output_size(&self) -> [usize; 2] {
        Transform::output_size(self)
    }

    fn apply(&self, img: &RgbImage, _label: usize, rng: &mut Rng, out: &mut [f32]) -> Result<()> {
        self.apply_into(img, rng, out)
    }
}
