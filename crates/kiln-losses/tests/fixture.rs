//! Every loss value and gradient of the PyTorch fixture, reproduced within 1e-5.

mod common;

use common::{assert_all_close, build, f64s, load_cases, matrix, usizes, value_and_grad};
use kiln_losses::{
    BootstrapMode, ClassWeights, LossConfig, Targets, effective_number_weights,
    inverse_frequency_weights,
};

const TOL: f64 = 1e-5;

fn config_for(key: &str) -> LossConfig {
    match key {
        "ce" => LossConfig::cross_entropy(),
        "ce_label_smoothing_0.05" => LossConfig::cross_entropy().label_smoothing(0.05),
        "ce_inverse_frequency_weights_ls_0.05" => LossConfig::cross_entropy()
            .label_smoothing(0.05)
            .class_weights(ClassWeights::Inverse),
        "focal_gamma_2" => LossConfig::focal(2.0),
        "focal_gamma_2_alpha_inverse_frequency" => {
            LossConfig::focal(2.0).class_weights(ClassWeights::Inverse)
        }
        "bootstrapped_soft_lambda_0.1" => LossConfig::bootstrapped(0.1, BootstrapMode::Soft),
        other => panic!("fixture has a loss this test does not know: {other}"),
    }
}

#[test]
fn loss_values_and_gradients_match_pytorch() {
    let mut checked = 0;
    for case in load_cases() {
        let (logits, n, k) = matrix(&case["logits"]);
        let targets = usizes(&case["targets"]);
        let counts = usizes(&case["class_counts"]);
        for (key, reference) in case["losses"].as_object().expect("losses") {
            let loss = build(&config_for(key), &counts);
            let (value, grad) = value_and_grad(&loss, &logits, n, k, |d| {
                Targets::from_indices(&targets, k, d).expect("valid targets")
            });
            let what = format!("case {} {key}", case["seed"]);
            let expected = reference["value"].as_f64().expect("value");
            assert_all_close(&value, &[expected], TOL, &format!("{what} value"));
            let (expected_grad, gn, gk) = matrix(&reference["grad"]);
            assert_eq!((gn, gk), (n, k));
            let expected_grad: Vec<f64> = expected_grad.iter().map(|&g| f64::from(g)).collect();
            assert_all_close(&grad, &expected_grad, TOL, &format!("{what} grad"));
            checked += 1;
        }
    }
    assert_eq!(checked, 18, "expected 6 losses x 3 cases in the fixture");
}

#[test]
fn class_weights_match_the_fixture() {
    for case in load_cases() {
        let counts = usizes(&case["class_counts"]);
        let inverse = inverse_frequency_weights(&counts).unwrap();
        assert_all_close(
            &inverse,
            &f64s(&case["weights_inverse_frequency"]),
            1e-5,
            "inverse",
        );
        let cb = effective_number_weights(&counts, 0.999).unwrap();
        let expected = f64s(&case["weights_class_balanced_beta_0.999"]);
        assert_all_close(&cb, &expected, 1e-5, "class-balanced");
        // Same through the config enum.
        let resolved = ClassWeights::EffectiveNumber { beta: 0.999 }
            .resolve(&counts)
            .unwrap()
            .unwrap();
        assert_eq!(resolved, cb);
    }
}

#[test]
fn fixture_losses_agree_on_the_plain_device() {
    // The same numbers without autodiff: the loss must not depend on the device flavour.
    let case = &load_cases()[1];
    let (logits, n, k) = matrix(&case["logits"]);
    let targets = usizes(&case["targets"]);
    let counts = usizes(&case["class_counts"]);
    let device = common::plain();
    let t = Targets::from_indices(&targets, k, &device).unwrap();
    for (key, reference) in case["losses"].as_object().unwrap() {
        let v = common::value(&build(&config_for(key), &counts), &logits, n, k, &t);
        assert_all_close(&v, &[reference["value"].as_f64().unwrap()], TOL, key);
    }
}
