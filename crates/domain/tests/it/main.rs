//! Integration tests of the domain crate: every refusal of every
//! constructor, the booking lifecycle, intake validation, the slot engine's
//! rules, its properties and its behaviour across daylight saving time.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs,
    unreachable_pub,
    reason = "tests fail loudly"
)]

mod audit;
mod booking;
mod calendar;
mod dst;
mod intake;
mod props;
mod refusals;
mod slots;
mod support;
