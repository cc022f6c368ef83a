//! What a use case can answer instead of a result. Each variant is a
//! decision the HTTP layer maps to one status and one stable code; the
//! internal ones keep their cause for the log and show none of it to the
//! caller.

use std::time::Duration;

use bookwarden_crypto::password::{PasswordError, PolicyViolation};
use bookwarden_persistence::StoreError;

/// Why a use case did not succeed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// A field of the request is not acceptable.
    #[error("`{field}` is not valid: {reason}")]
    Invalid {
        /// The request field.
        field: &'static str,
        /// A safe explanation.
        reason: String,
    },
    /// A new password breaks the password policy.
    #[error("the new password is not acceptable: {0}")]
    WeakPassword(#[source] PolicyViolation),
    /// Unknown business, unknown email, wrong password or a disabled
    /// account: deliberately one answer.
    #[error("the email or password is wrong")]
    LoginFailed,
    /// The password was right and a two-factor code is needed.
    #[error("a two-factor code is required")]
    OtpRequired,
    /// The two-factor or recovery code was wrong or already used.
    #[error("the two-factor code is wrong")]
    OtpInvalid,
    /// The password must be changed before signing in.
    #[error("the password must be changed; send new_password")]
    ResetRequired,
    /// Too many failed sign-ins: the account is locked for a while.
    #[error("too many failed sign-ins; try again later")]
    Locked {
        /// Until the lock lapses.
        retry_after: Duration,
    },
    /// No valid credential came with the request.
    #[error("authentication is required")]
    Unauthenticated,
    /// The credential is valid but may not do this.
    #[error("this account may not do that")]
    Forbidden,
    /// Nothing by that id in the caller's tenant (whether it exists in
    /// another tenant is never revealed).
    #[error("not found")]
    NotFound,
    /// The request conflicts with what exists.
    #[error("{}", .0.code())]
    Conflict(Conflict),
    /// The invitation is unknown, used or expired.
    #[error("the invitation is not valid")]
    InvitationInvalid,
    /// The password-reset token is unknown, used or expired.
    #[error("the reset token is not valid")]
    ResetTokenInvalid,
    /// The server is saturated (the password hashing queue is full).
    #[error("the server is busy; try again shortly")]
    Busy,
    /// Something failed inside; the cause is for the log only.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// What a request conflicts with. Each has a stable code that clients see
/// (`code` in the problem body), so callers match on the variant, never on
/// text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Conflict {
    /// The booking is cancelled.
    BookingCancelled,
    /// The booking is not awaiting confirmation.
    BookingNotRequested,
    /// The booking has already started.
    BookingStarted,
    /// The business does not take bookings now.
    BusinessClosed,
    /// A customer with that email is on file.
    CustomerExists,
    /// A value that must be unique is taken.
    Duplicate,
    /// The business's plan has no calendar connections.
    PlanWithoutCalendars,
    /// The email already has an account in this business.
    EmailTaken,
    /// The idempotency key was used for another request.
    IdempotencyKeyReused,
    /// It is still in use.
    InUse,
    /// The change would leave the business without an active owner.
    LastOwner,
    /// The business is under a legal hold: nothing of it is erased.
    LegalHold,
    /// No two-factor enrollment is pending.
    NoTotpEnrollment,
    /// Something the request refers to changed meanwhile.
    ReferenceChanged,
    /// The service still has bookings.
    ServiceInUse,
    /// The time is no longer available.
    SlotTaken,
    /// A sync of this calendar is running now.
    SyncRunning,
    /// The change needs the provider's consent again: connect anew.
    ReconnectRequired,
    /// The slug belongs to another business.
    SlugTaken,
    /// The staff member still has bookings or services.
    StaffInUse,
    /// Two-factor is already on.
    TotpAlreadyEnabled,
    /// Two-factor is not on.
    TotpNotEnabled,
    /// The account already has a staff member.
    UserAlreadyStaff,
}

impl Conflict {
    /// The stable code clients see.
    pub fn code(self) -> &'static str {
        match self {
            Self::BookingCancelled => "booking_cancelled",
            Self::BookingNotRequested => "booking_not_requested",
            Self::BookingStarted => "booking_started",
            Self::BusinessClosed => "business_closed",
            Self::CustomerExists => "customer_exists",
            Self::Duplicate => "duplicate",
            Self::PlanWithoutCalendars => "plan_without_calendars",
            Self::EmailTaken => "email_taken",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::InUse => "in_use",
            Self::LastOwner => "last_owner",
            Self::LegalHold => "legal_hold",
            Self::NoTotpEnrollment => "no_totp_enrollment",
            Self::ReferenceChanged => "reference_changed",
            Self::ServiceInUse => "service_in_use",
            Self::SlotTaken => "slot_taken",
            Self::ReconnectRequired => "reconnect_required",
            Self::SyncRunning => "sync_running",
            Self::SlugTaken => "slug_taken",
            Self::StaffInUse => "staff_in_use",
            Self::TotpAlreadyEnabled => "totp_already_enabled",
            Self::TotpNotEnabled => "totp_not_enabled",
            Self::UserAlreadyStaff => "user_already_staff",
        }
    }
}

impl AppError {
    /// An internal failure with its cause.
    pub fn internal(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(cause))
    }

    /// An invalid request field.
    pub fn invalid(field: &'static str, reason: impl std::fmt::Display) -> Self {
        Self::Invalid {
            field,
            reason: reason.to_string(),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Retry | StoreError::CatalogChanged => Self::Busy,
            // Concurrent changes a client can meet: not internal failures.
            StoreError::Duplicate(_) => Self::Conflict(Conflict::Duplicate),
            StoreError::MissingReference(_) => Self::Conflict(Conflict::ReferenceChanged),
            StoreError::InUse(_) => Self::Conflict(Conflict::InUse),
            StoreError::SlotTaken => Self::Conflict(Conflict::SlotTaken),
            StoreError::LastOwner => Self::Conflict(Conflict::LastOwner),
            StoreError::LegalHold => Self::Conflict(Conflict::LegalHold),
            StoreError::NoTenant => Self::NotFound,
            other => Self::internal(other),
        }
    }
}

impl From<PasswordError> for AppError {
    fn from(error: PasswordError) -> Self {
        match error {
            PasswordError::Busy { .. } => Self::Busy,
            other => Self::internal(other),
        }
    }
}
