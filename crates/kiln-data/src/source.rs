//! Where samples come from: an ImageFolder tree or a CSV manifest.
//!
//! Layout: `root/train/<class>/…`, optionally `root/val/<class>/…` and `root/test/<class>/…`
//! (nested sub-folders inside a class folder are walked). Classes are the sorted names of
//! train's sub-folders, so label indices are stable across machines. A class folder under
//! `val/` or `test/` that train does not have is an error: silently renumbering labels would
//! make every metric wrong. Files that are not images (by extension) or cannot be read are
//! *recorded* in [`ImageFolder::skipped`], never dropped silently.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};

/// File extensions treated as images (compared case-insensitively).
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "bmp", "webp"];

/// One labelled image.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Sample {
    /// Image file.
    pub path: PathBuf,
    /// Class index into the dataset's class names.
    pub label: usize,
    /// Optional group (patient, session, source video…): group-aware splits never put one
    /// group on both sides.
    pub group: Option<String>,
}

/// Which part of a dataset a sample belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Training data.
    Train,
    /// Validation data.
    Val,
    /// Test data.
    Test,
}

impl Split {
    /// Folder name of the split (`train`, `val`, `test`).
    pub fn dir_name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.dir_name())
    }
}

/// A file found while scanning that is not part of the dataset, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedFile {
    /// The file.
    pub path: PathBuf,
    /// Why it was left out.
    pub reason: String,
}

/// Labelled samples plus the class names their labels index.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    samples: Vec<Sample>,
    classes: Vec<String>,
}

impl Dataset {
    /// Builds a dataset, checking every label indexes `classes`.
    pub fn new(samples: Vec<Sample>, classes: Vec<String>) -> Result<Self> {
        if let Some(s) = samples.iter().find(|s| s.label >= classes.len()) {
            return Err(DataError::InvalidConfig(format!(
                "sample {} has label {} but there are {} classes",
                s.path.display(),
                s.label,
                classes.len()
            )));
        }
        Ok(Dataset { samples, classes })
    }

    /// Scans one split folder `dir/<class>/…` (torchvision's ImageFolder layout). Returns the
    /// dataset and the files that were skipped.
    pub fn from_class_folders(dir: impl AsRef<Path>) -> Result<(Dataset, Vec<SkippedFile>)> {
        let dir = dir.as_ref();
        let classes = class_dirs(dir)?;
        if classes.is_empty() {
            return Err(DataError::NoClasses(dir.to_path_buf()));
        }
        let mut skipped = Vec::new();
        let samples = scan_split(dir, &classes, "folder", &mut skipped)?;
        Ok((Dataset { samples, classes }, skipped))
    }

    /// All samples, in a stable order (class, then path).
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// Sample `i`.
    pub fn get(&self, i: usize) -> Option<&Sample> {
        self.samples.get(i)
    }

    /// Class names; `label` indexes this list.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Number of classes (including classes with no sample here).
    pub fn num_classes(&self) -> usize {
        self.classes.len()
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Samples per class, indexed by label.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.classes.len()];
        for s in &self.samples {
            c[s.label] += 1;
        }
        c
    }

    /// Largest class count over smallest non-empty class count (1.0 when balanced; infinite
    /// when there are no samples).
    pub fn imbalance_ratio(&self) -> f64 {
        imbalance_ratio(&self.class_counts())
    }

    /// Labels of all samples, in order.
    pub fn labels(&self) -> Vec<usize> {
        self.samples.iter().map(|s| s.label).collect()
    }

    /// Groups of all samples, in order.
    pub fn groups(&self) -> Vec<Option<String>> {
        self.samples.iter().map(|s| s.group.clone()).collect()
    }

    /// Sets each sample's group from a function (e.g. a file-name prefix or parent folder),
    /// for group-aware splits.
    pub fn with_groups(mut self, f: impl Fn(&Sample) -> Option<String>) -> Self {
        for s in &mut self.samples {
            s.group = f(s);
        }
        self
    }

    /// The samples at `indices` (same classes).
    pub fn subset(&self, indices: &[usize]) -> Result<Dataset> {
        let mut samples = Vec::with_capacity(indices.len());
        for &i in indices {
            let s = self.samples.get(i).ok_or_else(|| {
                DataError::InvalidConfig(format!(
                    "index {i} out of range for a dataset of {}",
                    self.samples.len()
                ))
            })?;
            samples.push(s.clone());
        }
        Ok(Dataset {
            samples,
            classes: self.classes.clone(),
        })
    }

    /// Stratified holdout: returns `(train, valid)` with `valid_fraction` of each class (±1)
    /// in `valid`. Deterministic in `seed`.
    pub fn stratified_split(&self, valid_fraction: f64, seed: u64) -> Result<(Dataset, Dataset)> {
        let s = crate::split::stratified_holdout(&self.labels(), valid_fraction, seed)?;
        Ok((self.subset(&s.train)?, self.subset(&s.valid)?))
    }

    /// Group-aware stratified holdout: no group appears in both parts. Samples without a
    /// group are their own group.
    pub fn group_split(&self, valid_fraction: f64, seed: u64) -> Result<(Dataset, Dataset)> {
        let s = crate::split::group_stratified_holdout(
            &self.labels(),
            &self.groups(),
            valid_fraction,
            seed,
        )?;
        Ok((self.subset(&s.train)?, self.subset(&s.valid)?))
    }

    /// Stratified k-fold: `k` `(train, valid)` pairs whose valid parts partition the data.
    pub fn stratified_kfold(&self, k: usize, seed: u64) -> Result<Vec<(Dataset, Dataset)>> {
        crate::split::stratified_kfold(&self.labels(), k, seed)?
            .into_iter()
            .map(|s| Ok((self.subset(&s.train)?, self.subset(&s.valid)?)))
            .collect()
    }

    /// Reads a CSV manifest `path,label[,group]` (header optional, paths relative to the
    /// manifest's folder). Classes are the sorted distinct labels.
    pub fn from_csv(manifest: impl AsRef<Path>) -> Result<Dataset> {
        read_manifest(manifest.as_ref(), None)
    }

    /// Reads a CSV manifest whose labels must be among `classes` (e.g. a validation manifest
    /// that must use the training classes' indices).
    pub fn from_csv_with_classes(
        manifest: impl AsRef<Path>,
        classes: &[String],
    ) -> Result<Dataset> {
        read_manifest(manifest.as_ref(), Some(classes))
    }
}

/// Largest over smallest non-zero count; infinite when all are zero.
pub fn imbalance_ratio(counts: &[usize]) -> f64 {
    let max = counts.iter().copied().max().unwrap_or(0);
    let min = counts.iter().copied().filter(|&c| c > 0).min().unwrap_or(0);
    if min == 0 {
        f64::INFINITY
    } else {
        max as f64 / min as f64
    }
}

/// How thoroughly [`ImageFolder::open_with`] checks files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verify {
    /// Extension only (fast; bad files surface in the loader's failure log or the audit).
    #[default]
    None,
    /// Read each header (size, format) in parallel; unreadable ones are skipped and recorded.
    Header,
    /// Fully decode each image in parallel; undecodable ones are skipped and recorded.
    Decode,
}

/// Options of [`ImageFolder::open_with`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct OpenOptions {
    /// File verification level.
    pub verify: Verify,
}

/// A dataset on disk: `root/train/<class>/…` plus optional `val/` and `test/`.
#[derive(Clone, Debug)]
pub struct ImageFolder {
    root: PathBuf,
    classes: Vec<String>,
    train: Dataset,
    val: Option<Dataset>,
    test: Option<Dataset>,
    skipped: Vec<SkippedFile>,
}

impl ImageFolder {
    /// Opens `root` (extension-level checks only).
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(root, &OpenOptions::default())
    }

    /// Opens `root` with options (e.g. verify every file by decoding it).
    pub fn open_with(root: impl AsRef<Path>, options: &OpenOptions) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        let train_dir = root.join("train");
        if !train_dir.is_dir() {
            return Err(DataError::MissingTrain { root });
        }
        let classes = class_dirs(&train_dir)?;
        if classes.is_empty() {
            return Err(DataError::NoClasses(train_dir));
        }
        let mut skipped = Vec::new();
        let train_samples = scan_split(&train_dir, &classes, "train", &mut skipped)?;
        let other = |split: Split, skipped: &mut Vec<SkippedFile>| -> Result<Option<Vec<Sample>>> {
            let dir = root.join(split.dir_name());
            if !dir.is_dir() {
                return Ok(None);
            }
            let found = class_dirs(&dir)?;
            if let Some(bad) = found.iter().find(|c| !classes.contains(c)) {
                return Err(DataError::UnknownClass {
                    split: split.dir_name().to_string(),
                    class: bad.clone(),
                    known: classes.join(", "),
                });
            }
            Ok(Some(scan_split(&dir, &classes, split.dir_name(), skipped)?))
        };
        let val_samples = other(Split::Val, &mut skipped)?;
        let test_samples = other(Split::Test, &mut skipped)?;

        let mut verify = |v: Vec<Sample>| -> Vec<Sample> {
            let (kept, bad) = verify_samples(v, options.verify);
            skipped.extend(bad);
            kept
        };
        let train = Dataset {
            samples: verify(train_samples),
            classes: classes.clone(),
        };
        let val = val_samples.map(|s| Dataset {
            samples: verify(s),
            classes: classes.clone(),
        });
        let test = test_samples.map(|s| Dataset {
            samples: verify(s),
            classes: classes.clone(),
        });
        Ok(ImageFolder {
            root,
            classes,
            train,
            val,
            test,
            skipped,
        })
    }

    /// The dataset root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Class names (sorted train sub-folders).
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.classes.len()
    }

    /// The training split.
    pub fn train(&self) -> &Dataset {
        &self.train
    }

    /// The validation split, if `val/` exists.
    pub fn val(&self) -> Option<&Dataset> {
        self.val.as_ref()
    }

    /// The test split, if `test/` exists.
    pub fn test(&self) -> Option<&Dataset> {
        self.test.as_ref()
    }

    /// A split by name.
    pub fn split(&self, split: Split) -> Option<&Dataset> {
        match split {
            Split::Train => Some(&self.train),
            Split::Val => self.val.as_ref(),
            Split::Test => self.test.as_ref(),
        }
    }

    /// The splits present, in train, val, test order.
    pub fn splits(&self) -> Vec<(Split, &Dataset)> {
        [Split::Train, Split::Val, Split::Test]
            .into_iter()
            .filter_map(|s| self.split(s).map(|d| (s, d)))
            .collect()
    }

    /// Training classes that have no image.
    pub fn empty_classes(&self) -> Vec<String> {
        self.train
            .class_counts()
            .iter()
            .zip(&self.classes)
            .filter(|(c, _)| **c == 0)
            .map(|(_, n)| n.clone())
            .collect()
    }

    /// Files found but left out (non-image extension, unreadable, failed verification).
    pub fn skipped(&self) -> &[SkippedFile] {
        &self.skipped
    }
}

fn verify_samples(samples: Vec<Sample>, level: Verify) -> (Vec<Sample>, Vec<SkippedFile>) {
    if level == Verify::None {
        return (samples, Vec::new());
    }
    let checks: Vec<Option<String>> = samples
        .par_iter()
        .map(|s| {
            let r = match level {
                Verify::Header => crate::decode::probe(&s.path).map(|_| ()),
                _ => crate::decode::decode_rgb8(&s.path).map(|_| ()),
            };
            r.err().map(|e| e.to_string())
        })
        .collect();
    let mut kept = Vec::with_capacity(samples.len());
    let mut bad = Vec::new();
    for (s, c) in samples.into_iter().zip(checks) {
        match c {
            None => kept.push(s),
            Some(reason) => bad.push(SkippedFile {
                path: s.path,
                reason: format!("failed verification: {reason}"),
            }),
        }
    }
    (kept, bad)
}

/// Sorted names of the sub-folders of `dir` (hidden ones excluded).
fn class_dirs(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        names.push(name.to_string());
    }
    names.sort();
    Ok(names)
}

fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| {
            let e = e.to_ascii_lowercase();
            IMAGE_EXTENSIONS.contains(&e.as_str())
        })
        .unwrap_or(false)
}

/// Scans `dir/<class>/**` for every class in `classes` that exists under `dir`.
fn scan_split(
    dir: &Path,
    classes: &[String],
    split_name: &str,
    skipped: &mut Vec<SkippedFile>,
) -> Result<Vec<Sample>> {
    // Files directly in the split folder belong to no class: record them.
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        let p = entry.path();
        if !p.is_dir() {
            skipped.push(SkippedFile {
                path: p,
                reason: format!("file directly under {split_name}/ is in no class folder"),
            });
        }
    }
    let mut samples = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let cdir = dir.join(class);
        if !cdir.is_dir() {
            continue;
        }
        let mut files = Vec::new();
        walk(&cdir, &mut files, skipped);
        files.sort();
        for path in files {
            if has_image_extension(&path) {
                samples.push(Sample {
                    path,
                    label,
                    group: None,
                });
            } else {
                skipped.push(SkippedFile {
                    path,
                    reason: "not an image extension (jpg, jpeg, png, bmp, webp)".into(),
                });
            }
        }
    }
    Ok(samples)
}

/// Recursively lists files under `dir`; unreadable entries are recorded as skipped.
fn walk(dir: &Path, out: &mut Vec<PathBuf>, skipped: &mut Vec<SkippedFile>) {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => {
            skipped.push(SkippedFile {
                path: dir.to_path_buf(),
                reason: format!("unreadable folder: {e}"),
            });
            return;
        }
    };
    for entry in rd {
        match entry {
            Ok(entry) => {
                let p = entry.path();
                match std::fs::metadata(&p) {
                    Ok(m) if m.is_dir() => walk(&p, out, skipped),
                    Ok(m) if m.is_file() => out.push(p),
                    Ok(_) => skipped.push(SkippedFile {
                        path: p,
                        reason: "not a regular file".into(),
                    }),
                    Err(e) => skipped.push(SkippedFile {
                        path: p,
                        reason: format!("unreadable (broken link?): {e}"),
                    }),
                }
            }
            Err(e) => skipped.push(SkippedFile {
                path: dir.to_path_buf(),
                reason: format!("unreadable folder entry: {e}"),
            }),
        }
    }
}

/// Splits one CSV line into fields (RFC 4180 quotes, `""` escapes).
fn csv_fields(line: &str) -> std::result::Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut in_quotes = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    cur.push('"');
                    chars.next();
                } else {
                    in_quotes = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == '"' && cur.trim().is_empty() {
            in_quotes = true;
            was_quoted = true;
            cur.clear();
        } else if c == ',' {
            fields.push(if was_quoted {
                cur.clone()
            } else {
                cur.trim().to_string()
            });
            cur.clear();
            was_quoted = false;
        } else {
            cur.push(c);
        }
    }
    if in_quotes {
        return Err("unterminated quote".into());
    }
    fields.push(if was_quoted {
        cur
    } else {
        cur.trim().to_string()
    });
    Ok(fields)
}

fn read_manifest(path: &Path, classes: Option<&[String]>) -> Result<Dataset> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut rows: Vec<(PathBuf, String, Option<String>)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let f = csv_fields(line).map_err(|reason| DataError::Manifest {
            path: path.to_path_buf(),
            line: line_no,
            reason,
        })?;
        if rows.is_empty()
            && f.first()
                .map(|s| s.eq_ignore_ascii_case("path"))
                .unwrap_or(false)
            && f.get(1)
                .map(|s| s.eq_ignore_ascii_case("label"))
                .unwrap_or(false)
        {
            continue; // header
        }
        if f.len() < 2 || f.len() > 3 {
            return Err(DataError::Manifest {
                path: path.to_path_buf(),
                line: line_no,
                reason: format!("expected path,label[,group], got {} fields", f.len()),
            });
        }
        if f[0].is_empty() || f[1].is_empty() {
            return Err(DataError::Manifest {
                path: path.to_path_buf(),
                line: line_no,
                reason: "empty path or label".into(),
            });
        }
        let p = PathBuf::from(&f[0]);
        let p = if p.is_absolute() { p } else { base.join(p) };
        let group = f.get(2).filter(|g| !g.is_empty()).cloned();
        rows.push((p, f[1].clone(), group));
    }
    let classes: Vec<String> = match classes {
        Some(c) => c.to_vec(),
        None => {
            let set: std::collections::BTreeSet<&String> = rows.iter().map(|r| &r.1).collect();
            set.into_iter().cloned().collect()
        }
    };
    let index: BTreeMap<&str, usize> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let mut samples = Vec::with_capacity(rows.len());
    for (p, label, group) in &rows {
        let Some(&l) = index.get(label.as_str()) else {
            return Err(DataError::UnknownClass {
                split: format!("manifest {}", path.display()),
                class: label.clone(),
                known: classes.join(", "),
            });
        };
        samples.push(Sample {
            path: p.clone(),
            label: l,
            group: group.clone(),
        });
    }
    Ok(Dataset { samples, classes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_handle_quotes() {
        assert_eq!(csv_fields("a,b,c").unwrap(), vec!["a", "b", "c"]);
        assert_eq!(
            csv_fields("\"x, y.png\",cat,\"g\"\"1\"").unwrap(),
            vec!["x, y.png", "cat", "g\"1"]
        );
        assert!(csv_fields("\"open,b").is_err());
    }

    #[test]
    fn imbalance() {
        assert_eq!(imbalance_ratio(&[10, 5, 0]), 2.0);
        assert!(imbalance_ratio(&[0, 0]).is_infinite());
    }
}
