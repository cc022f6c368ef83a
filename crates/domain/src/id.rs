//! One identifier type per entity, so that a booking id can never be passed
//! where a tenant id is expected.
//!
//! Ids are random (UUID v4): they reveal neither creation order nor volume,
//! and guessing a valid one is hopeless.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

/// The text given for an id is not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {entity} id")]
pub struct IdParseError {
    entity: &'static str,
    #[source]
    source: uuid::Error,
}

impl IdParseError {
    /// The kind of entity whose id failed to parse.
    pub fn entity(&self) -> &'static str {
        self.entity
    }
}

macro_rules! entity_id {
    ($(#[$doc:meta])* $name:ident, $entity:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh random id.
            pub fn random() -> Self {
                Self(Uuid::new_v4())
            }

            /// Rebuilds an id from a stored UUID.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID behind this id, for storage.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }

            /// The id as 16 bytes, for binding into cryptographic contexts.
            pub const fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::try_parse(s)
                    .map(Self)
                    .map_err(|source| IdParseError { entity: $entity, source })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0.hyphenated())
            }
        }
    };
}

entity_id!(
    /// A tenant: one business, sealed off from every other.
    TenantId,
    "tenant"
);
entity_id!(
    /// A person with an account in a tenant (owner, admin or staff).
    UserId,
    "user"
);
entity_id!(
    /// A staff member who can be booked; linked to at most one user account.
    StaffId,
    "staff"
);
entity_id!(
    /// An end client who books appointments.
    CustomerId,
    "customer"
);
entity_id!(
    /// A bookable service (appointment type).
    ServiceId,
    "service"
);
entity_id!(
    /// A booking of a service with a staff member.
    BookingId,
    "booking"
);
entity_id!(
    /// A staff member's schedule.
    ScheduleId,
    "schedule"
);
entity_id!(
    /// A connection to an external calendar.
    ConnectionId,
    "connection"
);
entity_id!(
    /// A busy block imported from an external calendar.
    BusyBlockId,
    "busy block"
);
entity_id!(
    /// An API key.
    ApiKeyId,
    "API key"
);
entity_id!(
    /// A customer's data-rights request link.
    DataRequestId,
    "data request"
);
entity_id!(
    /// A login session.
    SessionId,
    "session"
);
entity_id!(
    /// An intake field definition of a service.
    IntakeFieldId,
    "intake field"
);
entity_id!(
    /// An invitation for a person to join a tenant's staff.
    InvitationId,
    "invitation"
);
entity_id!(
    /// A notice of a sign-in from a new device or network.
    NoticeId,
    "sign-in notice"
);
