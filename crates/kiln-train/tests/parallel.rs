//! Data parallel: a batch split across two devices takes the step one device takes.

mod common;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use kiln_data::{ImageFolder, Preprocess};
use kiln_models::{Backbone, create};
use kiln_train::{Augment, Finetune, Recipe, StageSpec, Unfreeze};

/// Every parameter, flattened in visit order.
struct Flatten(Vec<f32>);

impl ModuleVisitor for Flatten {
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
        self.0.extend(
            p.val()
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .unwrap(),
        );
    }
}

fn flat(model: &Backbone) -> Vec<f32> {
    let mut f = Flatten(Vec::new());
    model.visit(&mut f);
    f.0
}

fn run(devices: &[Device], data: &ImageFolder, model: Backbone) -> kiln_train::RunOutcome {
    Finetune::new(model)
        .train(data.train().clone())
        .valid(data.val().unwrap().clone())
        .preprocess(Some(Preprocess::imagenet(32).with_crop_fraction(1.0)))
        .augment(Augment::None)
        // 24 images in batches of 7: shards of 4 + 3 and a last batch of 3 → 2 + 1, so an
        // unweighted sum of shard means would take a different step.
        .batch_size(7)
        .recipe(Recipe::new(vec![StageSpec::new(
            "full",
            1,
            Unfreeze::All,
            1e-3,
        )]))
        .progress(false)
        .fit_on(devices)
        .unwrap()
}

#[test]
fn two_replicas_take_the_single_device_step() {
    let dir = tempfile::tempdir().unwrap();
    common::colour_folder(dir.path(), 3, 8, 4, 40);
    let data = ImageFolder::open(dir.path()).unwrap();
    let device = Device::flex();
    let model = create("resnet18", 3, &device).unwrap();
    let before = flat(&model);

    let single = run(std::slice::from_ref(&device), &data, model.clone());
    let parallel = run(&[device.clone(), device.clone()], &data, model);

    let (a, b) = (flat(&single.last), flat(&parallel.last));
    assert_eq!(a.len(), b.len());
    let moved = a
        .iter()
        .zip(&before)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    let diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    eprintln!("two replicas vs one device: max |Δw| {diff:.3e} (max update {moved:.3e})");
    assert!(moved > 1e-3, "training moved the weights ({moved})");
    assert!(
        diff < 1e-5,
        "parallel and single-device weights differ by {diff} (updates {moved})"
    );
    let (la, lb) = (
        single.report.history[0].train_loss,
        parallel.report.history[0].train_loss,
    );
    assert!((la - lb).abs() < 1e-5 * la.abs().max(1.0), "{la} vs {lb}");
}

#[test]
fn no_device_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    common::colour_folder(dir.path(), 2, 2, 1, 16);
    let data = ImageFolder::open(dir.path()).unwrap();
    let model = create("resnet18", 2, &Device::flex()).unwrap();
    let err = Finetune::new(model)
        .train(data.train().clone())
        .progress(false)
        .fit_on(&[])
        .unwrap_err();
    assert!(err.to_string().contains("no device"), "{err}");
}
