//! AdaBN moves BatchNorm statistics to the target domain and nothing else; TTA is a proper
//! probability average.

mod common;

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use kiln_data::{ImageFolder, Preprocess};
use kiln_models::create;
use kiln_train::{adapt_batchnorm, predict_tta};

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
