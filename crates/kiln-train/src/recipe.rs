//! The staged recipe: linear probe → gradual unfreeze → full fine-tune.

use serde::{Deserialize, Serialize};

/// Which backbone stages train in a recipe stage (the head always trains).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "n")]
pub enum Unfreeze {
    /// Head only: the linear probe. Runs on cached features when the cache is on.
    Head,
    /// The last `n` backbone stages (counted from the head backwards) plus the head.
    Last(usize),
    /// Everything.
    All,
}

/// Learning rates of the backbone stages relative to the head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageLr {
    /// Stage `k` steps below the head gets `decay^k` times the head's rate.
    Geometric {
        /// Factor per stage (e.g. 0.5).
        decay: f64,
    },
    /// Explicit multipliers in backbone order (stem first); missing entries are 1.
    Explicit(Vec<f64>),
}

impl StageLr {
    /// Multiplier of every stage, `num_stages` of them in model order (head last = 1).
    pub fn multipliers(&self, num_stages: usize) -> Vec<f64> {
        match self {
            StageLr::Geometric { decay } => (0..num_stages)
                .map(|i| decay.powi((num_stages - 1 - i) as i32))
                .collect(),
            StageLr::Explicit(m) => (0..num_stages)
                .map(|i| m.get(i).copied().unwrap_or(1.0))
                .collect(),
        }
    }
}

/// One stage of the recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageSpec {
    /// Name for logs (`"probe"`, `"unfreeze"`, `"full"`).
    pub name: String,
    /// Epochs of this stage.
    pub epochs: usize,
    /// What trains.
    pub unfreeze: Unfreeze,
    /// Peak learning rate of the head (AdamW).
    pub lr: f64,
    /// Per-stage learning-rate multipliers.
    pub stage_lr: StageLr,
    /// Linear warm-up as a fraction of the stage's steps, then cosine decay.
    pub warmup_fraction: f64,
    /// Final learning rate as a fraction of the peak.
    pub min_lr_fraction: f64,
}

impl StageSpec {
    /// A stage with the given name, epochs, unfreezing and peak LR; geometric decay 0.5,
    /// 10 % warm-up, cosine to 1 %.
    pub fn new(name: impl Into<String>, epochs: usize, unfreeze: Unfreeze, lr: f64) -> Self {
        Self {
            name: name.into(),
            epochs,
            unfreeze,
            lr,
            stage_lr: StageLr::Geometric { decay: 0.5 },
            warmup_fraction: 0.1,
            min_lr_fraction: 0.01,
        }
    }

    /// Set the per-stage learning-rate multipliers.
    pub fn with_stage_lr(mut self, stage_lr: StageLr) -> Self {
        self.stage_lr = stage_lr;
        self
    }

    /// Set the warm-up fraction.
    pub fn with_warmup(mut self, fraction: f64) -> Self {
        self.warmup_fraction = fraction;
        self
    }
}

/// The whole recipe plus the optimiser settings shared by its stages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// Stages in order.
    pub stages: Vec<StageSpec>,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
    /// Clip gradients to this global L2 norm over all trainable parameters (PyTorch's
    /// `clip_grad_norm_`); `None` disables clipping.
    pub clip_grad_norm: Option<f64>,
    /// AdamW epsilon. 1e-8 like PyTorch (Burn's default is 1e-5, which damps the updates of
    /// parameters whose gradients are small — typically the early, pretrained stages).
    #[serde(default = "default_eps")]
    pub adam_epsilon: f64,
}

fn default_eps() -> f64 {
    1e-8
}

impl Recipe {
    /// The classic recipe: probe 3 epochs (lr 1e-3) → last stage 5 epochs (3e-4) → all 7
    /// epochs (1e-4), discriminative LR halving per stage, weight decay 1e-4, clip norm 1.
    pub fn classic() -> Self {
        Self {
            stages: vec![
                StageSpec::new("probe", 3, Unfreeze::Head, 1e-3),
                StageSpec::new("unfreeze", 5, Unfreeze::Last(1), 3e-4),
                StageSpec::new("full", 7, Unfreeze::All, 1e-4),
            ],
            weight_decay: 1e-4,
            clip_grad_norm: Some(1.0),
            adam_epsilon: 1e-8,
        }
    }

    /// Only a linear probe of `epochs` epochs.
    pub fn probe(epochs: usize, lr: f64) -> Self {
        Self {
            stages: vec![StageSpec::new("probe", epochs, Unfreeze::Head, lr)],
            weight_decay: 1e-4,
            clip_grad_norm: None,
            adam_epsilon: 1e-8,
        }
    }

    /// A recipe from explicit stages.
    pub fn new(stages: Vec<StageSpec>) -> Self {
        Self {
            stages,
            weight_decay: 1e-4,
            clip_grad_norm: Some(1.0),
            adam_epsilon: 1e-8,
        }
    }

    /// Set the weight decay.
    pub fn with_weight_decay(mut self, wd: f64) -> Self {
        self.weight_decay = wd;
        self
    }

    /// Set (or disable) global-norm gradient clipping.
    pub fn with_clip_grad_norm(mut self, max_norm: Option<f64>) -> Self {
        self.clip_grad_norm = max_norm;
        self
    }

    /// Total epochs over all stages.
    pub fn total_epochs(&self) -> usize {
        self.stages.iter().map(|s| s.epochs).sum()
    }

    /// Scale every stage's epochs (at least one each), e.g. for a quick smoke run.
    pub fn scaled_epochs(mut self, factor: f64) -> Self {
        for s in &mut self.stages {
            s.epochs = ((s.epochs as f64 * factor).round() as usize).max(1);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometric_multipliers_decay_away_from_the_head() {
        let m = StageLr::Geometric { decay: 0.5 }.multipliers(4);
        assert_eq!(m, vec![0.125, 0.25, 0.5, 1.0]);
        let e = StageLr::Explicit(vec![0.1, 0.2]).multipliers(3);
        assert_eq!(e, vec![0.1, 0.2, 1.0]);
    }

    #[test]
    fn classic_recipe_shape() {
        let r = Recipe::classic();
        assert_eq!(r.total_epochs(), 15);
        assert_eq!(r.stages[0].unfreeze, Unfreeze::Head);
        assert_eq!(r.stages[2].unfreeze, Unfreeze::All);
    }
}
