//! The recipe's promises: freezing is real, per-stage learning rates apply, resume is exact,
//! a diverging run stops with a typed error and keeps its last good checkpoint.

mod common;

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor};
use burn_store::ModuleSnapshot;
use kiln_data::{ImageFolder, Preprocess};
use kiln_models::{Backbone, create};
use kiln_train::{Augment, Finetune, Recipe, StageLr, StageSpec, TrainError, Unfreeze};

/// Every tensor of the model (parameters and BatchNorm statistics) by path.
fn snapshot(model: &Backbone) -> BTreeMap<String, Vec<f32>> {
    model
        .collect(None, None, true)
        .into_iter()
        .map(|t| {
            let name = t.name.clone();
            let bytes = t.to_bytes().expect("tensor bytes");
            let values = bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (name, values)
        })
        .collect()
}

fn small(root: &std::path::Path) -> ImageFolder {
    common::colour_folder(root, 3, 8, 4, 40);
    ImageFolder::open(root).unwrap()
}

fn quick(model: Backbone, data: &ImageFolder) -> Finetune {
    Finetune::new(model)
        .train(data.train().clone())
        .valid(data.val().unwrap().clone())
        .preprocess(Some(Preprocess::imagenet(32).with_crop_fraction(1.0)))
        .batch_size(8)
        .progress(std::env::var_os("KILN_TEST_PROGRESS").is_some())
}

#[test]
fn probe_leaves_every_backbone_tensor_bit_identical() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let data = small(dir.path());
    let model = create("resnet18", 3, &device).unwrap();
    let before = snapshot(&model);
    for cache in [false, true] {
        let out = quick(model.clone(), &data)
            .recipe(Recipe::probe(2, 1e-2))
            .feature_cache(cache)
            .fit(&device)
            .unwrap();
        let after = snapshot(&out.last);
        let mut head_changed = false;
        for (k, v) in &before {
            if k.starts_with("fc.") {
                head_changed |= after[k] != *v;
            } else {
                assert_eq!(after[k], *v, "cache={cache}: {k} changed during the probe");
            }
        }
        assert!(head_changed, "cache={cache}: the head did not train");
    }
}

#[test]
fn stage_learning_rates_scale_the_updates() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let data = small(dir.path());
    let model = create("resnet18", 3, &device).unwrap();
    let before = snapshot(&model);
    // Stages: stem, layer1..4, head. One AdamW step: |Δ| ≈ lr · multiplier per element.
    let mults = vec![0.0, 0.0, 0.0, 0.25, 0.5, 1.0];
    let stage = StageSpec::new("full", 1, Unfreeze::All, 1e-3)
        .with_stage_lr(StageLr::Explicit(mults))
        .with_warmup(0.0);
    let out = quick(model, &data)
        .recipe(
            Recipe::new(vec![stage])
                .with_weight_decay(0.0)
                .with_clip_grad_norm(None),
        )
        .batch_size(64) // one step: the whole training set
        .augment(Augment::None)
        .fit(&device)
        .unwrap();
    let after = snapshot(&out.last);
    // Median |Δ| over a stage's moved elements (at 32 px the last stage sees 1×1 maps, so
    // most 3×3 taps get no gradient at all); 0 when nothing moved.
    let mean_update = |prefix: &str| {
        let mut d: Vec<f64> = Vec::new();
        let mut n = 0;
        for (k, v) in &before {
            if k.starts_with(prefix) && (k.ends_with("weight") || k.ends_with("bias")) {
                n += v.len();
                d.extend(
                    v.iter()
                        .zip(&after[k])
                        .map(|(a, b)| (a - b).abs() as f64)
                        .filter(|x| *x > 0.0),
                );
            }
        }
        assert!(n > 0, "no parameter under {prefix}");
        d.sort_by(f64::total_cmp);
        d.get(d.len() / 2).copied().unwrap_or(0.0)
    };
    let (stem, l3, l4, head) = (
        mean_update("conv1."),
        mean_update("layer3."),
        mean_update("layer4."),
        mean_update("fc."),
    );
    assert_eq!(stem, 0.0, "multiplier 0 leaves the stem untouched");
    let r4 = l4 / head;
    let r3 = l3 / head;
    assert!((r4 - 0.5).abs() < 0.1, "layer4/head update ratio {r4}");
    assert!((r3 - 0.25).abs() < 0.05, "layer3/head update ratio {r3}");
}

#[test]
fn resume_equals_an_uninterrupted_run() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let data = small(dir.path());
    let model = create("resnet18", 3, &device).unwrap();
    let recipe = Recipe::new(vec![StageSpec::new("full", 2, Unfreeze::All, 1e-3)]);
    let a_dir = dir.path().join("a");
    let b_dir = dir.path().join("b");

    let straight = quick(model.clone(), &data)
        .recipe(recipe.clone())
        .out_dir(&a_dir)
        .fit(&device)
        .unwrap();
    let first = quick(model.clone(), &data)
        .recipe(recipe.clone())
        .out_dir(&b_dir)
        .stop_after(Some(1))
        .fit(&device)
        .unwrap();
    assert_eq!(first.report.history.len(), 1);
    assert_ne!(snapshot(&first.last), snapshot(&straight.last));
    let resumed = quick(model, &data)
        .recipe(recipe)
        .out_dir(&b_dir)
        .resume(&device)
        .unwrap();
    assert_eq!(resumed.report.history.len(), 2);
    assert_eq!(
        snapshot(&resumed.last),
        snapshot(&straight.last),
        "bit-identical weights"
    );
    assert_eq!(
        resumed.report.history[1],
        straight.report.history[1]
            .clone()
            .with_seconds_of(&resumed.report.history[1])
    );
}

#[test]
fn diverging_loss_stops_with_a_typed_error_and_keeps_the_checkpoint() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let data = small(dir.path());
    let out_dir = dir.path().join("run");
    let recipe = Recipe::new(vec![
        StageSpec::new("ok", 1, Unfreeze::All, 1e-3),
        StageSpec::new("explode", 1, Unfreeze::All, 1e30),
    ])
    .with_clip_grad_norm(None);
    let err = quick(create("resnet18", 3, &device).unwrap(), &data)
        .recipe(recipe)
        .out_dir(&out_dir)
        .fit(&device)
        .unwrap_err();
    assert!(
        matches!(err, TrainError::NonFiniteLoss { ref stage, .. } if stage == "explode"),
        "{err}"
    );
    let state = kiln_train::checkpoint::RunState::load(&out_dir).unwrap();
    assert_eq!(state.global_epoch, 1);
    let file = state.last_model.expect("a saved epoch");
    let restored = kiln_models::import::load_checkpoint(
        create("resnet18", 3, &device).unwrap(),
        out_dir.join(file),
    )
    .unwrap();
    let y = restored.forward(Tensor::<4>::ones([1, 3, 32, 32], &device));
    assert!(
        y.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap()
            .iter()
            .all(|v| v.is_finite())
    );
}

#[test]
fn bad_recipes_are_typed_errors() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let data = small(dir.path());
    let model = create("resnet18", 3, &device).unwrap();
    let err = quick(model.clone(), &data)
        .recipe(Recipe::new(vec![StageSpec::new(
            "x",
            0,
            Unfreeze::All,
            1e-3,
        )]))
        .fit(&device)
        .unwrap_err();
    assert!(matches!(err, TrainError::InvalidConfig(_)), "{err}");
    let err = quick(model, &data).batch_size(0).fit(&device).unwrap_err();
    assert!(matches!(err, TrainError::InvalidConfig(_)), "{err}");
}
