//! Targets: class indices, or class probabilities for MixUp / CutMix / distillation.

use burn::tensor::{Device, IndexingUpdateOp, Int, Tensor, TensorData};

use crate::error::LossError;

/// Tolerance on the row sums of soft targets built from host data.
const SOFT_SUM_TOLERANCE: f32 = 1e-3;

/// What a loss compares the logits with.
#[derive(Debug, Clone)]
pub enum Targets {
    /// One class index per sample, shape `[N]`.
    Hard(Tensor<1, Int>),
    /// One probability row per sample, shape `[N, K]` (rows sum to 1).
    Soft(Tensor<2>),
}

impl Targets {
    /// Hard targets from host class indices, checked to be below `num_classes` while they are
    /// still on the host (free, unlike a check on the device).
    pub fn from_indices(
        indices: &[usize],
        num_classes: usize,
        device: &Device,
    ) -> Result<Self, LossError> {
        if let Some(row) = indices.iter().position(|&t| t >= num_classes) {
            return Err(LossError::TargetOutOfRange {
                row,
                target: i64::try_from(indices[row]).unwrap_or(i64::MAX),
                num_classes,
            });
        }
        let data: Vec<i64> = indices.iter().map(|&t| t as i64).collect();
        let n = data.len();
        Ok(Self::Hard(Tensor::from_data(
            TensorData::new(data, [n]),
            device,
        )))
    }

    /// Soft targets from host row-major `[n, num_classes]` probabilities, checked to be finite,
    /// non-negative and to sum to 1 per row (within 1e-3).
    pub fn from_probabilities(
        probs: &[f32],
        num_classes: usize,
        device: &Device,
    ) -> Result<Self, LossError> {
        if num_classes == 0 || !probs.len().is_multiple_of(num_classes) {
            return Err(LossError::InvalidSoftTargets(format!(
                "{} values do not form rows of {num_classes} classes",
                probs.len()
            )));
        }
        for (row, p) in probs.chunks(num_classes).enumerate() {
            if p.iter().any(|v| !v.is_finite() || *v < 0.0) {
                return Err(LossError::InvalidSoftTargets(format!(
                    "row {row} has a negative or non-finite probability"
                )));
            }
            let sum: f32 = p.iter().sum();
            if (sum - 1.0).abs() > SOFT_SUM_TOLERANCE {
                return Err(LossError::InvalidSoftTargets(format!(
                    "row {row} sums to {sum}, not 1"
                )));
            }
        }
        let n = probs.len() / num_classes;
        Ok(Self::Soft(Tensor::from_data(
            TensorData::new(probs.to_vec(), [n, num_classes]),
            device,
        )))
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        match self {
            Self::Hard(t) => t.dims()[0],
            Self::Soft(t) => t.dims()[0],
        }
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The targets as `[N, K]` probabilities on `device` (one-hot rows for hard targets).
    /// Indices must be valid; no check is made here.
    pub fn to_probabilities(&self, num_classes: usize, device: &Device) -> Tensor<2> {
        match self {
            Self::Hard(t) => one_hot(t, num_classes, device),
            Self::Soft(t) => t.clone().to_device(device),
        }
    }

    /// MixUp / CutMix targets: `λ·self + (1 − λ)·other` as probabilities, where `other` is the
    /// (usually permuted) partner batch and `λ` the mixing coefficient (for CutMix, the
    /// fraction of pixels kept from `self`).
    pub fn mix(
        &self,
        other: &Targets,
        lambda: f32,
        num_classes: usize,
        device: &Device,
    ) -> Result<Targets, LossError> {
        if !(0.0..=1.0).contains(&lambda) {
            return Err(LossError::InvalidConfig(format!(
                "mixing coefficient must be in [0, 1], got {lambda}"
            )));
        }
        if self.len() != other.len() {
            return Err(LossError::TargetsShape {
                expected: vec![self.len()],
                shape: vec![other.len()],
            });
        }
        for t in [self, other] {
            if let Self::Soft(s) = t
                && s.dims()[1] != num_classes
            {
                return Err(LossError::TargetsShape {
                    expected: vec![self.len(), num_classes],
                    shape: s.dims().to_vec(),
                });
            }
        }
        let a = self.to_probabilities(num_classes, device);
        let b = other.to_probabilities(num_classes, device);
        Ok(Self::Soft(
            a.mul_scalar(lambda) + b.mul_scalar(1.0 - lambda),
        ))
    }
}

/// One-hot rows `[N, K]` of class indices, built with a scatter so that no value is read back
/// from the device (Burn's `one_hot` syncs to validate the indices).
pub(crate) fn one_hot(indices: &Tensor<1, Int>, num_classes: usize, device: &Device) -> Tensor<2> {
    let n = indices.dims()[0];
    let idx = indices.clone().to_device(device).reshape([n, 1]);
    Tensor::<2>::zeros([n, num_classes], device).scatter(
        1,
        idx,
        Tensor::ones([n, 1], device),
        IndexingUpdateOp::Assign,
    )
}
