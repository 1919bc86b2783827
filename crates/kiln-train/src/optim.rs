//! Optimiser pieces Burn does not provide as needed here: clipping by the *global* norm over
//! every trainable parameter (PyTorch's `clip_grad_norm_`; Burn's own clipping works per
//! parameter), and per-stage learning rates as a [`ModuleLearningRate`].

use burn::module::{Module, ModuleVisitor, Param, ParamGroup};
use burn::optim::GradientsParams;
use burn::optim::lr_scheduler::module_lr_scheduler::{ModuleLearningRate, ModuleLrScheduler};
use burn::tensor::Tensor;

struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    total: Option<Tensor<1>>,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            let s = g.powi_scalar(2).sum();
            self.total = Some(match self.total.take() {
                Some(t) => t + s,
                None => s,
            });
        }
    }
}

struct Scale<'a> {
    grads: &'a mut GradientsParams,
    factor: f64,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            self.grads
                .register::<D>(param.id, g.mul_scalar(self.factor));
        }
    }
}

/// Global L2 norm of all gradients in `grads` (one device sync).
pub fn global_grad_norm<M: Module>(module: &M, grads: &GradientsParams) -> f64 {
    let mut v = SquaredNorm { grads, total: None };
    module.visit(&mut v);
    match v.total {
        Some(t) => f64::from(t.into_scalar::<f32>()).sqrt(),
        None => 0.0,
    }
}

/// Scale `grads` so their global norm is at most `max_norm`; returns the norm before
/// clipping. Same rule as `torch.nn.utils.clip_grad_norm_` (factor `max / (norm + 1e-6)`).
pub fn clip_grad_norm<M: Module>(module: &M, grads: &mut GradientsParams, max_norm: f64) -> f64 {
    let norm = global_grad_norm(module, grads);
    let factor = max_norm / (norm + 1e-6);
    if factor < 1.0 {
        let mut s = Scale { grads, factor };
        module.visit(&mut s);
    }
    norm
}

/// A learning-rate policy giving each `(group, multiplier)` `lr · multiplier`; parameters in
/// no group get `lr`.
pub fn stage_learning_rates(lr: f64, groups: &[(ParamGroup, f64)]) -> ModuleLearningRate {
    let mut sched = ModuleLrScheduler::new(lr);
    for (group, m) in groups {
        sched = sched.with_group(group.clone(), lr * m);
    }
    sched.step()
}
