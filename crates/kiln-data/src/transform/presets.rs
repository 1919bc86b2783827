//! The classic transfer-learning transforms, and per-class augmentation strength.
//!
//! * train: `RandomResizedCrop(size, scale 0.6–1, ratio 3/4–4/3)` + horizontal flip +
//!   `ColorJitter(0.1, 0.1, 0.1, 0.05)` + normalise. The milder scale range (0.6 rather than
//!   ImageNet's 0.08) suits fine-tuning on small datasets, where the object must stay in view.
//! * eval: resize the shorter side to `size / crop_fraction`, centre-crop `size`, normalise.
//!
//! Minority classes can get stronger augmentation: [`per_class_strength`] maps class counts
//! to a strength (1 for the largest class, up to `max_strength` for the smallest, on a log
//! scale) and [`PerClassTransform`] picks each sample's pipeline by its label.

use serde::{Deserialize, Serialize};

use super::{
    AutoAugment, ColorJitter, Geometry, Normalize, RandomErasing, RandomResizedCrop,
    ResizeCenterCrop, SampleTransform, Transform,
};
use crate::decode::RgbImage;
use crate::error::{DataError, Result};
use crate::preprocess::Preprocess;
use crate::rng::Rng;

/// The classic training transform for a backbone's preprocessing.
pub fn train_transform(cfg: &Preprocess) -> Transform {
    train_transform_with_strength(cfg, 1.0)
}

/// The training transform scaled by `strength` (1 = [`train_transform`], 0 = crop/flip only
/// with scale 1, above 1 = smaller crops, more jitter, plus RandAugment and RandomErasing).
///
/// At strength `s`: crop scale `[max(0.08, 1 - 0.4 s), 1]`; jitter `0.1 s` (hue `0.05 s`,
/// at most 0.5); for `s > 1`, RandAugment with 2 ops at magnitude `min(30, round(9 (s - 1)))`
/// and RandomErasing with `p = min(0.5, 0.25 (s - 1))`.
pub fn train_transform_with_strength(cfg: &Preprocess, strength: f32) -> Transform {
    let s = strength.max(0.0);
    let scale_min = (1.0 - 0.4 * s as f64).clamp(0.08, 1.0);
    let geometry = Geometry::RandomResizedCrop(RandomResizedCrop {
        size: [cfg.input_size, cfg.input_size],
        scale: [scale_min, 1.0],
        ratio: [3.0 / 4.0, 4.0 / 3.0],
        interpolation: cfg.interpolation,
    });
    let color_jitter =
        (s > 0.0).then(|| ColorJitter::new(0.1 * s, 0.1 * s, 0.1 * s, (0.05 * s).min(0.5)));
    let (auto_augment, erasing) = if s > 1.0 {
        let m = (9.0 * (s - 1.0)).round().min(30.0) as usize;
        (
            Some(AutoAugment::rand_augment(2, m)),
            Some(RandomErasing::new((0.25 * (s - 1.0)).min(0.5))),
        )
    } else {
        (None, None)
    };
    Transform {
        geometry,
        hflip_prob: 0.5,
        auto_augment,
        color_jitter,
        normalize: Normalize::from_preprocess(cfg),
        erasing,
    }
}

/// The classic evaluation transform: shorter side to `input_size / crop_fraction`, centre
/// crop `input_size`, normalise. Deterministic.
pub fn eval_transform(cfg: &Preprocess) -> Transform {
    Transform::new(
        Geometry::ResizeCenterCrop(ResizeCenterCrop {
            resize_shorter: cfg.resize_shorter().max(cfg.input_size),
            size: [cfg.input_size, cfg.input_size],
            interpolation: cfg.interpolation,
        }),
        Normalize::from_preprocess(cfg),
    )
}

/// Augmentation strength per class from class counts: 1 for the largest class, rising with
/// `ln(n_max / n_c)` to `max_strength` for the smallest non-empty class. Balanced data gives
/// all ones.
pub fn per_class_strength(class_counts: &[usize], max_strength: f32) -> Vec<f32> {
    let n_max = class_counts.iter().copied().max().unwrap_or(0) as f64;
    let n_min = class_counts
        .iter()
        .copied()
        .filter(|&c| c > 0)
        .min()
        .unwrap_or(0) as f64;
    if n_min == 0.0 || n_max <= n_min {
        return vec![1.0; class_counts.len()];
    }
    let span = (n_max / n_min).ln();
    class_counts
        .iter()
        .map(|&c| {
            let c = (c as f64).max(n_min);
            1.0 + (max_strength - 1.0) * ((n_max / c).ln() / span) as f32
        })
        .collect()
}

/// One pipeline per class (all with the same output size), chosen by the sample's label.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PerClassTransform {
    /// Pipeline of each class, indexed by label.
    pub per_class: Vec<Transform>,
}

impl PerClassTransform {
    /// Builds from explicit pipelines; they must share one output size.
    pub fn new(per_class: Vec<Transform>) -> Result<Self> {
        let first = per_class
            .first()
            .ok_or_else(|| DataError::InvalidConfig("PerClassTransform needs >= 1 class".into()))?
            .output_size();
        for (i, t) in per_class.iter().enumerate() {
            t.validate()?;
            if t.output_size() != first {
                return Err(DataError::InvalidConfig(format!(
                    "class {i} outputs {:?}, class 0 outputs {first:?}: batches need one size",
                    t.output_size()
                )));
            }
        }
        Ok(PerClassTransform { per_class })
    }

    /// [`train_transform_with_strength`] per class, strengths from [`per_class_strength`].
    pub fn from_class_counts(
        cfg: &Preprocess,
        class_counts: &[usize],
        max_strength: f32,
    ) -> Result<Self> {
        let per_class = per_class_strength(class_counts, max_strength)
            .into_iter()
            .map(|s| train_transform_with_strength(cfg, s))
            .collect();
        Self::new(per_class)
    }
}

impl SampleTransform for PerClassTransform {
    fn output_size(&self) -> [usize; 2] {
        self.per_class[0].output_size()
    }

    fn apply(&self, img: &RgbImage, label: usize, rng: &mut Rng, out: &mut [f32]) -> Result<()> {
        let t = self.per_class.get(label).ok_or_else(|| {
            DataError::InvalidConfig(format!(
                "label {label} has no transform ({} classes)",
                self.per_class.len()
            ))
        })?;
        t.apply_into(img, rng, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_match_the_classic_recipe() {
        let cfg = Preprocess::imagenet(224);
        let t = train_transform(&cfg);
        let Geometry::RandomResizedCrop(g) = t.geometry else {
            panic!("train geometry should be RandomResizedCrop")
        };
        assert!((g.scale[0] - 0.6).abs() < 1e-9 && g.scale[1] == 1.0);
        assert_eq!(t.color_jitter, Some(ColorJitter::new(0.1, 0.1, 0.1, 0.05)));
        assert_eq!(t.hflip_prob, 0.5);
        assert!(t.auto_augment.is_none() && t.erasing.is_none());
        let e = eval_transform(&cfg);
        assert!(!e.is_random());
        let Geometry::ResizeCenterCrop(g) = e.geometry else {
            panic!("eval geometry should be ResizeCenterCrop")
        };
        assert_eq!(g.resize_shorter, 256);
        assert_eq!(g.size, [224, 224]);
        t.validate().unwrap();
        e.validate().unwrap();
    }

    #[test]
    fn minority_classes_get_stronger_augmentation() {
        let s = per_class_strength(&[1000, 100, 10, 0], 3.0);
        assert!((s[0] - 1.0).abs() < 1e-6);
        assert!((s[1] - 2.0).abs() < 1e-5);
        assert!((s[2] - 3.0).abs() < 1e-5);
        assert!((s[3] - 3.0).abs() < 1e-5);
        assert_eq!(per_class_strength(&[5, 5], 3.0), vec![1.0, 1.0]);
        let p = PerClassTransform::from_class_counts(&Preprocess::imagenet(32), &[1000, 10], 3.0)
            .unwrap();
        assert!(p.per_class[0].auto_augment.is_none());
        assert!(p.per_class[1].auto_augment.is_some());
    }
}
