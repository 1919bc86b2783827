//! Builds a long-tailed, optionally label-noised ImageFolder from Fashion-MNIST, recording the
//! flipped labels in `OUT/noise.json` so noise detection can be scored.
//!
//! ```text
//! cargo run --release --example prepare_fashion_mnist -- OUT [--src ../shared/data/fashion-mnist]
//!     [--max-per-class 200] [--imbalance 10] [--noise 0.1] [--val 20] [--test 20]
//!     [--size 28] [--seed 0]
//! ```
use std::path::PathBuf;

use kiln::data::fashion_mnist::{CLASS_NAMES, LongTailSpec, write_image_folder};

fn usage() -> ! {
    eprintln!(
        "usage: prepare_fashion_mnist OUT [--src DIR] [--max-per-class N] [--imbalance R]\n\
         \x20      [--noise F] [--val N] [--test N] [--size PX] [--seed S]"
    );
    std::process::exit(1)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut out: Option<PathBuf> = None;
    let mut src = PathBuf::from("../shared/data/fashion-mnist");
    let mut spec = LongTailSpec::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--src" => src = val().into(),
            "--max-per-class" => spec.max_per_class = val().parse()?,
            "--imbalance" => spec.imbalance_ratio = val().parse()?,
            "--noise" => spec.noise_rate = val().parse()?,
            "--val" => spec.val_per_class = val().parse()?,
            "--test" => spec.test_per_class = val().parse()?,
            "--size" => spec.image_size = val().parse()?,
            "--seed" => spec.seed = val().parse()?,
            "-h" | "--help" => usage(),
            s if s.starts_with("--") => usage(),
            s => out = Some(s.into()),
        }
    }
    let out = out.unwrap_or_else(|| usage());
    let p = write_image_folder(&src, &out, &spec)?;
    println!("wrote {}", p.root.display());
    println!(
        "{:<14} {:>6} {:>6} {:>5} {:>5}",
        "class", "train", "given", "val", "test"
    );
    for (c, name) in CLASS_NAMES.iter().enumerate() {
        println!(
            "{:<14} {:>6} {:>6} {:>5} {:>5}",
            name, p.train_counts[c], p.train_counts_given[c], p.val_counts[c], p.test_counts[c]
        );
    }
    println!(
        "label noise: {} of {} training images flipped (see {})",
        p.noise.len(),
        p.train_counts.iter().sum::<usize>(),
        out.join("noise.json").display()
    );
    Ok(())
}
