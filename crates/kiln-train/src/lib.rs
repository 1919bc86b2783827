//! kiln train crate.
