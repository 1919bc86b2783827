//! The deterministic weight generator behind kiln's torchvision parity fixtures.
//!
//! A bit-exact port of `shared/fixtures/parity/generate.py`: every parameter of a
//! torchvision model is a pure function of its state-dict key and element index, so a test
//! can fill a file with torchvision key names, import it exactly as a user imports a
//! download, and compare the outputs with the ones torchvision computed.
//!
//! Generator (u64 arithmetic wraps, float arithmetic in f32):
//! `seed = fnv1a64(key)`, `u[i] = (splitmix64(seed + i) >> 40) / 2^24`, `v = 2u − 1`; then by
//! key: running_var `0.5 + u`, running_mean `0.1 v`, rank-1 weight `c + 0.1 v`, rank-1 bias
//! `0.1 v`, anything else `v · sqrt(6 / fan_in)`.

use std::collections::HashMap;
use std::path::Path;

use safetensors::{Dtype, tensor::TensorView};

use crate::error::{ModelError, Result};

/// FNV-1a 64 of the UTF-8 bytes of `s`.
pub fn fnv1a64(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// SplitMix64 finaliser.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `n` uniforms in `[0, 1)` with 24-bit resolution, keyed by `name`.
pub fn u_stream(name: &str, n: usize) -> Vec<f32> {
    let seed = fnv1a64(name);
    (0..n as u64)
        .map(|i| (splitmix64(seed.wrapping_add(i)) >> 40) as f32 / (1u32 << 24) as f32)
        .collect()
}

/// The value of parameter `name` with `shape` (row-major), as `generate.py`'s `det_fill`.
pub fn det_fill(name: &str, shape: &[usize], gamma_center: f32) -> Vec<f32> {
    let n: usize = shape.iter().product::<usize>().max(1);
    let u = u_stream(name, n);
    let v = u.iter().map(|&u| 2.0f32 * u - 1.0f32);
    if name.ends_with("running_var") {
        u.iter().map(|&u| 0.5f32 + u).collect()
    } else if name.ends_with("running_mean") {
        v.map(|v| 0.1f32 * v).collect()
    } else if shape.len() == 1 && name.ends_with("weight") {
        v.map(|v| gamma_center + 0.1f32 * v).collect()
    } else if shape.len() == 1 && name.ends_with("bias") {
        v.map(|v| 0.1f32 * v).collect()
    } else {
        let fan_in = n / shape.first().copied().unwrap_or(1).max(1);
        let scale = (6.0f64 / fan_in as f64).sqrt() as f32;
        v.map(|v| v * scale).collect()
    }
}

/// The deterministic input `v` of shape `shape` (values in `[-1, 1)`).
pub fn det_input(name: &str, shape: &[usize]) -> Vec<f32> {
    let n: usize = shape.iter().product();
    u_stream(name, n)
        .into_iter()
        .map(|u| 2.0f32 * u - 1.0f32)
        .collect()
}

/// A named f32 tensor in PyTorch layout, for [`write_safetensors`].
#[derive(Debug, Clone)]
pub struct NamedTensor {
    /// State-dict key.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

/// Fill every key of a torchvision state dict (`keys`: name → shape) with [`det_fill`];
/// `num_batches_tracked` buffers are skipped, as a loader ignores them.
pub fn fill_state_dict<'a>(
    keys: impl IntoIterator<Item = (&'a str, &'a [usize])>,
    gamma_center: f32,
) -> Vec<NamedTensor> {
    keys.into_iter()
        .filter(|(k, _)| !k.ends_with("num_batches_tracked"))
        .map(|(k, shape)| NamedTensor {
            name: k.to_string(),
            shape: shape.to_vec(),
            data: det_fill(k, shape, gamma_center),
        })
        .collect()
}

/// Write `tensors` as an f32 `.safetensors` file (the format timm and Hugging Face publish).
pub fn write_safetensors(tensors: &[NamedTensor], path: &Path) -> Result<()> {
    let write_err = |reason: String| ModelError::Write {
        path: path.to_path_buf(),
        reason,
    };
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|t| t.data.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let mut views = Vec::with_capacity(tensors.len());
    for (t, b) in tensors.iter().zip(&bytes) {
        let view = TensorView::new(Dtype::F32, t.shape.clone(), b)
            .map_err(|e| write_err(format!("{}: {e}", t.name)))?;
        views.push((t.name.clone(), view));
    }
    safetensors::serialize_to_file(views, None::<HashMap<String, String>>, path)
        .map_err(|e| write_err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_reference_vectors() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a64(""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64("a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64("foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn splitmix_matches_reference() {
        // splitmix64 stream from state 0: first outputs of the reference implementation.
        assert_eq!(splitmix64(0), 0xe220a8397b1dcdaf);
    }

    #[test]
    fn u_stream_is_bit_exact_with_python() {
        // 24-bit integers computed by the Python generator for these keys.
        let ints = |k: &str| -> Vec<u32> {
            u_stream(k, 4)
                .iter()
                .map(|u| (u * (1u32 << 24) as f32) as u32)
                .collect()
        };
        assert_eq!(ints("conv1.weight"), [9144840, 1255183, 16106444, 14154694]);
        assert_eq!(
            ints("layer1.0.bn1.running_var"),
            [10842125, 13976094, 13716241, 1514266]
        );
    }

    #[test]
    fn fill_rules_follow_the_key() {
        let rv = det_fill("bn1.running_var", &[4], 0.6);
        assert!(rv.iter().all(|&x| (0.5..1.5).contains(&x)));
        let g = det_fill("bn1.weight", &[4], 0.6);
        assert!(g.iter().all(|&x| (0.5..=0.7).contains(&x)));
        let w = det_fill("conv1.weight", &[8, 3, 3, 3], 0.6);
        let bound = (6.0f32 / 27.0).sqrt();
        assert!(w.iter().all(|&x| x.abs() <= bound));
        assert_eq!(w.len(), 8 * 27);
        // Different keys give different streams; same key, same stream.
        assert_ne!(
            det_fill("a.weight", &[3, 3], 0.6),
            det_fill("b.weight", &[3, 3], 0.6)
        );
        assert_eq!(
            det_fill("a.weight", &[3, 3], 0.6),
            det_fill("a.weight", &[3, 3], 0.6)
        );
    }
}
