//! Reading, checking and purging the audit chain (P9): a tenant's admins
//! list and filter its entries and verify its chain over the API;
//! operators verify every tenant's chain from the command line; entries
//! past their retention are purged by the server (and by the command
//! line), the purge itself audited.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bookwarden_domain::audit::AuditKind;
use bookwarden_domain::id::TenantId;
use bookwarden_domain::jiff::{SignedDuration, Timestamp};
use bookwarden_domain::sign_in::NOTICE_RETENTION_DAYS;
use bookwarden_domain::tenant::TenantSlug;
use bookwarden_persistence::{AuditEntry, AuditFilter, ChainStatus};

use crate::App;
use crate::auth::{Need, Principal, audit, typed_value_digest};
use crate::error::AppError;

/// The most entries one page holds.
pub const MAX_AUDIT_PAGE: u64 = 500;

/// Which audit entries to list: every part given must match.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// Only this kind.
    pub kind: Option<AuditKind>,
    /// Only entries by this actor (a user id, as the entries show it).
    pub actor: Option<String>,
    /// Only entries about this subject (an id, as the entries show it).
    pub subject: Option<String>,
    /// Only entries appended at or after this instant.
    pub since: Option<Timestamp>,
    /// Only entries appended before this instant.
    pub until: Option<Timestamp>,
    /// The cursor: only entries after this position (0 for the first page).
    pub after: i64,
    /// At most this many (1 to [`MAX_AUDIT_PAGE`]).
    pub limit: u64,
}

/// One page of audit entries, oldest first.
#[derive(Clone, Debug)]
pub struct AuditPage {
    /// The entries.
    pub entries: Vec<AuditEntry>,
    /// The cursor for the next page, when this one was full.
    pub next: Option<i64>,
}

impl App {
    /// The tenant's audit entries that `query` asks for, oldest first.
    ///
    /// # Errors
    /// [`AppError::Forbidden`] without admin rights.
    pub async fn audit_entries(
        &self,
        principal: &Principal,
        query: &AuditQuery,
    ) -> Result<AuditPage, AppError> {
        principal.require(Need::Admin)?;
        let limit = query.limit.clamp(1, MAX_AUDIT_PAGE);
        let filter = AuditFilter {
            kind: query.kind.map(|k| k.as_str().to_owned()),
            actor: query.actor.clone(),
            subject: query.subject.clone(),
            since: query.since,
            until: query.until,
        };
        let scope = self.store.read(principal.tenant).await?;
        let entries = scope.audit_entries(&filter, query.after, limit).await?;
        scope.commit().await?;
        let full = u64::try_from(entries.len()).unwrap_or(u64::MAX) >= limit;
        let next = entries.last().filter(|_| full).map(|e| e.seq);
        Ok(AuditPage { entries, next })
    }

    /// Records, in the principal's business, a request whose path named
    /// an id the caller cannot see (`route` is the route's pattern,
    /// `typed` the path segment as the request gave it). Whether it is
    /// another business's id or nobody's is not looked up: the two answer
    /// alike (404), and the log keeps it so. What was typed is recorded
    /// only as a keyed digest under the business's key (as any value a
    /// person typed, P9): repeated probes of one value correlate, and the
    /// log never shows the business another's id. The caller limits how
    /// often (the log must not be floodable).
    ///
    /// # Errors
    /// A store failure.
    pub async fn note_unknown_id(
        &self,
        principal: &Principal,
        route: &str,
        typed: &str,
    ) -> Result<(), AppError> {
        let scope = self.store.write(principal.tenant).await?;
        let key = self.data_key(&scope).await?;
        let detail = BTreeMap::from([
            ("route".to_owned(), route.to_owned()),
            ("id_digest".to_owned(), typed_value_digest(&key, typed)?),
        ]);
        audit(
            &scope,
            AuditKind::UnknownId,
            principal.actor(),
            None,
            detail,
            self.now(),
        )
        .await?;
        scope.commit().await?;
        Ok(())
    }

    /// Verifies the principal's tenant's audit chain.
    ///
    /// # Errors
    /// [`AppError::Forbidden`] without admin rights.
    pub async fn verify_audit(&self, principal: &Principal) -> Result<ChainStatus, AppError> {
        principal.require(Need::Admin)?;
        self.verify_chain(principal.tenant).await
    }

    /// Verifies the audit chain of the tenant at `slug`, or of every
    /// tenant, for an operator; `each` hears every verdict as it comes (an
    /// error for a tenant whose chain could not be checked).
    ///
    /// # Errors
    /// [`AppError::Invalid`] for a malformed slug, [`AppError::NotFound`]
    /// for an unknown one, or a store failure.
    pub async fn verify_audit_chains(
        &self,
        slug: Option<&str>,
        mut each: impl FnMut(&TenantSlug, &Result<ChainStatus, String>),
    ) -> Result<Vec<Result<ChainStatus, String>>, AppError> {
        let tenants = self.tenants_named(slug).await?;
        let mut verdicts = Vec::with_capacity(tenants.len());
        for tenant in tenants {
            let scope = self.store.read(tenant).await?;
            let slug = scope.tenant_row().await?.map(|t| t.slug().clone());
            scope.commit().await?;
            let Some(slug) = slug else { continue };
            // One tenant that cannot be checked (its key does not open)
            // is reported as such; the others are still checked.
            let verdict = self.verify_chain(tenant).await.map_err(|e| e.to_string());
            each(&slug, &verdict);
            verdicts.push(verdict);
        }
        Ok(verdicts)
    }

    /// The business at `slug`, or every business.
    async fn tenants_named(&self, slug: Option<&str>) -> Result<Vec<TenantId>, AppError> {
        Ok(match slug {
            Some(slug) => vec![self.tenant_at(slug).await?],
            None => self
                .store
                .system()
                .tenants()
                .await?
                .into_iter()
                .map(|(id, _region)| id)
                .collect(),
        })
    }

    async fn verify_chain(&self, tenant: TenantId) -> Result<ChainStatus, AppError> {
        let scope = self.store.read(tenant).await?;
        let key = self.data_key(&scope).await?;
        let verdict = scope.verify_audit_chain(&key).await?;
        scope.commit().await?;
        Ok(verdict)
    }

    /// Purges every tenant's expired audit entries (or one tenant's, at
    /// `slug`); answers how many were removed in all. A tenant whose chain
    /// does not verify where the purge would cut is not purged (that would
    /// vouch for the tampering) and is logged; the others still are.
    ///
    /// # Errors
    /// [`AppError::Invalid`] for a malformed slug, [`AppError::NotFound`]
    /// for an unknown one, a store failure, or an error naming how many
    /// tenants were not purged.
    pub async fn purge_audit(&self, slug: Option<&str>) -> Result<u64, AppError> {
        let tenants = self.tenants_named(slug).await?;
        let mut removed = 0_u64;
        let mut failed = 0_usize;
        for tenant in tenants {
            // One tenant whose chain does not verify (or whose key does
            // not open) is skipped and reported; the others are purged.
            match self.purge_tenant_audit(tenant).await {
                Ok(done) => removed = removed.saturating_add(done),
                Err(error) => {
                    failed = failed.saturating_add(1);
                    tracing::error!(%tenant, %error, "audit purge refused for a tenant");
                }
            }
        }
        if failed > 0 {
            return Err(AppError::internal(std::io::Error::other(format!(
                "{failed} tenant(s) not purged ({removed} entries removed elsewhere); see the log"
            ))));
        }
        Ok(removed)
    }

    /// One tenant's purge, a batch per transaction, each batch audited.
    async fn purge_tenant_audit(&self, tenant: TenantId) -> Result<u64, AppError> {
        // Sign-in notices (an address and a user agent each) go with the
        // audit entries beside them.
        let now = self.now();
        let keep = SignedDuration::from_hours(24 * i64::from(NOTICE_RETENTION_DAYS));
        if let Ok(before) = now.checked_sub(keep) {
            let scope = self.store.write(tenant).await?;
            scope.sign_ins().purge_notices(before).await?;
            scope.commit().await?;
        }
        let mut removed = 0_u64;
        loop {
            let now = self.now();
            let scope = self.store.write(tenant).await?;
            let key = self.data_key(&scope).await?;
            let purged = scope.purge_audit(&key, now).await?;
            let Some(through) = purged.through else {
                scope.rollback().await?;
                return Ok(removed);
            };
            let detail = BTreeMap::from([
                ("removed".to_owned(), purged.removed.to_string()),
                ("through".to_owned(), through.to_string()),
            ]);
            let system = Some("system".to_owned());
            audit(&scope, AuditKind::AuditPurged, system, None, detail, now).await?;
            scope.commit().await?;
            removed = removed.saturating_add(purged.removed);
        }
    }

    /// Runs [`App::purge_audit`] every `every` until the task is dropped,
    /// after completing any business erasure a crash left unfinished
    /// ([`App::resume_erasures`]): the server spawns it beside the HTTP
    /// workers, and its first round runs at once.
    pub async fn run_audit_purge(self: Arc<Self>, every: Duration) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match self.resume_erasures().await {
                Ok(0) => {}
                Ok(completed) => {
                    tracing::info!(completed, "unfinished business erasures completed")
                }
                Err(error) => tracing::warn!(%error, "a business erasure could not be completed"),
            }
            match self.purge_audit(None).await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "expired audit entries purged"),
                Err(error) => tracing::warn!(%error, "audit purge failed"),
            }
        }
    }
}
