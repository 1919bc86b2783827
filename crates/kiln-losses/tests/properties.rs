//! Properties and reference checks of every loss: non-negativity, limits, equivalences,
//! values against independent f64 formulas and gradients against finite differences.

mod common;

use burn::tensor::Device;
use common::reference::{self, Setup, one_hot};
use common::{
    Rng, assert_all_close, assert_all_close_rel, build, finite_difference_grad, tensor2, to_vec,
    value, value_and_grad,
};
use kiln_losses::{
    BootstrapMode, ClassWeights, LossConfig, LossKind, Reduction, Targets,
    inverse_frequency_weights,
};

const COUNTS: [usize; 4] = [50, 20, 8, 2];

fn all_kinds() -> Vec<LossKind> {
    vec![
        LossKind::CrossEntropy {},
        LossKind::Focal { gamma: 2.0 },
        LossKind::Focal { gamma: 0.5 },
        LossKind::LogitAdjusted { tau: 1.5 },
        LossKind::BalancedSoftmax {},
        LossKind::Ldam {
            max_margin: 0.5,
            scale: 2.0,
        },
        LossKind::Bootstrapped {
            lambda: 0.2,
            mode: BootstrapMode::Soft,
        },
        LossKind::Bootstrapped {
            lambda: 0.2,
            mode: BootstrapMode::Hard,
        },
        LossKind::GeneralizedCrossEntropy { q: 0.7 },
        LossKind::SymmetricCrossEntropy {
            alpha: 0.1,
            beta: 1.0,
        },
    ]
}

/// The option combinations every loss is checked with.
fn variants() -> Vec<(ClassWeights, f32)> {
    vec![
        (ClassWeights::None, 0.0),
        (ClassWeights::Inverse, 0.0),
        (ClassWeights::EffectiveNumber { beta: 0.99 }, 0.1),
        (ClassWeights::Explicit(vec![1.0, 0.5, 2.0, 3.0]), 0.05),
    ]
}

fn weights_f64(w: &ClassWeights) -> Option<Vec<f64>> {
    w.resolve(&COUNTS)
        .unwrap()
        .map(|v| v.iter().map(|&x| f64::from(x)).collect())
}

#[test]
fn every_loss_matches_its_reference_formula_hard_and_soft() {
    let mut rng = Rng::new(1);
    let (n, k) = (12, 4);
    let logits = rng.logits(n, k, 2.0);
    let labels = rng.labels(n, k);
    let probs = rng.probabilities(n, k);
    let device = common::plain();
    for kind in all_kinds() {
        for (weights, eps) in variants() {
            for hard in [true, false] {
                let config = LossConfig {
                    kind: kind.clone(),
                    class_weights: weights.clone(),
                    label_smoothing: eps,
                    reduction: Reduction::None,
                    drw_start_epoch: None,
                };
                let setup = Setup {
                    logits: &logits,
                    n,
                    k,
                    targets: if hard {
                        one_hot(&labels, k)
                    } else {
                        probs.iter().map(|&p| f64::from(p)).collect()
                    },
                    hard: hard.then_some(labels.as_slice()),
                    weights: weights_f64(&weights),
                    smoothing: f64::from(eps),
                    counts: &COUNTS,
                };
                let targets = if hard {
                    Targets::from_indices(&labels, k, &device).unwrap()
                } else {
                    Targets::from_probabilities(&probs, k, &device).unwrap()
                };
                let what = format!("{kind:?} {weights:?} eps={eps} hard={hard}");
                let per = value(&build(&config, &COUNTS), &logits, n, k, &targets);
                let expected = reference::per_sample(&kind, &setup);
                assert_all_close_rel(&per, &expected, 2e-5, &format!("{what} per-sample"));
                let mean = value(
                    &build(&config.clone().reduction(Reduction::Mean), &COUNTS),
                    &logits,
                    n,
                    k,
                    &targets,
                );
                assert_all_close_rel(
                    &mean,
                    &[reference::mean(&kind, &setup)],
                    2e-5,
                    &format!("{what} mean"),
                );
                let sum = value(
                    &build(&config.clone().reduction(Reduction::Sum), &COUNTS),
                    &logits,
                    n,
                    k,
                    &targets,
                );
                assert_all_close_rel(&sum, &[expected.iter().sum()], 2e-5, &format!("{what} sum"));
            }
        }
    }
}

#[test]
fn every_loss_is_non_negative() {
    let mut rng = Rng::new(2);
    let device = common::plain();
    for scale in [0.1, 1.0, 10.0, 100.0] {
        let (n, k) = (32, 4);
        let logits = rng.logits(n, k, scale);
        let labels = rng.labels(n, k);
        let probs = rng.probabilities(n, k);
        for kind in all_kinds() {
            for (weights, eps) in variants() {
                let config = LossConfig::new(kind.clone())
                    .class_weights(weights)
                    .label_smoothing(eps)
                    .reduction(Reduction::None);
                let loss = build(&config, &COUNTS);
                for targets in [
                    Targets::from_indices(&labels, k, &device).unwrap(),
                    Targets::from_probabilities(&probs, k, &device).unwrap(),
                ] {
                    let per = value(&loss, &logits, n, k, &targets);
                    assert!(
                        per.iter().all(|&v| v >= 0.0 && v.is_finite()),
                        "{kind:?} scale {scale}: {per:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn autodiff_gradients_match_finite_differences() {
    let mut rng = Rng::new(3);
    let (n, k) = (5, 4);
    let logits = rng.logits(n, k, 1.0);
    let labels = rng.labels(n, k);
    let probs = rng.probabilities(n, k);
    // Soft bootstrapping is left out on purpose: its target contains the *detached* prediction,
    // so its gradient is not the derivative of its value (the fixture checks it against
    // PyTorch instead).
    let kinds = all_kinds().into_iter().filter(|k| {
        !matches!(
            k,
            LossKind::Bootstrapped {
                mode: BootstrapMode::Soft,
                ..
            }
        )
    });
    for kind in kinds {
        for (weights, eps) in variants() {
            for hard in [true, false] {
                let config = LossConfig::new(kind.clone())
                    .class_weights(weights.clone())
                    .label_smoothing(eps);
                let loss = build(&config, &COUNTS);
                let make = |d: &Device| {
                    if hard {
                        Targets::from_indices(&labels, k, d).unwrap()
                    } else {
                        Targets::from_probabilities(&probs, k, d).unwrap()
                    }
                };
                let (_, grad) = value_and_grad(&loss, &logits, n, k, make);
                let numeric =
                    finite_difference_grad(&loss, &logits, n, k, &make(&common::plain()), 1e-2);
                let numeric: Vec<f64> = numeric.iter().map(|&g| f64::from(g)).collect();
                assert_all_close(
                    &grad,
                    &numeric,
                    2e-3,
                    &format!("{kind:?} {weights:?} eps={eps} hard={hard} grad"),
                );
            }
        }
    }
}

#[test]
fn soft_cross_entropy_gradient_is_weighted_p_minus_t() {
    // d/dz of −Σ_c w_c t_c log p_c is (Σ_c w_c t_c)·p − w⊙t, divided by N for the mean.
    let mut rng = Rng::new(4);
    let (n, k) = (6, 4);
    let logits = rng.logits(n, k, 1.5);
    let probs = rng.probabilities(n, k);
    let w = [1.0f32, 0.5, 2.0, 3.0];
    let loss = build(
        &LossConfig::cross_entropy().class_weights(ClassWeights::Explicit(w.to_vec())),
        &COUNTS,
    );
    let (_, grad) = value_and_grad(&loss, &logits, n, k, |d| {
        Targets::from_probabilities(&probs, k, d).unwrap()
    });
    let mut expected = Vec::new();
    for i in 0..n {
        let z = &logits[i * k..(i + 1) * k];
        let m = z.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let s: f64 = z.iter().map(|&v| f64::from(v - m).exp()).sum();
        let t = &probs[i * k..(i + 1) * k];
        let wt: f64 = (0..k).map(|c| f64::from(w[c] * t[c])).sum();
        for c in 0..k {
            let p = f64::from(z[c] - m).exp() / s;
            expected.push((wt * p - f64::from(w[c] * t[c])) / n as f64);
        }
    }
    assert_all_close(&grad, &expected, 1e-6, "soft CE gradient");
}

#[test]
fn focal_with_gamma_zero_is_cross_entropy() {
    let mut rng = Rng::new(5);
    let (n, k) = (20, 4);
    let logits = rng.logits(n, k, 3.0);
    let labels = rng.labels(n, k);
    for (weights, eps) in variants() {
        for reduction in [Reduction::None, Reduction::Sum] {
            let ce = build(
                &LossConfig::cross_entropy()
                    .class_weights(weights.clone())
                    .label_smoothing(eps)
                    .reduction(reduction),
                &COUNTS,
            );
            let focal = build(
                &LossConfig::focal(0.0)
                    .class_weights(weights.clone())
                    .label_smoothing(eps)
                    .reduction(reduction),
                &COUNTS,
            );
            let targets = |d: &Device| Targets::from_indices(&labels, k, d).unwrap();
            let (vc, gc) = value_and_grad(&ce, &logits, n, k, targets);
            let (vf, gf) = value_and_grad(&focal, &logits, n, k, targets);
            let vc: Vec<f64> = vc.iter().map(|&v| f64::from(v)).collect();
            let gc: Vec<f64> = gc.iter().map(|&v| f64::from(v)).collect();
            assert_all_close(&vf, &vc, 1e-6, "focal(0) value");
            assert_all_close(&gf, &gc, 1e-6, "focal(0) grad");
        }
    }
    // Unweighted means agree too (with weights focal divides by N, CE by Σ w_y).
    let targets = Targets::from_indices(&labels, k, &common::plain()).unwrap();
    let ce = value(
        &build(&LossConfig::cross_entropy(), &COUNTS),
        &logits,
        n,
        k,
        &targets,
    );
    let focal = value(
        &build(&LossConfig::focal(0.0), &COUNTS),
        &logits,
        n,
        k,
        &targets,
    );
    assert_all_close(&focal, &[f64::from(ce[0])], 1e-6, "focal(0) mean");
}

#[test]
fn focal_down_weights_easy_samples() {
    // Larger gamma never increases any per-sample loss (the factor (1 − p)^γ ≤ 1 shrinks).
    let mut rng = Rng::new(6);
    let (n, k) = (30, 4);
    let logits = rng.logits(n, k, 2.0);
    let labels = rng.labels(n, k);
    let targets = Targets::from_indices(&labels, k, &common::plain()).unwrap();
    let mut previous: Option<Vec<f32>> = None;
    for gamma in [0.0, 0.5, 1.0, 2.0, 5.0] {
        let per = value(
            &build(
                &LossConfig::focal(gamma).reduction(Reduction::None),
                &COUNTS,
            ),
            &logits,
            n,
            k,
            &targets,
        );
        if let Some(prev) = &previous {
            assert!(per.iter().zip(prev).all(|(a, b)| a <= b), "gamma {gamma}");
        }
        previous = Some(per);
    }
}

#[test]
fn generalized_cross_entropy_tends_to_cross_entropy_as_q_goes_to_zero() {
    let mut rng = Rng::new(7);
    let (n, k) = (25, 4);
    let logits = rng.logits(n, k, 2.0);
    let labels = rng.labels(n, k);
    let targets = Targets::from_indices(&labels, k, &common::plain()).unwrap();
    let ce = value(
        &build(&LossConfig::cross_entropy(), &COUNTS),
        &logits,
        n,
        k,
        &targets,
    )[0];
    let gaps: Vec<f32> = [0.9, 0.5, 0.1, 0.01, 0.001]
        .iter()
        .map(|&q| {
            let gce = value(
                &build(&LossConfig::generalized_cross_entropy(q), &COUNTS),
                &logits,
                n,
                k,
                &targets,
            )[0];
            assert!(gce <= ce + 1e-4, "GCE is below CE (1 − e^(−qx) ≤ qx)");
            (ce - gce).abs()
        })
        .collect();
    assert!(gaps.windows(2).all(|w| w[1] < w[0]), "gaps {gaps:?}");
    assert!(gaps[4] < 1e-2 * ce, "q = 0.001: gap {} vs CE {ce}", gaps[4]);
}

#[test]
fn special_cases_reduce_to_cross_entropy() {
    let mut rng = Rng::new(8);
    let (n, k) = (16, 4);
    let logits = rng.logits(n, k, 2.0);
    let labels = rng.labels(n, k);
    let targets = Targets::from_indices(&labels, k, &common::plain()).unwrap();
    let ce = value(
        &build(&LossConfig::cross_entropy(), &COUNTS),
        &logits,
        n,
        k,
        &targets,
    );
    let ce = [f64::from(ce[0])];
    let same = [
        LossConfig::ldam(0.0, 1.0),
        LossConfig::bootstrapped(0.0, BootstrapMode::Soft),
        LossConfig::bootstrapped(0.0, BootstrapMode::Hard),
        LossConfig::logit_adjusted(0.0),
        LossConfig::symmetric_cross_entropy(1.0, 0.0),
    ];
    for config in same {
        let v = value(&build(&config, &COUNTS), &logits, n, k, &targets);
        assert_all_close(&v, &ce, 1e-6, &format!("{:?}", config.kind));
    }
    // Balanced softmax is logit adjustment with tau = 1.
    let bs = value(
        &build(&LossConfig::balanced_softmax(), &COUNTS),
        &logits,
        n,
        k,
        &targets,
    );
    let la = value(
        &build(&LossConfig::logit_adjusted(1.0), &COUNTS),
        &logits,
        n,
        k,
        &targets,
    );
    assert_eq!(bs, la);
}

#[test]
fn soft_one_hot_targets_equal_hard_targets() {
    let mut rng = Rng::new(9);
    let (n, k) = (10, 4);
    let logits = rng.logits(n, k, 2.0);
    let labels = rng.labels(n, k);
    let hot: Vec<f32> = one_hot(&labels, k).iter().map(|&v| v as f32).collect();
    let device = common::plain();
    let hard = Targets::from_indices(&labels, k, &device).unwrap();
    let soft = Targets::from_probabilities(&hot, k, &device).unwrap();
    for kind in all_kinds() {
        for (weights, eps) in variants() {
            let config = LossConfig::new(kind.clone())
                .class_weights(weights)
                .label_smoothing(eps)
                .reduction(Reduction::None);
            let loss = build(&config, &COUNTS);
            let a = value(&loss, &logits, n, k, &hard);
            let b: Vec<f64> = value(&loss, &logits, n, k, &soft)
                .iter()
                .map(|&v| f64::from(v))
                .collect();
            assert_all_close(&a, &b, 1e-6, &format!("{kind:?}"));
        }
    }
}

#[test]
fn mixup_targets_make_cross_entropy_linear_in_lambda() {
    let mut rng = Rng::new(10);
    let (n, k) = (8, 4);
    let logits = rng.logits(n, k, 2.0);
    let a = rng.labels(n, k);
    let b = rng.labels(n, k);
    let device = common::plain();
    let ta = Targets::from_indices(&a, k, &device).unwrap();
    let tb = Targets::from_indices(&b, k, &device).unwrap();
    let loss = build(&LossConfig::cross_entropy().label_smoothing(0.1), &COUNTS);
    let la = f64::from(value(&loss, &logits, n, k, &ta)[0]);
    let lb = f64::from(value(&loss, &logits, n, k, &tb)[0]);
    for lambda in [0.0f32, 0.3, 0.5, 1.0] {
        let mixed = ta.mix(&tb, lambda, k, &device).unwrap();
        let v = value(&loss, &logits, n, k, &mixed);
        let expected = f64::from(lambda) * la + (1.0 - f64::from(lambda)) * lb;
        assert_all_close(&v, &[expected], 1e-5, &format!("lambda {lambda}"));
    }
}

#[test]
fn deferred_reweighting_switches_weights_on_at_the_start_epoch() {
    let mut rng = Rng::new(11);
    let (n, k) = (16, 4);
    let logits = rng.logits(n, k, 2.0);
    let labels = rng.labels(n, k);
    let targets = Targets::from_indices(&labels, k, &common::plain()).unwrap();
    let cb = ClassWeights::EffectiveNumber { beta: 0.9999 };
    let mut drw = build(
        &LossConfig::ldam(0.5, 1.0)
            .class_weights(cb.clone())
            .deferred_reweighting(3),
        &COUNTS,
    );
    let plain = build(&LossConfig::ldam(0.5, 1.0), &COUNTS);
    let weighted = build(&LossConfig::ldam(0.5, 1.0).class_weights(cb), &COUNTS);
    let v = |l: &kiln_losses::Loss| value(l, &logits, n, k, &targets);
    for epoch in 0..3 {
        drw.set_epoch(epoch);
        assert_eq!(drw.active_class_weights(), None);
        assert_eq!(v(&drw), v(&plain), "epoch {epoch}: weights must be off");
    }
    for epoch in 3..6 {
        drw.set_epoch(epoch);
        assert!(drw.active_class_weights().is_some());
        assert_eq!(v(&drw), v(&weighted), "epoch {epoch}: weights must be on");
    }
    assert_ne!(v(&plain), v(&weighted));
}

#[test]
fn ldam_margins_are_larger_for_rarer_classes() {
    let loss = build(&LossConfig::ldam(0.5, 1.0), &COUNTS);
    let m = loss.margins().unwrap();
    assert!(m.windows(2).all(|w| w[0] < w[1]), "{m:?}");
    assert!((m[3] - 0.5).abs() < 1e-7);
    let ratio = (COUNTS[0] as f32 / COUNTS[3] as f32).powf(0.25);
    assert!((m[3] / m[0] - ratio).abs() < 1e-5);
}

#[test]
fn large_logits_stay_finite_with_finite_gradients() {
    let mut rng = Rng::new(12);
    let (n, k) = (6, 4);
    let logits = rng.logits(n, k, 1e4);
    let labels = rng.labels(n, k);
    for kind in all_kinds() {
        for (weights, eps) in variants() {
            let config = LossConfig::new(kind.clone())
                .class_weights(weights)
                .label_smoothing(eps);
            let (v, g) = value_and_grad(&build(&config, &COUNTS), &logits, n, k, |d| {
                Targets::from_indices(&labels, k, d).unwrap()
            });
            assert!(v[0].is_finite(), "{kind:?}: {v:?}");
            assert!(g.iter().all(|x| x.is_finite()), "{kind:?}: {g:?}");
        }
    }
}

#[test]
fn inverse_weights_balance_the_classes() {
    // With inverse-frequency weights every class carries the same total weight N.
    let w = inverse_frequency_weights(&COUNTS).unwrap();
    let n: usize = COUNTS.iter().sum();
    for (c, &count) in COUNTS.iter().enumerate() {
        assert!((w[c] * count as f32 - n as f32).abs() < 1e-3);
    }
    // Effective number interpolates: beta = 0 is uniform, beta -> 1 approaches inverse.
    let uniform = kiln_losses::effective_number_weights(&COUNTS, 0.0).unwrap();
    assert!(uniform.windows(2).all(|p| p[0] == p[1]));
    let near = kiln_losses::effective_number_weights(&COUNTS, 0.999_999).unwrap();
    let k = COUNTS.len() as f32;
    for c in 0..COUNTS.len() {
        assert!((near[c] * k - w[c]).abs() / w[c] < 1e-3);
    }
}

#[test]
fn targets_on_the_plain_device_work_with_autodiff_logits() {
    let mut rng = Rng::new(13);
    let (n, k) = (4, 4);
    let logits = rng.logits(n, k, 1.0);
    let labels = rng.labels(n, k);
    let loss = build(
        &LossConfig::cross_entropy().class_weights(ClassWeights::Inverse),
        &COUNTS,
    );
    let (v1, g1) = value_and_grad(&loss, &logits, n, k, |d| {
        Targets::from_indices(&labels, k, d).unwrap()
    });
    let plain_targets = Targets::from_indices(&labels, k, &common::plain()).unwrap();
    let (v2, g2) = value_and_grad(&loss, &logits, n, k, |_| plain_targets.clone());
    assert_eq!(v1, v2);
    assert_eq!(g1, g2);
    // A mean over the plain device returns one value.
    let x = tensor2(&logits, n, k, &common::plain());
    assert_eq!(to_vec(loss.forward(x, &plain_targets).unwrap()).len(), 1);
}
