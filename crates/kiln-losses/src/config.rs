//! Serializable loss configuration.
//!
//! One [`LossConfig`] describes any loss of the crate; it is flat JSON tagged by `name`, so a
//! run config reads `{"name": "focal", "gamma": 2.0, "class_weights": "inverse"}`. Fields not
//! given take the defaults of the papers the losses come from. The common options (class
//! weights, label smoothing, reduction, deferred re-weighting) sit beside the loss-specific
//! ones and apply to every loss.

use serde::{Deserialize, Serialize};

use crate::error::LossError;
use crate::loss::Loss;
use crate::weights::ClassWeights;

/// How per-sample losses are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Reduction {
    /// Per-sample losses, shape `[N]`.
    None,
    /// Weighted mean, shape `[1]` (see the crate docs for the normaliser of each loss).
    #[default]
    Mean,
    /// Sum, shape `[1]`.
    Sum,
}

/// Bootstrapping flavour (Reed et al., 2015).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BootstrapMode {
    /// Mix the label with the predicted probabilities.
    #[default]
    Soft,
    /// Mix the label with the one-hot of the predicted class.
    Hard,
}

/// The loss function and its own parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
pub enum LossKind {
    /// Cross-entropy (PyTorch `CrossEntropyLoss` semantics).
    ///
    /// (Variants without parameters are written `{}` so that unknown JSON fields — typos of the
    /// shared options — are rejected for them too.)
    CrossEntropy {},
    /// Focal loss (Lin et al., 2017): `−Σ α_c·t_c·(1 − p_c)^γ·log p_c`; down-weights easy,
    /// well-classified samples. `class_weights` act as the per-class `α`.
    Focal {
        /// Focusing parameter `γ ≥ 0`; 0 is cross-entropy.
        #[serde(default = "default_gamma")]
        gamma: f32,
    },
    /// Logit-adjusted cross-entropy (Menon et al., 2021): cross-entropy of `z + τ·log π`, with
    /// `π` the training class priors; the raw logits then estimate a class-balanced posterior.
    LogitAdjusted {
        /// Adjustment strength `τ` (1 is the paper's default).
        #[serde(default = "default_one")]
        tau: f32,
    },
    /// Balanced softmax (Ren et al., 2020): logit adjustment with `τ = 1`.
    BalancedSoftmax {},
    /// Label-distribution-aware margin loss (Cao et al., 2019): subtracts a margin
    /// `m_c ∝ n_c^(−1/4)` from the target logit, larger for rarer classes, then scales.
    /// Usually paired with deferred re-weighting.
    Ldam {
        /// Margin of the rarest class.
        #[serde(default = "default_max_margin")]
        max_margin: f32,
        /// Logit scale `s`. The paper uses 30 with a cosine (normalised) classifier; with a
        /// plain linear head keep 1.
        #[serde(default = "default_one")]
        scale: f32,
    },
    /// Bootstrapped cross-entropy for noisy labels (Reed et al., 2015): the target is
    /// `(1 − λ)·y + λ·ŷ`, with `ŷ` the model's own (detached) prediction.
    Bootstrapped {
        /// Weight `λ ∈ [0, 1]` of the model's prediction.
        #[serde(default = "default_lambda")]
        lambda: f32,
        /// Soft (probabilities) or hard (predicted class) bootstrapping.
        #[serde(default)]
        mode: BootstrapMode,
    },
    /// Generalized cross-entropy (Zhang & Sabuncu, 2018): `(1 − p_y^q) / q`; `q → 0` is
    /// cross-entropy, `q = 1` is MAE (robust to label noise, slow to fit).
    #[serde(alias = "gce")]
    GeneralizedCrossEntropy {
        /// `q ∈ (0, 1]`.
        #[serde(default = "default_q")]
        q: f32,
    },
    /// Symmetric cross-entropy (Wang et al., 2019): `α·CE + β·RCE`, where the reverse
    /// cross-entropy `−Σ p_c·log y_c` uses `log 0 := log 1e-4` as the reference code does.
    #[serde(alias = "sce")]
    SymmetricCrossEntropy {
        /// Weight of the cross-entropy term.
        #[serde(default = "default_sce_alpha")]
        alpha: f32,
        /// Weight of the reverse cross-entropy term.
        #[serde(default = "default_one")]
        beta: f32,
    },
}

fn default_gamma() -> f32 {
    2.0
}
fn default_one() -> f32 {
    1.0
}
fn default_max_margin() -> f32 {
    0.5
}
fn default_lambda() -> f32 {
    0.05
}
fn default_q() -> f32 {
    0.7
}
fn default_sce_alpha() -> f32 {
    0.1
}

/// A complete loss configuration: the loss and the options shared by all losses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossConfig {
    /// The loss and its parameters (flattened: `name` plus the loss's fields).
    #[serde(flatten)]
    pub kind: LossKind,
    /// Per-class weights, resolved from the class counts.
    #[serde(default)]
    pub class_weights: ClassWeights,
    /// Label smoothing `ε ∈ [0, 1)`: targets become `(1 − ε)·y + ε/K`.
    #[serde(default)]
    pub label_smoothing: f32,
    /// How per-sample losses are combined.
    #[serde(default)]
    pub reduction: Reduction,
    /// Deferred re-weighting (Cao et al., 2019): class weights are ignored before this epoch
    /// and applied from it on (see [`Loss::set_epoch`]). `None` applies them from the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drw_start_epoch: Option<usize>,
}

impl LossConfig {
    /// A configuration with default shared options.
    pub fn new(kind: LossKind) -> Self {
        Self {
            kind,
            class_weights: ClassWeights::None,
            label_smoothing: 0.0,
            reduction: Reduction::Mean,
            drw_start_epoch: None,
        }
    }

    /// Cross-entropy.
    pub fn cross_entropy() -> Self {
        Self::new(LossKind::CrossEntropy {})
    }

    /// Focal loss with focusing parameter `gamma`.
    pub fn focal(gamma: f32) -> Self {
        Self::new(LossKind::Focal { gamma })
    }

    /// Logit-adjusted cross-entropy with strength `tau`.
    pub fn logit_adjusted(tau: f32) -> Self {
        Self::new(LossKind::LogitAdjusted { tau })
    }

    /// Balanced softmax.
    pub fn balanced_softmax() -> Self {
        Self::new(LossKind::BalancedSoftmax {})
    }

    /// LDAM with the given largest margin and logit scale.
    pub fn ldam(max_margin: f32, scale: f32) -> Self {
        Self::new(LossKind::Ldam { max_margin, scale })
    }

    /// Bootstrapped cross-entropy.
    pub fn bootstrapped(lambda: f32, mode: BootstrapMode) -> Self {
        Self::new(LossKind::Bootstrapped { lambda, mode })
    }

    /// Generalized cross-entropy with exponent `q`.
    pub fn generalized_cross_entropy(q: f32) -> Self {
        Self::new(LossKind::GeneralizedCrossEntropy { q })
    }

    /// Symmetric cross-entropy `alpha·CE + beta·RCE`.
    pub fn symmetric_cross_entropy(alpha: f32, beta: f32) -> Self {
        Self::new(LossKind::SymmetricCrossEntropy { alpha, beta })
    }

    /// Sets label smoothing.
    pub fn label_smoothing(mut self, epsilon: f32) -> Self {
        self.label_smoothing = epsilon;
        self
    }

    /// Sets the class weights.
    pub fn class_weights(mut self, weights: ClassWeights) -> Self {
        self.class_weights = weights;
        self
    }

    /// Sets the reduction.
    pub fn reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    /// Applies the class weights only from epoch `start_epoch` on (deferred re-weighting).
    pub fn deferred_reweighting(mut self, start_epoch: usize) -> Self {
        self.drw_start_epoch = Some(start_epoch);
        self
    }

    /// Builds the loss for a training set with these class counts.
    pub fn build(&self, class_counts: &[usize]) -> Result<Loss, LossError> {
        Loss::new(self, class_counts)
    }

    /// Whether building this loss needs the real class counts.
    pub fn needs_class_counts(&self) -> bool {
        self.class_weights.needs_counts()
            || matches!(
                self.kind,
                LossKind::LogitAdjusted { .. }
                    | LossKind::BalancedSoftmax {}
                    | LossKind::Ldam { .. }
            )
    }

    /// Checks every parameter range.
    pub fn validate(&self) -> Result<(), LossError> {
        let bad = |msg: String| Err(LossError::InvalidConfig(msg));
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return bad(format!(
                "label_smoothing must be in [0, 1), got {}",
                self.label_smoothing
            ));
        }
        if let ClassWeights::EffectiveNumber { beta } = self.class_weights
            && !(0.0..1.0).contains(&beta)
        {
            return bad(format!(
                "effective-number beta must be in [0, 1), got {beta}"
            ));
        }
        match self.kind {
            LossKind::CrossEntropy {} | LossKind::BalancedSoftmax {} => Ok(()),
            LossKind::Focal { gamma } if !(gamma.is_finite() && gamma >= 0.0) => {
                bad(format!("focal gamma must be finite and >= 0, got {gamma}"))
            }
            LossKind::LogitAdjusted { tau } if !tau.is_finite() => {
                bad(format!("logit-adjustment tau must be finite, got {tau}"))
            }
            LossKind::Ldam { max_margin, scale }
                if !(max_margin.is_finite()
                    && max_margin >= 0.0
                    && scale.is_finite()
                    && scale > 0.0) =>
            {
                bad(format!(
                    "LDAM needs max_margin >= 0 and scale > 0, got {max_margin}, {scale}"
                ))
            }
            LossKind::Bootstrapped { lambda, .. } if !(0.0..=1.0).contains(&lambda) => bad(
                format!("bootstrapping lambda must be in [0, 1], got {lambda}"),
            ),
            LossKind::GeneralizedCrossEntropy { q } if !(q > 0.0 && q <= 1.0) => {
                bad(format!("GCE q must be in (0, 1], got {q}"))
            }
            LossKind::SymmetricCrossEntropy { alpha, beta }
                if !(alpha.is_finite() && alpha >= 0.0 && beta.is_finite() && beta >= 0.0) =>
            {
                bad(format!(
                    "SCE alpha and beta must be finite and >= 0, got {alpha}, {beta}"
                ))
            }
            _ => Ok(()),
        }
    }
}
