//! The real ImageNet EfficientNet-Lite0 weights (legacy pickle, efficientnet_pytorch keys).

mod common;

use burn::tensor::{Device, Tensor};
use common::fixture;
use kiln_models::create;
use kiln_models::import::LoadOptions;

#[test]
fn lite0_legacy_pickle_loads_every_key() {
    let device = Device::flex();
    let path = fixture("weights/efficientnet-lite0-57934424.pth");
    // Strict defaults: any missing or unexpected key is an error.
    let (model, report) = create("efficientnet_lite0", 1000, &device)
        .unwrap()
        .load_weights(&path, &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!report.head_reinitialised);
    assert!(
        report
            .ignored
            .iter()
            .all(|k| k.ends_with("num_batches_tracked")),
        "only bookkeeping buffers are ignored: {:?}",
        report.ignored
    );
    assert_eq!(model.num_classes(), 1000);
    // A mid-grey image (pixel 127 → exactly 0 after Lite's normalisation) gives finite
    // logits; the real-photo predictions are checked in the workspace's tests/.
    let logits = model.forward(Tensor::<4>::zeros([1, 3, 224, 224], &device));
    let v = logits.into_data().try_to_vec::<f32>().unwrap();
    assert!(v.iter().all(|x| x.is_finite()));
}
