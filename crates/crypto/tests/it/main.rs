//! The integration tests of `bookwarden-crypto`, one binary. Each test name
//! starts with the promise it guards (`p2_` passwords, `p3_` vault, `p6_`
//! tokens, `p14_` TOTP). The Wycheproof vectors and the AAD-binding tests
//! drive crate-private layers, so they are unit tests in `src/aead.rs`,
//! `src/kdf.rs` and `src/vault.rs`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stderr,
    reason = "tests fail loudly on purpose, and say why they skip"
)]

mod password;
mod stream;
mod token;
mod totp;
mod vault;

/// A `proptest` configuration with `cases` cases (at least 256 for the vault
/// properties).
pub(crate) fn cases(cases: u32) -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases,
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    }
}
