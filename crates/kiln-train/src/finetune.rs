//! The fine-tuning builder and its loop.
//!
//! ```no_run
//! # use kiln_train::{Finetune, Recipe};
//! # fn run(model: kiln_models::Backbone, train: kiln_data::Dataset, valid: kiln_data::Dataset,
//! #        device: &burn::tensor::Device) -> Result<(), kiln_train::TrainError> {
//! let run = Finetune::new(model)
//!     .train(train)
//!     .valid(valid)
//!     .recipe(Recipe::classic())
//!     .out_dir("runs/first")
//!     .fit(device)?;
//! println!("{}", run.report());
//! # Ok(()) }
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use burn::module::{Module, ParamGroup};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, FloatDType, Int, Tensor};
use kiln_data::transform::{PerClassTransform, SampleTransform, eval_transform, train_transform};
use kiln_data::{
    ClassAwareSampler, DataLoader, Dataset, LoaderConfig, MixConfig, Preprocess, Rng,
    WeightedRandomSampler,
};
use kiln_losses::{Loss, LossConfig, Targets, loss_value};
use kiln_metrics::{Evaluator, Metrics, SelectionMetric};
use kiln_models::Backbone;
use kiln_models::import::{load_checkpoint, save_checkpoint};
use serde::{Deserialize, Serialize};

use crate::cache::FeatureCache;
use crate::checkpoint::{EpochRecord, RunState, append_jsonl, tmp_path, write_atomic};
use crate::ema::WeightEma;
use crate::error::{Result, TrainError};
use crate::infer::preprocess_for;
use crate::optim::{clip_grad_norm, stage_learning_rates};
use crate::parallel::sharded_grads;
use crate::precision::{Precision, bf16_copy, check_bf16_support, grads_to_f32};
use crate::progress::Progress;
use crate::recipe::{Recipe, Unfreeze};
use crate::report::RunReport;
use crate::schedule::warmup_cosine;

/// How training batches are drawn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SamplerKind {
    /// A fresh permutation each epoch.
    Shuffle,
    /// Weighted with replacement, weights `count^-power` (1 = balanced classes).
    ClassBalanced {
        /// Exponent of the inverse class frequency.
        power: f64,
    },
    /// Class-aware: every batch draws classes uniformly, then a sample of each.
    ClassAware,
}

/// How training images are augmented.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Augment {
    /// The classic train transform for every class.
    Standard,
    /// Stronger augmentation for rarer classes, up to `max_strength` (1 = standard).
    PerClass {
        /// Strength of the rarest class.
        max_strength: f32,
    },
    /// No augmentation: the evaluation transform (deterministic).
    None,
}

/// Everything that defines a run except the model and data; saved in `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinetuneConfig {
    /// The staged recipe.
    pub recipe: Recipe,
    /// The loss.
    pub loss: LossConfig,
    /// Samples per step.
    pub batch_size: usize,
    /// Seed of data order, augmentation and dropout.
    pub seed: u64,
    /// Model-selection metric.
    pub selection: SelectionMetric,
    /// Head-only stages train on cached backbone features.
    pub feature_cache: bool,
    /// Augmented views per image in the feature cache.
    pub cache_views: usize,
    /// Batch sampling.
    pub sampler: SamplerKind,
    /// Optional MixUp/CutMix.
    pub mix: Option<MixConfig>,
    /// Augmentation.
    pub augment: Augment,
    /// Preprocessing; `None` means the backbone's pretrained config.
    pub preprocess: Option<Preprocess>,
    /// Stop after this many epochs without improvement of the selection metric.
    pub early_stopping: Option<usize>,
    /// Fraction of the training set held out for validation when no validation set is given.
    pub valid_fraction: f64,
    /// Show progress bars.
    pub progress: bool,
    /// Stop after this many epochs in one call (continue later with [`Finetune::resume`]).
    #[serde(default)]
    pub stop_after: Option<usize>,
    /// Keep every BatchNorm on its running statistics, also in unfrozen stages (their scale
    /// and shift still train). Small or shifted data sets rarely give batch statistics as good
    /// as ImageNet's; this also turns off dropout and drop-path, which share the flag.
    #[serde(default = "yes")]
    pub frozen_batchnorm: bool,
    /// Keep an exponential moving average of the weights (decay per step, e.g. 0.999) and
    /// evaluate, select and save it instead of the raw weights.
    #[serde(default)]
    pub ema_decay: Option<f64>,
    /// Precision of the training forward/backward (f32, or bf16 with f32 master weights).
    #[serde(default)]
    pub precision: Precision,
}

fn yes() -> bool {
    true
}

impl Default for FinetuneConfig {
    fn default() -> Self {
        Self {
            recipe: Recipe::classic(),
            loss: LossConfig::cross_entropy(),
            batch_size: 32,
            seed: 42,
            selection: SelectionMetric::MacroF1,
            feature_cache: true,
            cache_views: 2,
            sampler: SamplerKind::Shuffle,
            mix: None,
            augment: Augment::Standard,
            preprocess: None,
            early_stopping: None,
            valid_fraction: 0.15,
            progress: true,
            stop_after: None,
            frozen_batchnorm: true,
            ema_decay: None,
            precision: Precision::F32,
        }
    }
}

/// The fine-tuning builder.
#[derive(Debug)]
pub struct Finetune {
    model: Backbone,
    train: Option<Dataset>,
    valid: Option<Dataset>,
    out_dir: Option<PathBuf>,
    config: FinetuneConfig,
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty) => {
        $(#[$doc])*
        pub fn $name(mut self, value: $ty) -> Self {
            self.config.$name = value;
            self
        }
    };
}

impl Finetune {
    /// Start from a backbone (pretrained weights already loaded).
    pub fn new(model: Backbone) -> Self {
        Self {
            model,
            train: None,
            valid: None,
            out_dir: None,
            config: FinetuneConfig::default(),
        }
    }

    /// Training data.
    pub fn train(mut self, data: Dataset) -> Self {
        self.train = Some(data);
        self
    }

    /// Validation data (otherwise a stratified split of the training data).
    pub fn valid(mut self, data: Dataset) -> Self {
        self.valid = Some(data);
        self
    }

    /// Folder for checkpoints, logs and the report; without one nothing is written.
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// Replace the whole configuration.
    pub fn config(mut self, config: FinetuneConfig) -> Self {
        self.config = config;
        self
    }

    setter!(/// The staged recipe.
        recipe: Recipe);
    setter!(/// The loss.
        loss: LossConfig);
    setter!(/// Samples per step.
        batch_size: usize);
    setter!(/// Seed of data order, augmentation and dropout.
        seed: u64);
    setter!(/// Model-selection metric (default macro-F1).
        selection: SelectionMetric);
    setter!(/// Train head-only stages on cached features (default on).
        feature_cache: bool);
    setter!(/// Augmented views per image in the feature cache (default 2).
        cache_views: usize);
    setter!(/// Batch sampling.
        sampler: SamplerKind);
    setter!(/// MixUp/CutMix.
        mix: Option<MixConfig>);
    setter!(/// Augmentation.
        augment: Augment);
    setter!(/// Preprocessing override (e.g. a smaller input size).
        preprocess: Option<Preprocess>);
    setter!(/// Early-stopping patience in epochs.
        early_stopping: Option<usize>);
    setter!(/// Progress bars on stderr.
        progress: bool);
    setter!(/// Stop after this many epochs in this call; [`Finetune::resume`] continues.
        stop_after: Option<usize>);
    setter!(/// Keep BatchNorm on running statistics in unfrozen stages (default on).
        frozen_batchnorm: bool);
    setter!(/// Exponential moving average of the weights (decay per step).
        ema_decay: Option<f64>);
    setter!(/// Training precision: [`Precision::Bf16`] runs the backbone's forward and backward
        /// in bf16 with f32 master weights (needs frozen BatchNorm and one device).
        precision: Precision);

    /// Run the recipe on `device` (a plain device; autodiff is added for training).
    pub fn fit(self, device: &Device) -> Result<RunOutcome> {
        self.fit_on(std::slice::from_ref(device))
    }

    /// Run the recipe data-parallel: every training batch is split across `devices` (plain
    /// devices, e.g. two GPUs, or a GPU and the CPU), each shard runs forward and backward on
    /// its device in its own thread, and the gradients are summed on the first device, which
    /// holds the weights and optimizer and runs evaluation and the feature cache. One device
    /// is [`Finetune::fit`]. See [`crate::parallel`] for what matches a single device exactly.
    pub fn fit_on(self, devices: &[Device]) -> Result<RunOutcome> {
        Runner::prepare(self, devices, None)?.run()
    }

    /// [`Finetune::resume`] with data parallelism across `devices` (see [`Finetune::fit_on`]).
    pub fn resume_on(self, devices: &[Device]) -> Result<RunOutcome> {
        let dir = self
            .out_dir
            .clone()
            .ok_or_else(|| TrainError::InvalidConfig("resume needs out_dir".into()))?;
        let state = RunState::load(&dir)?;
        Runner::prepare(self, devices, Some(state))?.run()
    }

    /// Continue the run saved in `out_dir` (same model architecture, data and config) from
    /// its last finished epoch; the result equals an uninterrupted run.
    pub fn resume(self, device: &Device) -> Result<RunOutcome> {
        self.resume_on(std::slice::from_ref(device))
    }
}

/// What [`Finetune::fit`] returns.
#[derive(Debug)]
pub struct RunOutcome {
    /// The best model (by the selection metric), on the plain device, in eval mode.
    pub model: Backbone,
    /// The model after the last epoch, on the plain device, in eval mode.
    pub last: Backbone,
    /// Scores and history.
    pub report: RunReport,
}

impl RunOutcome {
    /// The human-readable report.
    pub fn report(&self) -> &RunReport {
        &self.report
    }
}

struct Runner {
    model: Option<Backbone>,
    train: Arc<Dataset>,
    valid: Arc<Dataset>,
    out_dir: Option<PathBuf>,
    config: FinetuneConfig,
    device: Device,
    ad: Device,
    /// Autodiff devices of a data-parallel run, main device first; empty on one device.
    parallel: Vec<Device>,
    state: RunState,
    preprocess: Preprocess,
    best: Option<(Backbone, Metrics)>,
    loss: Loss,
    ema: Option<WeightEma>,
}

fn hash64(parts: &[u64]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

impl Runner {
    fn prepare(ft: Finetune, devices: &[Device], resume: Option<RunState>) -> Result<Self> {
        let device = devices
            .first()
            .ok_or_else(|| TrainError::InvalidConfig("no device given".into()))?;
        let parallel: Vec<Device> = if devices.len() > 1 {
            devices.iter().map(|d| d.clone().autodiff()).collect()
        } else {
            Vec::new()
        };
        // Parameters Burn has not materialised yet (a fresh head) draw from the device RNG
        // when first used: seeding here makes a run a function of its seed.
        device.seed(hash64(&[ft.config.seed, 0x5eed]));
        let Finetune {
            mut model,
            train,
            valid,
            out_dir,
            config,
        } = ft;
        let train = train.ok_or_else(|| TrainError::InvalidConfig("no training data".into()))?;
        if train.is_empty() {
            return Err(TrainError::InvalidConfig(
                "the training set is empty".into(),
            ));
        }
        if config.batch_size == 0 {
            return Err(TrainError::InvalidConfig("batch_size must be > 0".into()));
        }
        if config.recipe.stages.is_empty() {
            return Err(TrainError::InvalidConfig("the recipe has no stage".into()));
        }
        for st in &config.recipe.stages {
            if st.epochs == 0 || !st.lr.is_finite() || st.lr <= 0.0 {
                return Err(TrainError::InvalidConfig(format!(
                    "stage '{}' needs epochs ≥ 1 and a finite positive learning rate",
                    st.name
                )));
            }
        }
        if config.precision == Precision::Bf16 {
            if !config.frozen_batchnorm {
                return Err(TrainError::InvalidConfig(
                    "bf16 training needs frozen_batchnorm: BatchNorm statistics would update the per-step bf16 copy".into(),
                ));
            }
            if devices.len() > 1 {
                return Err(TrainError::InvalidConfig(
                    "bf16 training runs on one device (data parallel is f32 only)".into(),
                ));
            }
            check_bf16_support(device)?;
        }
        if config.feature_cache && config.cache_views == 0 {
            return Err(TrainError::InvalidConfig("cache_views must be ≥ 1".into()));
        }
        let (train, valid) = match valid {
            Some(v) => (train, v),
            None => train.stratified_split(config.valid_fraction, config.seed)?,
        };
        if valid.num_classes() != train.num_classes() {
            return Err(TrainError::InvalidConfig(format!(
                "train has {} classes, valid has {}",
                train.num_classes(),
                valid.num_classes()
            )));
        }
        if model.num_classes() != train.num_classes() {
            model.reset_head(train.num_classes(), device);
        }
        let loss = Loss::new(&config.loss, &train.class_counts())?;
        let preprocess = config
            .preprocess
            .clone()
            .unwrap_or_else(|| preprocess_for(&model.pretrained_cfg()));
        preprocess.validate()?;
        let ad = device.clone().autodiff();
        let mut state = resume.clone().unwrap_or_default();
        let mut best = None;
        if let (Some(st), Some(dir)) = (&resume, &out_dir) {
            if let Some(file) = &st.last_model {
                model = load_checkpoint(model, dir.join(file))?;
            }
            if st.best_epoch.is_some() && dir.join("best.bpk").exists() {
                let b = load_checkpoint(model.clone(), dir.join("best.bpk"))?;
                best = Some(b);
            }
            state = st.clone();
        }
        let mut runner = Runner {
            model: Some(model.fork(&ad).train()),
            train: Arc::new(train),
            valid: Arc::new(valid),
            out_dir,
            config,
            device: device.clone(),
            ad,
            parallel,
            state,
            preprocess,
            best: None,
            loss,
            ema: None,
        };
        if let Some(decay) = runner.config.ema_decay {
            let start = match (&resume, &runner.out_dir) {
                (Some(st), Some(dir)) if st.last_ema.is_some() => {
                    let file = st.last_ema.clone().unwrap_or_default();
                    let base = runner.model.as_ref().map(|m| m.valid());
                    match base {
                        Some(b) => Some(load_checkpoint(b, dir.join(file))?),
                        None => None,
                    }
                }
                _ => runner.model.as_ref().map(|m| m.valid()),
            };
            runner.ema = start.map(|m| WeightEma::new(&m, decay));
        }
        if let Some(b) = best {
            let metrics = runner.evaluate(&b.valid())?;
            runner.best = Some((b.valid(), metrics));
        }
        runner.write_manifest()?;
        Ok(runner)
    }

    fn write_manifest(&self) -> Result<()> {
        let Some(dir) = &self.out_dir else {
            return Ok(());
        };
        let data_hash = hash64(
            &self
                .train
                .samples()
                .iter()
                .map(|s| {
                    hash64(&[
                        s.label as u64,
                        kiln_models::parity::fnv1a64(&s.path.to_string_lossy()),
                    ])
                })
                .collect::<Vec<_>>(),
        );
        let manifest = serde_json::json!({
            "kiln_version": env!("CARGO_PKG_VERSION"),
            "arch": self.model.as_ref().map(|m| m.arch().name()),
            "classes": self.train.classes(),
            "train_samples": self.train.len(),
            "valid_samples": self.valid.len(),
            "train_class_counts": self.train.class_counts(),
            "train_data_hash": format!("{data_hash:016x}"),
            "preprocess": self.preprocess,
            "config": self.config,
        });
        let text = serde_json::to_string_pretty(&manifest)
            .map_err(|e| TrainError::InvalidConfig(e.to_string()))?;
        write_atomic(&dir.join("manifest.json"), text.as_bytes())
    }

    fn train_transform(&self) -> Result<Arc<dyn SampleTransform>> {
        Ok(match &self.config.augment {
            Augment::Standard => Arc::new(train_transform(&self.preprocess)),
            Augment::None => Arc::new(eval_transform(&self.preprocess)),
            Augment::PerClass { max_strength } => Arc::new(PerClassTransform::from_class_counts(
                &self.preprocess,
                &self.train.class_counts(),
                *max_strength,
            )?),
        })
    }

    /// The training loader; `for_cache` keeps every sample (no dropped last batch).
    fn train_loader(&self, for_cache: bool) -> Result<DataLoader> {
        let mut cfg = LoaderConfig::train(self.config.batch_size, self.config.seed);
        cfg.mix = self.config.mix;
        // With BatchNorm on batch statistics a last batch of one sample breaks them: drop the
        // incomplete batch (its samples come up in other epochs' orders) when there are full
        // ones.
        cfg.drop_last = !for_cache
            && !self.config.frozen_batchnorm
            && self.train.len() >= self.config.batch_size;
        let loader = DataLoader::from_arc(self.train.clone(), self.train_transform()?, cfg)?;
        let labels = self.train.labels();
        Ok(match &self.config.sampler {
            SamplerKind::Shuffle => loader,
            SamplerKind::ClassBalanced { power } => loader.with_sampler(
                WeightedRandomSampler::class_balanced(&labels, *power, self.config.seed)?,
            ),
            SamplerKind::ClassAware => loader.with_sampler(ClassAwareSampler::new(
                &labels,
                self.train.num_classes(),
                self.config.batch_size,
                self.config.seed,
            )?),
        })
    }

    fn eval_loader(&self, data: Arc<Dataset>) -> Result<DataLoader> {
        let t: Arc<dyn SampleTransform> = Arc::new(eval_transform(&self.preprocess));
        Ok(DataLoader::from_arc(
            data,
            t,
            LoaderConfig::eval(self.config.batch_size.max(16)),
        )?)
    }

    /// Metrics of `model` (eval mode) on the validation set.
    fn evaluate(&self, model: &Backbone) -> Result<Metrics> {
        let k = self.valid.num_classes();
        let mut ev = Evaluator::new(k);
        let loader = self.eval_loader(self.valid.clone())?;
        for batch in loader.epoch(0, &self.device) {
            let batch = batch?;
            let logits = model.forward(batch.images);
            let logits = logits
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .map_err(|e| TrainError::InvalidConfig(format!("{e:?}")))?;
            let labels = targets_host(batch.targets)?;
            ev.update(&logits, &labels)?;
        }
        Ok(ev.compute()?)
    }

    fn run(mut self) -> Result<RunOutcome> {
        let progress = Progress::new(self.config.progress);
        let stages = self.config.recipe.stages.clone();
        let mut model = self
            .model
            .take()
            .ok_or_else(|| TrainError::InvalidConfig("no model".into()))?;
        let mut epochs_this_call = 0usize;
        'stages: while self.state.stage < stages.len() {
            let spec = &stages[self.state.stage];
            let model_stages = model.stages();
            let n = model_stages.len();
            let trainable: Vec<usize> = match spec.unfreeze {
                Unfreeze::Head => vec![n - 1],
                Unfreeze::Last(k) => (n.saturating_sub(1 + k)..n).collect(),
                Unfreeze::All => (0..n).collect(),
            };
            let mult = spec.stage_lr.multipliers(n);
            let mut group = ParamGroup::from_ids(vec![]);
            let mut lr_groups = Vec::new();
            for &i in &trainable {
                group = group.fuse(&model_stages[i].group);
                lr_groups.push((model_stages[i].group.clone(), mult[i]));
            }
            // Frozen stages lose their gradients *and* their BatchNorm training flag, so their
            // running statistics stay exactly as loaded. With frozen BatchNorm the trainable
            // stages get gradients back but keep the flag off.
            model = model.freeze_group(ParamGroup::all());
            model = if self.config.frozen_batchnorm {
                model.set_require_grad_group(group, true)
            } else {
                model.unfreeze_group(group)
            };

            let mut optim: ModuleOptimizer = AdamWConfig::new()
                .with_weight_decay(self.config.recipe.weight_decay as f32)
                .with_epsilon(self.config.recipe.adam_epsilon as f32)
                .init();
            if self.state.epoch_in_stage > 0
                && let (Some(dir), Some(file)) = (&self.out_dir, &self.state.last_optimizer)
            {
                optim = optim
                    .load(dir.join(file))
                    .map_err(|e| TrainError::InvalidConfig(format!("optimizer state: {e}")))?;
            }

            let head_only = spec.unfreeze == Unfreeze::Head && self.config.feature_cache;
            let loader = self.train_loader(head_only)?;
            let cache = if head_only {
                let t = Instant::now();
                let c = FeatureCache::build(
                    &model.valid(),
                    &loader,
                    self.config.cache_views,
                    &self.device,
                )?;
                progress.note(&format!(
                    "[{}] feature cache: {} view(s) of {} images in {:.1}s",
                    spec.name,
                    c.views(),
                    c.len(),
                    t.elapsed().as_secs_f64()
                ));
                Some(c)
            } else {
                None
            };
            let steps_per_epoch = match &cache {
                Some(c) => c.len().div_ceil(self.config.batch_size),
                None => loader.steps_per_epoch(),
            };
            let total = steps_per_epoch * spec.epochs;
            let warmup = (spec.warmup_fraction * total as f64).round() as usize;

            while self.state.epoch_in_stage < spec.epochs {
                let epoch = self.state.global_epoch;
                let started = Instant::now();
                // Dropout and drop-path draw from the device RNG: seeding it per epoch makes a
                // resumed run draw what an uninterrupted one would.
                self.ad
                    .seed(hash64(&[self.config.seed, epoch as u64, 0xd5]));
                self.loss.set_epoch(epoch);
                let bar = progress.epoch(&spec.name, epoch, steps_per_epoch);
                let step0 = self.state.epoch_in_stage * steps_per_epoch;
                let mut acc = StepAcc {
                    ema: self.ema.take(),
                    ..StepAcc::default()
                };
                let ctx = StepCtx {
                    stage: &spec.name,
                    epoch,
                    lr_groups: &lr_groups,
                    schedule: (total, warmup, spec.lr, spec.min_lr_fraction),
                };
                if let Some(cache) = &cache {
                    let mut order: Vec<usize> = (0..cache.len()).collect();
                    Rng::derive(self.config.seed, &[epoch as u64, 0xca]).shuffle(&mut order);
                    let view = self.state.epoch_in_stage % cache.views();
                    for (step, rows) in order.chunks(self.config.batch_size).enumerate() {
                        let (feats, targets) = cache.batch(view, rows, &self.ad);
                        let n = rows.len();
                        let grads = self.loss_grads(model.forward_head(feats), &targets, &model)?;
                        model =
                            self.step(&mut optim, model, grads, n, &ctx, step0 + step, &mut acc)?;
                        bar.step(acc.last, acc.seen);
                    }
                } else {
                    for batch in loader.epoch(epoch, &self.ad) {
                        let batch = batch?;
                        if batch.indices.is_empty() {
                            continue;
                        }
                        let targets = match batch.soft_targets {
                            Some(s) => Targets::Soft(s),
                            None => Targets::Hard(batch.targets),
                        };
                        let n = batch.indices.len();
                        let grads = self.image_grads(&model, batch.images, &targets)?;
                        model = self.step(
                            &mut optim,
                            model,
                            grads,
                            n,
                            &ctx,
                            step0 + batch.step,
                            &mut acc,
                        )?;
                        bar.step(acc.last, acc.seen);
                    }
                }
                bar.finish();
                let train_secs = started.elapsed().as_secs_f64();
                self.ema = acc.ema.take();
                let valid_model = match &self.ema {
                    Some(e) => e.model.clone(),
                    None => model.valid(),
                };
                let metrics = self.evaluate(&valid_model)?;
                let selection = self.config.selection.value(&metrics);
                let record = EpochRecord {
                    epoch,
                    stage: spec.name.clone(),
                    train_loss: if acc.seen > 0 {
                        acc.loss_sum / acc.seen as f64
                    } else {
                        f64::NAN
                    },
                    accuracy: metrics.accuracy,
                    balanced_accuracy: metrics.balanced_accuracy,
                    macro_f1: metrics.macro_f1,
                    log_loss: metrics.log_loss,
                    selection,
                    images_per_s: acc.seen as f64 / train_secs.max(1e-9),
                    seconds: started.elapsed().as_secs_f64(),
                };
                progress.note(&format!(
                    "[{}] epoch {epoch}: loss {:.4}  acc {:.4}  bal-acc {:.4}  macro-F1 {:.4}  {:.1} img/s",
                    spec.name,
                    record.train_loss,
                    record.accuracy,
                    record.balanced_accuracy,
                    record.macro_f1,
                    record.images_per_s
                ));
                let improved = self.state.best_value.is_none_or(|b| selection > b);
                if improved {
                    self.state.best_value = Some(selection);
                    self.state.best_epoch = Some(epoch);
                    self.state.stale_epochs = 0;
                    self.best = Some((valid_model.clone(), metrics));
                } else {
                    self.state.stale_epochs += 1;
                }
                self.state.history.push(record.clone());
                self.state.global_epoch += 1;
                self.state.epoch_in_stage += 1;
                let stage_done = self.state.epoch_in_stage >= spec.epochs;
                if stage_done {
                    self.state.stage += 1;
                    self.state.epoch_in_stage = 0;
                }
                let stop = self
                    .config
                    .early_stopping
                    .is_some_and(|p| self.state.stale_epochs >= p);
                self.state.stopped_early = stop;
                // The raw weights resume a run; the EMA (if any) is saved beside them.
                self.save_epoch(
                    &model.valid(),
                    &record,
                    improved,
                    (!stage_done).then_some(&optim),
                )?;
                if stop {
                    progress.note("early stopping: no improvement");
                    break 'stages;
                }
                epochs_this_call += 1;
                if self
                    .config
                    .stop_after
                    .is_some_and(|n| epochs_this_call >= n)
                {
                    break 'stages;
                }
                if stage_done {
                    break;
                }
            }
        }
        let (best_model, metrics) = match self.best.take() {
            Some(b) => b,
            None => {
                let m = model.valid();
                let metrics = self.evaluate(&m)?;
                (m, metrics)
            }
        };
        let report = RunReport::new(
            best_model.arch().name().to_string(),
            self.valid.classes().to_vec(),
            metrics,
            self.state.history.clone(),
            self.state.best_epoch,
            self.config.selection,
        );
        if let Some(dir) = &self.out_dir {
            report.write(dir)?;
        }
        Ok(RunOutcome {
            model: best_model,
            last: model.valid(),
            report,
        })
    }

    /// Loss of `logits` and its gradients for `module`'s parameters; `None` when the loss is
    /// not finite. Reading the loss back is the one sync per step (the progress bar needs it).
    fn loss_grads(
        &self,
        logits: Tensor<2>,
        targets: &Targets,
        module: &Backbone,
    ) -> Result<Option<(GradientsParams, f32)>> {
        let loss = self.loss.forward(logits, targets)?;
        let Some(value) = loss_value(&loss).ok().filter(|v| v.is_finite()) else {
            return Ok(None);
        };
        Ok(Some((
            GradientsParams::from_grads(loss.backward(), module),
            value,
        )))
    }

    /// Gradients and mean loss of one image batch: on one device, split across the
    /// data-parallel devices, or in bf16 on a per-step copy whose gradients come back to f32
    /// for the master weights (see [`crate::precision`]).
    fn image_grads(
        &self,
        model: &Backbone,
        images: Tensor<4>,
        targets: &Targets,
    ) -> Result<Option<(GradientsParams, f32)>> {
        if !self.parallel.is_empty() {
            let sharded = sharded_grads(model, images, targets, &self.loss, &self.parallel)?;
            return Ok(sharded.map(|s| (s.grads, s.loss)));
        }
        if self.config.precision == Precision::Bf16 {
            let compute = bf16_copy(model);
            let logits = compute
                .forward(images.cast(FloatDType::BF16))
                .cast(FloatDType::F32);
            let grads = self.loss_grads(logits, targets, &compute)?;
            return Ok(grads.map(|(mut g, value)| {
                grads_to_f32(model, &mut g);
                (g, value)
            }));
        }
        self.loss_grads(model.forward(images), targets, model)
    }

    /// Global-norm clipping, per-stage learning rates, AdamW step, EMA, bookkeeping; a
    /// non-finite loss (`grads` is `None`) stops the run with [`TrainError::NonFiniteLoss`].
    #[allow(clippy::too_many_arguments)]
    fn step(
        &self,
        optim: &mut ModuleOptimizer,
        model: Backbone,
        grads: Option<(GradientsParams, f32)>,
        n: usize,
        ctx: &StepCtx<'_>,
        step: usize,
        acc: &mut StepAcc,
    ) -> Result<Backbone> {
        let Some((mut grads, value)) = grads else {
            return Err(TrainError::NonFiniteLoss {
                stage: ctx.stage.to_string(),
                epoch: ctx.epoch,
                step,
            });
        };
        if let Some(max) = self.config.recipe.clip_grad_norm {
            clip_grad_norm(&model, &mut grads, max);
        }
        let (total, warmup, peak, floor) = ctx.schedule;
        let lr = warmup_cosine(step, total, warmup, peak, floor);
        let model = optim.step(stage_learning_rates(lr, ctx.lr_groups), model, grads);
        if let Some(ema) = acc.ema.as_mut() {
            ema.update(&model);
        }
        acc.loss_sum += value as f64 * n as f64;
        acc.seen += n;
        acc.last = value;
        Ok(model)
    }

    fn save_epoch(
        &mut self,
        model: &Backbone,
        record: &EpochRecord,
        improved: bool,
        optim: Option<&ModuleOptimizer>,
    ) -> Result<()> {
        let Some(dir) = self.out_dir.clone() else {
            return Ok(());
        };
        append_jsonl(&dir.join("metrics.jsonl"), record)?;
        let previous = (
            self.state.last_model.take(),
            self.state.last_optimizer.take(),
        );
        let model_file = format!("last-e{:04}.bpk", record.epoch);
        save_checkpoint(model, dir.join(&model_file))?;
        self.state.last_model = Some(model_file);
        let previous_ema = self.state.last_ema.take();
        if let Some(ema) = &self.ema {
            let file = format!("last-e{:04}.ema.bpk", record.epoch);
            save_checkpoint(&ema.model, dir.join(&file))?;
            self.state.last_ema = Some(file);
        }
        if let Some(optim) = optim {
            let file = format!("last-e{:04}.optim.bpk", record.epoch);
            let path = dir.join(&file);
            let tmp = tmp_path(&path);
            optim
                .save(&tmp)
                .map_err(|e| TrainError::InvalidConfig(format!("saving optimizer: {e}")))?;
            std::fs::rename(&tmp, &path).map_err(|source| TrainError::Io { path, source })?;
            self.state.last_optimizer = Some(file);
        }
        if improved && let Some((best, _)) = &self.best {
            save_checkpoint(best, dir.join("best.bpk"))?;
        }
        let text = serde_json::to_string_pretty(&self.state)
            .map_err(|e| TrainError::InvalidConfig(e.to_string()))?;
        write_atomic(&dir.join("state.json"), text.as_bytes())?;
        // Only now, with state.json pointing at the new files, drop the old ones.
        let current = [
            self.state.last_model.clone(),
            self.state.last_optimizer.clone(),
            self.state.last_ema.clone(),
        ];
        for f in [previous.0, previous.1, previous_ema].into_iter().flatten() {
            if !current.iter().any(|c| c.as_ref() == Some(&f)) {
                let _ = std::fs::remove_file(dir.join(f));
            }
        }
        Ok(())
    }
}

struct StepCtx<'a> {
    stage: &'a str,
    epoch: usize,
    lr_groups: &'a [(ParamGroup, f64)],
    /// (total steps, warm-up steps, peak LR, floor fraction)
    schedule: (usize, usize, f64, f64),
}

#[derive(Default)]
struct StepAcc {
    loss_sum: f64,
    seen: usize,
    last: f32,
    ema: Option<WeightEma>,
}

/// Host copy of integer targets.
fn targets_host(t: Tensor<1, Int>) -> Result<Vec<usize>> {
    let v = t
        .into_data()
        .convert::<i64>()
        .try_into_vec::<i64>()
        .map_err(|e| TrainError::InvalidConfig(format!("{e:?}")))?;
    Ok(v.into_iter().map(|x| x.max(0) as usize).collect())
}
