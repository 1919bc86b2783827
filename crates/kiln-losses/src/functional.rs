//! The loss formulas, on tensors.
//!
//! Every loss here is written as a per-sample sum over classes,
//! `ℓᵢ = Σ_c w_c · T_ic · φ(z)_ic`, with `T` the (smoothed) target probabilities and `w` the
//! class weights. With one-hot `T` that is `w_y · φ_y`; with label smoothing
//! `T = (1 − ε)·y + ε/K` it reproduces PyTorch's `CrossEntropyLoss(weight, label_smoothing)`
//! exactly, including how the weights enter the smoothing term. All log-probabilities come
//! from `log_softmax` (max-subtracted), so large logits never overflow.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor};

use crate::config::BootstrapMode;

/// Clamp of the target-class probability in the focal modulating factor, as in the usual
/// PyTorch implementation: keeps `(1 − p)^γ` and its gradient finite for `γ < 1`.
const FOCAL_P_EPS: f64 = 1e-6;
/// Reverse cross-entropy: `log 0` is replaced by `log 1e-4` (SCE reference code).
const RCE_LABEL_MIN: f64 = 1e-4;
/// Reverse cross-entropy clamps predicted probabilities below at this value.
const RCE_PRED_MIN: f64 = 1e-7;

/// Per-sample sum over classes: `[N, K] → [N]`.
pub(crate) fn row_sum(x: Tensor<2>) -> Tensor<1> {
    let n = x.dims()[0];
    x.sum_dim(1).reshape([n])
}

/// `T ⊙ w` (broadcast over rows), or `T` when unweighted.
pub(crate) fn weighted(t: Tensor<2>, w: Option<&Tensor<2>>) -> Tensor<2> {
    match w {
        Some(w) => t * w.clone(),
        None => t,
    }
}

/// Cross-entropy per sample: `−Σ_c w_c T_ic log softmax(z)_ic`.
pub(crate) fn cross_entropy(logits: Tensor<2>, tw: Tensor<2>) -> Tensor<1> {
    row_sum(tw * log_softmax(logits, 1).neg())
}

/// Focal loss per sample: `−Σ_c w_c T_ic (1 − p_ic)^γ log p_ic`, with `p` clamped to
/// `[1e-6, 1 − 1e-6]` inside the modulating factor only.
pub(crate) fn focal(logits: Tensor<2>, tw: Tensor<2>, gamma: f32) -> Tensor<1> {
    let logp = log_softmax(logits, 1);
    if gamma == 0.0 {
        return row_sum(tw * logp.neg());
    }
    let p = logp.clone().exp().clamp(FOCAL_P_EPS, 1.0 - FOCAL_P_EPS);
    let modulating = p.neg().add_scalar(1.0).powf_scalar(gamma);
    row_sum(tw * modulating * logp.neg())
}

/// Bootstrapped cross-entropy per sample: cross-entropy against
/// `(1 − λ)·T + λ·ŷ`, with `ŷ` the detached prediction (probabilities or one-hot argmax).
pub(crate) fn bootstrapped(
    logits: Tensor<2>,
    t: Tensor<2>,
    w: Option<&Tensor<2>>,
    lambda: f32,
    mode: BootstrapMode,
) -> Tensor<1> {
    let [n, k] = logits.dims();
    let device = logits.device();
    let logp = log_softmax(logits, 1);
    let prediction = match mode {
        BootstrapMode::Soft => logp.clone().detach().exp(),
        BootstrapMode::Hard => {
            let idx: Tensor<2, Int> = logp.clone().detach().argmax(1);
            Tensor::<2>::zeros([n, k], &device).scatter(
                1,
                idx,
                Tensor::ones([n, 1], &device),
                burn::tensor::IndexingUpdateOp::Assign,
            )
        }
    };
    let target = t.mul_scalar(1.0 - lambda) + prediction.mul_scalar(lambda);
    row_sum(weighted(target, w) * logp.neg())
}

/// Generalized cross-entropy per sample: `Σ_c w_c T_ic (1 − p_ic^q) / q`, with
/// `p^q = exp(q·log p)` for stability.
pub(crate) fn generalized_cross_entropy(logits: Tensor<2>, tw: Tensor<2>, q: f32) -> Tensor<1> {
    let pq = log_softmax(logits, 1).mul_scalar(q).exp();
    row_sum(tw * pq.neg().add_scalar(1.0)).div_scalar(q)
}

/// Symmetric cross-entropy per sample: `α·CE + β·ω·RCE`, with
/// `RCE = −Σ_c clamp(p_c, 1e-7) log clamp(T_c, 1e-4)` and `ω = Σ_c w_c T_c` the sample's
/// weight.
pub(crate) fn symmetric_cross_entropy(
    logits: Tensor<2>,
    t: Tensor<2>,
    w: Option<&Tensor<2>>,
    alpha: f32,
    beta: f32,
) -> Tensor<1> {
    let logp = log_softmax(logits, 1);
    let p = logp.clone().exp().clamp(RCE_PRED_MIN, 1.0);
    let log_label = t.clone().clamp(RCE_LABEL_MIN, 1.0).log();
    let rce = row_sum(p * log_label.neg());
    let tw = weighted(t, w);
    let ce = row_sum(tw.clone() * logp.neg());
    let rce = match w {
        Some(_) => rce * row_sum(tw),
        None => rce,
    };
    ce.mul_scalar(alpha) + rce.mul_scalar(beta)
}
