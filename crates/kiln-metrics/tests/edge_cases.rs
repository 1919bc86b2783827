//! Edge cases: absent classes, two classes, a single class, invalid input.

mod common;

use common::synthetic;
use kiln_metrics::{
    ClassThresholds, ConfusionMatrix, Evaluator, MetricsError, SelectionMetric, SlicedEvaluator,
    TemperatureScaling, ThresholdObjective, average_precision, classification_report, reliability,
    roc_auc,
};

#[test]
fn nan_and_inf_logits_are_typed_errors_and_leave_state_untouched() {
    let (mut z, y) = synthetic(1, 10, &[0.5, 0.5, 0.5], 1.0, 1.0);
    let mut e = Evaluator::new(3);
    e.update(&z[..15], &y[..5]).unwrap();
    let before = e.compute().unwrap();
    for (bad, col) in [(f32::NAN, 1), (f32::INFINITY, 2), (f32::NEG_INFINITY, 0)] {
        let original = z[7 * 3 + col];
        z[7 * 3 + col] = bad;
        match e.update(&z, &y) {
            Err(MetricsError::NonFinite { row, column, .. }) => {
                assert_eq!((row, column), (7, col));
            }
            other => panic!("expected NonFinite, got {other:?}"),
        }
        assert!(matches!(
            TemperatureScaling::fit(&z, &y, 3),
            Err(MetricsError::NonFinite { .. })
        ));
        assert!(matches!(
            ClassThresholds::tune(&z, &y, 3, &ThresholdObjective::MacroF1),
            Err(MetricsError::NonFinite { .. })
        ));
        assert!(matches!(
            reliability(&z, &y, 3, 10),
            Err(MetricsError::NonFinite { .. })
        ));
        assert!(matches!(
            ClassThresholds::identity(3).predict(&z),
            Err(MetricsError::NonFinite { .. })
        ));
        z[7 * 3 + col] = original;
    }
    assert_eq!(
        e.compute().unwrap(),
        before,
        "a failed update must not accumulate"
    );
}

#[test]
fn out_of_range_targets_and_length_mismatches_are_typed_errors() {
    let (z, mut y) = synthetic(2, 6, &[0.5, 0.5, 0.5], 1.0, 1.0);
    let mut e = Evaluator::new(3);
    assert!(matches!(
        e.update(&z[..17], &y),
        Err(MetricsError::LengthMismatch {
            expected: 18,
            actual: 17,
            ..
        })
    ));
    y[4] = 3;
    assert_eq!(
        e.update(&z, &y),
        Err(MetricsError::TargetOutOfRange {
            row: 4,
            target: 3,
            num_classes: 3
        })
    );
    assert!(e.is_empty());
    assert!(matches!(
        ConfusionMatrix::from_predictions(&[0, 1], &[0], 2),
        Err(MetricsError::LengthMismatch { .. })
    ));
    assert!(matches!(
        ConfusionMatrix::from_predictions(&[0, 1], &[0, 2], 2),
        Err(MetricsError::InvalidArgument(_))
    ));
    assert!(matches!(
        average_precision(&[0.1, 0.2], &[true]),
        Err(MetricsError::LengthMismatch { .. })
    ));
    assert!(matches!(
        classification_report(
            &ConfusionMatrix::from_predictions(&[0, 1], &[0, 1], 2).unwrap(),
            Some(&["a"]),
            4
        ),
        Err(MetricsError::LengthMismatch { .. })
    ));
    let bad_cost = ThresholdObjective::Cost {
        matrix: vec![vec![0.0, 1.0]; 3],
    };
    assert!(matches!(
        ClassThresholds::tune(&z, &[0, 1, 2, 0, 1, 2], 3, &bad_cost),
        Err(MetricsError::LengthMismatch { .. })
    ));
}

#[test]
fn empty_input_is_a_typed_error() {
    let e = Evaluator::new(3);
    assert!(matches!(e.compute(), Err(MetricsError::Empty { .. })));
    let mut e = Evaluator::new(3);
    e.update(&[], &[]).unwrap();
    assert!(matches!(e.compute(), Err(MetricsError::Empty { .. })));
    assert!(matches!(
        TemperatureScaling::fit(&[], &[], 3),
        Err(MetricsError::Empty { .. })
    ));
    assert!(matches!(
        ClassThresholds::tune(&[], &[], 3, &ThresholdObjective::MacroF1),
        Err(MetricsError::Empty { .. })
    ));
    assert!(matches!(
        average_precision(&[], &[]),
        Err(MetricsError::Empty { .. })
    ));
    assert!(matches!(
        kiln_metrics::accuracy(&ConfusionMatrix::new(3)),
        Err(MetricsError::Empty { .. })
    ));
    assert_eq!(
        Evaluator::new(0).update(&[], &[]),
        Err(MetricsError::NoClasses)
    );
    assert!(matches!(
        Evaluator::new(0).compute(),
        Err(MetricsError::NoClasses)
    ));
}

#[test]
fn invalid_probabilities_are_typed_errors() {
    let mut e = Evaluator::new(2);
    assert!(matches!(
        e.update_probs(&[0.5, 0.5, 1.5, -0.5], &[0, 1]),
        Err(MetricsError::InvalidProbability {
            row: 1,
            column: 0,
            ..
        })
    ));
    assert!(matches!(
        e.update_probs(&[0.5, f32::NAN], &[0]),
        Err(MetricsError::NonFinite { .. })
    ));
    assert!(e.is_empty());
}

#[test]
fn classes_absent_from_targets_or_predictions() {
    // K = 4: class 3 is never a target but is predicted once; class 2 is a target but never
    // predicted; nothing is undefined and nothing is NaN.
    let k = 4;
    let mut z = Vec::new();
    let y = vec![0, 0, 1, 1, 2, 0];
    for &pred in &[0usize, 3, 1, 1, 0, 0] {
        let mut row = vec![0.0f32; k];
        row[pred] = 2.0;
        z.extend(row);
    }
    let mut e = Evaluator::new(k);
    e.update(&z, &y).unwrap();
    let m = e.compute().unwrap();
    assert_eq!(
        m.per_class[2].precision, 0.0,
        "never predicted: zero_division = 0"
    );
    assert_eq!(
        m.per_class[3].recall, 0.0,
        "never a target: zero_division = 0"
    );
    assert_eq!(m.per_class[3].f1, 0.0);
    // Macro-F1 averages over the 4 present classes; balanced accuracy over the 3 targets.
    let f1_mean = m.per_class.iter().map(|c| c.f1).sum::<f64>() / 4.0;
    assert!((m.macro_f1 - f1_mean).abs() < 1e-12);
    let recall_mean = m.per_class[..3].iter().map(|c| c.recall).sum::<f64>() / 3.0;
    assert!((m.balanced_accuracy - recall_mean).abs() < 1e-12);
    // Ranking metrics of the never-occurring class are undefined, not 0 or NaN.
    assert_eq!(m.per_class[3].pr_auc, None);
    assert_eq!(m.per_class[3].roc_auc, None);
    let defined: Vec<f64> = m.per_class.iter().filter_map(|c| c.pr_auc).collect();
    assert_eq!(defined.len(), 3);
    assert!((m.pr_auc_macro.unwrap() - defined.iter().sum::<f64>() / 3.0).abs() < 1e-12);
    // The report lists the four present classes and serialises without NaN.
    let report = m
        .classification_report(Some(&["cat", "dog", "fox", "owl"]), 4)
        .unwrap();
    assert_eq!(report.lines().filter(|l| l.contains("owl")).count(), 1);
    let json = serde_json::to_string(&m).unwrap();
    assert!(!json.contains("NaN"));
    let back: kiln_metrics::Metrics = serde_json::from_str(&json).unwrap();
    assert_eq!(back.confusion_matrix, m.confusion_matrix);
    assert_eq!(back.per_class[3], m.per_class[3]);
    assert!((back.macro_f1 - m.macro_f1).abs() < 1e-15);
}

#[test]
fn two_classes() {
    let (z, y) = synthetic(5, 200, &[0.8, 0.2], 2.0, 1.0);
    let mut e = Evaluator::new(2);
    e.update(&z, &y).unwrap();
    let m = e.compute().unwrap();
    // With two classes each one-vs-rest ROC curve is the other's mirror: equal AUCs.
    let (a0, a1) = (
        m.per_class[0].roc_auc.unwrap(),
        m.per_class[1].roc_auc.unwrap(),
    );
    assert!((a0 - a1).abs() < 1e-6, "{a0} vs {a1}");
    // No default top-k beyond K - 1 (top-2 of 2 classes is trivially 1).
    assert!(m.top_k_accuracy.is_empty());
    assert!(
        m.classification_report(None, 4)
            .unwrap()
            .contains("accuracy")
    );
    // Thresholds work for K = 2 and never lower macro-F1.
    let t = ClassThresholds::tune(&z, &y, 2, &ThresholdObjective::MacroF1).unwrap();
    let tuned = kiln_metrics::macro_f1(&y, &t.predict(&z).unwrap(), 2).unwrap();
    assert!(tuned >= m.macro_f1);
}

#[test]
fn single_class_present() {
    // Every target is class 1 of 3.
    let (z, _) = synthetic(6, 30, &[1.0, 1.0, 1.0], 1.0, 1.0);
    let y = vec![1; 30];
    let mut e = Evaluator::new(3);
    e.update(&z, &y).unwrap();
    let m = e.compute().unwrap();
    assert!((m.balanced_accuracy - m.per_class[1].recall).abs() < 1e-12);
    assert!((m.accuracy - m.per_class[1].recall).abs() < 1e-12);
    // ROC-AUC needs both positives and negatives: undefined for every class.
    assert_eq!(m.roc_auc_ovr_macro, None);
    assert_eq!(SelectionMetric::RocAucMacro.value(&m), f64::NEG_INFINITY);
    // AP of the only class is its precision at full recall = 1: every sample is positive.
    assert!((m.per_class[1].pr_auc.unwrap() - 1.0).abs() < 1e-12);
    assert_eq!(m.pr_auc_macro, m.per_class[1].pr_auc);
    assert_eq!((m.per_class[0].pr_auc, m.per_class[2].pr_auc), (None, None));
    assert!(TemperatureScaling::fit(&z, &y, 3).unwrap().temperature > 0.0);
    // Single-class binary ranking functions report "undefined" instead of failing.
    let s: Vec<f32> = (0..5).map(|i| i as f32).collect();
    assert_eq!(roc_auc(&s, &[true; 5]).unwrap(), None);
    assert_eq!(average_precision(&s, &[false; 5]).unwrap(), None);
    // K = 1 works too.
    let mut one = Evaluator::new(1);
    one.update(&[0.3, -1.0], &[0, 0]).unwrap();
    let m1 = one.compute().unwrap();
    assert_eq!((m1.accuracy, m1.macro_f1, m1.log_loss), (1.0, 1.0, 0.0));
    assert_eq!(
        ClassThresholds::tune(&[0.3, -1.0], &[0, 0], 1, &ThresholdObjective::MacroF1).unwrap(),
        ClassThresholds::identity(1)
    );
}

#[test]
fn selection_metric_serde_and_values() {
    let (z, y) = synthetic(8, 100, &[0.6, 0.3, 0.1], 2.0, 1.0);
    let mut e = Evaluator::new(3);
    e.update(&z, &y).unwrap();
    let m = e.compute().unwrap();
    for metric in [
        SelectionMetric::MacroF1,
        SelectionMetric::BalancedAccuracy,
        SelectionMetric::Accuracy,
        SelectionMetric::WeightedF1,
        SelectionMetric::NegLogLoss,
        SelectionMetric::PrAucMacro,
        SelectionMetric::RocAucMacro,
        SelectionMetric::NegEce,
    ] {
        let json = serde_json::to_string(&metric).unwrap();
        assert_eq!(json, format!("\"{}\"", metric.name()));
        assert_eq!(
            serde_json::from_str::<SelectionMetric>(&json).unwrap(),
            metric
        );
        assert!(metric.value(&m).is_finite());
    }
    assert_eq!(SelectionMetric::default(), SelectionMetric::MacroF1);
    assert_eq!(SelectionMetric::MacroF1.value(&m), m.macro_f1);
    assert_eq!(SelectionMetric::NegLogLoss.value(&m), -m.log_loss);
    // A perfect model beats this one.
    let perfect: Vec<f32> = y
        .iter()
        .flat_map(|&t| (0..3).map(move |c| if c == t { 5.0 } else { 0.0 }))
        .collect();
    let mut p = Evaluator::new(3);
    p.update(&perfect, &y).unwrap();
    let pm = p.compute().unwrap();
    assert!(SelectionMetric::MacroF1.is_better(&pm, &m));
    assert!(!SelectionMetric::MacroF1.is_better(&m, &pm));
    // Without ranking, AUCs are undefined and never selected.
    let mut nr = Evaluator::new(3).without_ranking();
    nr.update(&z, &y).unwrap();
    let nm = nr.compute().unwrap();
    assert_eq!(nm.pr_auc_macro, None);
    assert!(SelectionMetric::PrAucMacro.is_better(&m, &nm));
    assert_eq!(nm.macro_f1, m.macro_f1);
}

#[test]
fn sliced_evaluator_rejects_bad_groups_atomically() {
    let (z, y) = synthetic(9, 4, &[0.5, 0.5], 1.0, 1.0);
    let mut s = SlicedEvaluator::new(Evaluator::new(2));
    assert!(matches!(
        s.update(&z, &y, &["a", "b"]),
        Err(MetricsError::LengthMismatch { .. })
    ));
    let mut bad = z.clone();
    bad[0] = f32::NAN;
    assert!(s.update(&bad, &y, &["a", "b", "a", "b"]).is_err());
    assert!(matches!(s.compute(), Err(MetricsError::Empty { .. })));
}

#[test]
fn invalid_configuration_is_a_typed_error() {
    assert!(matches!(
        Evaluator::new(3).with_top_k(&[0]),
        Err(MetricsError::InvalidArgument(_))
    ));
    assert!(matches!(
        Evaluator::new(3).with_calibration_bins(0),
        Err(MetricsError::InvalidArgument(_))
    ));
    assert!(matches!(
        TemperatureScaling { temperature: 0.0 }.nll(&[1.0, 0.0], &[0], 2),
        Err(MetricsError::InvalidArgument(_))
    ));
    assert!(matches!(
        ClassThresholds::identity(2).predict_row(&[1.0]),
        Err(MetricsError::LengthMismatch { .. })
    ));
}
