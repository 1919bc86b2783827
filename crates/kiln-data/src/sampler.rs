//! Samplers: which dataset indices an epoch visits, in which order.
//!
//! A sampler is a pure function of `(seed, epoch)`, so every epoch reshuffles, and any epoch
//! can be regenerated exactly on resume. Imbalanced data gets two tools: a weighted random
//! sampler (with replacement, e.g. inverse class frequency) and a class-aware sampler that
//! builds every batch from a few classes with a fixed number of samples each.

use crate::error::{DataError, Result};
use crate::rng::{Rng, tag};

/// An epoch's visiting order.
pub trait Sampler: Send + Sync {
    /// The dataset indices of `epoch`, in order.
    fn indices(&self, epoch: usize) -> Vec<usize>;

    /// Number of indices per epoch.
    fn epoch_len(&self) -> usize;
}

/// `0, 1, …, n-1` every epoch (evaluation).
#[derive(Clone, Debug)]
pub struct SequentialSampler {
    n: usize,
}

impl SequentialSampler {
    /// Visits `n` samples in order.
    pub fn new(n: usize) -> Self {
        SequentialSampler { n }
    }
}

impl Sampler for SequentialSampler {
    fn indices(&self, _epoch: usize) -> Vec<usize> {
        (0..self.n).collect()
    }

    fn epoch_len(&self) -> usize {
        self.n
    }
}

/// A fresh permutation every epoch.
#[derive(Clone, Debug)]
pub struct ShuffleSampler {
    n: usize,
    seed: u64,
}

impl ShuffleSampler {
    /// Shuffles `n` samples with `seed`.
    pub fn new(n: usize, seed: u64) -> Self {
        ShuffleSampler { n, seed }
    }
}

impl Sampler for ShuffleSampler {
    fn indices(&self, epoch: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..self.n).collect();
        Rng::derive(self.seed, &[tag::SHUFFLE, epoch as u64]).shuffle(&mut v);
        v
    }

    fn epoch_len(&self) -> usize {
        self.n
    }
}

/// Draws `num_samples` indices with replacement, index `i` with probability ∝ `weights[i]`.
#[derive(Clone, Debug)]
pub struct WeightedRandomSampler {
    cumulative: Vec<f64>,
    num_samples: usize,
    seed: u64,
}

impl WeightedRandomSampler {
    /// From per-sample weights (non-negative, finite, not all zero).
    pub fn new(weights: &[f64], num_samples: usize, seed: u64) -> Result<Self> {
        let mut cumulative = Vec::with_capacity(weights.len());
        let mut acc = 0.0;
        for (i, &w) in weights.iter().enumerate() {
            if !(w.is_finite() && w >= 0.0) {
                return Err(DataError::InvalidConfig(format!(
                    "weight {i} is {w}; weights must be finite and >= 0"
                )));
            }
            acc += w;
            cumulative.push(acc);
        }
        if acc <= 0.0 {
            return Err(DataError::InvalidConfig(
                "all sampling weights are zero".into(),
            ));
        }
        Ok(WeightedRandomSampler {
            cumulative,
            num_samples,
            seed,
        })
    }

    /// Class-balanced sampling: sample weight `1 / n_c^power` (`power = 1` gives every class
    /// the same expected frequency, `0.5` is the square-root compromise). Epoch length is the
    /// dataset size.
    pub fn class_balanced(labels: &[usize], power: f64, seed: u64) -> Result<Self> {
        let w = class_balanced_weights(labels, power);
        Self::new(&w, labels.len(), seed)
    }
}

/// Per-sample weights `1 / n_c^power` for the sample's class `c`.
pub fn class_balanced_weights(labels: &[usize], power: f64) -> Vec<f64> {
    let c = labels.iter().copied().max().map_or(0, |m| m + 1);
    let mut counts = vec![0usize; c];
    for &l in labels {
        counts[l] += 1;
    }
    labels
        .iter()
        .map(|&l| 1.0 / (counts[l] as f64).powf(power))
        .collect()
}

impl Sampler for WeightedRandomSampler {
    fn indices(&self, epoch: usize) -> Vec<usize> {
        let mut rng = Rng::derive(self.seed, &[tag::WEIGHTED, epoch as u64]);
        let total = *self.cumulative.last().unwrap_or(&1.0);
        (0..self.num_samples)
            .map(|_| {
                let u = rng.next_f64() * total;
                // First index whose cumulative weight exceeds u (skips zero-weight samples).
                self.cumulative
                    .partition_point(|&c| c <= u)
                    .min(self.cumulative.len() - 1)
            })
            .collect()
    }

    fn epoch_len(&self) -> usize {
        self.num_samples
    }
}

/// Class-aware balanced batches (Shen et al. 2016): each batch holds `batch_size /
/// samples_per_class` classes, drawn round-robin from a reshuffled class list, and
/// `samples_per_class` samples of each, cycling through a reshuffled per-class list. Every
/// class is seen about equally often; within a class, every sample before any repeats.
#[derive(Clone, Debug)]
pub struct ClassAwareSampler {
    per_class: Vec<Vec<usize>>,
    batch_size: usize,
    samples_per_class: usize,
    num_batches: usize,
    seed: u64,
}

impl ClassAwareSampler {
    /// `batch_size` must be a multiple of `samples_per_class`; an epoch has
    /// `ceil(len / batch_size)` batches.
    pub fn new(
        labels: &[usize],
        batch_size: usize,
        samples_per_class: usize,
        seed: u64,
    ) -> Result<Self> {
        if samples_per_class == 0
            || batch_size == 0
            || !batch_size.is_multiple_of(samples_per_class)
        {
            return Err(DataError::InvalidConfig(format!(
                "batch_size {batch_size} must be a positive multiple of samples_per_class {samples_per_class}"
            )));
        }
        let c = labels.iter().copied().max().map_or(0, |m| m + 1);
        let mut per_class = vec![Vec::new(); c];
        for (i, &l) in labels.iter().enumerate() {
            per_class[l].push(i);
        }
        per_class.retain(|v| !v.is_empty());
        if per_class.is_empty() {
            return Err(DataError::Empty(
                "class-aware sampler over no samples".into(),
            ));
        }
        Ok(ClassAwareSampler {
            per_class,
            batch_size,
            samples_per_class,
            num_batches: labels.len().div_ceil(batch_size),
            seed,
        })
    }

    /// Overrides the number of batches per epoch.
    pub fn with_num_batches(mut self, num_batches: usize) -> Self {
        self.num_batches = num_batches;
        self
    }
}

impl Sampler for ClassAwareSampler {
    fn indices(&self, epoch: usize) -> Vec<usize> {
        let mut rng = Rng::derive(self.seed, &[tag::CLASS_AWARE, epoch as u64]);
        let nc = self.per_class.len();
        let mut class_order: Vec<usize> = (0..nc).collect();
        rng.shuffle(&mut class_order);
        let mut class_pos = 0;
        let mut lists: Vec<Vec<usize>> = self.per_class.clone();
        for l in &mut lists {
            rng.shuffle(l);
        }
        let mut pos = vec![0usize; nc];
        let mut out = Vec::with_capacity(self.num_batches * self.batch_size);
        let per_batch = self.batch_size / self.samples_per_class;
        for _ in 0..self.num_batches {
            for _ in 0..per_batch {
                if class_pos == nc {
                    rng.shuffle(&mut class_order);
                    class_pos = 0;
                }
                let c = class_order[class_pos];
                class_pos += 1;
                for _ in 0..self.samples_per_class {
                    if pos[c] == lists[c].len() {
                        rng.shuffle(&mut lists[c]);
                        pos[c] = 0;
                    }
                    out.push(lists[c][pos[c]]);
                    pos[c] += 1;
                }
            }
        }
        out
    }

    fn epoch_len(&self) -> usize {
        self.num_batches * self.batch_size
    }
}
