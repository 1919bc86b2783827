//! The audit itself and its report (JSON, written atomically, plus a text summary).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::hash::{hamming, perceptual_hash, sha256_hex};
use crate::decode::{FileFormat, PixelMode, decode_bytes, format_from_extension, sniff_format};
use crate::error::{DataError, Result};
use crate::source::{Dataset, ImageFolder, SkippedFile, Split};

/// Audit thresholds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditConfig {
    /// Classes with fewer training images are reported.
    pub min_class_count: usize,
    /// Images whose shorter side is below this are reported.
    pub min_side: u32,
    /// Images whose long/short side ratio exceeds this are reported.
    pub max_aspect: f64,
    /// Robust z-score (median/MAD of log area) above which an image's size is an outlier.
    pub area_outlier_z: f64,
    /// Largest pHash Hamming distance of a near-duplicate pair.
    pub phash_threshold: u32,
    /// Largest dHash Hamming distance of a near-duplicate pair.
    pub dhash_threshold: u32,
    /// At most this many near-duplicate pairs (and leakage / conflict entries) are listed;
    /// the counts in [`Totals`] are always exact.
    pub max_near_pairs: usize,
    /// Dedicated thread count (`None`: the global rayon pool).
    pub threads: Option<usize>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            min_class_count: 10,
            min_side: 16,
            max_aspect: 8.0,
            area_outlier_z: 6.0,
            phash_threshold: 6,
            dhash_threshold: 10,
            max_near_pairs: 10_000,
            threads: None,
        }
    }
}

/// Everything learnt about one file (small: no pixels).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileRecord {
    /// The file.
    pub path: PathBuf,
    /// Its split.
    pub split: Split,
    /// Its label.
    pub label: usize,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the bytes (empty if unreadable).
    pub sha256: String,
    /// Format from the file's signature.
    pub format: Option<FileFormat>,
    /// Format claimed by the extension.
    pub extension_format: Option<FileFormat>,
    /// Width (0 if undecodable).
    pub width: u32,
    /// Height (0 if undecodable).
    pub height: u32,
    /// Pixel mode in the file.
    pub mode: Option<PixelMode>,
    /// JPEG without end marker.
    pub truncated: bool,
    /// pHash.
    pub phash: u64,
    /// dHash.
    pub dhash: u64,
    /// Blank or nearly uniform.
    pub low_information: bool,
    /// Why the file could not be read or decoded.
    pub error: Option<String>,
}

/// Reads, decodes and fingerprints one file. Never panics on bad data.
pub fn inspect_file(path: &Path, split: Split, label: usize) -> FileRecord {
    let mut r = FileRecord {
        path: path.to_path_buf(),
        split,
        label,
        bytes: 0,
        sha256: String::new(),
        format: None,
        extension_format: format_from_extension(path),
        width: 0,
        height: 0,
        mode: None,
        truncated: false,
        phash: 0,
        dhash: 0,
        low_information: false,
        error: None,
    };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            r.error = Some(format!("unreadable: {e}"));
            return r;
        }
    };
    r.bytes = bytes.len() as u64;
    r.sha256 = sha256_hex(&bytes);
    r.format = sniff_format(&bytes);
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        decode_bytes(&bytes, path).and_then(|d| perceptual_hash(&d.image).map(|h| (d, h)))
    }));
    match decoded {
        Ok(Ok((d, h))) => {
            r.width = d.info.width;
            r.height = d.info.height;
            r.mode = Some(d.info.mode);
            r.truncated = d.truncated;
            r.phash = h.phash;
            r.dhash = h.dhash;
            r.low_information = h.low_information;
        }
        Ok(Err(e)) => {
            r.error = Some(match e {
                DataError::Decode { reason, .. } => reason,
                other => other.to_string(),
            })
        }
        Err(_) => r.error = Some("decoder panicked".into()),
    }
    r
}

/// A file, as the report names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FileRef {
    /// The file.
    pub path: PathBuf,
    /// Its split.
    pub split: Split,
    /// Its class name.
    pub class: String,
}

/// A problem with one file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileIssue {
    /// The file.
    #[serde(flatten)]
    pub file: FileRef,
    /// What is wrong.
    pub detail: String,
}

/// Files with identical bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DuplicateGroup {
    /// Their SHA-256.
    pub sha256: String,
    /// The copies.
    pub files: Vec<FileRef>,
}

/// Two different files showing the same picture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NearDuplicate {
    /// One file.
    pub a: FileRef,
    /// The other.
    pub b: FileRef,
    /// pHash distance.
    pub phash_distance: u32,
    /// dHash distance.
    pub dhash_distance: u32,
}

/// Copies that are a problem — an exact-duplicate group, or a near-duplicate pair with the
/// exact copies of both sides — because they span splits (leakage) or carry several labels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    /// The files.
    pub files: Vec<FileRef>,
    /// Splits involved.
    pub splits: Vec<Split>,
    /// Class names involved.
    pub classes: Vec<String>,
    /// All copies are byte-identical.
    pub exact: bool,
}

/// One class's count.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassCount {
    /// Class name.
    pub class: String,
    /// Number of images.
    pub count: usize,
}

/// Class distribution of one split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitDistribution {
    /// The split.
    pub split: Split,
    /// Images.
    pub total: usize,
    /// Per-class counts, in label order.
    pub counts: Vec<ClassCount>,
    /// Largest / smallest non-empty class (`None` if no images).
    pub imbalance_ratio: Option<f64>,
    /// Classes with no image.
    pub empty_classes: Vec<String>,
    /// Classes below `min_class_count` (training split only).
    pub below_minimum: Vec<String>,
}

/// Headline numbers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Files examined.
    pub files: usize,
    /// Files decoded fine.
    pub decoded: usize,
    /// Unreadable or undecodable files.
    pub unreadable: usize,
    /// Truncated JPEGs.
    pub truncated: usize,
    /// Files skipped while scanning (not images).
    pub skipped: usize,
    /// Files whose extension does not match their content.
    pub format_mismatches: usize,
    /// Files in a minority pixel mode.
    pub mode_anomalies: usize,
    /// Size or aspect outliers.
    pub size_outliers: usize,
    /// Blank images.
    pub low_information: usize,
    /// Groups of byte-identical files.
    pub exact_duplicate_groups: usize,
    /// Files that are an extra copy of another file.
    pub exact_duplicate_files: usize,
    /// Near-duplicate pairs (all of them, even beyond `max_near_pairs`).
    pub near_duplicate_pairs: usize,
    /// Exact-duplicate groups or near-duplicate pairs spanning splits.
    pub leaking_clusters: usize,
    /// Exact-duplicate groups or near-duplicate pairs with several labels.
    pub label_conflicts: usize,
}

/// The audit's findings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditReport {
    /// Dataset root, when audited from a folder.
    pub root: Option<PathBuf>,
    /// Class names.
    pub classes: Vec<String>,
    /// Thresholds used.
    pub config: AuditConfig,
    /// Headline numbers.
    pub totals: Totals,
    /// Class distribution per split.
    pub class_distribution: Vec<SplitDistribution>,
    /// Files per pixel mode.
    pub mode_counts: BTreeMap<String, usize>,
    /// Unreadable / undecodable files.
    pub unreadable: Vec<FileIssue>,
    /// Truncated JPEGs (decodable, with a grey bottom).
    pub truncated: Vec<FileIssue>,
    /// Extension/content mismatches.
    pub format_mismatches: Vec<FileIssue>,
    /// Files whose pixel mode differs from the majority.
    pub mode_anomalies: Vec<FileIssue>,
    /// Too small, extreme aspect, or unusual area.
    pub size_outliers: Vec<FileIssue>,
    /// Blank / uniform images.
    pub low_information: Vec<FileIssue>,
    /// Byte-identical files.
    pub exact_duplicates: Vec<DuplicateGroup>,
    /// Near-duplicate pairs (capped at `max_near_pairs`).
    pub near_duplicates: Vec<NearDuplicate>,
    /// Copies across splits (capped at `max_near_pairs`).
    pub leakage: Vec<Cluster>,
    /// Copies with different labels (capped at `max_near_pairs`).
    pub label_conflicts: Vec<Cluster>,
    /// Files skipped while scanning.
    pub skipped: Vec<SkippedFile>,
    /// Caveats about the findings (e.g. tiny images, truncated lists).
    #[serde(default)]
    pub notes: Vec<String>,
    /// Per-file records (for tools that want to go further; large for big datasets).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub records: Vec<FileRecord>,
}

/// Audits every split of an [`ImageFolder`].
pub fn audit_image_folder(folder: &ImageFolder, cfg: &AuditConfig) -> Result<AuditReport> {
    let mut r = audit_datasets(folder.classes(), &folder.splits(), folder.skipped(), cfg)?;
    r.root = Some(folder.root().to_path_buf());
    Ok(r)
}

fn run_in_pool<T: Send>(threads: Option<usize>, f: impl FnOnce() -> T + Send) -> Result<T> {
    match threads {
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| DataError::InvalidConfig(format!("thread pool: {e}")))?;
            Ok(pool.install(f))
        }
        None => Ok(f()),
    }
}

/// Audits labelled splits that share `classes`.
pub fn audit_datasets(
    classes: &[String],
    splits: &[(Split, &Dataset)],
    skipped: &[SkippedFile],
    cfg: &AuditConfig,
) -> Result<AuditReport> {
    let items: Vec<(Split, &crate::source::Sample)> = splits
        .iter()
        .flat_map(|(s, d)| d.samples().iter().map(move |x| (*s, x)))
        .collect();
    let records: Vec<FileRecord> = run_in_pool(cfg.threads, || {
        items
            .par_iter()
            .map(|(split, s)| inspect_file(&s.path, *split, s.label))
            .collect()
    })?;
    let fref = |r: &FileRecord| FileRef {
        path: r.path.clone(),
        split: r.split,
        class: classes
            .get(r.label)
            .cloned()
            .unwrap_or_else(|| format!("#{}", r.label)),
    };
    let issue = |r: &FileRecord, detail: String| FileIssue {
        file: fref(r),
        detail,
    };

    let mut totals = Totals {
        files: records.len(),
        skipped: skipped.len(),
        ..Default::default()
    };
    let mut unreadable = Vec::new();
    let mut truncated = Vec::new();
    let mut format_mismatches = Vec::new();
    let mut low_information = Vec::new();
    let mut mode_counts: BTreeMap<String, usize> = BTreeMap::new();
    let mode_name = |m: PixelMode| {
        serde_json::to_value(m)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| format!("{m:?}"))
    };
    for r in &records {
        if let Some(e) = &r.error {
            unreadable.push(issue(r, e.clone()));
            continue;
        }
        totals.decoded += 1;
        if let Some(m) = r.mode {
            *mode_counts.entry(mode_name(m)).or_default() += 1;
        }
        if r.truncated {
            truncated.push(issue(
                r,
                "JPEG has no end-of-image marker (truncated); decodes with a filled-in bottom"
                    .into(),
            ));
        }
        if let (Some(ext), Some(fmt)) = (r.extension_format, r.format)
            && ext != fmt
        {
            format_mismatches.push(issue(
                r,
                format!("extension says {ext:?}, content is {fmt:?}"),
            ));
        }
        if r.low_information {
            low_information.push(issue(r, "nearly uniform image (blank?)".into()));
        }
    }
    // Mode anomalies: anything not in the majority mode.
    let majority = mode_counts
        .iter()
        .max_by_key(|(_, c)| **c)
        .map(|(m, _)| m.clone());
    let mut mode_anomalies = Vec::new();
    for r in records.iter().filter(|r| r.error.is_none()) {
        if let Some(m) = r.mode {
            let name = mode_name(m);
            if Some(&name) != majority.as_ref() {
                let maj = majority.clone().unwrap_or_default();
                mode_anomalies.push(issue(r, format!("pixel mode {name} (dataset majority: {maj}); converted to RGB8 when loading")));
            }
        }
    }
    // Size outliers.
    let ok: Vec<&FileRecord> = records.iter().filter(|r| r.error.is_none()).collect();
    let mut log_areas: Vec<f64> = ok
        .iter()
        .map(|r| ((r.width as f64) * (r.height as f64)).ln())
        .collect();
    log_areas.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let median = |v: &[f64]| -> f64 {
        if v.is_empty() {
            0.0
        } else if v.len() % 2 == 1 {
            v[v.len() / 2]
        } else {
            (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
        }
    };
    let med = median(&log_areas);
    let mut dev: Vec<f64> = log_areas.iter().map(|a| (a - med).abs()).collect();
    dev.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let mad = median(&dev) * 1.4826;
    let mut size_outliers = Vec::new();
    for r in &ok {
        let (w, h) = (r.width, r.height);
        let mut why = Vec::new();
        if w.min(h) < cfg.min_side {
            why.push(format!("shorter side {} < {}", w.min(h), cfg.min_side));
        }
        let aspect = w.max(h) as f64 / w.min(h).max(1) as f64;
        if aspect > cfg.max_aspect {
            why.push(format!("aspect ratio {aspect:.1} > {}", cfg.max_aspect));
        }
        let la = ((w as f64) * (h as f64)).ln();
        // With MAD 0 (all one size) any other size is an outlier; tiny floor avoids 0/0.
        let z = (la - med).abs() / mad.max(1e-3);
        if z > cfg.area_outlier_z && (la - med).abs() > 0.5 {
            why.push(format!(
                "area {w}x{h} is {:.1}x the median",
                (la - med).exp()
            ));
        }
        if !why.is_empty() {
            size_outliers.push(issue(r, why.join("; ")));
        }
    }

    // Exact duplicates: files with the same SHA-256.
    let mut by_sha: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        if !r.sha256.is_empty() {
            by_sha.entry(r.sha256.as_str()).or_default().push(i);
        }
    }
    let mut exact_duplicates = Vec::new();
    for (sha, members) in &by_sha {
        if members.len() > 1 {
            totals.exact_duplicate_files += members.len() - 1;
            let mut files: Vec<FileRef> = members.iter().map(|&i| fref(&records[i])).collect();
            files.sort();
            exact_duplicates.push(DuplicateGroup {
                sha256: sha.to_string(),
                files,
            });
        }
    }
    exact_duplicates.sort_by(|a, b| a.files[0].cmp(&b.files[0]));

    // Near duplicates among distinct contents (one representative per SHA), O(n²) in parallel:
    // 64-bit XOR + popcount per pair is ~1 ns, so 100k distinct images take seconds.
    let mut reps: Vec<usize> = by_sha
        .values()
        .map(|m| m[0])
        .filter(|&i| records[i].error.is_none() && !records[i].low_information)
        .collect();
    reps.sort_unstable();
    let hashes: Vec<(u64, u64)> = reps
        .iter()
        .map(|&i| (records[i].phash, records[i].dhash))
        .collect();
    let (tp, td) = (cfg.phash_threshold, cfg.dhash_threshold);
    let pairs: Vec<(usize, usize, u32, u32)> = run_in_pool(cfg.threads, || {
        (0..hashes.len())
            .into_par_iter()
            .flat_map_iter(|a| {
                let (pa, da) = hashes[a];
                let hashes = &hashes;
                (a + 1..hashes.len()).filter_map(move |b| {
                    let dp = hamming(pa, hashes[b].0);
                    if dp > tp {
                        return None;
                    }
                    let dd = hamming(da, hashes[b].1);
                    (dd <= td).then_some((a, b, dp, dd))
                })
            })
            .collect()
    })?;
    totals.near_duplicate_pairs = pairs.len();
    let mut near_duplicates = Vec::new();
    for &(a, b, dp, dd) in pairs.iter().take(cfg.max_near_pairs) {
        near_duplicates.push(NearDuplicate {
            a: fref(&records[reps[a]]),
            b: fref(&records[reps[b]]),
            phash_distance: dp,
            dhash_distance: dd,
        });
    }

    // Leakage and label conflicts, per exact group and per near pair (with the exact copies
    // of both sides). Near pairs are not chained transitively: A≈B and B≈C does not make
    // A≈C, and chaining look-alikes would merge whole classes of similar-looking images.
    let copies = |i: usize| -> &[usize] {
        by_sha
            .get(records[i].sha256.as_str())
            .map(|v| v.as_slice())
            .unwrap_or(&[])
    };
    // (members, exact, where side B starts): a near pair only counts when it links what its
    // two exact groups do not already link on their own.
    let mut candidates: Vec<(Vec<usize>, bool, usize)> = exact_duplicates_members(&by_sha);
    for &(a, b, _, _) in &pairs {
        let mut m: Vec<usize> = copies(reps[a]).to_vec();
        let k = m.len();
        m.extend_from_slice(copies(reps[b]));
        candidates.push((m, false, k));
    }
    let mut leakage = Vec::new();
    let mut label_conflicts = Vec::new();
    for (members, exact, k) in candidates {
        let set = |r: &[usize], f: &dyn Fn(&FileRecord) -> usize| -> BTreeSet<usize> {
            r.iter().map(|&i| f(&records[i])).collect()
        };
        let split_of = |r: &FileRecord| r.split as usize;
        let label_of = |r: &FileRecord| r.label;
        let new_link = |f: &dyn Fn(&FileRecord) -> usize| -> bool {
            let all = set(&members, f);
            all.len() > 1
                && (exact
                    || (!all.is_subset(&set(&members[..k], f))
                        && !all.is_subset(&set(&members[k..], f))))
        };
        let (leaks, conflicts) = (new_link(&split_of), new_link(&label_of));
        if !leaks && !conflicts {
            continue;
        }
        let splits: BTreeSet<Split> = members.iter().map(|&i| records[i].split).collect();
        let labels: BTreeSet<usize> = members.iter().map(|&i| records[i].label).collect();
        if leaks {
            totals.leaking_clusters += 1;
        }
        if conflicts {
            totals.label_conflicts += 1;
        }
        let listed = |v: &Vec<Cluster>| v.len() < cfg.max_near_pairs;
        if !(leaks && listed(&leakage) || conflicts && listed(&label_conflicts)) {
            continue;
        }
        let mut files: Vec<FileRef> = members.iter().map(|&i| fref(&records[i])).collect();
        files.sort();
        let c = Cluster {
            files,
            splits: splits.into_iter().collect(),
            classes: labels
                .iter()
                .map(|&l| classes.get(l).cloned().unwrap_or_else(|| format!("#{l}")))
                .collect(),
            exact,
        };
        if leaks && listed(&leakage) {
            leakage.push(c.clone());
        }
        if conflicts && listed(&label_conflicts) {
            label_conflicts.push(c);
        }
    }
    leakage.sort_by(|a, b| a.files.cmp(&b.files));
    label_conflicts.sort_by(|a, b| a.files.cmp(&b.files));

    // Tiny images make perceptual hashes coarse: say so rather than let look-alikes pass as
    // copies unremarked.
    let mut notes = Vec::new();
    let mut short_sides: Vec<u32> = ok.iter().map(|r| r.width.min(r.height)).collect();
    short_sides.sort_unstable();
    if let Some(&med_side) = short_sides.get(short_sides.len() / 2)
        && med_side < 64
        && !pairs.is_empty()
    {
        notes.push(format!(
            "median shorter side is {med_side} px: at this size perceptual hashes cannot tell a re-encoded copy from a similar-looking image, so near-duplicate pairs may be look-alikes; check them, or lower phash_threshold/dhash_threshold"
        ));
    }
    if pairs.len() > cfg.max_near_pairs {
        notes.push(format!(
            "{} near-duplicate pairs found; only the first {} are listed",
            pairs.len(),
            cfg.max_near_pairs
        ));
    }

    // Class distribution.
    let class_distribution = splits
        .iter()
        .map(|(split, d)| {
            let counts = d.class_counts();
            let total = counts.iter().sum();
            let ratio = crate::source::imbalance_ratio(&counts);
            SplitDistribution {
                split: *split,
                total,
                counts: counts
                    .iter()
                    .zip(classes)
                    .map(|(c, n)| ClassCount {
                        class: n.clone(),
                        count: *c,
                    })
                    .collect(),
                imbalance_ratio: ratio.is_finite().then_some(ratio),
                empty_classes: counts
                    .iter()
                    .zip(classes)
                    .filter(|(c, _)| **c == 0)
                    .map(|(_, n)| n.clone())
                    .collect(),
                below_minimum: if *split == Split::Train {
                    counts
                        .iter()
                        .zip(classes)
                        .filter(|(c, _)| **c < cfg.min_class_count)
                        .map(|(_, n)| n.clone())
                        .collect()
                } else {
                    Vec::new()
                },
            }
        })
        .collect();

    totals.unreadable = unreadable.len();
    totals.truncated = truncated.len();
    totals.format_mismatches = format_mismatches.len();
    totals.mode_anomalies = mode_anomalies.len();
    totals.size_outliers = size_outliers.len();
    totals.low_information = low_information.len();
    totals.exact_duplicate_groups = exact_duplicates.len();
    Ok(AuditReport {
        root: None,
        classes: classes.to_vec(),
        config: cfg.clone(),
        totals,
        class_distribution,
        mode_counts,
        unreadable,
        truncated,
        format_mismatches,
        mode_anomalies,
        size_outliers,
        low_information,
        exact_duplicates,
        near_duplicates,
        leakage,
        label_conflicts,
        skipped: skipped.to_vec(),
        notes,
        records,
    })
}

fn exact_duplicates_members(by_sha: &HashMap<&str, Vec<usize>>) -> Vec<(Vec<usize>, bool, usize)> {
    let mut v: Vec<(Vec<usize>, bool, usize)> = by_sha
        .values()
        .filter(|m| m.len() > 1)
        .map(|m| (m.clone(), true, m.len()))
        .collect();
    v.sort();
    v
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, flushed and
/// synced, then renamed over `path` — readers never see a half-written file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let res = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(DataError::io(path, e));
    }
    Ok(())
}

impl AuditReport {
    /// Whether anything needs attention (any issue list non-empty, or a class below minimum).
    pub fn has_issues(&self) -> bool {
        let t = &self.totals;
        t.unreadable
            + t.truncated
            + t.format_mismatches
            + t.mode_anomalies
            + t.size_outliers
            + t.low_information
            + t.exact_duplicate_groups
            + t.near_duplicate_pairs
            + t.leaking_clusters
            + t.label_conflicts
            + t.skipped
            > 0
            || self
                .class_distribution
                .iter()
                .any(|d| !d.below_minimum.is_empty() || !d.empty_classes.is_empty())
    }

    /// The report as pretty JSON. Per-file records are left out unless `with_records`.
    pub fn to_json(&self, with_records: bool) -> Result<String> {
        let out = if with_records {
            serde_json::to_string_pretty(self)
        } else {
            let mut slim = self.clone();
            slim.records.clear();
            serde_json::to_string_pretty(&slim)
        };
        out.map_err(|e| DataError::Json {
            path: PathBuf::from("<report>"),
            source: e,
        })
    }

    /// Writes the JSON report atomically (temp file + rename).
    pub fn write_json(&self, path: impl AsRef<Path>, with_records: bool) -> Result<()> {
        let path = path.as_ref();
        let json = self.to_json(with_records).map_err(|e| match e {
            DataError::Json { source, .. } => DataError::Json {
                path: path.to_path_buf(),
                source,
            },
            other => other,
        })?;
        write_atomic(path, json.as_bytes())
    }

    /// A readable multi-line summary.
    pub fn summary(&self) -> String {
        use std::fmt::Write as _;
        let t = &self.totals;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "kiln data audit{}",
            self.root
                .as_ref()
                .map(|r| format!(" of {}", r.display()))
                .unwrap_or_default()
        );
        let _ = writeln!(
            s,
            "  files: {} examined, {} decoded, {} unreadable, {} skipped while scanning",
            t.files, t.decoded, t.unreadable, t.skipped
        );
        for d in &self.class_distribution {
            let ratio = d
                .imbalance_ratio
                .map(|r| format!("{r:.1}"))
                .unwrap_or_else(|| "n/a".into());
            let _ = writeln!(
                s,
                "  {}: {} images, {} classes, imbalance {}{}{}",
                d.split,
                d.total,
                d.counts.len(),
                ratio,
                if d.empty_classes.is_empty() {
                    String::new()
                } else {
                    format!(", EMPTY: {}", d.empty_classes.join(", "))
                },
                if d.below_minimum.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", below {}: {}",
                        self.config.min_class_count,
                        d.below_minimum.join(", ")
                    )
                }
            );
        }
        let modes: Vec<String> = self
            .mode_counts
            .iter()
            .map(|(m, c)| format!("{m} {c}"))
            .collect();
        let _ = writeln!(s, "  pixel modes: {}", modes.join(", "));
        let mut section = |title: &str, items: &[FileIssue]| {
            if items.is_empty() {
                return;
            }
            let _ = writeln!(s, "  {title}: {}", items.len());
            for i in items.iter().take(5) {
                let _ = writeln!(
                    s,
                    "    {} [{}/{}]: {}",
                    i.file.path.display(),
                    i.file.split,
                    i.file.class,
                    i.detail
                );
            }
            if items.len() > 5 {
                let _ = writeln!(s, "    … {} more in the JSON report", items.len() - 5);
            }
        };
        section("unreadable", &self.unreadable);
        section("truncated", &self.truncated);
        section("extension/content mismatch", &self.format_mismatches);
        section("pixel-mode anomalies", &self.mode_anomalies);
        section("size outliers", &self.size_outliers);
        section("blank images", &self.low_information);
        let _ = writeln!(
            s,
            "  exact duplicates: {} groups ({} extra copies); near-duplicate pairs: {}",
            t.exact_duplicate_groups, t.exact_duplicate_files, t.near_duplicate_pairs
        );
        let cl = |s: &mut String, title: &str, cs: &[Cluster]| {
            if cs.is_empty() {
                return;
            }
            let _ = writeln!(s, "  {title}: {}", cs.len());
            for c in cs.iter().take(5) {
                let names: Vec<String> = c
                    .files
                    .iter()
                    .map(|f| format!("{} [{}/{}]", f.path.display(), f.split, f.class))
                    .collect();
                let _ = writeln!(
                    s,
                    "    {} copy: {}",
                    if c.exact { "exact" } else { "near" },
                    names.join(" = ")
                );
            }
        };
        cl(&mut s, "LEAKAGE across splits", &self.leakage);
        cl(
            &mut s,
            "same image under different labels",
            &self.label_conflicts,
        );
        if !self.skipped.is_empty() {
            let _ = writeln!(s, "  skipped while scanning: {}", self.skipped.len());
            for k in self.skipped.iter().take(5) {
                let _ = writeln!(s, "    {}: {}", k.path.display(), k.reason);
            }
        }
        for n in &self.notes {
            let _ = writeln!(s, "  note: {n}");
        }
        if !self.has_issues() {
            let _ = writeln!(s, "  no issues found");
        }
        s
    }
}

impl std::fmt::Display for AuditReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary())
    }
}
