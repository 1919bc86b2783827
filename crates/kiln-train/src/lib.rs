//! The fine-tuning recipe, and inference helpers that tie models to data.
//!
//! kiln-train is the one crate that knows all the others: it converts a backbone's
//! [`kiln_models::PretrainedCfg`] into kiln-data's [`kiln_data::Preprocess`], runs the
//! staged recipe ([`Recipe`]: linear probe on cached features → gradual unfreeze → full
//! fine-tune) with kiln-losses and kiln-metrics, and writes atomic checkpoints, a JSONL log
//! and a report.
#![deny(missing_docs)]

pub mod adapt;
pub mod cache;
pub mod checkpoint;
pub mod ema;
pub mod error;
pub mod finetune;
pub mod infer;
pub mod noise;
pub mod optim;
pub mod parallel;
pub mod precision;
pub mod progress;
pub mod recipe;
pub mod report;
pub mod schedule;
pub mod tta;

pub use adapt::adapt_batchnorm;
pub use error::TrainError;
pub use finetune::{Augment, Finetune, FinetuneConfig, RunOutcome, SamplerKind};
pub use infer::{
    Prediction, eval_transform_for, imagenet_labels, load_batch, predict_top_k, preprocess_for,
};
pub use noise::{LabelIssue, NoiseReport, find_label_issues};
pub use precision::Precision;
pub use recipe::{Recipe, StageLr, StageSpec, Unfreeze};
pub use report::RunReport;
pub use tta::{Tta, predict_tta, predict_tta_with, tta_views};
