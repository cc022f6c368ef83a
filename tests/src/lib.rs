//! Cross-crate test suites for Bookwarden.
//!
//! The suites live in `it/` (one test binary): today the tidy checks that
//! keep the architecture's invariants true; the tenant isolation suite
//! joins them with the server.
