//! Shared helpers: small synthetic image folders.
#![allow(dead_code)]

use std::path::Path;

use image::{Rgb, RgbImage};

/// `root/train/<class>/*.png` (and `root/val/…`): class `c` is a square of colour `c` at a
/// random place on noise, so the task is learnable but not trivial.
pub fn colour_folder(
    root: &Path,
    classes: usize,
    train_per_class: usize,
    val_per_class: usize,
    side: u32,
) {
    let palette = [
        [220u8, 40, 40],
        [40, 200, 40],
        [40, 60, 220],
        [220, 200, 40],
        [200, 40, 200],
    ];
    let mut state = 12345u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as u32
    };
    for (split, n) in [("train", train_per_class), ("val", val_per_class)] {
        for c in 0..classes {
            let dir = root.join(split).join(format!("class_{c}"));
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..n {
                let mut img = RgbImage::from_fn(side, side, |_, _| {
                    let v = (next() % 96) as u8;
                    Rgb([v, v, v])
                });
                let s = side / 2;
                let (x0, y0) = (next() % (side - s), next() % (side - s));
                for y in y0..y0 + s {
                    for x in x0..x0 + s {
                        img.put_pixel(x, y, Rgb(palette[c % palette.len()]));
                    }
                }
                img.save(dir.join(format!("{i:03}.png"))).unwrap();
            }
        }
    }
}
