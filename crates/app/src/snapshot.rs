//! What every public request reads and almost nothing writes: a tenant's
//! row, services and schedules, kept per tenant.
//!
//! A snapshot is kept while no write scope of its tenant has committed in
//! this process (the store's scope write epoch), and for at most
//! [`SNAPSHOT_TTL`], which bounds how long another server's change to a
//! service or schedule can go unseen here. The one-statement booking path
//! writes none of these tables and does not move the epoch, so a run of
//! bookings keeps its snapshot. A slug's tenant never changes once the
//! tenant exists, so that mapping is kept until the cache is full.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bookwarden_domain::id::{ServiceId, TenantId};
use bookwarden_domain::jiff::{SignedDuration, Timestamp};
use bookwarden_domain::schedule::Schedule;
use bookwarden_domain::service::Service;
use bookwarden_domain::tenant::Tenant;
use bookwarden_persistence::{StoreError, TenantScope};

/// The longest a snapshot is kept.
pub(crate) const SNAPSHOT_TTL: SignedDuration = SignedDuration::from_secs(5);

/// Tenants (and slugs) kept at most; a full cache is emptied.
const CAPACITY: usize = 4096;

/// A tenant's services and schedules: what the slot engine needs besides
/// bookings and busy time.
pub(crate) struct Catalog {
    pub(crate) services: HashMap<ServiceId, Service>,
    pub(crate) schedules: Vec<Schedule>,
}

impl Catalog {
    /// Read fresh inside `scope`.
    pub(crate) async fn read(scope: &TenantScope) -> Result<Self, StoreError> {
        let services = scope
            .services()
            .list()
            .await?
            .into_iter()
            .map(|s| (s.id(), s))
            .collect();
        let schedules = scope.schedules().list().await?;
        Ok(Self {
            services,
            schedules,
        })
    }
}

/// A tenant's row with its catalog.
pub(crate) struct Snapshot {
    pub(crate) tenant: Tenant,
    pub(crate) catalog: Catalog,
}

struct Kept {
    epoch: u64,
    until: Timestamp,
    snapshot: Arc<Snapshot>,
}

/// The snapshots and slugs kept.
#[derive(Default)]
pub(crate) struct Snapshots {
    kept: Mutex<HashMap<TenantId, Kept>>,
    slugs: Mutex<HashMap<String, TenantId>>,
}

impl Snapshots {
    /// The tenant a slug named before, if kept.
    pub(crate) fn slug(&self, slug: &str) -> Option<TenantId> {
        self.slugs.lock().ok()?.get(slug).copied()
    }

    /// The kept snapshot of `tenant` when `epoch` is still the tenant's
    /// scope write epoch and it has not expired.
    pub(crate) fn get(
        &self,
        tenant: TenantId,
        epoch: u64,
        now: Timestamp,
    ) -> Option<Arc<Snapshot>> {
        let map = self.kept.lock().ok()?;
        let kept = map.get(&tenant)?;
        (kept.epoch == epoch && now < kept.until).then(|| kept.snapshot.clone())
    }

    /// Keeps `snapshot`, read after the tenant's scope write epoch was
    /// `epoch`, and the slug that named it.
    pub(crate) fn put(&self, slug: &str, epoch: u64, now: Timestamp, snapshot: Arc<Snapshot>) {
        let tenant = snapshot.tenant.id();
        if let Ok(mut slugs) = self.slugs.lock() {
            if slugs.len() >= CAPACITY {
                slugs.clear();
            }
            slugs.insert(slug.to_owned(), tenant);
        }
        if let Ok(mut map) = self.kept.lock() {
            if map.len() >= CAPACITY && !map.contains_key(&tenant) {
                map.retain(|_, kept| now < kept.until);
                if map.len() >= CAPACITY {
                    map.clear();
                }
            }
            map.insert(
                tenant,
                Kept {
                    epoch,
                    until: now.checked_add(SNAPSHOT_TTL).unwrap_or(now),
                    snapshot,
                },
            );
        }
    }
}
