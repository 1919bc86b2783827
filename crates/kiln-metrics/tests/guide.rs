//! The snippets of docs/metrics-and-losses.md, with synthetic data in place of a model.

mod common;

use common::synthetic;
use kiln_metrics::{
    ClassThresholds, Evaluator, MetricsError, SelectionMetric, SlicedEvaluator, TemperatureScaling,
    ThresholdObjective,
};

const PRIORS: [f64; 4] = [0.6, 0.25, 0.1, 0.05];

#[test]
fn evaluating_every_epoch() -> Result<(), MetricsError> {
    let num_classes = 4;
    let (z, y) = synthetic(1, 256, &PRIORS, 2.0, 1.0);
    let batches = z.chunks(32 * num_classes).zip(y.chunks(32));

    let mut eval = Evaluator::new(num_classes);
    for (logits, targets) in batches {
        eval.update(logits, targets)?;
    }
    let metrics = eval.compute()?;
    let score = SelectionMetric::MacroF1.value(&metrics);
    let report = metrics.classification_report(None, 4)?;
    eval.reset();

    assert_eq!(score, metrics.macro_f1);
    assert!(report.contains("macro avg"));
    assert!(eval.is_empty());
    assert!(serde_json::to_string(&metrics).is_ok());
    assert!(!metrics.confusion_matrix.most_confused(3).is_empty());
    Ok(())
}

#[test]
fn slices() -> Result<(), MetricsError> {
    let num_classes = 4;
    let (logits, targets) = synthetic(2, 90, &PRIORS, 2.0, 1.0);
    let sites: Vec<String> = (0..90).map(|i| format!("site-{}", i % 3)).collect();

    let mut sliced = SlicedEvaluator::new(Evaluator::new(num_classes));
    sliced.update(&logits, &targets, &sites)?;
    let report = sliced.compute()?;
    let (worst_site, f1) = report
        .worst(SelectionMetric::MacroF1)
        .expect("three slices");

    assert_eq!(report.slices.len(), 3);
    assert_eq!(report.slices[worst_site].macro_f1, f1);
    Ok(())
}

#[test]
fn calibration_and_thresholds() -> Result<(), MetricsError> {
    let k = 4;
    let (val_logits, val_targets) = synthetic(3, 400, &PRIORS, 2.0, 3.0);
    let (mut test_logits, test_targets) = synthetic(4, 200, &PRIORS, 2.0, 3.0);

    let temperature = TemperatureScaling::fit(&val_logits, &val_targets, k)?;
    let before = TemperatureScaling::identity().nll(&test_logits, &test_targets, k)?;
    temperature.apply(&mut test_logits);
    let after = TemperatureScaling::identity().nll(&test_logits, &test_targets, k)?;

    let thresholds =
        ClassThresholds::tune(&val_logits, &val_targets, k, &ThresholdObjective::MacroF1)?;
    let predictions = thresholds.predict(&test_logits)?;

    // Over-confident synthetic model (scale 3): the fitted temperature helps held-out data too.
    assert!(temperature.temperature > 1.0 && after < before);
    assert_eq!(predictions.len(), 200);
    assert!(serde_json::to_string(&(temperature, thresholds)).is_ok());
    Ok(())
}
