//! Metrics per slice of the data (site, scanner, camera, demographic group, …).
//!
//! An overall macro-F1 can hide a group on which the model fails; computing the same metrics
//! per group (and naming the worst one) makes that visible.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{MetricsError, check_batch};
use crate::evaluator::{Evaluator, Metrics};
use crate::selection::SelectionMetric;

/// Overall metrics plus the same metrics per group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlicedMetrics {
    /// Metrics over all samples.
    pub overall: Metrics,
    /// Metrics per group label, ordered by label.
    pub slices: BTreeMap<String, Metrics>,
}

impl SlicedMetrics {
    /// The group with the lowest value of `metric` and that value (first label on ties), or
    /// `None` when there are no groups.
    pub fn worst(&self, metric: SelectionMetric) -> Option<(&str, f64)> {
        self.slices
            .iter()
            .map(|(g, m)| (g.as_str(), metric.value(m)))
            .fold(None, |worst: Option<(&str, f64)>, (g, v)| match worst {
                Some((_, w)) if w <= v => worst,
                _ => Some((g, v)),
            })
    }
}

/// Streaming evaluator that also keeps one [`Evaluator`] per group label.
#[derive(Debug, Clone)]
pub struct SlicedEvaluator {
    template: Evaluator,
    overall: Evaluator,
    slices: BTreeMap<String, Evaluator>,
}

impl SlicedEvaluator {
    /// A sliced evaluator whose overall and per-group evaluators are configured like
    /// `template` (which should be empty).
    pub fn new(template: Evaluator) -> Self {
        let mut template = template;
        template.reset();
        Self {
            overall: template.clone(),
            template,
            slices: BTreeMap::new(),
        }
    }

    /// Adds a batch of row-major `[n, K]` logits, their targets and one group label per
    /// sample. Validated as a whole first; on error nothing is accumulated.
    pub fn update<S: AsRef<str>>(
        &mut self,
        logits: &[f32],
        targets: &[usize],
        groups: &[S],
    ) -> Result<(), MetricsError> {
        let k = self.template.num_classes();
        if groups.len() != targets.len() {
            return Err(MetricsError::LengthMismatch {
                what: "groups",
                expected: targets.len(),
                actual: groups.len(),
            });
        }
        check_batch(logits, targets, k)?;
        self.overall.update(logits, targets)?;
        let mut batches: BTreeMap<&str, (Vec<f32>, Vec<usize>)> = BTreeMap::new();
        for ((row, &t), g) in logits.chunks(k).zip(targets).zip(groups) {
            let (l, ts) = batches.entry(g.as_ref()).or_default();
            l.extend_from_slice(row);
            ts.push(t);
        }
        for (g, (l, ts)) in batches {
            let eval = self
                .slices
                .entry(g.to_string())
                .or_insert_with(|| self.template.clone());
            eval.update(&l, &ts)?;
        }
        Ok(())
    }

    /// Computes overall and per-group metrics.
    pub fn compute(&self) -> Result<SlicedMetrics, MetricsError> {
        let overall = self.overall.compute()?;
        let slices = self
            .slices
            .iter()
            .map(|(g, e)| Ok((g.clone(), e.compute()?)))
            .collect::<Result<_, MetricsError>>()?;
        Ok(SlicedMetrics { overall, slices })
    }

    /// Forgets every sample and group.
    pub fn reset(&mut self) {
        self.overall.reset();
        self.slices.clear();
    }
}
