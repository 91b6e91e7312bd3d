//! The property tests and reference-crate interop of `lms-webhooks` live in `tests/`:
//! `cargo test -p lms-webhooks-checks` (the README's `cargo test --workspace` runs them).
