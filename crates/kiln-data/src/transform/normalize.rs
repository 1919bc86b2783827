//! The last pass: RGB8 HWC pixels → normalised `f32` CHW, written straight into the batch.
//!
//! Colour jitter (an affine map), the `[0, 1]` clamp, the channel mean/std and the HWC→CHW
//! transpose happen in this one pass over the pixels, into the caller's slice of the batch
//! buffer — no intermediate float image, no per-sample tensor.

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::preprocess::Preprocess;
use crate::transform::color::ColorAffine;

/// `(p / 255 * pixel_range - mean) / std` per channel.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalize {
    /// Channel means, in units of `pixel_range`.
    pub mean: [f32; 3],
    /// Channel standard deviations, in units of `pixel_range`.
    pub std: [f32; 3],
    /// 1 for `[0, 1]` pixels, 255 for raw pixels.
    pub pixel_range: f32,
}

impl Default for Normalize {
    fn default() -> Self {
        Normalize::from_preprocess(&Preprocess::default())
    }
}

impl Normalize {
    /// The normalisation of a preprocessing config.
    pub fn from_preprocess(p: &Preprocess) -> Self {
        Normalize {
            mean: p.mean,
            std: p.std,
            pixel_range: p.pixel_range,
        }
    }

    /// No normalisation: values stay on `[0, 1]`.
    pub fn unit() -> Self {
        Normalize {
            mean: [0.0; 3],
            std: [1.0; 3],
            pixel_range: 1.0,
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.std.iter().any(|s| !(s.is_finite() && *s > 0.0))
            || self.pixel_range.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)
        {
            return Err(DataError::InvalidConfig(format!(
                "Normalize needs positive std and pixel_range, got {self:?}"
            )));
        }
        Ok(())
    }

    /// Normalised value of a `[0, 1]` intensity in channel `c`.
    pub fn value(&self, c: usize, unit: f32) -> f32 {
        (unit * self.pixel_range - self.mean[c]) / self.std[c]
    }

    /// Writes `src` (RGB8, `w × h`, row-major HWC) into `out` (`3 × h × w`, CHW), applying the
    /// optional colour map and clamp first.
    pub fn write_chw(
        &self,
        src: &[u8],
        w: usize,
        h: usize,
        color: Option<&ColorAffine>,
        out: &mut [f32],
    ) -> Result<()> {
        let n = w * h;
        if src.len() != n * 3 || out.len() != n * 3 {
            return Err(DataError::Image(format!(
                "write_chw: {}x{} needs {} input bytes and {} outputs, got {} and {}",
                w,
                h,
                n * 3,
                n * 3,
                src.len(),
                out.len()
            )));
        }
        let (r_out, rest) = out.split_at_mut(n);
        let (g_out, b_out) = rest.split_at_mut(n);
        let k = [
            self.pixel_range / self.std[0],
            self.pixel_range / self.std[1],
            self.pixel_range / self.std[2],
        ];
        let o = [
            -self.mean[0] / self.std[0],
            -self.mean[1] / self.std[1],
            -self.mean[2] / self.std[2],
        ];
        match color {
            None => {
                // A 256-entry table per channel: one load per value.
                let mut lut = [[0f32; 256]; 3];
                for (c, t) in lut.iter_mut().enumerate() {
                    for (p, v) in t.iter_mut().enumerate() {
                        *v = p as f32 / 255.0 * k[c] + o[c];
                    }
                }
                for (i, px) in src.chunks_exact(3).enumerate() {
                    r_out[i] = lut[0][px[0] as usize];
                    g_out[i] = lut[1][px[1] as usize];
                    b_out[i] = lut[2][px[2] as usize];
                }
            }
            Some(a) => {
                let s = 1.0 / 255.0;
                let m = [
                    [a.m[0][0] * s, a.m[0][1] * s, a.m[0][2] * s],
                    [a.m[1][0] * s, a.m[1][1] * s, a.m[1][2] * s],
                    [a.m[2][0] * s, a.m[2][1] * s, a.m[2][2] * s],
                ];
                let b = a.b;
                for (i, px) in src.chunks_exact(3).enumerate() {
                    let (r, g, bl) = (px[0] as f32, px[1] as f32, px[2] as f32);
                    let vr = (m[0][0] * r + m[0][1] * g + m[0][2] * bl + b[0]).clamp(0.0, 1.0);
                    let vg = (m[1][0] * r + m[1][1] * g + m[1][2] * bl + b[1]).clamp(0.0, 1.0);
                    let vb = (m[2][0] * r + m[2][1] * g + m[2][2] * bl + b[2]).clamp(0.0, 1.0);
                    r_out[i] = vr * k[0] + o[0];
                    g_out[i] = vg * k[1] + o[1];
                    b_out[i] = vb * k[2] + o[2];
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imagenet_and_raw_conventions() {
        let n = Normalize::from_preprocess(&Preprocess::imagenet(4));
        let mut out = vec![0f32; 3];
        n.write_chw(&[255, 0, 128], 1, 1, None, &mut out).unwrap();
        assert!((out[0] - (1.0 - 0.485) / 0.229).abs() < 1e-5);
        assert!((out[1] - (0.0 - 0.456) / 0.224).abs() < 1e-5);
        let raw = Normalize::from_preprocess(&Preprocess::raw_127_128(4));
        raw.write_chw(&[255, 127, 0], 1, 1, None, &mut out).unwrap();
        assert!((out[0] - 1.0).abs() < 1e-5 && out[1].abs() < 1e-5);
        assert!((out[2] + 127.0 / 128.0).abs() < 1e-5);
        // identity colour map gives the same values as the table path.
        let mut out2 = vec![0f32; 3];
        raw.write_chw(
            &[255, 127, 0],
            1,
            1,
            Some(&ColorAffine::IDENTITY),
            &mut out2,
        )
        .unwrap();
        assert!(out.iter().zip(&out2).all(|(a, b)| (a - b).abs() < 1e-5));
    }

    #[test]
    fn layout_is_chw() {
        let n = Normalize::unit();
        let src = [10u8, 20, 30, 40, 50, 60]; // 2 pixels
        let mut out = vec![0f32; 6];
        n.write_chw(&src, 2, 1, None, &mut out).unwrap();
        let want: Vec<f32> = [10, 40, 20, 50, 30, 60]
            .iter()
            .map(|v| *v as f32 / 255.0)
            .collect();
        assert!(out.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-6));
    }
}
