//! The probe's feature cache: frozen-backbone features computed once per image and
//! augmented view, so a head-only epoch costs what the head costs.

use burn::tensor::{Device, Tensor, TensorData};
use kiln_data::DataLoader;
use kiln_losses::Targets;
use kiln_models::Backbone;

use crate::error::{Result, TrainError};

/// Penultimate features of every training image under `views` augmentations.
#[derive(Debug, Clone)]
pub struct FeatureCache {
    dim: usize,
    num_classes: usize,
    /// Per view: row-major `[n, dim]` features.
    features: Vec<Vec<f32>>,
    /// Per view: hard labels in row order.
    labels: Vec<Vec<usize>>,
    /// Per view: soft targets `[n, num_classes]` when MixUp/CutMix is on.
    soft: Vec<Option<Vec<f32>>>,
}

impl FeatureCache {
    /// Run `model` (eval mode, plain device) over `views` epochs of `loader`.
    ///
    /// View `v` is epoch `v` of the loader, so its augmentations are those the uncached
    /// probe would see in epoch `v`.
    pub fn build(
        model: &Backbone,
        loader: &DataLoader,
        views: usize,
        device: &Device,
    ) -> Result<Self> {
        let dim = model.feature_dim();
        let num_classes = model.num_classes();
        let mut features = Vec::with_capacity(views);
        let mut labels = Vec::with_capacity(views);
        let mut soft = Vec::with_capacity(views);
        for v in 0..views {
            let mut f = Vec::new();
            let mut l = Vec::new();
            let mut s: Option<Vec<f32>> = None;
            for batch in loader.host_epoch(v, 0) {
                let batch = batch?;
                if batch.is_empty() {
                    continue;
                }
                let images =
                    Tensor::<4>::from_data(TensorData::new(batch.images, batch.shape), device);
                let out = model.forward_features(images);
                let values = out
                    .into_data()
                    .convert::<f32>()
                    .try_into_vec::<f32>()
                    .map_err(|e| TrainError::InvalidConfig(format!("features: {e:?}")))?;
                f.extend(values);
                l.extend(batch.labels);
                if let Some(st) = batch.soft_targets {
                    s.get_or_insert_with(Vec::new).extend(st);
                }
            }
            features.push(f);
            labels.push(l);
            soft.push(s);
        }
        Ok(Self {
            dim,
            num_classes,
            features,
            labels,
            soft,
        })
    }

    /// Rows per view (the smallest, should a sampler draw unevenly).
    pub fn len(&self) -> usize {
        self.labels.iter().map(Vec::len).min().unwrap_or(0)
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Augmented views.
    pub fn views(&self) -> usize {
        self.features.len()
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.features.iter().map(|f| f.len() * 4).sum()
    }

    /// Features `[rows, dim]` and targets of `rows` of view `view`, on `device`.
    pub fn batch(&self, view: usize, rows: &[usize], device: &Device) -> (Tensor<2>, Targets) {
        let f = &self.features[view];
        let mut data = Vec::with_capacity(rows.len() * self.dim);
        for &r in rows {
            data.extend_from_slice(&f[r * self.dim..(r + 1) * self.dim]);
        }
        let feats = Tensor::from_data(TensorData::new(data, [rows.len(), self.dim]), device);
        let targets = match &self.soft[view] {
            Some(s) => {
                let k = self.num_classes;
                let mut t = Vec::with_capacity(rows.len() * k);
                for &r in rows {
                    t.extend_from_slice(&s[r * k..(r + 1) * k]);
                }
                Targets::Soft(Tensor::from_data(
                    TensorData::new(t, [rows.len(), k]),
                    device,
                ))
            }
            None => {
                let l: Vec<i64> = rows.iter().map(|&r| self.labels[view][r] as i64).collect();
                Targets::Hard(Tensor::from_data(TensorData::new(l, [rows.len()]), device))
            }
        };
        (feats, targets)
    }
}
