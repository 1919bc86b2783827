//! AdaBN moves BatchNorm statistics to the target domain and nothing else; TTA is a proper
//! probability average.

mod common;

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use kiln_data::{ImageFolder, Preprocess};
use kiln_models::create;
use kiln_train::{Tta, adapt_batchnorm, predict_tta, predict_tta_with, tta_views};

#[test]
fn adabn_moves_the_first_batchnorm_to_target_statistics() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    // Every target image identical: the batch mean is the same every batch, so the running
    // mean converges geometrically to it.
    let root = dir.path();
    let class = root.join("train/a");
    std::fs::create_dir_all(&class).unwrap();
    let img = image::RgbImage::from_fn(32, 32, |x, y| {
        image::Rgb([(x * 7) as u8, (y * 5) as u8, 200])
    });
    for i in 0..8 {
        img.save(class.join(format!("{i}.png"))).unwrap();
    }
    let target = ImageFolder::open(root).unwrap();
    let pp = Preprocess::imagenet(32).with_crop_fraction(1.0);
    let model = create("resnet18", 2, &device).unwrap();
    let kiln_models::Backbone::ResNet(before) = &model else {
        unreachable!()
    };
    let fc_before = before.fc.weight.val().into_data();
    let conv_before = before.conv1.weight.val().into_data();

    let adapted = adapt_batchnorm(model.clone(), target.train(), &pp, 4, 60, &device).unwrap();
    let kiln_models::Backbone::ResNet(after) = &adapted else {
        unreachable!()
    };
    // Weights untouched.
    assert_eq!(after.fc.weight.val().into_data(), fc_before);
    assert_eq!(after.conv1.weight.val().into_data(), conv_before);
    // bn1's running mean equals the per-channel mean of conv1's output on the target image.
    let x = kiln_train::load_batch(
        &[target.train().samples()[0].path.clone()],
        &kiln_data::transform::eval_transform(&pp),
        &device,
    )
    .unwrap();
    let expected = after.conv1.forward(x).mean_dim(3).mean_dim(2).reshape([64]);
    let got = after.bn1.running_mean.value();
    let diff = (expected.clone() - got).abs().max().into_scalar::<f32>();
    let scale = expected.abs().max().into_scalar::<f32>();
    assert!(
        diff < 0.01 * scale.max(1e-3),
        "running mean off by {diff} (scale {scale})"
    );
    // …and it moved: the fresh model's running mean was zero.
    assert!(scale > 1e-3);
}

#[test]
fn tta_averages_probabilities_of_image_and_mirror() {
    let device = Device::flex();
    let model = create("resnet18", 4, &device).unwrap().valid();
    let x = Tensor::<4>::from_data(
        TensorData::new(
            (0..2 * 3 * 16 * 16)
                .map(|i| (i % 13) as f32 / 13.0)
                .collect(),
            [2, 3, 16, 16],
        ),
        &device,
    );
    let p = predict_tta(&model, x.clone(), true);
    let sums = p
        .clone()
        .sum_dim(1)
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap();
    assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5));
    let plain = predict_tta(&model, x.clone(), false);
    let mirror = predict_tta(&model, x.flip([3]), false);
    let avg = (plain + mirror).div_scalar(2.0);
    let d = (avg - p).abs().max().into_scalar::<f32>();
    assert!(d < 1e-6, "{d}");
}

fn values(t: Tensor<4>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
}

#[test]
fn five_crops_come_from_the_corners_and_centre() {
    let device = Device::flex();
    // One 8×8 image: channel 0 holds the column index, channel 1 the row index.
    let x = Tensor::<4>::from_data(
        TensorData::new(
            (0..128)
                .map(|i| {
                    if i < 64 {
                        (i % 8) as f32
                    } else {
                        ((i - 64) / 8) as f32
                    }
                })
                .collect(),
            [1, 2, 8, 8],
        ),
        &device,
    );
    let tta = Tta {
        hflip: false,
        five_crop: Some(0.5),
    };
    let views = tta_views(x.clone(), &tta).unwrap();
    assert_eq!(views.len(), 6);
    assert_eq!(tta.num_views(), 6);
    assert_eq!(values(views[0].clone()), values(x));
    // (min column, max column, min row, max row) each 4×4 crop can hold, resized back to 8×8.
    let expect = [
        (0, 3, 0, 3),
        (4, 7, 0, 3),
        (0, 3, 4, 7),
        (4, 7, 4, 7),
        (2, 5, 2, 5),
    ];
    for (view, (c0, c1, r0, r1)) in views[1..].iter().zip(expect) {
        assert_eq!(view.dims(), [1, 2, 8, 8]);
        let v = values(view.clone());
        let (cols, rows) = v.split_at(64);
        let range = |xs: &[f32]| {
            xs.iter()
                .fold((f32::MAX, f32::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)))
        };
        let ((clo, chi), (rlo, rhi)) = (range(cols), range(rows));
        assert!(
            clo >= c0 as f32 - 1e-4 && chi <= c1 as f32 + 1e-4,
            "columns {clo}..{chi}"
        );
        assert!(
            rlo >= r0 as f32 - 1e-4 && rhi <= r1 as f32 + 1e-4,
            "rows {rlo}..{rhi}"
        );
        // The crop spans its window, not a point of it.
        assert!(chi - clo > 2.0 && rhi - rlo > 2.0);
    }
    let flipped = tta_views(views[0].clone(), &Tta::five_crop_flip(0.5)).unwrap();
    assert_eq!(flipped.len(), 12);
    assert_eq!(
        values(flipped[1].clone()),
        values(views[0].clone().flip([3]))
    );
    assert!(tta_views(views[0].clone(), &Tta::five_crop_flip(1.5)).is_err());
}

#[test]
fn tta_with_full_size_crops_equals_flip_tta() {
    let device = Device::flex();
    let model = create("resnet18", 4, &device).unwrap().valid();
    let x = Tensor::<4>::from_data(
        TensorData::new(
            (0..2 * 3 * 16 * 16)
                .map(|i| (i % 11) as f32 / 11.0)
                .collect(),
            [2, 3, 16, 16],
        ),
        &device,
    );
    // Crops of the whole image are the image: 12 views that average to the 2-view result.
    let crops = predict_tta_with(&model, x.clone(), &Tta::five_crop_flip(1.0)).unwrap();
    let flip = predict_tta(&model, x.clone(), true);
    let d = (crops - flip.clone()).abs().max().into_scalar::<f32>();
    assert!(d < 1e-5, "{d}");
    // Real crops change the answer.
    let real = predict_tta_with(&model, x, &Tta::five_crop_flip(0.75)).unwrap();
    let moved = (real - flip).abs().max().into_scalar::<f32>();
    assert!(moved > 1e-6, "{moved}");
}
