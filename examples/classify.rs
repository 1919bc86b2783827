//! Classify images with an ImageNet-pretrained backbone and print the top-5 labels.
//!
//! ```sh
//! cargo run --release --example classify -- --arch efficientnet_lite0 \
//!     --weights efficientnet-lite0-57934424.pth photo.jpg [more.png ...] [--json]
//! ```
//! Preprocessing follows the architecture's pretrained config (resize, centre crop,
//! normalisation). With `--json`, one JSON object per image per line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use kiln::prelude::*;
use kiln::train::imagenet_labels;
use kiln::train::infer::{eval_transform_for, load_batch, predict_top_k};

#[derive(Parser)]
#[command(about = "Top-5 ImageNet predictions of a pretrained backbone")]
struct Args {
    /// Registry name of the architecture (see `kiln::models::list_archs`).
    #[arg(long, default_value = "efficientnet_lite0")]
    arch: String,
    /// Weight file (.pth, .safetensors or kiln .bpk) with a 1000-class ImageNet head.
    #[arg(long)]
    weights: PathBuf,
    /// One JSON object per image per line instead of text.
    #[arg(long)]
    json: bool,
    /// How many classes to print.
    #[arg(long, default_value_t = 5)]
    top: usize,
    /// Images to classify.
    #[arg(required = true)]
    images: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let device = Device::flex();
    let labels = imagenet_labels();
    let model = match create(&args.arch, labels.len(), &device).and_then(|m| {
        m.load_weights(
            &args.weights,
            &LoadOptions::default().head(HeadPolicy::Require),
        )
    }) {
        Ok((m, _)) => m,
        Err(e) => {
            eprintln!("error: cannot load {} weights: {e}", args.arch);
            return ExitCode::from(2);
        }
    };
    let transform = eval_transform_for(&model);
    let mut failed = 0;
    for path in &args.images {
        let batch = match load_batch(std::slice::from_ref(path), &transform, &device) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                failed += 1;
                continue;
            }
        };
        let top = predict_top_k(&model, batch, args.top).remove(0);
        if args.json {
            let top5: Vec<_> = top
                .iter()
                .map(|p| serde_json::json!({"index": p.index, "label": labels[p.index], "prob": p.prob}))
                .collect();
            println!(
                "{}",
                serde_json::json!({"image": path.display().to_string(), "top5": top5})
            );
        } else {
            println!("{}", path.display());
            for p in &top {
                println!(
                    "  {:>6.2}%  {:>4}  {}",
                    p.prob * 100.0,
                    p.index,
                    labels[p.index]
                );
            }
        }
    }
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
