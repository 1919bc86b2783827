//! The data loader: sampler → parallel decode + augment → NCHW batch → Tensor, prefetched.
//!
//! A background thread produces host batches one step ahead into a bounded channel (memory is
//! bounded by `prefetch + 2` batches); each batch is decoded and augmented in parallel with
//! rayon, every sample writing straight into its slice of one `Vec<f32>` NCHW buffer, which
//! becomes the batch tensor with a single `Tensor::from_data`. The order is a function of
//! `(seed, epoch)` and every sample's augmentation of `(seed, epoch, position)`, so batches are
//! identical across runs and thread counts, and [`DataLoader::epoch_from`] resumes mid-epoch
//! with exactly the batches an uninterrupted run would have produced.
//!
//! A file that fails to decode is never silently dropped: with [`OnError::Skip`] the batch
//! omits it and lists it in [`Batch::failures`] (also kept in [`DataLoader::failures`]); with
//! [`OnError::Fail`] the iterator yields the error.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use burn::tensor::{Device, Int, Tensor, TensorData};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::mix::{MixApplied, MixConfig, apply_mix};
use crate::rng::{Rng, tag};
use crate::sampler::{Sampler, SequentialSampler, ShuffleSampler};
use crate::source::Dataset;
use crate::transform::SampleTransform;

/// What to do when a sample cannot be loaded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Leave it out of the batch and record it (the batch is smaller).
    #[default]
    Skip,
    /// Stop: the iterator yields the error.
    Fail,
}

/// Loader settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoaderConfig {
    /// Samples per batch.
    pub batch_size: usize,
    /// Drop the last incomplete batch of an epoch.
    pub drop_last: bool,
    /// Batches prepared ahead by the background thread (0 = load synchronously).
    pub prefetch: usize,
    /// Size of a dedicated rayon pool; `None` uses the global pool (`RAYON_NUM_THREADS`).
    pub threads: Option<usize>,
    /// Seed of the order and of every augmentation.
    pub seed: u64,
    /// With the default sampler: shuffle every epoch (train) or keep file order (eval).
    pub shuffle: bool,
    /// Failure policy.
    pub on_error: OnError,
    /// Optional MixUp/CutMix (produces soft targets).
    pub mix: Option<MixConfig>,
}

impl LoaderConfig {
    /// Training defaults: shuffled, 2 batches prefetched, keep the last partial batch.
    pub fn train(batch_size: usize, seed: u64) -> Self {
        LoaderConfig {
            batch_size,
            drop_last: false,
            prefetch: 2,
            threads: None,
            seed,
            shuffle: true,
            on_error: OnError::Skip,
            mix: None,
        }
    }

    /// Evaluation defaults: file order, 2 batches prefetched.
    pub fn eval(batch_size: usize) -> Self {
        LoaderConfig {
            shuffle: false,
            ..Self::train(batch_size, 0)
        }
    }
}

/// A sample that could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadFailure {
    /// Epoch it happened in.
    pub epoch: usize,
    /// Dataset index.
    pub index: usize,
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

/// A batch on the host: what the worker produces before upload.
#[derive(Clone, Debug)]
pub struct HostBatch {
    /// Epoch.
    pub epoch: usize,
    /// Step within the epoch.
    pub step: usize,
    /// `n × 3 × h × w` values, NCHW.
    pub images: Vec<f32>,
    /// `[n, 3, h, w]`.
    pub shape: [usize; 4],
    /// Class labels (hard targets).
    pub labels: Vec<usize>,
    /// `n × num_classes` soft targets when MixUp/CutMix is configured.
    pub soft_targets: Option<Vec<f32>>,
    /// What MixUp/CutMix did, when configured.
    pub mix: Option<MixApplied>,
    /// Dataset index of each row.
    pub indices: Vec<usize>,
    /// Samples of this step that failed and were left out.
    pub failures: Vec<LoadFailure>,
}

/// A batch on a device.
#[derive(Debug)]
pub struct Batch {
    /// Images `[n, 3, h, w]`.
    pub images: Tensor<4>,
    /// Class labels `[n]`.
    pub targets: Tensor<1, Int>,
    /// Soft targets `[n, num_classes]` (MixUp/CutMix).
    pub soft_targets: Option<Tensor<2>>,
    /// Dataset index of each row.
    pub indices: Vec<usize>,
    /// Samples of this step that failed and were left out.
    pub failures: Vec<LoadFailure>,
    /// Epoch.
    pub epoch: usize,
    /// Step within the epoch.
    pub step: usize,
}

impl HostBatch {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the batch has no sample.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Uploads to `device` (one `from_data` per tensor).
    pub fn into_batch(self, device: &Device) -> Batch {
        let n = self.labels.len();
        let images = Tensor::<4>::from_data(TensorData::new(self.images, self.shape), device);
        let labels: Vec<i64> = self.labels.iter().map(|&l| l as i64).collect();
        let targets = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), device);
        let soft_targets = self.soft_targets.map(|s| {
            let c = s.len().checked_div(n).unwrap_or(0);
            Tensor::<2>::from_data(TensorData::new(s, [n, c]), device)
        });
        Batch {
            images,
            targets,
            soft_targets,
            indices: self.indices,
            failures: self.failures,
            epoch: self.epoch,
            step: self.step,
        }
    }
}

#[derive(Clone)]
struct Core {
    dataset: Arc<Dataset>,
    transform: Arc<dyn SampleTransform>,
    sampler: Arc<dyn Sampler>,
    cfg: LoaderConfig,
    pool: Option<Arc<rayon::ThreadPool>>,
    failures: Arc<Mutex<Vec<LoadFailure>>>,
}

/// Reproducible, resumable, prefetching batch loader.
#[derive(Clone)]
pub struct DataLoader {
    core: Core,
}

impl std::fmt::Debug for DataLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataLoader")
            .field("samples", &self.core.dataset.len())
            .field("cfg", &self.core.cfg)
            .finish()
    }
}

impl DataLoader {
    /// A loader over `dataset` with `transform`; the sampler is a per-epoch shuffle (or the
    /// file order when `cfg.shuffle` is false) until [`DataLoader::with_sampler`].
    pub fn new(
        dataset: Dataset,
        transform: impl SampleTransform + 'static,
        cfg: LoaderConfig,
    ) -> Result<Self> {
        Self::from_arc(Arc::new(dataset), Arc::new(transform), cfg)
    }

    /// Like [`DataLoader::new`] with shared dataset and transform.
    pub fn from_arc(
        dataset: Arc<Dataset>,
        transform: Arc<dyn SampleTransform>,
        cfg: LoaderConfig,
    ) -> Result<Self> {
        if cfg.batch_size == 0 {
            return Err(DataError::InvalidConfig("batch_size must be > 0".into()));
        }
        if let Some(m) = &cfg.mix {
            m.validate()?;
        }
        let [h, w] = transform.output_size();
        if h == 0 || w == 0 {
            return Err(DataError::InvalidConfig(
                "transform output size is 0".into(),
            ));
        }
        let pool = match cfg.threads {
            Some(n) => Some(Arc::new(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .thread_name(|i| format!("kiln-data-{i}"))
                    .build()
                    .map_err(|e| DataError::InvalidConfig(format!("thread pool: {e}")))?,
            )),
            None => None,
        };
        let sampler: Arc<dyn Sampler> = if cfg.shuffle {
            Arc::new(ShuffleSampler::new(dataset.len(), cfg.seed))
        } else {
            Arc::new(SequentialSampler::new(dataset.len()))
        };
        Ok(DataLoader {
            core: Core {
                dataset,
                transform,
                sampler,
                cfg,
                pool,
                failures: Arc::new(Mutex::new(Vec::new())),
            },
        })
    }

    /// Uses `sampler` for the epoch order (weighted, class-aware, …).
    pub fn with_sampler(mut self, sampler: impl Sampler + 'static) -> Self {
        self.core.sampler = Arc::new(sampler);
        self
    }

    /// The dataset.
    pub fn dataset(&self) -> &Dataset {
        &self.core.dataset
    }

    /// The configuration.
    pub fn config(&self) -> &LoaderConfig {
        &self.core.cfg
    }

    /// Number of batches per epoch.
    pub fn steps_per_epoch(&self) -> usize {
        self.core.steps(self.core.sampler.epoch_len())
    }

    /// All load failures so far (across epochs).
    pub fn failures(&self) -> Vec<LoadFailure> {
        self.core
            .failures
            .lock()
            .map(|f| f.clone())
            .unwrap_or_default()
    }

    /// Loads one batch synchronously (the same batch the iterators yield for this step).
    pub fn load_batch(&self, epoch: usize, step: usize) -> Result<HostBatch> {
        let order = self.core.sampler.indices(epoch);
        if step >= self.core.steps(order.len()) {
            return Err(DataError::InvalidConfig(format!(
                "step {step} out of range ({} steps per epoch)",
                self.core.steps(order.len())
            )));
        }
        self.core.load(&order, epoch, step)
    }

    /// Host batches of `epoch` from `start_step` (no device involved).
    pub fn host_epoch(&self, epoch: usize, start_step: usize) -> HostBatches {
        let order = Arc::new(self.core.sampler.indices(epoch));
        let steps = self.core.steps(order.len());
        if self.core.cfg.prefetch == 0 {
            return HostBatches {
                inner: Inner::Sync {
                    core: self.core.clone(),
                    order,
                    epoch,
                    step: start_step,
                    steps,
                    done: false,
                },
            };
        }
        let (tx, rx) = sync_channel(self.core.cfg.prefetch);
        let core = self.core.clone();
        let handle = std::thread::Builder::new()
            .name("kiln-data-prefetch".into())
            .spawn(move || produce(core, order, epoch, start_step, steps, tx));
        match handle {
            Ok(h) => HostBatches {
                inner: Inner::Prefetch {
                    rx: Some(rx),
                    handle: Some(h),
                },
            },
            Err(e) => HostBatches {
                inner: Inner::Failed(Some(DataError::Worker(format!("cannot spawn: {e}")))),
            },
        }
    }

    /// Device batches of `epoch`, from the first step.
    pub fn epoch(&self, epoch: usize, device: &Device) -> Batches {
        self.epoch_from(epoch, 0, device)
    }

    /// Device batches of `epoch` from `start_step` (resume).
    pub fn epoch_from(&self, epoch: usize, start_step: usize, device: &Device) -> Batches {
        Batches {
            host: self.host_epoch(epoch, start_step),
            device: device.clone(),
        }
    }
}

impl Core {
    fn steps(&self, len: usize) -> usize {
        let b = self.cfg.batch_size;
        if self.cfg.drop_last {
            len / b
        } else {
            len.div_ceil(b)
        }
    }

    fn load_one(
        &self,
        epoch: usize,
        position: usize,
        index: usize,
        out: &mut [f32],
    ) -> std::result::Result<(), String> {
        let sample = self.dataset.get(index).ok_or_else(|| {
            format!(
                "sampler produced index {index} beyond {} samples",
                self.dataset.len()
            )
        })?;
        let img = crate::decode::decode_rgb8(&sample.path).map_err(|e| e.to_string())?;
        let mut rng = Rng::for_sample(self.cfg.seed, epoch as u64, position as u64);
        self.transform
            .apply(&img, sample.label, &mut rng, out)
            .map_err(|e| format!("transform: {e}"))
    }

    fn load(&self, order: &[usize], epoch: usize, step: usize) -> Result<HostBatch> {
        let b = self.cfg.batch_size;
        let start = step * b;
        let end = (start + b).min(order.len());
        let idx = &order[start.min(end)..end];
        let [h, w] = self.transform.output_size();
        let per = 3 * h * w;
        let mut images = vec![0f32; idx.len() * per];
        let work = |images: &mut Vec<f32>| -> Vec<Option<String>> {
            images
                .par_chunks_mut(per)
                .zip(idx.par_iter())
                .enumerate()
                .map(|(k, (out, &i))| {
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        self.load_one(epoch, start + k, i, out)
                    }));
                    match r {
                        Ok(Ok(())) => None,
                        Ok(Err(e)) => Some(e),
                        Err(_) => Some("panicked while decoding/transforming".into()),
                    }
                })
                .collect()
        };
        let errors = match &self.pool {
            Some(p) => p.install(|| work(&mut images)),
            None => work(&mut images),
        };
        let mut failures = Vec::new();
        let mut keep = Vec::with_capacity(idx.len());
        for (k, e) in errors.into_iter().enumerate() {
            match e {
                None => keep.push(k),
                Some(reason) => {
                    let path = self
                        .dataset
                        .get(idx[k])
                        .map(|s| s.path.clone())
                        .unwrap_or_default();
                    if self.cfg.on_error == OnError::Fail {
                        return Err(DataError::Decode { path, reason });
                    }
                    failures.push(LoadFailure {
                        epoch,
                        index: idx[k],
                        path,
                        reason,
                    });
                }
            }
        }
        if !failures.is_empty() {
            if let Ok(mut log) = self.failures.lock() {
                log.extend(failures.iter().cloned());
            }
            for (dst, &k) in keep.iter().enumerate() {
                if dst != k {
                    images.copy_within(k * per..(k + 1) * per, dst * per);
                }
            }
            images.truncate(keep.len() * per);
        }
        let indices: Vec<usize> = keep.iter().map(|&k| idx[k]).collect();
        let labels: Vec<usize> = indices
            .iter()
            .map(|&i| self.dataset.get(i).map_or(0, |s| s.label))
            .collect();
        let n = indices.len();
        let shape = [n, 3, h, w];
        let (soft_targets, mix) = match &self.cfg.mix {
            Some(m) if n > 0 => {
                let mut rng = Rng::derive(self.cfg.seed, &[tag::MIX, epoch as u64, step as u64]);
                let (t, a) = apply_mix(
                    m,
                    &mut images,
                    shape,
                    &labels,
                    self.dataset.num_classes(),
                    &mut rng,
                )?;
                (Some(t), Some(a))
            }
            _ => (None, None),
        };
        Ok(HostBatch {
            epoch,
            step,
            images,
            shape,
            labels,
            soft_targets,
            mix,
            indices,
            failures,
        })
    }
}

fn produce(
    core: Core,
    order: Arc<Vec<usize>>,
    epoch: usize,
    start: usize,
    steps: usize,
    tx: SyncSender<Result<HostBatch>>,
) {
    for step in start..steps {
        let r = core.load(&order, epoch, step);
        let stop = r.is_err();
        if matches!(&r, Ok(b) if b.is_empty()) {
            continue; // every sample failed: recorded in the failure log, nothing to train on
        }
        if tx.send(r).is_err() || stop {
            return; // consumer gone, or error delivered
        }
    }
}

enum Inner {
    Sync {
        core: Core,
        order: Arc<Vec<usize>>,
        epoch: usize,
        step: usize,
        steps: usize,
        done: bool,
    },
    Prefetch {
        rx: Option<Receiver<Result<HostBatch>>>,
        handle: Option<JoinHandle<()>>,
    },
    Failed(Option<DataError>),
}

/// Iterator over an epoch's host batches.
pub struct HostBatches {
    inner: Inner,
}

impl Iterator for HostBatches {
    type Item = Result<HostBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            Inner::Sync {
                core,
                order,
                epoch,
                step,
                steps,
                done,
            } => loop {
                if *done || *step >= *steps {
                    return None;
                }
                let r = core.load(order, *epoch, *step);
                *step += 1;
                match r {
                    Ok(b) if b.is_empty() => continue,
                    Ok(b) => return Some(Ok(b)),
                    Err(e) => {
                        *done = true;
                        return Some(Err(e));
                    }
                }
            },
            Inner::Prefetch { rx, handle } => {
                let got = rx.as_ref()?.recv().ok();
                if got.is_none() {
                    // Producer finished (or died): surface a panic as an error.
                    rx.take();
                    if let Some(h) = handle.take()
                        && h.join().is_err()
                    {
                        return Some(Err(DataError::Worker("prefetch thread panicked".into())));
                    }
                }
                got
            }
            Inner::Failed(e) => e.take().map(Err),
        }
    }
}

impl Drop for HostBatches {
    fn drop(&mut self) {
        if let Inner::Prefetch { rx, handle } = &mut self.inner {
            rx.take(); // unblocks the producer's send
            if let Some(h) = handle.take() {
                let _ = h.join();
            }
        }
    }
}

/// Iterator over an epoch's device batches.
pub struct Batches {
    host: HostBatches,
    device: Device,
}

impl Iterator for Batches {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Self::Item> {
        self.host
            .next()
            .map(|r| r.map(|b| b.into_batch(&self.device)))
    }
}
