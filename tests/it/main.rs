//! Cross-crate suites, in one test binary: the architecture checks and the
//! HTTP tenant-isolation suite.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stderr,
    missing_docs,
    unreachable_pub,
    reason = "tests fail loudly"
)]

// The server harness the HTTP API's own tests use, shared rather than copied.
#[allow(dead_code, reason = "a shared harness; this binary uses part of it")]
#[path = "../../crates/http-api/tests/it/harness.rs"]
mod harness;
mod isolation;
mod tidy;
