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
