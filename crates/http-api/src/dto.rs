//! Response bodies: one type per shape, serialized by serde and described
//! in the OpenAPI document by utoipa from the same definition, so the
//! description cannot drift from what the server sends. Built by hand from
//! the app's types (the domain knows nothing of JSON).

use std::collections::BTreeMap;

use bookwarden_app::listing::Listing;
use bookwarden_app::{
    AnswerValue, ApiKeyView, BookingView, ChainBreak, ChainStatus, ConnectionView, InvitationView,
    UserView, answer_value,
};
use bookwarden_domain::account::{Customer, StaffMember};
use bookwarden_domain::intake::FieldKind;
use bookwarden_domain::schedule::{DayHours, Schedule, WEEK};
use bookwarden_domain::service::Service;
use serde::Serialize;
use utoipa::ToSchema;

use crate::parse::kind_name;

/// `{"status": ...}` of the health endpoints.
#[derive(Serialize, ToSchema)]
pub(crate) struct Status {
    /// `ok` or `ready`.
    pub(crate) status: String,
}

/// A business and an account made (sign-up, invitation accepted).
#[derive(Serialize, ToSchema)]
pub(crate) struct AccountCreated {
    /// The business.
    pub(crate) tenant_id: String,
    /// The account.
    pub(crate) user_id: String,
}

/// A new session.
#[derive(Serialize, ToSchema)]
pub(crate) struct SessionOut {
    /// The bearer token; absent in the cookie variant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) token: Option<String>,
    /// Send back as `X-CSRF-Token` with the cookie on state-changing requests.
    pub(crate) csrf_token: String,
    /// The session.
    pub(crate) session_id: String,
    /// The business.
    pub(crate) tenant_id: String,
    /// The account.
    pub(crate) user_id: String,
    /// `owner`, `admin` or `staff`.
    pub(crate) role: String,
    /// When it ends whatever happens (RFC 3339).
    pub(crate) expires_at: String,
}

/// An account.
#[derive(Serialize, ToSchema)]
pub(crate) struct UserOut {
    pub(crate) id: String,
    pub(crate) email: String,
    pub(crate) name: String,
    /// `owner`, `admin` or `staff`.
    pub(crate) role: String,
    pub(crate) active: bool,
    pub(crate) totp_enabled: bool,
    pub(crate) reset_required: bool,
    /// RFC 3339, or null before the first sign-in.
    pub(crate) last_login_at: Option<String>,
}

impl From<&UserView> for UserOut {
    fn from(user: &UserView) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email.clone(),
            name: user.name.clone(),
            role: user.role.as_str().to_owned(),
            active: user.active,
            totp_enabled: user.totp_enabled,
            reset_required: user.reset_required,
            last_login_at: user.last_login_at.map(|t| t.to_string()),
        }
    }
}

/// Accounts.
#[derive(Serialize, ToSchema)]
pub(crate) struct UsersOut {
    pub(crate) users: Vec<UserOut>,
}

/// Owners and admins for the periodic review.
#[derive(Serialize, ToSchema)]
pub(crate) struct AccountsOut {
    pub(crate) accounts: Vec<UserOut>,
}

/// A started two-factor enrollment.
#[derive(Serialize, ToSchema)]
pub(crate) struct OtpauthOut {
    /// For the authenticator app (a QR code).
    pub(crate) otpauth_uri: String,
}

/// Recovery codes, shown once.
#[derive(Serialize, ToSchema)]
pub(crate) struct RecoveryCodesOut {
    pub(crate) recovery_codes: Vec<String>,
}

/// A forced reset's single-use token, shown once.
#[derive(Serialize, ToSchema)]
pub(crate) struct ResetOut {
    pub(crate) reset_token: String,
    pub(crate) expires_at: String,
}

/// A new invitation; the token is shown once.
#[derive(Serialize, ToSchema)]
pub(crate) struct InvitationCreatedOut {
    pub(crate) id: String,
    pub(crate) token: String,
    pub(crate) expires_at: String,
}

/// An invitation.
#[derive(Serialize, ToSchema)]
pub(crate) struct InvitationOut {
    pub(crate) id: String,
    pub(crate) email: String,
    pub(crate) role: String,
    pub(crate) expires_at: String,
    pub(crate) accepted_at: Option<String>,
}

impl From<&InvitationView> for InvitationOut {
    fn from(i: &InvitationView) -> Self {
        Self {
            id: i.id.to_string(),
            email: i.email.clone(),
            role: i.role.as_str().to_owned(),
            expires_at: i.expires_at.to_string(),
            accepted_at: i.accepted_at.map(|t| t.to_string()),
        }
    }
}

/// Invitations.
#[derive(Serialize, ToSchema)]
pub(crate) struct InvitationsOut {
    pub(crate) invitations: Vec<InvitationOut>,
}

/// A new API key; the token is shown once.
#[derive(Serialize, ToSchema)]
pub(crate) struct ApiKeyCreatedOut {
    pub(crate) id: String,
    pub(crate) token: String,
}

/// An API key (never its token).
#[derive(Serialize, ToSchema)]
pub(crate) struct ApiKeyOut {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) created_by: String,
    pub(crate) created_at: String,
    pub(crate) revoked_at: Option<String>,
}

impl From<&ApiKeyView> for ApiKeyOut {
    fn from(k: &ApiKeyView) -> Self {
        Self {
            id: k.id.to_string(),
            name: k.name.clone(),
            scopes: k.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            created_by: k.created_by.to_string(),
            created_at: k.created_at.to_string(),
            revoked_at: k.revoked_at.map(|t| t.to_string()),
        }
    }
}

/// API keys.
#[derive(Serialize, ToSchema)]
pub(crate) struct ApiKeysOut {
    pub(crate) api_keys: Vec<ApiKeyOut>,
}

/// One audit entry.
#[derive(Serialize, ToSchema)]
pub(crate) struct AuditEntryOut {
    pub(crate) seq: i64,
    pub(crate) at: String,
    pub(crate) kind: String,
    pub(crate) actor: Option<String>,
    pub(crate) subject: Option<String>,
    /// Further facts, text values by name.
    pub(crate) detail: BTreeMap<String, String>,
}

/// Audit entries, oldest first.
#[derive(Serialize, ToSchema)]
pub(crate) struct AuditOut {
    pub(crate) entries: Vec<AuditEntryOut>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next: Option<i64>,
}

/// What verifying the audit chain found.
#[derive(Serialize, ToSchema)]
pub(crate) struct AuditVerificationOut {
    /// `intact` or `broken`.
    pub(crate) status: &'static str,
    /// Entries checked (intact).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) entries: Option<u64>,
    /// The first position that does not verify (broken).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) seq: Option<i64>,
    /// How it is broken: `edited`, `removed`, `reordered`, `truncated`,
    /// `anchor_forged` (entries removed and the purge's checkpoint moved
    /// by someone without the tenant's key) or `no_head` (broken).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) problem: Option<&'static str>,
}

impl From<&ChainStatus> for AuditVerificationOut {
    fn from(status: &ChainStatus) -> Self {
        match status {
            ChainStatus::Intact { entries } => Self {
                status: "intact",
                entries: Some(*entries),
                seq: None,
                problem: None,
            },
            ChainStatus::Broken { seq, reason } => Self {
                status: "broken",
                entries: None,
                seq: Some(*seq),
                problem: Some(chain_break(*reason)),
            },
        }
    }
}

/// A chain break's name in answers and on the command line.
pub fn chain_break(reason: ChainBreak) -> &'static str {
    match reason {
        ChainBreak::Edited => "edited",
        ChainBreak::Gap => "removed",
        ChainBreak::Relinked => "reordered",
        ChainBreak::Truncated => "truncated",
        ChainBreak::NoHead => "no_head",
        ChainBreak::AnchorForged => "anchor_forged",
    }
}

/// A staff member.
#[derive(Serialize, ToSchema)]
pub(crate) struct StaffOut {
    pub(crate) id: String,
    pub(crate) name: String,
    /// The linked account, if any.
    pub(crate) user_id: Option<String>,
}

impl From<&StaffMember> for StaffOut {
    fn from(member: &StaffMember) -> Self {
        Self {
            id: member.id().to_string(),
            name: member.name().as_str().to_owned(),
            user_id: member.user().map(|u| u.to_string()),
        }
    }
}

/// Staff members.
#[derive(Serialize, ToSchema)]
pub(crate) struct StaffListOut {
    pub(crate) staff: Vec<StaffOut>,
}

/// A range of instants.
#[derive(Serialize, ToSchema)]
pub(crate) struct RangeOut {
    pub(crate) start: String,
    pub(crate) end: String,
}

/// A schedule.
#[derive(Serialize, ToSchema)]
pub(crate) struct ScheduleOut {
    pub(crate) staff_id: String,
    pub(crate) time_zone: String,
    /// Weekday name to `[["HH:MM", "HH:MM"], ...]`; closed days are left out.
    pub(crate) weekly: BTreeMap<String, Vec<Vec<String>>>,
    /// `YYYY-MM-DD` to ranges (empty: closed).
    pub(crate) overrides: BTreeMap<String, Vec<Vec<String>>>,
    pub(crate) time_off: Vec<RangeOut>,
}

fn hours(hours: &DayHours) -> Vec<Vec<String>> {
    hours
        .ranges()
        .iter()
        .map(|r| vec![r.start().to_string(), r.end().to_string()])
        .collect()
}

impl From<&Schedule> for ScheduleOut {
    fn from(schedule: &Schedule) -> Self {
        Self {
            staff_id: schedule.staff().to_string(),
            time_zone: schedule.zone().name().to_owned(),
            weekly: WEEK
                .iter()
                .filter(|(_, day)| !schedule.weekly().on(*day).is_closed())
                .map(|(name, day)| ((*name).to_owned(), hours(schedule.weekly().on(*day))))
                .collect(),
            overrides: schedule
                .overrides()
                .iter()
                .map(|(date, h)| (date.to_string(), hours(h)))
                .collect(),
            time_off: schedule
                .time_off()
                .iter()
                .map(|r| RangeOut {
                    start: r.start().to_string(),
                    end: r.end().to_string(),
                })
                .collect(),
        }
    }
}

/// A price for display.
#[derive(Serialize, ToSchema)]
pub(crate) struct PriceOut {
    pub(crate) amount_minor: u64,
    pub(crate) currency: String,
}

/// An intake question.
#[derive(Serialize, ToSchema)]
pub(crate) struct FieldOut {
    pub(crate) key: String,
    pub(crate) label: String,
    /// `text`, `long_text`, `email`, `phone`, `single_choice`,
    /// `multi_choice` or `checkbox`.
    pub(crate) kind: String,
    pub(crate) max_chars: Option<u16>,
    pub(crate) options: Vec<String>,
    pub(crate) required: bool,
}

/// A service.
#[derive(Serialize, ToSchema)]
pub(crate) struct ServiceOut {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) duration_minutes: i64,
    pub(crate) buffer_before_minutes: i64,
    pub(crate) buffer_after_minutes: i64,
    pub(crate) minimum_notice_minutes: i64,
    pub(crate) horizon_days: i64,
    pub(crate) slot_step_minutes: i64,
    pub(crate) capacity: u16,
    pub(crate) staff: Vec<String>,
    pub(crate) price: Option<PriceOut>,
    pub(crate) public: bool,
    pub(crate) intake: Vec<FieldOut>,
}

impl From<&Service> for ServiceOut {
    fn from(service: &Service) -> Self {
        let t = service.timing();
        let minutes = |d: bookwarden_domain::jiff::SignedDuration| d.as_secs() / 60;
        Self {
            id: service.id().to_string(),
            name: service.name().as_str().to_owned(),
            duration_minutes: minutes(t.duration()),
            buffer_before_minutes: minutes(t.buffer_before()),
            buffer_after_minutes: minutes(t.buffer_after()),
            minimum_notice_minutes: minutes(t.minimum_notice()),
            horizon_days: t.horizon().as_secs() / 86_400,
            slot_step_minutes: minutes(t.slot_step()),
            capacity: service.capacity().seats(),
            staff: service.staff().iter().map(ToString::to_string).collect(),
            price: service.price().map(|p| PriceOut {
                amount_minor: p.minor_units(),
                currency: p.currency().as_str().to_owned(),
            }),
            public: service.is_public(),
            intake: service
                .intake()
                .fields()
                .iter()
                .map(|f| {
                    let (max_chars, options) = match f.kind() {
                        FieldKind::Text { max_chars } | FieldKind::LongText { max_chars } => {
                            (Some(*max_chars), Vec::new())
                        }
                        FieldKind::SingleChoice(c) | FieldKind::MultiChoice(c) => {
                            (None, c.options().to_vec())
                        }
                        _ => (None, Vec::new()),
                    };
                    FieldOut {
                        key: f.key().as_str().to_owned(),
                        label: f.label().to_owned(),
                        kind: kind_name(f.kind()).to_owned(),
                        max_chars,
                        options,
                        required: f.required(),
                    }
                })
                .collect(),
        }
    }
}

/// Services.
#[derive(Serialize, ToSchema)]
pub(crate) struct ServicesOut {
    pub(crate) services: Vec<ServiceOut>,
}

/// A business's public services.
#[derive(Serialize, ToSchema)]
pub(crate) struct PublicServicesOut {
    pub(crate) business: String,
    pub(crate) time_zone: String,
    pub(crate) services: Vec<ServiceOut>,
}

/// A customer.
#[derive(Serialize, ToSchema)]
pub(crate) struct CustomerOut {
    pub(crate) id: String,
    pub(crate) email: String,
    pub(crate) name: String,
    pub(crate) phone: Option<String>,
}

impl From<&Customer> for CustomerOut {
    fn from(c: &Customer) -> Self {
        Self {
            id: c.id().to_string(),
            email: c.email().as_str().to_owned(),
            name: c.name().as_str().to_owned(),
            phone: c.phone().map(|p| p.as_str().to_owned()),
        }
    }
}

/// Customers.
#[derive(Serialize, ToSchema)]
pub(crate) struct CustomersOut {
    pub(crate) customers: Vec<CustomerOut>,
}

/// An intake answer: text, a list of choices, or a checkbox.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum AnswerOut {
    Text(String),
    List(Vec<String>),
    Flag(bool),
}

/// A booking.
#[derive(Serialize, ToSchema)]
pub(crate) struct BookingOut {
    pub(crate) id: String,
    pub(crate) service_id: String,
    pub(crate) staff_id: String,
    pub(crate) customer_id: String,
    pub(crate) start: String,
    pub(crate) end: String,
    pub(crate) seats: u16,
    /// `requested`, `confirmed` or `cancelled`.
    pub(crate) status: String,
    /// `customer`, `staff` or `system` when cancelled.
    pub(crate) cancelled_by: Option<String>,
    pub(crate) reschedules: u32,
    pub(crate) created_at: String,
    pub(crate) answers: BTreeMap<String, AnswerOut>,
    /// The manage token, once, on a new public booking.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) manage_token: Option<String>,
}

impl From<&BookingView> for BookingOut {
    fn from(b: &BookingView) -> Self {
        Self {
            id: b.id.to_string(),
            service_id: b.service.to_string(),
            staff_id: b.staff.to_string(),
            customer_id: b.customer.to_string(),
            start: b.range.start().to_string(),
            end: b.range.end().to_string(),
            seats: b.seats,
            status: b.stage.name().to_owned(),
            cancelled_by: b.stage.cancelled_by().map(|by| by.as_str().to_owned()),
            reschedules: b.reschedules,
            created_at: b.created_at.to_string(),
            answers: b
                .answers
                .iter()
                .map(|(key, answer)| {
                    let value = match answer_value(answer) {
                        AnswerValue::Text(t) => AnswerOut::Text(t),
                        AnswerValue::List(l) => AnswerOut::List(l),
                        AnswerValue::Flag(f) => AnswerOut::Flag(f),
                    };
                    (key.as_str().to_owned(), value)
                })
                .collect(),
            manage_token: None,
        }
    }
}

/// Bookings.
#[derive(Serialize, ToSchema)]
pub(crate) struct BookingsOut {
    pub(crate) bookings: Vec<BookingOut>,
}

/// One free time.
#[derive(Serialize, ToSchema)]
pub(crate) struct SlotOut {
    /// RFC 3339 with the requested zone's offset: the instant and the
    /// customer's clock in one. Book with it as `start`.
    pub(crate) start: String,
    /// The most seats free with any one staff member (1 for a one-to-one
    /// service).
    pub(crate) seats_left: u16,
}

/// One day of free times on the requested zone's calendar.
#[derive(Serialize, ToSchema)]
pub(crate) struct SlotDayOut {
    pub(crate) date: String,
    pub(crate) slots: Vec<SlotOut>,
}

/// Free times, by day.
#[derive(Serialize, ToSchema)]
pub(crate) struct SlotsOut {
    pub(crate) time_zone: String,
    pub(crate) duration_minutes: i64,
    /// Days with at least one free time, in order.
    pub(crate) days: Vec<SlotDayOut>,
    /// Staff members whose external calendars are not healthy, so their
    /// busy time may be out of date. Under the business's `hide` policy
    /// their times are left out (`withheld`); under `warn` they are listed.
    pub(crate) calendars: Vec<CalendarNoticeOut>,
}

/// One staff member whose calendar the listing cannot fully trust.
#[derive(Serialize, ToSchema)]
pub(crate) struct CalendarNoticeOut {
    pub(crate) staff_id: String,
    /// `stale`, `failing` or `revoked`.
    pub(crate) health: String,
    /// Whether their times are left out of this listing.
    pub(crate) withheld: bool,
}

/// A staff member's connected calendar.
#[derive(Serialize, ToSchema)]
pub(crate) struct ConnectionOut {
    pub(crate) id: String,
    pub(crate) staff_id: String,
    /// `google`, `microsoft`, `caldav` or `ics`.
    pub(crate) provider: String,
    /// `busy_only` or `with_subject`.
    pub(crate) mode: String,
    /// The host it syncs from.
    pub(crate) label: String,
    /// `healthy`, `stale`, `failing` or `revoked`.
    pub(crate) health: String,
    pub(crate) last_synced_at: Option<String>,
    /// What went wrong last, when the last sync failed.
    pub(crate) last_error: Option<String>,
    /// The last sync hit a bound (too many events or occurrences) and
    /// imported only part of the calendar.
    pub(crate) degraded: bool,
    /// The next automatic sync; absent when retries stopped (reconnect or
    /// sync by hand).
    pub(crate) next_sync_at: Option<String>,
    pub(crate) connected_at: String,
}

impl From<&ConnectionView> for ConnectionOut {
    fn from(c: &ConnectionView) -> Self {
        Self {
            id: c.id.to_string(),
            staff_id: c.staff.to_string(),
            provider: c.provider.as_str().to_owned(),
            mode: c.mode.as_str().to_owned(),
            label: c.label.clone(),
            health: c.health.as_str().to_owned(),
            last_synced_at: c.last_synced_at.map(|t| t.to_string()),
            last_error: c.last_error.clone(),
            degraded: c.degraded,
            next_sync_at: c.next_sync_at.map(|t| t.to_string()),
            connected_at: c.connected_at.to_string(),
        }
    }
}

/// Calendar connections.
#[derive(Serialize, ToSchema)]
pub(crate) struct ConnectionsOut {
    pub(crate) connections: Vec<ConnectionOut>,
}

impl From<&Listing> for SlotsOut {
    fn from(l: &Listing) -> Self {
        Self {
            time_zone: l.time_zone.clone(),
            duration_minutes: l.duration_minutes,
            days: l
                .days
                .iter()
                .map(|d| SlotDayOut {
                    date: d.date.to_string(),
                    slots: d
                        .slots
                        .iter()
                        .map(|s| SlotOut {
                            start: s.start.display_with_offset(s.offset).to_string(),
                            seats_left: s.seats_left,
                        })
                        .collect(),
                })
                .collect(),
            calendars: l
                .calendars
                .iter()
                .map(|n| CalendarNoticeOut {
                    staff_id: n.staff.to_string(),
                    health: n.health.as_str().to_owned(),
                    withheld: n.withheld,
                })
                .collect(),
        }
    }
}

/// What a manage token shows.
#[derive(Serialize, ToSchema)]
pub(crate) struct ManageOut {
    pub(crate) booking: BookingOut,
    pub(crate) service: ServiceOut,
    pub(crate) business: String,
}
