//! Integration tests of the store, each run against a fresh SQLite file and
//! a fresh PostgreSQL database.

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

mod accounts;
mod audit;
mod bookings;
mod calendars;
mod erasure;
mod harness;
mod isolation;
mod regions;
mod schema;
