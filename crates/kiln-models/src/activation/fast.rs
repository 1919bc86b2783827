//! A Burn backend extension with fast sigmoid / SiLU kernels for the flex CPU backend.
//!
//! * Flex (f32): `exp` by range reduction to `[-ln2/2, ln2/2]` and a degree-6 polynomial
//!   (relative error below 2e-7), written so the compiler vectorises it, over rayon chunks.
//!   Other dtypes (bf16 training) fall back to burn-flex's own ops.
//! * Autodiff: forward through the flex kernel; backward `g·s·(1−s)` (sigmoid) and
//!   `g·s·(1 + x·(1−s))` (SiLU, recomputing `s` from the saved input), also flex kernels.
//!
//! [`applies`] keeps every other device on Burn's ops, so an unlisted backend never reaches
//! the extension.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::ops::{ActivationOps, FloatTensorOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::{DType, Device, Tensor, TensorData};
use rayon::prelude::*;

/// Elementwise sigmoid and SiLU with their backward passes.
#[backend_extension(Flex, Autodiff)]
pub trait FastActivation: Backend {
    /// `sigmoid(x)`.
    fn fast_sigmoid(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::sigmoid(x)
    }
    /// `grad · s · (1 − s)` for `s = sigmoid(x)`.
    fn fast_sigmoid_backward(s: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::sigmoid_backward(s, grad)
    }
    /// `x · sigmoid(x)`.
    fn fast_silu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let s = Self::sigmoid(x.clone());
        Self::float_mul(x, s)
    }
    /// `grad · s · (1 + x · (1 − s))` for `s = sigmoid(x)`.
    fn fast_silu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        let s = Self::sigmoid(x.clone());
        let one_minus = Self::float_add_scalar(Self::float_neg(s.clone()), 1.0.into());
        let inner = Self::float_add_scalar(Self::float_mul(x, one_minus), 1.0.into());
        Self::float_mul(grad, Self::float_mul(s, inner))
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

// ---------------------------------------------------------------------------------------------
// Flex kernels

/// Elements per rayon task: big enough to amortise scheduling, small enough to balance.
const CHUNK: usize = 1 << 15;

/// `e^x` for f32, vectorisable: `x = n·ln2 + r`, `e^r` by a degree-6 Taylor/Horner polynomial
/// on `|r| ≤ ln2/2`, `2^n` assembled in the exponent bits. Inputs are clamped to
/// `[-87.3, 88.0]` so `2^n` stays a normal float (no infinities, no denormals; beyond the range the
/// result saturates, which moves a sigmoid by less than 1e-38).
#[inline(always)]
fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // 1.5 · 2^23: adding it rounds to the nearest integer in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.0);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    p * scale
}

#[inline(always)]
fn sigmoid_f32(x: f32) -> f32 {
    1.0 / (1.0 + exp_f32(-x))
}

/// A contiguous f32 view of a flex tensor (copying only if it is a strided view).
fn contiguous(x: FloatTensor<Flex>) -> FloatTensor<Flex> {
    match x.layout().contiguous_offsets() {
        Some(_) => x,
        None => x.to_contiguous(),
    }
}

fn values(x: &FloatTensor<Flex>) -> &[f32] {
    let (start, end) = x
        .layout()
        .contiguous_offsets()
        .unwrap_or((0, x.shape().num_elements()));
    &x.storage::<f32>()[start..end]
}

fn map1(x: FloatTensor<Flex>, f: impl Fn(f32) -> f32 + Sync) -> FloatTensor<Flex> {
    let x = contiguous(x);
    let shape = x.shape();
    let src = values(&x);
    let mut out = vec![0f32; src.len()];
    out.par_chunks_mut(CHUNK)
        .zip(src.par_chunks(CHUNK))
        .for_each(|(o, i)| {
            for (o, &v) in o.iter_mut().zip(i) {
                *o = f(v);
            }
        });
    FloatTensor::<Flex>::from_data(TensorData::new(out, shape))
}

fn map2(
    a: FloatTensor<Flex>,
    b: FloatTensor<Flex>,
    f: impl Fn(f32, f32) -> f32 + Sync,
) -> FloatTensor<Flex> {
    let (a, b) = (contiguous(a), contiguous(b));
    let shape = a.shape();
    let (x, y) = (values(&a), values(&b));
    assert_eq!(x.len(), y.len(), "fast activation backward: shape mismatch");
    let mut out = vec![0f32; x.len()];
    out.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK).zip(y.par_chunks(CHUNK)))
        .for_each(|(o, (i, j))| {
            for ((o, &u), &v) in o.iter_mut().zip(i).zip(j) {
                *o = f(u, v);
            }
        });
    FloatTensor::<Flex>::from_data(TensorData::new(out, shape))
}

fn is_f32(x: &FloatTensor<Flex>) -> bool {
    x.dtype() == DType::F32
}

impl FastActivation for Flex {
    fn fast_sigmoid(x: FloatTensor<Self>) -> FloatTensor<Self> {
        if !is_f32(&x) {
            return <Flex as ActivationOps<Flex>>::sigmoid(x);
        }
        map1(x, sigmoid_f32)
    }

    fn fast_sigmoid_backward(s: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        if !is_f32(&s) || !is_f32(&grad) || s.shape() != grad.shape() {
            return <Flex as ActivationOps<Flex>>::sigmoid_backward(s, grad);
        }
        map2(s, grad, |s, g| g * s * (1.0 - s))
    }

    fn fast_silu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        if !is_f32(&x) {
            let s = <Flex as ActivationOps<Flex>>::sigmoid(x.clone());
            return Flex::float_mul(x, s);
        }
        map1(x, |v| v * sigmoid_f32(v))
    }

    fn fast_silu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        if !is_f32(&x) || !is_f32(&grad) || x.shape() != grad.shape() {
            let s = <Flex as ActivationOps<Flex>>::sigmoid(x.clone());
            let one_minus = Flex::float_add_scalar(Flex::float_neg(s.clone()), 1.0.into());
            let inner = Flex::float_add_scalar(Flex::float_mul(x, one_minus), 1.0.into());
            return Flex::float_mul(grad, Flex::float_mul(s, inner));
        }
        map2(x, grad, |x, g| {
            let s = sigmoid_f32(x);
            g * s * (1.0 + x * (1.0 - s))
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Autodiff

impl<B: Backend + FastActivation, C: CheckpointStrategy> FastActivation for Autodiff<B, C> {
    fn fast_sigmoid(x: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct Sigmoid;

        impl<B: Backend + FastActivation> Backward<B, 1> for Sigmoid {
            type State = FloatTensor<B>;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let s = ops.state;
                unary::<B, _>(ops.parents, ops.node, grads, |g| {
                    B::fast_sigmoid_backward(s, g)
                });
            }
        }

        let node = x.node();
        let out = B::fast_sigmoid(x.into_primitive());
        match Sigmoid.prepare::<C>([node]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(out.clone(), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn fast_silu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct Silu;

        impl<B: Backend + FastActivation> Backward<B, 1> for Silu {
            type State = FloatTensor<B>;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let x = ops.state;
                unary::<B, _>(ops.parents, ops.node, grads, |g| {
                    B::fast_silu_backward(x, g)
                });
            }
        }

        let node = x.node();
        let input = x.into_primitive();
        let out = B::fast_silu(input.clone());
        match Silu.prepare::<C>([node]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(input, out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_accurate_over_the_whole_range() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let rel = ((f64::from(exp_f32(x)) - f64::from(x).exp()) / f64::from(x).exp()).abs();
            worst = worst.max(rel);
            x += 0.0137;
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert!(exp_f32(-1000.0) >= 0.0 && exp_f32(1000.0).is_finite());
        assert_eq!(sigmoid_f32(-1000.0).max(0.0), sigmoid_f32(-1000.0));
        assert!((sigmoid_f32(1000.0) - 1.0).abs() < 1e-7);
    }
}
