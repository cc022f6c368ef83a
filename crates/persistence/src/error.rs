//! What can go wrong in the store, as one typed error.

use sea_orm::{DbErr, RuntimeErr};

/// Why a store operation failed.
///
/// `Debug` never shows a database error's details: PostgreSQL puts row
/// values there ("Key (email)=(...)", "Failing row contains (...)"), which
/// can be personal data or hashes. It shows the error code only.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The time asked for overlaps time the staff member already holds, or
    /// every seat is taken. Under a PostgreSQL race the loser may see a
    /// deadlock instead of the exclusion violation; both land here.
    #[error("that time is no longer available")]
    SlotTaken,
    /// A value that must be unique is taken (an email, a slug, a staff
    /// member's schedule).
    #[error("{} is already taken", .0.as_str())]
    Duplicate(Unique),
    /// The row refers to a row that does not exist in this tenant.
    #[error("a referenced {0} does not exist")]
    MissingReference(&'static str),
    /// The row cannot be removed while others refer to it.
    #[error("the {0} is still in use")]
    InUse(&'static str),
    /// The booking was checked against rules (the tenant, its services,
    /// staff and schedules) that have changed since; check it again.
    #[error("the business's services or hours changed; check again")]
    CatalogChanged,
    /// A concurrent request with the same idempotency key is being
    /// stored; retrying returns its booking.
    #[error("a request with the same idempotency key is in progress; retry")]
    Retry,
    /// The same idempotency key was used with a different request.
    #[error("the idempotency key was used for a different request")]
    IdempotencyMismatch,
    /// A stored row no longer parses into its domain type.
    #[error("stored {table} row is invalid: {reason}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What failed to parse.
        reason: String,
    },
    /// The tenant has no data key (never made, or destroyed).
    #[error("the tenant has no data key")]
    NoDataKey,
    /// The tenant's data key could not be made, wrapped or unwrapped.
    #[error("the tenant's data key")]
    Vault(#[from] bookwarden_crypto::vault::KeyRingError),
    /// The change would leave the tenant without an active owner.
    #[error("the business would have no active owner")]
    LastOwner,
    /// A legal hold on the tenant forbids erasing its data now.
    #[error("the business is under a legal hold")]
    LegalHold,
    /// No business has this id (or its row is gone).
    #[error("no such business")]
    NoTenant,
    /// A value of another tenant was handed to this tenant's scope.
    #[error("the value belongs to another tenant")]
    WrongTenant,
    /// The configuration names no database for this region.
    #[error("no database is configured for region {0}")]
    UnknownRegion(String),
    /// The configuration is unusable.
    #[error("invalid store configuration: {0}")]
    Config(String),
    /// The database failed or refused for another reason.
    #[error("database error")]
    Database(#[source] DatabaseError),
}

/// A database failure the store has no better name for. Its cause goes to
/// the log through [`std::error::Error::source`]; no sea-orm or sqlx type
/// is part of this crate's API, so the driver can change without breaking
/// embedders. `Debug` shows only the database's error code.
pub struct DatabaseError(DbErr);

impl DatabaseError {
    /// The database's error code: SQLSTATE on PostgreSQL, the extended
    /// result code on SQLite, when the database gave one.
    pub fn code(&self) -> Option<String> {
        match &self.0 {
            DbErr::Exec(RuntimeErr::SqlxError(inner))
            | DbErr::Query(RuntimeErr::SqlxError(inner)) => match &**inner {
                sea_orm::sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
                _ => None,
            },
            _ => None,
        }
    }
}

impl std::fmt::Display for DatabaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Debug for DatabaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "DatabaseError(code: {})",
            self.code().as_deref().unwrap_or("none")
        )
    }
}

impl std::error::Error for DatabaseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// What a unique rule found taken, so callers match on a variant rather
/// than on text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unique {
    /// A business's slug.
    Slug,
    /// An account's email in its tenant.
    Email,
    /// A customer's email in its tenant.
    CustomerEmail,
    /// The user account a staff member is linked to.
    StaffUser,
    /// A service.
    Service,
    /// A staff member's schedule.
    Schedule,
    /// A booking (its id or manage link).
    Booking,
    /// A token digest in the credential directory.
    Credential,
    /// An API key.
    ApiKey,
    /// A session.
    Session,
    /// An invitation.
    Invitation,
}

impl Unique {
    /// What was taken, in words.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slug => "slug",
            Self::Email => "email",
            Self::CustomerEmail => "customer",
            Self::StaffUser => "staff member",
            Self::Service => "service",
            Self::Schedule => "schedule",
            Self::Booking => "booking",
            Self::Credential => "credential",
            Self::ApiKey => "API key",
            Self::Session => "session",
            Self::Invitation => "invitation",
        }
    }
}

/// The table whose unique rule `err` broke: PostgreSQL names it; SQLite
/// puts it first in its message (`UNIQUE constraint failed: customers.email`).
pub(crate) fn unique_table(err: &DbErr) -> Option<String> {
    let (DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) = err
    else {
        return None;
    };
    let sea_orm::sqlx::Error::Database(db) = &**e else {
        return None;
    };
    if let Some(table) = db.table() {
        return Some(table.to_owned());
    }
    let (_, rest) = db.message().split_once("UNIQUE constraint failed: ")?;
    rest.split_once('.')
        .map(|(table, _)| table.trim().to_owned())
}

/// What a database error means to the store.
pub(crate) enum Refusal {
    /// A no-overlap rule fired (exclusion constraint, trigger, or a
    /// deadlock between two racing inserts).
    Overlap,
    /// A unique constraint.
    Unique,
    /// A foreign key.
    ForeignKey,
    /// A CHECK constraint (such as seats above capacity).
    Check,
    /// The booking statement's catalog version is not the tenant's.
    CatalogChanged,
}

/// Reads the database's error code (SQLSTATE on PostgreSQL, the extended
/// result code or our trigger's message on SQLite).
pub(crate) fn refusal(err: &DbErr) -> Option<Refusal> {
    let (DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) = err
    else {
        return None;
    };
    let sea_orm::sqlx::Error::Database(db) = &**e else {
        return None;
    };
    if db.message().contains("bookwarden_slot_taken") {
        return Some(Refusal::Overlap);
    }
    if db.message().contains("bookwarden_catalog_changed") {
        return Some(Refusal::CatalogChanged);
    }
    // The booking's customer was erased meanwhile: as if they were gone.
    if db.message().contains("bookwarden_customer_erased") {
        return Some(Refusal::ForeignKey);
    }
    match db.code().as_deref() {
        // exclusion_violation, deadlock_detected, serialization_failure
        Some("23P01" | "40P01" | "40001") => Some(Refusal::Overlap),
        // unique_violation; SQLite: SQLITE_CONSTRAINT_UNIQUE, _PRIMARYKEY
        Some("23505" | "2067" | "1555") => Some(Refusal::Unique),
        // foreign_key_violation; SQLite: SQLITE_CONSTRAINT_FOREIGNKEY
        Some("23503" | "787") => Some(Refusal::ForeignKey),
        // check_violation; SQLite: SQLITE_CONSTRAINT_CHECK
        Some("23514" | "275") => Some(Refusal::Check),
        _ => None,
    }
}

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        Self::Database(DatabaseError(err))
    }
}

impl std::fmt::Debug for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Database(e) => {
                write!(
                    f,
                    "Database(code: {})",
                    e.code().as_deref().unwrap_or("none")
                )
            }
            Self::LastOwner => f.write_str("LastOwner"),
            Self::LegalHold => f.write_str("LegalHold"),
            Self::NoTenant => f.write_str("NoTenant"),
            Self::NoDataKey => f.write_str("NoDataKey"),
            Self::Vault(e) => write!(f, "Vault({e})"),
            Self::SlotTaken => f.write_str("SlotTaken"),
            Self::CatalogChanged => f.write_str("CatalogChanged"),
            Self::Duplicate(what) => write!(f, "Duplicate({what:?})"),
            Self::MissingReference(what) => write!(f, "MissingReference({what:?})"),
            Self::InUse(what) => write!(f, "InUse({what:?})"),
            Self::Retry => f.write_str("Retry"),
            Self::IdempotencyMismatch => f.write_str("IdempotencyMismatch"),
            Self::WrongTenant => f.write_str("WrongTenant"),
            Self::Corrupt { table, reason } => write!(f, "Corrupt({table}: {reason})"),
            Self::UnknownRegion(region) => write!(f, "UnknownRegion({region})"),
            Self::Config(what) => write!(f, "Config({what})"),
        }
    }
}
