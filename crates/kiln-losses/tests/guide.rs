//! The snippets of docs/metrics-and-losses.md, with a linear stand-in for the model.

mod common;

use burn::tensor::{Tensor, TensorData};
use common::Rng;
use kiln_losses::{ClassWeights, LossConfig, LossError, Reduction, Targets, loss_value};

#[test]
fn building_and_using_a_loss() -> Result<(), LossError> {
    let (num_classes, features, epochs) = (3, 5, 3);
    let device = common::autodiff();
    let mut rng = Rng::new(1);
    let train_class_counts = [40, 15, 5];
    // The "model": one weight matrix, trained by plain gradient descent.
    let mut weight = Tensor::<2>::from_data(
        TensorData::new(
            rng.logits(features, num_classes, 0.1),
            [features, num_classes],
        ),
        &device,
    )
    .require_grad();
    let images = rng.logits(8, features, 1.0);
    let labels = vec![0, 0, 1, 0, 2, 1, 0, 0];

    let config = LossConfig::cross_entropy()
        .label_smoothing(0.05)
        .class_weights(ClassWeights::Inverse);
    let from_json: LossConfig = serde_json::from_str(r#"{"name":"focal","gamma":2.0}"#)
        .map_err(|e| LossError::InvalidConfig(e.to_string()))?;
    assert_eq!(from_json, LossConfig::focal(2.0));
    let mut loss = config.build(&train_class_counts)?;

    let mut history = Vec::new();
    for epoch in 0..epochs {
        loss.set_epoch(epoch);
        let x = Tensor::<2>::from_data(TensorData::new(images.clone(), [8, features]), &device);
        let targets = Targets::from_indices(&labels, num_classes, &device)?;
        let value = loss.forward(x.matmul(weight.clone()), &targets)?;
        history.push(loss_value(&value)?);
        let grads = value.backward();
        let g = weight.grad(&grads).expect("weight gradient");
        weight = (weight.inner() - g.mul_scalar(0.5))
            .autodiff()
            .require_grad();
    }
    assert!(
        history[2] < history[0],
        "gradient descent lowers the loss: {history:?}"
    );

    // Soft targets: MixUp of two hard batches, and per-sample losses.
    let plain = common::plain();
    let a = Targets::from_indices(&labels, num_classes, &plain)?;
    let b = Targets::from_indices(&[1, 2, 0, 0, 0, 0, 1, 2], num_classes, &plain)?;
    let mixed = a.mix(&b, 0.7, num_classes, &plain)?;
    let per_sample = LossConfig::cross_entropy()
        .reduction(Reduction::None)
        .build(&train_class_counts)?;
    let logits = Tensor::<2>::from_data(TensorData::new(rng.logits(8, 3, 1.0), [8, 3]), &plain);
    assert_eq!(per_sample.forward(logits, &mixed)?.dims(), [8]);
    Ok(())
}
