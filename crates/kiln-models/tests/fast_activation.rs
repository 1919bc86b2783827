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

mod batch_norm_act {
    use super::*;
    use burn::module::{Module, Param, RunningState};
    use burn::nn::{BatchNorm, BatchNormConfig};
    use kiln_models::activation::{Act, batch_norm_act};

    fn bn(c: usize, dev: &Device) -> BatchNorm {
        let mut bn = BatchNormConfig::new(c).with_epsilon(1e-3).init(dev);
        let r = |m: f32, s: f32| {
            Tensor::<1>::random([c], Distribution::Normal(m as f64, s as f64), dev)
        };
        bn.gamma = Param::from_tensor(r(1.0, 0.3));
        bn.beta = Param::from_tensor(r(0.0, 0.5));
        bn.running_mean = RunningState::new(r(0.2, 1.0));
        bn.running_var = RunningState::new(r(0.0, 1.0).abs().add_scalar(0.1));
        bn
    }

    fn fixed_bn(dev: &Device) -> BatchNorm {
        let mut bn = BatchNormConfig::new(3).init(dev);
        let t = |v: [f32; 3]| Tensor::<1>::from_floats(v, dev);
        bn.gamma = Param::from_tensor(t([0.7, 1.3, -0.4]));
        bn.beta = Param::from_tensor(t([0.1, -0.6, 0.9]));
        bn.running_mean = RunningState::new(t([0.3, -1.0, 2.0]));
        bn.running_var = RunningState::new(t([0.5, 2.0, 1.5]));
        bn
    }

    fn reference(bn: &BatchNorm, x: Tensor<4>, act: Act) -> Tensor<4> {
        let y = bn.forward(x);
        match act {
            Act::Identity => y,
            Act::Relu => activation::relu(y),
            Act::Relu6 => activation::relu6(y),
            Act::Silu => activation::silu(y),
        }
    }

    const ACTS: [Act; 4] = [Act::Identity, Act::Relu, Act::Relu6, Act::Silu];

    #[test]
    fn inference_matches_batchnorm_then_activation() {
        let dev = Device::flex();
        let bn = bn(6, &dev).valid();
        let x = Tensor::<4>::random([3, 6, 5, 7], Distribution::Normal(0.0, 4.0), &dev);
        for act in ACTS {
            let d = max_diff(
                batch_norm_act(&bn, x.clone(), act),
                reference(&bn, x.clone(), act),
            );
            assert!(d < 2e-5, "{act:?}: {d}");
        }
    }

    #[test]
    fn frozen_statistics_training_gradients_match() {
        let ad = Device::flex().autodiff();
        // Training with BatchNorm on running statistics: the flag off, γ and β trainable.
        let bn = bn(4, &ad)
            .freeze()
            .set_require_grad_group(burn::module::ParamGroup::all(), true);
        assert!(!bn.training.is_enabled());
        let x0 = Tensor::<4>::random([2, 4, 6, 3], Distribution::Normal(0.0, 4.0), &ad);
        let w = Tensor::<4>::random([2, 4, 6, 3], Distribution::Normal(0.0, 1.0), &ad);
        for act in ACTS {
            let x = x0.clone().require_grad();
            let g_fast = (batch_norm_act(&bn, x.clone(), act) * w.clone())
                .sum()
                .backward();
            let g_ref = (reference(&bn, x.clone(), act) * w.clone())
                .sum()
                .backward();
            let pairs = [
                (
                    "x",
                    max_diff(x.grad(&g_fast).unwrap(), x.grad(&g_ref).unwrap()),
                ),
                (
                    "gamma",
                    max_diff(
                        bn.gamma.val().grad(&g_fast).unwrap().reshape([1, 1, 1, 4]),
                        bn.gamma.val().grad(&g_ref).unwrap().reshape([1, 1, 1, 4]),
                    ),
                ),
                (
                    "beta",
                    max_diff(
                        bn.beta.val().grad(&g_fast).unwrap().reshape([1, 1, 1, 4]),
                        bn.beta.val().grad(&g_ref).unwrap().reshape([1, 1, 1, 4]),
                    ),
                ),
            ];
            for (name, d) in pairs {
                assert!(d < 1e-4, "{act:?} d{name}: {d}");
            }
        }
    }

    #[test]
    fn training_batchnorm_matches_burn_in_output_gradients_and_running_statistics() {
        let ad = Device::flex().autodiff();
        for act in ACTS {
            // Two identical BatchNorms (running state is shared between clones, so build twice,
            // from fixed values: the device RNG is shared with concurrently running tests).
            let fused = fixed_bn(&ad);
            let plain = fixed_bn(&ad);
            assert!(fused.training.is_enabled());
            let x0 = Tensor::<4>::random([4, 3, 5, 6], Distribution::Normal(1.0, 2.0), &ad);
            let w = Tensor::<4>::random([4, 3, 5, 6], Distribution::Normal(0.0, 1.0), &ad);
            let x = x0.clone().require_grad();
            let y_fast = batch_norm_act(&fused, x.clone(), act);
            let y_ref = reference(&plain, x.clone(), act);
            let d = max_diff(y_fast.clone(), y_ref.clone());
            assert!(d < 1e-5, "{act:?} output {d}");
            let g_fast = (y_fast * w.clone()).sum().backward();
            let g_ref = (y_ref * w.clone()).sum().backward();
            let dx = max_diff(x.grad(&g_fast).unwrap(), x.grad(&g_ref).unwrap());
            let v = |t: Tensor<1>| t.reshape([1, 1, 1, 3]);
            let dg = max_diff(
                v(fused.gamma.val().grad(&g_fast).unwrap()),
                v(plain.gamma.val().grad(&g_ref).unwrap()),
            );
            let db = max_diff(
                v(fused.beta.val().grad(&g_fast).unwrap()),
                v(plain.beta.val().grad(&g_ref).unwrap()),
            );
            assert!(
                dx < 1e-4 && dg < 1e-3 && db < 1e-3,
                "{act:?}: dx {dx} dγ {dg} dβ {db}"
            );
            let rm = max_diff(v(fused.running_mean.value()), v(plain.running_mean.value()));
            let rv = max_diff(v(fused.running_var.value()), v(plain.running_var.value()));
            assert!(
                rm < 1e-5 && rv < 1e-5,
                "{act:?}: running mean {rm}, var {rv}"
            );
        }
    }
}
