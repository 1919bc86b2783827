//! Helpers shared by the integration tests: synthetic images and folder layouts.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage};
use kiln_data::Rng;

/// A smooth random "photo": coloured Gaussian blobs on a dark background (distinct per seed,
/// with enough structure for perceptual hashes).
pub fn texture(seed: u64, w: u32, h: u32) -> RgbImage {
    let mut r = Rng::new(seed);
    let blobs: Vec<(f32, f32, f32, [f32; 3])> = (0..14)
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
        let mut c = [25.0f32; 3];
        for (bx, by, rad, col) in &blobs {
            let d2 = (u - bx).powi(2) + (v - by).powi(2);
            let wgt = (-d2 / (rad * rad)).exp();
            for k in 0..3 {
                c[k] += wgt * col[k];
            }
        }
        Rgb(c.map(|v| v.min(255.0) as u8))
    })
}

pub fn save_jpeg(img: &RgbImage, path: &Path, quality: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let f = std::fs::File::create(path).unwrap();
    let mut enc =
        image::codecs::jpeg::JpegEncoder::new_with_quality(std::io::BufWriter::new(f), quality);
    enc.encode_image(img).unwrap();
}

pub fn save_png(img: &RgbImage, path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    img.save_with_format(path, image::ImageFormat::Png).unwrap();
}

/// Builds `root/<split>/<class>/img_<i>.jpg` with `counts[class]` textured images per split.
pub fn make_folder(root: &Path, splits: &[(&str, &[usize])], w: u32, h: u32) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut seed = 1000;
    for (split, counts) in splits {
        for (c, &n) in counts.iter().enumerate() {
            for i in 0..n {
                seed += 1;
                let p = root
                    .join(split)
                    .join(format!("class_{c}"))
                    .join(format!("img_{i:03}.jpg"));
                save_jpeg(&texture(seed, w, h), &p, 90);
                out.push(p);
            }
        }
    }
    out
}

struct Bits {
    out: Vec<u8>,
    acc: u32,
    n: u32,
}

impl Bits {
    fn put(&mut self, value: u32, len: u32) {
        for i in (0..len).rev() {
            self.acc = (self.acc << 1) | ((value >> i) & 1);
            self.n += 1;
            if self.n == 8 {
                let b = self.acc as u8;
                self.out.push(b);
                if b == 0xFF {
                    self.out.push(0);
                }
                self.acc = 0;
                self.n = 0;
            }
        }
    }

    fn finish(mut self) -> Vec<u8> {
        while self.n != 0 {
            self.put(1, 1);
        }
        self.out
    }
}

/// A flat 32×32 baseline CMYK JPEG (4 components, Adobe APP14 transform 0), written by hand
/// because no pure-Rust encoder writes CMYK. Component values are `(c, m, y, k)` as stored.
pub fn cmyk_jpeg(values: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0xFF, 0xD8];
    // APP14 Adobe, transform 0 (CMYK).
    f.extend_from_slice(&[0xFF, 0xEE, 0x00, 0x0E]);
    f.extend_from_slice(b"Adobe");
    f.extend_from_slice(&[0x00, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00]);
    // DQT: all ones.
    f.extend_from_slice(&[0xFF, 0xDB, 0x00, 0x43, 0x00]);
    f.extend_from_slice(&[1u8; 64]);
    // SOF0 32x32, 4 components, 1x1 sampling.
    f.extend_from_slice(&[0xFF, 0xC0, 0x00, 20, 8, 0, 32, 0, 32, 4]);
    for id in 1..=4u8 {
        f.extend_from_slice(&[id, 0x11, 0]);
    }
    // DHT DC0: two 2-bit codes: '00' -> category 0, '01' -> category 10.
    f.extend_from_slice(&[
        0xFF, 0xC4, 0x00, 0x15, 0x00, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10,
    ]);
    // DHT AC0: '00' -> EOB, '01' -> 0x01 (unused).
    f.extend_from_slice(&[
        0xFF, 0xC4, 0x00, 0x15, 0x10, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x01,
    ]);
    // SOS.
    f.extend_from_slice(&[0xFF, 0xDA, 0x00, 14, 4]);
    for id in 1..=4u8 {
        f.extend_from_slice(&[id, 0x00]);
    }
    f.extend_from_slice(&[0, 63, 0]);
    let mut bits = Bits {
        out: Vec::new(),
        acc: 0,
        n: 0,
    };
    for mcu in 0..16 {
        for &v in &values {
            if mcu == 0 {
                // DC = 8 * (v - 128); must be category 10 (512..=1023 in magnitude) or 0.
                let dc = 8 * (v as i32 - 128);
                if dc == 0 {
                    bits.put(0b00, 2);
                } else {
                    assert!(
                        (512..1024).contains(&dc.abs()),
                        "pick values with |v-128| >= 64"
                    );
                    bits.put(0b01, 2);
                    let extra = if dc > 0 { dc } else { dc + 1023 };
                    bits.put(extra as u32, 10);
                }
            } else {
                bits.put(0b00, 2); // DC diff 0
            }
            bits.put(0b00, 2); // EOB
        }
    }
    f.extend(bits.finish());
    f.extend_from_slice(&[0xFF, 0xD9]);
    f
}
