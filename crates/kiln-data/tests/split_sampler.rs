//! Splits (proportions, disjointness, determinism) and samplers (frequencies, reshuffle).
use std::collections::{HashMap, HashSet};

use kiln_data::sampler::class_balanced_weights;
use kiln_data::{
    ClassAwareSampler, DataError, Dataset, Sample, Sampler, ShuffleSampler, WeightedRandomSampler,
    group_stratified_holdout, group_stratified_kfold, stratified_holdout, stratified_kfold,
};

fn imbalanced_labels() -> Vec<usize> {
    // 5 classes: 400, 123, 57, 10, 3 samples, interleaved.
    let counts = [400usize, 123, 57, 10, 3];
    let mut v = Vec::new();
    for (c, &n) in counts.iter().enumerate() {
        v.extend(std::iter::repeat_n(c, n));
    }
    let mut r = kiln_data::Rng::new(77);
    r.shuffle(&mut v);
    v
}

fn counts(labels: &[usize], idx: &[usize], c: usize) -> Vec<usize> {
    let mut v = vec![0; c];
    for &i in idx {
        v[labels[i]] += 1;
    }
    v
}

#[test]
fn stratified_holdout_is_exact_to_one_and_deterministic() {
    let labels = imbalanced_labels();
    let total = counts(&labels, &(0..labels.len()).collect::<Vec<_>>(), 5);
    for &f in &[0.1, 0.15, 0.2, 0.33, 0.5] {
        let s = stratified_holdout(&labels, f, 42).unwrap();
        let vc = counts(&labels, &s.valid, 5);
        for c in 0..5 {
            let exact = total[c] as f64 * f;
            assert!(
                (vc[c] as f64 - exact).abs() <= 1.0,
                "f={f} class {c}: {} vs {exact}",
                vc[c]
            );
            assert!(vc[c] < total[c], "train must keep class {c}");
        }
        assert!((s.valid.len() as f64 - labels.len() as f64 * f).abs() <= 1.0);
        // partition
        let all: HashSet<usize> = s.train.iter().chain(&s.valid).copied().collect();
        assert_eq!(all.len(), labels.len());
        assert_eq!(s.train.len() + s.valid.len(), labels.len());
        assert_eq!(s, stratified_holdout(&labels, f, 42).unwrap());
    }
    assert_ne!(
        stratified_holdout(&labels, 0.2, 1).unwrap(),
        stratified_holdout(&labels, 0.2, 2).unwrap()
    );
    assert!(matches!(
        stratified_holdout(&labels, 1.0, 0),
        Err(DataError::Split(_))
    ));
}

#[test]
fn stratified_kfold_partitions_with_balanced_classes() {
    let labels = imbalanced_labels();
    for k in [2, 3, 5, 10] {
        let folds = stratified_kfold(&labels, k, 7).unwrap();
        assert_eq!(folds.len(), k);
        let mut seen = vec![0usize; labels.len()];
        let total = counts(&labels, &(0..labels.len()).collect::<Vec<_>>(), 5);
        for f in &folds {
            for &i in &f.valid {
                seen[i] += 1;
            }
            assert_eq!(f.train.len() + f.valid.len(), labels.len());
            let vc = counts(&labels, &f.valid, 5);
            for c in 0..5 {
                let exact = total[c] as f64 / k as f64;
                assert!(
                    (vc[c] as f64 - exact).abs() < 1.0,
                    "k={k} class {c}: {}",
                    vc[c]
                );
            }
        }
        assert!(
            seen.iter().all(|&s| s == 1),
            "every sample in exactly one valid fold"
        );
        let sizes: Vec<usize> = folds.iter().map(|f| f.valid.len()).collect();
        assert!(
            sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1,
            "{sizes:?}"
        );
    }
}

fn grouped() -> (Vec<usize>, Vec<Option<String>>) {
    // 60 patients with 1-8 images each; patient's images share mostly one class.
    let mut r = kiln_data::Rng::new(3);
    let (mut labels, mut groups) = (Vec::new(), Vec::new());
    for p in 0..60 {
        let n = 1 + r.below(8);
        let c = p % 3;
        for _ in 0..n {
            labels.push(if r.bernoulli(0.8) { c } else { r.below(3) });
            groups.push(Some(format!("patient{p}")));
        }
    }
    // a few ungrouped samples
    for i in 0..10 {
        labels.push(i % 3);
        groups.push(None);
    }
    (labels, groups)
}

#[test]
fn group_splits_never_share_a_group() {
    let (labels, groups) = grouped();
    let s = group_stratified_holdout(&labels, &groups, 0.25, 11).unwrap();
    let g_of = |idx: &[usize]| -> HashSet<String> {
        idx.iter().filter_map(|&i| groups[i].clone()).collect()
    };
    assert!(g_of(&s.train).is_disjoint(&g_of(&s.valid)));
    assert_eq!(s.train.len() + s.valid.len(), labels.len());
    let frac = s.valid.len() as f64 / labels.len() as f64;
    assert!((frac - 0.25).abs() < 0.06, "{frac}");
    // per-class shares roughly kept
    let total = counts(&labels, &(0..labels.len()).collect::<Vec<_>>(), 3);
    let vc = counts(&labels, &s.valid, 3);
    for c in 0..3 {
        let share = vc[c] as f64 / total[c] as f64;
        assert!((share - 0.25).abs() < 0.1, "class {c} share {share}");
    }
    assert_eq!(
        s,
        group_stratified_holdout(&labels, &groups, 0.25, 11).unwrap()
    );

    let folds = group_stratified_kfold(&labels, &groups, 4, 5).unwrap();
    let mut fold_of_group: HashMap<String, usize> = HashMap::new();
    let mut seen = vec![0; labels.len()];
    for (k, f) in folds.iter().enumerate() {
        assert!(g_of(&f.train).is_disjoint(&g_of(&f.valid)), "fold {k}");
        for &i in &f.valid {
            seen[i] += 1;
            if let Some(g) = &groups[i] {
                assert_eq!(*fold_of_group.entry(g.clone()).or_insert(k), k);
            }
        }
    }
    assert!(seen.iter().all(|&s| s == 1));
}

#[test]
fn dataset_helpers_split_and_group() {
    let samples: Vec<Sample> = (0..40)
        .map(|i| Sample {
            path: format!("p{}/img{i}.jpg", i / 4).into(),
            label: i % 2,
            group: None,
        })
        .collect();
    let d = Dataset::new(samples, vec!["a".into(), "b".into()]).unwrap();
    let (tr, va) = d.stratified_split(0.25, 1).unwrap();
    assert_eq!((tr.len(), va.len()), (30, 10));
    assert_eq!(va.class_counts(), vec![5, 5]);
    let d = d.with_groups(|s| s.path.parent().map(|p| p.to_string_lossy().to_string()));
    let (tr, va) = d.group_split(0.25, 1).unwrap();
    let gt: HashSet<_> = tr.groups().into_iter().collect();
    let gv: HashSet<_> = va.groups().into_iter().collect();
    assert!(gt.is_disjoint(&gv));
    assert_eq!(d.stratified_kfold(4, 0).unwrap().len(), 4);
}

#[test]
fn weighted_sampler_matches_weights() {
    let w = [1.0, 0.0, 3.0, 6.0];
    let s = WeightedRandomSampler::new(&w, 100_000, 9).unwrap();
    let idx = s.indices(0);
    assert_eq!(idx.len(), 100_000);
    let mut c = [0usize; 4];
    for i in idx {
        c[i] += 1;
    }
    assert_eq!(c[1], 0, "zero-weight samples are never drawn");
    for (i, want) in [(0, 0.1), (2, 0.3), (3, 0.6)] {
        let got = c[i] as f64 / 100_000.0;
        assert!((got - want).abs() < 0.01, "{i}: {got} vs {want}");
    }
    assert_ne!(s.indices(0), s.indices(1), "reshuffled per epoch");
    assert_eq!(s.indices(3), s.indices(3));
    assert!(WeightedRandomSampler::new(&[0.0, 0.0], 5, 0).is_err());
    assert!(WeightedRandomSampler::new(&[1.0, f64::NAN], 5, 0).is_err());
}

#[test]
fn class_balanced_sampling_equalises_classes() {
    let labels = imbalanced_labels();
    let s = WeightedRandomSampler::class_balanced(&labels, 1.0, 4).unwrap();
    let mut c = [0usize; 5];
    for e in 0..5 {
        for i in s.indices(e) {
            c[labels[i]] += 1;
        }
    }
    let n: usize = c.iter().sum();
    for (k, &v) in c.iter().enumerate() {
        let f = v as f64 / n as f64;
        assert!((f - 0.2).abs() < 0.02, "class {k}: {f}");
    }
    // sqrt weighting sits between natural and balanced
    let w = class_balanced_weights(&labels, 0.5);
    let ratio = w[labels.iter().position(|&l| l == 4).unwrap()]
        / w[labels.iter().position(|&l| l == 0).unwrap()];
    assert!((ratio - (400.0f64 / 3.0).sqrt()).abs() < 1e-9);
}

#[test]
fn class_aware_batches_are_balanced() {
    let labels = imbalanced_labels();
    let s = ClassAwareSampler::new(&labels, 20, 4, 8).unwrap();
    let idx = s.indices(0);
    assert_eq!(idx.len(), s.epoch_len());
    assert_eq!(idx.len() % 20, 0);
    for batch in idx.chunks(20) {
        let mut per: HashMap<usize, usize> = HashMap::new();
        for &i in batch {
            *per.entry(labels[i]).or_default() += 1;
        }
        assert_eq!(per.len(), 5, "5 classes × 4 per batch");
        assert!(per.values().all(|&v| v == 4));
    }
    // over the epoch each class ≈ 1/5
    let mut c = [0usize; 5];
    for &i in &idx {
        c[labels[i]] += 1;
    }
    for v in c {
        assert!((v as f64 / idx.len() as f64 - 0.2).abs() < 0.03, "{c:?}");
    }
    // within the rare class, all 3 samples appear before repeats
    let rare: Vec<usize> = idx
        .iter()
        .copied()
        .filter(|&i| labels[i] == 4)
        .take(3)
        .collect();
    assert_eq!(rare.iter().collect::<HashSet<_>>().len(), 3);
    assert!(ClassAwareSampler::new(&labels, 10, 4, 0).is_err());
    assert_ne!(s.indices(0), s.indices(1));
}

#[test]
fn shuffle_sampler_is_a_permutation_per_epoch() {
    let s = ShuffleSampler::new(1000, 5);
    let (a, b) = (s.indices(0), s.indices(1));
    assert_ne!(a, b);
    let mut sa = a.clone();
    sa.sort_unstable();
    assert_eq!(sa, (0..1000).collect::<Vec<_>>());
    assert_eq!(a, ShuffleSampler::new(1000, 5).indices(0));
}
