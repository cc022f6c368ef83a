//! The calendar sync crate's tests: recurrences expanded to the instants
//! written by hand, minimization, hostile input, and a feed served over
//! loopback HTTP.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod feed;
mod props;
mod recurrence;
mod support;
