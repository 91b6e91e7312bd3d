//! Replays the committed fuzz corpus (`tests/fuzz/<target>/`) through the same harnesses the
//! libFuzzer targets in `fuzz/` run, on the stable toolchain: the seeds, and every input a
//! fuzzer ever crashed on (files named `crash-*`), so a fixed bug stays fixed.
//!
//! Running the fuzzers themselves: see `fuzz/README.md`.

#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::Path;

/// Replays `tests/fuzz/<target>/`, and `$FUZZ_CORPUS/<target>/` too when that variable names
/// a local corpus (e.g. `FUZZ_CORPUS=fuzz/corpus` after a fuzzing run; corpora stay out of the
/// repository).
fn replay(target: &str, harness: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = vec![root.join("tests/fuzz").join(target)];
    if let Some(extra) = std::env::var_os("FUZZ_CORPUS") {
        dirs.push(root.join(extra).join(target));
    }
    let mut entries = Vec::new();
    for dir in &dirs {
        let listing = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        entries.extend(listing.map(|entry| entry.expect("a readable directory").path()));
    }
    entries.sort();
    assert!(!entries.is_empty(), "no inputs in {dirs:?}");
    for path in &entries {
        let data = std::fs::read(path).expect("a readable input");
        let name = path.display().to_string();
        if let Err(panic) = std::panic::catch_unwind(|| harness(&data)) {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            panic!("{name}: {message}");
        }
    }
    eprintln!("{target}: {} inputs replayed", entries.len());
}

#[test]
fn signature_corpus() {
    replay("signature", harness::signature);
}

#[test]
fn decrypt_corpus() {
    replay("decrypt", harness::decrypt);
}

#[test]
fn envelope_corpus() {
    replay("envelope", harness::envelope);
}

#[test]
fn url_policy_corpus() {
    replay("url_policy", harness::url_policy);
}

#[test]
fn retry_after_corpus() {
    replay("retry_after", harness::retry_after);
}
