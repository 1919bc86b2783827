//! Sigmoid and SiLU, with a fast path on the flex CPU device.
//!
//! burn-flex 0.22 computes `sigmoid` with one scalar `exp` per element on one thread
//! (7.1 ns per element here, `examples/flex_limits.rs`), which made SiLU and
//! squeeze-excitation about 29 % of EfficientNet-B0 inference. With the `flex` feature kiln
//! adds a Burn backend extension ([`fast`]) whose flex kernels evaluate `exp` with a
//! vectorisable polynomial over rayon chunks, and whose autodiff implementation has its own
//! backward. On every other device, dtype or build these functions are Burn's own.

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
