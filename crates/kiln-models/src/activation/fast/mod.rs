//! A Burn backend extension with fused elementwise kernels for the flex CPU backend:
//! sigmoid, SiLU and BatchNorm + activation.
//!
//! * [`FastActivation`] is the extension (forward ops, with composed defaults);
//!   [`FastBackward`] holds the backward kernels the autodiff implementation calls.
//! * `flex.rs`: the f32 kernels — `exp` by range reduction and a degree-6 polynomial
//!   (relative error below 3e-7), written so the compiler vectorises it, over rayon chunks;
//!   other dtypes (bf16 training) fall back to burn-flex's own ops.
//! * `autodiff.rs`: forward through the inner backend, backward through [`FastBackward`].
//!
//! [`applies`] keeps every other device on Burn's ops, so an unlisted backend never reaches
//! the extension.

mod autodiff;
mod flex;

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, backend_extension};
use burn::nn::BatchNorm;
use burn::tensor::{DType, Device, Tensor};

/// Fused elementwise ops; forward only (the backward kernels are [`FastBackward`]).
#[backend_extension(Flex, Autodiff)]
pub trait FastActivation: Backend {
    /// `sigmoid(x)`.
    fn fast_sigmoid(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::sigmoid(x)
    }
    /// `x · sigmoid(x)`.
    fn fast_silu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        composed::silu::<Self>(x)
    }
    /// `act(x · a + b)` with per-channel `a`, `b` of shape `[C]` on `x: [N, C, H, W]` — an
    /// inference-mode BatchNorm folded to scale and shift, plus its activation ([`act_code`]).
    fn fast_bn_act(
        x: FloatTensor<Self>,
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        act: u8,
    ) -> FloatTensor<Self> {
        composed::bn_act::<Self>(x, a, b, act)
    }
    /// Training-mode BatchNorm (batch statistics) followed by `act`: `(output, batch mean,
    /// biased batch variance)`, the statistics as constants for the running averages.
    fn fast_bn_train_act(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        act: u8,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        composed::bn_train_act::<Self>(x, gamma, beta, epsilon, act)
    }
}

/// The ops composed from a backend's own operations: the extension's defaults, and the
/// flex kernels' fallback for dtypes and shapes they do not handle.
mod composed {
    use burn::backend::Backend;
    use burn::backend::TensorMetadata;
    use burn::backend::tensor::FloatTensor;
    use burn::tensor::Shape;

    use super::{ACT_RELU, ACT_RELU6, ACT_SILU};

    /// `act(z)`.
    pub fn activate<B: Backend>(z: FloatTensor<B>, act: u8) -> FloatTensor<B> {
        match act {
            ACT_RELU => B::relu(z),
            ACT_RELU6 => B::float_clamp(z, 0.0.into(), 6.0.into()),
            ACT_SILU => silu::<B>(z),
            _ => z,
        }
    }

    /// `x · sigmoid(x)`.
    pub fn silu<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
        let s = B::sigmoid(x.clone());
        B::float_mul(x, s)
    }

    /// `grad · s · (1 + x · (1 − s))` for `s = sigmoid(x)`.
    pub fn silu_backward<B: Backend>(x: FloatTensor<B>, grad: FloatTensor<B>) -> FloatTensor<B> {
        let s = B::sigmoid(x.clone());
        let one_minus = B::float_add_scalar(B::float_neg(s.clone()), 1.0.into());
        let inner = B::float_add_scalar(B::float_mul(x, one_minus), 1.0.into());
        B::float_mul(grad, B::float_mul(s, inner))
    }

    /// `act(x · a + b)`, `a` and `b` per channel.
    pub fn bn_act<B: Backend>(
        x: FloatTensor<B>,
        a: FloatTensor<B>,
        b: FloatTensor<B>,
        act: u8,
    ) -> FloatTensor<B> {
        let shape = x.shape();
        let per_channel = |v: FloatTensor<B>| {
            let c = v.shape().num_elements();
            B::float_expand(B::float_reshape(v, Shape::new([1, c, 1, 1])), shape.clone())
        };
        let z = B::float_add(B::float_mul(x, per_channel(a)), per_channel(b));
        activate::<B>(z, act)
    }

    /// Burn's training BatchNorm, then `act`.
    pub fn bn_train_act<B: Backend>(
        x: FloatTensor<B>,
        gamma: FloatTensor<B>,
        beta: FloatTensor<B>,
        epsilon: f64,
        act: u8,
    ) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
        let r = B::batch_norm_train(x, gamma, beta, epsilon);
        (activate::<B>(r.output, act), r.mean, r.variance)
    }
}

/// Backward kernels of [`FastActivation`], run by its autodiff implementation on the inner
/// backend.
pub trait FastBackward: Backend {
    /// `grad · s · (1 − s)` for `s = sigmoid(x)`.
    fn sigmoid_backward_fast(s: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self>;
    /// `grad · s · (1 + x · (1 − s))` for `s = sigmoid(x)`.
    fn silu_backward_fast(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self>;
    /// Gradients `(dx, da, db)` of `act(x · a + b)`.
    fn bn_act_backward_fast(
        x: FloatTensor<Self>,
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        act: u8,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
    /// Gradients `(dx, dγ, dβ)` of [`FastActivation::fast_bn_train_act`]'s output.
    #[allow(clippy::too_many_arguments)]
    fn bn_train_act_backward_fast(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        grad: FloatTensor<Self>,
        act: u8,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// No activation.
pub const ACT_IDENTITY: u8 = 0;
/// ReLU.
pub const ACT_RELU: u8 = 1;
/// ReLU6.
pub const ACT_RELU6: u8 = 2;
/// SiLU.
pub const ACT_SILU: u8 = 3;

/// The code of an activation for [`FastActivation::fast_bn_act`].
pub fn act_code(act: super::Act) -> u8 {
    match act {
        super::Act::Identity => ACT_IDENTITY,
        super::Act::Relu => ACT_RELU,
        super::Act::Relu6 => ACT_RELU6,
        super::Act::Silu => ACT_SILU,
    }
}

/// Whether `x` takes the fast path: a float32 tensor on the flex device (plain or autodiff),
/// unless the environment variable `KILN_FAST_ACTIVATION=0` turns the path off (for A/B
/// timing and debugging).
pub fn applies<const D: usize>(x: &Tensor<D>) -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let enabled =
        *ENABLED.get_or_init(|| std::env::var("KILN_FAST_ACTIVATION").map_or(true, |v| v != "0"));
    enabled && x.dtype() == DType::F32 && x.device().inner() == Device::flex()
}

/// [`FastActivation::fast_sigmoid`] on a tensor.
pub fn sigmoid<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as FastActivation>::fast_sigmoid(
        x.into_dispatch(),
    ))
}

/// [`FastActivation::fast_silu`] on a tensor.
pub fn silu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as FastActivation>::fast_silu(x.into_dispatch()))
}

/// `act(bn(x))` for a BatchNorm in training mode (batch statistics), fused: one statistics
/// pass, one output pass, two backward passes (Burn's generic path makes about ten, with two
/// transposed copies). The running statistics are updated exactly as Burn's `BatchNorm` does.
pub fn batch_norm_train_act(bn: &BatchNorm, x: Tensor<4>, act: super::Act) -> Tensor<4> {
    let device = x.device();
    let (y, mean, variance) = <Dispatch as FastActivation>::fast_bn_train_act(
        x.into_dispatch(),
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
        bn.epsilon,
        act_code(act),
    );
    let (mean, variance) = (
        Tensor::<1>::from_dispatch(mean),
        Tensor::<1>::from_dispatch(variance),
    );
    let m = bn.momentum;
    let running_mean = bn
        .running_mean
        .value_sync()
        .to_device(&device)
        .mul_scalar(1.0 - m)
        .add(mean.detach().mul_scalar(m));
    let running_var = bn
        .running_var
        .value_sync()
        .to_device(&device)
        .mul_scalar(1.0 - m)
        .add(variance.detach().mul_scalar(m));
    bn.running_mean.update(running_mean.detach());
    bn.running_var.update(running_var.detach());
    Tensor::from_dispatch(y)
}

/// `act(bn(x))` for a BatchNorm on its running statistics, in one pass: the statistics fold
/// into a per-channel scale `γ/√(var+ε)` and shift `β − mean·scale` (small tensor ops, so `γ`
/// and `β` still get their gradients), then [`FastActivation::fast_bn_act`].
pub fn batch_norm_act(bn: &BatchNorm, x: Tensor<4>, act: super::Act) -> Tensor<4> {
    let device = x.device();
    let mean = bn.running_mean.value().to_device(&device);
    let var = bn.running_var.value().to_device(&device);
    let scale = bn.gamma.val() * var.add_scalar(bn.epsilon).sqrt().recip();
    let shift = bn.beta.val() - mean * scale.clone();
    Tensor::from_dispatch(<Dispatch as FastActivation>::fast_bn_act(
        x.into_dispatch(),
        scale.into_dispatch(),
        shift.into_dispatch(),
        act_code(act),
    ))
}
