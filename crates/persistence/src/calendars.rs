//! External calendar connections and the busy blocks imported from them.
//! Provider tokens and app passwords are stored only vault-sealed; busy
//! blocks keep only subject (none in busy-only mode), start, end and the
//! all-day flag (P4).

use std::collections::HashMap;

use bookwarden_domain::calendar::{
    ConnectionStatus, FailPolicy, ImportedBusy, Provider, SyncMode, SyncState,
};
use bookwarden_domain::id::{BusyBlockId, ConnectionId, StaffId};
use bookwarden_domain::jiff::Timestamp;
use bookwarden_domain::slots::BusyTime;
use bookwarden_domain::time::TimeRange;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};

use crate::entity::{busy_blocks, calendar_connections, tenants};
use crate::error::{Refusal, StoreError, refusal};
use crate::rows::{corrupt, instant, range, us};
use crate::store::TenantScope;

/// Blocks deleted per statement when a sync removes many (bound
/// parameters stay far below every driver's limit).
const DELETE_BATCH: usize = 500;

/// A staff member's connected calendar.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionRecord {
    /// Its id.
    pub id: ConnectionId,
    /// Whose calendar.
    pub staff: StaffId,
    /// Where it lives.
    pub provider: Provider,
    /// How much is imported.
    pub mode: SyncMode,
    /// Sync status as stored (health adds staleness, see
    /// [`ConnectionRecord::state`]).
    pub status: ConnectionStatus,
    /// What the staff member sees it as: a host name or account, never a
    /// secret.
    pub label: String,
    /// Tokens, app password or private feed URL, sealed by the vault for
    /// this tenant, purpose and connection id.
    pub sealed_secret: Option<Vec<u8>>,
    /// The provider's sync token, delta link or validators for
    /// incremental sync.
    pub sync_cursor: Option<String>,
    /// The last successful sync.
    pub last_synced_at: Option<Timestamp>,
    /// Failed syncs since the last good one.
    pub failures: u32,
    /// When the next automatic sync is due; none when nothing retries
    /// automatically.
    pub next_sync_at: Option<Timestamp>,
    /// The kind of the last failure, in words fit for the owner (no URL,
    /// no provider text).
    pub last_error: Option<String>,
    /// Whether the last good sync hit an expansion bound and was cut.
    pub degraded: bool,
    /// The end of the window the kept busy time was imported over.
    pub synced_until: Option<Timestamp>,
    /// When it was connected.
    pub created_at: Timestamp,
}

impl ConnectionRecord {
    /// Where its syncing stands, for health and backoff.
    pub fn state(&self) -> SyncState {
        SyncState {
            status: self.status,
            failures: self.failures,
            last_good: self.last_synced_at,
            synced_until: self.synced_until,
        }
    }
}

/// A sync that worked.
#[derive(Clone, Debug)]
pub struct SyncSuccess<'a> {
    /// The cursor for the next sync.
    pub cursor: Option<&'a str>,
    /// When it finished.
    pub at: Timestamp,
    /// The end of the window it imported.
    pub synced_until: Timestamp,
    /// Whether a bound cut it.
    pub degraded: bool,
    /// When the next one is due.
    pub next_sync_at: Option<Timestamp>,
}

/// A sync that failed: the kept busy time stays.
#[derive(Clone, Debug)]
pub struct SyncFailure<'a> {
    /// Failing, or revoked when the provider refused the credentials.
    pub status: ConnectionStatus,
    /// Failures in a row, this one included.
    pub failures: u32,
    /// Its kind, in words fit for the owner.
    pub error: &'a str,
    /// When to try again; none to stop automatic retries.
    pub next_sync_at: Option<Timestamp>,
}

/// What merging a sync's busy time changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Merged {
    /// Blocks new to the connection.
    pub added: usize,
    /// Kept blocks whose time, subject or all-day flag changed.
    pub changed: usize,
    /// Kept blocks no longer in the calendar.
    pub removed: usize,
}

impl Merged {
    /// Whether anything changed.
    pub fn any(&self) -> bool {
        self.added + self.changed + self.removed > 0
    }
}

impl std::fmt::Debug for ConnectionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionRecord")
            .field("id", &self.id)
            .field("staff", &self.staff)
            .field("provider", &self.provider)
            .field("mode", &self.mode)
            .field("status", &self.status)
            .field("failures", &self.failures)
            .field(
                "sealed_secret",
                &self.sealed_secret.as_ref().map(|_| "[SEALED]"),
            )
            .finish()
    }
}

fn parse_connection(row: calendar_connections::Model) -> Result<ConnectionRecord, StoreError> {
    let bad = |e: &dyn std::fmt::Display| corrupt("calendar_connections", e);
    let at = |t: Option<i64>| t.map(|t| instant("calendar_connections", t)).transpose();
    Ok(ConnectionRecord {
        id: ConnectionId::from_uuid(row.connection_id),
        staff: StaffId::from_uuid(row.staff_id),
        provider: Provider::parse(&row.provider).map_err(|e| bad(&e))?,
        mode: SyncMode::parse(&row.mode).map_err(|e| bad(&e))?,
        status: ConnectionStatus::parse(&row.status).map_err(|e| bad(&e))?,
        label: row.label,
        sealed_secret: row.sealed_secret,
        sync_cursor: row.sync_cursor,
        last_synced_at: at(row.last_synced_at_us)?,
        failures: u32::try_from(row.failures).map_err(|e| bad(&e))?,
        next_sync_at: at(row.next_sync_at_us)?,
        last_error: row.last_error,
        degraded: row.degraded,
        synced_until: at(row.synced_until_us)?,
        created_at: instant("calendar_connections", row.created_at_us)?,
    })
}

/// Calendar connections of the scope's tenant.
pub struct Calendars<'s>(&'s TenantScope);

impl TenantScope {
    /// Calendar connections and imported busy time.
    pub fn calendars(&self) -> Calendars<'_> {
        Calendars(self)
    }
}

impl Calendars<'_> {
    /// Stores a new connection.
    pub async fn insert(&self, c: &ConnectionRecord) -> Result<(), StoreError> {
        let scope = self.0;
        calendar_connections::ActiveModel {
            tenant_id: Set(scope.uuid()),
            connection_id: Set(*c.id.as_uuid()),
            staff_id: Set(*c.staff.as_uuid()),
            provider: Set(c.provider.as_str().to_owned()),
            mode: Set(c.mode.as_str().to_owned()),
            status: Set(c.status.as_str().to_owned()),
            label: Set(c.label.clone()),
            sealed_secret: Set(c.sealed_secret.clone()),
            sync_cursor: Set(c.sync_cursor.clone()),
            last_synced_at_us: Set(c.last_synced_at.map(us)),
            created_at_us: Set(us(c.created_at)),
            failures: Set(i64::from(c.failures)),
            next_sync_at_us: Set(c.next_sync_at.map(us)),
            lease_until_us: Set(None),
            last_error: Set(c.last_error.clone()),
            degraded: Set(c.degraded),
            synced_until_us: Set(c.synced_until.map(us)),
        }
        .insert(scope.tx())
        .await
        .map_err(|e| match refusal(&e) {
            Some(Refusal::ForeignKey) => StoreError::MissingReference("staff member"),
            _ => StoreError::from(e),
        })?;
        Ok(())
    }

    /// One connection, if it exists in this tenant.
    pub async fn get(&self, id: ConnectionId) -> Result<Option<ConnectionRecord>, StoreError> {
        calendar_connections::Entity::find()
            .filter(calendar_connections::Column::TenantId.eq(self.0.uuid()))
            .filter(calendar_connections::Column::ConnectionId.eq(*id.as_uuid()))
            .one(self.0.tx())
            .await?
            .map(parse_connection)
            .transpose()
    }

    /// Every connection, by id.
    pub async fn list(&self) -> Result<Vec<ConnectionRecord>, StoreError> {
        calendar_connections::Entity::find()
            .filter(calendar_connections::Column::TenantId.eq(self.0.uuid()))
            .order_by_asc(calendar_connections::Column::ConnectionId)
            .all(self.0.tx())
            .await?
            .into_iter()
            .map(parse_connection)
            .collect()
    }

    /// Takes the sync lease on a connection until `until`, unless another
    /// server holds an unexpired one; true when taken. Several servers on
    /// one database never sync the same connection at once.
    pub async fn claim(
        &self,
        id: ConnectionId,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, StoreError> {
        let result = calendar_connections::Entity::update_many()
            .col_expr(
                calendar_connections::Column::LeaseUntilUs,
                Some(us(until)).into(),
            )
            .filter(self.this(id))
            .filter(
                Condition::any()
                    .add(calendar_connections::Column::LeaseUntilUs.is_null())
                    .add(calendar_connections::Column::LeaseUntilUs.lte(us(now))),
            )
            .exec(self.0.tx())
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Connections due for an automatic sync at `now` whose lease is free,
    /// the longest-waiting first, at most `limit`.
    pub async fn due(&self, now: Timestamp, limit: u64) -> Result<Vec<ConnectionId>, StoreError> {
        let rows = calendar_connections::Entity::find()
            .select_only()
            .column(calendar_connections::Column::ConnectionId)
            .filter(calendar_connections::Column::TenantId.eq(self.0.uuid()))
            .filter(calendar_connections::Column::NextSyncAtUs.lte(us(now)))
            .filter(
                Condition::any()
                    .add(calendar_connections::Column::LeaseUntilUs.is_null())
                    .add(calendar_connections::Column::LeaseUntilUs.lte(us(now))),
            )
            .order_by_asc(calendar_connections::Column::NextSyncAtUs)
            .limit(limit)
            .into_tuple::<sea_orm::prelude::Uuid>()
            .all(self.0.tx())
            .await?;
        Ok(rows.into_iter().map(ConnectionId::from_uuid).collect())
    }

    /// Records a good sync: healthy, no failures, the new cursor, and the
    /// lease released.
    pub async fn record_success(
        &self,
        id: ConnectionId,
        done: &SyncSuccess<'_>,
    ) -> Result<bool, StoreError> {
        use calendar_connections::Column as C;
        let result = calendar_connections::Entity::update_many()
            .col_expr(C::Status, ConnectionStatus::Healthy.as_str().into())
            .col_expr(C::SyncCursor, done.cursor.map(str::to_owned).into())
            .col_expr(C::LastSyncedAtUs, Some(us(done.at)).into())
            .col_expr(C::SyncedUntilUs, Some(us(done.synced_until)).into())
            .col_expr(C::Failures, 0_i64.into())
            .col_expr(C::LastError, Option::<String>::None.into())
            .col_expr(C::Degraded, done.degraded.into())
            .col_expr(C::NextSyncAtUs, done.next_sync_at.map(us).into())
            .col_expr(C::LeaseUntilUs, Option::<i64>::None.into())
            .filter(self.this(id))
            .exec(self.0.tx())
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Records a failed sync and releases the lease; the kept busy time
    /// and cursor stay.
    pub async fn record_failure(
        &self,
        id: ConnectionId,
        failed: &SyncFailure<'_>,
    ) -> Result<bool, StoreError> {
        use calendar_connections::Column as C;
        let result = calendar_connections::Entity::update_many()
            .col_expr(C::Status, failed.status.as_str().into())
            .col_expr(C::Failures, i64::from(failed.failures).into())
            .col_expr(C::LastError, Some(failed.error.to_owned()).into())
            .col_expr(C::NextSyncAtUs, failed.next_sync_at.map(us).into())
            .col_expr(C::LeaseUntilUs, Option::<i64>::None.into())
            .filter(self.this(id))
            .exec(self.0.tx())
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Makes a connection due now (a "sync now", or a reconnect after a
    /// revocation).
    pub async fn schedule(&self, id: ConnectionId, at: Timestamp) -> Result<bool, StoreError> {
        let result = calendar_connections::Entity::update_many()
            .col_expr(
                calendar_connections::Column::NextSyncAtUs,
                Some(us(at)).into(),
            )
            .filter(self.this(id))
            .exec(self.0.tx())
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Replaces a connection's sealed credentials (an OAuth connection's
    /// tokens after a refresh).
    pub async fn set_sealed_secret(
        &self,
        id: ConnectionId,
        sealed: &[u8],
    ) -> Result<bool, StoreError> {
        let result = calendar_connections::Entity::update_many()
            .col_expr(
                calendar_connections::Column::SealedSecret,
                Some(sealed.to_vec()).into(),
            )
            .filter(self.this(id))
            .exec(self.0.tx())
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Changes how much a connection imports. Moving to busy-only drops
    /// every subject already kept, in the same transaction (P4).
    pub async fn set_mode(&self, id: ConnectionId, mode: SyncMode) -> Result<bool, StoreError> {
        let result = calendar_connections::Entity::update_many()
            .col_expr(calendar_connections::Column::Mode, mode.as_str().into())
            .filter(self.this(id))
            .exec(self.0.tx())
            .await?;
        if result.rows_affected != 1 {
            return Ok(false);
        }
        if mode == SyncMode::BusyOnly {
            busy_blocks::Entity::update_many()
                .col_expr(
                    busy_blocks::Column::Subject,
                    Expr::value(Option::<String>::None),
                )
                .filter(busy_blocks::Column::TenantId.eq(self.0.uuid()))
                .filter(busy_blocks::Column::ConnectionId.eq(*id.as_uuid()))
                .exec(self.0.tx())
                .await?;
        }
        Ok(true)
    }

    /// Removes a connection with its sealed tokens and every busy block
    /// imported from it (P5: disconnecting deletes them).
    pub async fn delete(&self, id: ConnectionId) -> Result<bool, StoreError> {
        let result = calendar_connections::Entity::delete_many()
            .filter(self.this(id))
            .exec(self.0.tx())
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Merges a sync's busy time into the blocks kept for a connection,
    /// each keyed by the occurrence it came from: new keys are added,
    /// changed ones updated, keys the calendar no longer has removed, and
    /// the rest left alone. False for an unknown connection.
    pub async fn merge_busy(
        &self,
        id: ConnectionId,
        blocks: &[([u8; 32], ImportedBusy)],
    ) -> Result<Option<Merged>, StoreError> {
        let Some(connection) = self.get(id).await? else {
            return Ok(None);
        };
        let (mut by_key, mut stale) = self.kept_blocks(id).await?;
        let mut merged = self.upsert_blocks(&connection, &mut by_key, blocks).await?;
        merged.removed = by_key.len();
        stale.extend(by_key.into_values().map(|row| row.busy_block_id));
        self.delete_blocks(&stale).await?;
        Ok(Some(merged))
    }

    /// Applies an incremental sync's changes to the blocks kept for a
    /// connection: `changed` occurrences added or updated, `removed` ones
    /// deleted, every other block left as it is (a delta is never the
    /// whole calendar). False for an unknown connection.
    pub async fn apply_busy_changes(
        &self,
        id: ConnectionId,
        changed: &[([u8; 32], ImportedBusy)],
        removed: &[[u8; 32]],
    ) -> Result<Option<Merged>, StoreError> {
        let Some(connection) = self.get(id).await? else {
            return Ok(None);
        };
        // Only the blocks the changes name are read: a small delta is a
        // short write, whatever the connection keeps.
        let named: Vec<Vec<u8>> = changed
            .iter()
            .map(|(key, _)| key.to_vec())
            .chain(removed.iter().map(|key| key.to_vec()))
            .collect();
        let mut by_key: HashMap<Vec<u8>, busy_blocks::Model> = HashMap::new();
        let mut twins = Vec::new();
        for batch in named.chunks(DELETE_BATCH) {
            let rows = busy_blocks::Entity::find()
                .filter(busy_blocks::Column::TenantId.eq(self.0.uuid()))
                .filter(busy_blocks::Column::ConnectionId.eq(*id.as_uuid()))
                .filter(busy_blocks::Column::EventKey.is_in(batch.iter().cloned()))
                .all(self.0.tx())
                .await?;
            for row in rows {
                if let Some(key) = row.event_key.clone()
                    && let Some(twin) = by_key.insert(key, row)
                {
                    twins.push(twin.busy_block_id);
                }
            }
        }
        let mut merged = self
            .upsert_blocks(&connection, &mut by_key, changed)
            .await?;
        let gone: Vec<_> = removed
            .iter()
            .filter_map(|key| by_key.remove(key.as_slice()))
            .map(|row| row.busy_block_id)
            .collect();
        merged.removed = gone.len();
        self.delete_blocks(&gone).await?;
        self.delete_blocks(&twins).await?;
        Ok(Some(merged))
    }

    /// The blocks kept for a connection by occurrence key, as a sync
    /// compares them with what it found (blocks without a key left out).
    pub async fn imported_by_key(
        &self,
        id: ConnectionId,
    ) -> Result<HashMap<[u8; 32], ImportedBusy>, StoreError> {
        let rows = busy_blocks::Entity::find()
            .filter(busy_blocks::Column::TenantId.eq(self.0.uuid()))
            .filter(busy_blocks::Column::ConnectionId.eq(*id.as_uuid()))
            .all(self.0.tx())
            .await?;
        let mut kept = HashMap::with_capacity(rows.len());
        for row in rows {
            let Some(key) = row
                .event_key
                .as_deref()
                .and_then(|k| <[u8; 32]>::try_from(k).ok())
            else {
                continue;
            };
            let busy = ImportedBusy::new(
                row.subject.as_deref(),
                range("busy_blocks", row.starts_at_us, row.ends_at_us)?,
                row.all_day,
                SyncMode::WithSubject,
            );
            kept.insert(key, busy);
        }
        Ok(kept)
    }

    /// The blocks kept for a connection by occurrence key, and those to
    /// drop whatever the sync says (duplicates, and blocks from before
    /// occurrence keys).
    async fn kept_blocks(
        &self,
        id: ConnectionId,
    ) -> Result<(HashMap<Vec<u8>, busy_blocks::Model>, Vec<uuid::Uuid>), StoreError> {
        let scope = self.0;
        let kept = busy_blocks::Entity::find()
            .filter(busy_blocks::Column::TenantId.eq(scope.uuid()))
            .filter(busy_blocks::Column::ConnectionId.eq(*id.as_uuid()))
            .all(scope.tx())
            .await?;
        let mut by_key: HashMap<Vec<u8>, busy_blocks::Model> = HashMap::new();
        let mut stale = Vec::new();
        for row in kept {
            match row.event_key.clone() {
                Some(key) => {
                    if let Some(twin) = by_key.insert(key, row) {
                        stale.push(twin.busy_block_id);
                    }
                }
                // Blocks from before occurrence keys: replaced.
                None => stale.push(row.busy_block_id),
            }
        }
        Ok((by_key, stale))
    }

    /// Adds or updates `blocks`, taking each one's key out of `by_key`.
    async fn upsert_blocks(
        &self,
        connection: &ConnectionRecord,
        by_key: &mut HashMap<Vec<u8>, busy_blocks::Model>,
        blocks: &[([u8; 32], ImportedBusy)],
    ) -> Result<Merged, StoreError> {
        let scope = self.0;
        let mut merged = Merged::default();
        let mut seen = std::collections::HashSet::new();
        for (key, block) in blocks {
            if !seen.insert(*key) {
                continue;
            }
            // The mode is enforced here too: a busy-only connection never
            // stores a subject, whatever the caller passed.
            let subject = match connection.mode {
                SyncMode::BusyOnly => None,
                SyncMode::WithSubject => block.subject().map(str::to_owned),
            };
            let (start, end) = (us(block.range().start()), us(block.range().end()));
            match by_key.remove(key.as_slice()) {
                Some(row)
                    if row.subject == subject
                        && row.starts_at_us == start
                        && row.ends_at_us == end
                        && row.all_day == block.all_day() => {}
                Some(row) => {
                    busy_blocks::Entity::update_many()
                        .col_expr(busy_blocks::Column::Subject, subject.into())
                        .col_expr(busy_blocks::Column::StartsAtUs, start.into())
                        .col_expr(busy_blocks::Column::EndsAtUs, end.into())
                        .col_expr(busy_blocks::Column::AllDay, block.all_day().into())
                        .filter(busy_blocks::Column::TenantId.eq(scope.uuid()))
                        .filter(busy_blocks::Column::BusyBlockId.eq(row.busy_block_id))
                        .exec(scope.tx())
                        .await?;
                    merged.changed += 1;
                }
                None => {
                    busy_blocks::ActiveModel {
                        tenant_id: Set(scope.uuid()),
                        busy_block_id: Set(*BusyBlockId::random().as_uuid()),
                        connection_id: Set(*connection.id.as_uuid()),
                        staff_id: Set(*connection.staff.as_uuid()),
                        subject: Set(subject),
                        starts_at_us: Set(start),
                        ends_at_us: Set(end),
                        all_day: Set(block.all_day()),
                        event_key: Set(Some(key.to_vec())),
                    }
                    .insert(scope.tx())
                    .await?;
                    merged.added += 1;
                }
            }
        }
        Ok(merged)
    }

    /// Deletes blocks by id, in batches.
    async fn delete_blocks(&self, ids: &[uuid::Uuid]) -> Result<(), StoreError> {
        for batch in ids.chunks(DELETE_BATCH) {
            busy_blocks::Entity::delete_many()
                .filter(busy_blocks::Column::TenantId.eq(self.0.uuid()))
                .filter(busy_blocks::Column::BusyBlockId.is_in(batch.iter().copied()))
                .exec(self.0.tx())
                .await?;
        }
        Ok(())
    }

    /// The sync state of every connection of `staff`, for the slot
    /// engine's fail policy.
    pub async fn states_of(
        &self,
        staff: &[StaffId],
    ) -> Result<Vec<(StaffId, SyncState)>, StoreError> {
        let ids: Vec<_> = staff.iter().map(|s| *s.as_uuid()).collect();
        calendar_connections::Entity::find()
            .filter(calendar_connections::Column::TenantId.eq(self.0.uuid()))
            .filter(calendar_connections::Column::StaffId.is_in(ids))
            .all(self.0.tx())
            .await?
            .into_iter()
            .map(|row| {
                let record = parse_connection(row)?;
                Ok((record.staff, record.state()))
            })
            .collect()
    }

    /// What the tenant's booking page does with a staff member whose
    /// calendar is not healthy.
    pub async fn fail_policy(&self) -> Result<FailPolicy, StoreError> {
        let row = tenants::Entity::find_by_id(self.0.uuid())
            .select_only()
            .column(tenants::Column::CalendarFailPolicy)
            .into_tuple::<String>()
            .one(self.0.tx())
            .await?;
        row.map_or(Ok(FailPolicy::default()), |p| {
            FailPolicy::parse(&p).map_err(|e| corrupt("tenants", e))
        })
    }

    /// Sets the tenant's fail policy.
    pub async fn set_fail_policy(&self, policy: FailPolicy) -> Result<bool, StoreError> {
        let result = tenants::Entity::update_many()
            .col_expr(tenants::Column::CalendarFailPolicy, policy.as_str().into())
            .filter(tenants::Column::TenantId.eq(self.0.uuid()))
            .exec(self.0.tx())
            .await?;
        Ok(result.rows_affected == 1)
    }

    fn this(&self, id: ConnectionId) -> Condition {
        Condition::all()
            .add(calendar_connections::Column::TenantId.eq(self.0.uuid()))
            .add(calendar_connections::Column::ConnectionId.eq(*id.as_uuid()))
    }

    /// Busy time of `staff` overlapping `window`, from every connection, for
    /// the slot engine.
    pub async fn busy_between(
        &self,
        staff: &[StaffId],
        window: TimeRange,
    ) -> Result<Vec<BusyTime>, StoreError> {
        let ids: Vec<_> = staff.iter().map(|s| *s.as_uuid()).collect();
        busy_blocks::Entity::find()
            .filter(busy_blocks::Column::TenantId.eq(self.0.uuid()))
            .filter(busy_blocks::Column::StaffId.is_in(ids))
            .filter(busy_blocks::Column::StartsAtUs.lt(us(window.end())))
            .filter(busy_blocks::Column::EndsAtUs.gt(us(window.start())))
            .order_by_asc(busy_blocks::Column::StartsAtUs)
            .all(self.0.tx())
            .await?
            .into_iter()
            .map(|row| {
                Ok(BusyTime::new(
                    StaffId::from_uuid(row.staff_id),
                    range("busy_blocks", row.starts_at_us, row.ends_at_us)?,
                ))
            })
            .collect()
    }

    /// The imported blocks of a connection, subjects included, by start.
    pub async fn imported(&self, id: ConnectionId) -> Result<Vec<ImportedBusy>, StoreError> {
        busy_blocks::Entity::find()
            .filter(busy_blocks::Column::TenantId.eq(self.0.uuid()))
            .filter(busy_blocks::Column::ConnectionId.eq(*id.as_uuid()))
            .order_by_asc(busy_blocks::Column::StartsAtUs)
            .all(self.0.tx())
            .await?
            .into_iter()
            .map(|row| {
                Ok(ImportedBusy::new(
                    row.subject.as_deref(),
                    range("busy_blocks", row.starts_at_us, row.ends_at_us)?,
                    row.all_day,
                    SyncMode::WithSubject,
                ))
            })
            .collect()
    }
}
