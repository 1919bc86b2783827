//! Every family equals torchvision: generator-filled weights through the user's import paths.

mod common;

use burn::tensor::Device;
use common::{fixture, load_case, max_abs_diff};
use kiln_models::{Backbone, create};

const TOL: f64 = 1e-4;

fn check_outputs(model: &Backbone, case: &common::Case, device: &Device) {
    let x = case.input(device);
    let features = model.forward_features(x.clone());
    let logits = model.forward(x);
    let df = max_abs_diff(features, &case.features);
    let dl = max_abs_diff(logits, &case.logits);
    eprintln!(
        "{}: max |Δ| features {df:.3e}, logits {dl:.3e} (f64 drift floor {:.1e})",
        case.arch, case.max_abs_diff_f64_vs_f32
    );
    assert!(df < TOL, "{}: features differ by {df}", case.arch);
    assert!(dl < TOL, "{}: logits differ by {dl}", case.arch);
}

#[test]
fn resnet18_torchvision_pth_matches_torchvision() {
    let device = Device::flex();
    let case = load_case("resnet18");
    let model = create("resnet18", 1000, &device)
        .unwrap()
        .load_torchvision(fixture("parity/resnet18_torchvision.pth"))
        .expect("load the torch.save zip checkpoint");
    check_outputs(&model, &case, &device);
}

fn safetensors_parity(arch: &str) {
    let device = Device::flex();
    let case = load_case(arch);
    let dir = tempfile::tempdir().unwrap();
    let path = case.write_weights(dir.path());
    let model = create(arch, 1000, &device)
        .unwrap()
        .load_torchvision(&path)
        .unwrap_or_else(|e| panic!("{arch}: {e}"));
    check_outputs(&model, &case, &device);
}

#[test]
fn resnet34_safetensors_matches_torchvision() {
    safetensors_parity("resnet34");
}

#[test]
fn resnet50_safetensors_matches_torchvision() {
    safetensors_parity("resnet50");
}

#[test]
fn resnet101_safetensors_matches_torchvision() {
    safetensors_parity("resnet101");
}

#[test]
fn resnet152_safetensors_matches_torchvision() {
    safetensors_parity("resnet152");
}

#[test]
fn efficientnet_b0_safetensors_matches_torchvision() {
    safetensors_parity("efficientnet_b0");
}

#[test]
fn efficientnet_b1_safetensors_matches_torchvision() {
    safetensors_parity("efficientnet_b1");
}

#[test]
fn efficientnet_b3_safetensors_matches_torchvision() {
    safetensors_parity("efficientnet_b3");
}

#[test]
fn efficientnet_b7_safetensors_matches_torchvision() {
    safetensors_parity("efficientnet_b7");
}

#[test]
fn vit_b_16_safetensors_matches_torchvision() {
    safetensors_parity("vit_b_16");
}

/// torchvision EfficientNet key → timm key, written independently of kiln's tables.
fn torchvision_to_timm(key: &str) -> String {
    let parts: Vec<&str> = key.split('.').collect();
    match parts.as_slice() {
        ["features", "0", "0", rest @ ..] => format!("conv_stem.{}", rest.join(".")),
        ["features", "0", "1", rest @ ..] => format!("bn1.{}", rest.join(".")),
        ["features", "8", "0", rest @ ..] => format!("conv_head.{}", rest.join(".")),
        ["features", "8", "1", rest @ ..] => format!("bn2.{}", rest.join(".")),
        ["classifier", "1", rest @ ..] => format!("classifier.{}", rest.join(".")),
        ["features", s, i, "block", rest @ ..] => {
            let stage: usize = s.parse().unwrap();
            let prefix = format!("blocks.{}.{i}", stage - 1);
            let name = match (stage, rest) {
                (1, ["0", "0", t]) => format!("conv_dw.{t}"),
                (1, ["0", "1", t]) => format!("bn1.{t}"),
                (1, ["1", fc, t]) => format!("se.{}.{t}", se_name(fc)),
                (1, ["2", "0", t]) => format!("conv_pw.{t}"),
                (1, ["2", "1", t]) => format!("bn2.{t}"),
                (_, ["0", "0", t]) => format!("conv_pw.{t}"),
                (_, ["0", "1", t]) => format!("bn1.{t}"),
                (_, ["1", "0", t]) => format!("conv_dw.{t}"),
                (_, ["1", "1", t]) => format!("bn2.{t}"),
                (_, ["2", fc, t]) => format!("se.{}.{t}", se_name(fc)),
                (_, ["3", "0", t]) => format!("conv_pwl.{t}"),
                (_, ["3", "1", t]) => format!("bn3.{t}"),
                _ => panic!("unmapped key {key}"),
            };
            format!("{prefix}.{name}")
        }
        _ => panic!("unmapped key {key}"),
    }
}

fn se_name(fc: &str) -> &'static str {
    match fc {
        "fc1" => "conv_reduce",
        "fc2" => "conv_expand",
        other => panic!("unknown SE part {other}"),
    }
}

#[test]
fn efficientnet_b0_timm_keys_match_torchvision() {
    use kiln_models::WeightLayout;
    use kiln_models::import::LoadOptions;
    use kiln_models::parity::write_safetensors;
    let device = Device::flex();
    let case = load_case("efficientnet_b0");
    let mut weights = case.weights();
    for t in &mut weights {
        t.name = torchvision_to_timm(&t.name);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("efficientnet_b0_timm.safetensors");
    write_safetensors(&weights, &path).unwrap();
    let (model, _) = create("efficientnet_b0", 1000, &device)
        .unwrap()
        .load_weights(&path, &LoadOptions::default().layout(WeightLayout::Timm))
        .unwrap();
    check_outputs(&model, &case, &device);
}
