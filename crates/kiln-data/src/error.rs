//! Typed errors of kiln-data.
//!
//! Every failure that comes from user data (a file, a folder layout, a manifest, a
//! configuration) is a [`DataError`] naming the path or value at fault, so callers can report
//! it precisely instead of unwinding through a panic.

use std::path::PathBuf;

/// Everything that can go wrong while reading, transforming or auditing data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file or folder could not be read or written.
    #[error("I/O error at {path}: {source}")]
    Io {
        /// The path being accessed.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// A file exists but is not a decodable image of a supported format.
    #[error("cannot decode image {path}: {reason}")]
    Decode {
        /// The image file.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// The dataset root has no `train/` folder.
    #[error(
        "{root} has no train/ folder (expected root/train/<class>/<image>; use Dataset::from_class_folders for a single split folder)"
    )]
    MissingTrain {
        /// The dataset root.
        root: PathBuf,
    },
    /// A folder has no class sub-folders.
    #[error("no class folders found under {0}")]
    NoClasses(PathBuf),
    /// A class folder of `val/` or `test/` (or a manifest label) is not a class of `train/`.
    #[error("class `{class}` in {split} is not one of the training classes [{known}]")]
    UnknownClass {
        /// Which split or manifest the class was found in.
        split: String,
        /// The unknown class name.
        class: String,
        /// The training classes, comma separated.
        known: String,
    },
    /// A CSV manifest line could not be parsed.
    #[error("manifest {path}, line {line}: {reason}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A configuration value is out of range or inconsistent.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A split cannot be made (too few samples or groups, bad fraction).
    #[error("cannot split: {0}")]
    Split(String),
    /// A dataset or batch that must not be empty is empty.
    #[error("empty: {0}")]
    Empty(String),
    /// An IDX (MNIST-style) file is malformed.
    #[error("IDX file {path}: {reason}")]
    Idx {
        /// The IDX file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// JSON (de)serialisation failed.
    #[error("JSON error for {path}: {source}")]
    Json {
        /// The file being written or read.
        path: PathBuf,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// An image operation (resize, encode) failed.
    #[error("image operation failed: {0}")]
    Image(String),
    /// The loader's background worker stopped unexpectedly.
    #[error("data loader worker stopped: {0}")]
    Worker(String),
}

/// Result alias of kiln-data.
pub type Result<T> = std::result::Result<T, DataError>;

impl DataError {
    /// Wraps an I/O error with the path it happened at.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }

    /// A decode error for `path`.
    pub fn decode(path: impl Into<PathBuf>, reason: impl ToString) -> Self {
        DataError::Decode {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}
