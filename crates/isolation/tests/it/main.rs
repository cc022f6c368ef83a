//! The `bookwarden-isolation-check` binary against fake deployments on
//! loopback: one that leaks (it answers any business's id it issued,
//! whoever asks), one that does not, and its `--help`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    unreachable_pub,
    reason = "integration tests fail loudly"
)]

mod binary;
mod fake;
