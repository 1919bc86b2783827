//! Label-noise tooling end to end: images moved into the wrong class folder come out on top.

mod common;

use burn::tensor::Device;
use kiln_data::{ImageFolder, Preprocess};
use kiln_models::create;
use kiln_train::noise::find_label_issues;
use kiln_train::{Augment, Finetune, Recipe, StageSpec, Unfreeze};

#[test]
fn mislabeled_images_rank_first() {
    let dir = tempfile::tempdir().unwrap();
    common::colour_folder(dir.path(), 3, 16, 4, 32);
    // Mislabel three images: move them into another class's folder.
    let train = dir.path().join("train");
    let moved = [
        ("class_0", "000.png", "class_1"),
        ("class_1", "001.png", "class_2"),
        ("class_2", "002.png", "class_0"),
    ];
    let mut planted = Vec::new();
    for (from, file, to) in moved {
        let target = train.join(to).join(format!("moved_{file}"));
        std::fs::rename(train.join(from).join(file), &target).unwrap();
        planted.push(target);
    }
    let data = ImageFolder::open(dir.path()).unwrap();
    let device = Device::flex();
    device.seed(1);
    let preprocess = Preprocess::imagenet(32).with_crop_fraction(1.0);
    let run = Finetune::new(create("resnet18", 3, &device).unwrap())
        .train(data.train().clone())
        .valid(data.val().unwrap().clone())
        .preprocess(Some(preprocess.clone()))
        .augment(Augment::None)
        .batch_size(8)
        .recipe(Recipe::new(vec![StageSpec::new(
            "full",
            4,
            Unfreeze::All,
            2e-3,
        )]))
        .progress(false)
        .fit(&device)
        .unwrap();

    let report = find_label_issues(&run.model, data.train(), &preprocess, 16, &device).unwrap();
    assert_eq!(report.ranked.len(), data.train().len());
    for (i, s) in report.ranked.iter().take(6).enumerate() {
        eprintln!(
            "{i}: {} given {} predicted {} p {:.3} flagged {}",
            s.path.display(),
            s.given,
            s.predicted,
            s.self_confidence,
            s.flagged
        );
    }
    let top: Vec<_> = report.ranked[..3].iter().map(|s| s.path.clone()).collect();
    for p in &planted {
        assert!(
            top.contains(p),
            "{} not among the 3 most suspicious",
            p.display()
        );
    }
    let flagged: Vec<_> = report.flagged().map(|s| s.path.clone()).collect();
    eprintln!(
        "flagged {} image(s); noise rate {:.3}",
        flagged.len(),
        report.confident.noise_rate
    );
    assert!(flagged.iter().all(|p| planted.contains(p)), "{flagged:?}");

    let csv = dir.path().join("suspects.csv");
    report.write_csv(&csv).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().count(), data.train().len() + 1);
    assert!(text.lines().nth(1).unwrap().starts_with("1,"));
}
