//! Decode + train-augment throughput on a folder of JPEGs, one JSON line per case.
//!
//! Make the folder with `python3 ../shared/bench/make_jpeg_folder.py D 512`, then
//! `RAYON_NUM_THREADS=1 cargo run --release -p kiln-data --example bench_augment -- D` (and
//! `=2`). Cases:
//! * `augment`: read + decode + the classic train transform (RandomResizedCrop 224, flip,
//!   ColorJitter, normalise) of every file into a CHW buffer — the work PyTorch's
//!   `pytorch_reference.py --cases augment` measures.
//! * `loader`: the same through `DataLoader` (batches of 32 assembled in one NCHW buffer,
//!   background prefetch).
//! * `decode` / `transform`: the two halves alone, to see where the time goes.
use std::time::Instant;

use kiln_data::{
    DataLoader, Dataset, LoaderConfig, Preprocess, Rng, Transform, decode_rgb8, train_transform,
};
use rayon::prelude::*;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or("usage: bench_augment JPEG_DIR [PASSES]")?;
    let passes: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5);
    let (ds, skipped) = Dataset::from_class_folders(&dir)?;
    if !skipped.is_empty() {
        eprintln!("skipped {} non-image files", skipped.len());
    }
    let n = ds.len();
    let threads = rayon::current_num_threads();
    let t: Transform = train_transform(&Preprocess::imagenet(224));
    let per = t.sample_len();
    let emit = |case: &str, rates: Vec<f64>| {
        let best = rates.iter().cloned().fold(0.0, f64::max);
        println!(
            "{}",
            serde_json::json!({
                "impl": "kiln", "case": case, "images": n, "threads": threads,
                "images_per_s": (median(rates) * 100.0).round() / 100.0,
                "best_images_per_s": (best * 100.0).round() / 100.0,
            })
        );
    };
    let run_augment = |epoch: u64| {
        ds.samples().par_iter().enumerate().for_each_init(
            || vec![0f32; per],
            |out, (i, s)| {
                let img = decode_rgb8(&s.path).expect("decode");
                t.apply_into(&img, &mut Rng::for_sample(0, epoch, i as u64), out)
                    .expect("transform");
            },
        );
    };
    run_augment(99); // warm the page cache
    let mut rates = Vec::new();
    for p in 0..passes {
        let t0 = Instant::now();
        run_augment(p as u64);
        rates.push(n as f64 / t0.elapsed().as_secs_f64());
    }
    emit("augment", rates);

    let loader = DataLoader::new(ds.clone(), t.clone(), LoaderConfig::train(32, 0))?;
    let mut rates = Vec::new();
    for p in 0..passes {
        let t0 = Instant::now();
        let mut got = 0;
        for b in loader.host_epoch(p, 0) {
            got += b?.len();
        }
        assert_eq!(got, n);
        rates.push(n as f64 / t0.elapsed().as_secs_f64());
    }
    emit("loader", rates);

    let mut rates = Vec::new();
    for _ in 0..passes {
        let t0 = Instant::now();
        ds.samples().par_iter().for_each(|s| {
            decode_rgb8(&s.path).expect("decode");
        });
        rates.push(n as f64 / t0.elapsed().as_secs_f64());
    }
    emit("decode", rates);

    let decoded: Vec<_> = ds
        .samples()
        .iter()
        .take(128)
        .map(|s| decode_rgb8(&s.path))
        .collect::<Result<_, _>>()?;
    let mut rates = Vec::new();
    for p in 0..passes {
        let t0 = Instant::now();
        decoded.par_iter().enumerate().for_each_init(
            || vec![0f32; per],
            |out, (i, img)| {
                t.apply_into(img, &mut Rng::for_sample(1, p as u64, i as u64), out)
                    .expect("transform");
            },
        );
        rates.push(decoded.len() as f64 / t0.elapsed().as_secs_f64());
    }
    emit("transform", rates);
    Ok(())
}
