//! The [`Loss`] object: a [`LossConfig`] resolved against the training class counts.

use burn::tensor::{Int, Tensor, TensorData};

use crate::config::{LossConfig, LossKind, Reduction};
use crate::error::LossError;
use crate::functional as f;
use crate::targets::Targets;
use crate::weights::{class_priors, effective_number_weights};

/// A ready-to-use loss. Build it once per run from the config and the training-set class
/// counts; call [`set_epoch`](Self::set_epoch) at the start of each epoch when using deferred
/// re-weighting, and [`forward`](Self::forward) per batch.
///
/// Mean reduction, per loss (these follow PyTorch and the papers):
/// - hard targets with class weights: `Σᵢ ℓᵢ / Σᵢ w_{yᵢ}` (PyTorch's weighted mean), for every
///   loss except focal;
/// - focal: `Σᵢ ℓᵢ / N`, the weights acting as the per-class `α`;
/// - soft targets, or no weights: `Σᵢ ℓᵢ / N` (PyTorch divides by `N` for probability
///   targets even when weighted).
#[derive(Debug, Clone)]
pub struct Loss {
    config: LossConfig,
    num_classes: usize,
    /// Resolved class weights (`None`: uniform).
    weights: Option<Vec<f32>>,
    /// Per-class additive logit offsets (logit adjustment, balanced softmax).
    logit_bias: Option<Vec<f32>>,
    /// Per-class LDAM margins.
    margins: Option<Vec<f32>>,
    epoch: usize,
}

impl Loss {
    /// Builds the loss for a training set with these class counts (`class_counts.len()` is the
    /// number of classes).
    pub fn new(config: &LossConfig, class_counts: &[usize]) -> Result<Self, LossError> {
        config.validate()?;
        let num_classes = class_counts.len();
        if num_classes == 0 {
            return Err(LossError::ClassCounts("no classes".into()));
        }
        let weights = config.class_weights.resolve(class_counts)?;
        let logit_bias = match config.kind {
            LossKind::LogitAdjusted { tau } => Some(log_prior_bias(class_counts, tau)?),
            LossKind::BalancedSoftmax {} => Some(log_prior_bias(class_counts, 1.0)?),
            _ => None,
        };
        let margins = match config.kind {
            LossKind::Ldam { max_margin, .. } => Some(ldam_margins(class_counts, max_margin)?),
            _ => None,
        };
        Ok(Self {
            config: config.clone(),
            num_classes,
            weights,
            logit_bias,
            margins,
            epoch: 0,
        })
    }

    /// Builds a loss that needs no class counts (e.g. plain or explicitly weighted
    /// cross-entropy, focal, GCE). Fails with [`LossError::ClassCounts`] for losses that do.
    pub fn with_num_classes(config: &LossConfig, num_classes: usize) -> Result<Self, LossError> {
        if config.needs_class_counts() {
            return Err(LossError::ClassCounts(format!(
                "{:?} with {:?} weights needs the training class counts",
                config.kind, config.class_weights
            )));
        }
        Self::new(config, &vec![1; num_classes])
    }

    /// The configuration the loss was built from.
    pub fn config(&self) -> &LossConfig {
        &self.config
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Tells the loss which epoch (0-based) is starting; with deferred re-weighting the class
    /// weights switch on once `epoch >= drw_start_epoch`.
    pub fn set_epoch(&mut self, epoch: usize) {
        self.epoch = epoch;
    }

    /// The current epoch.
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// The class weights in force at the current epoch (`None`: uniform).
    pub fn active_class_weights(&self) -> Option<&[f32]> {
        match self.config.drw_start_epoch {
            Some(start) if self.epoch < start => None,
            _ => self.weights.as_deref(),
        }
    }

    /// The LDAM margins, or `None` for other losses.
    pub fn margins(&self) -> Option<&[f32]> {
        self.margins.as_deref()
    }

    /// Loss of `logits` (`[N, K]`) against `targets`: shape `[1]` for mean and sum, `[N]` for
    /// no reduction.
    ///
    /// Checks shapes only (free); class indices and finiteness are not read back from the
    /// device. Use [`forward_checked`](Self::forward_checked) to check them too.
    pub fn forward(&self, logits: Tensor<2>, targets: &Targets) -> Result<Tensor<1>, LossError> {
        let [n, k] = self.check_shapes(&logits, targets)?;
        let device = logits.device();
        let raw = targets.to_probabilities(k, &device);
        let eps = self.config.label_smoothing;
        let t = if eps > 0.0 {
            raw.clone().mul_scalar(1.0 - eps).add_scalar(eps / k as f32)
        } else {
            raw.clone()
        };
        let w1: Option<Tensor<1>> = self
            .active_class_weights()
            .map(|w| Tensor::from_data(TensorData::new(w.to_vec(), [k]), &device));
        let w = w1.clone().map(|w| w.reshape([1, k]));
        let row = |v: &[f32]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [1, k]), &device);

        let per_sample = match self.config.kind {
            LossKind::CrossEntropy {} => f::cross_entropy(logits, f::weighted(t, w.as_ref())),
            LossKind::Focal { gamma } => f::focal(logits, f::weighted(t, w.as_ref()), gamma),
            LossKind::LogitAdjusted { .. } | LossKind::BalancedSoftmax {} => {
                let bias = row(self.logit_bias.as_deref().unwrap_or(&[]));
                f::cross_entropy(logits + bias, f::weighted(t, w.as_ref()))
            }
            LossKind::Ldam { scale, .. } => {
                let margins = row(self.margins.as_deref().unwrap_or(&[]));
                let shifted = (logits - raw * margins).mul_scalar(scale);
                f::cross_entropy(shifted, f::weighted(t, w.as_ref()))
            }
            LossKind::Bootstrapped { lambda, mode } => {
                f::bootstrapped(logits, t, w.as_ref(), lambda, mode)
            }
            LossKind::GeneralizedCrossEntropy { q } => {
                f::generalized_cross_entropy(logits, f::weighted(t, w.as_ref()), q)
            }
            LossKind::SymmetricCrossEntropy { alpha, beta } => {
                f::symmetric_cross_entropy(logits, t, w.as_ref(), alpha, beta)
            }
        };

        Ok(match self.config.reduction {
            Reduction::None => per_sample,
            Reduction::Sum => per_sample.sum(),
            Reduction::Mean => {
                let focal = matches!(self.config.kind, LossKind::Focal { .. });
                match (targets, w1) {
                    (Targets::Hard(idx), Some(w1)) if !focal => {
                        let idx: Tensor<1, Int> = idx.clone().to_device(&device);
                        per_sample.sum() / w1.select(0, idx).sum()
                    }
                    _ => per_sample.sum().div_scalar(n as f32),
                }
            }
        })
    }

    /// [`forward`](Self::forward), after checking on the host that the logits are finite, class
    /// indices are in range and soft targets are probability rows. Each check reads data back
    /// from the device (a sync), so use it while debugging or on untrusted inputs.
    pub fn forward_checked(
        &self,
        logits: Tensor<2>,
        targets: &Targets,
    ) -> Result<Tensor<1>, LossError> {
        self.check_shapes(&logits, targets)?;
        check_logits_finite(&logits)?;
        check_targets(targets, self.num_classes)?;
        self.forward(logits, targets)
    }

    fn check_shapes(&self, logits: &Tensor<2>, targets: &Targets) -> Result<[usize; 2], LossError> {
        let [n, k] = logits.dims();
        if k != self.num_classes {
            return Err(LossError::LogitsShape {
                num_classes: self.num_classes,
                shape: vec![n, k],
            });
        }
        let (expected, shape) = match targets {
            Targets::Hard(t) => (vec![n], t.dims().to_vec()),
            Targets::Soft(t) => (vec![n, k], t.dims().to_vec()),
        };
        if expected != shape {
            return Err(LossError::TargetsShape { expected, shape });
        }
        if n == 0 {
            return Err(LossError::EmptyBatch);
        }
        Ok([n, k])
    }
}

/// `τ · log π_c`, the logit-adjustment offsets.
fn log_prior_bias(class_counts: &[usize], tau: f32) -> Result<Vec<f32>, LossError> {
    Ok(class_priors(class_counts)?
        .iter()
        .map(|p| (f64::from(tau) * p.ln()) as f32)
        .collect())
}

/// LDAM margins `m_c = max_margin · n_c^(−1/4) / max_j n_j^(−1/4)` (counts clipped at 1).
fn ldam_margins(class_counts: &[usize], max_margin: f32) -> Result<Vec<f32>, LossError> {
    // Reuse the count validation of the weight functions.
    effective_number_weights(class_counts, 0.0)?;
    let raw: Vec<f64> = class_counts
        .iter()
        .map(|&c| (c.max(1) as f64).powf(-0.25))
        .collect();
    let max = raw.iter().cloned().fold(0.0, f64::max);
    Ok(raw
        .iter()
        .map(|m| (f64::from(max_margin) * m / max) as f32)
        .collect())
}

/// Checks that logits contain no NaN or infinity (one boolean read back from the device).
pub fn check_logits_finite(logits: &Tensor<2>) -> Result<(), LossError> {
    let finite = logits
        .clone()
        .is_finite()
        .all()
        .try_into_scalar::<bool>()
        .map_err(|e| LossError::Read(format!("{e:?}")))?;
    if finite {
        Ok(())
    } else {
        Err(LossError::NonFinite("logits"))
    }
}

/// Checks class indices (`0 ≤ t < num_classes`) or soft-target rows (finite, ≥ 0, summing to
/// 1 within 1e-3) by reading the targets back to the host.
pub fn check_targets(targets: &Targets, num_classes: usize) -> Result<(), LossError> {
    match targets {
        Targets::Hard(t) => {
            let values = t
                .clone()
                .try_into_vec_as::<i64>()
                .map_err(|e| LossError::Read(format!("{e:?}")))?;
            match values
                .iter()
                .position(|&v| v < 0 || v as u64 >= num_classes as u64)
            {
                None => Ok(()),
                Some(row) => Err(LossError::TargetOutOfRange {
                    row,
                    target: values[row],
                    num_classes,
                }),
            }
        }
        Targets::Soft(t) => {
            let values = t
                .clone()
                .try_into_vec_as::<f32>()
                .map_err(|e| LossError::Read(format!("{e:?}")))?;
            let device = t.device();
            Targets::from_probabilities(&values, num_classes, &device).map(|_| ())
        }
    }
}

/// Reads a reduced loss (`[1]`) back as a number, failing with [`LossError::NonFinite`] when it
/// is NaN or infinite. Training loops read the loss for logging anyway, so this check costs no
/// extra sync and catches divergence at the step where it happens.
pub fn loss_value(loss: &Tensor<1>) -> Result<f32, LossError> {
    if loss.dims()[0] != 1 {
        return Err(LossError::TargetsShape {
            expected: vec![1],
            shape: loss.dims().to_vec(),
        });
    }
    let v = loss
        .clone()
        .try_into_scalar::<f32>()
        .map_err(|e| LossError::Read(format!("{e:?}")))?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(LossError::NonFinite("loss"))
    }
}
