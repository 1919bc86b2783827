//! Imbalance- and noise-aware classification losses on Burn tensors.
//!
//! - [`LossConfig`] (serde, tagged by `name`) describes the loss; builder methods set the shared
//!   options: `LossConfig::cross_entropy().label_smoothing(0.05).class_weights(ClassWeights::Inverse)`.
//! - [`Loss`] is the config resolved against the training class counts;
//!   [`Loss::forward`]`(logits, &targets)` returns the loss tensor, differentiable on an
//!   autodiff device. [`Loss::set_epoch`] drives deferred re-weighting.
//! - [`Targets`]: class indices or probabilities (MixUp / CutMix via [`Targets::mix`]).
//! - [`ClassWeights`], [`inverse_frequency_weights`], [`effective_number_weights`]: per-class
//!   weights from class counts.
//!
//! Losses: cross-entropy (class weights, label smoothing, soft targets; PyTorch semantics),
//! focal, logit-adjusted / balanced softmax, LDAM with deferred re-weighting, bootstrapped
//! (soft and hard), generalized cross-entropy and symmetric cross-entropy. Every loss works
//! from `log_softmax`, so it is stable for large logits; the tests compare values and
//! gradients with PyTorch.
//!
//! The crate enables no Burn backend: it runs on whatever device the logits live on.
#![deny(missing_docs)]

mod config;
mod error;
mod functional;
mod loss;
mod targets;
mod weights;

pub use config::{BootstrapMode, LossConfig, LossKind, Reduction};
pub use error::LossError;
pub use loss::{Loss, check_logits_finite, check_targets, loss_value};
pub use targets::Targets;
pub use weights::{
    ClassWeights, class_priors, effective_number_weights, inverse_frequency_weights,
};
