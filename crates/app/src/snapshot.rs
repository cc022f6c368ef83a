//! What every public request reads and almost nothing writes: a tenant's
//! row, services and schedules, kept per tenant.
//!
//! A snapshot is kept while no write in this process has moved its
//! tenant's catalog version (the store's catalog epoch), and for at most
//! [`SNAPSHOT_TTL`]. Bookings and calendar syncs write none of these
//! tables and do not move the epoch, so a run of bookings keeps its
//! snapshot while calendars sync beside it. Listings and the public service list may show a snapshot up
//! to that long after another server changed it; a booking never passes
//! on it: the booking statement carries the snapshot's catalog version and
//! is refused when a change (by anyone) moved it.
//!
//! A slug's tenant never changes once the tenant exists; the mapping is
//! still looked up again after a minute.

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

/// A tenant's row with its catalog, and the catalog version they were
/// read at (a booking checked against them passes it, and is refused when
/// the version has moved).
pub(crate) struct Snapshot {
    pub(crate) tenant: Tenant,
    pub(crate) version: i64,
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
    slugs: Mutex<HashMap<String, (TenantId, Timestamp)>>,
}

/// How long a slug's tenant is kept.
const SLUG_TTL: SignedDuration = SignedDuration::from_secs(60);

impl Snapshots {
    /// The tenant a slug named in the last minute, if kept.
    pub(crate) fn slug(&self, slug: &str, now: Timestamp) -> Option<TenantId> {
        let slugs = self.slugs.lock().ok()?;
        let (tenant, until) = slugs.get(slug)?;
        (now < *until).then_some(*tenant)
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
            // Kept from its first lookup, not from each reload, so it is
            // looked up again after a minute however busy the business.
            let fresh = slugs.get(slug).is_none_or(|(_, until)| now >= *until);
            if fresh {
                let until = now.checked_add(SLUG_TTL).unwrap_or(now);
                slugs.insert(slug.to_owned(), (tenant, until));
            }
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
