//! kiln's side of the side-by-side benchmarks: one JSON line per case, in the schema of
//! `../shared/bench/pytorch_reference.py` (`case`, `arch`, `batch`, `size`, `images_per_s`,
//! `threads`, `impl`), plus `median_ms`, `peak_rss_mb` and case-specific fields.
//!
//! ```text
//! python3 ../shared/bench/make_jpeg_folder.py /tmp/jpegs 512
//! RAYON_NUM_THREADS=2 cargo run --release --example bench -- --jpeg-dir /tmp/jpegs
//! cargo run --release --example bench -- --cases infer --archs resnet50 --reps 3
//! ```
//!
//! Cases (`--cases`, comma-separated; default all):
//! * `train_step`: forward + label-smoothed CE + backward + global-norm clipping + AdamW
//!   step on `Device::flex().autodiff()`, fixed random batch (resnet18 b32@112, resnet50
//!   b16@112, efficientnet_b0 b32@112) — what PyTorch's `train_step` does.
//! * `infer`: eval-mode forward on `Device::flex()` (same archs, b32/b16/b32 @224).
//! * `augment`: read + decode + kiln's train transform (RandomResizedCrop 224, flip,
//!   ColorJitter, normalise into a CHW buffer) of every JPEG under `--jpeg-dir`, over the
//!   `RAYON_NUM_THREADS` worker threads (the size of the pool Burn and kiln-data use);
//!   `per_core_images_per_s` divides by it.
//! * `probe_epoch`: one head-only (linear-probe) epoch of resnet18 @224 over a small image
//!   folder (`--probe-dir`, or 128 generated JPEGs): `"cache": false` = per batch decode +
//!   augment + frozen forward on the plain device + head step; `"cache": true` = head steps
//!   on `kiln::train::cache::FeatureCache` features (built once, `cache_build_s`, not in the
//!   epoch time). The cached line carries `speedup_vs_uncached`.
//!
//! Every case runs in its own child process (this binary re-invoked with `--child`), so
//! `peak_rss_mb` (VmHWM) is that case's own peak. Timings are medians of `--reps` after
//! `--warmup` untimed repetitions.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::{Module, ParamGroup};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Distribution, Int, TensorData};
use clap::Parser;
use kiln::data::{
    DataLoader, Dataset, LoaderConfig, Preprocess, Rng, decode_rgb8, train_transform,
};
use kiln::losses::{Loss, LossConfig, Targets};
use kiln::prelude::*;
use kiln::train::cache::FeatureCache;
use kiln::train::optim::clip_grad_norm;
use serde_json::{Value, json};

const BURN_VERSION: &str = "0.22.1";
const ALL_CASES: &str = "train_step,infer,augment,probe_epoch";

#[derive(Parser, Debug, Clone)]
#[command(about = "kiln throughput and peak-memory benchmarks (JSON lines)")]
struct Args {
    /// Cases to run: train_step, infer, augment, probe_epoch.
    #[arg(long, default_value = ALL_CASES, value_delimiter = ',')]
    cases: Vec<String>,
    /// Restrict train_step / infer to these architectures.
    #[arg(long, value_delimiter = ',')]
    archs: Vec<String>,
    /// Timed repetitions per case (median reported).
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Untimed repetitions before timing.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Folder of JPEGs for `augment` (`make_jpeg_folder.py D 512`); the case is skipped
    /// without it.
    #[arg(long)]
    jpeg_dir: Option<PathBuf>,
    /// Class folders for `probe_epoch`; default: generate `--probe-images` JPEGs.
    #[arg(long)]
    probe_dir: Option<PathBuf>,
    /// Images generated for `probe_epoch` when no `--probe-dir` is given.
    #[arg(long, default_value_t = 128)]
    probe_images: usize,
    /// Backbone of `probe_epoch`.
    #[arg(long, default_value = "resnet18")]
    probe_arch: String,

    /// Device of the model cases: `flex` (CPU) or, built with `--features wgpu`, `wgpu`.
    #[arg(long, default_value = "flex")]
    device: String,

    // Internal: one case in a child process.
    #[arg(long, hide = true)]
    child: bool,
    #[arg(long, hide = true)]
    arch: Option<String>,
    #[arg(long, hide = true)]
    batch: Option<usize>,
    #[arg(long, hide = true)]
    size: Option<usize>,
    #[arg(long, hide = true)]
    cache: Option<bool>,
}

/// One child invocation.
#[derive(Debug, Clone)]
struct Job {
    case: &'static str,
    arch: Option<String>,
    batch: Option<usize>,
    size: Option<usize>,
    cache: Option<bool>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.child {
        let line = run_child(&args)?;
        println!("{line}");
        return Ok(());
    }
    run_parent(args)
}

// ---------------------------------------------------------------------------------------------
// Parent: plan the jobs, run each in a child, forward the JSON lines.
// ---------------------------------------------------------------------------------------------

fn run_parent(mut args: Args) -> Result<()> {
    for c in &args.cases {
        if !ALL_CASES.split(',').any(|k| k == c) {
            bail!("unknown case {c:?}; known: {ALL_CASES}");
        }
    }
    let wants = |c: &str| args.cases.iter().any(|x| x == c);
    let arch_ok = |a: &str| args.archs.is_empty() || args.archs.iter().any(|x| x == a);
    let mut jobs = Vec::new();
    let model_job = |case, arch: &str, batch, size| Job {
        case,
        arch: Some(arch.to_string()),
        batch: Some(batch),
        size: Some(size),
        cache: None,
    };
    if wants("train_step") {
        for (arch, batch, size) in [
            ("resnet18", 32, 112),
            ("resnet50", 16, 112),
            ("efficientnet_b0", 32, 112),
        ] {
            if arch_ok(arch) {
                jobs.push(model_job("train_step", arch, batch, size));
            }
        }
    }
    if wants("infer") {
        for (arch, batch, size) in [
            ("resnet18", 32, 224),
            ("resnet50", 16, 224),
            ("efficientnet_b0", 32, 224),
        ] {
            if arch_ok(arch) {
                jobs.push(model_job("infer", arch, batch, size));
            }
        }
    }
    if wants("augment") {
        if args.jpeg_dir.is_some() {
            jobs.push(Job {
                case: "augment",
                arch: None,
                batch: None,
                size: Some(224),
                cache: None,
            });
        } else {
            eprintln!(
                "augment skipped: pass --jpeg-dir (python3 ../shared/bench/make_jpeg_folder.py D 512)"
            );
        }
    }
    let mut generated = None;
    if wants("probe_epoch") {
        if args.probe_dir.is_none() {
            let dir = std::env::temp_dir().join(format!("kiln-bench-probe-{}", std::process::id()));
            make_probe_folder(&dir, args.probe_images)?;
            args.probe_dir = Some(dir.clone());
            generated = Some(dir);
        }
        for cache in [false, true] {
            jobs.push(Job {
                case: "probe_epoch",
                arch: Some(args.probe_arch.clone()),
                batch: Some(32),
                size: None,
                cache: Some(cache),
            });
        }
    }

    let exe = std::env::current_exe()?;
    let mut uncached_epoch_s: Option<f64> = None;
    let mut failed = 0;
    for job in &jobs {
        let mut cmd = Command::new(&exe);
        cmd.arg("--child")
            .args(["--cases", job.case])
            .args(["--reps", &args.reps.to_string()])
            .args(["--warmup", &args.warmup.to_string()])
            .args(["--device", &args.device])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(a) = &job.arch {
            cmd.args(["--arch", a]);
        }
        if let Some(b) = job.batch {
            cmd.args(["--batch", &b.to_string()]);
        }
        if let Some(s) = job.size {
            cmd.args(["--size", &s.to_string()]);
        }
        if let Some(c) = job.cache {
            cmd.args(["--cache", &c.to_string()]);
        }
        if let Some(d) = &args.jpeg_dir {
            cmd.arg("--jpeg-dir").arg(d);
        }
        if let Some(d) = &args.probe_dir {
            cmd.arg("--probe-dir").arg(d);
        }
        let out = cmd.output().with_context(|| format!("running {job:?}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().rev().find(|l| l.starts_with('{'));
        match (out.status.success(), line) {
            (true, Some(line)) => {
                let mut v: Value = serde_json::from_str(line)?;
                if job.case == "probe_epoch" {
                    let epoch_s = v["epoch_s"].as_f64();
                    match job.cache {
                        Some(false) => uncached_epoch_s = epoch_s,
                        _ => {
                            if let (Some(u), Some(c)) = (uncached_epoch_s, epoch_s) {
                                v["speedup_vs_uncached"] = json!(round(u / c, 1));
                            }
                        }
                    }
                }
                println!("{v}");
            }
            _ => {
                failed += 1;
                println!(
                    "{}",
                    json!({
                        "impl": "kiln", "case": job.case, "arch": job.arch,
                        "error": format!("child exited with {}", out.status),
                    })
                );
            }
        }
        std::io::stdout().flush()?;
    }
    if let Some(dir) = generated {
        let _ = std::fs::remove_dir_all(dir);
    }
    if failed > 0 {
        bail!("{failed} case(s) failed");
    }
    Ok(())
}

/// A deterministic 4-class folder of `n` smooth-pattern 320×240 JPEGs.
fn make_probe_folder(dir: &Path, n: usize) -> Result<()> {
    for i in 0..n {
        let class = i % 4;
        let sub = dir.join(format!("class_{class}"));
        std::fs::create_dir_all(&sub)?;
        let (w, h) = (320u32, 240u32);
        let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ i as u64;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 56) as u8
        };
        let (a, b, c) = (next(), next(), next());
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            let fx = (x * 255 / w) as u8;
            let fy = (y * 255 / h) as u8;
            let base = match class {
                0 => [fx, fy, a],
                1 => [fy, b, fx],
                2 => [c, fx ^ fy, fy],
                _ => [fx / 2 + fy / 2, a, b],
            };
            let noise = next() / 16;
            image::Rgb(base.map(|v| v.wrapping_add(noise)))
        });
        img.save(sub.join(format!("img_{i:05}.jpg")))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Child: run one case, return its JSON line.
// ---------------------------------------------------------------------------------------------

/// The device named by `--device`.
fn plain_device(args: &Args) -> Result<Device> {
    match args.device.as_str() {
        "flex" | "cpu" => Ok(Device::flex()),
        #[cfg(feature = "wgpu")]
        "wgpu" => Ok(Device::wgpu(kiln::burn::tensor::DeviceKind::DefaultDevice)),
        other => anyhow::bail!("unknown or not compiled-in device '{other}' (flex, wgpu)"),
    }
}

fn run_child(args: &Args) -> Result<Value> {
    let case = args.cases.first().map(String::as_str).unwrap_or("");
    let threads = pool_threads();
    let mut v = match case {
        "train_step" => train_step(args)?,
        "infer" => infer(args)?,
        "augment" => augment(args)?,
        "probe_epoch" => probe_epoch(args)?,
        other => bail!("unknown case {other:?}"),
    };
    v["impl"] = json!("kiln");
    v["burn"] = json!(BURN_VERSION);
    v["device"] = json!(args.device);
    v["threads"] = json!(threads);
    v["case"] = json!(case);
    v["reps"] = json!(args.reps);
    v["warmup"] = json!(args.warmup);
    v["peak_rss_mb"] = json!(peak_rss_mb());
    Ok(v)
}

fn model_args(args: &Args) -> Result<(String, usize, usize)> {
    match (&args.arch, args.batch, args.size) {
        (Some(a), Some(b), Some(s)) => Ok((a.clone(), b, s)),
        _ => bail!("--child needs --arch, --batch and --size for this case"),
    }
}

/// A timed section: median seconds per repetition, and how busy the rest of the machine was.
struct Timing {
    secs: f64,
    /// Share of all CPUs' time used by *other* processes during the timed repetitions
    /// (0–100): above a few percent the figure is not trustworthy on a shared machine.
    other_cpu_pct: Option<f64>,
}

/// Runs `f` `warmup` times untimed, then `reps` times; returns the median seconds.
fn time_median(warmup: usize, reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<Timing> {
    for _ in 0..warmup {
        f()?;
    }
    let before = cpu_snapshot();
    let mut times = Vec::with_capacity(reps.max(1));
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64());
    }
    let other_cpu_pct = match (before, cpu_snapshot()) {
        // Under ~0.5 s of CPU time (2 CPUs at 100 Hz) the jiffy counts say nothing.
        (Some(a), Some(b)) if b.total - a.total >= 100.0 => {
            let others = (b.busy - a.busy) - (b.own - a.own);
            Some(round(
                (100.0 * others / (b.total - a.total)).clamp(0.0, 100.0),
                1,
            ))
        }
        _ => None,
    };
    Ok(Timing {
        secs: median(times),
        other_cpu_pct,
    })
}

/// Jiffies from `/proc/stat` (all CPUs) and `/proc/self/stat` (this process).
struct CpuSnapshot {
    busy: f64,
    total: f64,
    own: f64,
}

fn cpu_snapshot() -> Option<CpuSnapshot> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<f64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    let total: f64 = cpu.iter().sum();
    let idle = cpu.get(3)? + cpu.get(4)?;
    let own = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = own.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let own = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(CpuSnapshot {
        busy: total - idle,
        total,
        own,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn round(x: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (x * p).round() / p
}

fn throughput_fields(images: usize, t: &Timing) -> Value {
    json!({
        "median_ms": round(t.secs * 1e3, 1),
        "images_per_s": round(images as f64 / t.secs, 2),
        "other_cpu_pct": t.other_cpu_pct,
    })
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

fn train_step(args: &Args) -> Result<Value> {
    let (arch, batch, size) = model_args(args)?;
    let device = plain_device(args)?.autodiff();
    device.seed(0);
    let num_classes = 10;
    let mut model = Some(create(&arch, num_classes, &device)?);
    let mut optim = AdamWConfig::new().with_weight_decay(1e-4).init();
    let loss_fn = Loss::with_num_classes(
        &LossConfig::cross_entropy().label_smoothing(0.05),
        num_classes,
    )?;
    let x = Tensor::<4>::random(
        [batch, 3, size, size],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let labels: Vec<i64> = (0..batch as i64).map(|i| i % num_classes as i64).collect();
    let y = Targets::Hard(Tensor::<1, Int>::from_data(
        TensorData::new(labels, [batch]),
        &device,
    ));
    let mut step = || -> Result<()> {
        let m = model.take().context("model")?;
        let loss = loss_fn.forward(m.forward(x.clone()), &y)?;
        let mut grads = GradientsParams::from_grads(loss.backward(), &m);
        clip_grad_norm(&m, &mut grads, 1.0);
        model = Some(optim.step(1e-4, m, grads));
        Ok(())
    };
    let t = time_median(args.warmup, args.reps, &mut step)?;
    Ok(merge(
        json!({"arch": arch, "batch": batch, "size": size}),
        throughput_fields(batch, &t),
    ))
}

fn infer(args: &Args) -> Result<Value> {
    let (arch, batch, size) = model_args(args)?;
    let device = plain_device(args)?;
    device.seed(0);
    let model = create(&arch, 1000, &device)?.valid();
    let x = Tensor::<4>::random(
        [batch, 3, size, size],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let t = time_median(args.warmup, args.reps, || {
        let _ = model.forward(x.clone()).into_data();
        Ok(())
    })?;
    Ok(merge(
        json!({"arch": arch, "batch": batch, "size": size}),
        throughput_fields(batch, &t),
    ))
}

fn augment(args: &Args) -> Result<Value> {
    let dir = args.jpeg_dir.as_ref().context("augment needs --jpeg-dir")?;
    let size = args.size.unwrap_or(224);
    let (ds, _skipped) = Dataset::from_class_folders(dir)?;
    if ds.is_empty() {
        bail!("no images under {}", dir.display());
    }
    let tf = train_transform(&Preprocess::imagenet(size));
    let per = tf.sample_len();
    let n = ds.len();
    let threads = pool_threads();
    // Workers take the next file from a shared counter (file sizes differ).
    let pass = |epoch: u64| -> Result<()> {
        let next = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| -> Result<()> {
                        let mut out = vec![0f32; per];
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(s) = ds.samples().get(i) else {
                                return Ok(());
                            };
                            let img = decode_rgb8(&s.path)?;
                            tf.apply_into(
                                &img,
                                &mut Rng::for_sample(0, epoch, i as u64),
                                &mut out,
                            )?;
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .try_for_each(|w| w.join().map_err(|_| anyhow::anyhow!("worker panicked"))?)
        })
    };
    pass(u64::MAX)?; // page cache
    let mut epoch = 0;
    let t = time_median(args.warmup, args.reps, || {
        epoch += 1;
        pass(epoch)
    })?;
    Ok(json!({
        "images": n, "size": size,
        "median_ms": round(t.secs * 1e3, 1),
        "images_per_s": round(n as f64 / t.secs, 2),
        "per_core_images_per_s": round(n as f64 / t.secs / threads as f64, 2),
        "other_cpu_pct": t.other_cpu_pct,
    }))
}

fn probe_epoch(args: &Args) -> Result<Value> {
    let dir = args
        .probe_dir
        .as_ref()
        .context("probe_epoch needs --probe-dir")?;
    let arch = args.arch.clone().unwrap_or_else(|| "resnet18".into());
    let batch = args.batch.unwrap_or(32);
    let cached = args.cache.unwrap_or(false);
    let (ds, _skipped) = Dataset::from_class_folders(dir)?;
    let num_classes = ds.num_classes();
    let n = ds.len();
    let plain = plain_device(args)?;
    let ad = plain.clone().autodiff();
    ad.seed(0);
    let model = create(&arch, num_classes, &ad)?;
    let head = model.head_group();
    let model = model.freeze_group(ParamGroup::all()).unfreeze_group(head);
    // The frozen body never changes: one eval-mode copy on the plain device.
    let body = model.valid();
    let mut model = Some(model);
    let pre = kiln::train::preprocess_for(&body.pretrained_cfg());
    let size = pre.input_size;
    let loader = DataLoader::new(ds, train_transform(&pre), LoaderConfig::train(batch, 0))?;
    let loss_fn = Loss::with_num_classes(
        &LossConfig::cross_entropy().label_smoothing(0.05),
        num_classes,
    )?;
    let mut optim = AdamWConfig::new().with_weight_decay(1e-4).init();
    let mut head_step = |feats: Tensor<2>, targets: Targets| -> Result<()> {
        let m = model.take().context("model")?;
        let loss = loss_fn.forward(m.forward_head(feats), &targets)?;
        let mut grads = GradientsParams::from_grads(loss.backward(), &m);
        clip_grad_norm(&m, &mut grads, 1.0);
        model = Some(optim.step(1e-3, m, grads));
        Ok(())
    };
    let mut epoch = 0usize;
    let mut extra = json!({});
    let t = if cached {
        let t = Instant::now();
        let cache = FeatureCache::build(&body, &loader, 1, &plain)?;
        extra["cache_build_s"] = json!(round(t.elapsed().as_secs_f64(), 3));
        extra["cache_mb"] = json!(round(cache.bytes() as f64 / 1e6, 2));
        time_median(args.warmup, args.reps, || {
            epoch += 1;
            let mut order: Vec<usize> = (0..cache.len()).collect();
            Rng::derive(0, &[epoch as u64, 0xca]).shuffle(&mut order);
            for rows in order.chunks(batch) {
                let (feats, targets) = cache.batch(0, rows, &ad);
                head_step(feats, targets)?;
            }
            Ok(())
        })?
    } else {
        time_median(args.warmup, args.reps, || {
            epoch += 1;
            for hb in loader.host_epoch(epoch, 0) {
                let hb = hb?;
                if hb.is_empty() {
                    continue;
                }
                let b = hb.into_batch(&plain);
                let feats = body.forward_features(b.images).autodiff();
                let targets =
                    Targets::Hard(Tensor::<1, Int>::from_data(b.targets.into_data(), &ad));
                head_step(feats, targets)?;
            }
            Ok(())
        })?
    };
    Ok(merge(
        json!({
            "arch": arch, "batch": batch, "size": size, "images": n, "cache": cached,
            "epoch_s": round(t.secs, 4),
            "images_per_s": round(n as f64 / t.secs, 2),
            "other_cpu_pct": t.other_cpu_pct,
        }),
        extra,
    ))
}

/// Worker threads: `RAYON_NUM_THREADS` (what Burn's and kiln-data's rayon pools use), else
/// the available parallelism.
fn pool_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Peak resident set size of this process (VmHWM), in MB.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(round(kb / 1024.0, 1))
}
