//! Transform geometry and determinism.
mod common;

use image::{Rgb, RgbImage};
use kiln_data::transform::{
    AutoAugment, ColorJitter, Geometry, Normalize, RandomErasing, RandomResizedCrop, Resize,
};
use kiln_data::{
    Interpolation, PerClassTransform, Preprocess, Rng, SampleTransform, Transform, eval_transform,
    train_transform,
};

#[test]
fn random_resized_crop_boxes_respect_scale_and_ratio() {
    let rrc = RandomResizedCrop {
        size: [224, 224],
        scale: [0.6, 1.0],
        ratio: [3.0 / 4.0, 4.0 / 3.0],
        interpolation: Interpolation::Bilinear,
    };
    let mut rng = Rng::new(1);
    let mut areas = Vec::new();
    for (w, h) in [
        (500u32, 375u32),
        (375, 500),
        (640, 480),
        (300, 300),
        (1000, 200),
    ] {
        for _ in 0..2000 {
            let b = rrc.sample_box(w, h, &mut rng);
            assert!(b.x >= 0.0 && b.y >= 0.0 && b.x + b.w <= w as f64 && b.y + b.h <= h as f64);
            assert_eq!(b.x.fract(), 0.0);
            let area = b.w * b.h / (w as f64 * h as f64);
            let ratio = b.w / b.h;
            // rounding the sides to whole pixels moves area/ratio by < 1% at these sizes
            assert!(
                (0.75 * 0.99..=4.0 / 3.0 * 1.01).contains(&ratio),
                "{w}x{h}: ratio {ratio}"
            );
            if (w, h) != (1000, 200) {
                assert!((0.6 * 0.99..=1.0).contains(&area), "{w}x{h}: area {area}");
            }
            areas.push(area);
        }
    }
    // the draw actually spans the range
    let lo = areas.iter().cloned().fold(f64::MAX, f64::min);
    assert!(lo < 0.62, "min area {lo}");
    // 1000x200 cannot fit ratio <= 4/3 at area >= 0.6: fallback is a centred max-ratio crop
    let b = rrc.sample_box(1000, 200, &mut Rng::new(3));
    assert!((b.w / b.h - 4.0 / 3.0).abs() < 0.01);
}

#[test]
fn flip_is_an_exact_mirror() {
    let img = common::texture(9, 37, 23);
    let mut t = Transform::new(
        Geometry::Resize(Resize {
            size: [23, 37],
            interpolation: Interpolation::Nearest,
        }),
        Normalize::unit(),
    );
    let plain = t.apply(&img, &mut Rng::new(0)).unwrap();
    // identity geometry really is the identity
    assert!((plain[0] - img.get_pixel(0, 0)[0] as f32 / 255.0).abs() < 1e-6);
    t.hflip_prob = 1.0;
    let flipped = t.apply(&img, &mut Rng::new(0)).unwrap();
    let (h, w) = (23, 37);
    for c in 0..3 {
        for y in 0..h {
            for x in 0..w {
                assert_eq!(
                    flipped[c * h * w + y * w + x],
                    plain[c * h * w + y * w + (w - 1 - x)]
                );
            }
        }
    }
    assert_ne!(flipped, plain);
}

#[test]
fn eval_transform_is_deterministic_and_centred() {
    // left half blue, right half green, 20px red frame that the crop must cut away
    let img = RgbImage::from_fn(400, 300, |x, y| {
        if x < 20 || y < 20 || x >= 380 || y >= 280 {
            Rgb([255, 0, 0])
        } else if x < 200 {
            Rgb([0, 0, 255])
        } else {
            Rgb([0, 255, 0])
        }
    });
    let cfg = Preprocess::imagenet(64).with_crop_fraction(0.8);
    let t = eval_transform(&cfg);
    let a = t.apply(&img, &mut Rng::new(1)).unwrap();
    let b = t.apply(&img, &mut Rng::new(999)).unwrap();
    assert_eq!(a, b, "eval transform must not depend on the rng");
    let prev = t.preview(&img, &mut Rng::new(0)).unwrap();
    assert_eq!(prev.dimensions(), (64, 64));
    let mut blue = 0i32;
    let mut green = 0i32;
    for (x, _, p) in prev.enumerate_pixels() {
        assert!(
            p[0] < 40,
            "red frame leaked into the centre crop at x={x}: {p:?}"
        );
        if p[2] > 200 {
            blue += 1;
            assert!(x < 33);
        }
        if p[1] > 200 {
            green += 1;
            assert!(x >= 31);
        }
    }
    assert!((blue - green).abs() <= 64, "centred: {blue} vs {green}");
    assert_eq!(a.len(), 3 * 64 * 64);
}

#[test]
fn train_transform_is_reproducible_and_varies_with_the_stream() {
    let img = common::texture(4, 120, 90);
    let t = train_transform(&Preprocess::imagenet(48));
    let a = t.apply(&img, &mut Rng::for_sample(1, 0, 5)).unwrap();
    let b = t.apply(&img, &mut Rng::for_sample(1, 0, 5)).unwrap();
    let c = t.apply(&img, &mut Rng::for_sample(1, 1, 5)).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(a.iter().all(|v| v.is_finite()));
    // normalised ImageNet range
    let (lo, hi) = a
        .iter()
        .fold((f32::MAX, f32::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
    assert!(lo >= -2.2 && hi <= 2.7, "{lo} {hi}");
}

#[test]
fn strong_pipeline_and_serde_round_trip() {
    let img = common::texture(8, 64, 64);
    let mut t = train_transform(&Preprocess::raw_127_128(32));
    t.auto_augment = Some(AutoAugment::trivial_augment_wide());
    t.erasing = Some(RandomErasing::new(1.0));
    t.color_jitter = Some(ColorJitter::new(0.4, 0.4, 0.4, 0.1));
    t.validate().unwrap();
    for s in 0..20 {
        let out = t.apply(&img, &mut Rng::new(s)).unwrap();
        assert!(out.iter().all(|v| v.is_finite()));
    }
    let json = serde_json::to_string(&t).unwrap();
    let back: Transform = serde_json::from_str(&json).unwrap();
    assert_eq!(back, t);
    let mut bad = t.clone();
    bad.hflip_prob = 2.0;
    assert!(bad.validate().is_err());
}

#[test]
fn per_class_transform_uses_the_label() {
    let img = common::texture(2, 50, 50);
    let cfg = Preprocess::imagenet(16);
    let p = PerClassTransform::new(vec![eval_transform(&cfg), train_transform(&cfg)]).unwrap();
    let mut o0 = vec![0.0; 3 * 16 * 16];
    let mut o0b = o0.clone();
    p.apply(&img, 0, &mut Rng::new(1), &mut o0).unwrap();
    p.apply(&img, 0, &mut Rng::new(2), &mut o0b).unwrap();
    assert_eq!(o0, o0b, "class 0 uses the deterministic eval pipeline");
    let mut o1 = o0.clone();
    p.apply(&img, 1, &mut Rng::new(1), &mut o1).unwrap();
    assert_ne!(o0, o1);
    assert!(p.apply(&img, 5, &mut Rng::new(1), &mut o1).is_err());
    let other = eval_transform(&cfg.clone().with_input_size(20));
    assert!(PerClassTransform::new(vec![eval_transform(&cfg), other]).is_err());
}

#[test]
fn tiny_and_extreme_images_transform_without_panicking() {
    let t = train_transform(&Preprocess::imagenet(32));
    let e = eval_transform(&Preprocess::imagenet(32));
    for (w, h) in [(1, 1), (1, 2000), (2000, 1), (3, 5)] {
        let img = RgbImage::from_pixel(w, h, Rgb([10, 200, 30]));
        for s in 0..5 {
            t.apply(&img, &mut Rng::new(s)).unwrap();
            e.apply(&img, &mut Rng::new(s)).unwrap();
        }
    }
}

/// torchvision's eval transform of real photos, sampled (tests/fixtures/torchvision_eval.json,
/// made by tests/fixtures/make_torchvision_eval.py with PyTorch 1.13 / torchvision 0.14).
#[test]
fn eval_transform_matches_torchvision() {
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/torchvision_eval.json")).unwrap();
    let photos =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/photos");
    assert!(photos.is_dir(), "missing {}", photos.display());
    let t = eval_transform(&Preprocess::imagenet(224));
    for name in ["chelsea.png", "coffee.png"] {
        let img = kiln_data::decode_rgb8(&photos.join(name)).unwrap();
        let ours = t.apply(&img, &mut Rng::new(0)).unwrap();
        let f = &fixture[name];
        let grid: Vec<usize> = f["grid"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let mut worst = 0f32;
        for c in 0..3 {
            for (gy, &y) in grid.iter().enumerate() {
                for (gx, &x) in grid.iter().enumerate() {
                    let want = f["values"][c][gy][gx].as_f64().unwrap() as f32;
                    worst = worst.max((ours[c * 224 * 224 + y * 224 + x] - want).abs());
                }
            }
            let mean: f32 =
                ours[c * 224 * 224..(c + 1) * 224 * 224].iter().sum::<f32>() / (224.0 * 224.0);
            let want = f["channel_means"][c].as_f64().unwrap() as f32;
            assert!(
                (mean - want).abs() < 0.003,
                "{name} channel {c} mean {mean} vs {want}"
            );
        }
        // within 1.5 grey levels (in normalised units) everywhere on the grid
        assert!(
            worst < 1.5 / 255.0 / 0.224,
            "{name}: worst difference {worst}"
        );
    }
}
