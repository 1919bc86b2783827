//! Geometric transforms: RandomResizedCrop, resize + centre crop, plain resize, flips.
//!
//! Every geometric transform here reduces to "pick a source rectangle, resample it to the
//! output size", done in one SIMD pass by `fast_image_resize` (crop and resize fused, no
//! intermediate full-size resize). Boxes follow torchvision's arithmetic so that a model sees
//! the same crops distribution it would under PyTorch.

use std::cell::RefCell;

use serde::{Deserialize, Serialize};

use crate::decode::RgbImage;
use crate::error::{DataError, Result};
use crate::preprocess::Interpolation;
use crate::rng::Rng;

/// A rectangle of the source image, in source pixels (may be fractional for centre crops).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceBox {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

impl SourceBox {
    /// The whole `w × h` image.
    pub fn full(w: u32, h: u32) -> Self {
        SourceBox {
            x: 0.0,
            y: 0.0,
            w: w as f64,
            h: h as f64,
        }
    }
}

/// torchvision's `RandomResizedCrop`: a random area fraction in `scale` and a log-uniform
/// aspect ratio in `ratio`, resized to `size`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RandomResizedCrop {
    /// Output `[height, width]`.
    pub size: [usize; 2],
    /// Range of the crop's area as a fraction of the image area.
    pub scale: [f64; 2],
    /// Range of the crop's width / height.
    pub ratio: [f64; 2],
    /// Resampling filter.
    pub interpolation: Interpolation,
}

impl RandomResizedCrop {
    /// torchvision defaults: scale 0.08–1, ratio 3/4–4/3, bilinear.
    pub fn new(size: usize) -> Self {
        RandomResizedCrop {
            size: [size, size],
            scale: [0.08, 1.0],
            ratio: [3.0 / 4.0, 4.0 / 3.0],
            interpolation: Interpolation::Bilinear,
        }
    }

    /// Draws a crop box for a `w × h` image (torchvision's algorithm: ten tries, then a
    /// centre crop with the ratio clamped into range).
    pub fn sample_box(&self, w: u32, h: u32, rng: &mut Rng) -> SourceBox {
        let (wf, hf) = (w as f64, h as f64);
        let area = wf * hf;
        let (lr0, lr1) = (self.ratio[0].ln(), self.ratio[1].ln());
        for _ in 0..10 {
            let target = area * rng.uniform(self.scale[0], self.scale[1]);
            let aspect = rng.uniform(lr0, lr1).exp();
            let cw = (target * aspect).sqrt().round_ties_even();
            let ch = (target / aspect).sqrt().round_ties_even();
            if cw > 0.0 && ch > 0.0 && cw <= wf && ch <= hf {
                let y = rng.range_inclusive(0, (hf - ch) as i64) as f64;
                let x = rng.range_inclusive(0, (wf - cw) as i64) as f64;
                return SourceBox { x, y, w: cw, h: ch };
            }
        }
        let in_ratio = wf / hf;
        let (cw, ch) = if in_ratio < self.ratio[0].min(self.ratio[1]) {
            (
                wf,
                (wf / self.ratio[0].min(self.ratio[1]))
                    .round_ties_even()
                    .max(1.0),
            )
        } else if in_ratio > self.ratio[0].max(self.ratio[1]) {
            (
                (hf * self.ratio[0].max(self.ratio[1]))
                    .round_ties_even()
                    .max(1.0),
                hf,
            )
        } else {
            (wf, hf)
        };
        SourceBox {
            x: ((wf - cw) / 2.0).floor().max(0.0),
            y: ((hf - ch) / 2.0).floor().max(0.0),
            w: cw.min(wf),
            h: ch.min(hf),
        }
    }
}

/// Resize the shorter side to `resize_shorter`, then centre-crop `size` — the evaluation
/// transform, computed as a single crop + resize of the source.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResizeCenterCrop {
    /// Shorter side after the resize (e.g. 256 for a 224 crop).
    pub resize_shorter: usize,
    /// Output `[height, width]`.
    pub size: [usize; 2],
    /// Resampling filter.
    pub interpolation: Interpolation,
}

impl ResizeCenterCrop {
    /// The source rectangle that ends up in the crop (torchvision's integer arithmetic).
    pub fn source_box(&self, w: u32, h: u32) -> SourceBox {
        let (wf, hf) = (w as f64, h as f64);
        let s = self.resize_shorter as f64;
        // torchvision: the shorter side becomes `s`, the longer `int(s * long / short)`.
        let (rw, rh) = if w <= h {
            (s, (s * hf / wf).floor().max(1.0))
        } else {
            ((s * wf / hf).floor().max(1.0), s)
        };
        let (ch, cw) = (self.size[0] as f64, self.size[1] as f64);
        let (ch, cw) = (ch.min(rh), cw.min(rw));
        // Python's round() (ties to even), as torchvision's CenterCrop uses.
        let top = ((rh - ch) / 2.0).round_ties_even();
        let left = ((rw - cw) / 2.0).round_ties_even();
        let (sx, sy) = (wf / rw, hf / rh);
        SourceBox {
            x: left * sx,
            y: top * sy,
            w: cw * sx,
            h: ch * sy,
        }
    }
}

/// Resize the whole image to `size`, ignoring its aspect ratio.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resize {
    /// Output `[height, width]`.
    pub size: [usize; 2],
    /// Resampling filter.
    pub interpolation: Interpolation,
}

/// The geometric stage of a [`Transform`](crate::transform::Transform).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Geometry {
    /// Random crop of random area and aspect, resized (training).
    RandomResizedCrop(RandomResizedCrop),
    /// Shorter-side resize then centre crop (evaluation).
    ResizeCenterCrop(ResizeCenterCrop),
    /// Squash the whole image to the output size.
    Resize(Resize),
}

impl Geometry {
    /// Output `[height, width]`.
    pub fn output_size(&self) -> [usize; 2] {
        match self {
            Geometry::RandomResizedCrop(g) => g.size,
            Geometry::ResizeCenterCrop(g) => g.size,
            Geometry::Resize(g) => g.size,
        }
    }

    /// Resampling filter.
    pub fn interpolation(&self) -> Interpolation {
        match self {
            Geometry::RandomResizedCrop(g) => g.interpolation,
            Geometry::ResizeCenterCrop(g) => g.interpolation,
            Geometry::Resize(g) => g.interpolation,
        }
    }

    /// Whether the stage draws random numbers.
    pub fn is_random(&self) -> bool {
        matches!(self, Geometry::RandomResizedCrop(_))
    }

    /// The source rectangle for a `w × h` image.
    pub fn source_box(&self, w: u32, h: u32, rng: &mut Rng) -> SourceBox {
        match self {
            Geometry::RandomResizedCrop(g) => g.sample_box(w, h, rng),
            Geometry::ResizeCenterCrop(g) => g.source_box(w, h),
            Geometry::Resize(_) => SourceBox::full(w, h),
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let [h, w] = self.output_size();
        if h == 0 || w == 0 {
            return Err(DataError::InvalidConfig("output size must be > 0".into()));
        }
        if let Geometry::RandomResizedCrop(g) = self {
            let ok = g.scale[0] > 0.0
                && g.scale[0] <= g.scale[1]
                && g.scale[1] <= 1.0
                && g.ratio[0] > 0.0
                && g.ratio[0] <= g.ratio[1];
            if !ok {
                return Err(DataError::InvalidConfig(format!(
                    "RandomResizedCrop needs 0 < scale0 <= scale1 <= 1 and 0 < ratio0 <= ratio1, got scale {:?} ratio {:?}",
                    g.scale, g.ratio
                )));
            }
        }
        if let Geometry::ResizeCenterCrop(g) = self
            && g.resize_shorter == 0
        {
            return Err(DataError::InvalidConfig(
                "resize_shorter must be > 0".into(),
            ));
        }
        Ok(())
    }
}

thread_local! {
    static RESIZER: RefCell<fast_image_resize::Resizer> = RefCell::new(fast_image_resize::Resizer::new());
}

/// Resamples `bx` of `src` to `out_w × out_h` in one SIMD pass.
pub fn crop_resize(
    src: &RgbImage,
    bx: SourceBox,
    out_w: usize,
    out_h: usize,
    interpolation: Interpolation,
) -> Result<RgbImage> {
    use fast_image_resize::images::{Image, ImageRef};
    use fast_image_resize::{PixelType, ResizeOptions};
    let (w, h) = src.dimensions();
    let src_view = ImageRef::new(w, h, src.as_raw(), PixelType::U8x3)
        .map_err(|e| DataError::Image(format!("source view: {e}")))?;
    let mut out = vec![0u8; out_w * out_h * 3];
    {
        let mut dst = Image::from_slice_u8(out_w as u32, out_h as u32, &mut out, PixelType::U8x3)
            .map_err(|e| DataError::Image(format!("destination view: {e}")))?;
        let opts = ResizeOptions::new()
            .resize_alg(interpolation.to_fir())
            .crop(bx.x, bx.y, bx.w.max(1e-3), bx.h.max(1e-3))
            .use_alpha(false);
        RESIZER
            .with(|r| r.borrow_mut().resize(&src_view, &mut dst, &opts))
            .map_err(|e| DataError::Image(format!("resize: {e}")))?;
    }
    RgbImage::from_raw(out_w as u32, out_h as u32, out)
        .ok_or_else(|| DataError::Image("resize produced a short buffer".into()))
}

/// Mirrors an RGB image left-right, in place.
pub fn hflip(img: &mut RgbImage) {
    let w = img.width() as usize;
    for row in img.as_mut().chunks_exact_mut(w * 3) {
        let (mut l, mut r) = (0usize, w.saturating_sub(1));
        while l < r {
            for c in 0..3 {
                row.swap(l * 3 + c, r * 3 + c);
            }
            l += 1;
            r -= 1;
        }
    }
}

/// Mirrors an RGB image top-bottom, in place.
pub fn vflip(img: &mut RgbImage) {
    let w = img.width() as usize * 3;
    let h = img.height() as usize;
    let buf: &mut [u8] = img.as_mut();
    for y in 0..h / 2 {
        let (a, b) = buf.split_at_mut((h - 1 - y) * w);
        a[y * w..y * w + w].swap_with_slice(&mut b[..w]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn center_box_matches_resize_then_crop() {
        let g = ResizeCenterCrop {
            resize_shorter: 256,
            size: [224, 224],
            interpolation: Interpolation::Bilinear,
        };
        // 512x384 -> 341x256 (torch truncates); crop left round(58.5) = 58 (ties to even), top 16.
        let b = g.source_box(512, 384);
        let s = 384.0 / 256.0;
        assert!((b.y - 16.0 * s).abs() < 1e-9);
        assert!((b.h - 224.0 * s).abs() < 1e-9);
        assert!((b.w - 224.0 * 512.0 / 341.0).abs() < 1e-9);
        assert!((b.x - 58.0 * 512.0 / 341.0).abs() < 1e-9);
    }

    #[test]
    fn flips_are_involutions() {
        let mut img = RgbImage::from_fn(5, 3, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let orig = img.clone();
        hflip(&mut img);
        assert_eq!(img.get_pixel(0, 1), orig.get_pixel(4, 1));
        hflip(&mut img);
        assert_eq!(img, orig);
        vflip(&mut img);
        assert_eq!(img.get_pixel(2, 0), orig.get_pixel(2, 2));
        vflip(&mut img);
        assert_eq!(img, orig);
    }
}
