//! Bookwarden's domain: the pure model and rules of appointment booking.
//!
//! Tenants, accounts, services, intake forms, schedules, bookings and the
//! slot engine, with no I/O, no async and no knowledge of HTTP or storage.
//! Every value that comes from outside is parsed into a type whose
//! constructor refuses what is invalid, with a typed error; every entity has
//! its own id type.

pub mod account;
pub mod audit;
pub mod booking;
pub mod calendar;
pub mod data_request;
pub mod id;
pub mod intake;
pub mod schedule;
pub mod service;
pub mod sign_in;
pub mod slots;
pub mod tenant;
pub mod text;
pub mod time;

pub use jiff;
