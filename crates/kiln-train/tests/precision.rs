//! bf16 training with f32 master weights: the step runs in bf16, the weights stay f32, and the
//! run follows the f32 run closely.

mod common;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{DType, Device, Tensor};
use kiln_data::{ImageFolder, Preprocess};
use kiln_models::{Backbone, create};
use kiln_train::precision::bf16_copy;
use kiln_train::{Augment, Finetune, Precision, Recipe, StageSpec, TrainError, Unfreeze};

/// Every float tensor (parameters and BatchNorm statistics): dtype and values.
struct Dump(Vec<(DType, Vec<f32>)>);

impl ModuleVisitor for Dump {
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
        let t = p.val();
        let dtype = t.dtype();
        let v = t
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap();
        self.0.push((dtype, v));
    }
}

fn dump(model: &Backbone) -> Vec<(DType, Vec<f32>)> {
    let mut d = Dump(Vec::new());
    model.visit(&mut d);
    d.0
}

fn quick(model: Backbone, data: &ImageFolder, precision: Precision) -> Finetune {
    Finetune::new(model)
        .train(data.train().clone())
        .valid(data.val().unwrap().clone())
        .preprocess(Some(Preprocess::imagenet(32).with_crop_fraction(1.0)))
        .augment(Augment::None)
        .batch_size(8)
        .recipe(Recipe::new(vec![StageSpec::new(
            "full",
            2,
            Unfreeze::All,
            1e-3,
        )]))
        .precision(precision)
        .progress(false)
}

#[test]
fn the_copy_is_bf16_and_the_master_stays_f32() {
    let device = Device::flex();
    let master = create("resnet18", 3, &device)
        .unwrap()
        .fork(&device.clone().autodiff());
    let before = dump(&master);
    let copy = bf16_copy(&master);
    let c = dump(&copy);
    assert_eq!(c.len(), before.len());
    assert!(c.iter().all(|(d, _)| *d == DType::BF16), "copy is bf16");
    for ((_, a), (_, b)) in before.iter().zip(&c) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= 1e-2 * x.abs() + 1e-6, "{x} vs {y}");
        }
    }
    // Casting the copy must not touch the master (BatchNorm statistics are shared between
    // clones of a module in Burn; the copy gets its own).
    assert_eq!(dump(&master), before);
}

#[test]
fn bf16_training_follows_f32_training_with_f32_weights() {
    let dir = tempfile::tempdir().unwrap();
    common::colour_folder(dir.path(), 3, 8, 4, 40);
    let data = ImageFolder::open(dir.path()).unwrap();
    let device = Device::flex();
    let model = create("resnet18", 3, &device).unwrap();
    let start = dump(&model);

    let f32_run = quick(model.clone(), &data, Precision::F32)
        .fit(&device)
        .unwrap();
    let bf16_run = quick(model, &data, Precision::Bf16).fit(&device).unwrap();

    let (a, b) = (dump(&f32_run.last), dump(&bf16_run.last));
    assert!(
        b.iter().all(|(d, _)| *d == DType::F32),
        "master weights are f32"
    );
    // Adam normalises each update, so single weights with tiny gradients can go either way;
    // the direction of the whole update is what bf16 must preserve.
    let delta = |end: &[(DType, Vec<f32>)]| -> Vec<f64> {
        start
            .iter()
            .zip(end)
            .flat_map(|((_, s), (_, e))| s.iter().zip(e).map(|(u, v)| f64::from(v - u)))
            .collect()
    };
    let (da, db) = (delta(&a), delta(&b));
    let dot: f64 = da.iter().zip(&db).map(|(x, y)| x * y).sum();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let cosine = dot / (norm(&da) * norm(&db));
    let apart = da
        .iter()
        .zip(&db)
        .map(|(x, y)| (x - y).abs())
        .fold(0f64, f64::max);
    eprintln!(
        "update norm f32 {:.3e}, bf16 {:.3e}; cosine {cosine:.4}; max |Δ| {apart:.3e}",
        norm(&da),
        norm(&db)
    );
    assert!(norm(&da) > 1e-2, "training moved the weights");
    assert!(apart > 0.0, "bf16 really ran in bf16");
    assert!(cosine > 0.9, "bf16 update direction cosine {cosine}");
    for (x, y) in f32_run.report.history.iter().zip(&bf16_run.report.history) {
        eprintln!(
            "epoch {}: loss f32 {:.5} bf16 {:.5}",
            x.epoch, x.train_loss, y.train_loss
        );
        assert!(
            (x.train_loss - y.train_loss).abs() < 0.05 * x.train_loss.abs().max(0.1),
            "loss f32 {} vs bf16 {}",
            x.train_loss,
            y.train_loss
        );
    }
}

#[test]
fn bf16_with_training_batchnorm_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    common::colour_folder(dir.path(), 2, 2, 1, 16);
    let data = ImageFolder::open(dir.path()).unwrap();
    let device = Device::flex();
    let model = create("resnet18", 2, &device).unwrap();
    let err = quick(model, &data, Precision::Bf16)
        .frozen_batchnorm(false)
        .fit(&device)
        .unwrap_err();
    assert!(
        matches!(err, TrainError::InvalidConfig(ref m) if m.contains("frozen_batchnorm")),
        "{err}"
    );
}
