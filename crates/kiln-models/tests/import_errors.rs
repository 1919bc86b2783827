//! Import behaviour users rely on: typed errors on bad files, head replacement, checkpoints.

mod common;

use burn::tensor::Device;
use common::{fixture, load_case, max_abs_diff};
use kiln_models::import::{HeadPolicy, LoadOptions, load_checkpoint, save_checkpoint};
use kiln_models::parity::{NamedTensor, write_safetensors};
use kiln_models::{ModelError, create};

fn resnet18_weights() -> Vec<NamedTensor> {
    load_case("resnet18").weights()
}

#[test]
fn truncated_pth_is_an_unreadable_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture("parity/resnet18_torchvision.pth")).unwrap();
    let path = dir.path().join("truncated.pth");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = create("resnet18", 1000, &Device::flex())
        .unwrap()
        .load_torchvision(&path)
        .unwrap_err();
    assert!(
        matches!(err, ModelError::UnreadableCheckpoint { .. }),
        "got {err:?}"
    );
}

#[test]
fn text_file_is_not_weights() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["notes.pth", "notes.safetensors", "notes.bpk"] {
        let path = dir.path().join(name);
        std::fs::write(&path, "these are not the weights you are looking for\n").unwrap();
        let err = create("resnet18", 10, &Device::flex())
            .unwrap()
            .load_weights(&path, &LoadOptions::default())
            .unwrap_err();
        assert!(
            matches!(err, ModelError::UnreadableCheckpoint { .. }),
            "{name}: got {err:?}"
        );
        assert!(
            err.to_string().contains(name),
            "message names the file: {err}"
        );
    }
}

#[test]
fn missing_file_and_unknown_extension_are_typed() {
    let model = || create("resnet18", 10, &Device::flex()).unwrap();
    let err = model()
        .load_torchvision("/nonexistent/resnet18.pth")
        .unwrap_err();
    assert!(matches!(err, ModelError::Io { .. }), "got {err:?}");
    let err = model().load_torchvision("weights.onnx").unwrap_err();
    assert!(matches!(err, ModelError::UnknownFormat(_)), "got {err:?}");
}

#[test]
fn resnet50_weights_into_resnet18_name_key_and_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let path = load_case("resnet50").write_weights(dir.path());
    let err = create("resnet18", 1000, &Device::flex())
        .unwrap()
        .load_torchvision(&path)
        .unwrap_err();
    match err {
        ModelError::ShapeMismatch {
            key,
            expected,
            found,
        } => {
            assert!(key.starts_with("layer"), "key {key}");
            assert_ne!(expected, found);
        }
        other => panic!("expected a shape mismatch, got {other:?}"),
    }
}

#[test]
fn missing_and_unexpected_keys_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut weights = resnet18_weights();
    weights.retain(|t| t.name != "layer4.1.bn2.running_mean");
    let path = dir.path().join("missing.safetensors");
    write_safetensors(&weights, &path).unwrap();
    let err = create("resnet18", 1000, &Device::flex())
        .unwrap()
        .load_torchvision(&path)
        .unwrap_err();
    match err {
        ModelError::MissingKeys { keys, .. } => {
            assert_eq!(keys, vec!["layer4.1.bn2.running_mean".to_string()])
        }
        other => panic!("expected missing keys, got {other:?}"),
    }

    let mut weights = resnet18_weights();
    weights.push(NamedTensor {
        name: "extra.weight".into(),
        shape: vec![2, 2],
        data: vec![0.0; 4],
    });
    let path = dir.path().join("extra.safetensors");
    write_safetensors(&weights, &path).unwrap();
    let err = create("resnet18", 1000, &Device::flex())
        .unwrap()
        .load_torchvision(&path)
        .unwrap_err();
    match err {
        ModelError::UnexpectedKeys { keys } => assert_eq!(keys, vec!["extra.weight".to_string()]),
        other => panic!("expected unexpected keys, got {other:?}"),
    }
    // …unless the caller says extra tensors are fine.
    let (_, report) = create("resnet18", 1000, &Device::flex())
        .unwrap()
        .load_weights(&path, &LoadOptions::default().allow_unexpected(true))
        .unwrap();
    assert!(report.ignored.contains(&"extra.weight".to_string()));
}

#[test]
fn new_class_count_keeps_a_fresh_head_and_loads_the_body() {
    let device = Device::flex();
    let case = load_case("resnet18");
    let (model, report) = create("resnet18", 7, &device)
        .unwrap()
        .load_weights(
            fixture("parity/resnet18_torchvision.pth"),
            &LoadOptions::default(),
        )
        .unwrap();
    assert!(report.head_reinitialised);
    assert!(report.ignored.iter().any(|k| k == "fc.weight"));
    assert_eq!(model.num_classes(), 7);
    let features = model.forward_features(case.input(&device));
    assert!(max_abs_diff(features, &case.features) < 1e-4);

    // Requiring the head makes the class-count difference an error naming the head.
    let err = create("resnet18", 7, &device)
        .unwrap()
        .load_weights(
            fixture("parity/resnet18_torchvision.pth"),
            &LoadOptions::default().head(HeadPolicy::Require),
        )
        .unwrap_err();
    match err {
        ModelError::ShapeMismatch { key, .. } => assert!(key.starts_with("fc."), "{key}"),
        other => panic!("expected a head shape mismatch, got {other:?}"),
    }
}

#[test]
fn burnpack_checkpoint_round_trip_is_exact() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let model = create("resnet18", 5, &device)
        .unwrap()
        .load_weights(
            fixture("parity/resnet18_torchvision.pth"),
            &LoadOptions::default(),
        )
        .unwrap()
        .0;
    let path = dir.path().join("nested/ckpt.bpk");
    save_checkpoint(&model, &path).unwrap();
    // No temporary file is left beside the checkpoint.
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");

    let restored = load_checkpoint(create("resnet18", 5, &device).unwrap(), &path).unwrap();
    let x = load_case("resnet18").input(&device);
    let a = model
        .forward(x.clone())
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let b = restored.forward(x).into_data().try_to_vec::<f32>().unwrap();
    assert_eq!(a, b, "bit-exact round trip");

    // A checkpoint of another class count is refused, naming the head.
    let err = load_checkpoint(create("resnet18", 6, &device).unwrap(), &path).unwrap_err();
    assert!(
        matches!(err, ModelError::ShapeMismatch { .. }),
        "got {err:?}"
    );
}

#[test]
fn unknown_arch_and_zero_classes_are_typed() {
    let device = Device::flex();
    assert!(matches!(
        create("resnet19", 10, &device),
        Err(ModelError::UnknownArch { .. })
    ));
    assert!(matches!(
        create("resnet18", 0, &device),
        Err(ModelError::InvalidConfig(_))
    ));
}
