//! The calendar sync crate's tests: recurrences expanded to the instants
//! written by hand, minimization, hostile input, a feed served over
//! loopback HTTP, and a real CalDAV server (Radicale).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr,
    reason = "tests fail loudly, and say why they skip"
)]

mod caldav;
mod fake_provider;
mod feed;
mod props;
mod providers;
mod radicale;
mod recurrence;
mod support;
