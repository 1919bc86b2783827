//! Typed errors of training and inference.

/// Everything that can go wrong in kiln-train.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A data problem (unreadable image, bad folder, …).
    #[error(transparent)]
    Data(#[from] kiln_data::DataError),
    /// A model problem (unknown architecture, weights that do not fit, …).
    #[error(transparent)]
    Model(#[from] kiln_models::ModelError),
    /// A loss problem (bad targets, invalid loss configuration, …).
    #[error(transparent)]
    Loss(#[from] kiln_losses::LossError),
    /// A metrics problem (NaN logits, …).
    #[error(transparent)]
    Metrics(#[from] kiln_metrics::MetricsError),
    /// The loss became NaN or infinite; the last good checkpoint is kept.
    #[error(
        "non-finite loss in stage '{stage}', epoch {epoch}, step {step}: training stopped; the last checkpoint is the last good state (lower the learning rate or check the data)"
    )]
    NonFiniteLoss {
        /// Recipe stage.
        stage: String,
        /// Epoch.
        epoch: usize,
        /// Step within the stage.
        step: usize,
    },
    /// A data-parallel replica failed (its thread panicked inside the backend).
    #[error("data-parallel replica on {device} failed: {message}")]
    Replica {
        /// The replica's device.
        device: String,
        /// What the replica reported.
        message: String,
    },
    /// A configuration that cannot run.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// Reading or writing run files failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;
