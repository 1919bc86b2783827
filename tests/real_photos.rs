//! Real ImageNet weights on real photos: kiln's top-1 equals the PyTorch reference.

use std::path::PathBuf;

use kiln::prelude::*;
use kiln::train::infer::{eval_transform_for, load_batch, predict_top_k};

fn shared(rel: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures")
        .join(rel);
    assert!(
        p.exists(),
        "fixture {} is missing (shared/ beside the checkout)",
        p.display()
    );
    p
}

fn expected_top1(name: &str) -> usize {
    let text = std::fs::read_to_string(shared("photos/expected.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v[name][0]["index"].as_u64().expect("expected top-1 index") as usize
}

#[test]
fn lite0_top1_matches_pytorch_on_real_photos() {
    let device = Device::flex();
    let (model, _) = create("efficientnet_lite0", 1000, &device)
        .unwrap()
        .load_weights(
            shared("weights/efficientnet-lite0-57934424.pth"),
            &LoadOptions::default().head(HeadPolicy::Require),
        )
        .unwrap();
    let transform = eval_transform_for(&model);
    let names = ["chelsea.png", "coffee.png", "rocket.png", "chelsea.jpg"];
    let paths: Vec<PathBuf> = names
        .iter()
        .map(|n| shared(&format!("photos/{n}")))
        .collect();
    let batch = load_batch(&paths, &transform, &device).unwrap();
    let top = predict_top_k(&model, batch, 5);
    for (name, preds) in names.iter().zip(&top).take(3) {
        assert_eq!(preds[0].index, expected_top1(name), "{name}: {preds:?}");
    }
    // The JPEG re-encode of chelsea agrees with the PNG.
    assert_eq!(top[3][0].index, top[0][0].index);
    // Top-5 probabilities are sorted and sum to at most 1.
    for preds in &top {
        assert!(preds.windows(2).all(|w| w[0].prob >= w[1].prob));
        assert!(preds.iter().map(|p| p.prob).sum::<f32>() <= 1.0 + 1e-5);
    }
}

#[test]
fn unreadable_image_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-a-photo.png");
    std::fs::write(&path, "plain text").unwrap();
    let device = Device::flex();
    let model = create("resnet18", 3, &device).unwrap();
    let err = load_batch(&[path], &eval_transform_for(&model), &device).unwrap_err();
    assert!(err.to_string().contains("not-a-photo.png"), "{err}");
}
