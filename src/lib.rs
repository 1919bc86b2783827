//! Host package of the kiln workspace's examples, integration tests and benchmarks.
//!
//! Nothing here is public API; see the `kiln` crate.
