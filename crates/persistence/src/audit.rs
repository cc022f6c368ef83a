//! The append-only audit chain (P9), hash-chained per tenant.
//!
//! Entry `n`'s hash is SHA-256 over entry `n-1`'s hash and a canonical,
//! length-prefixed encoding of entry `n` (seq, time, kind, actor, subject,
//! detail). The first entry chains from a genesis hash bound to the tenant.
//! The newest seq and hash are also kept in `audit_heads`, so removing the
//! tail is detected; `anchor_*` is where retention purging stopped. Appends
//! lock the head row, so one tenant's entries are numbered without gaps even
//! under concurrency. [`TenantScope::verify_audit_chain`] detects an edited,
//! removed, inserted, reordered or truncated entry.
//!
//! Retention: [`TenantScope::purge_audit`] removes the oldest entries while
//! every one of them has expired (the domain's retention by severity) and
//! moves the anchor to the last one removed. The anchor carries a keyed
//! digest under the tenant's data key, so an anchor moved by anyone
//! without that key (entries removed before their time, with the anchor
//! set to hide it) fails verification.

use std::collections::BTreeMap;

use bookwarden_crypto::digest::{Sha256, constant_time_eq};
use bookwarden_crypto::vault::{self, Purpose, TenantDataKey};
use bookwarden_domain::audit::{self as rules, AuditKind};
use bookwarden_domain::jiff::Timestamp;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement,
};

use crate::entity::{audit_heads, audit_log};
use crate::error::StoreError;
use crate::rows::{corrupt, us};
use crate::store::TenantScope;

/// One security event to append. Never put a secret, password, token or
/// intake answer in it: the chain is read by operators and exported.
#[derive(Clone, Debug)]
pub struct AuditEvent {
    /// What happened.
    pub kind: AuditKind,
    /// Who did it (a user id, `customer`, `system`), if known.
    pub actor: Option<String>,
    /// What it happened to (a user, key or booking id), if anything.
    pub subject: Option<String>,
    /// Further facts, such as a client address or a new role.
    pub detail: BTreeMap<String, String>,
}

/// A stored entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// Position in the tenant's chain, from 1.
    pub seq: i64,
    /// When it was appended.
    pub at: Timestamp,
    /// The kind as stored (a name this version may not know stays text).
    pub kind: String,
    /// Who did it.
    pub actor: Option<String>,
    /// What it happened to.
    pub subject: Option<String>,
    /// Further facts, as stored JSON.
    pub detail: String,
}

/// Which entries [`TenantScope::audit_entries`] lists; every part given
/// must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only entries of this kind (its stored name).
    pub kind: Option<String>,
    /// Only entries by this actor.
    pub actor: Option<String>,
    /// Only entries about this subject.
    pub subject: Option<String>,
    /// Only entries appended at or after this instant.
    pub since: Option<Timestamp>,
    /// Only entries appended before this instant.
    pub until: Option<Timestamp>,
}

/// The outcome of verifying a tenant's chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainStatus {
    /// Every entry from the anchor to the head chains correctly.
    Intact {
        /// Entries checked.
        entries: u64,
    },
    /// The chain is broken at `seq`.
    Broken {
        /// The first entry (or the head) that does not verify.
        seq: i64,
        /// How it is broken.
        reason: ChainBreak,
    },
}

/// How a chain is broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainBreak {
    /// An entry's content no longer matches its hash: it was edited.
    Edited,
    /// An entry does not chain from the one before: entries were removed,
    /// inserted or reordered.
    Relinked,
    /// A sequence number is missing: an entry was removed.
    Gap,
    /// The newest entry is not the recorded head: the tail was removed, or
    /// the head was tampered with.
    Truncated,
    /// The tenant has no chain head at all.
    NoHead,
    /// Where purging stopped is not vouched for by the tenant's key:
    /// entries were removed, and the anchor moved, by someone else.
    AnchorForged,
}

/// What a purge did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Purged {
    /// Entries removed.
    pub removed: u64,
    /// The position of the last one removed (the new anchor), if any.
    pub through: Option<i64>,
}

const GENESIS_LABEL: &[u8] = b"bookwarden audit chain v1";

/// Whether a read of the chain head locks it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lock {
    None,
    Exclusive,
}

/// Entries one purge call looks at, at most: the rest waits for the next.
const PURGE_BATCH: u64 = 1_000;

/// The keyed digest that vouches for an anchor: the tenant, the last entry
/// removed (position and hash) and the time it was appended.
fn anchor_mac(
    key: &TenantDataKey,
    tenant: &[u8; 16],
    seq: i64,
    hash: &[u8],
    at_us: i64,
) -> Result<[u8; vault::KEYED_DIGEST_LEN], StoreError> {
    let mut bytes = Vec::with_capacity(16 + 8 + hash.len() + 8);
    bytes.extend_from_slice(tenant);
    bytes.extend_from_slice(&seq.to_be_bytes());
    bytes.extend_from_slice(hash);
    bytes.extend_from_slice(&at_us.to_be_bytes());
    vault::keyed_digest(key, &Purpose::AUDIT_ANCHOR, &bytes).map_err(|e| corrupt("audit_heads", e))
}

/// The hash the first entry chains from.
pub(crate) fn genesis(tenant: &[u8; 16]) -> Vec<u8> {
    let mut ctx = Sha256::new();
    ctx.update(GENESIS_LABEL);
    ctx.update(tenant);
    ctx.finish().to_vec()
}

fn field(ctx: &mut Sha256, value: Option<&str>) {
    match value {
        None => ctx.update(&[0]),
        Some(text) => {
            ctx.update(&[1]);
            let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
            ctx.update(&len.to_be_bytes());
            ctx.update(text.as_bytes());
        }
    }
}

/// The hash of an entry chained from `prev`.
fn entry_hash(prev: &[u8], e: &AuditEntry) -> Vec<u8> {
    let mut ctx = Sha256::new();
    ctx.update(prev);
    ctx.update(&e.seq.to_be_bytes());
    ctx.update(&us(e.at).to_be_bytes());
    field(&mut ctx, Some(&e.kind));
    field(&mut ctx, e.actor.as_deref());
    field(&mut ctx, e.subject.as_deref());
    field(&mut ctx, Some(&e.detail));
    ctx.finish().to_vec()
}

/// A stored row as an entry.
fn entry_of(row: &audit_log::Model) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        seq: row.seq,
        at: crate::rows::instant("audit_log", row.at_us)?,
        kind: row.kind.clone(),
        actor: row.actor.clone(),
        subject: row.subject.clone(),
        detail: row.detail.clone(),
    })
}

/// How `row` fails to follow an entry hashed `prev_hash` at position
/// `expected_seq`, if it does.
fn link_break(
    prev_hash: &[u8],
    expected_seq: i64,
    row: &audit_log::Model,
) -> Result<Option<ChainBreak>, StoreError> {
    if row.seq != expected_seq {
        return Ok(Some(ChainBreak::Gap));
    }
    if row.prev_hash != prev_hash {
        return Ok(Some(ChainBreak::Relinked));
    }
    if entry_hash(prev_hash, &entry_of(row)?) != row.hash {
        return Ok(Some(ChainBreak::Edited));
    }
    Ok(None)
}

impl TenantScope {
    /// Starts the tenant's chain; called once, when the tenant is created.
    pub(crate) async fn start_audit_chain(&self) -> Result<(), StoreError> {
        let genesis = genesis(self.tenant().as_bytes());
        audit_heads::ActiveModel {
            tenant_id: Set(self.uuid()),
            seq: Set(0),
            hash: Set(genesis.clone()),
            anchor_seq: Set(0),
            anchor_hash: Set(genesis),
            anchor_at_us: Set(None),
            anchor_mac: Set(None),
        }
        .insert(self.tx())
        .await?;
        Ok(())
    }

    /// Appends an event to the tenant's chain and returns its seq. Commit
    /// the scope for it to count.
    pub async fn audit(&self, event: &AuditEvent, now: Timestamp) -> Result<i64, StoreError> {
        // Lock the head so concurrent appends of one tenant queue up.
        let head = self
            .audit_head(Lock::Exclusive)
            .await?
            .ok_or_else(|| corrupt("audit_heads", "the tenant has no chain head"))?;
        let detail = serde_json::to_string(&event.detail).map_err(|e| corrupt("audit_log", e))?;
        let seq = head
            .seq
            .checked_add(1)
            .ok_or_else(|| corrupt("audit_heads", "sequence exhausted"))?;
        let entry = AuditEntry {
            seq,
            at: now,
            kind: event.kind.as_str().to_owned(),
            actor: event.actor.clone(),
            subject: event.subject.clone(),
            detail,
        };
        let hash = entry_hash(&head.hash, &entry);
        audit_log::ActiveModel {
            tenant_id: Set(self.uuid()),
            seq: Set(entry.seq),
            at_us: Set(us(entry.at)),
            kind: Set(entry.kind.clone()),
            actor: Set(entry.actor.clone()),
            subject: Set(entry.subject.clone()),
            detail: Set(entry.detail.clone()),
            prev_hash: Set(head.hash.clone()),
            hash: Set(hash.clone()),
        }
        .insert(self.tx())
        .await?;
        audit_heads::Entity::update_many()
            .col_expr(audit_heads::Column::Seq, entry.seq.into())
            .col_expr(audit_heads::Column::Hash, hash.into())
            .filter(audit_heads::Column::TenantId.eq(self.uuid()))
            .exec(self.tx())
            .await?;
        Ok(entry.seq)
    }

    /// The tenant's entries with seq above `after` that `filter` lets
    /// through, oldest first, at most `limit`.
    pub async fn audit_entries(
        &self,
        filter: &AuditFilter,
        after: i64,
        limit: u64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let mut query = audit_log::Entity::find()
            .filter(audit_log::Column::TenantId.eq(self.uuid()))
            .filter(audit_log::Column::Seq.gt(after));
        if let Some(kind) = &filter.kind {
            query = query.filter(audit_log::Column::Kind.eq(kind.as_str()));
        }
        if let Some(actor) = &filter.actor {
            query = query.filter(audit_log::Column::Actor.eq(actor.as_str()));
        }
        if let Some(subject) = &filter.subject {
            query = query.filter(audit_log::Column::Subject.eq(subject.as_str()));
        }
        if let Some(since) = filter.since {
            query = query.filter(audit_log::Column::AtUs.gte(us(since)));
        }
        if let Some(until) = filter.until {
            query = query.filter(audit_log::Column::AtUs.lt(us(until)));
        }
        query
            .order_by_asc(audit_log::Column::Seq)
            .limit(limit)
            .all(self.tx())
            .await?
            .into_iter()
            .map(|row| entry_of(&row))
            .collect()
    }

    /// Removes the oldest entries while each has expired at `now` (at most
    /// 1,000 a call; call again until nothing is removed) and
    /// moves the anchor to the last one removed, vouched for by `key`.
    /// Commit the scope for it to count.
    ///
    /// Nothing is removed unless the anchor is vouched for and the entries
    /// to remove chain correctly from it: a purge never launders tampering
    /// into a checkpoint that verifies. Nothing is removed while the
    /// tenant is under a legal hold: the entries may be evidence.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] when the chain does not verify there.
    pub async fn purge_audit(
        &self,
        key: &TenantDataKey,
        now: Timestamp,
    ) -> Result<Purged, StoreError> {
        if self.read_legal_hold(true).await? {
            return Ok(Purged {
                removed: 0,
                through: None,
            });
        }
        // Locked, so two servers purging one tenant take turns, and the
        // second sees where the first stopped.
        let head = self
            .audit_head(Lock::Exclusive)
            .await?
            .ok_or_else(|| corrupt("audit_heads", "the tenant has no chain head"))?;
        if !self.anchor_vouched(key, &head)? {
            return Err(corrupt(
                "audit_heads",
                "the purge checkpoint is not vouched for; not purged",
            ));
        }
        let oldest = audit_log::Entity::find()
            .filter(audit_log::Column::TenantId.eq(self.uuid()))
            .filter(audit_log::Column::Seq.gt(head.anchor_seq))
            .order_by_asc(audit_log::Column::Seq)
            .limit(PURGE_BATCH)
            .all(self.tx())
            .await?;
        let mut through = None;
        let mut removed = 0_u64;
        let mut prev_hash = head.anchor_hash.as_slice();
        for (expected_seq, row) in (head.anchor_seq + 1..).zip(&oldest) {
            if let Some(reason) = link_break(prev_hash, expected_seq, row)? {
                return Err(corrupt(
                    "audit_log",
                    format!(
                        "the chain is broken at entry {} ({reason:?}); not purged",
                        row.seq
                    ),
                ));
            }
            let at = crate::rows::instant("audit_log", row.at_us)?;
            if !rules::expired(&row.kind, at, now) {
                break;
            }
            prev_hash = &row.hash;
            through = Some(row);
            removed += 1;
        }
        let Some(last) = through else {
            return Ok(Purged {
                removed: 0,
                through: None,
            });
        };
        let mac = anchor_mac(
            key,
            self.tenant().as_bytes(),
            last.seq,
            &last.hash,
            last.at_us,
        )?;
        if self.tx().get_database_backend() == DbBackend::Postgres {
            // The application role may not delete entries or move the
            // anchor itself: the owner's function does, within its rules.
            self.tx()
                .execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT bookwarden_purge_audit($1, $2, $3)",
                    [self.uuid().into(), last.seq.into(), mac.to_vec().into()],
                ))
                .await?;
        } else {
            audit_log::Entity::delete_many()
                .filter(audit_log::Column::TenantId.eq(self.uuid()))
                .filter(audit_log::Column::Seq.gt(head.anchor_seq))
                .filter(audit_log::Column::Seq.lte(last.seq))
                .exec(self.tx())
                .await?;
            audit_heads::Entity::update_many()
                .col_expr(audit_heads::Column::AnchorSeq, last.seq.into())
                .col_expr(audit_heads::Column::AnchorHash, last.hash.clone().into())
                .col_expr(audit_heads::Column::AnchorAtUs, Some(last.at_us).into())
                .col_expr(audit_heads::Column::AnchorMac, Some(mac.to_vec()).into())
                .filter(audit_heads::Column::TenantId.eq(self.uuid()))
                .exec(self.tx())
                .await?;
        }
        Ok(Purged {
            removed,
            through: Some(last.seq),
        })
    }

    /// The tenant's chain head, locked until the transaction ends when
    /// asked (on PostgreSQL; SQLite's write scope holds the one writer).
    async fn audit_head(&self, lock: Lock) -> Result<Option<audit_heads::Model>, StoreError> {
        let mut query =
            audit_heads::Entity::find().filter(audit_heads::Column::TenantId.eq(self.uuid()));
        if lock == Lock::Exclusive && self.tx().get_database_backend() == DbBackend::Postgres {
            query = query.lock_exclusive();
        }
        Ok(query.one(self.tx()).await?)
    }

    /// Whether the head's anchor is the genesis or a checkpoint `key`
    /// vouches for.
    fn anchor_vouched(
        &self,
        key: &TenantDataKey,
        head: &audit_heads::Model,
    ) -> Result<bool, StoreError> {
        if head.anchor_seq == 0 {
            return Ok(head.anchor_hash == genesis(self.tenant().as_bytes()));
        }
        let (Some(at_us), Some(mac)) = (head.anchor_at_us, &head.anchor_mac) else {
            return Ok(false);
        };
        let expected = anchor_mac(
            key,
            self.tenant().as_bytes(),
            head.anchor_seq,
            &head.anchor_hash,
            at_us,
        )?;
        Ok(constant_time_eq(&expected, mac))
    }

    /// Checks the whole chain from the anchor to the head, in pages; an
    /// anchor a purge moved must be vouched for by `key`.
    pub async fn verify_audit_chain(&self, key: &TenantDataKey) -> Result<ChainStatus, StoreError> {
        let Some(head) = self.audit_head(Lock::None).await? else {
            return Ok(ChainStatus::Broken {
                seq: 0,
                reason: ChainBreak::NoHead,
            });
        };
        if !self.anchor_vouched(key, &head)? {
            return Ok(ChainStatus::Broken {
                seq: head.anchor_seq,
                reason: ChainBreak::AnchorForged,
            });
        }
        let mut prev_hash = head.anchor_hash.clone();
        let mut expected_seq = head.anchor_seq + 1;
        let mut checked = 0_u64;
        loop {
            // Up to the head read above: entries appended meanwhile are
            // checked next time, not mistaken for a mismatch now.
            let page = audit_log::Entity::find()
                .filter(audit_log::Column::TenantId.eq(self.uuid()))
                .filter(audit_log::Column::Seq.gte(expected_seq))
                .filter(audit_log::Column::Seq.lte(head.seq))
                .order_by_asc(audit_log::Column::Seq)
                .limit(1_000)
                .all(self.tx())
                .await?;
            if page.is_empty() {
                break;
            }
            for row in page {
                if let Some(reason) = link_break(&prev_hash, expected_seq, &row)? {
                    return Ok(ChainStatus::Broken {
                        seq: row.seq,
                        reason,
                    });
                }
                prev_hash = row.hash;
                expected_seq += 1;
                checked += 1;
            }
        }
        if expected_seq - 1 != head.seq || prev_hash != head.hash {
            return Ok(ChainStatus::Broken {
                seq: expected_seq - 1,
                reason: ChainBreak::Truncated,
            });
        }
        Ok(ChainStatus::Intact { entries: checked })
    }
}
