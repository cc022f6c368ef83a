//! Where each account has signed in from (keyed digests of devices and
//! networks, never the values) and the notices of sign-ins from a new one
//! (P14), which the account's holder lists.

use bookwarden_domain::id::{NoticeId, UserId};
use bookwarden_domain::jiff::Timestamp;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait as _, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use crate::entity::{sign_in_notices, sign_in_sources};
use crate::error::StoreError;
use crate::rows::{instant, us};
use crate::store::TenantScope;

/// Sign-in sources and notices of the scope's tenant.
pub struct SignIns<'s>(&'s TenantScope);

impl TenantScope {
    /// Sign-in sources and notices.
    pub fn sign_ins(&self) -> SignIns<'_> {
        SignIns(self)
    }
}

/// A notice of a sign-in from a new device or network.
#[derive(Clone, PartialEq, Eq)]
pub struct SignInNotice {
    /// Its id.
    pub id: NoticeId,
    /// The account.
    pub user: UserId,
    /// When.
    pub at: Timestamp,
    /// The client's address.
    pub address: Option<String>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
    /// The device was new.
    pub new_device: bool,
    /// The network was new.
    pub new_network: bool,
}

impl std::fmt::Debug for SignInNotice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // An address and a user agent are personal data.
        f.debug_struct("SignInNotice")
            .field("id", &self.id)
            .field("at", &self.at)
            .finish_non_exhaustive()
    }
}

impl SignIns<'_> {
    /// Whether the account has any source on record (it signed in before).
    pub async fn any(&self, user: UserId) -> Result<bool, StoreError> {
        let scope = self.0;
        let count = sign_in_sources::Entity::find()
            .filter(sign_in_sources::Column::TenantId.eq(scope.uuid()))
            .filter(sign_in_sources::Column::UserId.eq(*user.as_uuid()))
            .limit(1)
            .count(scope.tx())
            .await?;
        Ok(count > 0)
    }

    /// Records a source of the account's at `now`; `true` if it was new.
    /// Two sign-ins from one new source at once record it once, and only
    /// one of them finds it new.
    pub async fn remember(
        &self,
        user: UserId,
        digest: &[u8; 32],
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let scope = self.0;
        let added = sign_in_sources::Entity::insert(sign_in_sources::ActiveModel {
            tenant_id: Set(scope.uuid()),
            user_id: Set(*user.as_uuid()),
            digest: Set(digest.to_vec()),
            first_seen_us: Set(us(now)),
            last_seen_us: Set(us(now)),
        })
        .on_conflict(
            OnConflict::columns([
                sign_in_sources::Column::TenantId,
                sign_in_sources::Column::UserId,
                sign_in_sources::Column::Digest,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(scope.tx())
        .await?;
        if added == 1 {
            return Ok(true);
        }
        sign_in_sources::Entity::update_many()
            .col_expr(
                sign_in_sources::Column::LastSeenUs,
                sea_orm::sea_query::Expr::value(us(now)),
            )
            .filter(sign_in_sources::Column::TenantId.eq(scope.uuid()))
            .filter(sign_in_sources::Column::UserId.eq(*user.as_uuid()))
            .filter(sign_in_sources::Column::Digest.eq(digest.to_vec()))
            .exec(scope.tx())
            .await?;
        Ok(false)
    }

    /// Deletes the notices made before `before` (none while the tenant is
    /// under a legal hold); answers how many.
    pub async fn purge_notices(&self, before: Timestamp) -> Result<u64, StoreError> {
        let scope = self.0;
        if scope.read_legal_hold(true).await? {
            return Ok(0);
        }
        let result = sign_in_notices::Entity::delete_many()
            .filter(sign_in_notices::Column::TenantId.eq(scope.uuid()))
            .filter(sign_in_notices::Column::AtUs.lt(us(before)))
            .exec(scope.tx())
            .await?;
        Ok(result.rows_affected)
    }

    /// Stores a notice.
    pub async fn notify(&self, notice: &SignInNotice) -> Result<(), StoreError> {
        let scope = self.0;
        sign_in_notices::ActiveModel {
            tenant_id: Set(scope.uuid()),
            notice_id: Set(*notice.id.as_uuid()),
            user_id: Set(*notice.user.as_uuid()),
            at_us: Set(us(notice.at)),
            address: Set(notice.address.clone()),
            user_agent: Set(notice.user_agent.clone()),
            new_device: Set(notice.new_device),
            new_network: Set(notice.new_network),
        }
        .insert(scope.tx())
        .await?;
        Ok(())
    }

    /// The account's newest notices, at most `limit`, newest first.
    pub async fn notices(&self, user: UserId, limit: u64) -> Result<Vec<SignInNotice>, StoreError> {
        let scope = self.0;
        sign_in_notices::Entity::find()
            .filter(sign_in_notices::Column::TenantId.eq(scope.uuid()))
            .filter(sign_in_notices::Column::UserId.eq(*user.as_uuid()))
            .order_by_desc(sign_in_notices::Column::AtUs)
            .order_by_desc(sign_in_notices::Column::NoticeId)
            .limit(limit)
            .all(scope.tx())
            .await?
            .into_iter()
            .map(parse_notice)
            .collect()
    }

    /// Up to `limit` notices of every account, after `after` in id order
    /// (from the first without it), for an export.
    pub async fn page(
        &self,
        after: Option<NoticeId>,
        limit: u64,
    ) -> Result<Vec<SignInNotice>, StoreError> {
        let scope = self.0;
        let mut query = sign_in_notices::Entity::find()
            .filter(sign_in_notices::Column::TenantId.eq(scope.uuid()));
        if let Some(after) = after {
            query = query.filter(sign_in_notices::Column::NoticeId.gt(*after.as_uuid()));
        }
        query
            .order_by_asc(sign_in_notices::Column::NoticeId)
            .limit(limit)
            .all(scope.tx())
            .await?
            .into_iter()
            .map(parse_notice)
            .collect()
    }
}

fn parse_notice(row: sign_in_notices::Model) -> Result<SignInNotice, StoreError> {
    Ok(SignInNotice {
        id: NoticeId::from_uuid(row.notice_id),
        user: UserId::from_uuid(row.user_id),
        at: instant("sign_in_notices", row.at_us)?,
        address: row.address,
        user_agent: row.user_agent,
        new_device: row.new_device,
        new_network: row.new_network,
    })
}
