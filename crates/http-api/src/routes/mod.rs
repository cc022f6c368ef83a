//! Every route, and the request and response bodies. Handlers are thin:
//! extract, call one app method, shape the answer.

pub(crate) mod accounts;
pub(crate) mod bookings;
pub(crate) mod calendars;
pub(crate) mod catalog;
pub(crate) mod ops;
pub(crate) mod rights;
pub(crate) mod sessions;

use actix_web::web;

/// Mounts every route.
pub(crate) fn configure(config: &mut web::ServiceConfig) {
    ops::configure(config);
    sessions::configure(config);
    accounts::configure(config);
    catalog::configure(config);
    bookings::configure(config);
    calendars::configure(config);
    rights::configure(config);
}
