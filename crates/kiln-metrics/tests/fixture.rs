//! Every metric in the PyTorch / scikit-learn fixture, reproduced within 1e-5, and the
//! classification report byte for byte.

mod common;

use common::{assert_close, f64_, f64s, load_cases, logits, targets};
use kiln_metrics::{ConfusionMatrix, Evaluator, average_precision, classification_report, roc_auc};

const TOL: f64 = 1e-5;

fn evaluate(case: &serde_json::Value, batch: usize) -> kiln_metrics::Metrics {
    let (z, _, k) = logits(case);
    let y = targets(case);
    let mut eval = Evaluator::new(k);
    for (zb, yb) in z.chunks(batch * k).zip(y.chunks(batch)) {
        eval.update(zb, yb).expect("valid batch");
    }
    eval.compute().expect("metrics")
}

#[test]
fn scalar_metrics_match_sklearn() {
    for case in load_cases() {
        let m = evaluate(&case, 7);
        let r = &case["metrics"];
        let seed = &case["seed"];
        assert_close(
            m.accuracy,
            f64_(&r["accuracy"]),
            TOL,
            &format!("case {seed} accuracy"),
        );
        assert_close(
            m.balanced_accuracy,
            f64_(&r["balanced_accuracy"]),
            TOL,
            &format!("case {seed} balanced_accuracy"),
        );
        assert_close(
            m.macro_f1,
            f64_(&r["f1_macro"]),
            TOL,
            &format!("case {seed} f1_macro"),
        );
        assert_close(
            m.weighted_f1,
            f64_(&r["f1_weighted"]),
            TOL,
            &format!("case {seed} f1_weighted"),
        );
        assert_close(
            m.top_k_accuracy[&2],
            f64_(&r["top2_accuracy"]),
            TOL,
            &format!("case {seed} top2"),
        );
        assert_close(
            m.log_loss,
            f64_(&r["log_loss"]),
            TOL,
            &format!("case {seed} log_loss"),
        );
        assert_close(
            m.pr_auc_macro.expect("pr auc defined"),
            f64_(&r["pr_auc_macro"]),
            TOL,
            &format!("case {seed} pr_auc_macro"),
        );
        assert_close(
            m.roc_auc_ovr_macro.expect("roc auc defined"),
            f64_(&r["roc_auc_ovr_macro"]),
            TOL,
            &format!("case {seed} roc_auc_ovr_macro"),
        );
    }
}

#[test]
fn per_class_metrics_and_confusion_match_sklearn() {
    for case in load_cases() {
        let m = evaluate(&case, 16);
        let r = &case["metrics"];
        let seed = &case["seed"];
        let checks = [
            ("precision", "precision_per_class"),
            ("recall", "recall_per_class"),
            ("f1", "f1_per_class"),
            ("pr_auc", "pr_auc_per_class"),
        ];
        for (name, key) in checks {
            let expected = f64s(&r[key]);
            assert_eq!(
                expected.len(),
                m.per_class.len(),
                "case {seed} {key} length"
            );
            for (c, (pc, e)) in m.per_class.iter().zip(expected).enumerate() {
                let got = match name {
                    "precision" => pc.precision,
                    "recall" => pc.recall,
                    "f1" => pc.f1,
                    _ => pc.pr_auc.expect("defined"),
                };
                assert_close(got, e, TOL, &format!("case {seed} {name}[{c}]"));
            }
        }
        let expected_cm: Vec<Vec<u64>> = r["confusion_matrix"]
            .as_array()
            .expect("cm")
            .iter()
            .map(|row| f64s(row).into_iter().map(|x| x as u64).collect())
            .collect();
        assert_eq!(
            m.confusion_matrix.to_rows(),
            expected_cm,
            "case {seed} confusion matrix"
        );
        let supports: Vec<u64> = m.per_class.iter().map(|c| c.support).collect();
        let counts: Vec<u64> = f64s(&case["class_counts"])
            .into_iter()
            .map(|x| x as u64)
            .collect();
        assert_eq!(supports, counts, "case {seed} support");
    }
}

#[test]
fn classification_report_is_byte_identical() {
    for case in load_cases() {
        let m = evaluate(&case, 64);
        let expected = case["metrics"]["classification_report"]
            .as_str()
            .expect("report text");
        let got = m.classification_report(None, 4).expect("report");
        assert_eq!(got, expected, "case {}", case["seed"]);
        // The free function on a matrix rebuilt from hard predictions gives the same text.
        let (z, _, k) = logits(&case);
        let preds: Vec<usize> = z
            .chunks(k)
            .map(|row| (0..k).fold(0, |b, c| if row[c] > row[b] { c } else { b }))
            .collect();
        let cm = ConfusionMatrix::from_predictions(&targets(&case), &preds, k).expect("cm");
        assert_eq!(
            classification_report(&cm, None, 4).expect("report"),
            expected
        );
    }
}

#[test]
fn binary_ranking_functions_match_per_class_values() {
    for case in load_cases() {
        let (z, n, k) = logits(&case);
        let y = targets(&case);
        let r = &case["metrics"];
        let expected_ap = f64s(&r["pr_auc_per_class"]);
        let mut aucs = Vec::new();
        for c in 0..k {
            // Softmax probabilities of class c, as sklearn received them.
            let scores: Vec<f32> = (0..n)
                .map(|i| {
                    let row = &z[i * k..(i + 1) * k];
                    let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                    let sum: f64 = row.iter().map(|&v| f64::from(v - max).exp()).sum();
                    (f64::from(row[c] - max).exp() / sum) as f32
                })
                .collect();
            let positives: Vec<bool> = y.iter().map(|&t| t == c).collect();
            let ap = average_precision(&scores, &positives)
                .expect("valid")
                .expect("defined");
            assert_close(
                ap,
                expected_ap[c],
                TOL,
                &format!("case {} AP[{c}]", case["seed"]),
            );
            aucs.push(
                roc_auc(&scores, &positives)
                    .expect("valid")
                    .expect("defined"),
            );
        }
        let macro_auc = aucs.iter().sum::<f64>() / k as f64;
        assert_close(macro_auc, f64_(&r["roc_auc_ovr_macro"]), TOL, "roc macro");
    }
}
