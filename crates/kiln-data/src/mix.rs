//! MixUp and CutMix on host batch buffers, producing soft targets.
//!
//! Done on the `f32` NCHW buffer before upload (a copy of the batch, no device work), in
//! timm's "batch" mode: one λ per batch, each sample mixed with the sample at the mirrored
//! position (`i ↔ n-1-i`), targets mixed with the same λ. CutMix's λ is corrected to the
//! pasted box's actual area, so soft targets match what the pixels show.

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::rng::Rng;

/// MixUp / CutMix settings (timm's `Mixup` arguments).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MixConfig {
    /// MixUp Beta(α, α) parameter; 0 disables MixUp.
    pub mixup_alpha: f32,
    /// CutMix Beta(α, α) parameter; 0 disables CutMix.
    pub cutmix_alpha: f32,
    /// Probability of mixing a batch at all.
    pub prob: f32,
    /// When both are enabled, probability of CutMix rather than MixUp.
    pub switch_prob: f32,
    /// Label smoothing of the one-hot targets before mixing.
    pub label_smoothing: f32,
}

impl Default for MixConfig {
    fn default() -> Self {
        MixConfig {
            mixup_alpha: 0.2,
            cutmix_alpha: 1.0,
            prob: 1.0,
            switch_prob: 0.5,
            label_smoothing: 0.0,
        }
    }
}

impl MixConfig {
    /// Checks ranges.
    pub fn validate(&self) -> Result<()> {
        let ok = self.mixup_alpha >= 0.0
            && self.cutmix_alpha >= 0.0
            && (0.0..=1.0).contains(&self.prob)
            && (0.0..=1.0).contains(&self.switch_prob)
            && (0.0..1.0).contains(&self.label_smoothing);
        if ok {
            Ok(())
        } else {
            Err(DataError::InvalidConfig(format!("bad MixConfig {self:?}")))
        }
    }
}

/// What was done to a batch.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MixApplied {
    /// Nothing (targets are the smoothed one-hots).
    None,
    /// MixUp with weight `lambda` on the original sample.
    MixUp {
        /// Weight of the original sample.
        lambda: f32,
    },
    /// CutMix: box `[top, left, height, width]` pasted from the partner; `lambda` is the
    /// original sample's remaining area fraction.
    CutMix {
        /// Original sample's area fraction.
        lambda: f32,
        /// `[top, left, height, width]` of the pasted box.
        bbox: [usize; 4],
    },
}

/// One-hot targets with label smoothing: `1 - s + s/C` on the label, `s/C` elsewhere.
pub fn smoothed_one_hot(labels: &[usize], num_classes: usize, smoothing: f32) -> Vec<f32> {
    let off = smoothing / num_classes as f32;
    let on = 1.0 - smoothing + off;
    let mut t = vec![off; labels.len() * num_classes];
    for (i, &l) in labels.iter().enumerate() {
        if l < num_classes {
            t[i * num_classes + l] = on;
        }
    }
    t
}

fn check_shape(images: &[f32], shape: [usize; 4], labels: &[usize]) -> Result<()> {
    let [n, c, h, w] = shape;
    if images.len() != n * c * h * w || labels.len() != n {
        return Err(DataError::InvalidConfig(format!(
            "mix: shape {shape:?} needs {} values and {n} labels, got {} and {}",
            n * c * h * w,
            images.len(),
            labels.len()
        )));
    }
    Ok(())
}

/// MixUp in place: `x_i ← λ x_i + (1-λ) x_{n-1-i}`.
pub fn mixup(images: &mut [f32], shape: [usize; 4], lambda: f32) {
    let [n, c, h, w] = shape;
    let len = c * h * w;
    let orig = images.to_vec();
    for i in 0..n {
        let j = n - 1 - i;
        let (dst, a, b) = (
            &mut images[i * len..(i + 1) * len],
            &orig[i * len..(i + 1) * len],
            &orig[j * len..(j + 1) * len],
        );
        for k in 0..len {
            dst[k] = lambda * a[k] + (1.0 - lambda) * b[k];
        }
    }
}

/// CutMix in place: the box `[top, left, height, width]` of `x_i` is replaced by that of
/// `x_{n-1-i}`.
pub fn cutmix(images: &mut [f32], shape: [usize; 4], bbox: [usize; 4]) {
    let [n, c, h, w] = shape;
    let [top, left, bh, bw] = bbox;
    let len = c * h * w;
    let orig = images.to_vec();
    for i in 0..n {
        let j = n - 1 - i;
        for ch in 0..c {
            for y in top..(top + bh).min(h) {
                let o = ch * h * w + y * w;
                let (s, e) = (o + left, o + (left + bw).min(w));
                images[i * len + s..i * len + e].copy_from_slice(&orig[j * len + s..j * len + e]);
            }
        }
    }
}

/// CutMix box for weight λ: side fractions `sqrt(1-λ)`, centre uniform, clipped to the image.
pub fn cutmix_box(h: usize, w: usize, lambda: f32, rng: &mut Rng) -> [usize; 4] {
    let r = (1.0 - lambda as f64).max(0.0).sqrt();
    let (ch, cw) = ((h as f64 * r) as i64, (w as f64 * r) as i64);
    let cy = rng.below(h) as i64;
    let cx = rng.below(w) as i64;
    let y0 = (cy - ch / 2).clamp(0, h as i64);
    let y1 = (cy + ch / 2).clamp(0, h as i64);
    let x0 = (cx - cw / 2).clamp(0, w as i64);
    let x1 = (cx + cw / 2).clamp(0, w as i64);
    [
        y0 as usize,
        x0 as usize,
        (y1 - y0) as usize,
        (x1 - x0) as usize,
    ]
}

/// Applies MixUp or CutMix per `cfg` to a batch in place and returns soft targets
/// (`n × num_classes`, row-major) and what was done.
pub fn apply_mix(
    cfg: &MixConfig,
    images: &mut [f32],
    shape: [usize; 4],
    labels: &[usize],
    num_classes: usize,
    rng: &mut Rng,
) -> Result<(Vec<f32>, MixApplied)> {
    cfg.validate()?;
    check_shape(images, shape, labels)?;
    let mut targets = smoothed_one_hot(labels, num_classes, cfg.label_smoothing);
    let [n, _, h, w] = shape;
    let use_mix = n >= 2
        && (cfg.mixup_alpha > 0.0 || cfg.cutmix_alpha > 0.0)
        && rng.bernoulli(cfg.prob as f64);
    if !use_mix {
        return Ok((targets, MixApplied::None));
    }
    let use_cutmix = if cfg.mixup_alpha > 0.0 && cfg.cutmix_alpha > 0.0 {
        rng.bernoulli(cfg.switch_prob as f64)
    } else {
        cfg.cutmix_alpha > 0.0
    };
    let applied = if use_cutmix {
        let a = cfg.cutmix_alpha as f64;
        let lam = rng.beta(a, a) as f32;
        let bbox = cutmix_box(h, w, lam, rng);
        cutmix(images, shape, bbox);
        let lambda = 1.0 - (bbox[2] * bbox[3]) as f32 / (h * w) as f32;
        MixApplied::CutMix { lambda, bbox }
    } else {
        let a = cfg.mixup_alpha as f64;
        let lambda = rng.beta(a, a) as f32;
        mixup(images, shape, lambda);
        MixApplied::MixUp { lambda }
    };
    let lambda = match applied {
        MixApplied::MixUp { lambda } | MixApplied::CutMix { lambda, .. } => lambda,
        MixApplied::None => 1.0,
    };
    let orig = targets.clone();
    for i in 0..n {
        let j = n - 1 - i;
        for k in 0..num_classes {
            targets[i * num_classes + k] =
                lambda * orig[i * num_classes + k] + (1.0 - lambda) * orig[j * num_classes + k];
        }
    }
    Ok((targets, applied))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixup_mixes_pixels_and_targets_with_one_lambda() {
        let shape = [2, 1, 2, 2];
        let mut x = vec![0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0];
        let cfg = MixConfig {
            mixup_alpha: 1.0,
            cutmix_alpha: 0.0,
            ..Default::default()
        };
        let (t, a) = apply_mix(&cfg, &mut x, shape, &[0, 2], 3, &mut Rng::new(4)).unwrap();
        let MixApplied::MixUp { lambda } = a else {
            panic!("expected mixup, got {a:?}")
        };
        assert!((x[0] - (1.0 - lambda)).abs() < 1e-6);
        assert!((x[4] - lambda).abs() < 1e-6);
        assert!((t[0] - lambda).abs() < 1e-6 && (t[2] - (1.0 - lambda)).abs() < 1e-6);
        for row in t.chunks(3) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
    }

    #[test]
    fn cutmix_target_weight_equals_pasted_area() {
        let shape = [2, 1, 10, 10];
        let mut x = vec![0.0f32; 100];
        x.extend(vec![1.0f32; 100]);
        let cfg = MixConfig {
            mixup_alpha: 0.0,
            cutmix_alpha: 1.0,
            label_smoothing: 0.1,
            ..Default::default()
        };
        let (t, a) = apply_mix(&cfg, &mut x, shape, &[0, 1], 2, &mut Rng::new(11)).unwrap();
        let MixApplied::CutMix { lambda, bbox } = a else {
            panic!("expected cutmix, got {a:?}")
        };
        let pasted = x[..100].iter().filter(|v| **v == 1.0).count();
        assert_eq!(pasted, bbox[2] * bbox[3]);
        assert!((lambda - (1.0 - pasted as f32 / 100.0)).abs() < 1e-6);
        let on = 1.0 - 0.1 + 0.05;
        let off = 0.05;
        assert!((t[0] - (lambda * on + (1.0 - lambda) * off)).abs() < 1e-6);
    }
}
