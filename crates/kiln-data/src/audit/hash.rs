//! Content and perceptual hashes for duplicate detection.
//!
//! * SHA-256 of the file bytes finds exact copies (same file under two names or splits).
//! * pHash (DCT of a 32×32 grey thumbnail, 8×8 low frequencies vs their median) and dHash
//!   (sign of horizontal gradients on a 9×8 thumbnail) find the same picture re-encoded,
//!   resized or slightly recoloured: both survive JPEG recompression and rescaling, and
//!   requiring *both* distances to be small keeps false matches rare.

use sha2::{Digest, Sha256};

use crate::decode::RgbImage;
use crate::error::Result;
use crate::preprocess::Interpolation;
use crate::transform::geometry::{SourceBox, crop_resize};

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Number of differing bits.
pub fn hamming(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// Perceptual fingerprints of one image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PerceptualHash {
    /// DCT hash.
    pub phash: u64,
    /// Gradient hash.
    pub dhash: u64,
    /// The thumbnail is nearly uniform (blank, single colour): its hashes carry no
    /// information and would match every other blank image.
    pub low_information: bool,
}

fn grey_thumb(img: &RgbImage, w: usize, h: usize) -> Result<Vec<f32>> {
    let (iw, ih) = img.dimensions();
    let t = crop_resize(img, SourceBox::full(iw, ih), w, h, Interpolation::Box)?;
    Ok(t.as_raw()
        .chunks_exact(3)
        .map(|p| 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32)
        .collect())
}

/// Computes pHash and dHash.
pub fn perceptual_hash(img: &RgbImage) -> Result<PerceptualHash> {
    // pHash: 32×32 grey, 2-D DCT-II, keep the 8×8 lowest frequencies.
    const N: usize = 32;
    let g = grey_thumb(img, N, N)?;
    let mean = g.iter().sum::<f32>() / g.len() as f32;
    let var = g.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / g.len() as f32;
    let cos: Vec<f32> = (0..8)
        .flat_map(|k| {
            (0..N)
                .map(move |n| (std::f32::consts::PI / N as f32 * (n as f32 + 0.5) * k as f32).cos())
        })
        .collect();
    // rows: 32 rows × 8 coefficients
    let mut rows = vec![0f32; N * 8];
    for y in 0..N {
        for k in 0..8 {
            rows[y * 8 + k] = (0..N).map(|x| g[y * N + x] * cos[k * N + x]).sum();
        }
    }
    let mut coef = [0f32; 64];
    for ky in 0..8 {
        for kx in 0..8 {
            coef[ky * 8 + kx] = (0..N).map(|y| rows[y * 8 + kx] * cos[ky * N + y]).sum();
        }
    }
    let mut sorted = coef;
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let median = (sorted[31] + sorted[32]) / 2.0;
    let mut phash = 0u64;
    for (i, c) in coef.iter().enumerate() {
        if *c > median {
            phash |= 1 << i;
        }
    }
    // dHash: 9×8 grey, bit = left pixel brighter than its right neighbour.
    let d = grey_thumb(img, 9, 8)?;
    let mut dhash = 0u64;
    for y in 0..8 {
        for x in 0..8 {
            if d[y * 9 + x] > d[y * 9 + x + 1] {
                dhash |= 1 << (y * 8 + x);
            }
        }
    }
    Ok(PerceptualHash {
        phash,
        dhash,
        low_information: var.sqrt() < 2.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texture(seed: u64, w: u32, h: u32) -> RgbImage {
        let mut r = crate::rng::Rng::new(seed);
        let blobs: Vec<(f32, f32, f32, [f32; 3])> = (0..12)
            .map(|_| {
                (
                    r.next_f32(),
                    r.next_f32(),
                    0.05 + 0.2 * r.next_f32(),
                    [
                        r.next_f32() * 255.0,
                        r.next_f32() * 255.0,
                        r.next_f32() * 255.0,
                    ],
                )
            })
            .collect();
        RgbImage::from_fn(w, h, |x, y| {
            let (u, v) = (x as f32 / w as f32, y as f32 / h as f32);
            let mut c = [30.0f32; 3];
            for (bx, by, rad, col) in &blobs {
                let d2 = (u - bx).powi(2) + (v - by).powi(2);
                let wgt = (-d2 / (rad * rad)).exp();
                for k in 0..3 {
                    c[k] += wgt * col[k];
                }
            }
            image::Rgb(c.map(|v| v.min(255.0) as u8))
        })
    }

    #[test]
    fn resized_copy_is_close_and_other_image_is_far() {
        let a = texture(1, 160, 120);
        let small = image::imageops::resize(&a, 80, 60, image::imageops::FilterType::Triangle);
        let b = texture(2, 160, 120);
        let (ha, hs, hb) = (
            perceptual_hash(&a).unwrap(),
            perceptual_hash(&small).unwrap(),
            perceptual_hash(&b).unwrap(),
        );
        assert!(
            hamming(ha.phash, hs.phash) <= 4,
            "{}",
            hamming(ha.phash, hs.phash)
        );
        assert!(hamming(ha.dhash, hs.dhash) <= 8);
        assert!(
            hamming(ha.phash, hb.phash) > 12,
            "{}",
            hamming(ha.phash, hb.phash)
        );
        assert!(!ha.low_information);
        let blank = RgbImage::from_pixel(50, 50, image::Rgb([128, 128, 128]));
        assert!(perceptual_hash(&blank).unwrap().low_information);
    }

    #[test]
    fn sha_known_value() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
