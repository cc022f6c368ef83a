//! The HTTP API end to end, over real loopback HTTP: sign-up and sign-in,
//! sessions, two-factor, invitations, roles, API keys, audit, hostile
//! input, request limits, the binary itself (and the isolation check
//! aimed at it), staff calendars (a fake feed and a real CalDAV server),
//! login timing and a login flood.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr,
    missing_docs,
    unreachable_pub,
    reason = "integration tests fail loudly and index fixed responses"
)]

mod accounts;
mod auth;
mod binary;
mod booking;
mod calendars;
mod conformance;
mod edges;
mod harness;
mod isolation_check;
mod limits;
mod load;
mod recipes;
mod residency;
mod rights;
