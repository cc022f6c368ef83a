//! The app layer on its own: use cases driven directly, without HTTP, over
//! a fresh SQLite file and a clock the tests move, as the design card asks
//! ("each layer is tested in isolation"). The HTTP suite covers the same
//! behaviour end to end; these pin what `app` itself decides.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    unreachable_pub,
    reason = "integration tests fail loudly"
)]

mod backup;
mod rights;
mod use_cases;
