//! End to end on a long-tailed Fashion-MNIST folder: fine-tuning from the real
//! EfficientNet-Lite0 ImageNet weights beats the same recipe from random initialisation.

use std::path::PathBuf;

use kiln::data::fashion_mnist::{LongTailSpec, write_image_folder};
use kiln::data::{ImageFolder, Preprocess};
use kiln::prelude::*;
use kiln::train::{Finetune, Recipe, RunOutcome, StageSpec, Unfreeze};

fn shared(rel: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(rel);
    assert!(
        p.exists(),
        "{} is missing (shared/ beside the checkout)",
        p.display()
    );
    p
}

fn run(model: Backbone, data: &ImageFolder, device: &Device) -> RunOutcome {
    let pretrained = model.pretrained_cfg();
    // Small inputs keep the test fast on 2 cores; the recipe is the same for both runs.
    let preprocess = Preprocess::imagenet(64).with_crop_fraction(1.0);
    let preprocess = Preprocess {
        mean: pretrained.mean,
        std: pretrained.std,
        ..preprocess
    };
    let recipe = Recipe::new(vec![
        StageSpec::new("probe", 4, Unfreeze::Head, 3e-3),
        StageSpec::new("unfreeze", 2, Unfreeze::Last(2), 1e-3),
    ]);
    Finetune::new(model)
        .train(data.train().clone())
        .valid(data.val().expect("val split").clone())
        .preprocess(Some(preprocess))
        .recipe(recipe)
        .batch_size(32)
        .progress(std::env::var_os("KILN_TEST_PROGRESS").is_some())
        .fit(device)
        .expect("fine-tune")
}

#[test]
fn pretrained_lite0_beats_random_init_on_long_tailed_fashion_mnist() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("fmnist");
    let spec = LongTailSpec {
        max_per_class: 60,
        imbalance_ratio: 10.0,
        noise_rate: 0.0,
        val_per_class: 20,
        test_per_class: 0,
        image_size: 28,
        seed: 7,
    };
    write_image_folder(&shared("data/fashion-mnist"), &root, &spec).unwrap();
    let data = ImageFolder::open(&root).unwrap();
    let classes = data.num_classes();

    let pretrained = create("efficientnet_lite0", classes, &device)
        .unwrap()
        .load_weights(
            shared("fixtures/weights/efficientnet-lite0-57934424.pth"),
            &LoadOptions::default(),
        )
        .unwrap()
        .0;
    let random = create("efficientnet_lite0", classes, &device).unwrap();

    let p = run(pretrained, &data, &device);
    let r = run(random, &data, &device);
    let (pf, rf) = (p.report.metrics.macro_f1, r.report.metrics.macro_f1);
    eprintln!("macro-F1: pretrained {pf:.4}, random init {rf:.4}");
    eprintln!("{}", p.report);
    assert!(pf > 0.5, "pretrained macro-F1 {pf}");
    assert!(pf - rf > 0.2, "pretrained {pf} vs random {rf}");
}
