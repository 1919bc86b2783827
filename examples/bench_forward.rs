//! Forward-pass timing of registered backbones on the chosen device.
//!
//! `cargo run --release --example bench_forward -- --arch resnet50 --batch 8 --size 224`
//! prints one JSON line per architecture: median milliseconds per batch and images/s.

use std::time::Instant;

use clap::Parser;
use kiln::prelude::*;

#[derive(Parser)]
#[command(about = "Time the inference forward pass of kiln backbones")]
struct Args {
    /// Architectures to time (comma-separated registry names).
    #[arg(long, default_value = "resnet50", value_delimiter = ',')]
    arch: Vec<String>,
    /// Batch size.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Square input side.
    #[arg(long, default_value_t = 224)]
    size: usize,
    /// Timed repetitions (after one warm-up).
    #[arg(long, default_value_t = 5)]
    reps: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let device = Device::flex();
    for name in &args.arch {
        let model = create(name, 1000, &device)?.valid();
        let x = Tensor::<4>::random(
            [args.batch, 3, args.size, args.size],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        // Warm-up: first-call allocations and kernel selection.
        let _ = model.forward(x.clone()).into_data();
        let mut times = Vec::with_capacity(args.reps);
        for _ in 0..args.reps {
            let t = Instant::now();
            let _ = model.forward(x.clone()).into_data();
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        println!(
            "{}",
            serde_json::json!({
                "case": "infer", "arch": name, "batch": args.batch, "size": args.size,
                "device": "flex", "threads": rayon_threads(),
                "median_ms": (median * 1e3 * 10.0).round() / 10.0,
                "images_per_s": ((args.batch as f64 / median) * 10.0).round() / 10.0,
            })
        );
    }
    Ok(())
}

fn rayon_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
