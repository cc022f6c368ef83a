//! Bookwarden's tenant-sealed store, on SQLite (the embedded default, one
//! file in WAL mode) and PostgreSQL, through sea-orm.
//!
//! Tenant data is reached only through a [`TenantScope`], a transaction
//! bound to one tenant, got from [`Store::write`] or [`Store::read`]. Every
//! table carries `tenant_id`, every key and reference is composite
//! `(tenant_id, id)`, and PostgreSQL adds row-level security keyed on a
//! transaction-local setting. Overlapping bookings of one staff member are
//! refused by the database itself.

mod access;
mod accounts;
mod audit;
mod bookings;
mod calendars;
mod combine;
mod db;
mod entity;
mod error;
mod migrate;
mod people;
mod rows;
mod services;
mod store;
mod tenants;

pub use access::{
    FailureOutcome, InvitationRecord, Invitations, LoginThrottle, ThrottleRule, ThrottleState,
};
pub use accounts::{
    ApiKeyRecord, ApiKeys, CredentialKind, SessionRecord, Sessions, UserRecord, Users,
};
pub use audit::{AuditEntry, AuditEvent, ChainBreak, ChainStatus};
pub use bookings::{BookingExtras, Bookings, Created, Idempotency};
pub use calendars::{Calendars, ConnectionRecord};
pub use error::{DatabaseError, StoreError};
pub use migrate::{grant_app_role, migrate};
pub use people::{Customers, Staff};
pub use services::{Schedules, Services};
pub use store::{RegionDatabase, Store, StoreConfig, System, TenantScope};
pub use tenants::StoredDataKey;
