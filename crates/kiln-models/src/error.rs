//! Typed errors of model creation and weight import.

use std::path::PathBuf;

/// Everything that can go wrong when creating a backbone or importing weights into it.
///
/// Import errors name the offending key and, for shape mismatches, both shapes, so a user
/// who loaded the wrong file sees at once which file it was meant for.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The architecture name is not in the registry.
    #[error("unknown architecture '{name}'; known: {known}")]
    UnknownArch {
        /// The name asked for.
        name: String,
        /// Comma-separated list of the registered names.
        known: String,
    },
    /// A configuration value is out of range (e.g. zero classes).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The weight file does not exist or cannot be opened.
    #[error("cannot read weights file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The file exists but is not a readable checkpoint of the expected format
    /// (truncated, corrupted, or not weights at all).
    #[error("{path} is not a readable {format} checkpoint: {reason}")]
    UnreadableCheckpoint {
        /// The file.
        path: PathBuf,
        /// The format that was tried.
        format: &'static str,
        /// What the reader said.
        reason: String,
    },
    /// The file's extension does not say which format it is.
    #[error(
        "cannot tell the weight format of {0}: use .pth/.pt/.bin (PyTorch), .safetensors or .bpk (burnpack)"
    )]
    UnknownFormat(PathBuf),
    /// A tensor's shape in the file differs from the model's.
    #[error("shape mismatch for '{key}': the model expects {expected:?}, the file has {found:?}")]
    ShapeMismatch {
        /// The model's parameter path (torchvision key naming).
        key: String,
        /// The model's shape.
        expected: Vec<usize>,
        /// The file's shape (after layout adaptation, e.g. Linear transposed).
        found: Vec<usize>,
    },
    /// The model has parameters that the file does not provide.
    #[error("{} model parameter(s) missing from the weights file, e.g. '{}'{}", .keys.len(), .keys.first().map(String::as_str).unwrap_or(""), unused_hint(.unused))]
    MissingKeys {
        /// All the missing keys.
        keys: Vec<String>,
        /// File tensors that no parameter took (a hint that the file is for another
        /// architecture or key layout).
        unused: Vec<String>,
    },
    /// The file has tensors that no model parameter takes.
    #[error("{} unexpected tensor(s) in the weights file, e.g. '{}'", .keys.len(), .keys.first().map(String::as_str).unwrap_or(""))]
    UnexpectedKeys {
        /// All the unexpected keys.
        keys: Vec<String>,
    },
    /// Any other failure while applying tensors (dtype, adapter).
    #[error("cannot apply '{key}': {reason}")]
    Apply {
        /// The key.
        key: String,
        /// What went wrong.
        reason: String,
    },
    /// Writing a checkpoint failed.
    #[error("cannot write checkpoint {path}: {reason}")]
    Write {
        /// The destination.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

fn unused_hint(unused: &[String]) -> String {
    match unused.first() {
        Some(k) => format!(
            "; {} file tensor(s) fit no parameter, e.g. '{k}': is the file for another architecture or key layout?",
            unused.len()
        ),
        None => String::new(),
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;
