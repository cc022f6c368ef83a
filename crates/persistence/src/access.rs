//! Ways into an account other than a session: the failed-sign-in throttle
//! that locks an account for a while, and single-use staff invitations.
//! Both are tenant-scoped like everything else; invitations keep only the
//! digest of their token.

use bookwarden_domain::account::{Email, Role};
use bookwarden_domain::id::{InvitationId, UserId};
use bookwarden_domain::jiff::Timestamp;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use crate::entity::{invitations, login_throttle};
use crate::error::{Refusal, StoreError, Unique, refusal};
use crate::rows::{corrupt, instant, us};
use crate::store::TenantScope;

/// The failed sign-ins of one account (known or not).
pub struct LoginThrottle<'s>(&'s TenantScope);

/// Staff invitations of the scope's tenant.
pub struct Invitations<'s>(&'s TenantScope);

impl TenantScope {
    /// Failed sign-ins and lockouts.
    pub fn login_throttle(&self) -> LoginThrottle<'_> {
        LoginThrottle(self)
    }

    /// Staff invitations.
    pub fn invitations(&self) -> Invitations<'_> {
        Invitations(self)
    }
}

/// How an account stands after failed sign-ins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottleState {
    /// Failures counted in the current window.
    pub failures: u32,
    /// Until when sign-in is refused, if it is.
    pub locked_until: Option<Timestamp>,
}

/// The rule a failure is counted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottleRule {
    /// Failures that lock the account.
    pub max_failures: u32,
    /// How far back failures count, in seconds.
    pub window_secs: i64,
    /// How long a lockout lasts, in seconds.
    pub lockout_secs: i64,
}

/// What counting one failure did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailureOutcome {
    /// The state afterwards.
    pub state: ThrottleState,
    /// Whether this failure is the one that locked the account.
    pub locked_now: bool,
}

impl LoginThrottle<'_> {
    /// The account's state at `now` (a lapsed lockout is no lockout).
    pub async fn state(
        &self,
        account: &[u8; 32],
        now: Timestamp,
    ) -> Result<ThrottleState, StoreError> {
        let row = login_throttle::Entity::find_by_id((self.0.uuid(), account.to_vec()))
            .one(self.0.tx())
            .await?;
        let Some(row) = row else {
            return Ok(ThrottleState {
                failures: 0,
                locked_until: None,
            });
        };
        Ok(ThrottleState {
            failures: u32::try_from(row.failures).unwrap_or(u32::MAX),
            locked_until: row
                .locked_until_us
                .filter(|&until| until > us(now))
                .map(|until| instant("login_throttle", until))
                .transpose()?,
        })
    }

    /// Counts one failed sign-in under `rule`; locks the account when the
    /// count reaches the limit. Concurrent failures of one account queue on
    /// its row, so none is lost.
    pub async fn record_failure(
        &self,
        account: &[u8; 32],
        rule: ThrottleRule,
        now: Timestamp,
    ) -> Result<FailureOutcome, StoreError> {
        let scope = self.0;
        let now_us = us(now);
        login_throttle::Entity::insert(login_throttle::ActiveModel {
            tenant_id: Set(scope.uuid()),
            account_digest: Set(account.to_vec()),
            failures: Set(0),
            window_start_us: Set(now_us),
            locked_until_us: Set(None),
        })
        .on_conflict(
            OnConflict::columns([
                login_throttle::Column::TenantId,
                login_throttle::Column::AccountDigest,
            ])
            .do_nothing()
            .to_owned(),
        )
        .try_insert()
        .exec(scope.tx())
        .await?;
        let mut query = login_throttle::Entity::find_by_id((scope.uuid(), account.to_vec()));
        if scope.tx().get_database_backend() == DbBackend::Postgres {
            query = query.lock_exclusive();
        }
        let row = query
            .one(scope.tx())
            .await?
            .ok_or_else(|| corrupt("login_throttle", "the row just written is gone"))?;
        let window_us = rule.window_secs.saturating_mul(1_000_000);
        let still_locked = row.locked_until_us.is_some_and(|until| until > now_us);
        let (failures, window_start) = if row.window_start_us.saturating_add(window_us) <= now_us {
            (1, now_us)
        } else {
            (row.failures.saturating_add(1), row.window_start_us)
        };
        let reaches = failures >= i64::from(rule.max_failures);
        let locked_now = reaches && !still_locked;
        let locked_until = if locked_now {
            Some(now_us.saturating_add(rule.lockout_secs.saturating_mul(1_000_000)))
        } else {
            row.locked_until_us.filter(|&until| until > now_us)
        };
        // A lockout starts a fresh count for when it ends.
        let (failures, window_start) = if locked_now {
            (0, now_us)
        } else {
            (failures, window_start)
        };
        login_throttle::ActiveModel {
            tenant_id: Set(scope.uuid()),
            account_digest: Set(account.to_vec()),
            failures: Set(failures),
            window_start_us: Set(window_start),
            locked_until_us: Set(locked_until),
        }
        .update(scope.tx())
        .await?;
        Ok(FailureOutcome {
            state: ThrottleState {
                failures: u32::try_from(failures).unwrap_or(u32::MAX),
                locked_until: locked_until
                    .map(|until| instant("login_throttle", until))
                    .transpose()?,
            },
            locked_now,
        })
    }

    /// Forgets the failures of an account after a successful sign-in.
    pub async fn clear(&self, account: &[u8; 32]) -> Result<(), StoreError> {
        login_throttle::Entity::delete_many()
            .filter(login_throttle::Column::TenantId.eq(self.0.uuid()))
            .filter(login_throttle::Column::AccountDigest.eq(account.to_vec()))
            .exec(self.0.tx())
            .await?;
        Ok(())
    }
}

/// An invitation as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct InvitationRecord {
    /// Its id.
    pub id: InvitationId,
    /// SHA-256 of the invitation token.
    pub digest: [u8; 32],
    /// Whom it is for.
    pub email: Email,
    /// The role the new account gets (admin or staff).
    pub role: Role,
    /// Who sent it.
    pub invited_by: UserId,
    /// When.
    pub created_at: Timestamp,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// When it was used, if it was.
    pub accepted_at: Option<Timestamp>,
}

impl std::fmt::Debug for InvitationRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvitationRecord")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("role", &self.role)
            .field("expires_at", &self.expires_at)
            .field("accepted_at", &self.accepted_at)
            .finish_non_exhaustive()
    }
}

fn parse_invitation(row: invitations::Model) -> Result<InvitationRecord, StoreError> {
    let bad = |e: &dyn std::fmt::Display| corrupt("invitations", e);
    Ok(InvitationRecord {
        id: InvitationId::from_uuid(row.invitation_id),
        digest: <[u8; 32]>::try_from(row.digest)
            .map_err(|_wrong_length| corrupt("invitations", "digest is not 32 bytes"))?,
        email: Email::parse(&row.email).map_err(|e| bad(&e))?,
        role: Role::parse(&row.role).map_err(|e| bad(&e))?,
        invited_by: UserId::from_uuid(row.invited_by),
        created_at: instant("invitations", row.created_at_us)?,
        expires_at: instant("invitations", row.expires_at_us)?,
        accepted_at: row
            .accepted_at_us
            .map(|t| instant("invitations", t))
            .transpose()?,
    })
}

impl Invitations<'_> {
    /// Stores a new invitation.
    pub async fn insert(&self, invitation: &InvitationRecord) -> Result<(), StoreError> {
        let scope = self.0;
        invitations::ActiveModel {
            tenant_id: Set(scope.uuid()),
            invitation_id: Set(*invitation.id.as_uuid()),
            digest: Set(invitation.digest.to_vec()),
            email: Set(invitation.email.as_str().to_owned()),
            role: Set(invitation.role.as_str().to_owned()),
            invited_by: Set(*invitation.invited_by.as_uuid()),
            created_at_us: Set(us(invitation.created_at)),
            expires_at_us: Set(us(invitation.expires_at)),
            accepted_at_us: Set(invitation.accepted_at.map(us)),
        }
        .insert(scope.tx())
        .await
        .map_err(|e| match refusal(&e) {
            Some(Refusal::ForeignKey) => StoreError::MissingReference("user"),
            Some(Refusal::Unique) => StoreError::Duplicate(Unique::Invitation),
            Some(Refusal::Check) => {
                StoreError::Config("an invitation must expire after it is made".to_owned())
            }
            _ => StoreError::from(e),
        })?;
        Ok(())
    }

    /// The invitation with this token digest, used or not.
    pub async fn by_digest(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<InvitationRecord>, StoreError> {
        invitations::Entity::find()
            .filter(invitations::Column::TenantId.eq(self.0.uuid()))
            .filter(invitations::Column::Digest.eq(digest.to_vec()))
            .one(self.0.tx())
            .await?
            .map(parse_invitation)
            .transpose()
    }

    /// Every invitation, newest first.
    pub async fn list(&self) -> Result<Vec<InvitationRecord>, StoreError> {
        invitations::Entity::find()
            .filter(invitations::Column::TenantId.eq(self.0.uuid()))
            .order_by_desc(invitations::Column::CreatedAtUs)
            .all(self.0.tx())
            .await?
            .into_iter()
            .map(parse_invitation)
            .collect()
    }

    /// Uses an invitation: true only for the first use of an unexpired one.
    pub async fn accept(&self, id: InvitationId, now: Timestamp) -> Result<bool, StoreError> {
        let result = invitations::Entity::update_many()
            .col_expr(invitations::Column::AcceptedAtUs, Some(us(now)).into())
            .filter(invitations::Column::TenantId.eq(self.0.uuid()))
            .filter(invitations::Column::InvitationId.eq(*id.as_uuid()))
            .filter(invitations::Column::AcceptedAtUs.is_null())
            .filter(invitations::Column::ExpiresAtUs.gt(us(now)))
            .exec(self.0.tx())
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Withdraws an invitation that has not been used.
    pub async fn withdraw(&self, id: InvitationId) -> Result<bool, StoreError> {
        let result = invitations::Entity::delete_many()
            .filter(invitations::Column::TenantId.eq(self.0.uuid()))
            .filter(invitations::Column::InvitationId.eq(*id.as_uuid()))
            .filter(invitations::Column::AcceptedAtUs.is_null())
            .exec(self.0.tx())
            .await?;
        Ok(result.rows_affected == 1)
    }
}
