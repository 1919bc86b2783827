//! Inference: backbone-matched preprocessing, image batches, top-k predictions.

use std::path::Path;

use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor, TensorData};
use kiln_data::transform::{Transform, eval_transform};
use kiln_data::{Interpolation as DataInterp, Preprocess, Rng, decode_rgb8};
use kiln_models::{Backbone, Interpolation, PretrainedCfg};

use crate::error::Result;

/// The 1000 ImageNet-1k class names, index = line.
pub fn imagenet_labels() -> Vec<&'static str> {
    include_str!("../../../assets/imagenet_classes.txt")
        .lines()
        .collect()
}

/// kiln-data preprocessing matching a backbone's published weights.
pub fn preprocess_for(cfg: &PretrainedCfg) -> Preprocess {
    Preprocess {
        input_size: cfg.input_size,
        mean: cfg.mean,
        std: cfg.std,
        crop_fraction: cfg.crop_fraction,
        interpolation: match cfg.interpolation {
            Interpolation::Bilinear => DataInterp::Bilinear,
            Interpolation::Bicubic => DataInterp::Bicubic,
            Interpolation::Nearest => DataInterp::Nearest,
        },
        pixel_range: 1.0,
    }
}

/// Decode and transform images into one `[N, 3, H, W]` batch.
pub fn load_batch<P: AsRef<Path>>(
    paths: &[P],
    transform: &Transform,
    device: &Device,
) -> Result<Tensor<4>> {
    let [h, w] = transform.output_size();
    let mut data = Vec::with_capacity(paths.len() * transform.sample_len());
    let mut rng = Rng::new(0);
    for p in paths {
        let img = decode_rgb8(p.as_ref())?;
        data.extend(transform.apply(&img, &mut rng)?);
    }
    Ok(Tensor::from_data(
        TensorData::new(data, [paths.len(), 3, h, w]),
        device,
    ))
}

/// The evaluation transform of a backbone.
pub fn eval_transform_for(model: &Backbone) -> Transform {
    eval_transform(&preprocess_for(&model.pretrained_cfg()))
}

/// One class of a top-k list.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Prediction {
    /// Class index.
    pub index: usize,
    /// Softmax probability.
    pub prob: f32,
}

/// The `k` most probable classes of each image, most probable first.
pub fn predict_top_k(model: &Backbone, images: Tensor<4>, k: usize) -> Vec<Vec<Prediction>> {
    let probs = softmax(model.forward(images), 1);
    let [n, classes] = probs.dims();
    let values = probs
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap_or_default();
    (0..n)
        .map(|i| top_k(&values[i * classes..(i + 1) * classes], k))
        .collect()
}

/// The `k` largest entries of `probs`, largest first (ties by lower index).
pub fn top_k(probs: &[f32], k: usize) -> Vec<Prediction> {
    let mut idx: Vec<usize> = (0..probs.len()).collect();
    idx.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
    idx.into_iter()
        .take(k)
        .map(|index| Prediction {
            index,
            prob: probs[index],
        })
        .collect()
}
