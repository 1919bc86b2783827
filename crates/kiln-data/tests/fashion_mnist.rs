//! Fashion-MNIST → long-tailed, label-noised ImageFolder (reads ../shared/data/fashion-mnist).
use std::path::PathBuf;

use kiln_data::ImageFolder;
use kiln_data::fashion_mnist::{
    FOLDER_NAMES, LongTailSpec, load_split, read_noise, write_image_folder,
};

fn src() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/fashion-mnist");
    assert!(
        p.join("train-images-idx3-ubyte.gz").is_file(),
        "Fashion-MNIST missing: expected the IDX files under {}",
        p.display()
    );
    p
}

#[test]
fn idx_files_load() {
    let t = load_split(&src(), false).unwrap();
    assert_eq!((t.len(), t.rows, t.cols), (10_000, 28, 28));
    assert!(t.labels.iter().all(|&l| l < 10));
    let mut c = [0; 10];
    for &l in &t.labels {
        c[l as usize] += 1;
    }
    assert_eq!(c, [1000; 10]);
}

#[test]
fn long_tailed_noisy_folder_is_deterministic_and_recorded() {
    let spec = LongTailSpec {
        max_per_class: 40,
        imbalance_ratio: 8.0,
        noise_rate: 0.2,
        val_per_class: 3,
        test_per_class: 2,
        image_size: 28,
        seed: 5,
    };
    let d1 = tempfile::tempdir().unwrap();
    let p = write_image_folder(&src(), d1.path(), &spec).unwrap();
    assert_eq!(p.train_counts[0], 40);
    assert_eq!(p.train_counts[9], 5);
    let n: usize = p.train_counts.iter().sum();
    assert_eq!(p.noise.len(), (0.2 * n as f64).round() as usize);
    for r in &p.noise {
        assert_ne!(r.true_label, r.given_label);
        assert!(r.path.is_file());
        assert_eq!(
            r.path.parent().unwrap().file_name().unwrap(),
            FOLDER_NAMES[r.given_label]
        );
    }
    assert_eq!(read_noise(d1.path()).unwrap(), p.noise);

    let f = ImageFolder::open(d1.path()).unwrap();
    assert_eq!(f.classes(), FOLDER_NAMES);
    assert_eq!(f.train().class_counts(), p.train_counts_given);
    assert_eq!(f.val().unwrap().class_counts(), vec![3; 10]);
    assert_eq!(f.test().unwrap().class_counts(), vec![2; 10]);
    assert!(f.skipped().is_empty());
    let img = kiln_data::decode_rgb8(&f.train().samples()[0].path).unwrap();
    assert_eq!(img.dimensions(), (28, 28));

    assert!(
        write_image_folder(&src(), d1.path(), &spec).is_err(),
        "refuses to write over an existing folder"
    );

    let d2 = tempfile::tempdir().unwrap();
    let p2 = write_image_folder(&src(), d2.path(), &spec).unwrap();
    let rel = |v: &[kiln_data::fashion_mnist::NoiseRecord],
               root: &std::path::Path|
     -> Vec<(PathBuf, usize, usize)> {
        v.iter()
            .map(|r| {
                (
                    r.path.strip_prefix(root).unwrap().to_path_buf(),
                    r.true_label,
                    r.given_label,
                )
            })
            .collect()
    };
    assert_eq!(rel(&p.noise, d1.path()), rel(&p2.noise, d2.path()));
}
