//! Edge cases and typed errors: shapes, class ranges, NaN, configuration, serde.

mod common;

use burn::tensor::{Int, Tensor, TensorData};
use common::{Rng, build, tensor2, value, value_and_grad};
use kiln_losses::{
    BootstrapMode, ClassWeights, Loss, LossConfig, LossError, LossKind, Reduction, Targets,
    check_logits_finite, check_targets, effective_number_weights, inverse_frequency_weights,
    loss_value,
};

const COUNTS: [usize; 3] = [30, 9, 1];

fn hard_tensor(values: &[i64]) -> Targets {
    Targets::Hard(Tensor::<1, Int>::from_data(
        TensorData::new(values.to_vec(), [values.len()]),
        &common::plain(),
    ))
}

#[test]
fn shape_errors_are_typed() {
    let device = common::plain();
    let loss = build(&LossConfig::cross_entropy(), &COUNTS);
    let logits = tensor2(&[0.0; 8], 2, 4, &device);
    let t = Targets::from_indices(&[0, 1], 3, &device).unwrap();
    assert_eq!(
        loss.forward(logits, &t).unwrap_err(),
        LossError::LogitsShape {
            num_classes: 3,
            shape: vec![2, 4]
        }
    );
    let logits = tensor2(&[0.0; 9], 3, 3, &device);
    assert!(matches!(
        loss.forward(logits.clone(), &t),
        Err(LossError::TargetsShape { .. })
    ));
    let soft = Targets::from_probabilities(&[0.5, 0.5], 2, &device).unwrap();
    assert!(matches!(
        loss.forward(logits, &soft),
        Err(LossError::TargetsShape { .. })
    ));
    let empty = tensor2(&[], 0, 3, &device);
    let none = Targets::from_indices(&[], 3, &device).unwrap();
    assert_eq!(
        loss.forward(empty, &none).unwrap_err(),
        LossError::EmptyBatch
    );
}

#[test]
fn out_of_range_targets_are_typed_errors() {
    let device = common::plain();
    assert_eq!(
        Targets::from_indices(&[0, 2, 3], 3, &device).unwrap_err(),
        LossError::TargetOutOfRange {
            row: 2,
            target: 3,
            num_classes: 3
        }
    );
    // A tensor built elsewhere is checked on request.
    let loss = build(&LossConfig::focal(2.0), &COUNTS);
    let logits = tensor2(&[0.0; 9], 3, 3, &device);
    for (bad, row) in [(vec![0, 7, 1], 1), (vec![0, 1, -1], 2)] {
        let t = hard_tensor(&bad);
        assert_eq!(
            loss.forward_checked(logits.clone(), &t).unwrap_err(),
            LossError::TargetOutOfRange {
                row,
                target: bad[row],
                num_classes: 3
            }
        );
        assert!(check_targets(&t, 3).is_err());
    }
    assert!(check_targets(&hard_tensor(&[0, 1, 2]), 3).is_ok());
}

#[test]
fn nan_and_inf_logits_are_typed_errors() {
    let device = common::plain();
    let loss = build(&LossConfig::cross_entropy(), &COUNTS);
    let t = Targets::from_indices(&[0, 1], 3, &device).unwrap();
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let logits = tensor2(&[0.1, bad, 0.3, 0.0, 1.0, 2.0], 2, 3, &device);
        assert_eq!(
            check_logits_finite(&logits),
            Err(LossError::NonFinite("logits"))
        );
        assert_eq!(
            loss.forward_checked(logits.clone(), &t).unwrap_err(),
            LossError::NonFinite("logits")
        );
        // Unchecked forward: the reduced loss is caught when it is read.
        let out = loss.forward(logits, &t).unwrap();
        assert_eq!(loss_value(&out), Err(LossError::NonFinite("loss")));
    }
    let ok = tensor2(&[0.1, 0.2, 0.3, 0.0, 1.0, 2.0], 2, 3, &device);
    assert!(check_logits_finite(&ok).is_ok());
    let v = loss_value(&loss.forward_checked(ok, &t).unwrap()).unwrap();
    assert!(v.is_finite() && v > 0.0);
}

#[test]
fn invalid_soft_targets_are_typed_errors() {
    let device = common::plain();
    for bad in [
        vec![0.5, 0.6, 0.0],
        vec![1.2, -0.2, 0.0],
        vec![f32::NAN, 0.5, 0.5],
        vec![0.5, 0.5],
    ] {
        assert!(
            matches!(
                Targets::from_probabilities(&bad, 3, &device),
                Err(LossError::InvalidSoftTargets(_))
            ),
            "{bad:?}"
        );
    }
    let bad = Targets::Soft(tensor2(&[0.9, 0.9, 0.0], 1, 3, &device));
    assert!(matches!(
        check_targets(&bad, 3),
        Err(LossError::InvalidSoftTargets(_))
    ));
    let a = Targets::from_indices(&[0, 1], 3, &device).unwrap();
    let b = Targets::from_indices(&[2], 3, &device).unwrap();
    assert!(matches!(
        a.mix(&b, 0.5, 3, &device),
        Err(LossError::TargetsShape { .. })
    ));
    assert!(matches!(
        a.mix(&a, 1.5, 3, &device),
        Err(LossError::InvalidConfig(_))
    ));
}

#[test]
fn invalid_configurations_are_typed_errors() {
    let bad = [
        LossConfig::cross_entropy().label_smoothing(1.0),
        LossConfig::cross_entropy().label_smoothing(-0.1),
        LossConfig::focal(-1.0),
        LossConfig::focal(f32::NAN),
        LossConfig::logit_adjusted(f32::INFINITY),
        LossConfig::ldam(-0.5, 1.0),
        LossConfig::ldam(0.5, 0.0),
        LossConfig::bootstrapped(1.5, BootstrapMode::Soft),
        LossConfig::generalized_cross_entropy(0.0),
        LossConfig::generalized_cross_entropy(1.5),
        LossConfig::symmetric_cross_entropy(-1.0, 1.0),
        LossConfig::cross_entropy().class_weights(ClassWeights::EffectiveNumber { beta: 1.0 }),
        LossConfig::cross_entropy().class_weights(ClassWeights::Explicit(vec![1.0, 2.0])),
        LossConfig::cross_entropy().class_weights(ClassWeights::Explicit(vec![1.0, -2.0, 1.0])),
        LossConfig::cross_entropy().class_weights(ClassWeights::Explicit(vec![0.0; 3])),
    ];
    for config in bad {
        assert!(
            matches!(
                Loss::new(&config, &COUNTS),
                Err(LossError::InvalidConfig(_))
            ),
            "{config:?}"
        );
    }
    assert!(matches!(
        Loss::new(&LossConfig::cross_entropy(), &[]),
        Err(LossError::ClassCounts(_))
    ));
    assert!(matches!(
        Loss::new(
            &LossConfig::cross_entropy().class_weights(ClassWeights::Inverse),
            &[0, 0]
        ),
        Err(LossError::ClassCounts(_))
    ));
    assert!(inverse_frequency_weights(&[]).is_err());
    assert!(effective_number_weights(&[1, 2], -0.1).is_err());
}

#[test]
fn losses_needing_counts_refuse_to_build_without_them() {
    for config in [
        LossConfig::cross_entropy().class_weights(ClassWeights::Inverse),
        LossConfig::focal(2.0).class_weights(ClassWeights::EffectiveNumber { beta: 0.99 }),
        LossConfig::balanced_softmax(),
        LossConfig::logit_adjusted(1.0),
        LossConfig::ldam(0.5, 1.0),
    ] {
        assert!(config.needs_class_counts());
        assert!(matches!(
            Loss::with_num_classes(&config, 3),
            Err(LossError::ClassCounts(_))
        ));
    }
    let ok = Loss::with_num_classes(
        &LossConfig::focal(2.0).class_weights(ClassWeights::Explicit(vec![1.0, 2.0, 3.0])),
        3,
    )
    .unwrap();
    assert_eq!(ok.num_classes(), 3);
}

#[test]
fn zero_count_classes_get_finite_weights_priors_and_margins() {
    let counts = [10, 0, 5];
    assert!(
        inverse_frequency_weights(&counts)
            .unwrap()
            .iter()
            .all(|w| w.is_finite())
    );
    assert!(
        effective_number_weights(&counts, 0.999)
            .unwrap()
            .iter()
            .all(|w| w.is_finite())
    );
    let mut rng = Rng::new(1);
    let logits = rng.logits(4, 3, 1.0);
    for config in [
        LossConfig::balanced_softmax(),
        LossConfig::ldam(0.5, 1.0).class_weights(ClassWeights::Inverse),
    ] {
        let loss = build(&config, &counts);
        let v = value(
            &loss,
            &logits,
            4,
            3,
            &Targets::from_indices(&[0, 1, 2, 0], 3, &common::plain()).unwrap(),
        );
        assert!(v[0].is_finite() && v[0] > 0.0);
    }
}

#[test]
fn two_classes_and_a_single_class_present() {
    let mut rng = Rng::new(2);
    // K = 2.
    let logits = rng.logits(6, 2, 2.0);
    for kind in [
        LossKind::CrossEntropy {},
        LossKind::Focal { gamma: 2.0 },
        LossKind::BalancedSoftmax {},
        LossKind::GeneralizedCrossEntropy { q: 0.7 },
    ] {
        let loss = build(
            &LossConfig::new(kind).class_weights(ClassWeights::Inverse),
            &[90, 10],
        );
        let (v, g) = value_and_grad(&loss, &logits, 6, 2, |d| {
            Targets::from_indices(&[0, 1, 0, 0, 1, 0], 2, d).unwrap()
        });
        assert!(v[0].is_finite() && v[0] >= 0.0);
        // Softmax gradients of each row sum to zero (a constant shift changes nothing).
        for row in g.chunks(2) {
            assert!((row[0] + row[1]).abs() < 1e-6);
        }
    }
    // Every sample of the batch is class 0: the weighted mean still normalises correctly.
    let logits = rng.logits(5, 3, 1.0);
    let weighted = build(
        &LossConfig::cross_entropy().class_weights(ClassWeights::Inverse),
        &COUNTS,
    );
    let plain = build(&LossConfig::cross_entropy(), &COUNTS);
    let t = Targets::from_indices(&[0; 5], 3, &common::plain()).unwrap();
    // One class present: Σ w_y ℓ / Σ w_y = mean ℓ.
    let a = value(&weighted, &logits, 5, 3, &t)[0];
    let b = value(&plain, &logits, 5, 3, &t)[0];
    assert!((a - b).abs() < 1e-6, "{a} vs {b}");
}

#[test]
fn reductions_have_the_documented_shapes() {
    let mut rng = Rng::new(3);
    let logits = rng.logits(7, 3, 1.0);
    let labels = rng.labels(7, 3);
    let t = Targets::from_indices(&labels, 3, &common::plain()).unwrap();
    for (reduction, len) in [
        (Reduction::None, 7),
        (Reduction::Mean, 1),
        (Reduction::Sum, 1),
    ] {
        let loss = build(&LossConfig::cross_entropy().reduction(reduction), &COUNTS);
        assert_eq!(value(&loss, &logits, 7, 3, &t).len(), len);
    }
    let none = build(
        &LossConfig::cross_entropy().reduction(Reduction::None),
        &COUNTS,
    );
    let out = none
        .forward(tensor2(&logits, 7, 3, &common::plain()), &t)
        .unwrap();
    assert!(loss_value(&out).is_err(), "loss_value needs a reduced loss");
}

#[test]
fn config_serde_is_tagged_by_name_with_defaults() {
    let focal: LossConfig = serde_json::from_str(r#"{"name":"focal","gamma":2.0}"#).unwrap();
    assert_eq!(focal, LossConfig::focal(2.0));
    let focal_default: LossConfig = serde_json::from_str(r#"{"name":"focal"}"#).unwrap();
    assert_eq!(focal_default, LossConfig::focal(2.0));
    let full = LossConfig::cross_entropy()
        .label_smoothing(0.05)
        .class_weights(ClassWeights::Inverse)
        .reduction(Reduction::Sum);
    let json = serde_json::to_string(&full).unwrap();
    assert!(json.contains(r#""name":"cross_entropy""#), "{json}");
    assert_eq!(serde_json::from_str::<LossConfig>(&json).unwrap(), full);
    let drw: LossConfig = serde_json::from_str(
        r#"{"name":"ldam","max_margin":0.5,"scale":30.0,
            "class_weights":{"effective_number":{"beta":0.9999}},"drw_start_epoch":160}"#,
    )
    .unwrap();
    assert_eq!(
        drw,
        LossConfig::ldam(0.5, 30.0)
            .class_weights(ClassWeights::EffectiveNumber { beta: 0.9999 })
            .deferred_reweighting(160)
    );
    let gce: LossConfig = serde_json::from_str(r#"{"name":"gce","q":0.5}"#).unwrap();
    assert_eq!(gce, LossConfig::generalized_cross_entropy(0.5));
    let sce: LossConfig = serde_json::from_str(r#"{"name":"sce"}"#).unwrap();
    assert_eq!(sce, LossConfig::symmetric_cross_entropy(0.1, 1.0));
    let boot: LossConfig =
        serde_json::from_str(r#"{"name":"bootstrapped","lambda":0.2,"mode":"hard"}"#).unwrap();
    assert_eq!(boot, LossConfig::bootstrapped(0.2, BootstrapMode::Hard));
    let explicit: LossConfig =
        serde_json::from_str(r#"{"name":"cross_entropy","class_weights":{"explicit":[1.0,2.0]}}"#)
            .unwrap();
    assert_eq!(
        explicit.class_weights,
        ClassWeights::Explicit(vec![1.0, 2.0])
    );
    // Typos and unknown losses are rejected rather than silently ignored.
    assert!(serde_json::from_str::<LossConfig>(r#"{"name":"focal","gama":2.0}"#).is_err());
    assert!(serde_json::from_str::<LossConfig>(r#"{"name":"hinge"}"#).is_err());
    assert!(
        serde_json::from_str::<LossConfig>(r#"{"name":"cross_entropy","label_smothing":0.1}"#)
            .is_err()
    );
    assert!(serde_json::from_str::<LossConfig>(r#"{"name":"balanced_softmax","tau":2}"#).is_err());
    let bs: LossConfig = serde_json::from_str(r#"{"name":"balanced_softmax"}"#).unwrap();
    assert_eq!(bs, LossConfig::balanced_softmax());
}
