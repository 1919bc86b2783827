//! Test-time augmentation: average the model's probabilities over label-preserving views of
//! each image — its mirror and, optionally, corner and centre crops (torchvision's
//! `FiveCrop`), each crop resized back to the input size so the model sees the scale it was
//! trained at.

use burn::tensor::Tensor;
use burn::tensor::activation::softmax;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use kiln_models::Backbone;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// Which views [`predict_tta_with`] averages. The full image is always one of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tta {
    /// Add the horizontal mirror of every view.
    pub hflip: bool,
    /// Add five crops (four corners and the centre), each covering this fraction of the
    /// image's height and width (in `(0, 1]`, typically 0.875), resized back bilinearly.
    pub five_crop: Option<f32>,
}

impl Tta {
    /// The image and its mirror (2 views).
    pub fn flip() -> Self {
        Self {
            hflip: true,
            five_crop: None,
        }
    }

    /// The image, five crops of `fraction` of each side, and all their mirrors (12 views).
    pub fn five_crop_flip(fraction: f32) -> Self {
        Self {
            hflip: true,
            five_crop: Some(fraction),
        }
    }

    /// Number of views per image.
    pub fn num_views(&self) -> usize {
        (1 + if self.five_crop.is_some() { 5 } else { 0 }) * if self.hflip { 2 } else { 1 }
    }
}

/// The views of a batch `[N, C, H, W]` that `tta` describes, each `[N, C, H, W]`: the full
/// image, then the crops top-left, top-right, bottom-left, bottom-right, centre; with `hflip`
/// each followed by its mirror.
pub fn tta_views(images: Tensor<4>, tta: &Tta) -> Result<Vec<Tensor<4>>> {
    let [_, _, h, w] = images.dims();
    let mut base = vec![images.clone()];
    if let Some(fraction) = tta.five_crop {
        if !(fraction > 0.0 && fraction <= 1.0) {
            return Err(TrainError::InvalidConfig(format!(
                "five_crop fraction must be in (0, 1], got {fraction}"
            )));
        }
        let ch = ((h as f32 * fraction).round() as usize).clamp(1, h);
        let cw = ((w as f32 * fraction).round() as usize).clamp(1, w);
        let corners = [
            (0, 0),
            (0, w - cw),
            (h - ch, 0),
            (h - ch, w - cw),
            ((h - ch) / 2, (w - cw) / 2),
        ];
        for (top, left) in corners {
            let crop = images.clone().narrow(2, top, ch).narrow(3, left, cw);
            base.push(if (ch, cw) == (h, w) {
                crop
            } else {
                interpolate(
                    crop,
                    InterpolateOptions::new(InterpolateMode::Bilinear).with_output_size([h, w]),
                )
            });
        }
    }
    Ok(if tta.hflip {
        base.into_iter()
            .flat_map(|v| [v.clone(), v.flip([3])])
            .collect()
    } else {
        base
    })
}

/// The softmax probabilities `[N, num_classes]` averaged over the views of `tta`.
pub fn predict_tta_with(model: &Backbone, images: Tensor<4>, tta: &Tta) -> Result<Tensor<2>> {
    let mut views = tta_views(images, tta)?;
    let first = views.remove(0);
    Ok(mean_softmax(model, first, views))
}

/// Test-time augmentation with the image and (if `hflip`) its mirror, `[N, num_classes]`.
pub fn predict_tta(model: &Backbone, images: Tensor<4>, hflip: bool) -> Tensor<2> {
    let mirror = if hflip {
        vec![images.clone().flip([3])]
    } else {
        Vec::new()
    };
    mean_softmax(model, images, mirror)
}

/// The mean of the model's softmax over `first` and `rest`.
fn mean_softmax(model: &Backbone, first: Tensor<4>, rest: Vec<Tensor<4>>) -> Tensor<2> {
    let n = 1 + rest.len();
    rest.into_iter()
        .fold(softmax(model.forward(first), 1), |sum, v| {
            sum + softmax(model.forward(v), 1)
        })
        .div_scalar(n as f64)
}
