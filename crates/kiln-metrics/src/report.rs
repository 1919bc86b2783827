//! A text classification report, byte-identical to scikit-learn 1.2's
//! `classification_report(y_true, y_pred, digits=…, zero_division=0)`.
//!
//! Matching sklearn to the byte lets a report from kiln be diffed against one produced in
//! Python from the same predictions.

use crate::confusion::ConfusionMatrix;
use crate::error::MetricsError;
use crate::scores::{accuracy, averages_of, class_scores};

/// Formats the report for the classes present in the targets or predictions (sklearn's
/// default label set).
///
/// `target_names`, when given, names every class `0..K` by index (unlike sklearn, where names
/// follow the present labels); without it classes are named by their index.
pub fn classification_report(
    cm: &ConfusionMatrix,
    target_names: Option<&[&str]>,
    digits: usize,
) -> Result<String, MetricsError> {
    let k = cm.num_classes();
    if let Some(names) = target_names
        && names.len() != k
    {
        return Err(MetricsError::LengthMismatch {
            what: "target_names",
            expected: k,
            actual: names.len(),
        });
    }
    let acc = accuracy(cm)?;
    let labels = cm.present_classes();
    let scores = class_scores(cm);
    let avg = averages_of(&scores, &labels);
    let names: Vec<String> = labels
        .iter()
        .map(|&c| match target_names {
            Some(names) => names[c].to_string(),
            None => c.to_string(),
        })
        .collect();

    const LAST_HEADING: &str = "weighted avg";
    let width = names
        .iter()
        .map(|n| n.chars().count())
        .chain([LAST_HEADING.len(), digits])
        .max()
        .unwrap_or(LAST_HEADING.len());
    let row = |name: &str, p: f64, r: f64, f: f64, s: u64| {
        format!("{name:>width$}  {p:>9.digits$} {r:>9.digits$} {f:>9.digits$} {s:>9}\n")
    };

    let mut out = format!(
        "{:>width$}  {:>9} {:>9} {:>9} {:>9}\n\n",
        "", "precision", "recall", "f1-score", "support"
    );
    for (name, &c) in names.iter().zip(&labels) {
        let s = &scores[c];
        out += &row(name, s.precision, s.recall, s.f1, s.support);
    }
    out.push('\n');
    let total = cm.total();
    // sklearn prints micro-F1 on the accuracy line; for single-label data it equals accuracy.
    out += &format!(
        "{:>width$}  {:>9} {:>9} {acc:>9.digits$} {total:>9}\n",
        "accuracy", "", ""
    );
    out += &row(
        "macro avg",
        avg.macro_precision,
        avg.macro_recall,
        avg.macro_f1,
        total,
    );
    out += &row(
        LAST_HEADING,
        avg.weighted_precision,
        avg.weighted_recall,
        avg.weighted_f1,
        total,
    );
    Ok(out)
}
