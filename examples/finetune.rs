//! Fine-tune an ImageNet backbone on an image folder — the main job of kiln.
//!
//! ```sh
//! cargo run --release --example finetune                      # embedded demo data + weights
//! cargo run --release --example finetune -- --data my_images --arch resnet50 \
//!     --weights resnet50-0676ba61.pth --out runs/mine
//! ```
//! `--data` is an ImageFolder: `train/<class>/*.jpg`, optional `val/` (otherwise a stratified
//! 15 % split) and `test/`. With no arguments it runs on `assets/fashion-mnist-lt` (a small,
//! long-tailed, 5 %-mislabeled Fashion-MNIST folder) from the real EfficientNet-Lite0 weights
//! in `assets/weights/`, at 96×96 so a 2-core CPU finishes in a few minutes.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use kiln::data::{ImageFolder, Preprocess};
use kiln::losses::{ClassWeights, LossConfig};
use kiln::metrics::Evaluator;
use kiln::prelude::*;
use kiln::train::{Augment, Finetune, Precision, Recipe, SamplerKind};

fn asset(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("assets")
        .join(rel)
}

#[derive(Clone, Copy, ValueEnum)]
enum LossArg {
    /// Cross-entropy with label smoothing 0.05.
    Ce,
    /// Cross-entropy weighted by effective number of samples (β = 0.999).
    Balanced,
    /// Focal loss, γ = 2.
    Focal,
    /// Logit-adjusted cross-entropy (τ = 1).
    LogitAdjusted,
}

#[derive(Clone, Copy, ValueEnum)]
enum SamplerArg {
    /// Plain shuffle.
    Shuffle,
    /// Class-balanced weighted sampling (square-root frequency).
    Balanced,
    /// Class-aware batches.
    ClassAware,
}

#[derive(Parser)]
#[command(about = "Fine-tune a pretrained backbone on an image folder")]
struct Args {
    /// ImageFolder root (train/ [val/] [test/]).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Architecture (registry name).
    #[arg(long, default_value = "efficientnet_lite0")]
    arch: String,
    /// Pretrained weights (.pth/.safetensors); `none` for random initialisation.
    #[arg(long)]
    weights: Option<String>,
    /// Output folder (checkpoints, metrics.jsonl, report).
    #[arg(long, default_value = "runs/finetune")]
    out: PathBuf,
    /// Input side; defaults to the architecture's (96 for the embedded demo).
    #[arg(long)]
    input_size: Option<usize>,
    /// Batch size.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Multiply every stage's epochs of the classic recipe (3 probe, 5 unfreeze, 7 full).
    #[arg(long, default_value_t = 1.0)]
    epochs_scale: f64,
    /// Loss.
    #[arg(long, value_enum, default_value = "balanced")]
    loss: LossArg,
    /// Sampler.
    #[arg(long, value_enum, default_value = "shuffle")]
    sampler: SamplerArg,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Continue the run in `--out`.
    #[arg(long)]
    resume: bool,
    /// Device: `flex` (CPU), `wgpu` (default GPU), `wgpu:N` (N-th discrete GPU), `cuda:N`.
    /// Repeat for data parallel (every batch split across the devices, the first is main).
    #[arg(long = "device", default_value = "flex")]
    devices: Vec<String>,
    /// Train the backbone's forward/backward in bf16 with f32 master weights.
    #[arg(long)]
    bf16: bool,
}

/// A device from its command-line name.
fn parse_device(name: &str) -> anyhow::Result<Device> {
    let (kind, index) = match name.split_once(':') {
        Some((k, i)) => (k, Some(i.parse::<usize>().context("device index")?)),
        None => (name, None),
    };
    match kind {
        "flex" | "cpu" => Ok(Device::flex()),
        #[cfg(feature = "wgpu")]
        "wgpu" => Ok(Device::wgpu(match index {
            Some(i) => kiln::burn::tensor::DeviceKind::DiscreteGpu(i),
            None => kiln::burn::tensor::DeviceKind::DefaultDevice,
        })),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(Device::cuda(index.unwrap_or(0))),
        _ => bail!("unknown or not compiled-in device '{name}' (flex, wgpu[:N], cuda[:N])"),
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let devices = args
        .devices
        .iter()
        .map(|d| parse_device(d))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let device = devices[0].clone();
    let demo = args.data.is_none();
    let data_dir = args
        .data
        .clone()
        .unwrap_or_else(|| asset("fashion-mnist-lt"));
    let data = ImageFolder::open(&data_dir)
        .with_context(|| format!("opening image folder {}", data_dir.display()))?;
    if data.train().is_empty() {
        bail!("{} has no training images", data_dir.display());
    }
    for s in data.skipped() {
        eprintln!("skipped {}: {}", s.path.display(), s.reason);
    }
    let classes = data.num_classes();
    eprintln!(
        "data: {} classes, {} train / {} val / {} test images, imbalance {:.1}",
        classes,
        data.train().len(),
        data.val().map_or(0, |d| d.len()),
        data.test().map_or(0, |d| d.len()),
        data.train().imbalance_ratio()
    );

    let weights = match args.weights.as_deref() {
        Some("none") => None,
        Some(w) => Some(PathBuf::from(w)),
        None if args.arch == "efficientnet_lite0" => {
            Some(asset("weights/efficientnet-lite0-57934424.pth"))
        }
        None => {
            let cfg = args.arch.parse::<Arch>()?.pretrained_cfg();
            bail!(
                "--weights is required for {} (download: {}), or pass --weights none",
                args.arch,
                cfg.weights_url
            )
        }
    };
    // The new head is initialised from the device RNG: seed it for a reproducible run.
    device.seed(args.seed);
    let mut model = create(&args.arch, classes, &device)?;
    if let Some(w) = &weights {
        let (m, report) = model.load_weights(w, &LoadOptions::default())?;
        eprintln!(
            "weights: {} tensors from {}{}",
            report.applied,
            w.display(),
            if report.head_reinitialised {
                " (new head)"
            } else {
                ""
            }
        );
        model = m;
    }

    let cfg = model.pretrained_cfg();
    let input_size = args
        .input_size
        .unwrap_or(if demo { 96 } else { cfg.input_size });
    let preprocess = Preprocess {
        input_size,
        ..kiln::train::preprocess_for(&cfg)
    };
    let loss = match args.loss {
        LossArg::Ce => LossConfig::cross_entropy().label_smoothing(0.05),
        LossArg::Balanced => LossConfig::cross_entropy()
            .label_smoothing(0.05)
            .class_weights(ClassWeights::EffectiveNumber { beta: 0.999 }),
        LossArg::Focal => LossConfig::focal(2.0),
        LossArg::LogitAdjusted => LossConfig::logit_adjusted(1.0),
    };
    let sampler = match args.sampler {
        SamplerArg::Shuffle => SamplerKind::Shuffle,
        SamplerArg::Balanced => SamplerKind::ClassBalanced { power: 0.5 },
        SamplerArg::ClassAware => SamplerKind::ClassAware,
    };
    let mut ft = Finetune::new(model)
        .train(data.train().clone())
        .recipe(Recipe::classic().scaled_epochs(args.epochs_scale))
        .loss(loss)
        .sampler(sampler)
        .augment(Augment::PerClass { max_strength: 1.5 })
        .preprocess(Some(preprocess.clone()))
        .batch_size(args.batch_size)
        .seed(args.seed)
        .precision(if args.bf16 {
            Precision::Bf16
        } else {
            Precision::F32
        })
        .out_dir(&args.out);
    if let Some(v) = data.val() {
        ft = ft.valid(v.clone());
    }
    let started = Instant::now();
    let outcome = if args.resume {
        ft.resume_on(&devices)?
    } else {
        ft.fit_on(&devices)?
    };
    println!("{}", outcome.report());
    eprintln!(
        "trained in {:.1}s; run folder {}",
        started.elapsed().as_secs_f64(),
        args.out.display()
    );

    report_label_issues(
        &outcome.model,
        &data,
        &data_dir,
        &preprocess,
        &device,
        &args.out,
    )?;

    if let Some(test) = data.test() {
        let transform = kiln::data::transform::eval_transform(&preprocess);
        let mut ev = Evaluator::new(classes);
        let paths: Vec<PathBuf> = test.samples().iter().map(|s| s.path.clone()).collect();
        for (chunk, samples) in paths.chunks(64).zip(test.samples().chunks(64)) {
            let batch = kiln::train::load_batch(chunk, &transform, &device)?;
            let logits = outcome.model.forward(batch).into_data().convert::<f32>();
            let logits = logits
                .try_into_vec::<f32>()
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            let labels: Vec<usize> = samples.iter().map(|s| s.label).collect();
            ev.update(&logits, &labels)?;
        }
        let m = ev.compute()?;
        println!(
            "held-out test: macro-F1 {:.4}  balanced accuracy {:.4}  accuracy {:.4}  ({} images)",
            m.macro_f1, m.balanced_accuracy, m.accuracy, m.num_samples
        );
    }
    Ok(())
}

/// Rank the training images by how doubtful their labels are, write `suspects.csv`, print the
/// top few and — where the folder records its injected noise (`noise.json`, as the embedded
/// demo does) — how many of the suspects really were flipped.
fn report_label_issues(
    model: &Backbone,
    data: &ImageFolder,
    data_dir: &std::path::Path,
    preprocess: &Preprocess,
    device: &Device,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let report = kiln::train::find_label_issues(model, data.train(), preprocess, 64, device)?;
    let csv = out.join("suspects.csv");
    report.write_csv(&csv)?;
    let flagged = report.flagged().count();
    println!(
        "label noise: confident learning flags {flagged} of {} training images (estimated noise rate {:.1} %); ranking in {}",
        report.ranked.len(),
        100.0 * report.confident.noise_rate,
        csv.display()
    );
    for s in report.ranked.iter().take(5) {
        println!(
            "  suspect {}: labelled {}, looks like {} (p(label) {:.3}){}",
            s.path.display(),
            s.given,
            s.predicted,
            s.self_confidence,
            if s.flagged { ", flagged" } else { "" }
        );
    }
    if data_dir.join("noise.json").exists() {
        let noise = kiln::data::fashion_mnist::read_noise(data_dir)?;
        let names: std::collections::HashSet<_> = noise
            .iter()
            .filter_map(|n| n.path.file_name().map(|f| f.to_owned()))
            .collect();
        let is_noisy = |p: &std::path::Path| p.file_name().is_some_and(|f| names.contains(f));
        let n = noise.len();
        let hits_top = report
            .ranked
            .iter()
            .take(n)
            .filter(|s| is_noisy(&s.path))
            .count();
        let hits_flagged = report.flagged().filter(|s| is_noisy(&s.path)).count();
        println!(
            "  against noise.json ({n} flipped labels): {hits_top} of the top {n} suspects are flipped; confident learning precision {}/{flagged}, recall {}/{n}",
            hits_flagged, hits_flagged
        );
    }
    Ok(())
}
