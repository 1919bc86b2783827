//! bf16 training with f32 master weights.
//!
//! Burn 0.22 has no autocast: a tensor's dtype is whatever it was created or cast to, and an
//! op runs in its inputs' dtype. kiln therefore does mixed precision the way NVIDIA's apex
//! "O2" level did, by hand:
//!
//! - **bf16**: every training step makes a bf16 copy of the model (weights and BatchNorm
//!   statistics cast from the f32 master) and runs the backbone's forward and backward in
//!   bf16 — convolutions, matmuls, BatchNorm, activations, pooling, the head.
//! - **f32**: the master weights, the AdamW moments and step, gradient clipping, the EMA, the
//!   logits from the cast onwards — softmax, the loss and its first gradient — and the feature
//!   cache of head-only stages (the head is tiny; its stage runs in f32). Evaluation,
//!   checkpoints and the returned model are f32.
//!
//! Unlike autocast, nothing is kept in f32 *inside* the forward (BatchNorm and reductions run
//! in bf16 too). Whether a device computes bf16 natively is the backend's business: on the
//! flex CPU device bf16 convolutions and matmuls convert to f32 internally (correct, not
//! faster); on GPUs it depends on the backend and adapter. BatchNorm statistics cannot train
//! in this mode (they would update the per-step copy), so it requires frozen BatchNorm.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, FloatDType, Tensor};
use kiln_models::Backbone;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// Numeric precision of the training forward and backward passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// Everything in f32.
    #[default]
    F32,
    /// Forward and backward of the backbone in bf16, master weights and optimizer in f32
    /// (see the [module docs](self) for exactly what runs in which dtype).
    Bf16,
}

struct CastTo(FloatDType);

impl ModuleMapper for CastTo {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let dtype = self.0;
        param.map(|t| t.cast(dtype))
    }
}

/// A bf16 copy of `master` on the same (autodiff) device: same parameter ids and training
/// flags, its own BatchNorm statistics. Gradients taken on the copy apply to the master
/// after [`grads_to_f32`].
pub fn bf16_copy(master: &Backbone) -> Backbone {
    master.valid().map(&mut CastTo(FloatDType::BF16)).train()
}

struct GradsToF32<'a> {
    grads: &'a mut GradientsParams,
}

impl ModuleVisitor for GradsToF32<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            self.grads.register::<D>(param.id, g.cast(FloatDType::F32));
        }
    }
}

/// Cast every gradient of `module`'s parameters in `grads` to f32, in place.
pub fn grads_to_f32<M: Module>(module: &M, grads: &mut GradientsParams) {
    module.visit(&mut GradsToF32 { grads });
}

/// Check that `device` can run a small bf16 matmul before a run starts, so an unsupported
/// device is a typed error rather than a panic deep inside the first step.
pub fn check_bf16_support(device: &Device) -> Result<()> {
    let device = device.clone();
    let probe = std::panic::catch_unwind(move || {
        let a = Tensor::<2>::ones([4, 4], &device).cast(FloatDType::BF16);
        let b = a.clone().matmul(a).cast(FloatDType::F32);
        b.sum().into_scalar::<f32>()
    });
    match probe {
        Ok(v) if (v - 64.0).abs() < 1e-3 => Ok(()),
        Ok(v) => Err(TrainError::InvalidConfig(format!(
            "bf16 gives wrong results on this device (probe sum {v}, expected 64)"
        ))),
        Err(_) => Err(TrainError::InvalidConfig(
            "this device does not support bf16 (use Precision::F32)".into(),
        )),
    }
}
