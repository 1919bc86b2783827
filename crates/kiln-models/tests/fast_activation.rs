//! The flex fast path of sigmoid/SiLU equals Burn's own ops, forward and backward.
#![cfg(feature = "flex")]

use burn::tensor::activation;
use burn::tensor::{Device, Distribution, FloatDType, Tensor};
use kiln_models::activation::{fast, sigmoid, silu};

fn max_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    (a - b).abs().max().into_scalar::<f32>()
}

#[test]
fn forward_matches_burn_on_plain_and_strided_tensors() {
    let dev = Device::flex();
    let x = Tensor::<4>::random([3, 5, 17, 9], Distribution::Normal(0.0, 4.0), &dev);
    assert!(fast::applies(&x));
    assert!(max_diff(sigmoid(x.clone()), activation::sigmoid(x.clone())) < 1e-6);
    assert!(max_diff(silu(x.clone()), activation::silu(x.clone())) < 1e-5);
    // A strided view (transposed and sliced) takes the contiguous copy path.
    let v = x.clone().swap_dims(1, 3).slice([0..3, 2..7, 0..17, 1..4]);
    assert!(max_diff(sigmoid(v.clone()), activation::sigmoid(v.clone())) < 1e-6);
    assert!(max_diff(silu(v.clone()), activation::silu(v)) < 1e-5);
    // Extremes stay finite and in range.
    let e = Tensor::<1>::from_floats([-1e4, -100.0, -20.0, 0.0, 20.0, 100.0, 1e4], &dev);
    let s: Vec<f32> = sigmoid(e)
        .into_data()
        .convert::<f32>()
        .try_into_vec()
        .unwrap();
    assert!(
        s.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)),
        "{s:?}"
    );
    assert!((s[3] - 0.5).abs() < 1e-7);
}

#[test]
fn gradients_match_burn() {
    let ad = Device::flex().autodiff();
    let x = Tensor::<2>::random([64, 257], Distribution::Normal(0.0, 3.0), &ad).require_grad();
    let w = Tensor::<2>::random([64, 257], Distribution::Normal(0.0, 1.0), &ad);

    let grad_of = |f: &dyn Fn(Tensor<2>) -> Tensor<2>| {
        let g = (f(x.clone()) * w.clone()).sum().backward();
        x.grad(&g).unwrap()
    };
    let d_sig = max_diff(
        grad_of(&|t| sigmoid(t)),
        grad_of(&|t| activation::sigmoid(t)),
    );
    let d_silu = max_diff(grad_of(&|t| silu(t)), grad_of(&|t| activation::silu(t)));
    assert!(d_sig < 1e-6, "sigmoid grad {d_sig}");
    assert!(d_silu < 1e-5, "silu grad {d_silu}");
    // Composes with the rest of the graph (second use of x).
    let g = (silu(x.clone()) + x.clone().exp()).sum().backward();
    let reference = (activation::silu(x.clone()) + x.clone().exp())
        .sum()
        .backward();
    let (a, b) = (x.grad(&g).unwrap(), x.grad(&reference).unwrap());
    let scale = b.clone().abs().max().into_scalar::<f32>();
    let d = max_diff(a, b);
    assert!(d <= 1e-6 * scale, "combined grad {d} (scale {scale})");
}

#[test]
fn other_dtypes_fall_back_to_burn() {
    let dev = Device::flex();
    let x =
        Tensor::<2>::random([8, 8], Distribution::Normal(0.0, 2.0), &dev).cast(FloatDType::BF16);
    assert!(!fast::applies(&x));
    let a = sigmoid(x.clone()).cast(FloatDType::F32);
    let b = activation::sigmoid(x).cast(FloatDType::F32);
    assert_eq!(max_diff(a, b), 0.0);
}
