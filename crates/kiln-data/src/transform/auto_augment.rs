//! RandAugment and TrivialAugment-Wide on RGB8 images.
//!
//! Both pick label-preserving ops (shear, translate, rotate, brightness, colour, contrast,
//! sharpness, posterize, solarize, autocontrast, equalize) with torchvision's magnitude tables,
//! so recipes tuned in PyTorch carry over. Geometric ops use nearest-neighbour sampling and a
//! black fill, as torchvision does for PIL images.

use serde::{Deserialize, Serialize};

use crate::decode::RgbImage;
use crate::error::{DataError, Result};
use crate::rng::Rng;

/// One augmentation op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AugOp {
    /// No change.
    Identity,
    /// Horizontal shear by a factor.
    ShearX,
    /// Vertical shear by a factor.
    ShearY,
    /// Horizontal shift in pixels.
    TranslateX,
    /// Vertical shift in pixels.
    TranslateY,
    /// Rotation in degrees about the centre.
    Rotate,
    /// Brightness factor `1 + m`.
    Brightness,
    /// Saturation factor `1 + m`.
    Color,
    /// Contrast factor `1 + m`.
    Contrast,
    /// Sharpness factor `1 + m`.
    Sharpness,
    /// Keep this many high bits.
    Posterize,
    /// Invert pixels at or above this threshold.
    Solarize,
    /// Stretch each channel to the full range.
    AutoContrast,
    /// Histogram-equalise each channel.
    Equalize,
}

const OPS: [AugOp; 14] = [
    AugOp::Identity,
    AugOp::ShearX,
    AugOp::ShearY,
    AugOp::TranslateX,
    AugOp::TranslateY,
    AugOp::Rotate,
    AugOp::Brightness,
    AugOp::Color,
    AugOp::Contrast,
    AugOp::Sharpness,
    AugOp::Posterize,
    AugOp::Solarize,
    AugOp::AutoContrast,
    AugOp::Equalize,
];

/// An automatic augmentation policy.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AutoAugment {
    /// RandAugment (Cubuk et al. 2020): `num_ops` random ops at a fixed magnitude bin.
    RandAugment {
        /// Ops applied per image (torchvision default 2).
        num_ops: usize,
        /// Magnitude bin, `0..num_magnitude_bins` (default 9).
        magnitude: usize,
        /// Number of magnitude bins (default 31).
        num_magnitude_bins: usize,
    },
    /// TrivialAugment-Wide (Müller & Hutter 2021): one random op at a random magnitude.
    TrivialAugmentWide {
        /// Number of magnitude bins (default 31).
        num_magnitude_bins: usize,
    },
}

impl AutoAugment {
    /// RandAugment with torchvision's defaults for `num_ops` and `magnitude`, 31 bins.
    pub fn rand_augment(num_ops: usize, magnitude: usize) -> Self {
        AutoAugment::RandAugment {
            num_ops,
            magnitude,
            num_magnitude_bins: 31,
        }
    }

    /// TrivialAugment-Wide with 31 bins.
    pub fn trivial_augment_wide() -> Self {
        AutoAugment::TrivialAugmentWide {
            num_magnitude_bins: 31,
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        match *self {
            AutoAugment::RandAugment {
                magnitude,
                num_magnitude_bins,
                ..
            } if num_magnitude_bins < 2 || magnitude >= num_magnitude_bins => {
                Err(DataError::InvalidConfig(format!(
                    "RandAugment magnitude {magnitude} must be < num_magnitude_bins {num_magnitude_bins} (>= 2)"
                )))
            }
            AutoAugment::TrivialAugmentWide { num_magnitude_bins } if num_magnitude_bins < 2 => {
                Err(DataError::InvalidConfig(
                    "TrivialAugmentWide needs >= 2 magnitude bins".into(),
                ))
            }
            _ => Ok(()),
        }
    }

    /// Applies the policy.
    pub fn apply(&self, img: &mut RgbImage, rng: &mut Rng) {
        match *self {
            AutoAugment::RandAugment {
                num_ops,
                magnitude,
                num_magnitude_bins,
            } => {
                for _ in 0..num_ops {
                    let op = OPS[rng.below(OPS.len())];
                    let mut m = magnitude_of(op, magnitude, num_magnitude_bins, img, false);
                    if is_signed(op) && rng.below(2) == 1 {
                        m = -m;
                    }
                    apply_op(img, op, m);
                }
            }
            AutoAugment::TrivialAugmentWide { num_magnitude_bins } => {
                let op = OPS[rng.below(OPS.len())];
                let bin = rng.below(num_magnitude_bins);
                let mut m = magnitude_of(op, bin, num_magnitude_bins, img, true);
                if is_signed(op) && rng.below(2) == 1 {
                    m = -m;
                }
                apply_op(img, op, m);
            }
        }
    }
}

fn is_signed(op: AugOp) -> bool {
    matches!(
        op,
        AugOp::ShearX
            | AugOp::ShearY
            | AugOp::TranslateX
            | AugOp::TranslateY
            | AugOp::Rotate
            | AugOp::Brightness
            | AugOp::Color
            | AugOp::Contrast
            | AugOp::Sharpness
    )
}

fn linspace(lo: f32, hi: f32, bins: usize, i: usize) -> f32 {
    if bins <= 1 {
        lo
    } else {
        lo + (hi - lo) * i as f32 / (bins - 1) as f32
    }
}

/// torchvision's magnitude tables (`_augmentation_space`).
fn magnitude_of(op: AugOp, bin: usize, bins: usize, img: &RgbImage, wide: bool) -> f32 {
    let (w, h) = (img.width() as f32, img.height() as f32);
    match op {
        AugOp::Identity | AugOp::AutoContrast | AugOp::Equalize => 0.0,
        AugOp::ShearX | AugOp::ShearY => linspace(0.0, if wide { 0.99 } else { 0.3 }, bins, bin),
        AugOp::TranslateX => linspace(0.0, if wide { 32.0 } else { 150.0 / 331.0 * w }, bins, bin),
        AugOp::TranslateY => linspace(0.0, if wide { 32.0 } else { 150.0 / 331.0 * h }, bins, bin),
        AugOp::Rotate => linspace(0.0, if wide { 135.0 } else { 30.0 }, bins, bin),
        AugOp::Brightness | AugOp::Color | AugOp::Contrast | AugOp::Sharpness => {
            linspace(0.0, if wide { 0.99 } else { 0.9 }, bins, bin)
        }
        AugOp::Posterize => {
            let step = (bins - 1) as f32 / if wide { 6.0 } else { 4.0 };
            8.0 - (bin as f32 / step).round()
        }
        AugOp::Solarize => linspace(255.0, 0.0, bins, bin),
    }
}

/// Applies one op with magnitude `m` (already signed), in place.
pub fn apply_op(img: &mut RgbImage, op: AugOp, m: f32) {
    match op {
        AugOp::Identity => {}
        // Inverse maps: output (x, y) samples input (a·x + b·y + c, d·x + e·y + f).
        AugOp::ShearX => warp(img, [1.0, -m, 0.0, 0.0, 1.0, 0.0]),
        AugOp::ShearY => warp(img, [1.0, 0.0, 0.0, -m, 1.0, 0.0]),
        AugOp::TranslateX => warp(img, [1.0, 0.0, -m, 0.0, 1.0, 0.0]),
        AugOp::TranslateY => warp(img, [1.0, 0.0, 0.0, 0.0, 1.0, -m]),
        AugOp::Rotate => {
            let (cx, cy) = (img.width() as f32 * 0.5, img.height() as f32 * 0.5);
            let t = m.to_radians();
            let (s, c) = t.sin_cos();
            // Counter-clockwise rotation on screen (y down): inverse is rotation by -t.
            warp(
                img,
                [c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy],
            )
        }
        AugOp::Brightness => blend_with(img, 1.0 + m, |_| [0.0; 3]),
        AugOp::Color => blend_with(img, 1.0 + m, |px| {
            let g = grey(px);
            [g; 3]
        }),
        AugOp::Contrast => {
            let mean = {
                let s: f64 = img.as_raw().chunks_exact(3).map(|p| grey(p) as f64).sum();
                (s / (img.width() as f64 * img.height() as f64).max(1.0)).round() as f32
            };
            blend_with(img, 1.0 + m, |_| [mean; 3])
        }
        AugOp::Sharpness => sharpness(img, 1.0 + m),
        AugOp::Posterize => {
            let bits = m.clamp(1.0, 8.0) as u32;
            let mask = (0xFFu32 << (8 - bits)) as u8;
            for v in img.as_mut().iter_mut() {
                *v &= mask;
            }
        }
        AugOp::Solarize => {
            for v in img.as_mut().iter_mut() {
                if *v as f32 >= m {
                    *v = 255 - *v;
                }
            }
        }
        AugOp::AutoContrast => autocontrast(img),
        AugOp::Equalize => equalize(img),
    }
}

fn grey(px: &[u8]) -> f32 {
    // PIL's "L" conversion.
    (px[0] as f32 * 299.0 + px[1] as f32 * 587.0 + px[2] as f32 * 114.0) / 1000.0
}

/// `degenerate + f · (img - degenerate)` (PIL's ImageEnhance blend), clamped.
fn blend_with(img: &mut RgbImage, f: f32, degenerate: impl Fn(&[u8]) -> [f32; 3]) {
    for px in img.as_mut().chunks_exact_mut(3) {
        let d = degenerate(px);
        for c in 0..3 {
            let v = d[c] + f * (px[c] as f32 - d[c]);
            px[c] = v.round().clamp(0.0, 255.0) as u8;
        }
    }
}

fn sharpness(img: &mut RgbImage, f: f32) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w < 3 || h < 3 {
        return;
    }
    let src = img.as_raw().clone();
    let out: &mut [u8] = img.as_mut();
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            for c in 0..3 {
                let at = |xx: usize, yy: usize| src[(yy * w + xx) * 3 + c] as f32;
                let mut s = 0.0;
                for dy in 0..3 {
                    for dx in 0..3 {
                        s += at(x + dx - 1, y + dy - 1);
                    }
                }
                // PIL SMOOTH kernel: centre weight 5, others 1, sum 13.
                let smooth = ((s + 4.0 * at(x, y)) / 13.0).round();
                let v = smooth + f * (at(x, y) - smooth);
                out[(y * w + x) * 3 + c] = v.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}

fn autocontrast(img: &mut RgbImage) {
    let mut lo = [255u8; 3];
    let mut hi = [0u8; 3];
    for px in img.as_raw().chunks_exact(3) {
        for c in 0..3 {
            lo[c] = lo[c].min(px[c]);
            hi[c] = hi[c].max(px[c]);
        }
    }
    for px in img.as_mut().chunks_exact_mut(3) {
        for c in 0..3 {
            if hi[c] > lo[c] {
                let scale = 255.0 / (hi[c] - lo[c]) as f32;
                px[c] = ((px[c] - lo[c]) as f32 * scale).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}

fn equalize(img: &mut RgbImage) {
    for c in 0..3 {
        let mut hist = [0usize; 256];
        for px in img.as_raw().chunks_exact(3) {
            hist[px[c] as usize] += 1;
        }
        // PIL ImageOps.equalize.
        let last_nonzero = hist
            .iter()
            .rposition(|&h| h > 0)
            .map(|i| hist[i])
            .unwrap_or(0);
        let total: usize = hist.iter().sum();
        let step = (total - last_nonzero) / 255;
        if step == 0 {
            continue;
        }
        let mut lut = [0u8; 256];
        let mut n = step / 2;
        for (i, h) in hist.iter().enumerate() {
            lut[i] = (n / step).min(255) as u8;
            n += h;
        }
        for px in img.as_mut().chunks_exact_mut(3) {
            px[c] = lut[px[c] as usize];
        }
    }
}

/// Nearest-neighbour affine warp with black fill; `inv` maps output pixel centres to input.
fn warp(img: &mut RgbImage, inv: [f32; 6]) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let src = img.as_raw().clone();
    let out: &mut [u8] = img.as_mut();
    for y in 0..h {
        for x in 0..w {
            let (xf, yf) = (x as f32 + 0.5, y as f32 + 0.5);
            let sx = inv[0] * xf + inv[1] * yf + inv[2];
            let sy = inv[3] * xf + inv[4] * yf + inv[5];
            let o = (y * w + x) * 3;
            if sx >= 0.0 && sy >= 0.0 && (sx as usize) < w && (sy as usize) < h {
                let i = ((sy as usize) * w + sx as usize) * 3;
                out[o..o + 3].copy_from_slice(&src[i..i + 3]);
            } else {
                out[o..o + 3].copy_from_slice(&[0, 0, 0]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp() -> RgbImage {
        RgbImage::from_fn(16, 12, |x, y| {
            image::Rgb([
                (x * 12) as u8 + 20,
                (y * 15) as u8 + 10,
                ((x + y) * 5) as u8 + 30,
            ])
        })
    }

    #[test]
    fn translate_shifts_pixels() {
        let src = ramp();
        let mut img = src.clone();
        apply_op(&mut img, AugOp::TranslateX, 3.0);
        assert_eq!(img.get_pixel(5, 4), src.get_pixel(2, 4));
        assert_eq!(img.get_pixel(1, 4), &image::Rgb([0, 0, 0]));
    }

    #[test]
    fn rotate_360_is_identity_and_180_flips() {
        let src = ramp();
        let mut img = src.clone();
        apply_op(&mut img, AugOp::Rotate, 360.0);
        assert_eq!(img, src);
        let mut img = src.clone();
        apply_op(&mut img, AugOp::Rotate, 180.0);
        assert_eq!(img.get_pixel(0, 0), src.get_pixel(15, 11));
    }

    #[test]
    fn point_ops() {
        let src = ramp();
        let mut img = src.clone();
        apply_op(&mut img, AugOp::Posterize, 4.0);
        assert!(img.as_raw().iter().all(|v| v & 0x0F == 0));
        let mut img = src.clone();
        apply_op(&mut img, AugOp::Solarize, 0.0);
        assert!(
            img.as_raw()
                .iter()
                .zip(src.as_raw())
                .all(|(a, b)| *a == 255 - *b)
        );
        let mut img = src.clone();
        apply_op(&mut img, AugOp::AutoContrast, 0.0);
        for c in 0..3 {
            let vals: Vec<u8> = img.as_raw().iter().skip(c).step_by(3).copied().collect();
            assert_eq!(*vals.iter().min().unwrap(), 0);
            assert_eq!(*vals.iter().max().unwrap(), 255);
        }
        let mut img = src.clone();
        apply_op(&mut img, AugOp::Brightness, 0.0);
        assert_eq!(img, src);
        // equalize needs > 255 pixels per channel to do anything (PIL's rule)
        let big = RgbImage::from_fn(64, 48, |x, y| {
            image::Rgb([(x + y) as u8 + 40, 90, (x * 2) as u8])
        });
        let mut img = big.clone();
        apply_op(&mut img, AugOp::Equalize, 0.0);
        assert_ne!(img, big);
        let reds: Vec<u8> = img.as_raw().iter().step_by(3).copied().collect();
        assert!(*reds.iter().max().unwrap() > 240 && *reds.iter().min().unwrap() < 10);
    }

    #[test]
    fn policies_are_deterministic_given_rng() {
        for p in [
            AutoAugment::rand_augment(2, 9),
            AutoAugment::trivial_augment_wide(),
        ] {
            let mut a = ramp();
            let mut b = ramp();
            p.apply(&mut a, &mut Rng::new(5));
            p.apply(&mut b, &mut Rng::new(5));
            assert_eq!(a, b);
        }
    }
}
