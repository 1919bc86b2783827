//! ResNets equal torchvision: generator-filled weights through the user's import paths.

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
