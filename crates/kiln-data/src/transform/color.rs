//! Colour jitter as one fused affine colour transform.
//!
//! Brightness, contrast, saturation and a hue rotation are all affine maps of RGB (contrast
//! mixes in the image's mean grey, a constant per image), so torchvision's `ColorJitter` —
//! four ops in a random order — composes into a single 3×3 matrix plus offset, applied in the
//! same pass that normalises and writes the output tensor. Two deliberate differences from
//! torchvision: values are clamped to `[0, 1]` once at the end rather than after every op
//! (differs only where an intermediate op saturates), and hue is a rotation about the grey
//! axis (exact at multiples of 120°, a close approximation of the HSV hue shift in between),
//! which is what makes the fusion — and the speed — possible.

use serde::{Deserialize, Serialize};

use crate::decode::RgbImage;
use crate::error::{DataError, Result};
use crate::rng::Rng;

/// Luma weights (ITU-R 601-2, as PIL and torchvision use).
pub const LUMA: [f32; 3] = [0.299, 0.587, 0.114];

/// torchvision-style `ColorJitter(brightness, contrast, saturation, hue)`.
///
/// Brightness, contrast and saturation factors are drawn uniformly from
/// `[max(0, 1 - v), 1 + v]`; the hue shift from `[-hue, hue]` (fraction of a full turn,
/// `hue <= 0.5`). The four ops are applied in a random order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ColorJitter {
    /// Brightness jitter amount.
    pub brightness: f32,
    /// Contrast jitter amount.
    pub contrast: f32,
    /// Saturation jitter amount.
    pub saturation: f32,
    /// Hue jitter amount, in turns (at most 0.5).
    pub hue: f32,
}

/// The drawn parameters of one colour jitter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JitterParams {
    /// Op order: 0 brightness, 1 contrast, 2 saturation, 3 hue.
    pub order: [u8; 4],
    /// Brightness factor (1 = unchanged).
    pub brightness: f32,
    /// Contrast factor (1 = unchanged).
    pub contrast: f32,
    /// Saturation factor (1 = unchanged).
    pub saturation: f32,
    /// Hue shift in turns (0 = unchanged).
    pub hue: f32,
}

impl ColorJitter {
    /// A jitter with the given amounts.
    pub fn new(brightness: f32, contrast: f32, saturation: f32, hue: f32) -> Self {
        ColorJitter {
            brightness,
            contrast,
            saturation,
            hue,
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let ok = [self.brightness, self.contrast, self.saturation]
            .iter()
            .all(|v| v.is_finite() && *v >= 0.0)
            && (0.0..=0.5).contains(&self.hue);
        if ok {
            Ok(())
        } else {
            Err(DataError::InvalidConfig(format!(
                "ColorJitter amounts must be >= 0 and hue <= 0.5, got {self:?}"
            )))
        }
    }

    /// Draws one set of parameters (a fixed number of draws, so streams stay aligned).
    pub fn sample(&self, rng: &mut Rng) -> JitterParams {
        let mut order = [0u8, 1, 2, 3];
        rng.shuffle(&mut order);
        let f = |rng: &mut Rng, v: f32| -> f32 {
            let lo = (1.0 - v).max(0.0) as f64;
            rng.uniform(lo, 1.0 + v as f64) as f32
        };
        let brightness = f(rng, self.brightness);
        let contrast = f(rng, self.contrast);
        let saturation = f(rng, self.saturation);
        let hue = rng.uniform(-self.hue as f64, self.hue as f64) as f32;
        JitterParams {
            order,
            brightness,
            contrast,
            saturation,
            hue,
        }
    }
}

/// `rgb' = m · rgb + b`, on values in `[0, 1]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ColorAffine {
    /// Row-major 3×3 matrix.
    pub m: [[f32; 3]; 3],
    /// Offset.
    pub b: [f32; 3],
}

impl ColorAffine {
    /// The identity map.
    pub const IDENTITY: ColorAffine = ColorAffine {
        m: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        b: [0.0; 3],
    };

    /// `self` after `first`: `x ↦ self(first(x))`.
    pub fn after(&self, first: &ColorAffine) -> ColorAffine {
        let mut m = [[0.0f32; 3]; 3];
        let mut b = self.b;
        for (i, (row, bi)) in m.iter_mut().zip(b.iter_mut()).enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = (0..3).map(|k| self.m[i][k] * first.m[k][j]).sum();
                *bi += self.m[i][j] * first.b[j];
            }
        }
        ColorAffine { m, b }
    }

    /// Applies the map to one pixel (no clamping).
    pub fn apply(&self, rgb: [f32; 3]) -> [f32; 3] {
        let mut o = self.b;
        for (i, oi) in o.iter_mut().enumerate() {
            *oi += self.m[i][0] * rgb[0] + self.m[i][1] * rgb[1] + self.m[i][2] * rgb[2];
        }
        o
    }

    /// Multiplies every pixel toward/away from a constant colour: `f·x + (1-f)·c`.
    fn blend_const(f: f32, c: [f32; 3]) -> ColorAffine {
        ColorAffine {
            m: [[f, 0.0, 0.0], [0.0, f, 0.0], [0.0, 0.0, f]],
            b: [(1.0 - f) * c[0], (1.0 - f) * c[1], (1.0 - f) * c[2]],
        }
    }

    /// Saturation: `f·x + (1-f)·grey(x)`.
    pub fn saturation(f: f32) -> ColorAffine {
        let mut m = [[0.0f32; 3]; 3];
        for (i, row) in m.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = (1.0 - f) * LUMA[j] + if i == j { f } else { 0.0 };
            }
        }
        ColorAffine { m, b: [0.0; 3] }
    }

    /// Hue rotation by `turns` about the grey axis (Rodrigues' formula).
    pub fn hue(turns: f32) -> ColorAffine {
        let a = turns * std::f32::consts::TAU;
        let (s, c) = a.sin_cos();
        let k = 1.0 / 3.0;
        let r = (1.0f32 / 3.0).sqrt();
        let t = k * (1.0 - c);
        ColorAffine {
            m: [
                [c + t, t - r * s, t + r * s],
                [t + r * s, c + t, t - r * s],
                [t - r * s, t + r * s, c + t],
            ],
            b: [0.0; 3],
        }
    }
}

impl JitterParams {
    /// Composes the ops (in their drawn order) into one affine map for an image whose mean
    /// colour (on `[0, 1]`) is `mean_rgb`; the contrast op uses the mean grey of the image as
    /// it is at that point of the chain.
    pub fn to_affine(&self, mean_rgb: [f32; 3]) -> ColorAffine {
        let mut acc = ColorAffine::IDENTITY;
        for op in self.order {
            let next = match op {
                0 => ColorAffine::blend_const(self.brightness, [0.0; 3]),
                1 => {
                    let cur = acc.apply(mean_rgb);
                    let g = LUMA[0] * cur[0] + LUMA[1] * cur[1] + LUMA[2] * cur[2];
                    ColorAffine::blend_const(self.contrast, [g; 3])
                }
                2 => ColorAffine::saturation(self.saturation),
                _ => ColorAffine::hue(self.hue),
            };
            acc = next.after(&acc);
        }
        acc
    }
}

/// Mean colour of an RGB8 image, on `[0, 1]`.
pub fn mean_rgb(img: &RgbImage) -> [f32; 3] {
    let mut s = [0u64; 3];
    for px in img.as_raw().chunks_exact(3) {
        s[0] += px[0] as u64;
        s[1] += px[1] as u64;
        s[2] += px[2] as u64;
    }
    let n = (img.width() as u64 * img.height() as u64).max(1) as f32 * 255.0;
    [s[0] as f32 / n, s[1] as f32 / n, s[2] as f32 / n]
}

/// Applies an affine colour map to an RGB8 image in place (with rounding and clamping), for
/// previews and u8 pipelines; the tensor path fuses it into normalisation instead.
pub fn apply_affine_u8(img: &mut RgbImage, a: &ColorAffine) {
    let inv = 1.0 / 255.0;
    for px in img.as_mut().chunks_exact_mut(3) {
        let v = a.apply([px[0] as f32 * inv, px[1] as f32 * inv, px[2] as f32 * inv]);
        for c in 0..3 {
            px[c] = (v[c].clamp(0.0, 1.0) * 255.0).round() as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: [f32; 3], b: [f32; 3]) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5)
    }

    #[test]
    fn neutral_params_are_identity() {
        let p = JitterParams {
            order: [3, 1, 0, 2],
            brightness: 1.0,
            contrast: 1.0,
            saturation: 1.0,
            hue: 0.0,
        };
        let a = p.to_affine([0.3, 0.4, 0.5]);
        assert!(close(a.apply([0.2, 0.7, 0.1]), [0.2, 0.7, 0.1]));
    }

    #[test]
    fn hue_third_turn_cycles_primaries_and_keeps_grey() {
        let h = ColorAffine::hue(1.0 / 3.0);
        assert!(close(h.apply([1.0, 0.0, 0.0]), [0.0, 1.0, 0.0]));
        assert!(close(h.apply([0.4, 0.4, 0.4]), [0.4, 0.4, 0.4]));
    }

    #[test]
    fn contrast_pulls_to_mean_grey_and_saturation_zero_is_grey() {
        let p = JitterParams {
            order: [1, 0, 2, 3],
            brightness: 1.0,
            contrast: 0.0,
            saturation: 1.0,
            hue: 0.0,
        };
        let mean = [0.2, 0.4, 0.6];
        let g = LUMA[0] * 0.2 + LUMA[1] * 0.4 + LUMA[2] * 0.6;
        assert!(close(p.to_affine(mean).apply([0.9, 0.1, 0.3]), [g, g, g]));
        let s = ColorAffine::saturation(0.0).apply([0.9, 0.1, 0.3]);
        let g = LUMA[0] * 0.9 + LUMA[1] * 0.1 + LUMA[2] * 0.3;
        assert!(close(s, [g, g, g]));
    }

    #[test]
    fn brightness_then_contrast_uses_brightened_mean() {
        // contrast after brightness 2: grey mean doubles.
        let p = JitterParams {
            order: [0, 1, 2, 3],
            brightness: 2.0,
            contrast: 0.0,
            saturation: 1.0,
            hue: 0.0,
        };
        let a = p.to_affine([0.1, 0.1, 0.1]);
        assert!(close(a.apply([0.5, 0.0, 0.0]), [0.2, 0.2, 0.2]));
    }
}
