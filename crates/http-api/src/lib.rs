//! Bookwarden's HTTP API on actix-web: routes, strict request parsing,
//! `application/problem+json` errors, authentication extractors, rate
//! limits, metrics and security headers. It sees only the `app` and
//! `domain` crates, never storage.

pub mod config;
mod dto;
mod envelope;
mod extract;
mod openapi;
mod parse;
mod problem;
mod routes;
mod server;
mod state;
pub mod telemetry;

pub use dto::chain_break;
pub use envelope::REQUEST_ID;
pub use extract::{CSRF_HEADER, SESSION_COOKIE};
pub use openapi::openapi_json;
pub use problem::{INTERNAL_DETAIL, PROBLEM_JSON};
pub use server::{Listen, StartError, start, tls_config};
