//! Exponential moving average of the weights: a smoother model to evaluate and keep.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;
use kiln_models::Backbone;

/// Flattened snapshot of a model's float parameters by id.
struct Collect(HashMap<ParamId, Tensor<1>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
        let t = p.val().inner();
        let n = t.shape().num_elements();
        self.0.insert(p.id, t.reshape([n]));
    }
}

struct Blend<'a> {
    current: &'a HashMap<ParamId, Tensor<1>>,
    decay: f64,
}

impl ModuleMapper for Blend<'_> {
    fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(cur) = self.current.get(&p.id).cloned() else {
            return p;
        };
        let decay = self.decay;
        p.map(|ema| {
            let cur = cur.to_device(&ema.device()).reshape(ema.shape());
            ema.mul_scalar(decay) + cur.mul_scalar(1.0 - decay)
        })
    }
}

/// EMA of a training model's weights, kept on the plain device in eval mode.
///
/// BatchNorm running statistics are not parameters and are not averaged: the EMA model keeps
/// the statistics it started with, which is exact with kiln's default frozen BatchNorm.
#[derive(Debug, Clone)]
pub struct WeightEma {
    /// The averaged model.
    pub model: Backbone,
    /// Weight of the old average per update (e.g. 0.999).
    pub decay: f64,
}

impl WeightEma {
    /// Start the average at `model` (its eval-mode copy).
    pub fn new(model: &Backbone, decay: f64) -> Self {
        Self {
            model: model.valid(),
            decay,
        }
    }

    /// Fold the current weights of `model` into the average.
    pub fn update(&mut self, model: &Backbone) {
        let mut c = Collect(HashMap::new());
        model.visit(&mut c);
        let mut blend = Blend {
            current: &c.0,
            decay: self.decay,
        };
        self.model = self.model.clone().map(&mut blend);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn fc(m: &Backbone) -> Vec<f32> {
        match m {
            Backbone::ResNet(r) => {
                r.fc.weight
                    .val()
                    .into_data()
                    .convert::<f32>()
                    .try_into_vec::<f32>()
                    .unwrap_or_default()
            }
            _ => unreachable!(),
        }
    }

    /// Adds 1 to every parameter, keeping ids (as an optimiser step does).
    struct AddOne;
    impl ModuleMapper for AddOne {
        fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
            p.map(|t| t.add_scalar(1.0))
        }
    }

    #[test]
    fn ema_moves_by_one_minus_decay() {
        let device = Device::flex();
        let a = kiln_models::create("resnet18", 2, &device).unwrap();
        let moved = a.clone().map(&mut AddOne);
        let mut ema = WeightEma::new(&a, 0.75);
        ema.update(&moved);
        for (x, e) in fc(&a).iter().zip(fc(&ema.model)) {
            assert!((x + 0.25 - e).abs() < 1e-6, "{x} → {e}");
        }
        ema.update(&moved);
        for (x, e) in fc(&a).iter().zip(fc(&ema.model)) {
            assert!((x + 0.4375 - e).abs() < 1e-6, "{x} → {e}");
        }
    }
}
