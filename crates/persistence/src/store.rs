//! The store and its tenant-bound scopes.
//!
//! The only way to tenant data is [`Store::write`] or [`Store::read`], which
//! return a [`TenantScope`]: one database transaction bound to one tenant
//! for its whole life. Every repository hangs off the scope and filters by
//! its tenant at the root of every query; on PostgreSQL the scope also sets
//! the transaction-local `app.tenant_id` that row-level security checks, so
//! a query that forgot its filter would still see nothing foreign.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use bookwarden_domain::id::TenantId;
use bookwarden_domain::tenant::{Region, Tenant, TenantSlug};
use sea_orm::{
    AccessMode, ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, DbBackend, EntityTrait, IsolationLevel, QueryFilter, QueryOrder, Set,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};

use crate::db::{PgPlacement, connect_url};
use crate::entity::{tenant_directory, tenants};
use crate::error::{Refusal, StoreError, Unique, refusal};
use crate::rows::us;

/// Where a region's rows live.
#[derive(Clone)]
pub struct RegionDatabase {
    /// The region.
    pub region: Region,
    /// `sqlite://PATH` or `postgres://USER@HOST/DB` (the application role,
    /// not the schema owner).
    pub url: String,
}

impl std::fmt::Debug for RegionDatabase {
    // A URL may carry a password: show only the region and the scheme.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = self.url.split(':').next().unwrap_or("?");
        write!(f, "RegionDatabase({}, {scheme}://..)", self.region)
    }
}

/// How to open a [`Store`]. `Debug` shows no URL beyond its scheme (a URL
/// may carry a password).
#[derive(Clone)]
pub struct StoreConfig {
    /// One database per region; with one region, everything is one
    /// database.
    pub regions: Vec<RegionDatabase>,
    /// The region whose database holds the tenant directory (slug ->
    /// tenant and region).
    pub directory: Region,
    /// Connections per database pool.
    pub max_connections: u32,
    /// Where the tables live in PostgreSQL databases (the schema the
    /// migrations used); SQLite ignores it.
    pub placement: PgPlacement,
    /// The key store: a database of its own for tenants' wrapped data
    /// keys (`sqlite://PATH` or `postgres://...`, migrated with
    /// [`crate::migrate_key_store`]), so that no copy of a data database
    /// holds a key and destroying one reaches every backup. `None` keeps
    /// each key in its tenant's data database, where a backup copies it.
    pub key_store: Option<String>,
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key_store = self
            .key_store
            .as_deref()
            .map(|url| format!("{}://..", url.split(':').next().unwrap_or("?")));
        f.debug_struct("StoreConfig")
            .field("regions", &self.regions)
            .field("directory", &self.directory)
            .field("max_connections", &self.max_connections)
            .field("placement", &self.placement)
            .field("key_store", &key_store)
            .finish()
    }
}

/// The tenant-sealed store over one database per region.
pub struct Store {
    pub(crate) regions: BTreeMap<Region, Db>,
    directory: Db,
    pub(crate) key_store: Option<DatabaseConnection>,
    located: RwLock<HashMap<TenantId, Region>>,
    epochs: Arc<WriteEpochs>,
}

/// How many writes this process has committed per tenant, in 1,024 shards
/// (tenants sharing a shard share a count, which only costs a cache miss):
/// every write, and the writes that moved the tenant's catalog version
/// (its row, staff, services or schedules; see
/// [`TenantScope::catalog_version`]). A cache of what a tenant's data shows
/// reads a count before reading the data and is current while the count
/// has not moved. The one-statement booking path never moves the second
/// count, and neither does a write scope that left the catalog alone (a
/// calendar sync recording its result), so a cache of the catalog stays
/// current through them. Writes by other processes are not counted.
pub(crate) struct WriteEpochs {
    any: [AtomicU64; EPOCH_SHARDS],
    catalog: [AtomicU64; EPOCH_SHARDS],
    /// The tenant and catalog version the shard's last write scope
    /// committed; a commit that finds another moves `catalog`.
    versions: [Mutex<Option<(TenantId, i64)>>; EPOCH_SHARDS],
}

const EPOCH_SHARDS: usize = 1024;

fn shard(tenant: TenantId) -> usize {
    let (_, low) = tenant.as_uuid().as_u64_pair();
    usize::try_from(low % 1024).unwrap_or(0)
}

impl WriteEpochs {
    fn new() -> Self {
        Self {
            any: [const { AtomicU64::new(0) }; EPOCH_SHARDS],
            catalog: [const { AtomicU64::new(0) }; EPOCH_SHARDS],
            versions: [const { Mutex::new(None) }; EPOCH_SHARDS],
        }
    }

    fn any(&self, tenant: TenantId) -> u64 {
        self.any
            .get(shard(tenant))
            .map_or(0, |s| s.load(Ordering::Acquire))
    }

    fn catalog(&self, tenant: TenantId) -> u64 {
        self.catalog
            .get(shard(tenant))
            .map_or(0, |s| s.load(Ordering::Acquire))
    }

    /// Called after a commit, never before: a reader that sees the new
    /// count reads the committed rows. `catalog` is the catalog version the
    /// committed transaction read last (`None`: unknown, or the tenant is
    /// gone): it moves the catalog count unless it is the version the
    /// shard last committed. A version is visible to no other transaction
    /// before the commit that made it, so the first commit to see a new
    /// version moves the count, after that version is committed.
    pub(crate) fn bump(&self, tenant: TenantId, catalog: Catalog) {
        let shard = shard(tenant);
        let moved = match catalog {
            Catalog::Untouched => false,
            Catalog::Unknown => true,
            Catalog::Version(version) => self.versions.get(shard).is_none_or(|seen| {
                let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
                seen.replace((tenant, version)) != Some((tenant, version))
            }),
        };
        if moved && let Some(count) = self.catalog.get(shard) {
            count.fetch_add(1, Ordering::AcqRel);
        }
        if let Some(count) = self.any.get(shard) {
            count.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// What a committed write did to its tenant's catalog version.
#[derive(Clone, Copy)]
pub(crate) enum Catalog {
    /// Written without touching it (the one-statement booking path).
    Untouched,
    /// Not known: counted as moved.
    Unknown,
    /// The version as the transaction left it.
    Version(i64),
}

/// One region's database.
#[derive(Clone)]
pub(crate) struct Db {
    pub(crate) conn: DatabaseConnection,
    /// SQLite allows one writer at a time. Write scopes queue here, in the
    /// application, rather than in SQLite's busy handler, which sleeps in
    /// growing steps and wastes most of the time under contention.
    pub(crate) writer: Option<Arc<tokio::sync::Mutex<()>>>,
    /// Whether the credential directory is in this database, so a write
    /// here can register a credential in the same statement.
    pub(crate) holds_directory: bool,
    /// SQLite: one-statement bookings run in batches under `writer`.
    pub(crate) combiner: Option<Arc<crate::combine::Combiner>>,
}

/// Whether a scope may write.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Read,
    /// A read that sees one instant throughout (an export).
    Snapshot,
    Write,
}

impl Store {
    /// Connects to every region's database. The schema must be migrated
    /// ([`crate::migrate`]).
    pub async fn open(config: StoreConfig) -> Result<Self, StoreError> {
        let epochs = Arc::new(WriteEpochs::new());
        let mut regions = BTreeMap::new();
        for db in &config.regions {
            let conn = connect_url(&db.url, config.max_connections, &config.placement).await?;
            let sqlite = conn.get_database_backend() == DbBackend::Sqlite;
            let writer = sqlite.then(|| Arc::new(tokio::sync::Mutex::new(())));
            let combiner = sqlite.then(|| Arc::new(crate::combine::Combiner::new(epochs.clone())));
            if regions
                .insert(
                    db.region.clone(),
                    Db {
                        conn,
                        writer,
                        holds_directory: db.region == config.directory,
                        combiner,
                    },
                )
                .is_some()
            {
                return Err(StoreError::Config(format!(
                    "region {} is configured twice",
                    db.region
                )));
            }
        }
        let directory = regions
            .get(&config.directory)
            .cloned()
            .ok_or_else(|| StoreError::UnknownRegion(config.directory.to_string()))?;
        let key_store = match &config.key_store {
            Some(url) if config.regions.iter().any(|db| db.url == *url) => {
                return Err(StoreError::Config(
                    "the key store is a database of its own, not one of the data databases"
                        .to_owned(),
                ));
            }
            Some(url) => Some(
                crate::db::connect_key_store(url, config.max_connections, &config.placement)
                    .await?,
            ),
            None => None,
        };
        bind_key_store(&directory.conn, key_store.as_ref()).await?;
        Ok(Self {
            regions,
            directory,
            key_store,
            located: RwLock::new(HashMap::new()),
            epochs,
        })
    }

    /// A read-write scope for `tenant`. On SQLite it takes the write lock at
    /// once (`BEGIN IMMEDIATE`), so a check-then-write inside it cannot race.
    pub async fn write(&self, tenant: TenantId) -> Result<TenantScope, StoreError> {
        let db = self.database_of(tenant).await?;
        let mut scope = TenantScope::begin(db, tenant, Mode::Write).await?;
        scope.epochs = Some(self.epochs.clone());
        scope.key_store = self.key_store.clone();
        Ok(scope)
    }

    /// How many writes of `tenant`'s this process has committed (shared
    /// with the tenants of its shard). Read it before reading the data a
    /// cache keeps: the cached result is current while this has not moved.
    /// Writes by other processes are not counted.
    pub fn write_epoch(&self, tenant: TenantId) -> u64 {
        self.epochs.any(tenant)
    }

    /// Like [`Store::write_epoch`], counting only the writes that moved the
    /// tenant's catalog version ([`TenantScope::catalog_version`]: its row,
    /// staff, services and schedules). The one-statement booking path
    /// ([`Booker::book`](crate::Booker::book)) and write scopes that leave
    /// the catalog alone (a calendar sync recording its result) do not move
    /// it, so a cache of the catalog stays current through them.
    pub fn catalog_epoch(&self, tenant: TenantId) -> u64 {
        self.epochs.catalog(tenant)
    }

    /// After the one-statement booking path committed.
    pub(crate) fn booked(&self, tenant: TenantId) {
        self.epochs.bump(tenant, Catalog::Untouched);
    }

    /// A read-only scope for `tenant`.
    pub async fn read(&self, tenant: TenantId) -> Result<TenantScope, StoreError> {
        let db = self.database_of(tenant).await?;
        let mut scope = TenantScope::begin(db, tenant, Mode::Read).await?;
        scope.key_store = self.key_store.clone();
        Ok(scope)
    }

    /// A read-only scope for `tenant` in which every query sees the data
    /// as of one instant (REPEATABLE READ on PostgreSQL; any SQLite read
    /// transaction already does), for work that reads a tenant a page at
    /// a time and must not mix two states, such as an export.
    pub async fn read_snapshot(&self, tenant: TenantId) -> Result<TenantScope, StoreError> {
        let db = self.database_of(tenant).await?;
        let mut scope = TenantScope::begin(db, tenant, Mode::Snapshot).await?;
        scope.key_store = self.key_store.clone();
        Ok(scope)
    }

    /// The database holding `tenant`'s rows. An unknown tenant gets the
    /// directory's database, where its scope sees nothing, exactly as a
    /// known tenant with no rows would.
    pub(crate) async fn database_of(&self, tenant: TenantId) -> Result<&Db, StoreError> {
        if self.regions.len() == 1 {
            return Ok(&self.directory);
        }
        let known = self
            .located
            .read()
            .ok()
            .and_then(|map| map.get(&tenant).cloned());
        let region = match known {
            Some(region) => Some(region),
            None => {
                let row = tenant_directory::Entity::find_by_id(*tenant.as_uuid())
                    .one(&self.directory.conn)
                    .await?;
                match row.map(|r| Region::parse(&r.region)) {
                    Some(Ok(region)) => {
                        self.remember(tenant, region.clone());
                        Some(region)
                    }
                    Some(Err(e)) => return Err(crate::rows::corrupt("tenant_directory", e)),
                    None => None,
                }
            }
        };
        match region {
            Some(region) => self
                .regions
                .get(&region)
                .ok_or_else(|| StoreError::UnknownRegion(region.to_string())),
            None => Ok(&self.directory),
        }
    }

    /// The directory's database, for the tenant and credential
    /// directories, which are read before a tenant is known.
    pub(crate) fn directory(&self) -> &DatabaseConnection {
        &self.directory.conn
    }

    fn remember(&self, tenant: TenantId, region: Region) {
        if let Ok(mut map) = self.located.write() {
            map.insert(tenant, region);
        }
    }

    /// Whether every region's database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        for db in self.regions.values() {
            db.conn.ping().await?;
        }
        if let Some(keys) = &self.key_store {
            keys.ping().await?;
        }
        Ok(())
    }

    /// Closes every pool.
    pub async fn close(self) -> Result<(), StoreError> {
        drop(self.directory);
        for (_, db) in self.regions {
            db.conn.close().await?;
        }
        if let Some(keys) = self.key_store {
            keys.close().await?;
        }
        Ok(())
    }
}

/// Cross-tenant work on the directories: creating tenants, finding a tenant
/// by its slug or by a token digest, listing every tenant (for key rotation,
/// backups and retention, which then work tenant by tenant through
/// ordinary scopes). It is a separate, explicitly named handle so that code
/// doing system work says so; it never reads a tenant's own rows.
pub struct System<'s>(pub(crate) &'s Store);

impl Store {
    /// The handle for cross-tenant directory work.
    pub fn system(&self) -> System<'_> {
        System(self)
    }
}

impl System<'_> {
    /// Registers `tenant` in the directory and creates its row in its
    /// region's database. Fails with [`StoreError::Duplicate`] when the slug
    /// is taken, or kept in quarantine after its business was erased.
    pub async fn create_tenant(
        &self,
        tenant: &Tenant,
        now: bookwarden_domain::jiff::Timestamp,
    ) -> Result<(), StoreError> {
        let region_db = self
            .0
            .regions
            .get(tenant.region())
            .ok_or_else(|| StoreError::UnknownRegion(tenant.region().to_string()))?;
        self.release_slug(tenant.slug(), now).await?;
        let entry = tenant_directory::ActiveModel {
            tenant_id: Set(*tenant.id().as_uuid()),
            slug: Set(tenant.slug().as_str().to_owned()),
            region: Set(tenant.region().as_str().to_owned()),
            created_at_us: Set(us(now)),
            erasing_since_us: Set(None),
            erased_at_us: Set(None),
        };
        entry
            .insert(&self.0.directory.conn)
            .await
            .map_err(|e| match refusal(&e) {
                Some(Refusal::Unique) => StoreError::Duplicate(Unique::Slug),
                _ => StoreError::from(e),
            })?;
        let created = async {
            let mut scope = TenantScope::begin(region_db, tenant.id(), Mode::Write).await?;
            scope.key_store = self.0.key_store.clone();
            crate::tenants::insert(&scope, tenant, now).await?;
            scope.start_audit_chain().await?;
            scope.commit().await
        }
        .await;
        if let Err(error) = created {
            // Undo the directory entry so the slug is free again.
            tenant_directory::Entity::delete_by_id(*tenant.id().as_uuid())
                .exec(&self.0.directory.conn)
                .await?;
            return Err(error);
        }
        self.0.remember(tenant.id(), tenant.region().clone());
        Ok(())
    }

    /// The tenant with this slug, if any and not being erased.
    pub async fn locate(&self, slug: &TenantSlug) -> Result<Option<TenantId>, StoreError> {
        let found = tenant_directory::Entity::find()
            .filter(tenant_directory::Column::Slug.eq(slug.as_str()))
            .filter(tenant_directory::Column::ErasingSinceUs.is_null())
            .one(&self.0.directory.conn)
            .await?;
        Ok(found.map(|row| TenantId::from_uuid(row.tenant_id)))
    }

    /// Every tenant in the directory with its region, by id, leaving out
    /// those being erased or erased.
    pub async fn tenants(&self) -> Result<Vec<(TenantId, Region)>, StoreError> {
        tenant_directory::Entity::find()
            .filter(tenant_directory::Column::ErasingSinceUs.is_null())
            .order_by_asc(tenant_directory::Column::TenantId)
            .all(&self.0.directory.conn)
            .await?
            .into_iter()
            .map(|row| {
                let region = Region::parse(&row.region)
                    .map_err(|e| crate::rows::corrupt("tenant_directory", e))?;
                Ok((TenantId::from_uuid(row.tenant_id), region))
            })
            .collect()
    }
}

/// Checks that the key store is the one the directory database recorded
/// (recording it on first use), or, without one, that none was ever used:
/// a server pointed at a new, empty key store (a wrong path, a missing
/// setting) would otherwise find no keys and, erasing a business, destroy
/// nothing while recording a destruction.
async fn bind_key_store(
    directory: &DatabaseConnection,
    key_store: Option<&DatabaseConnection>,
) -> Result<(), StoreError> {
    let dir = directory.get_database_backend();
    let bound = |conn: &DatabaseConnection, sql: &'static str| {
        let backend = conn.get_database_backend();
        let sql = if backend == DbBackend::Postgres {
            sql.to_owned()
        } else {
            sql.replace("$1", "?").replace("$2", "?")
        };
        (backend, sql)
    };
    let read_binding = || async {
        let (backend, sql) = bound(directory, "SELECT key_store_id FROM key_store_binding");
        let row = directory
            .query_one_raw(Statement::from_string(backend, sql))
            .await?;
        row.map(|r| r.try_get::<sea_orm::prelude::Uuid>("", "key_store_id"))
            .transpose()
            .map_err(StoreError::from)
    };
    let Some(keys) = key_store else {
        if read_binding().await?.is_some() {
            return Err(StoreError::Config(
                "this deployment keeps its businesses' data keys in a key store; configure \
                 key_store (docs/OPERATIONS.md)"
                    .to_owned(),
            ));
        }
        return Ok(());
    };
    let (backend, sql) = bound(
        keys,
        "INSERT INTO key_store_identity (one, id) VALUES (1, $1) ON CONFLICT (one) DO NOTHING",
    );
    keys.execute_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [sea_orm::prelude::Uuid::new_v4().into()],
    ))
    .await?;
    let (backend, sql) = bound(keys, "SELECT id FROM key_store_identity");
    let identity = keys
        .query_one_raw(Statement::from_string(backend, sql))
        .await?
        .map(|r| r.try_get::<sea_orm::prelude::Uuid>("", "id"))
        .transpose()?
        .ok_or_else(|| StoreError::Config("the key store has no identity".to_owned()))?;
    let (_, sql) = bound(
        directory,
        "INSERT INTO key_store_binding (one, key_store_id, bound_at_us) VALUES (1, $1, $2) \
         ON CONFLICT (one) DO NOTHING",
    );
    let now = bookwarden_domain::jiff::Timestamp::now();
    directory
        .execute_raw(Statement::from_sql_and_values(
            dir,
            sql,
            [identity.into(), us(now).into()],
        ))
        .await?;
    if read_binding().await? == Some(identity) {
        Ok(())
    } else {
        Err(StoreError::Config(
            "the key store is not the one this deployment's data keys live in (check \
             key_store and data_dir)"
                .to_owned(),
        ))
    }
}

impl System<'_> {
    /// Moves every data key still kept in a data database (from before the
    /// key store was configured) to the key store; answers how many moved.
    /// Without a key store it moves nothing. On SQLite a region with no
    /// such key costs one query; elsewhere it visits every tenant.
    pub async fn move_keys_to_key_store(&self) -> Result<usize, StoreError> {
        if self.0.key_store.is_none() {
            return Ok(0);
        }
        let mut moved = 0;
        let every = tenant_directory::Entity::find()
            .filter(tenant_directory::Column::ErasedAtUs.is_null())
            .all(&self.0.directory.conn)
            .await?;
        for (region, db) in &self.0.regions {
            if db.conn.get_database_backend() == DbBackend::Sqlite {
                let any = db
                    .conn
                    .query_one_raw(Statement::from_string(
                        DbBackend::Sqlite,
                        "SELECT 1 AS one FROM tenant_keys LIMIT 1",
                    ))
                    .await?;
                if any.is_none() {
                    continue;
                }
            }
            for row in every.iter().filter(|row| row.region == region.as_str()) {
                let scope = self.0.write(TenantId::from_uuid(row.tenant_id)).await?;
                if scope.move_data_key_to_key_store().await? {
                    moved += 1;
                }
                scope.commit().await?;
            }
        }
        Ok(moved)
    }
}

/// One transaction bound to one tenant. Dropping it without [`commit`]
/// rolls back.
///
/// [`commit`]: TenantScope::commit
pub struct TenantScope {
    tenant: TenantId,
    tx: DatabaseTransaction,
    /// Held for the life of a SQLite write scope; declared after `tx` so
    /// the transaction ends before the next writer is let in.
    _writer: Option<tokio::sync::OwnedMutexGuard<()>>,
    /// A write scope's commit moves the tenant's write epoch.
    epochs: Option<Arc<WriteEpochs>>,
    /// Where the tenant's data key lives when not in its data database.
    pub(crate) key_store: Option<DatabaseConnection>,
}

impl TenantScope {
    async fn begin(db: &Db, tenant: TenantId, mode: Mode) -> Result<Self, StoreError> {
        let writer = match (&db.writer, mode) {
            (Some(lock), Mode::Write) => Some(lock.clone().lock_owned().await),
            _ => None,
        };
        let db = &db.conn;
        let backend = db.get_database_backend();
        let tx = match backend {
            DbBackend::Sqlite => {
                db.begin_with_options(TransactionOptions {
                    isolation_level: None,
                    access_mode: None,
                    sqlite_transaction_mode: Some(match mode {
                        Mode::Read | Mode::Snapshot => SqliteTransactionMode::Deferred,
                        Mode::Write => SqliteTransactionMode::Immediate,
                    }),
                })
                .await?
            }
            // A read scope is also READ ONLY in the database; a write scope
            // is a plain BEGIN, which saves a round trip per transaction.
            _ => match mode {
                Mode::Read => {
                    db.begin_with_config(None, Some(AccessMode::ReadOnly))
                        .await?
                }
                Mode::Snapshot => {
                    db.begin_with_config(
                        Some(IsolationLevel::RepeatableRead),
                        Some(AccessMode::ReadOnly),
                    )
                    .await?
                }
                Mode::Write => db.begin().await?,
            },
        };
        if backend == DbBackend::Postgres {
            // Transaction-local (the `true`): it ends with the transaction,
            // so a pooled connection never carries a tenant over.
            tx.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT set_config('app.tenant_id', $1, true)",
                [tenant.to_string().into()],
            ))
            .await?;
        }
        Ok(Self {
            tenant,
            tx,
            _writer: writer,
            epochs: None,
            key_store: None,
        })
    }

    /// The tenant this scope is bound to.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// Commits everything done through the scope.
    pub async fn commit(self) -> Result<(), StoreError> {
        let Some(epochs) = self.epochs.clone() else {
            return Ok(self.tx.commit().await?);
        };
        // The version as this transaction leaves it; a read that fails
        // counts as a change (the commit says whether the work holds).
        let catalog = match self.catalog_version().await {
            Ok(Some(version)) => Catalog::Version(version),
            Ok(None) | Err(_) => Catalog::Unknown,
        };
        let tenant = self.tenant;
        self.tx.commit().await?;
        epochs.bump(tenant, catalog);
        Ok(())
    }

    /// Abandons everything done through the scope.
    pub async fn rollback(self) -> Result<(), StoreError> {
        Ok(self.tx.rollback().await?)
    }

    pub(crate) fn tx(&self) -> &DatabaseTransaction {
        &self.tx
    }

    pub(crate) fn uuid(&self) -> sea_orm::prelude::Uuid {
        *self.tenant.as_uuid()
    }

    /// Refuses a value that belongs to another tenant: fail closed rather
    /// than write it under this one.
    pub(crate) fn check_owner(&self, owner: TenantId) -> Result<(), StoreError> {
        if owner == self.tenant {
            Ok(())
        } else {
            Err(StoreError::WrongTenant)
        }
    }
}

/// Reads the tenant row of a scope.
pub(crate) async fn own_tenant(scope: &TenantScope) -> Result<Option<tenants::Model>, StoreError> {
    Ok(tenants::Entity::find()
        .filter(tenants::Column::TenantId.eq(scope.uuid()))
        .one(scope.tx())
        .await?)
}

#[cfg(test)]
mod tests {
    use bookwarden_domain::id::TenantId;
    use uuid::Uuid;

    use super::{Catalog, WriteEpochs};

    #[test]
    fn the_catalog_epoch_moves_with_each_tenants_new_version_even_in_a_shared_shard() {
        let epochs = WriteEpochs::new();
        // Two tenants in one shard (the low half of the id picks it).
        let a = TenantId::from_uuid(Uuid::from_u64_pair(1, 7));
        let b = TenantId::from_uuid(Uuid::from_u64_pair(2, 7));
        epochs.bump(a, Catalog::Version(3));
        let first = epochs.catalog(a);
        assert_eq!(first, 1, "the first version seen counts");
        epochs.bump(a, Catalog::Version(3));
        epochs.bump(a, Catalog::Untouched);
        assert_eq!(epochs.catalog(a), first, "the same version again does not");
        // The other tenant reaches version 4, then the first one does: the
        // second is a change of its own and counts.
        epochs.bump(b, Catalog::Version(4));
        epochs.bump(a, Catalog::Version(4));
        assert_eq!(epochs.catalog(a), first + 2);
        epochs.bump(a, Catalog::Unknown);
        assert_eq!(epochs.catalog(a), first + 3, "an unknown version counts");
        assert_eq!(
            epochs.any(a),
            6,
            "every write of the shard counts in the other"
        );
    }
}
