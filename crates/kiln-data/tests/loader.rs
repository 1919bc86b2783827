//! The loader: shapes on a device, reproducibility, resume, failures, MixUp.
mod common;

use burn::tensor::Device;
use kiln_data::{
    ClassAwareSampler, DataLoader, ImageFolder, LoaderConfig, MixConfig, OnError, Preprocess,
    eval_transform, train_transform,
};

fn folder() -> (tempfile::TempDir, ImageFolder) {
    let dir = tempfile::tempdir().unwrap();
    common::make_folder(dir.path(), &[("train", &[9, 5, 3])], 48, 36);
    let f = ImageFolder::open(dir.path()).unwrap();
    (dir, f)
}

#[test]
fn batches_reach_the_device_with_the_right_shapes() {
    let (_d, f) = folder();
    let cfg = Preprocess::imagenet(24);
    let loader = DataLoader::new(
        f.train().clone(),
        train_transform(&cfg),
        LoaderConfig::train(4, 1),
    )
    .unwrap();
    assert_eq!(loader.steps_per_epoch(), 5);
    let device = Device::flex();
    let mut seen = Vec::new();
    for b in loader.epoch(0, &device) {
        let b = b.unwrap();
        let n = b.indices.len();
        assert_eq!(b.images.dims(), [n, 3, 24, 24]);
        assert_eq!(b.targets.dims(), [n]);
        let t: Vec<i64> = b.targets.into_data().iter::<i64>().collect();
        for (k, &i) in b.indices.iter().enumerate() {
            assert_eq!(t[k] as usize, f.train().samples()[i].label);
        }
        seen.extend(b.indices);
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (0..17).collect::<Vec<_>>(),
        "every image exactly once per epoch"
    );
}

#[test]
fn reproducible_across_threads_and_prefetch_and_resumable() {
    let (_d, f) = folder();
    let cfg = Preprocess::imagenet(20);
    let make = |threads: usize, prefetch: usize| {
        let mut c = LoaderConfig::train(5, 42);
        c.threads = Some(threads);
        c.prefetch = prefetch;
        DataLoader::new(f.train().clone(), train_transform(&cfg), c).unwrap()
    };
    let collect = |l: &DataLoader, epoch: usize, start: usize| -> Vec<(Vec<usize>, Vec<f32>)> {
        l.host_epoch(epoch, start)
            .map(|b| {
                let b = b.unwrap();
                (b.indices, b.images)
            })
            .collect()
    };
    let a = collect(&make(1, 0), 3, 0);
    let b = collect(&make(2, 2), 3, 0);
    assert_eq!(a, b, "thread count and prefetching must not change batches");
    let resumed = collect(&make(2, 1), 3, 2);
    assert_eq!(
        resumed,
        a[2..].to_vec(),
        "resume at step 2 gives the remaining batches"
    );
    let l = make(1, 0);
    let one = l.load_batch(3, 1).unwrap();
    assert_eq!((one.indices.clone(), one.images.clone()), a[1]);
    let other_epoch = collect(&l, 4, 0);
    assert_ne!(other_epoch[0].0, a[0].0, "new order each epoch");
    assert!(l.load_batch(3, 99).is_err());
}

#[test]
fn eval_loader_keeps_file_order() {
    let (_d, f) = folder();
    let l = DataLoader::new(
        f.train().clone(),
        eval_transform(&Preprocess::imagenet(16)),
        LoaderConfig::eval(8),
    )
    .unwrap();
    let idx: Vec<usize> = l
        .host_epoch(0, 0)
        .flat_map(|b| b.unwrap().indices)
        .collect();
    assert_eq!(idx, (0..17).collect::<Vec<_>>());
}

#[test]
fn failed_files_are_skipped_and_reported_or_fail() {
    let (dir, f) = folder();
    // corrupt two files after the folder was opened
    let bad1 = f.train().samples()[2].path.clone();
    let bad2 = f.train().samples()[11].path.clone();
    std::fs::write(&bad1, b"").unwrap();
    std::fs::write(&bad2, b"not a jpeg at all").unwrap();
    let cfg = Preprocess::imagenet(16);
    let mut lc = LoaderConfig::eval(4);
    lc.prefetch = 1;
    let l = DataLoader::new(f.train().clone(), eval_transform(&cfg), lc.clone()).unwrap();
    let mut got = Vec::new();
    let mut reported = Vec::new();
    for b in l.host_epoch(0, 0) {
        let b = b.unwrap();
        assert_eq!(b.images.len(), b.len() * 3 * 16 * 16);
        got.extend(b.indices);
        reported.extend(b.failures.into_iter().map(|x| x.index));
    }
    assert_eq!(got.len(), 15);
    assert!(!got.contains(&2) && !got.contains(&11));
    reported.sort_unstable();
    assert_eq!(reported, vec![2, 11]);
    let log = l.failures();
    assert_eq!(log.len(), 2);
    assert!(
        log.iter()
            .any(|x| x.path == bad1 && x.reason.contains("0 bytes"))
    );

    lc.on_error = OnError::Fail;
    let l = DataLoader::new(f.train().clone(), eval_transform(&cfg), lc).unwrap();
    let results: Vec<_> = l.host_epoch(0, 0).collect();
    // index 2 is in the first batch (file order): the error is delivered, then iteration stops
    assert_eq!(results.len(), 1);
    match &results[0] {
        Err(kiln_data::DataError::Decode { path, .. }) => assert_eq!(path, &bad1),
        other => panic!("expected a decode error, got {other:?}"),
    }
    drop(dir);
}

#[test]
fn mixup_cutmix_soft_targets_and_class_aware_sampler() {
    let (_d, f) = folder();
    let mut lc = LoaderConfig::train(6, 3);
    lc.mix = Some(MixConfig::default());
    let labels = f.train().labels();
    let l = DataLoader::new(
        f.train().clone(),
        train_transform(&Preprocess::imagenet(16)),
        lc,
    )
    .unwrap()
    .with_sampler(ClassAwareSampler::new(&labels, 6, 2, 3).unwrap());
    let device = Device::flex();
    let mut n = 0;
    for b in l.epoch(0, &device) {
        let b = b.unwrap();
        let soft = b.soft_targets.expect("mix produces soft targets");
        assert_eq!(soft.dims(), [6, 3]);
        let s: Vec<f32> = soft.into_data().try_to_vec::<f32>().unwrap();
        for row in s.chunks(3) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
        let mut per = [0; 3];
        for &i in &b.indices {
            per[labels[i]] += 1;
        }
        assert_eq!(per, [2, 2, 2]);
        n += 1;
    }
    assert_eq!(n, l.steps_per_epoch());
}

#[test]
fn dropping_an_iterator_mid_epoch_stops_the_worker() {
    let (_d, f) = folder();
    let l = DataLoader::new(
        f.train().clone(),
        train_transform(&Preprocess::imagenet(16)),
        LoaderConfig::train(2, 0),
    )
    .unwrap();
    for _ in 0..5 {
        let mut it = l.host_epoch(0, 0);
        assert!(it.next().unwrap().is_ok());
        drop(it); // must not hang
    }
}
