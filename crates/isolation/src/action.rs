//! The operations the check sends: who sends them ([`Who`]), which request
//! shape ([`Action`], one variant per shape), and whose id they carry
//! ([`IdSource`]: one of the three businesses, or nowhere). A plan of
//! operations is drawn from a seeded generator, so a seed names a run.

use reqwest::Method;
use serde_json::{Value, json};

use crate::rng::Rng;

/// Who sends a request: one of a business's people, one of its API keys
/// (by scope), or an anonymous client of its public pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Who {
    /// The owner's session.
    Owner,
    /// An admin's session.
    Admin,
    /// A staff member's session.
    Staff,
    /// An API key with the `read` scope.
    KeyRead,
    /// An API key with the `write` scope.
    KeyWrite,
    /// An API key with the `admin` scope.
    KeyAdmin,
    /// No credential at all.
    Public,
}

impl Who {
    /// Every sender.
    pub const ALL: [Self; 7] = [
        Self::Owner,
        Self::Admin,
        Self::Staff,
        Self::KeyRead,
        Self::KeyWrite,
        Self::KeyAdmin,
        Self::Public,
    ];
}

/// The kinds of id a request can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A staff member.
    Staff,
    /// A service.
    Service,
    /// A customer.
    Customer,
    /// A booking.
    Booking,
    /// A user account.
    User,
    /// An invitation.
    Invitation,
    /// An API key.
    ApiKey,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Self; 7] = [
        Self::Staff,
        Self::Service,
        Self::Customer,
        Self::Booking,
        Self::User,
        Self::Invitation,
        Self::ApiKey,
    ];
}

/// A listing endpoint (no id in it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listing {
    /// `GET /v1/staff`.
    Staff,
    /// `GET /v1/services`.
    Services,
    /// `GET /v1/customers`.
    Customers,
    /// `GET /v1/bookings?from=&to=` over the check's window.
    Bookings,
    /// `GET /v1/users`.
    Users,
    /// `GET /v1/api-keys`.
    ApiKeys,
    /// `GET /v1/invitations`.
    Invitations,
    /// `GET /v1/audit?limit=500`.
    Audit,
    /// `GET /v1/public/{slug}/services`.
    PublicServices,
}

impl Listing {
    /// Every listing.
    pub const ALL: [Self; 9] = [
        Self::Staff,
        Self::Services,
        Self::Customers,
        Self::Bookings,
        Self::Users,
        Self::ApiKeys,
        Self::Invitations,
        Self::Audit,
        Self::PublicServices,
    ];

    /// The path of this listing for the business `slug`, with bookings read
    /// over `window`.
    pub(crate) fn path(self, slug: &str, window: &Window) -> String {
        match self {
            Self::Staff => "/v1/staff".to_owned(),
            Self::Services => "/v1/services".to_owned(),
            Self::Customers => "/v1/customers".to_owned(),
            Self::Bookings => format!("/v1/bookings?from={}&to={}", window.from, window.to),
            Self::Users => "/v1/users".to_owned(),
            Self::ApiKeys => "/v1/api-keys".to_owned(),
            Self::Invitations => "/v1/invitations".to_owned(),
            Self::Audit => "/v1/audit?limit=500".to_owned(),
            Self::PublicServices => format!("/v1/public/{slug}/services"),
        }
    }
}

/// The bookings window of a run, as the API takes it (RFC 3339).
#[derive(Clone, Debug)]
pub(crate) struct Window {
    pub(crate) from: String,
    pub(crate) to: String,
}

/// One request shape. Variants with an id take it from the operation's
/// [`IdSource`]; `start` picks one of the sending business's free times
/// (found from its public slot listing), `walk_in` names a customer who is
/// in no business.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `GET /v1/staff/{id}`.
    GetStaff,
    /// `GET /v1/staff/{id}/schedule`.
    GetSchedule,
    /// `PUT /v1/staff/{id}/schedule` (Mondays 10:00 to 12:00).
    PutSchedule,
    /// `DELETE /v1/staff/{id}`.
    DeleteStaff,
    /// `GET /v1/services/{id}`.
    GetService,
    /// `DELETE /v1/services/{id}`.
    DeleteService,
    /// `GET /v1/customers/{id}`.
    GetCustomer,
    /// `GET /v1/bookings/{id}`.
    GetBooking,
    /// `POST /v1/bookings/{id}/confirm`.
    ConfirmBooking,
    /// `POST /v1/bookings/{id}/cancel`.
    CancelBooking,
    /// `POST /v1/bookings/{id}/reschedule` to a free time.
    RescheduleBooking {
        /// Which free time.
        start: usize,
    },
    /// `PATCH /v1/users/{id}` with `active: true`.
    ActivateUser,
    /// `DELETE /v1/invitations/{id}`.
    WithdrawInvitation,
    /// `POST /v1/bookings` for a walk-in customer, the service by id.
    CreateBooking {
        /// Which free time.
        start: usize,
        /// Which walk-in customer.
        walk_in: usize,
    },
    /// `POST /v1/services` with the staff member by id.
    CreateService,
    /// `POST /v1/staff` linked to the user by id.
    CreateStaff,
    /// `GET /v1/public/{slug}/services/{id}/slots` over a day.
    PublicSlots,
    /// `POST /v1/public/{slug}/bookings`, the service by id.
    PublicBook {
        /// Which free time.
        start: usize,
        /// Which walk-in customer.
        walk_in: usize,
    },
    /// A listing.
    List(Listing),
    /// `POST /v1/users/{id}/password-reset`; only ever with ids of other
    /// businesses or of none (it would end the check's own sessions).
    ResetPassword,
    /// `DELETE /v1/api-keys/{id}`; only ever with ids of other businesses
    /// or of none (it would end the check's own keys).
    RevokeApiKey,
}

/// How many free times an action may pick among.
pub(crate) const STARTS: usize = 7;
/// How many walk-in customers there are.
const WALK_INS: usize = 8;

impl Action {
    /// The number of request shapes ([`Action::List`] counts once).
    pub const SHAPES: usize = 21;

    /// A random action.
    pub(crate) fn random(rng: &mut Rng) -> Self {
        let start = rng.below(STARTS);
        let walk_in = rng.below(WALK_INS);
        match rng.below(Self::SHAPES) {
            0 => Self::GetStaff,
            1 => Self::GetSchedule,
            2 => Self::PutSchedule,
            3 => Self::DeleteStaff,
            4 => Self::GetService,
            5 => Self::DeleteService,
            6 => Self::GetCustomer,
            7 => Self::GetBooking,
            8 => Self::ConfirmBooking,
            9 => Self::CancelBooking,
            10 => Self::RescheduleBooking { start },
            11 => Self::ActivateUser,
            12 => Self::WithdrawInvitation,
            13 => Self::CreateBooking { start, walk_in },
            14 => Self::CreateService,
            15 => Self::CreateStaff,
            16 => Self::PublicSlots,
            17 => Self::PublicBook { start, walk_in },
            18 => {
                let listing = Listing::ALL.get(rng.below(Listing::ALL.len()));
                Self::List(listing.copied().unwrap_or(Listing::Staff))
            }
            19 => Self::ResetPassword,
            _ => Self::RevokeApiKey,
        }
    }

    /// The kind of id this action carries, if any.
    #[must_use]
    pub fn kind(self) -> Option<Kind> {
        match self {
            Self::GetStaff
            | Self::GetSchedule
            | Self::PutSchedule
            | Self::DeleteStaff
            | Self::CreateService => Some(Kind::Staff),
            Self::GetService
            | Self::DeleteService
            | Self::CreateBooking { .. }
            | Self::PublicSlots
            | Self::PublicBook { .. } => Some(Kind::Service),
            Self::GetCustomer => Some(Kind::Customer),
            Self::GetBooking
            | Self::ConfirmBooking
            | Self::CancelBooking
            | Self::RescheduleBooking { .. } => Some(Kind::Booking),
            Self::ActivateUser | Self::CreateStaff | Self::ResetPassword => Some(Kind::User),
            Self::WithdrawInvitation => Some(Kind::Invitation),
            Self::RevokeApiKey => Some(Kind::ApiKey),
            Self::List(_) => None,
        }
    }

    /// Whether this action must never carry an id of the sender's own
    /// business (it would end the check's own credentials).
    #[must_use]
    pub fn only_foreign_ids(self) -> bool {
        matches!(self, Self::ResetPassword | Self::RevokeApiKey)
    }

    /// The method, path and body of this action for the business `slug`
    /// with `id` filled in; `starts` are that business's free times.
    pub(crate) fn render(
        self,
        slug: &str,
        id: &str,
        starts: &[String],
        window: &Window,
    ) -> (Method, String, Option<Value>) {
        let start = |n: usize| {
            starts
                .get(n % starts.len().max(1))
                .cloned()
                .unwrap_or_default()
        };
        let customer = |n: usize| json!({ "email": format!("walk-in-{n}@nowhere.example"), "name": "Walk In" });
        match self {
            Self::GetStaff => (Method::GET, format!("/v1/staff/{id}"), None),
            Self::GetSchedule => (Method::GET, format!("/v1/staff/{id}/schedule"), None),
            Self::PutSchedule => (
                Method::PUT,
                format!("/v1/staff/{id}/schedule"),
                Some(json!({ "time_zone": "UTC", "weekly": { "monday": [["10:00", "12:00"]] } })),
            ),
            Self::DeleteStaff => (Method::DELETE, format!("/v1/staff/{id}"), None),
            Self::GetService => (Method::GET, format!("/v1/services/{id}"), None),
            Self::DeleteService => (Method::DELETE, format!("/v1/services/{id}"), None),
            Self::GetCustomer => (Method::GET, format!("/v1/customers/{id}"), None),
            Self::GetBooking => (Method::GET, format!("/v1/bookings/{id}"), None),
            Self::ConfirmBooking => (Method::POST, format!("/v1/bookings/{id}/confirm"), None),
            Self::CancelBooking => (Method::POST, format!("/v1/bookings/{id}/cancel"), None),
            Self::RescheduleBooking { start: n } => (
                Method::POST,
                format!("/v1/bookings/{id}/reschedule"),
                Some(json!({ "start": start(n) })),
            ),
            Self::ActivateUser => (
                Method::PATCH,
                format!("/v1/users/{id}"),
                Some(json!({ "active": true })),
            ),
            Self::WithdrawInvitation => (Method::DELETE, format!("/v1/invitations/{id}"), None),
            Self::CreateBooking { start: n, walk_in } => (
                Method::POST,
                "/v1/bookings".to_owned(),
                Some(json!({ "service_id": id, "start": start(n), "customer": customer(walk_in) })),
            ),
            Self::CreateService => (
                Method::POST,
                "/v1/services".to_owned(),
                Some(json!({ "name": "Spy", "duration_minutes": 30, "staff": [id] })),
            ),
            Self::CreateStaff => (
                Method::POST,
                "/v1/staff".to_owned(),
                Some(json!({ "name": "Spy", "user_id": id })),
            ),
            Self::PublicSlots => {
                // One day of the window the free times were found in.
                let day = starts.first().map_or("", |s| s.get(..10).unwrap_or(""));
                (
                    Method::GET,
                    format!(
                        "/v1/public/{slug}/services/{id}/slots?from={day}T00:00:00Z&to={day}T23:59:59Z"
                    ),
                    None,
                )
            }
            Self::PublicBook { start: n, walk_in } => (
                Method::POST,
                format!("/v1/public/{slug}/bookings"),
                Some(json!({ "service_id": id, "start": start(n), "customer": customer(walk_in) })),
            ),
            Self::List(listing) => (Method::GET, listing.path(slug, window), None),
            Self::ResetPassword => (Method::POST, format!("/v1/users/{id}/password-reset"), None),
            Self::RevokeApiKey => (Method::DELETE, format!("/v1/api-keys/{id}"), None),
        }
    }
}

/// Whose id an operation carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdSource {
    /// The `pick`-th id (modulo the pool) of the right kind of business
    /// `business` (0..3).
    Business {
        /// Which business.
        business: usize,
        /// Which of its ids.
        pick: usize,
    },
    /// An id that belongs to no business.
    Nowhere,
}

/// One random operation: a business's sender, an action, an id source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Operation {
    /// The sending business (0..3).
    pub business: usize,
    /// Who in it sends.
    pub who: Who,
    /// What is sent.
    pub action: Action,
    /// Whose id it carries (ignored by listings).
    pub id: IdSource,
}

impl Operation {
    /// A random operation among `businesses` businesses.
    pub(crate) fn random(rng: &mut Rng, businesses: usize) -> Self {
        let business = rng.below(businesses);
        let who = Who::ALL.get(rng.below(Who::ALL.len())).copied();
        let action = Action::random(rng);
        let pick = rng.below(64);
        // 0..businesses: a business's id; businesses: an id from nowhere.
        let mut from = rng.below(businesses + 1);
        if action.only_foreign_ids() && from == business {
            from = businesses;
        }
        let id = if action.kind().is_none() || from >= businesses {
            IdSource::Nowhere
        } else {
            IdSource::Business {
                business: from,
                pick,
            }
        };
        Self {
            business,
            who: who.unwrap_or(Who::Owner),
            action,
            id,
        }
    }

    /// Whether the operation carries another business's id.
    #[must_use]
    pub fn is_foreign(&self) -> bool {
        self.action.kind().is_some()
            && matches!(self.id, IdSource::Business { business, .. } if business != self.business)
    }
}

#[cfg(test)]
mod tests {
    use super::{Action, IdSource, Operation};
    use crate::rng::Rng;

    #[test]
    fn plans_reach_every_shape_every_sender_and_every_id_source() {
        let mut rng = Rng::new(11);
        let plan: Vec<Operation> = (0..3_000).map(|_| Operation::random(&mut rng, 3)).collect();
        let mut shapes = std::collections::BTreeSet::new();
        for op in &plan {
            shapes.insert(
                format!("{:?}", op.action)
                    .split([' ', '('])
                    .next()
                    .map(str::to_owned),
            );
        }
        assert_eq!(shapes.len(), Action::SHAPES, "{shapes:?}");
        for who in super::Who::ALL {
            assert!(plan.iter().any(|op| op.who == who), "{who:?}");
        }
        assert!(plan.iter().any(|op| op.is_foreign()));
        assert!(
            plan.iter()
                .any(|op| op.id == IdSource::Nowhere && op.action.kind().is_some())
        );
        assert!(
            plan.iter().any(
                |op| matches!(op.id, IdSource::Business { business, .. } if business == op.business)
            ),
            "own ids too"
        );
    }

    #[test]
    fn credential_ending_actions_never_carry_the_senders_own_ids() {
        let mut rng = Rng::new(5);
        for _ in 0..3_000 {
            let op = Operation::random(&mut rng, 3);
            if op.action.only_foreign_ids() {
                assert!(
                    !matches!(op.id, IdSource::Business { business, .. } if business == op.business),
                    "{op:?}"
                );
            }
        }
    }
}
