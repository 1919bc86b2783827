//! Domain shift: BatchNorm-statistics adaptation (AdaBN) on unlabeled target images.
//! Test-time augmentation lives in [`crate::tta`].

use burn::module::{Module, ModuleVisitor, Param, ParamGroup, ParamId};
use burn::tensor::Device;
use kiln_data::transform::{SampleTransform, eval_transform};
use kiln_data::{DataLoader, Dataset, LoaderConfig, Preprocess};
use kiln_models::Backbone;
use std::sync::Arc;

use crate::error::{Result, TrainError};

/// Collects the ids of the training flags of BatchNorm modules only (not dropout or
/// drop-path, which must stay off while statistics are re-estimated).
#[derive(Default)]
struct BatchNormFlags {
    stack: Vec<String>,
    ids: Vec<ParamId>,
}

impl ModuleVisitor for BatchNormFlags {
    fn enter_module(&mut self, _name: &str, container_type: &str) {
        self.stack.push(container_type.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }
    fn visit_flag(&mut self, flag: &Param<burn::module::Flag>) {
        if self.stack.last().is_some_and(|c| c.ends_with("BatchNorm")) {
            self.ids.push(flag.id);
        }
    }
}

/// The BatchNorm training flags of `model` as a group.
pub fn batchnorm_group(model: &Backbone) -> ParamGroup {
    let mut v = BatchNormFlags::default();
    model.visit(&mut v);
    ParamGroup::from_ids(v.ids)
}

/// Re-estimate every BatchNorm's running statistics on unlabeled `target` images (AdaBN).
///
/// No weight changes: only the statistics move to the target domain. Burn keeps an
/// exponential average (momentum 0.1), so at least `min_batches` batches are run (looping over
/// `target` with fresh orders if needed); 40 batches leave under 2 % of the old statistics.
/// Images use the evaluation transform of `preprocess`.
pub fn adapt_batchnorm(
    model: Backbone,
    target: &Dataset,
    preprocess: &Preprocess,
    batch_size: usize,
    min_batches: usize,
    device: &Device,
) -> Result<Backbone> {
    if target.is_empty() {
        return Err(TrainError::InvalidConfig(
            "adaptation needs target images".into(),
        ));
    }
    let ad = device.clone().autodiff();
    let bn = batchnorm_group(&model);
    // Everything frozen (no gradients, dropout off), then only BatchNorm flags back on.
    let model = model.fork(&ad).freeze().unfreeze_group(bn).no_grad();
    let transform: Arc<dyn SampleTransform> = Arc::new(eval_transform(preprocess));
    let mut cfg = LoaderConfig::train(batch_size.max(2), 0);
    cfg.drop_last = target.len() >= batch_size.max(2);
    let loader = DataLoader::from_arc(Arc::new(target.clone()), transform, cfg)?;
    let mut seen = 0;
    let mut epoch = 0;
    while seen < min_batches.max(1) {
        for batch in loader.epoch(epoch, &ad) {
            let batch = batch?;
            if batch.indices.len() < 2 {
                continue;
            }
            let _ = model.forward_features(batch.images);
            seen += 1;
        }
        epoch += 1;
        if epoch > 10_000 {
            break;
        }
    }
    Ok(model.valid())
}
