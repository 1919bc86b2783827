//! Fashion-MNIST as ImageFolders for end-to-end tests and benchmarks: long-tailed and,
//! optionally, label-noised, with the injected noise recorded so detection can be scored.
//!
//! Reads the IDX files (gzip; big-endian header: magic, count, rows, cols; then u8 pixels or
//! labels). Everything is a pure function of the spec and its seed, so tests can build the
//! same folder anywhere.

use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::rng::{Rng, tag};

/// Fashion-MNIST class names, by label.
pub const CLASS_NAMES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Folder names, by label: index-prefixed so sorted order equals label order.
pub const FOLDER_NAMES: [&str; 10] = [
    "0_tshirt_top",
    "1_trouser",
    "2_pullover",
    "3_dress",
    "4_coat",
    "5_sandal",
    "6_shirt",
    "7_sneaker",
    "8_bag",
    "9_ankle_boot",
];

/// Greyscale images and labels from an IDX pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxSet {
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
    /// `count × rows × cols` pixels.
    pub pixels: Vec<u8>,
    /// One label per image.
    pub labels: Vec<u8>,
}

impl IdxSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.rows * self.cols;
        &self.pixels[i * n..(i + 1) * n]
    }
}

fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| DataError::Idx {
                path: path.to_path_buf(),
                reason: format!("gzip: {e}"),
            })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn be_u32(b: &[u8], at: usize) -> Option<usize> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize)
}

/// Reads an IDX image file (magic 0x00000803). Returns `(count, rows, cols, pixels)`.
pub fn load_idx_images(path: &Path) -> Result<(usize, usize, usize, Vec<u8>)> {
    let b = read_maybe_gz(path)?;
    let bad = |reason: String| DataError::Idx {
        path: path.to_path_buf(),
        reason,
    };
    let magic = be_u32(&b, 0).ok_or_else(|| bad("shorter than its header".into()))?;
    if magic != 0x0803 {
        return Err(bad(format!("magic {magic:#x}, expected 0x803 (u8 images)")));
    }
    let (n, r, c) = match (be_u32(&b, 4), be_u32(&b, 8), be_u32(&b, 12)) {
        (Some(n), Some(r), Some(c)) => (n, r, c),
        _ => return Err(bad("shorter than its header".into())),
    };
    let need = n
        .checked_mul(r)
        .and_then(|x| x.checked_mul(c))
        .ok_or_else(|| bad("size overflows".into()))?;
    if b.len() != 16 + need {
        return Err(bad(format!(
            "{} data bytes, header says {need}",
            b.len() - 16
        )));
    }
    Ok((n, r, c, b[16..].to_vec()))
}

/// Reads an IDX label file (magic 0x00000801).
pub fn load_idx_labels(path: &Path) -> Result<Vec<u8>> {
    let b = read_maybe_gz(path)?;
    let bad = |reason: String| DataError::Idx {
        path: path.to_path_buf(),
        reason,
    };
    let magic = be_u32(&b, 0).ok_or_else(|| bad("shorter than its header".into()))?;
    if magic != 0x0801 {
        return Err(bad(format!("magic {magic:#x}, expected 0x801 (u8 labels)")));
    }
    let n = be_u32(&b, 4).ok_or_else(|| bad("shorter than its header".into()))?;
    if b.len() != 8 + n {
        return Err(bad(format!("{} labels, header says {n}", b.len() - 8)));
    }
    Ok(b[8..].to_vec())
}

/// Reads an image + label IDX pair.
pub fn load_idx(images: &Path, labels: &Path) -> Result<IdxSet> {
    let (n, rows, cols, pixels) = load_idx_images(images)?;
    let labels_v = load_idx_labels(labels)?;
    if labels_v.len() != n {
        return Err(DataError::Idx {
            path: labels.to_path_buf(),
            reason: format!("{} labels for {n} images", labels_v.len()),
        });
    }
    Ok(IdxSet {
        rows,
        cols,
        pixels,
        labels: labels_v,
    })
}

/// Loads `train` (60k) or `t10k` (10k) from a Fashion-MNIST folder.
pub fn load_split(dir: &Path, train: bool) -> Result<IdxSet> {
    let p = if train { "train" } else { "t10k" };
    load_idx(
        &dir.join(format!("{p}-images-idx3-ubyte.gz")),
        &dir.join(format!("{p}-labels-idx1-ubyte.gz")),
    )
}

/// How to build the folder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LongTailSpec {
    /// Training images of the most frequent class (class 0).
    pub max_per_class: usize,
    /// Ratio between the most and least frequent class; counts decay exponentially with the
    /// label (`n_c = max · ratio^(-c / 9)`). 1 = balanced.
    pub imbalance_ratio: f64,
    /// Fraction of training images whose label is flipped to another class at random.
    pub noise_rate: f64,
    /// Validation images per class (clean, from the test set).
    pub val_per_class: usize,
    /// Test images per class (clean, from the test set, disjoint from val).
    pub test_per_class: usize,
    /// Output side in pixels (28 = native; larger values upscale, for backbones that need it).
    pub image_size: u32,
    /// Seed of the selection and the noise.
    pub seed: u64,
}

impl Default for LongTailSpec {
    fn default() -> Self {
        LongTailSpec {
            max_per_class: 200,
            imbalance_ratio: 10.0,
            noise_rate: 0.0,
            val_per_class: 20,
            test_per_class: 20,
            image_size: 28,
            seed: 0,
        }
    }
}

/// A flipped label.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoiseRecord {
    /// The file (in its *given*, wrong class folder).
    pub path: PathBuf,
    /// Index in the original IDX training set.
    pub source_index: usize,
    /// The true label.
    pub true_label: usize,
    /// The label the folder gives it.
    pub given_label: usize,
}

/// What [`write_image_folder`] produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PreparedFolder {
    /// Dataset root (contains train/, val/, test/).
    pub root: PathBuf,
    /// The spec used.
    pub spec: LongTailSpec,
    /// Training images per class (by true label, before noise).
    pub train_counts: Vec<usize>,
    /// Training images per class folder (after noise).
    pub train_counts_given: Vec<usize>,
    /// Validation images per class.
    pub val_counts: Vec<usize>,
    /// Test images per class.
    pub test_counts: Vec<usize>,
    /// Injected label noise (also written to `root/noise.json`).
    pub noise: Vec<NoiseRecord>,
}

/// Long-tailed per-class counts for `classes` classes.
pub fn long_tail_counts(max_per_class: usize, ratio: f64, classes: usize) -> Vec<usize> {
    (0..classes)
        .map(|c| {
            let e = if classes > 1 {
                c as f64 / (classes - 1) as f64
            } else {
                0.0
            };
            ((max_per_class as f64) * ratio.max(1.0).powf(-e))
                .round()
                .max(1.0) as usize
        })
        .collect()
}

fn write_png(path: &Path, pixels: &[u8], side: usize, out_side: u32) -> Result<()> {
    let img = image::GrayImage::from_raw(side as u32, side as u32, pixels.to_vec())
        .ok_or_else(|| DataError::Image("pixel buffer size mismatch".into()))?;
    let img = if out_side as usize != side {
        image::imageops::resize(
            &img,
            out_side,
            out_side,
            image::imageops::FilterType::Triangle,
        )
    } else {
        img
    };
    img.save_with_format(path, image::ImageFormat::Png)
        .map_err(|e| DataError::Image(format!("writing {}: {e}", path.display())))
}

/// Builds `out/train`, `out/val`, `out/test` (PNG, greyscale) from the Fashion-MNIST IDX
/// files in `src_dir`, plus `out/noise.json` (the flipped labels) and `out/prepared.json`
/// (this function's result). Deterministic in `spec.seed`. `out/train`, `out/val` and
/// `out/test` must not exist yet or be empty.
pub fn write_image_folder(
    src_dir: &Path,
    out: &Path,
    spec: &LongTailSpec,
) -> Result<PreparedFolder> {
    if !(0.0..1.0).contains(&spec.noise_rate) || spec.imbalance_ratio < 1.0 || spec.image_size == 0
    {
        return Err(DataError::InvalidConfig(format!(
            "need 0 <= noise_rate < 1, imbalance_ratio >= 1, image_size > 0: {spec:?}"
        )));
    }
    // Stale files from an earlier run would silently join the new dataset: refuse instead.
    for split in ["train", "val", "test"] {
        let d = out.join(split);
        if let Ok(mut entries) = std::fs::read_dir(&d)
            && entries.next().is_some()
        {
            return Err(DataError::InvalidConfig(format!(
                "{} already exists and is not empty; write into a fresh folder",
                d.display()
            )));
        }
    }
    let train = load_split(src_dir, true)?;
    let test = load_split(src_dir, false)?;
    let classes = CLASS_NAMES.len();
    let mut rng = Rng::derive(spec.seed, &[tag::FASHION, 0]);

    let by_class = |set: &IdxSet| -> Vec<Vec<usize>> {
        let mut v = vec![Vec::new(); classes];
        for (i, &l) in set.labels.iter().enumerate() {
            if (l as usize) < classes {
                v[l as usize].push(i);
            }
        }
        v
    };
    let train_counts = long_tail_counts(spec.max_per_class, spec.imbalance_ratio, classes);
    let mut train_by = by_class(&train);
    let mut picks: Vec<(usize, usize)> = Vec::new(); // (source index, true label)
    for (c, members) in train_by.iter_mut().enumerate() {
        rng.shuffle(members);
        if members.len() < train_counts[c] {
            return Err(DataError::InvalidConfig(format!(
                "class {c} has {} training images, {} requested",
                members.len(),
                train_counts[c]
            )));
        }
        picks.extend(members[..train_counts[c]].iter().map(|&i| (i, c)));
    }
    // Label noise: exactly round(rate · N) samples, each to a uniformly chosen other class.
    let n_noisy = (spec.noise_rate * picks.len() as f64).round() as usize;
    let mut order: Vec<usize> = (0..picks.len()).collect();
    rng.shuffle(&mut order);
    let mut given: Vec<usize> = picks.iter().map(|p| p.1).collect();
    for &k in order.iter().take(n_noisy) {
        let other = rng.below(classes - 1);
        given[k] = if other >= picks[k].1 {
            other + 1
        } else {
            other
        };
    }

    let mut test_by = by_class(&test);
    let mut val_picks = Vec::new();
    let mut test_picks = Vec::new();
    for (c, members) in test_by.iter_mut().enumerate() {
        rng.shuffle(members);
        if members.len() < spec.val_per_class + spec.test_per_class {
            return Err(DataError::InvalidConfig(format!(
                "class {c} has {} test-set images, {} requested for val + test",
                members.len(),
                spec.val_per_class + spec.test_per_class
            )));
        }
        val_picks.extend(members[..spec.val_per_class].iter().map(|&i| (i, c)));
        test_picks.extend(
            members[spec.val_per_class..spec.val_per_class + spec.test_per_class]
                .iter()
                .map(|&i| (i, c)),
        );
    }

    for split in ["train", "val", "test"] {
        for f in FOLDER_NAMES {
            let d = out.join(split).join(f);
            std::fs::create_dir_all(&d).map_err(|e| DataError::io(&d, e))?;
        }
    }
    let side = train.rows;
    let mut jobs: Vec<(PathBuf, &IdxSet, usize)> = Vec::new();
    let mut noise = Vec::new();
    for (k, &(i, c)) in picks.iter().enumerate() {
        let p = out
            .join("train")
            .join(FOLDER_NAMES[given[k]])
            .join(format!("fm_train_{i:05}.png"));
        if given[k] != c {
            noise.push(NoiseRecord {
                path: p.clone(),
                source_index: i,
                true_label: c,
                given_label: given[k],
            });
        }
        jobs.push((p, &train, i));
    }
    for (split, picks) in [("val", &val_picks), ("test", &test_picks)] {
        for &(i, c) in picks.iter() {
            let p = out
                .join(split)
                .join(FOLDER_NAMES[c])
                .join(format!("fm_t10k_{i:05}.png"));
            jobs.push((p, &test, i));
        }
    }
    jobs.par_iter()
        .try_for_each(|(p, set, i)| write_png(p, set.image(*i), side, spec.image_size))?;
    noise.sort_by_key(|n| n.source_index);

    let mut train_counts_given = vec![0usize; classes];
    for g in &given {
        train_counts_given[*g] += 1;
    }
    let prepared = PreparedFolder {
        root: out.to_path_buf(),
        spec: spec.clone(),
        train_counts,
        train_counts_given,
        val_counts: vec![spec.val_per_class; classes],
        test_counts: vec![spec.test_per_class; classes],
        noise,
    };
    write_json(&out.join("noise.json"), &prepared.noise)?;
    write_json(&out.join("prepared.json"), &prepared)?;
    Ok(prepared)
}

fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<()> {
    let s = serde_json::to_string_pretty(v).map_err(|e| DataError::Json {
        path: path.to_path_buf(),
        source: e,
    })?;
    crate::audit::report::write_atomic(path, s.as_bytes())
}

/// Reads `noise.json` written by [`write_image_folder`].
pub fn read_noise(root: &Path) -> Result<Vec<NoiseRecord>> {
    let path = root.join("noise.json");
    let s = std::fs::read_to_string(&path).map_err(|e| DataError::io(&path, e))?;
    serde_json::from_str(&s).map_err(|e| DataError::Json { path, source: e })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_tail_shape() {
        let c = long_tail_counts(100, 10.0, 10);
        assert_eq!(c[0], 100);
        assert_eq!(c[9], 10);
        assert!(c.windows(2).all(|w| w[0] >= w[1]));
        assert_eq!(long_tail_counts(50, 1.0, 3), vec![50, 50, 50]);
    }

    #[test]
    fn idx_header_errors_are_typed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.idx");
        std::fs::write(
            &p,
            [0u8, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3],
        )
        .unwrap();
        assert!(matches!(load_idx_images(&p), Err(DataError::Idx { .. })));
        std::fs::write(
            &p,
            [0u8, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4],
        )
        .unwrap();
        let (n, r, c, px) = load_idx_images(&p).unwrap();
        assert_eq!((n, r, c, px), (1, 2, 2, vec![1, 2, 3, 4]));
    }
}
