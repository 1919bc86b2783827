//! Audits an image dataset before training: corrupt files, odd pixel modes, size outliers,
//! exact and near duplicates, train/val/test leakage, label conflicts, class balance.
//!
//! ```text
//! cargo run --release --example audit -- DATASET_ROOT [--out audit.json] [--records]
//!     [--min-class N] [--phash-threshold T] [--dhash-threshold T] [--threads N] [--strict]
//! cargo run --release --example audit -- --csv manifest.csv [...]
//! ```
//! `DATASET_ROOT` is an ImageFolder (`train/<class>/…`, optional `val/`, `test/`). Prints a
//! summary and writes the JSON report atomically; `--strict` exits with status 2 when
//! anything needs attention (for CI).
use std::path::PathBuf;
use std::process::ExitCode;

use kiln::data::{self, AuditConfig, Dataset, ImageFolder, Split};

fn usage() -> ! {
    eprintln!(
        "usage: audit DATASET_ROOT | --csv MANIFEST  [--out audit.json] [--records] [--min-class N]\n\
         \x20             [--phash-threshold T] [--dhash-threshold T] [--threads N] [--strict]"
    );
    std::process::exit(1)
}

fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut root: Option<PathBuf> = None;
    let mut csv: Option<PathBuf> = None;
    let mut out = PathBuf::from("audit.json");
    let mut records = false;
    let mut strict = false;
    let mut cfg = AuditConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--csv" => csv = Some(val().into()),
            "--out" => out = val().into(),
            "--records" => records = true,
            "--strict" => strict = true,
            "--min-class" => cfg.min_class_count = val().parse()?,
            "--phash-threshold" => cfg.phash_threshold = val().parse()?,
            "--dhash-threshold" => cfg.dhash_threshold = val().parse()?,
            "--threads" => cfg.threads = Some(val().parse()?),
            "-h" | "--help" => usage(),
            s if s.starts_with("--") => usage(),
            s => root = Some(s.into()),
        }
    }
    let t0 = std::time::Instant::now();
    let report = match (root, csv) {
        (Some(root), None) => {
            let folder = ImageFolder::open(&root)?;
            data::audit_image_folder(&folder, &cfg)?
        }
        (None, Some(csv)) => {
            let ds = Dataset::from_csv(&csv)?;
            data::audit_datasets(ds.classes(), &[(Split::Train, &ds)], &[], &cfg)?
        }
        _ => usage(),
    };
    print!("{}", report.summary());
    report.write_json(&out, records)?;
    println!(
        "report: {} ({} files in {:.1}s)",
        out.display(),
        report.totals.files,
        t0.elapsed().as_secs_f64()
    );
    Ok(if strict && report.has_issues() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
