//! Erasing a whole business (P10), one committed step at a time, so that a
//! crash anywhere leaves a state the next call carries on from:
//!
//! 1. **Mark**: the business's row is marked (refused under a legal hold),
//!    then the directory: the slug stops resolving, every token of the
//!    business is forgotten, and the system-level tombstone is written.
//! 2. **Shred**: the data key is destroyed. With a key store every value
//!    sealed for the business is unreadable from then on, in every backup
//!    of the data databases too.
//! 3. **Delete**: the business's rows go in batches, children first, each
//!    batch its own transaction, so other businesses keep booking between
//!    them.
//! 4. **Close**: the business's row goes; the directory keeps the slug in
//!    quarantine ([`TenantSlug::QUARANTINE_DAYS`]) and the tombstone
//!    records when the erasure finished and how many rows it removed.
//!
//! The tombstone names the business's id, who asked (`api` or `operator`)
//! and the times; nothing a person typed.

use bookwarden_domain::id::TenantId;
use bookwarden_domain::jiff::{SignedDuration, Timestamp};
use bookwarden_domain::tenant::TenantSlug;
use sea_orm::sea_query::{Expr, ExprTrait as _, Func, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Set, Statement};

use crate::entity::{credential_directory, tenant_directory, tenant_erasures, tenants};
use crate::error::StoreError;
use crate::rows::us;
use crate::store::{System, TenantScope, own_tenant};

/// The business's tables an erasure empties, children before parents, and
/// last the audit trail (on PostgreSQL through `bookwarden_erase_audit`).
/// The business's own row goes in the closing step. A test checks that
/// with the directory tables and the tombstone these are every table.
pub const ERASED_TABLES: [&str; 21] = [
    "idempotency_keys",
    "bookings",
    "holds",
    "busy_blocks",
    "calendar_connections",
    "sign_in_notices",
    "sign_in_sources",
    "sessions",
    "api_keys",
    "recovery_codes",
    "invitations",
    "login_throttle",
    "schedules",
    "service_staff",
    "services",
    "staff",
    "data_requests",
    "customers",
    "users",
    "tenant_keys",
    "audit_log",
];

/// Who asked for an erasure, as the tombstone records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErasureVia {
    /// The business's owner, over the API.
    Api,
    /// The operator, at the command line.
    Operator,
}

impl ErasureVia {
    fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Operator => "operator",
        }
    }
}

/// What one call of [`System::erase_tenant_step`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErasureStep {
    /// The business is marked: its slug and tokens lead nowhere.
    Marked,
    /// Its data key is destroyed.
    KeyDestroyed,
    /// A batch of this many rows is deleted.
    Deleted(u64),
    /// The erasure is complete (now or before); this many rows in all.
    Done {
        /// Rows removed over the whole erasure.
        rows: u64,
    },
}

/// A business's erasure as its tombstone records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErasureRecord {
    /// The business.
    pub tenant: TenantId,
    /// Who asked.
    pub via: ErasureVia,
    /// When it began.
    pub requested_at: Timestamp,
    /// When its data key was destroyed.
    pub key_destroyed_at: Option<Timestamp>,
    /// When it finished.
    pub completed_at: Option<Timestamp>,
    /// Rows removed so far.
    pub rows_deleted: u64,
}

fn record(row: tenant_erasures::Model) -> Result<ErasureRecord, StoreError> {
    let at = |us: i64| {
        Timestamp::from_microsecond(us).map_err(|e| crate::rows::corrupt("tenant_erasures", e))
    };
    Ok(ErasureRecord {
        tenant: TenantId::from_uuid(row.tenant_id),
        via: match row.via.as_str() {
            "api" => ErasureVia::Api,
            "operator" => ErasureVia::Operator,
            other => {
                return Err(crate::rows::corrupt(
                    "tenant_erasures",
                    format!("unknown requester {other:?}"),
                ));
            }
        },
        requested_at: at(row.requested_at_us)?,
        key_destroyed_at: row.key_destroyed_at_us.map(at).transpose()?,
        completed_at: row.completed_at_us.map(at).transpose()?,
        rows_deleted: u64::try_from(row.rows_deleted).unwrap_or(0),
    })
}

impl System<'_> {
    /// The tombstone of `tenant`'s erasure, if one began.
    pub async fn erasure(&self, tenant: TenantId) -> Result<Option<ErasureRecord>, StoreError> {
        tenant_erasures::Entity::find_by_id(*tenant.as_uuid())
            .one(self.0.directory())
            .await?
            .map(record)
            .transpose()
    }

    /// Every erasure that began and has not finished, oldest first (a
    /// server carries them on after a crash).
    pub async fn unfinished_erasures(&self) -> Result<Vec<TenantId>, StoreError> {
        let mut rows = tenant_erasures::Entity::find()
            .filter(tenant_erasures::Column::CompletedAtUs.is_null())
            .all(self.0.directory())
            .await?;
        rows.sort_by_key(|row| row.requested_at_us);
        Ok(rows
            .into_iter()
            .map(|row| TenantId::from_uuid(row.tenant_id))
            .collect())
    }

    /// The business with this slug, also while it is being erased or in
    /// quarantine after (for the operator who carries an erasure on).
    pub async fn locate_any(&self, slug: &TenantSlug) -> Result<Option<TenantId>, StoreError> {
        let found = tenant_directory::Entity::find()
            .filter(tenant_directory::Column::Slug.eq(slug.as_str()))
            .one(self.0.directory())
            .await?;
        Ok(found.map(|row| TenantId::from_uuid(row.tenant_id)))
    }

    /// Takes the next step of erasing `tenant` and commits it; call it
    /// until it answers [`ErasureStep::Done`]. The first call writes the
    /// tombstone and marks the business (refused under a legal hold);
    /// every later call first makes sure the marks hold (the slug leads
    /// nowhere, no token of the business is in the directory, its row is
    /// marked), then carries on where the last committed step left off, so
    /// a crash anywhere, even inside a step, is completed by the next call.
    /// `batch` bounds the rows one delete step removes.
    ///
    /// # Errors
    /// [`StoreError::LegalHold`] when the business is under a legal hold
    /// (an erasure that began before a hold waits for its lifting),
    /// [`StoreError::NoTenant`] when there is no such business. A database
    /// error leaves the last committed step in place.
    pub async fn erase_tenant_step(
        &self,
        tenant: TenantId,
        via: ErasureVia,
        batch: u32,
        now: Timestamp,
    ) -> Result<ErasureStep, StoreError> {
        let Some(state) = self.erasure(tenant).await? else {
            let scope = self.0.read(tenant).await?;
            let exists = own_tenant(&scope).await?.is_some();
            let held = exists && scope.legal_hold().await?;
            scope.commit().await?;
            if !exists {
                return Err(StoreError::NoTenant);
            }
            if held {
                return Err(StoreError::LegalHold);
            }
            // The tombstone first: whatever happens next, an unfinished
            // erasure is on record for the next call to complete.
            tenant_erasures::Entity::insert(tenant_erasures::ActiveModel {
                tenant_id: Set(*tenant.as_uuid()),
                via: Set(via.as_str().to_owned()),
                requested_at_us: Set(us(now)),
                key_destroyed_at_us: Set(None),
                completed_at_us: Set(None),
                rows_deleted: Set(0),
            })
            .on_conflict(
                OnConflict::column(tenant_erasures::Column::TenantId)
                    .do_nothing()
                    .to_owned(),
            )
            .try_insert()
            .exec(self.0.directory())
            .await?;
            self.mark(tenant, now).await?;
            return Ok(ErasureStep::Marked);
        };
        if let Some(_done) = state.completed_at {
            return Ok(ErasureStep::Done {
                rows: state.rows_deleted,
            });
        }
        self.mark(tenant, now).await?;
        if state.key_destroyed_at.is_none() {
            let scope = self.0.write(tenant).await?;
            scope.destroy_data_key().await?;
            scope.commit().await?;
            tenant_erasures::Entity::update_many()
                .col_expr(
                    tenant_erasures::Column::KeyDestroyedAtUs,
                    Expr::value(us(now)),
                )
                .filter(tenant_erasures::Column::TenantId.eq(*tenant.as_uuid()))
                .exec(self.0.directory())
                .await?;
            return Ok(ErasureStep::KeyDestroyed);
        }
        let scope = self.0.write(tenant).await?;
        let present = own_tenant(&scope).await?.is_some();
        let deleted = if present {
            scope.erase_batch(batch).await?
        } else {
            0
        };
        if deleted > 0 {
            scope.commit().await?;
            self.count_deleted(tenant, deleted).await?;
            return Ok(ErasureStep::Deleted(deleted));
        }
        // Closing. Whatever wrote a key back since it was destroyed (a
        // rotation that read it before) is undone here too.
        scope.destroy_data_key().await?;
        let row = tenants::Entity::delete_many()
            .filter(tenants::Column::TenantId.eq(*tenant.as_uuid()))
            .exec(scope.tx())
            .await?
            .rows_affected;
        scope.commit().await?;
        self.count_deleted(tenant, row).await?;
        tenant_directory::Entity::update_many()
            .col_expr(tenant_directory::Column::ErasedAtUs, Expr::value(us(now)))
            .filter(tenant_directory::Column::TenantId.eq(*tenant.as_uuid()))
            .filter(tenant_directory::Column::ErasedAtUs.is_null())
            .exec(self.0.directory())
            .await?;
        tenant_erasures::Entity::update_many()
            .col_expr(tenant_erasures::Column::CompletedAtUs, Expr::value(us(now)))
            .filter(tenant_erasures::Column::TenantId.eq(*tenant.as_uuid()))
            .exec(self.0.directory())
            .await?;
        let rows = self
            .erasure(tenant)
            .await?
            .map_or(0, |state| state.rows_deleted);
        Ok(ErasureStep::Done { rows })
    }

    /// The marks of a business being erased, each idempotent: the directory
    /// entry (the slug stops resolving), every token of the business gone
    /// from the credential directory (also one registered by a request
    /// that was already running), and the business's own row, unless it is
    /// gone already. Refused under a legal hold.
    async fn mark(&self, tenant: TenantId, now: Timestamp) -> Result<(), StoreError> {
        let directory = self.0.directory();
        tenant_directory::Entity::update_many()
            .col_expr(
                tenant_directory::Column::ErasingSinceUs,
                Expr::value(us(now)),
            )
            .filter(tenant_directory::Column::TenantId.eq(*tenant.as_uuid()))
            .filter(tenant_directory::Column::ErasingSinceUs.is_null())
            .exec(directory)
            .await?;
        credential_directory::Entity::delete_many()
            .filter(credential_directory::Column::TenantId.eq(*tenant.as_uuid()))
            .exec(directory)
            .await?;
        let scope = self.0.write(tenant).await?;
        if let Some(row) = own_tenant(&scope).await?
            && row.erasing_since_us.is_none()
            && !scope.mark_erasing(now).await?
        {
            scope.rollback().await?;
            return Err(StoreError::LegalHold);
        }
        scope.commit().await
    }

    async fn count_deleted(&self, tenant: TenantId, rows: u64) -> Result<(), StoreError> {
        let rows = i64::try_from(rows).unwrap_or(i64::MAX);
        tenant_erasures::Entity::update_many()
            .col_expr(
                tenant_erasures::Column::RowsDeleted,
                Expr::col(tenant_erasures::Column::RowsDeleted).add(rows),
            )
            .filter(tenant_erasures::Column::TenantId.eq(*tenant.as_uuid()))
            .exec(self.0.directory())
            .await?;
        Ok(())
    }

    /// Frees `slug` if the business that had it was erased more than the
    /// quarantine ago; called before a new business takes a slug.
    pub(crate) async fn release_slug(
        &self,
        slug: &TenantSlug,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let until = now
            .checked_sub(SignedDuration::from_hours(24 * TenantSlug::QUARANTINE_DAYS))
            .unwrap_or(now);
        tenant_directory::Entity::delete_many()
            .filter(tenant_directory::Column::Slug.eq(slug.as_str()))
            .filter(tenant_directory::Column::ErasedAtUs.lte(us(until)))
            .exec(self.0.directory())
            .await?;
        Ok(())
    }
}

impl TenantScope {
    /// Marks the business for erasure unless it is under a legal hold; false
    /// when held or when it has no row.
    async fn mark_erasing(&self, now: Timestamp) -> Result<bool, StoreError> {
        let marked = tenants::Entity::update_many()
            .col_expr(
                tenants::Column::ErasingSinceUs,
                Expr::expr(Func::coalesce([
                    Expr::col(tenants::Column::ErasingSinceUs),
                    Expr::value(us(now)),
                ])),
            )
            .filter(tenants::Column::TenantId.eq(self.uuid()))
            .filter(tenants::Column::LegalHold.eq(false))
            .exec(self.tx())
            .await?;
        Ok(marked.rows_affected == 1)
    }

    /// Deletes up to `limit` rows from the first of [`ERASED_TABLES`] that
    /// still has any of the business's; 0 when none has. Only for a
    /// business marked for erasure.
    async fn erase_batch(&self, limit: u32) -> Result<u64, StoreError> {
        let backend = self.tx().get_database_backend();
        let limit = Ord::max(limit, 1);
        for table in ERASED_TABLES {
            let statement = match (backend, table) {
                (DbBackend::Postgres, "audit_log") => Statement::from_sql_and_values(
                    backend,
                    "SELECT bookwarden_erase_audit($1, $2) AS removed",
                    [
                        self.uuid().into(),
                        i32::try_from(limit).unwrap_or(i32::MAX).into(),
                    ],
                ),
                (DbBackend::Postgres, _) => Statement::from_sql_and_values(
                    backend,
                    format!(
                        "DELETE FROM {table} WHERE ctid IN \
                         (SELECT ctid FROM {table} WHERE tenant_id = $1 LIMIT {limit})"
                    ),
                    [self.uuid().into()],
                ),
                _ => Statement::from_sql_and_values(
                    backend,
                    format!(
                        "DELETE FROM {table} WHERE rowid IN \
                         (SELECT rowid FROM {table} WHERE tenant_id = ? LIMIT {limit})"
                    ),
                    [self.uuid().into()],
                ),
            };
            let removed = if table == "audit_log" && backend == DbBackend::Postgres {
                let row = self.tx().query_one_raw(statement).await?;
                row.map(|r| r.try_get::<i64>("", "removed"))
                    .transpose()?
                    .map_or(0, |n| u64::try_from(n).unwrap_or(0))
            } else {
                self.tx().execute_raw(statement).await?.rows_affected()
            };
            if removed > 0 {
                return Ok(removed);
            }
            if table == "audit_log" && backend != DbBackend::Postgres {
                let heads = self
                    .tx()
                    .execute_raw(Statement::from_sql_and_values(
                        backend,
                        "DELETE FROM audit_heads WHERE tenant_id = ?",
                        [self.uuid().into()],
                    ))
                    .await?
                    .rows_affected();
                if heads > 0 {
                    return Ok(heads);
                }
            }
        }
        Ok(0)
    }
}
