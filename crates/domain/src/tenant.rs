//! Tenants: the businesses that use Bookwarden, each sealed off from every
//! other.

use std::fmt;

use crate::id::TenantId;
use crate::text::{self, TextError};
use crate::time::TimeZone;

/// A tenant's display name.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct TenantName(String);

impl TenantName {
    /// Longest name accepted, in characters.
    pub const MAX_CHARS: usize = 100;

    /// Trims and checks a business name.
    pub fn parse(input: &str) -> Result<Self, TextError> {
        text::single_line(input, Self::MAX_CHARS).map(Self)
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The URL-safe handle of a tenant, such as `north-side-physio`.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct TenantSlug(String);

impl TenantSlug {
    /// How long the slug of an erased business stays unavailable, in days:
    /// long enough that a link or a bookmark to the old business does not
    /// quietly land on a new one that took its name.
    pub const QUARANTINE_DAYS: i64 = 30;
}

/// Why a tenant slug was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantSlugError {
    /// Not 3 to 48 lowercase letters, digits and single inner hyphens.
    #[error("a slug is 3 to 48 lowercase letters, digits and single inner hyphens")]
    Malformed,
    /// A word the platform keeps for itself.
    #[error("this slug is reserved")]
    Reserved,
}

/// Slugs kept for the platform's own pages and to avoid confusion.
const RESERVED_SLUGS: &[&str] = &[
    "admin",
    "api",
    "app",
    "auth",
    "bookwarden",
    "help",
    "login",
    "logout",
    "public",
    "signup",
    "static",
    "status",
    "support",
    "system",
    "www",
];

impl TenantSlug {
    /// Checks a slug; upper case is refused rather than folded, so the slug a
    /// tenant sees is the slug in their links.
    pub fn parse(input: &str) -> Result<Self, TenantSlugError> {
        if !text::is_slug(input, 3, 48) {
            return Err(TenantSlugError::Malformed);
        }
        if RESERVED_SLUGS.contains(&input) {
            return Err(TenantSlugError::Reserved);
        }
        Ok(Self(input.to_owned()))
    }

    /// The slug as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A data-residency region such as `eu-central`; each maps to its own
/// database.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct Region(String);

/// A region name was not 2 to 32 lowercase letters, digits and hyphens.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a region is 2 to 32 lowercase letters, digits and single inner hyphens")]
pub struct RegionError;

impl Region {
    /// Checks a region name.
    pub fn parse(input: &str) -> Result<Self, RegionError> {
        if text::is_slug(input, 2, 32) {
            Ok(Self(input.to_owned()))
        } else {
            Err(RegionError)
        }
    }

    /// `local`: the one region of a single-machine deployment.
    pub fn local() -> Self {
        Self("local".to_owned())
    }

    /// The region as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a tenant pays for.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Plan {
    /// No external calendar connections.
    Free,
    /// The paid plan.
    Pro,
    /// Contracted plan.
    Enterprise,
}

/// A name that is not a plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown plan; expected free, pro or enterprise")]
pub struct PlanError;

impl Plan {
    /// Parses `free`, `pro` or `enterprise`.
    pub fn parse(input: &str) -> Result<Self, PlanError> {
        match input {
            "free" => Ok(Self::Free),
            "pro" => Ok(Self::Pro),
            "enterprise" => Ok(Self::Enterprise),
            _ => Err(PlanError),
        }
    }

    /// The stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::Pro => "pro",
            Self::Enterprise => "enterprise",
        }
    }

    /// Whether external calendars may be connected (P5: a downgrade to free
    /// disconnects them all).
    pub fn allows_calendar_connections(self) -> bool {
        !matches!(self, Self::Free)
    }
}

/// Where a tenant is in its life.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum TenantStatus {
    /// In use.
    Active,
    /// Temporarily barred, for example for an unpaid bill; nothing is lost.
    Suspended,
    /// Ended by the owner; terminal.
    Cancelled,
}

/// A name that is not a tenant status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown tenant status")]
pub struct TenantStatusError;

impl TenantStatus {
    /// Parses `active`, `suspended` or `cancelled`.
    pub fn parse(input: &str) -> Result<Self, TenantStatusError> {
        match input {
            "active" => Ok(Self::Active),
            "suspended" => Ok(Self::Suspended),
            "cancelled" => Ok(Self::Cancelled),
            _ => Err(TenantStatusError),
        }
    }

    /// The stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Cancelled => "cancelled",
        }
    }
}

/// A change of status that the tenant's life does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantTransitionError {
    /// A cancelled tenant stays cancelled.
    #[error("the tenant is cancelled")]
    Cancelled,
    /// The tenant is already in the requested status.
    #[error("the tenant is already {0}")]
    Already(&'static str),
}

/// A business using Bookwarden.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Tenant {
    id: TenantId,
    name: TenantName,
    slug: TenantSlug,
    plan: Plan,
    region: Region,
    status: TenantStatus,
    time_zone: TimeZone,
}

impl Tenant {
    /// A new, active tenant on the free plan.
    pub fn create(name: TenantName, slug: TenantSlug, region: Region, time_zone: TimeZone) -> Self {
        Self {
            id: TenantId::random(),
            name,
            slug,
            plan: Plan::Free,
            region,
            status: TenantStatus::Active,
            time_zone,
        }
    }

    /// Rebuilds a stored tenant from parts that were valid when stored.
    pub fn restore(parts: TenantParts) -> Self {
        let TenantParts {
            id,
            name,
            slug,
            plan,
            region,
            status,
            time_zone,
        } = parts;
        Self {
            id,
            name,
            slug,
            plan,
            region,
            status,
            time_zone,
        }
    }

    /// The tenant's id.
    pub fn id(&self) -> TenantId {
        self.id
    }
    /// The display name.
    pub fn name(&self) -> &TenantName {
        &self.name
    }
    /// The public handle.
    pub fn slug(&self) -> &TenantSlug {
        &self.slug
    }
    /// The plan.
    pub fn plan(&self) -> Plan {
        self.plan
    }
    /// The region whose database holds the tenant's rows.
    pub fn region(&self) -> &Region {
        &self.region
    }
    /// The status.
    pub fn status(&self) -> TenantStatus {
        self.status
    }
    /// The default zone for new schedules and for display.
    pub fn time_zone(&self) -> &TimeZone {
        &self.time_zone
    }

    /// Whether customers may book now.
    pub fn accepts_bookings(&self) -> bool {
        self.status == TenantStatus::Active
    }

    /// Moves to another plan; a cancelled tenant cannot.
    pub fn change_plan(&mut self, plan: Plan) -> Result<(), TenantTransitionError> {
        if self.status == TenantStatus::Cancelled {
            return Err(TenantTransitionError::Cancelled);
        }
        self.plan = plan;
        Ok(())
    }

    /// Changes the status along the allowed edges: active <-> suspended, and
    /// either to cancelled, which is terminal.
    pub fn set_status(&mut self, to: TenantStatus) -> Result<(), TenantTransitionError> {
        if self.status == TenantStatus::Cancelled {
            return Err(TenantTransitionError::Cancelled);
        }
        if self.status == to {
            return Err(TenantTransitionError::Already(to.as_str()));
        }
        self.status = to;
        Ok(())
    }
}

/// The parts of a stored tenant, each already parsed.
#[derive(Clone, Debug)]
pub struct TenantParts {
    /// The id.
    pub id: TenantId,
    /// The display name.
    pub name: TenantName,
    /// The public handle.
    pub slug: TenantSlug,
    /// The plan.
    pub plan: Plan,
    /// The region.
    pub region: Region,
    /// The status.
    pub status: TenantStatus,
    /// The default zone.
    pub time_zone: TimeZone,
}
