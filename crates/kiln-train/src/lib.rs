//! The fine-tuning recipe, and inference helpers that tie models to data.
//!
//! kiln-train is the one crate that knows all the others: it converts a backbone's
//! [`kiln_models::PretrainedCfg`] into kiln-data's [`kiln_data::Preprocess`], runs the
//! staged recipe with kiln-losses and kiln-metrics, and writes checkpoints and reports.
#![deny(missing_docs)]

pub mod error;
pub mod infer;

pub use error::TrainError;
pub use infer::{
    Prediction, eval_transform_for, imagenet_labels, load_batch, predict_top_k, preprocess_for,
};
