//! Sigmoid and SiLU, with a fast path on the flex CPU device.
//!
//! burn-flex 0.22 computes `sigmoid` with one scalar `exp` per element on one thread
//! (7.1 ns per element here, `examples/flex_limits.rs`), which made SiLU and
//! squeeze-excitation about 29 % of EfficientNet-B0 inference. With the `flex` feature kiln
//! adds a Burn backend extension ([`fast`]) whose flex kernels evaluate `exp` with a
//! vectorisable polynomial over rayon chunks, and whose autodiff implementation has its own
//! backward. On every other device, dtype or build these functions are Burn's own.

use burn::nn::BatchNorm;
use burn::tensor::Tensor;
use burn::tensor::activation;

#[cfg(feature = "flex")]
pub mod fast;

/// `1 / (1 + e^{-x})`.
pub fn sigmoid<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if fast::applies(&x) {
        return fast::sigmoid(x);
    }
    activation::sigmoid(x)
}

/// SiLU (swish): `x · sigmoid(x)`, fused on the fast path.
pub fn silu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if fast::applies(&x) {
        return fast::silu(x);
    }
    activation::silu(x)
}

/// The activation that follows a BatchNorm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// None.
    Identity,
    /// ReLU.
    Relu,
    /// ReLU6.
    Relu6,
    /// SiLU.
    Silu,
}

/// `act(bn(x))`, same semantics as Burn's `BatchNorm` then the activation. For f32 on flex
/// it is fused: on running statistics (inference, kiln's frozen BatchNorm) one pass instead
/// of five; on batch statistics (training) two passes forward and two backward instead of
/// about ten each way.
pub fn batch_norm_act(bn: &BatchNorm, x: Tensor<4>, act: Act) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if fast::applies(&x) {
        return if x.device().is_autodiff() && bn.training.is_enabled() {
            fast::batch_norm_train_act(bn, x, act)
        } else {
            fast::batch_norm_act(bn, x, act)
        };
    }
    let y = bn.forward(x);
    match act {
        Act::Identity => y,
        Act::Relu => activation::relu(y),
        Act::Relu6 => activation::relu6(y),
        Act::Silu => silu(y),
    }
}
