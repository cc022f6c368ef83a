//! Cross-crate test suites for Bookwarden.
//!
//! The suites live in `it/` (one test binary): today the tidy checks that
//! keep the architecture's invariants true; the tenant isolation suite
//! joins them with the server.

use std::path::PathBuf;

/// The release `bookwarden` binary the benchmarks run in its own process
/// (built by `cargo xtask bench`).
///
/// # Panics
/// When it has not been built, saying how to build it.
pub fn release_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    let path = target.join("release/bookwarden");
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask bench`, which builds it",
        path.display()
    );
    path
}
