//! The GPU path, tested for real: a few training steps of ResNet-18 on `Device::wgpu` (here
//! Mesa's software Vulkan, lavapipe, which `.ci/run` installs) agree with the flex CPU
//! device in loss and gradients.
#![cfg(feature = "wgpu")]

use std::sync::Mutex;

use burn::module::{Module, ModuleVisitor, Param, ParamGroup};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{DeviceKind, Distribution, Int, TensorData};
use kiln::losses::{Loss, LossConfig, Targets};
use kiln::prelude::*;

/// The tests seed the shared flex device's RNG and initialise models from it: one at a time.
static SEEDED: Mutex<()> = Mutex::new(());

/// Gradients of every parameter, flattened in visit order.
struct GradDump<'a> {
    grads: &'a GradientsParams,
    out: Vec<f32>,
}

impl ModuleVisitor for GradDump<'_> {
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(p.id) {
            self.out.extend(
                g.into_data()
                    .convert::<f32>()
                    .try_into_vec::<f32>()
                    .unwrap(),
            );
        }
    }
}

/// Forces every lazily initialised parameter to exist (on the device it was created for).
struct Materialize;

impl ModuleVisitor for Materialize {
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
        let _ = p.val();
    }
}

fn steps(device: &Device, images: &TensorData, labels: &[i64]) -> (Vec<f32>, Vec<f32>) {
    let ad = device.clone().autodiff();
    let cpu = Device::flex();
    cpu.seed(3);
    // Same initial weights on both devices: created and initialised on the CPU (Burn
    // initialises parameters lazily, on whatever device they are first used), then copied.
    let model = create("resnet18", 3, &cpu).unwrap();
    model.visit(&mut Materialize);
    let mut model = model.fork(&ad).train();
    let loss_fn = Loss::new(&LossConfig::cross_entropy(), &[4, 4, 4]).unwrap();
    let mut optim = AdamWConfig::new().with_epsilon(1e-8).init();
    let mut losses = Vec::new();
    let mut first_grads = Vec::new();
    for step in 0..3 {
        let x = Tensor::<4>::from_data(images.clone(), &ad);
        let y = Tensor::<1, Int>::from_data(TensorData::new(labels.to_vec(), [labels.len()]), &ad);
        let loss = loss_fn
            .forward(model.forward(x), &Targets::Hard(y))
            .unwrap();
        losses.push(loss.clone().into_scalar::<f32>());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        if step == 0 {
            let mut dump = GradDump {
                grads: &grads,
                out: Vec::new(),
            };
            model.visit(&mut dump);
            first_grads = dump.out;
        }
        model = optim.step(1e-3, model, grads);
    }
    (losses, first_grads)
}

#[test]
fn resnet18_training_steps_on_wgpu_match_flex() {
    let _one_at_a_time = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    let cpu = Device::flex();
    cpu.seed(11);
    let images =
        Tensor::<4>::random([6, 3, 32, 32], Distribution::Normal(0.0, 1.0), &cpu).into_data();
    let labels = [0i64, 1, 2, 0, 1, 2];
    let (l_cpu, g_cpu) = steps(&cpu, &images, &labels);
    let (l_gpu, g_gpu) = steps(&Device::wgpu(DeviceKind::DefaultDevice), &images, &labels);
    eprintln!("losses flex {l_cpu:?} wgpu {l_gpu:?}");
    for (a, b) in l_cpu.iter().zip(&l_gpu) {
        assert!(
            (a - b).abs() < 1e-3 * a.abs().max(1.0),
            "loss flex {a} vs wgpu {b}"
        );
    }
    assert_eq!(g_cpu.len(), g_gpu.len());
    let scale = g_cpu.iter().fold(0f32, |m, g| m.max(g.abs()));
    let diff = g_cpu
        .iter()
        .zip(&g_gpu)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    eprintln!("max |Δgrad| {diff:.3e} (max |grad| {scale:.3e})");
    assert!(
        diff <= 1e-3 * scale,
        "gradients differ by {diff} (scale {scale})"
    );
}

/// Data parallel across two different backends: half of the batch on the flex CPU device,
/// half on wgpu; the summed gradients equal one device's gradients of the whole batch.
#[test]
fn data_parallel_across_flex_and_wgpu_gives_the_whole_batch_gradient() {
    let _one_at_a_time = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    let cpu = Device::flex();
    cpu.seed(5);
    let flex_ad = cpu.clone().autodiff();
    let wgpu_ad = Device::wgpu(DeviceKind::DefaultDevice).autodiff();
    let model = create("resnet18", 3, &cpu).unwrap();
    model.visit(&mut Materialize);
    // BatchNorm on its running statistics (kiln's default, frozen BatchNorm): shards see the
    // same normalisation as the whole batch.
    let model = model
        .fork(&flex_ad)
        .train()
        .freeze_group(ParamGroup::all())
        .set_require_grad_group(ParamGroup::all(), true);
    let x = Tensor::<4>::random([6, 3, 32, 32], Distribution::Normal(0.0, 1.0), &flex_ad);
    let y = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1, 2, 2, 1, 0], [6]), &flex_ad);
    let targets = Targets::Hard(y);
    let loss_fn = Loss::new(&LossConfig::cross_entropy(), &[2, 2, 2]).unwrap();

    let whole = loss_fn.forward(model.forward(x.clone()), &targets).unwrap();
    let whole_value = whole.clone().into_scalar::<f32>();
    let grads = GradientsParams::from_grads(whole.backward(), &model);
    let mut single = GradDump {
        grads: &grads,
        out: Vec::new(),
    };
    model.visit(&mut single);

    let sharded = kiln::train::parallel::sharded_grads(
        &model,
        x,
        &targets,
        &loss_fn,
        &[flex_ad.clone(), wgpu_ad],
    )
    .unwrap()
    .expect("finite loss");
    let mut parallel = GradDump {
        grads: &sharded.grads,
        out: Vec::new(),
    };
    model.visit(&mut parallel);

    assert!((whole_value - sharded.loss).abs() < 1e-4 * whole_value.max(1.0));
    assert_eq!(single.out.len(), parallel.out.len());
    let scale = single.out.iter().fold(0f32, |m, g| m.max(g.abs()));
    let diff = single
        .out
        .iter()
        .zip(&parallel.out)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    eprintln!("data parallel flex+wgpu: max |Δgrad| {diff:.3e} (max |grad| {scale:.3e})");
    assert!(scale > 0.0);
    assert!(
        diff <= 1e-3 * scale,
        "gradients differ by {diff} (scale {scale})"
    );
}

/// bf16 on the GPU path: either the adapter runs it (then a bf16 step's loss is close to the
/// f32 one) or kiln says so with a typed error before training starts.
#[test]
fn bf16_on_wgpu_runs_or_is_refused_cleanly() {
    let _one_at_a_time = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    let gpu = Device::wgpu(DeviceKind::DefaultDevice);
    match kiln::train::precision::check_bf16_support(&gpu) {
        Err(e) => {
            eprintln!("wgpu bf16: refused: {e}");
            assert!(e.to_string().contains("bf16"));
        }
        Ok(()) => {
            let cpu = Device::flex();
            cpu.seed(9);
            let ad = gpu.clone().autodiff();
            let model = create("resnet18", 3, &cpu).unwrap();
            model.visit(&mut Materialize);
            let model = model
                .fork(&ad)
                .train()
                .freeze_group(ParamGroup::all())
                .set_require_grad_group(ParamGroup::all(), true);
            let x = Tensor::<4>::random([4, 3, 32, 32], Distribution::Normal(0.0, 1.0), &ad);
            let y = Targets::Hard(Tensor::<1, Int>::from_data(
                TensorData::new(vec![0i64, 1, 2, 0], [4]),
                &ad,
            ));
            let loss_fn = Loss::new(&LossConfig::cross_entropy(), &[2, 1, 1]).unwrap();
            let full = loss_fn
                .forward(model.forward(x.clone()), &y)
                .unwrap()
                .into_scalar::<f32>();
            let copy = kiln::train::precision::bf16_copy(&model);
            let half = loss_fn
                .forward(
                    copy.forward(x.cast(burn::tensor::FloatDType::BF16))
                        .cast(burn::tensor::FloatDType::F32),
                    &y,
                )
                .unwrap()
                .into_scalar::<f32>();
            eprintln!("wgpu bf16: loss f32 {full} bf16 {half}");
            assert!((full - half).abs() < 0.05 * full.max(0.1));
        }
    }
}
