//! Data-quality audit: run it before any training.
//!
//! Finds corrupt/unreadable and truncated files, channel-mode anomalies (greyscale, alpha,
//! 16-bit, CMYK among RGB), extension/content mismatches, size and aspect outliers, blank
//! images, exact duplicates (SHA-256), near-duplicates (pHash + dHash), duplicates across
//! train/val/test (leakage), one picture under two labels, and the class distribution
//! (counts, imbalance ratio, classes under a minimum). Files are processed in parallel and
//! streamed — each is read, decoded, fingerprinted and dropped — so memory grows only with
//! the small per-file records, and 100k-file folders work.

pub mod hash;
pub mod report;

pub use hash::{PerceptualHash, hamming, perceptual_hash, sha256_hex};
pub use report::{
    AuditConfig, AuditReport, ClassCount, Cluster, DuplicateGroup, FileIssue, FileRecord, FileRef,
    NearDuplicate, SplitDistribution, Totals, audit_datasets, audit_image_folder, inspect_file,
};
