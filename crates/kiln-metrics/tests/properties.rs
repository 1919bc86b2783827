//! Properties that must hold for any data: they check definitions against each other rather
//! than against stored numbers.

mod common;

use common::{Rng, synthetic};
use kiln_metrics::{
    ClassThresholds, ConfusionMatrix, Evaluator, SlicedEvaluator, TemperatureScaling,
    ThresholdObjective, balanced_accuracy, class_scores, macro_f1, reliability,
};

const PRIORS: [f64; 5] = [0.55, 0.25, 0.1, 0.07, 0.03];

fn argmax_preds(logits: &[f32], k: usize) -> Vec<usize> {
    logits
        .chunks(k)
        .map(|r| (0..k).fold(0, |b, c| if r[c] > r[b] { c } else { b }))
        .collect()
}

#[test]
fn balanced_accuracy_is_mean_recall_over_present_targets() {
    for seed in 0..20 {
        let (z, y) = synthetic(seed, 200, &PRIORS, 1.5, 1.0);
        let m = {
            let mut e = Evaluator::new(5);
            e.update(&z, &y).unwrap();
            e.compute().unwrap()
        };
        let present: Vec<f64> = m
            .per_class
            .iter()
            .filter(|c| c.support > 0)
            .map(|c| c.recall)
            .collect();
        let mean = present.iter().sum::<f64>() / present.len() as f64;
        assert!((m.balanced_accuracy - mean).abs() < 1e-12, "seed {seed}");
        let cm = ConfusionMatrix::from_predictions(&y, &argmax_preds(&z, 5), 5).unwrap();
        assert!((balanced_accuracy(&cm).unwrap() - mean).abs() < 1e-12);
        // Recall computed independently from the raw labels.
        for (c, cls) in m.per_class.iter().enumerate() {
            let preds = argmax_preds(&z, 5);
            let tp = y
                .iter()
                .zip(&preds)
                .filter(|&(&t, &p)| t == c && p == c)
                .count();
            let support = y.iter().filter(|&&t| t == c).count();
            if support > 0 {
                assert!((cls.recall - tp as f64 / support as f64).abs() < 1e-12);
            }
        }
    }
}

#[test]
fn streaming_equals_one_batch_and_probs_path_agrees() {
    let (z, y) = synthetic(7, 333, &PRIORS, 2.0, 1.3);
    let mut whole = Evaluator::new(5);
    whole.update(&z, &y).unwrap();
    let whole = whole.compute().unwrap();
    for batch in [1, 5, 64, 1000] {
        let mut e = Evaluator::new(5);
        for (zb, yb) in z.chunks(batch * 5).zip(y.chunks(batch)) {
            e.update(zb, yb).unwrap();
        }
        assert_eq!(e.compute().unwrap(), whole, "batch {batch}");
    }
    // Softmax probabilities instead of logits: same decisions, same log loss (to rounding).
    let probs: Vec<f32> = z
        .chunks(5)
        .flat_map(|r| {
            let max = r.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let s: f64 = r.iter().map(|&v| f64::from(v - max).exp()).sum();
            r.iter()
                .map(move |&v| (f64::from(v - max).exp() / s) as f32)
                .collect::<Vec<_>>()
        })
        .collect();
    let mut e = Evaluator::new(5);
    e.update_probs(&probs, &y).unwrap();
    let p = e.compute().unwrap();
    assert_eq!(p.confusion_matrix, whole.confusion_matrix);
    assert!((p.log_loss - whole.log_loss).abs() < 1e-5);
    assert!((p.ece - whole.ece).abs() < 1e-5);
    assert!((p.roc_auc_ovr_macro.unwrap() - whole.roc_auc_ovr_macro.unwrap()).abs() < 1e-3);
}

#[test]
fn reset_forgets_samples_but_keeps_configuration() {
    let (z, y) = synthetic(3, 50, &PRIORS, 2.0, 1.0);
    let mut e = Evaluator::new(5).with_top_k(&[1, 3]).unwrap();
    e.update(&z, &y).unwrap();
    let first = e.compute().unwrap();
    e.reset();
    assert!(e.is_empty());
    e.update(&z, &y).unwrap();
    assert_eq!(e.compute().unwrap(), first);
    assert_eq!(
        first.top_k_accuracy.keys().copied().collect::<Vec<_>>(),
        vec![1, 3]
    );
}

#[test]
fn top_k_is_monotone_and_top1_is_accuracy() {
    for seed in 0..10 {
        let (z, y) = synthetic(seed, 120, &PRIORS, 1.0, 1.0);
        let mut e = Evaluator::new(5).with_top_k(&[1, 2, 3, 4, 5]).unwrap();
        e.update(&z, &y).unwrap();
        let m = e.compute().unwrap();
        let tk: Vec<f64> = m.top_k_accuracy.values().copied().collect();
        assert!((tk[0] - m.accuracy).abs() < 1e-12);
        assert!(tk.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(tk[4], 1.0);
    }
}

#[test]
fn temperature_scaling_never_raises_nll_and_finds_the_minimum() {
    // Over-confident (scale 4), calibrated-ish (1) and under-confident (0.2) models.
    for (seed, scale) in [(1, 4.0), (2, 1.0), (3, 0.2), (4, 10.0)] {
        let (z, y) = synthetic(seed, 400, &PRIORS, 2.5, scale);
        let fitted = TemperatureScaling::fit(&z, &y, 5).unwrap();
        let nll = |t: f64| {
            TemperatureScaling { temperature: t }
                .nll(&z, &y, 5)
                .unwrap()
        };
        let at_fit = nll(fitted.temperature);
        assert!(at_fit <= nll(1.0), "scale {scale}: NLL rose");
        // A local minimum: nudging T either way does not help.
        assert!(
            at_fit <= nll(fitted.temperature * 1.01) + 1e-12,
            "scale {scale}"
        );
        assert!(
            at_fit <= nll(fitted.temperature / 1.01) + 1e-12,
            "scale {scale}"
        );
        // Applying it in place gives logits whose NLL at T = 1 is the fitted NLL.
        let mut scaled = z.clone();
        fitted.apply(&mut scaled);
        let identity = TemperatureScaling::identity().nll(&scaled, &y, 5).unwrap();
        assert!((identity - at_fit).abs() < 1e-5);
        // Temperature never changes the decisions.
        assert_eq!(argmax_preds(&scaled, 5), argmax_preds(&z, 5));
    }
    // Over-confident logits need T > 1, under-confident ones T < 1.
    let (z, y) = synthetic(5, 400, &PRIORS, 2.5, 6.0);
    assert!(TemperatureScaling::fit(&z, &y, 5).unwrap().temperature > 1.0);
    let (z, y) = synthetic(6, 400, &PRIORS, 2.5, 0.1);
    assert!(TemperatureScaling::fit(&z, &y, 5).unwrap().temperature < 1.0);
}

#[test]
fn temperature_scaling_lowers_ece_of_an_overconfident_model() {
    let (z, y) = synthetic(11, 2000, &PRIORS, 2.0, 5.0);
    let before = reliability(&z, &y, 5, 15).unwrap().ece;
    let mut scaled = z.clone();
    TemperatureScaling::fit(&z, &y, 5)
        .unwrap()
        .apply(&mut scaled);
    let after = reliability(&scaled, &y, 5, 15).unwrap().ece;
    assert!(after < before, "ECE {before} -> {after}");
}

#[test]
fn ece_matches_its_reliability_bins() {
    let (z, y) = synthetic(12, 500, &PRIORS, 2.0, 2.0);
    let cal = reliability(&z, &y, 5, 10).unwrap();
    let n: u64 = cal.bins.iter().map(|b| b.count).sum();
    assert_eq!(n, 500);
    let ece: f64 = cal
        .bins
        .iter()
        .map(|b| b.count as f64 / n as f64 * (b.accuracy - b.mean_confidence).abs())
        .sum();
    assert!((ece - cal.ece).abs() < 1e-12);
    for b in &cal.bins {
        if b.count > 0 {
            assert!(b.mean_confidence > b.lower && b.mean_confidence <= b.upper);
        }
    }
    // Overall accuracy is the count-weighted mean of bin accuracies.
    let acc: f64 = cal
        .bins
        .iter()
        .map(|b| b.accuracy * b.count as f64)
        .sum::<f64>()
        / n as f64;
    let preds = argmax_preds(&z, 5);
    let direct = y.iter().zip(&preds).filter(|(a, b)| a == b).count() as f64 / 500.0;
    assert!((acc - direct).abs() < 1e-12);
}

#[test]
fn tuned_thresholds_never_lower_macro_f1_on_tuning_data() {
    for seed in 0..15 {
        let (z, y) = synthetic(seed, 300, &PRIORS, 1.5, 1.0);
        let t = ClassThresholds::tune(&z, &y, 5, &ThresholdObjective::MacroF1).unwrap();
        let before = macro_f1(&y, &argmax_preds(&z, 5), 5).unwrap();
        let after = macro_f1(&y, &t.predict(&z).unwrap(), 5).unwrap();
        assert!(after >= before, "seed {seed}: {before} -> {after}");
    }
}

#[test]
fn thresholds_fix_a_systematically_underscored_minority_class() {
    // Binary, 10 % positives, with the positive logit pushed down by 3: argmax rarely predicts
    // the minority class; a tuned offset must recover a clearly better macro-F1.
    let mut rng = Rng::new(99);
    let mut z = Vec::new();
    let mut y = Vec::new();
    for _ in 0..600 {
        let t = usize::from(rng.uniform() < 0.1);
        let margin = if t == 1 { 2.0 } else { -2.0 } + rng.normal();
        z.extend([0.0f32, (margin - 3.0) as f32]);
        y.push(t);
    }
    let t = ClassThresholds::tune(&z, &y, 2, &ThresholdObjective::MacroF1).unwrap();
    let before = macro_f1(&y, &argmax_preds(&z, 2), 2).unwrap();
    let after = macro_f1(&y, &t.predict(&z).unwrap(), 2).unwrap();
    assert!(after > before + 0.1, "{before} -> {after}");
    assert!(t.offsets[1] - t.offsets[0] > 1.0, "offset {:?}", t.offsets);
    // Serializable, and the deserialized thresholds predict the same.
    let json = serde_json::to_string(&t).unwrap();
    let back: ClassThresholds = serde_json::from_str(&json).unwrap();
    assert_eq!(back.predict(&z).unwrap(), t.predict(&z).unwrap());
}

#[test]
fn tuned_thresholds_never_raise_cost_on_tuning_data() {
    // Missing a rare class costs 10, a false alarm 1.
    let k = 5;
    let matrix: Vec<Vec<f64>> = (0..k)
        .map(|t| {
            (0..k)
                .map(|p| match (t, p) {
                    _ if t == p => 0.0,
                    (t, _) if t >= 3 => 10.0,
                    _ => 1.0,
                })
                .collect()
        })
        .collect();
    let objective = ThresholdObjective::Cost { matrix };
    for seed in 0..10 {
        let (z, y) = synthetic(100 + seed, 300, &PRIORS, 1.5, 1.0);
        let t = ClassThresholds::tune(&z, &y, k, &objective).unwrap();
        let before = objective.value(&y, &argmax_preds(&z, k), k).unwrap();
        let after = objective.value(&y, &t.predict(&z).unwrap(), k).unwrap();
        assert!(after >= before, "seed {seed}: {before} -> {after}");
    }
    let json = serde_json::to_string(&objective).unwrap();
    assert_eq!(
        serde_json::from_str::<ThresholdObjective>(&json).unwrap(),
        objective
    );
}

#[test]
fn class_absent_everywhere_does_not_change_macro_scores() {
    // The same predictions scored with 5 classes and with a sixth, never-seen class.
    let (z, y) = synthetic(21, 150, &PRIORS, 2.0, 1.0);
    let preds = argmax_preds(&z, 5);
    let cm5 = ConfusionMatrix::from_predictions(&y, &preds, 5).unwrap();
    let cm6 = ConfusionMatrix::from_predictions(&y, &preds, 6).unwrap();
    let (a5, a6) = (
        kiln_metrics::averages(&cm5).unwrap(),
        kiln_metrics::averages(&cm6).unwrap(),
    );
    assert_eq!(a5, a6);
    assert_eq!(class_scores(&cm6)[5].f1, 0.0);
    assert_eq!(
        kiln_metrics::classification_report(&cm5, None, 4).unwrap(),
        kiln_metrics::classification_report(&cm6, None, 4).unwrap()
    );
}

#[test]
fn most_confused_lists_off_diagonal_cells_in_order() {
    let (z, y) = synthetic(31, 300, &PRIORS, 1.0, 1.0);
    let cm = ConfusionMatrix::from_predictions(&y, &argmax_preds(&z, 5), 5).unwrap();
    let pairs = cm.most_confused(100);
    let off: u64 = (0..5)
        .flat_map(|a| (0..5).map(move |p| (a, p)))
        .filter(|(a, p)| a != p)
        .map(|(a, p)| cm.get(a, p))
        .sum();
    assert_eq!(pairs.iter().map(|p| p.count).sum::<u64>(), off);
    assert!(pairs.windows(2).all(|w| w[0].count >= w[1].count));
    for p in &pairs {
        assert_ne!(p.actual, p.predicted);
        assert_eq!(cm.get(p.actual, p.predicted), p.count);
        assert!(
            (p.fraction_of_actual - p.count as f64 / cm.support(p.actual) as f64).abs() < 1e-15
        );
    }
    assert_eq!(cm.most_confused(2).len(), 2.min(pairs.len()));
}

#[test]
fn sliced_metrics_equal_metrics_of_each_subset() {
    let (z, y) = synthetic(41, 240, &PRIORS, 2.0, 1.0);
    let groups: Vec<&str> = (0..240)
        .map(|i| ["site-a", "site-b", "site-c"][i % 3])
        .collect();
    let mut sliced = SlicedEvaluator::new(Evaluator::new(5));
    for ((zb, yb), gb) in z.chunks(50 * 5).zip(y.chunks(50)).zip(groups.chunks(50)) {
        sliced.update(zb, yb, gb).unwrap();
    }
    let s = sliced.compute().unwrap();
    let mut all = Evaluator::new(5);
    all.update(&z, &y).unwrap();
    assert_eq!(s.overall, all.compute().unwrap());
    assert_eq!(s.slices.len(), 3);
    for (g, m) in &s.slices {
        let mut e = Evaluator::new(5);
        for i in (0..240).filter(|&i| groups[i] == g) {
            e.update(&z[i * 5..(i + 1) * 5], &y[i..=i]).unwrap();
        }
        assert_eq!(m, &e.compute().unwrap(), "slice {g}");
    }
    let (worst, v) = s.worst(kiln_metrics::SelectionMetric::MacroF1).unwrap();
    assert!(s.slices.values().all(|m| m.macro_f1 >= v));
    assert_eq!(s.slices[worst].macro_f1, v);
}
