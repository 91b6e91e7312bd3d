//! Benchmarks for `lms-webhooks` live in `benches/`: `cargo bench -p lms-webhooks-benches`.
//! This package is separate from the crate so that building its examples and tests never
//! builds criterion and the reference crates.
