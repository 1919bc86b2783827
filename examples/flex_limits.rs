//! Minimal reproductions of what limits kiln's speed on the CPU: single burn-flex ops, no
//! kiln code, one JSON line per measurement (median of `--reps` after one warm-up).
//!
//! ```sh
//! RAYON_NUM_THREADS=2 cargo run --release --example flex_limits
//! ```
//!
//! * `elementwise`: sigmoid against relu and add on the same tensor. relu and add are
//!   memory-bound SIMD passes; sigmoid (burn-flex: one scalar `exp` per element) is what SiLU
//!   and squeeze-excitation cost EfficientNet.
//! * `conv_vs_gemm`: a ResNet 3×3 convolution against a matmul with the same FLOPs
//!   (the convolution's im2col gemm shape). The gap is burn-flex's im2col, layout conversion
//!   and output scatter around gemm.
//! * `batchnorm`: inference BatchNorm (four broadcast passes in burn-flex) against one
//!   multiply-add pass, the cost of folding it into the convolution.

use std::time::Instant;

use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};
use clap::Parser;
use kiln::burn;

#[derive(Parser)]
#[command(about = "Time single burn-flex ops that limit kiln on the CPU")]
struct Args {
    /// Timed repetitions per op (median reported).
    #[arg(long, default_value_t = 5)]
    reps: usize,
}

/// Median wall time in ms of `f` (after one warm-up call); `f` must read its result back.
fn median_ms(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..reps.max(1))
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn sync(t: Tensor<4>) {
    // One element read back forces the computation without copying the whole tensor.
    let _ = t.slice([0..1, 0..1, 0..1, 0..1]).into_scalar::<f32>();
}

fn main() {
    let args = Args::parse();
    let dev = Device::flex();
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "default".into());

    // Elementwise: an EfficientNet-B0 stage-1 activation at batch 32 @224 (32×96×112×112).
    let x = Tensor::<4>::random([32, 96, 112, 112], Distribution::Normal(0.0, 1.0), &dev);
    let n = x.shape().num_elements() as f64;
    for (name, op) in [
        (
            "sigmoid",
            &(|t: Tensor<4>| sigmoid(t)) as &dyn Fn(Tensor<4>) -> Tensor<4>,
        ),
        ("relu", &|t: Tensor<4>| relu(t)),
        ("add", &|t: Tensor<4>| t.clone() + t),
        ("exp", &|t: Tensor<4>| t.exp()),
        ("tanh", &|t: Tensor<4>| t.tanh()),
    ] {
        let ms = median_ms(args.reps, || sync(op(x.clone())));
        println!(
            "{{\"case\":\"elementwise\",\"op\":\"{name}\",\"elements\":{n},\"threads\":\"{threads}\",\"median_ms\":{ms:.2},\"ns_per_element\":{:.3}}}",
            ms * 1e6 / n
        );
    }
    drop(x);

    // ResNet layer1 3×3 conv, 64→64 channels, 56×56, batch 16, and the same-FLOP gemm.
    let (b, c, hw, k) = (16usize, 64usize, 56usize, 3usize);
    let input = Tensor::<4>::random([b, c, hw, hw], Distribution::Normal(0.0, 1.0), &dev);
    let weight = Tensor::<4>::random([c, c, k, k], Distribution::Normal(0.0, 0.05), &dev);
    let flops = 2.0 * (b * hw * hw) as f64 * (c * k * k) as f64 * c as f64;
    let conv_ms = median_ms(args.reps, || {
        sync(conv2d(
            input.clone(),
            weight.clone(),
            None,
            ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
        ))
    });
    let lhs = Tensor::<2>::random(
        [b * hw * hw, c * k * k],
        Distribution::Normal(0.0, 1.0),
        &dev,
    );
    let rhs = Tensor::<2>::random([c * k * k, c], Distribution::Normal(0.0, 1.0), &dev);
    let gemm_ms = median_ms(args.reps, || {
        let y = lhs.clone().matmul(rhs.clone());
        let _ = y.slice([0..1, 0..1]).into_scalar::<f32>();
    });
    for (name, ms) in [("conv2d_3x3", conv_ms), ("gemm_same_flops", gemm_ms)] {
        println!(
            "{{\"case\":\"conv_vs_gemm\",\"op\":\"{name}\",\"gflop\":{:.2},\"threads\":\"{threads}\",\"median_ms\":{ms:.2},\"gflop_per_s\":{:.1}}}",
            flops / 1e9,
            flops / 1e6 / ms
        );
    }

    // Inference BatchNorm on the conv output vs one fused multiply-add.
    let y = conv2d(
        input,
        weight,
        None,
        ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
    );
    let per_channel = |v: f64| Tensor::<1>::full([c], v, &dev);
    let (mean, var, gamma, beta) = (
        per_channel(0.1),
        per_channel(2.0),
        per_channel(1.5),
        per_channel(0.2),
    );
    let bn_ms = median_ms(args.reps, || {
        sync(burn::tensor::module::batch_norm(
            y.clone(),
            gamma.clone(),
            beta.clone(),
            mean.clone(),
            var.clone(),
            1e-5,
        ))
    });
    let scale = gamma.clone().reshape([1, c, 1, 1]);
    let shift = beta.clone().reshape([1, c, 1, 1]);
    let fma_ms = median_ms(args.reps, || {
        sync(y.clone() * scale.clone() + shift.clone())
    });
    for (name, ms) in [("batch_norm", bn_ms), ("scale_shift", fma_ms)] {
        println!(
            "{{\"case\":\"batchnorm\",\"op\":\"{name}\",\"elements\":{},\"threads\":\"{threads}\",\"median_ms\":{ms:.2}}}",
            b * c * hw * hw
        );
    }
}
