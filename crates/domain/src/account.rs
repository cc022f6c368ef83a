//! People: account holders (owners, admins, staff) and the customers who
//! book.

use std::fmt;

use crate::id::{CustomerId, StaffId, TenantId, UserId};
use crate::text::{self, TextError};

/// An email address, trimmed and lowercased.
///
/// The check is deliberately structural (RFC 5321 lengths, one `@`, a dotted
/// domain, no spaces or controls): deliverability is proven by sending mail,
/// not by a regular expression.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

/// Why an email address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Empty after trimming.
    #[error("an email address is required")]
    Empty,
    /// Longer than 254 bytes, or a local part longer than 64.
    #[error("the email address is too long")]
    TooLong,
    /// Not `local@domain.tld`, or holds spaces or control characters.
    #[error("not a valid email address")]
    Malformed,
}

impl Email {
    /// Longest address accepted (RFC 5321 path limit less the brackets).
    pub const MAX_BYTES: usize = 254;

    /// Parses and normalizes an address.
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.len() > Self::MAX_BYTES {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = trimmed.split_once('@').ok_or(EmailError::Malformed)?;
        if local.len() > 64 {
            return Err(EmailError::TooLong);
        }
        let bad_char = |c: char| c.is_whitespace() || c.is_control() || c == '@';
        let domain_ok = domain.contains('.')
            && !domain.starts_with(['.', '-'])
            && !domain.ends_with(['.', '-'])
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '.' || c == '-');
        if local.is_empty()
            || local.starts_with('.')
            || local.ends_with('.')
            || local.contains("..")
            || local.chars().any(bad_char)
            || !domain_ok
        {
            return Err(EmailError::Malformed);
        }
        Ok(Self(trimmed.to_lowercase()))
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `@`, which a password must not contain.
    pub fn local_part(&self) -> &str {
        self.0
            .split_once('@')
            .map_or(self.0.as_str(), |(local, _)| local)
    }
}

impl fmt::Debug for Email {
    // Addresses are personal data: keep them out of debug logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Email(..)")
    }
}

/// A person's name as they write it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PersonName(String);

impl PersonName {
    /// Longest name accepted, in characters.
    pub const MAX_CHARS: usize = 200;

    /// Trims and checks a name; no rules about its shape, since names have
    /// none.
    pub fn parse(input: &str) -> Result<Self, TextError> {
        text::single_line(input, Self::MAX_CHARS).map(Self)
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PersonName(..)")
    }
}

/// A phone number in E.164 form, such as `+4930123456`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

/// A phone number was not `+` and 7 to 15 digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a phone number is + and the country code, 7 to 15 digits in all")]
pub struct PhoneError;

impl Phone {
    /// Parses an international number; spaces, dots, dashes and parentheses
    /// between digits are dropped.
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        let trimmed = input.trim();
        let rest = trimmed.strip_prefix('+').ok_or(PhoneError)?;
        let mut digits = String::with_capacity(16);
        digits.push('+');
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '.' | '-' | '(' | ')' => {}
                _ => return Err(PhoneError),
            }
        }
        let count = digits.len() - 1;
        if !(7..=15).contains(&count) || digits.starts_with("+0") {
            return Err(PhoneError);
        }
        Ok(Self(digits))
    }

    /// The number in E.164 form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Phone(..)")
    }
}

/// What an account may do in its tenant.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Role {
    /// Sees and changes their own schedule and bookings.
    Staff,
    /// Manages everything in the tenant except owners.
    Admin,
    /// Holds the tenant; manages everything, including admins and billing.
    Owner,
}

/// A name that is not a role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role; expected owner, admin or staff")]
pub struct RoleError;

impl Role {
    /// Parses `owner`, `admin` or `staff`.
    pub fn parse(input: &str) -> Result<Self, RoleError> {
        match input {
            "owner" => Ok(Self::Owner),
            "admin" => Ok(Self::Admin),
            "staff" => Ok(Self::Staff),
            _ => Err(RoleError),
        }
    }

    /// The stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Staff => "staff",
        }
    }

    /// Owners and admins: the accounts listed in the privileged-access
    /// review (P14).
    pub fn is_privileged(self) -> bool {
        self >= Self::Admin
    }

    /// Whether an account with this role may create, change or remove an
    /// account with role `other`. Owners manage everyone; admins manage
    /// admins and staff; staff manage nobody.
    pub fn can_manage(self, other: Role) -> bool {
        match self {
            Self::Owner => true,
            Self::Admin => other <= Self::Admin,
            Self::Staff => false,
        }
    }
}

/// What an API key may do: each scope includes the ones before it
/// (`admin` may write and read, `write` may read).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum ApiKeyScope {
    /// Reads the tenant's data.
    Read,
    /// Reads and changes the tenant's data.
    Write,
    /// Everything its creator's role allows, administration included.
    Admin,
}

/// A name that is not an API-key scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope; expected read, write or admin")]
pub struct ApiKeyScopeError;

impl ApiKeyScope {
    /// Every scope, weakest first.
    pub const ALL: [Self; 3] = [Self::Read, Self::Write, Self::Admin];

    /// Parses `read`, `write` or `admin`.
    pub fn parse(input: &str) -> Result<Self, ApiKeyScopeError> {
        match input {
            "read" => Ok(Self::Read),
            "write" => Ok(Self::Write),
            "admin" => Ok(Self::Admin),
            _ => Err(ApiKeyScopeError),
        }
    }

    /// The stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }
}

/// Whether an account may sign in.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum AccountStatus {
    /// May sign in.
    Active,
    /// May not sign in; kept for the audit trail.
    Disabled,
}

/// A person's account in one tenant.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct User {
    id: UserId,
    tenant: TenantId,
    email: Email,
    name: PersonName,
    role: Role,
    status: AccountStatus,
}

impl User {
    /// A new active account.
    pub fn create(tenant: TenantId, email: Email, name: PersonName, role: Role) -> Self {
        Self::restore(
            UserId::random(),
            tenant,
            email,
            name,
            role,
            AccountStatus::Active,
        )
    }

    /// Rebuilds a stored account.
    pub fn restore(
        id: UserId,
        tenant: TenantId,
        email: Email,
        name: PersonName,
        role: Role,
        status: AccountStatus,
    ) -> Self {
        Self {
            id,
            tenant,
            email,
            name,
            role,
            status,
        }
    }

    /// The account's id.
    pub fn id(&self) -> UserId {
        self.id
    }
    /// The tenant the account belongs to.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }
    /// The sign-in address.
    pub fn email(&self) -> &Email {
        &self.email
    }
    /// The person's name.
    pub fn name(&self) -> &PersonName {
        &self.name
    }
    /// The role.
    pub fn role(&self) -> Role {
        self.role
    }
    /// Whether the account may sign in.
    pub fn status(&self) -> AccountStatus {
        self.status
    }
}

/// A member of staff who can be booked.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StaffMember {
    id: StaffId,
    tenant: TenantId,
    name: PersonName,
    user: Option<UserId>,
}

impl StaffMember {
    /// A new staff member, optionally linked to the account that manages
    /// their own schedule.
    pub fn create(tenant: TenantId, name: PersonName, user: Option<UserId>) -> Self {
        Self::restore(StaffId::random(), tenant, name, user)
    }

    /// Rebuilds a stored staff member.
    pub fn restore(id: StaffId, tenant: TenantId, name: PersonName, user: Option<UserId>) -> Self {
        Self {
            id,
            tenant,
            name,
            user,
        }
    }

    /// The staff member's id.
    pub fn id(&self) -> StaffId {
        self.id
    }
    /// The tenant.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }
    /// The name shown to customers.
    pub fn name(&self) -> &PersonName {
        &self.name
    }
    /// The account linked to this staff member, if any.
    pub fn user(&self) -> Option<UserId> {
        self.user
    }
}

/// An end client of a tenant.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Customer {
    id: CustomerId,
    tenant: TenantId,
    email: Email,
    name: PersonName,
    phone: Option<Phone>,
}

impl Customer {
    /// A new customer.
    pub fn create(tenant: TenantId, email: Email, name: PersonName, phone: Option<Phone>) -> Self {
        Self::restore(CustomerId::random(), tenant, email, name, phone)
    }

    /// Rebuilds a stored customer.
    pub fn restore(
        id: CustomerId,
        tenant: TenantId,
        email: Email,
        name: PersonName,
        phone: Option<Phone>,
    ) -> Self {
        Self {
            id,
            tenant,
            email,
            name,
            phone,
        }
    }

    /// The customer's id.
    pub fn id(&self) -> CustomerId {
        self.id
    }
    /// The tenant.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }
    /// The contact address.
    pub fn email(&self) -> &Email {
        &self.email
    }
    /// The name.
    pub fn name(&self) -> &PersonName {
        &self.name
    }
    /// The phone number, if given.
    pub fn phone(&self) -> Option<&Phone> {
        self.phone.as_ref()
    }
}
