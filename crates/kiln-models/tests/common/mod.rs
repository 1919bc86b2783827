//! Shared helpers of the kiln-models integration tests: fixtures and comparisons.
#![allow(dead_code)]

use std::path::PathBuf;

use burn::tensor::{Device, Tensor, TensorData};
use kiln_models::parity::{NamedTensor, det_input, fill_state_dict, write_safetensors};
use serde::Deserialize;

/// `../shared/fixtures/<rel>`; panics with the path when the fixture is missing.
pub fn fixture(rel: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures")
        .join(rel);
    assert!(
        p.exists(),
        "fixture {} is missing: these tests need the shared/ folder beside the repository",
        p.display()
    );
    p
}

/// One `<arch>.json` parity case.
#[derive(Deserialize)]
pub struct Case {
    pub arch: String,
    pub gamma_center: f32,
    pub input: Input,
    pub max_abs_diff_f64_vs_f32: f64,
    pub state_dict_keys: serde_json::Map<String, serde_json::Value>,
    pub features: Vec<Vec<f64>>,
    pub logits: Vec<Vec<f64>>,
}

/// The deterministic input of a case.
#[derive(Deserialize)]
pub struct Input {
    pub name: String,
    pub shape: Vec<usize>,
}

pub fn load_case(arch: &str) -> Case {
    let path = fixture(&format!("parity/{arch}.json"));
    let text = std::fs::read_to_string(&path).expect("read parity fixture");
    serde_json::from_str(&text).expect("parse parity fixture")
}

impl Case {
    /// `(key, shape)` of every state-dict entry.
    pub fn keys(&self) -> Vec<(String, Vec<usize>)> {
        self.state_dict_keys
            .iter()
            .map(|(k, v)| {
                let shape = v
                    .as_array()
                    .expect("shape list")
                    .iter()
                    .map(|d| d.as_u64().expect("dim") as usize)
                    .collect();
                (k.clone(), shape)
            })
            .collect()
    }

    /// The generator's weights for this case, torchvision names.
    pub fn weights(&self) -> Vec<NamedTensor> {
        let keys = self.keys();
        fill_state_dict(
            keys.iter().map(|(k, s)| (k.as_str(), s.as_slice())),
            self.gamma_center,
        )
    }

    /// Write the generator's weights as `.safetensors` in `dir`.
    pub fn write_weights(&self, dir: &std::path::Path) -> PathBuf {
        let path = dir.join(format!("{}.safetensors", self.arch));
        write_safetensors(&self.weights(), &path).expect("write safetensors");
        path
    }

    pub fn input(&self, device: &Device) -> Tensor<4> {
        let s = &self.input.shape;
        let data = det_input(&self.input.name, s);
        Tensor::from_data(TensorData::new(data, [s[0], s[1], s[2], s[3]]), device)
    }
}

/// Largest absolute difference between a tensor and a reference matrix.
pub fn max_abs_diff(t: Tensor<2>, reference: &[Vec<f64>]) -> f64 {
    let [n, k] = t.dims();
    assert_eq!(n, reference.len(), "row count");
    assert_eq!(k, reference[0].len(), "column count");
    let got = t
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 data");
    got.iter()
        .zip(reference.iter().flatten())
        .map(|(a, b)| (*a as f64 - b).abs())
        .fold(0.0, f64::max)
}
