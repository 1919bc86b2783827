//! Progress bars (indicatif) and one summary line per epoch on stderr.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Progress reporting for a run; silent when disabled.
#[derive(Debug, Clone)]
pub struct Progress {
    enabled: bool,
}

/// The bar of one epoch.
#[derive(Debug)]
pub struct EpochBar {
    bar: Option<ProgressBar>,
    started: std::time::Instant,
}

impl Progress {
    /// Reporting on stderr when `enabled`.
    pub fn new(enabled: bool) -> Self {
        Self { enabled }
    }

    /// A line above the bars.
    pub fn note(&self, msg: &str) {
        if self.enabled {
            eprintln!("{msg}");
        }
    }

    /// A bar for `steps` steps of `epoch` in `stage`.
    pub fn epoch(&self, stage: &str, epoch: usize, steps: usize) -> EpochBar {
        let bar = self.enabled.then(|| {
            let b = ProgressBar::with_draw_target(Some(steps as u64), ProgressDrawTarget::stderr());
            let style =
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ETA {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
            b.set_style(style.progress_chars("=> "));
            b.set_prefix(format!("{stage} epoch {epoch}"));
            b
        });
        EpochBar {
            bar,
            started: std::time::Instant::now(),
        }
    }
}

impl EpochBar {
    /// One step done with `loss`; `seen` images so far this epoch.
    pub fn step(&self, loss: f32, seen: usize) {
        if let Some(b) = &self.bar {
            let rate = seen as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
            b.set_message(format!("loss {loss:.4} {rate:.1} img/s"));
            b.inc(1);
        }
    }

    /// Clear the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
