//! The tenant's own row.

use bookwarden_crypto::vault::{MasterKeyRing, TenantDataKey, TenantRef, WrappedDataKey};
use bookwarden_domain::calendar::FailPolicy;
use bookwarden_domain::jiff::Timestamp;
use bookwarden_domain::tenant::{
    Plan, Region, Tenant, TenantName, TenantParts, TenantSlug, TenantStatus,
};
use bookwarden_domain::time::TimeZone;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::entity::{tenant_keys, tenants};
use crate::error::StoreError;
use crate::rows::{corrupt, us};
use crate::store::{TenantScope, own_tenant};

pub(crate) async fn insert(
    scope: &TenantScope,
    tenant: &Tenant,
    now: Timestamp,
) -> Result<(), StoreError> {
    scope.check_owner(tenant.id())?;
    tenants::ActiveModel {
        tenant_id: Set(scope.uuid()),
        name: Set(tenant.name().as_str().to_owned()),
        slug: Set(tenant.slug().as_str().to_owned()),
        plan: Set(tenant.plan().as_str().to_owned()),
        status: Set(tenant.status().as_str().to_owned()),
        time_zone: Set(tenant.time_zone().name().to_owned()),
        region: Set(tenant.region().as_str().to_owned()),
        created_at_us: Set(us(now)),
        calendar_fail_policy: Set(FailPolicy::default().as_str().to_owned()),
        legal_hold: Set(false),
        erasing_since_us: Set(None),
    }
    .insert(scope.tx())
    .await?;
    Ok(())
}

fn parse(row: tenants::Model) -> Result<Tenant, StoreError> {
    let bad = |e: &dyn std::fmt::Display| corrupt("tenants", e);
    Ok(Tenant::restore(TenantParts {
        id: bookwarden_domain::id::TenantId::from_uuid(row.tenant_id),
        name: TenantName::parse(&row.name).map_err(|e| bad(&e))?,
        slug: TenantSlug::parse(&row.slug).map_err(|e| bad(&e))?,
        plan: Plan::parse(&row.plan).map_err(|e| bad(&e))?,
        region: Region::parse(&row.region).map_err(|e| bad(&e))?,
        status: TenantStatus::parse(&row.status).map_err(|e| bad(&e))?,
        time_zone: TimeZone::parse(&row.time_zone).map_err(|e| bad(&e))?,
    }))
}

/// What [`TenantScope::rewrap_data_key`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rewrap {
    /// The key was wrapped under an older master key and now is under the
    /// primary.
    Rewrapped,
    /// The key was already under the primary master key.
    Current,
    /// The tenant has no data key.
    NoKey,
}

impl TenantScope {
    /// This scope's tenant; none once it is marked for erasure.
    pub async fn tenant_row(&self) -> Result<Option<Tenant>, StoreError> {
        own_tenant(self)
            .await?
            .filter(|row| row.erasing_since_us.is_none())
            .map(parse)
            .transpose()
    }

    /// The tenant's catalog version: it moves with every change to the
    /// tenant row, its staff, services and schedules (database triggers),
    /// whoever makes it. A booking checked against a kept copy of those
    /// passes the copy's version ([`crate::BookingExtras`]).
    pub async fn catalog_version(&self) -> Result<Option<i64>, StoreError> {
        let backend = self.tx().get_database_backend();
        let sql = match backend {
            sea_orm::DbBackend::Postgres => {
                "SELECT catalog_version FROM tenants WHERE tenant_id = $1"
            }
            _ => "SELECT catalog_version FROM tenants WHERE tenant_id = ?",
        };
        let row = self
            .tx()
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                backend,
                sql,
                [self.uuid().into()],
            ))
            .await?;
        row.map(|r| r.try_get::<i64>("", "catalog_version"))
            .transpose()
            .map_err(StoreError::from)
    }

    /// Saves a changed name, plan or status of this scope's tenant.
    pub async fn update_tenant(&self, tenant: &Tenant) -> Result<bool, StoreError> {
        self.check_owner(tenant.id())?;
        let result = tenants::Entity::update_many()
            .col_expr(tenants::Column::Name, tenant.name().as_str().into())
            .col_expr(tenants::Column::Plan, tenant.plan().as_str().into())
            .col_expr(tenants::Column::Status, tenant.status().as_str().into())
            .col_expr(tenants::Column::TimeZone, tenant.time_zone().name().into())
            .filter(tenants::Column::TenantId.eq(self.uuid()))
            .exec(self.tx())
            .await?;
        Ok(result.rows_affected == 1)
    }
}

/// A tenant's data key as stored: wrapped by the master key of
/// `master_version` (see `bookwarden_crypto::vault`).
#[derive(Clone, PartialEq, Eq)]
pub struct StoredDataKey {
    /// The master key version that wraps it.
    pub master_version: u32,
    /// The wrapped bytes; useless without the master key.
    pub wrapped: Vec<u8>,
}

impl TenantScope {
    /// Saves the tenant's wrapped data key, replacing the one stored (as a
    /// master key rotation does). With a key store it is written there at
    /// once (not with the scope's commit), and a copy left in the data
    /// database from before the key store goes with the scope's commit.
    pub async fn put_data_key(
        &self,
        key: &StoredDataKey,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let version = i32::try_from(key.master_version)
            .map_err(|e| StoreError::Config(format!("master key version: {e}")))?;
        let row = tenant_keys::ActiveModel {
            tenant_id: Set(self.uuid()),
            master_version: Set(version),
            wrapped: Set(key.wrapped.clone()),
            updated_at_us: Set(us(now)),
        };
        let replace = OnConflict::column(tenant_keys::Column::TenantId)
            .update_columns([
                tenant_keys::Column::MasterVersion,
                tenant_keys::Column::Wrapped,
                tenant_keys::Column::UpdatedAtUs,
            ])
            .to_owned();
        match &self.key_store {
            Some(store) => {
                tenant_keys::Entity::insert(row)
                    .on_conflict(replace)
                    .exec(store)
                    .await?;
                self.forget_key_in_data().await?;
            }
            None => {
                tenant_keys::Entity::insert(row)
                    .on_conflict(replace)
                    .exec(self.tx())
                    .await?;
            }
        }
        Ok(())
    }

    /// The tenant's wrapped data key, if it has one: from the key store,
    /// or from the data database where there is none (or where the key
    /// has not been moved to it yet).
    pub async fn data_key(&self) -> Result<Option<StoredDataKey>, StoreError> {
        if let Some(store) = &self.key_store
            && let Some(key) = read_key(store, self.uuid()).await?
        {
            return Ok(Some(key));
        }
        read_key(self.tx(), self.uuid()).await
    }

    /// Moves a data key kept in the data database (from before the key
    /// store was configured) to the key store, leaving none behind when
    /// the scope commits. True when there was one to move; false too
    /// without a key store.
    pub async fn move_data_key_to_key_store(&self) -> Result<bool, StoreError> {
        let Some(store) = &self.key_store else {
            return Ok(false);
        };
        // Taken out of the data database first (the row stays locked until
        // the scope ends), so a destruction racing this move either finds
        // the key still here or, once this scope commits, in the key store.
        let backend = self.tx().get_database_backend();
        let sql = match backend {
            sea_orm::DbBackend::Postgres => {
                "DELETE FROM tenant_keys WHERE tenant_id = $1 RETURNING master_version, wrapped"
            }
            _ => "DELETE FROM tenant_keys WHERE tenant_id = ? RETURNING master_version, wrapped",
        };
        let taken = self
            .tx()
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                backend,
                sql,
                [self.uuid().into()],
            ))
            .await?;
        let Some(taken) = taken else {
            return Ok(false);
        };
        let key = StoredDataKey {
            master_version: u32::try_from(taken.try_get::<i32>("", "master_version")?)
                .map_err(|e| corrupt("tenant_keys", e))?,
            wrapped: taken.try_get::<Vec<u8>>("", "wrapped")?,
        };
        let version = i32::try_from(key.master_version)
            .map_err(|e| StoreError::Config(format!("master key version: {e}")))?;
        // A key already in the key store is the newer one: keep it.
        let kept = OnConflict::column(tenant_keys::Column::TenantId)
            .do_nothing()
            .to_owned();
        tenant_keys::Entity::insert(tenant_keys::ActiveModel {
            tenant_id: Set(self.uuid()),
            master_version: Set(version),
            wrapped: Set(key.wrapped),
            updated_at_us: Set(0),
        })
        .on_conflict(kept)
        .try_insert()
        .exec(store)
        .await?;
        Ok(true)
    }

    async fn forget_key_in_data(&self) -> Result<bool, StoreError> {
        let result = tenant_keys::Entity::delete_many()
            .filter(tenant_keys::Column::TenantId.eq(self.uuid()))
            .exec(self.tx())
            .await?;
        Ok(result.rows_affected > 0)
    }

    /// Makes the tenant's data key, wraps it under the ring's primary master
    /// key and stores it (replacing any stored one), in this scope's
    /// transaction. Call it once, in the scope that creates the tenant.
    ///
    /// # Errors
    /// [`StoreError::Vault`] when the key cannot be made or wrapped.
    pub async fn create_data_key(
        &self,
        keys: &MasterKeyRing,
        now: Timestamp,
    ) -> Result<TenantDataKey, StoreError> {
        let (key, wrapped) = keys.new_data_key(self.tenant_ref())?;
        let stored = StoredDataKey {
            master_version: wrapped.master_version().get(),
            wrapped: wrapped.to_bytes(),
        };
        self.put_data_key(&stored, now).await?;
        Ok(key)
    }

    /// Reads the tenant's wrapped data key and unwraps it with `keys`: the
    /// key that seals and opens the tenant's secrets in the vault. It is
    /// bound to this tenant: a wrapped key copied from another tenant's row
    /// fails to unwrap.
    ///
    /// # Errors
    /// [`StoreError::NoDataKey`] when the tenant has none (never made, or
    /// destroyed), [`StoreError::Vault`] when it cannot be unwrapped (a
    /// retired or missing master key, or a key that is not this tenant's).
    pub async fn open_data_key(&self, keys: &MasterKeyRing) -> Result<TenantDataKey, StoreError> {
        let stored = self.data_key().await?.ok_or(StoreError::NoDataKey)?;
        let wrapped = WrappedDataKey::from_bytes(&stored.wrapped)?;
        Ok(keys.unwrap(self.tenant_ref(), &wrapped)?)
    }

    /// Rewraps the tenant's data key under the ring's primary master key
    /// (key rotation); the key itself, and so every sealed secret, stays
    /// as it is.
    ///
    /// # Errors
    /// [`StoreError::Vault`] when the stored key cannot be unwrapped (its
    /// master key is not in the ring) or wrapped again.
    pub async fn rewrap_data_key(
        &self,
        keys: &MasterKeyRing,
        now: Timestamp,
    ) -> Result<Rewrap, StoreError> {
        let Some(stored) = self.data_key().await? else {
            return Ok(Rewrap::NoKey);
        };
        if stored.master_version == keys.primary_version().get() {
            return Ok(Rewrap::Current);
        }
        let wrapped = WrappedDataKey::from_bytes(&stored.wrapped)?;
        let rewrapped = keys.rewrap(self.tenant_ref(), &wrapped)?;
        let version = i32::try_from(rewrapped.master_version().get())
            .map_err(|e| StoreError::Config(format!("master key version: {e}")))?;
        // Replaces exactly the key read, never inserts: a key destroyed
        // meanwhile (the business is being erased) stays destroyed.
        let replace = || {
            tenant_keys::Entity::update_many()
                .col_expr(tenant_keys::Column::MasterVersion, Expr::value(version))
                .col_expr(
                    tenant_keys::Column::Wrapped,
                    Expr::value(rewrapped.to_bytes()),
                )
                .col_expr(tenant_keys::Column::UpdatedAtUs, Expr::value(us(now)))
                .filter(tenant_keys::Column::TenantId.eq(self.uuid()))
                .filter(tenant_keys::Column::Wrapped.eq(stored.wrapped.clone()))
        };
        let mut replaced = 0;
        if let Some(store) = &self.key_store {
            replaced = replace().exec(store).await?.rows_affected;
        }
        if replaced == 0 {
            replaced = replace().exec(self.tx()).await?.rows_affected;
        }
        Ok(if replaced == 0 {
            Rewrap::NoKey
        } else {
            Rewrap::Rewrapped
        })
    }

    /// The tenant as the vault names it in associated data.
    fn tenant_ref(&self) -> TenantRef {
        TenantRef::from_bytes(*self.tenant().as_bytes())
    }

    /// Destroys the tenant's data key (crypto-shredding): every value
    /// sealed for the tenant becomes unreadable, here and, with a key
    /// store, in every backup of the data databases (which never held the
    /// key). The copy in the key store is deleted at once; one in the data
    /// database goes with the scope's commit. True when there was one.
    pub async fn destroy_data_key(&self) -> Result<bool, StoreError> {
        let in_data = self.forget_key_in_data().await?;
        let in_store = match &self.key_store {
            Some(store) => {
                tenant_keys::Entity::delete_many()
                    .filter(tenant_keys::Column::TenantId.eq(self.uuid()))
                    .exec(store)
                    .await?
                    .rows_affected
                    > 0
            }
            None => false,
        };
        Ok(in_data || in_store)
    }
}

async fn read_key(
    conn: &impl ConnectionTrait,
    tenant: sea_orm::prelude::Uuid,
) -> Result<Option<StoredDataKey>, StoreError> {
    let row = tenant_keys::Entity::find()
        .filter(tenant_keys::Column::TenantId.eq(tenant))
        .one(conn)
        .await?;
    row.map(|r| {
        Ok(StoredDataKey {
            master_version: u32::try_from(r.master_version)
                .map_err(|e| corrupt("tenant_keys", e))?,
            wrapped: r.wrapped,
        })
    })
    .transpose()
}

impl std::fmt::Debug for StoredDataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredDataKey")
            .field("master_version", &self.master_version)
            .field("wrapped", &"[WRAPPED]")
            .finish()
    }
}
