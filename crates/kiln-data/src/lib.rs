//! kiln-data: the data third of a transfer-learning recipe.
//!
//! * [`source`]: `ImageFolder` (`root/train|val|test/<class>/…`) and CSV manifests →
//!   [`Dataset`] of [`Sample`]s; bad or foreign files are recorded, never silently dropped.
//! * [`decode`]: any JPEG/PNG/BMP/WebP (grey, RGBA, 16-bit, CMYK) → RGB8, fast.
//! * [`transform`]: RandomResizedCrop, flips, colour jitter, resize + centre crop,
//!   RandAugment / TrivialAugment-Wide, RandomErasing, normalisation matched to the
//!   backbone's [`Preprocess`]; presets [`train_transform`] / [`eval_transform`]; per-class
//!   strength for minority classes.
//! * [`split`]: deterministic stratified holdout / k-fold and group-aware versions.
//! * [`sampler`]: shuffle, weighted random, class-aware balanced batches.
//! * [`mix`]: MixUp / CutMix with soft targets.
//! * [`loader`]: parallel, prefetching, reproducible and resumable batches as Burn tensors.
//! * [`audit`]: corrupt files, mode/size outliers, exact and near duplicates, leakage across
//!   splits, label conflicts, class balance — JSON report + text summary.
//! * [`fashion_mnist`]: long-tailed, label-noised ImageFolders from Fashion-MNIST for tests.
//!
//! Library code enables no Burn backend; tensors are created on whatever `Device` the caller
//! passes.
#![deny(missing_docs)]

pub mod audit;
pub mod decode;
pub mod error;
pub mod fashion_mnist;
pub mod loader;
pub mod mix;
pub mod preprocess;
pub mod rng;
pub mod sampler;
pub mod source;
pub mod split;
pub mod transform;

pub use audit::{AuditConfig, AuditReport, audit_datasets, audit_image_folder};
pub use decode::{RgbImage, decode_rgb8};
pub use error::{DataError, Result};
pub use loader::{Batch, DataLoader, HostBatch, LoadFailure, LoaderConfig, OnError};
pub use mix::{MixApplied, MixConfig};
pub use preprocess::{Interpolation, Preprocess};
pub use rng::Rng;
pub use sampler::{
    ClassAwareSampler, Sampler, SequentialSampler, ShuffleSampler, WeightedRandomSampler,
};
pub use source::{Dataset, ImageFolder, OpenOptions, Sample, SkippedFile, Split, Verify};
pub use split::{
    SplitIndices, group_stratified_holdout, group_stratified_kfold, stratified_holdout,
    stratified_kfold,
};
pub use transform::{
    PerClassTransform, SampleTransform, Transform, eval_transform, train_transform,
    train_transform_with_strength,
};
