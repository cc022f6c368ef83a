//! External calendar connections and the busy blocks imported from them.
//! Provider tokens and app passwords are stored only vault-sealed; busy
//! blocks keep only subject (none in busy-only mode), start, end and the
//! all-day flag (P4).

use bookwarden_domain::calendar::{ConnectionStatus, ImportedBusy, Provider, SyncMode};
use bookwarden_domain::id::{BusyBlockId, ConnectionId, StaffId};
use bookwarden_domain::jiff::Timestamp;
use bookwarden_domain::slots::BusyTime;
use bookwarden_domain::time::TimeRange;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::entity::{busy_blocks, calendar_connections};
use crate::error::{Refusal, StoreError, refusal};
use crate::rows::{corrupt, instant, range, us};
use crate::store::TenantScope;

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
    /// Sync health, shown to the owner.
    pub status: ConnectionStatus,
    /// Tokens or app password, sealed by the vault for this tenant, purpose
    /// and connection id.
    pub sealed_secret: Option<Vec<u8>>,
    /// The provider's sync token or delta link for incremental sync.
    pub sync_cursor: Option<String>,
    /// The last successful sync.
    pub last_synced_at: Option<Timestamp>,
    /// When it was connected.
    pub created_at: Timestamp,
}

impl std::fmt::Debug for ConnectionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionRecord")
            .field("id", &self.id)
            .field("staff", &self.staff)
            .field("provider", &self.provider)
            .field("mode", &self.mode)
            .field("status", &self.status)
            .field(
                "sealed_secret",
                &self.sealed_secret.as_ref().map(|_| "[SEALED]"),
            )
            .finish()
    }
}

fn parse_connection(row: calendar_connections::Model) -> Result<ConnectionRecord, StoreError> {
    let bad = |e: &dyn std::fmt::Display| corrupt("calendar_connections", e);
    Ok(ConnectionRecord {
        id: ConnectionId::from_uuid(row.connection_id),
        staff: StaffId::from_uuid(row.staff_id),
        provider: Provider::parse(&row.provider).map_err(|e| bad(&e))?,
        mode: SyncMode::parse(&row.mode).map_err(|e| bad(&e))?,
        status: ConnectionStatus::parse(&row.status).map_err(|e| bad(&e))?,
        sealed_secret: row.sealed_secret,
        sync_cursor: row.sync_cursor,
        last_synced_at: row
            .last_synced_at_us
            .map(|t| instant("calendar_connections", t))
            .transpose()?,
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
            sealed_secret: Set(c.sealed_secret.clone()),
            sync_cursor: Set(c.sync_cursor.clone()),
            last_synced_at_us: Set(c.last_synced_at.map(us)),
            created_at_us: Set(us(c.created_at)),
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

    /// Records a sync's outcome: health, cursor and (on success) its time.
    pub async fn record_sync(
        &self,
        id: ConnectionId,
        status: ConnectionStatus,
        cursor: Option<&str>,
        synced_at: Option<Timestamp>,
    ) -> Result<bool, StoreError> {
        let mut update = calendar_connections::Entity::update_many()
            .col_expr(calendar_connections::Column::Status, status.as_str().into())
            .col_expr(
                calendar_connections::Column::SyncCursor,
                cursor.map(str::to_owned).into(),
            );
        if let Some(at) = synced_at {
            update = update.col_expr(
                calendar_connections::Column::LastSyncedAtUs,
                Some(us(at)).into(),
            );
        }
        let result = update
            .filter(calendar_connections::Column::TenantId.eq(self.0.uuid()))
            .filter(calendar_connections::Column::ConnectionId.eq(*id.as_uuid()))
            .exec(self.0.tx())
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Removes a connection with its sealed tokens and every busy block
    /// imported from it (P5: disconnecting deletes them).
    pub async fn delete(&self, id: ConnectionId) -> Result<bool, StoreError> {
        let result = calendar_connections::Entity::delete_many()
            .filter(calendar_connections::Column::TenantId.eq(self.0.uuid()))
            .filter(calendar_connections::Column::ConnectionId.eq(*id.as_uuid()))
            .exec(self.0.tx())
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Replaces the busy blocks imported from a connection (a full sync).
    pub async fn replace_busy(
        &self,
        id: ConnectionId,
        blocks: &[ImportedBusy],
    ) -> Result<bool, StoreError> {
        let Some(connection) = self.get(id).await? else {
            return Ok(false);
        };
        let scope = self.0;
        busy_blocks::Entity::delete_many()
            .filter(busy_blocks::Column::TenantId.eq(scope.uuid()))
            .filter(busy_blocks::Column::ConnectionId.eq(*id.as_uuid()))
            .exec(scope.tx())
            .await?;
        for block in blocks {
            // The mode is enforced here too: a busy-only connection never
            // stores a subject, whatever the caller passed.
            let subject = match connection.mode {
                SyncMode::BusyOnly => None,
                SyncMode::WithSubject => block.subject().map(str::to_owned),
            };
            busy_blocks::ActiveModel {
                tenant_id: Set(scope.uuid()),
                busy_block_id: Set(*BusyBlockId::random().as_uuid()),
                connection_id: Set(*id.as_uuid()),
                staff_id: Set(*connection.staff.as_uuid()),
                subject: Set(subject),
                starts_at_us: Set(us(block.range().start())),
                ends_at_us: Set(us(block.range().end())),
                all_day: Set(block.all_day()),
            }
            .insert(scope.tx())
            .await?;
        }
        Ok(true)
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
