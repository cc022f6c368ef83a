//! Security events for the append-only audit chain (P9), and how long each
//! kind is kept.

use jiff::{SignedDuration, Timestamp};

/// How serious an event is; it sets how long the event is kept.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Severity {
    /// Routine (a successful sign-in): kept 30 days.
    Info,
    /// Worth a look (a failed sign-in, a revoked key): kept 90 days.
    Notice,
    /// Changes access or data rights (role changes, exports, erasure,
    /// lockouts, denied cross-tenant attempts): kept 180 days.
    Critical,
}

impl Severity {
    /// Days an event of this severity is kept before the purge job may
    /// remove it.
    pub fn retention_days(self) -> u32 {
        match self {
            Self::Info => 30,
            Self::Notice => 90,
            Self::Critical => 180,
        }
    }
}

macro_rules! kinds {
    ($($variant:ident => $name:literal, $severity:ident;)*) => {
        /// A kind of security event.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        #[non_exhaustive]
        pub enum AuditKind {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
        }

        impl AuditKind {
            /// Every kind.
            pub const ALL: &'static [AuditKind] = &[$(AuditKind::$variant),*];

            /// The stable name stored in the chain.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }

            /// Parses a stored name.
            pub fn parse(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(Self::$variant),)*
                    _ => None,
                }
            }

            /// How serious it is.
            pub fn severity(self) -> Severity {
                match self {
                    $(Self::$variant => Severity::$severity,)*
                }
            }
        }
    };
}

kinds! {
    LoginSucceeded => "login.succeeded", Info;
    LoginFailed => "login.failed", Notice;
    LoginNewSource => "login.new_source", Notice;
    Lockout => "login.lockout", Critical;
    Logout => "logout", Info;
    PasswordChanged => "password.changed", Critical;
    PasswordResetForced => "password.reset_forced", Critical;
    RoleChanged => "role.changed", Critical;
    TotpEnabled => "totp.enabled", Critical;
    TotpDisabled => "totp.disabled", Critical;
    RecoveryCodeUsed => "totp.recovery_code_used", Critical;
    ApiKeyCreated => "api_key.created", Notice;
    ApiKeyRevoked => "api_key.revoked", Notice;
    SessionRevoked => "session.revoked", Info;
    UserInvited => "user.invited", Notice;
    InvitationWithdrawn => "user.invitation_withdrawn", Notice;
    UserJoined => "user.joined", Notice;
    UserEnabled => "user.enabled", Critical;
    TenantCreated => "tenant.created", Notice;
    TenantPlanChanged => "tenant.plan_changed", Notice;
    TenantStatusChanged => "tenant.status_changed", Critical;
    UserDisabled => "user.disabled", Critical;
    CalendarConnected => "calendar.connected", Notice;
    CalendarDisconnected => "calendar.disconnected", Notice;
    CalendarRevoked => "calendar.revoked", Critical;
    CalendarModeChanged => "calendar.mode_changed", Notice;
    CalendarPolicyChanged => "calendar.fail_policy_changed", Notice;
    DataExported => "data.exported", Critical;
    CustomerErased => "customer.erased", Critical;
    DataRequestCreated => "data_request.created", Critical;
    TenantErased => "tenant.erased", Critical;
    LegalHoldChanged => "tenant.legal_hold_changed", Critical;
    UnknownId => "access.unknown_id", Notice;
    AuditPurged => "audit.purged", Notice;
}

/// Whether an entry stored under the kind name `kind`, appended at `at`,
/// has outlived its retention at `now` and may be purged. A name this
/// version does not know (written by a newer one) is kept as long as the
/// longest retention.
pub fn expired(kind: &str, at: Timestamp, now: Timestamp) -> bool {
    let severity = AuditKind::parse(kind).map_or(Severity::Critical, AuditKind::severity);
    let kept = SignedDuration::from_hours(24 * i64::from(severity.retention_days()));
    at.checked_add(kept).is_ok_and(|until| until <= now)
}
