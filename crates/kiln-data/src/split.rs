//! Leak-free, deterministic splits: stratified holdout, stratified k-fold, and their
//! group-aware versions.
//!
//! Stratified splits keep every class's share exact to ±1 sample (largest-remainder rounding
//! per class, ties broken by the seed), so a rare class is never missing from validation by
//! bad luck. Group-aware splits (patients, sessions, near-duplicate clusters) never put one
//! group on both sides — the usual way validation scores leak — and assign whole groups
//! greedily to whichever side keeps per-class counts closest to their targets.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::rng::{Rng, tag};

/// Indices of the two sides of a split, each sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitIndices {
    /// Training indices.
    pub train: Vec<usize>,
    /// Validation indices.
    pub valid: Vec<usize>,
}

fn check_fraction(f: f64) -> Result<()> {
    if f.is_finite() && f > 0.0 && f < 1.0 {
        Ok(())
    } else {
        Err(DataError::Split(format!(
            "validation fraction must be in (0, 1), got {f}"
        )))
    }
}

fn by_class(labels: &[usize]) -> Vec<Vec<usize>> {
    let c = labels.iter().copied().max().map_or(0, |m| m + 1);
    let mut v = vec![Vec::new(); c];
    for (i, &l) in labels.iter().enumerate() {
        v[l].push(i);
    }
    v
}

/// How many samples of each class go to validation: floor or ceil of `n_c · f`, with the
/// total equal to `round(N · f)` where possible, and never a whole class (train keeps ≥ 1).
fn valid_quota(counts: &[usize], f: f64, rng: &mut Rng) -> Vec<usize> {
    let total: usize = counts.iter().sum();
    let want_total = (total as f64 * f).round() as usize;
    let mut q: Vec<usize> = counts
        .iter()
        .map(|&n| (n as f64 * f).floor() as usize)
        .collect();
    let mut order: Vec<usize> = (0..counts.len()).collect();
    rng.shuffle(&mut order); // seeded tie-breaking
    order.sort_by(|&a, &b| {
        let fa = counts[a] as f64 * f - q[a] as f64;
        let fb = counts[b] as f64 * f - q[b] as f64;
        fb.partial_cmp(&fa).unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut have: usize = q.iter().sum();
    for &c in &order {
        if have >= want_total {
            break;
        }
        let frac = counts[c] as f64 * f - q[c] as f64;
        if frac > 0.0 && q[c] + 1 < counts[c] {
            q[c] += 1;
            have += 1;
        }
    }
    for (qc, &n) in q.iter_mut().zip(counts) {
        if n > 0 && *qc >= n {
            *qc = n - 1;
        }
    }
    q
}

/// Stratified holdout: `fraction` of each class (±1) to `valid`. Deterministic in `seed`.
pub fn stratified_holdout(labels: &[usize], fraction: f64, seed: u64) -> Result<SplitIndices> {
    check_fraction(fraction)?;
    if labels.len() < 2 {
        return Err(DataError::Split(format!(
            "need at least 2 samples, got {}",
            labels.len()
        )));
    }
    let mut rng = Rng::derive(seed, &[tag::SPLIT, 1]);
    let mut classes = by_class(labels);
    let counts: Vec<usize> = classes.iter().map(|c| c.len()).collect();
    let quota = valid_quota(&counts, fraction, &mut rng);
    let mut out = SplitIndices::default();
    for (members, q) in classes.iter_mut().zip(quota) {
        rng.shuffle(members);
        out.valid.extend_from_slice(&members[..q]);
        out.train.extend_from_slice(&members[q..]);
    }
    out.train.sort_unstable();
    out.valid.sort_unstable();
    Ok(out)
}

/// Stratified k-fold: `k` splits whose validation parts partition the data; each class's
/// count per fold is `floor` or `ceil` of `n_c / k`, and fold sizes differ by at most one.
pub fn stratified_kfold(labels: &[usize], k: usize, seed: u64) -> Result<Vec<SplitIndices>> {
    if k < 2 || k > labels.len() {
        return Err(DataError::Split(format!(
            "k must be in [2, {}], got {k}",
            labels.len()
        )));
    }
    let mut rng = Rng::derive(seed, &[tag::SPLIT, 2]);
    let mut folds = vec![Vec::new(); k];
    let mut next = 0usize; // continue dealing where the previous class stopped
    for mut members in by_class(labels) {
        rng.shuffle(&mut members);
        for i in members {
            folds[next % k].push(i);
            next += 1;
        }
    }
    Ok(folds_to_splits(folds, labels.len()))
}

fn folds_to_splits(mut folds: Vec<Vec<usize>>, n: usize) -> Vec<SplitIndices> {
    let mut fold_of = vec![0usize; n];
    for (f, members) in folds.iter_mut().enumerate() {
        members.sort_unstable();
        for &i in members.iter() {
            fold_of[i] = f;
        }
    }
    (0..folds.len())
        .map(|f| SplitIndices {
            valid: folds[f].clone(),
            train: (0..n).filter(|&i| fold_of[i] != f).collect(),
        })
        .collect()
}

struct Group {
    members: Vec<usize>,
    counts: Vec<usize>,
}

/// Groups samples (samples without a group are singletons), in a seeded random order
/// followed by a stable sort by size, largest first (big groups are placed while there is
/// still room to balance around them).
fn build_groups(labels: &[usize], groups: &[Option<String>], rng: &mut Rng) -> Result<Vec<Group>> {
    if labels.len() != groups.len() {
        return Err(DataError::Split(format!(
            "{} labels but {} groups",
            labels.len(),
            groups.len()
        )));
    }
    let c = labels.iter().copied().max().map_or(0, |m| m + 1);
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut out: Vec<Group> = Vec::new();
    for (i, (&l, g)) in labels.iter().zip(groups).enumerate() {
        let gi = match g {
            Some(name) => *index.entry(name.as_str()).or_insert_with(|| {
                out.push(Group {
                    members: Vec::new(),
                    counts: vec![0; c],
                });
                out.len() - 1
            }),
            None => {
                out.push(Group {
                    members: Vec::new(),
                    counts: vec![0; c],
                });
                out.len() - 1
            }
        };
        out[gi].members.push(i);
        out[gi].counts[l] += 1;
    }
    rng.shuffle(&mut out);
    out.sort_by_key(|g| std::cmp::Reverse(g.members.len()));
    Ok(out)
}

/// Greedily assigns groups to parts with per-class targets `targets[part][class]`,
/// minimising the squared deviation from the targets (each class weighted by `1 / n_c`).
fn assign_groups(groups: &[Group], targets: &[Vec<f64>], class_totals: &[usize]) -> Vec<usize> {
    let parts = targets.len();
    let c = class_totals.len();
    let mut cur = vec![vec![0f64; c]; parts];
    let mut sizes = vec![0f64; parts];
    let part_target: Vec<f64> = targets.iter().map(|t| t.iter().sum()).collect();
    let mut assign = Vec::with_capacity(groups.len());
    for g in groups {
        let mut best = (f64::INFINITY, 0usize);
        for p in 0..parts {
            let mut cost = 0.0;
            for k in 0..c {
                if g.counts[k] == 0 {
                    continue;
                }
                let w = 1.0 / class_totals[k].max(1) as f64;
                let after = cur[p][k] + g.counts[k] as f64 - targets[p][k];
                let before = cur[p][k] - targets[p][k];
                cost += w * (after * after - before * before);
            }
            // Small pull toward the overall part sizes, to break ties sensibly.
            let n = g.members.len() as f64;
            let total: f64 = class_totals.iter().sum::<usize>().max(1) as f64;
            let after = sizes[p] + n - part_target[p];
            let before = sizes[p] - part_target[p];
            cost += 0.1 / total * (after * after - before * before);
            if cost < best.0 {
                best = (cost, p);
            }
        }
        let p = best.1;
        for (acc, &n) in cur[p].iter_mut().zip(&g.counts) {
            *acc += n as f64;
        }
        sizes[p] += g.members.len() as f64;
        assign.push(p);
    }
    assign
}

/// Group-aware stratified holdout: whole groups go to one side; per-class shares are kept
/// as close to `fraction` as the group sizes allow.
pub fn group_stratified_holdout(
    labels: &[usize],
    groups: &[Option<String>],
    fraction: f64,
    seed: u64,
) -> Result<SplitIndices> {
    check_fraction(fraction)?;
    let mut rng = Rng::derive(seed, &[tag::SPLIT, 3]);
    let gs = build_groups(labels, groups, &mut rng)?;
    if gs.len() < 2 {
        return Err(DataError::Split(format!(
            "need at least 2 groups for a group split, got {}",
            gs.len()
        )));
    }
    let totals: Vec<usize> = by_class(labels).iter().map(|m| m.len()).collect();
    let targets = vec![
        totals
            .iter()
            .map(|&n| n as f64 * (1.0 - fraction))
            .collect(),
        totals.iter().map(|&n| n as f64 * fraction).collect(),
    ];
    let assign = assign_groups(&gs, &targets, &totals);
    let mut out = SplitIndices::default();
    for (g, p) in gs.iter().zip(&assign) {
        if *p == 0 {
            out.train.extend_from_slice(&g.members);
        } else {
            out.valid.extend_from_slice(&g.members);
        }
    }
    if out.valid.is_empty() || out.train.is_empty() {
        return Err(DataError::Split(
            "group split left one side empty (groups too large for this fraction)".into(),
        ));
    }
    out.train.sort_unstable();
    out.valid.sort_unstable();
    Ok(out)
}

/// Group-aware stratified k-fold: every group lies in exactly one validation fold.
pub fn group_stratified_kfold(
    labels: &[usize],
    groups: &[Option<String>],
    k: usize,
    seed: u64,
) -> Result<Vec<SplitIndices>> {
    let mut rng = Rng::derive(seed, &[tag::SPLIT, 4]);
    let gs = build_groups(labels, groups, &mut rng)?;
    if k < 2 || k > gs.len() {
        return Err(DataError::Split(format!(
            "k must be in [2, number of groups = {}], got {k}",
            gs.len()
        )));
    }
    let totals: Vec<usize> = by_class(labels).iter().map(|m| m.len()).collect();
    let targets = vec![totals.iter().map(|&n| n as f64 / k as f64).collect(); k];
    let assign = assign_groups(&gs, &targets, &totals);
    let mut folds = vec![Vec::new(); k];
    for (g, p) in gs.iter().zip(&assign) {
        folds[*p].extend_from_slice(&g.members);
    }
    Ok(folds_to_splits(folds, labels.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_sums_and_bounds() {
        let mut rng = Rng::new(1);
        let counts = [7, 3, 1, 10, 0];
        let q = valid_quota(&counts, 0.3, &mut rng);
        for (qc, n) in q.iter().zip(counts) {
            assert!((*qc as f64 - n as f64 * 0.3).abs() <= 1.0);
            assert!(n == 0 || *qc < n);
        }
    }
}
