//! Data rights (P10, P15): exporting a customer or a whole business,
//! erasing a customer, and the legal hold that stops erasure. Every export
//! and erasure is audited in the business's own chain; an erasure's entry
//! names the request (who, which customer id, how many bookings), never the
//! erased data.
//!
//! An erasure is confirmed: the first call answers with a confirmation
//! token (bound to the action, the customer or business, the caller and
//! ten minutes), and only a second call carrying it erases. The token
//! needs no storage: it is a keyed digest under the business's data key.
//!
//! Erasing a whole business is the store's stepwise erasure
//! ([`bookwarden_persistence::System::erase_tenant_step`]): its data key
//! goes first, then its rows in batches, and a tombstone stays at system
//! level. It carries on after a crash: rerunning the command, or the
//! server's hourly maintenance, completes it.

use std::collections::BTreeMap;

use bookwarden_crypto::SecretString;
use bookwarden_crypto::token::{self, TokenKind};
use bookwarden_crypto::vault::{self, Purpose, TenantDataKey};
use bookwarden_domain::audit::AuditKind;
use bookwarden_domain::data_request::{DataRequestKind, LINK_LIFETIME_DAYS};
use bookwarden_domain::id::DataRequestId;
use bookwarden_domain::id::{CustomerId, TenantId};
use bookwarden_domain::jiff::{SignedDuration, Timestamp};
use bookwarden_domain::tenant::TenantSlug;
use bookwarden_persistence::{
    CustomerErased, DataRequestRecord, ErasureStep, ErasureVia, StoreError,
};
use tokio::io::{AsyncSeek, AsyncWrite};

use crate::App;
use crate::auth::{Need, Principal, audit};
use crate::error::{AppError, Conflict};
use crate::export::{self, ExportProgress, ExportSummary};

/// How long an erasure's confirmation token is good for.
pub const CONFIRMATION_LIFETIME: SignedDuration = SignedDuration::from_mins(10);

/// The first or the second step of an erasure. `Debug` never shows the
/// token.
#[derive(Clone, PartialEq, Eq)]
pub enum Erasure {
    /// Nothing was erased yet: call again with this token to confirm.
    Confirm {
        /// The confirmation token.
        token: String,
        /// When it stops being accepted.
        expires_at: Timestamp,
        /// The bookings the erasure would make anonymous.
        bookings: u64,
    },
    /// The customer was erased.
    Done {
        /// The bookings made anonymous.
        bookings: u64,
    },
}

impl std::fmt::Debug for Erasure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Confirm {
                expires_at,
                bookings,
                ..
            } => f
                .debug_struct("Confirm")
                .field("expires_at", expires_at)
                .field("bookings", bookings)
                .finish_non_exhaustive(),
            Self::Done { bookings } => f.debug_struct("Done").field("bookings", bookings).finish(),
        }
    }
}

/// Who asks for an export or erasure: a person of the business, the
/// operator at the command line (who confirmed there), or the customer
/// through a request link (the link's digest, which the request uses up).
enum Requester<'a> {
    Person(&'a Principal),
    Operator,
    Customer([u8; 32]),
}

impl Requester<'_> {
    fn actor(&self) -> Option<String> {
        match self {
            Self::Person(principal) => principal.actor(),
            Self::Operator => None,
            Self::Customer(_) => Some("customer".to_owned()),
        }
    }

    fn via(&self) -> &'static str {
        match self {
            Self::Person(_) => "api",
            Self::Operator => "operator",
            Self::Customer(_) => "customer_link",
        }
    }

    /// Uses up the customer's link in `scope`, the one that records what
    /// it did: a link that another request used first, or that expired
    /// meanwhile, answers as unknown.
    async fn use_link(
        &self,
        scope: &bookwarden_persistence::TenantScope,
        now: Timestamp,
    ) -> Result<(), AppError> {
        match self {
            Self::Customer(digest) => {
                if scope.data_requests().use_once(digest, now).await? {
                    Ok(())
                } else {
                    Err(AppError::NotFound)
                }
            }
            Self::Person(_) | Self::Operator => Ok(()),
        }
    }
}

/// A customer's data-rights request link, made by an admin. `Debug` never
/// shows the token.
pub struct DataRequestLink {
    /// The token (`bw_drq_...`), shown this once: the link's secret. Until
    /// mail sending exists it is answered to the admin, to hand to the
    /// customer at the customer's email address.
    pub token: SecretString,
    /// The customer.
    pub customer: CustomerId,
    /// What it does.
    pub kind: DataRequestKind,
    /// When it stops working.
    pub expires_at: Timestamp,
}

impl std::fmt::Debug for DataRequestLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataRequestLink")
            .field("customer", &self.customer)
            .field("kind", &self.kind)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What a customer's request link did.
pub enum DataRequestOutcome<W> {
    /// The customer's export, written to the writer given.
    Exported(W, ExportSummary),
    /// The customer is erased; this many bookings stay as anonymous time
    /// blocks.
    Erased {
        /// The bookings made anonymous.
        bookings: u64,
    },
}

/// `<expiry in Unix microseconds>.<hex keyed digest>`.
fn confirmation_token(
    key: &TenantDataKey,
    action: &str,
    subject: &str,
    actor: &str,
    expires_at: Timestamp,
) -> Result<String, AppError> {
    let expires = expires_at.as_microsecond();
    let mac = confirmation_mac(key, action, subject, actor, expires)?;
    Ok(format!(
        "{expires}.{}",
        data_encoding::HEXLOWER.encode(&mac)
    ))
}

fn confirmation_mac(
    key: &TenantDataKey,
    action: &str,
    subject: &str,
    actor: &str,
    expires: i64,
) -> Result<[u8; 32], AppError> {
    let mut message = Vec::new();
    for part in [action.as_bytes(), subject.as_bytes(), actor.as_bytes()] {
        message.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
        message.extend_from_slice(part);
    }
    message.extend_from_slice(&expires.to_be_bytes());
    vault::keyed_digest(key, &Purpose::ERASURE_CONFIRMATION, &message).map_err(AppError::internal)
}

/// Whether `token` confirms `action` on `subject` by `actor` at `now`.
fn confirmed(
    key: &TenantDataKey,
    action: &str,
    subject: &str,
    actor: &str,
    token: &str,
    now: Timestamp,
) -> Result<bool, AppError> {
    let Some((expires, mac)) = token.split_once('.') else {
        return Ok(false);
    };
    let (Ok(expires), Ok(mac)) = (
        expires.parse::<i64>(),
        data_encoding::HEXLOWER.decode(mac.as_bytes()),
    ) else {
        return Ok(false);
    };
    if expires < now.as_microsecond() {
        return Ok(false);
    }
    let expected = confirmation_mac(key, action, subject, actor, expires)?;
    Ok(bookwarden_crypto::digest::constant_time_eq(&expected, &mac))
}

const ERASE_CUSTOMER: &str = "erase_customer";
const ERASE_TENANT: &str = "erase_tenant";

/// Rows one step of a business's erasure deletes, in one transaction:
/// small enough that other businesses' bookings wait for it no longer
/// than for a few ordinary writes.
pub const ERASURE_BATCH: u32 = 2_000;

/// The first or the second step of erasing a business. `Debug` never
/// shows the token.
#[derive(Clone, PartialEq, Eq)]
pub enum TenantErasure {
    /// Nothing was erased yet: call again with this token to confirm.
    Confirm {
        /// The confirmation token.
        token: String,
        /// When it stops being accepted.
        expires_at: Timestamp,
    },
    /// The business is erased.
    Done {
        /// Rows removed.
        rows: u64,
    },
}

impl std::fmt::Debug for TenantErasure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Confirm { expires_at, .. } => f
                .debug_struct("Confirm")
                .field("expires_at", expires_at)
                .finish_non_exhaustive(),
            Self::Done { rows } => f.debug_struct("Done").field("rows", rows).finish(),
        }
    }
}

impl App {
    /// A file to write an export into before it is sent: unnamed (no other
    /// process can open it by path, and it is gone when closed, even after
    /// a crash), owner-only, in the data folder when the server keeps one
    /// and the system's temporary folder otherwise.
    ///
    /// # Errors
    /// When the file cannot be made.
    pub fn export_spool(&self) -> Result<tokio::fs::File, AppError> {
        let file = if self.config.uses_data_dir() {
            tempfile::tempfile_in(&self.config.data_dir)
        } else {
            tempfile::tempfile()
        }
        .map_err(AppError::internal)?;
        Ok(tokio::fs::File::from_std(file))
    }

    /// Exports everything stored about one customer into `out` (a tar
    /// archive; see `docs/API.md`), and audits it.
    ///
    /// # Errors
    /// [`AppError::Forbidden`] without admin rights; [`AppError::NotFound`]
    /// for a customer not in the principal's business.
    pub async fn export_customer<W: AsyncWrite + AsyncSeek + Unpin>(
        &self,
        principal: &Principal,
        customer: CustomerId,
        out: W,
    ) -> Result<(W, ExportSummary), AppError> {
        principal.require(Need::Admin)?;
        self.export_customer_in(
            principal.tenant,
            &Requester::Person(principal),
            customer,
            out,
        )
        .await
    }

    /// [`App::export_customer`] for an operator, by the business's slug.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for an unknown slug or customer.
    pub async fn export_customer_at<W: AsyncWrite + AsyncSeek + Unpin>(
        &self,
        slug: &str,
        customer: CustomerId,
        out: W,
    ) -> Result<(W, ExportSummary), AppError> {
        let tenant = self.tenant_at(slug).await?;
        self.export_customer_in(tenant, &Requester::Operator, customer, out)
            .await
    }

    async fn export_customer_in<W: AsyncWrite + AsyncSeek + Unpin>(
        &self,
        tenant: TenantId,
        requester: &Requester<'_>,
        customer: CustomerId,
        out: W,
    ) -> Result<(W, ExportSummary), AppError> {
        let now = self.now();
        let scope = self.store.read_snapshot(tenant).await?;
        let business = scope.tenant_row().await?.ok_or(AppError::NotFound)?;
        let record = scope
            .customers()
            .record(customer)
            .await?
            .ok_or(AppError::NotFound)?;
        let request = export::Request {
            tenant: &business,
            kind: "customer",
            subject: Some(customer.to_string()),
            now,
        };
        let done = export::customer(out, &scope, &request, &record).await?;
        scope.commit().await?;
        self.audit_export(tenant, requester, "customer", Some(customer), &done.1)
            .await?;
        Ok(done)
    }

    /// Exports every row the principal's business owns (but its secrets)
    /// into `out`, and audits it. Owners only.
    ///
    /// # Errors
    /// [`AppError::Forbidden`] unless the principal is an owner.
    pub async fn export_tenant<W: AsyncWrite + AsyncSeek + Unpin>(
        &self,
        principal: &Principal,
        out: W,
    ) -> Result<(W, ExportSummary), AppError> {
        principal.require(Need::PersonOwner)?;
        self.export_tenant_in(
            principal.tenant,
            &Requester::Person(principal),
            out,
            &mut |_| {},
        )
        .await
    }

    /// [`App::export_tenant`] for an operator, by the business's slug;
    /// `progress` hears how far it has got.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for an unknown slug.
    pub async fn export_tenant_at<W: AsyncWrite + AsyncSeek + Unpin>(
        &self,
        slug: &str,
        out: W,
        progress: &mut (dyn FnMut(ExportProgress) + Send),
    ) -> Result<(W, ExportSummary), AppError> {
        let tenant = self.tenant_at(slug).await?;
        self.export_tenant_in(tenant, &Requester::Operator, out, progress)
            .await
    }

    async fn export_tenant_in<W: AsyncWrite + AsyncSeek + Unpin>(
        &self,
        tenant: TenantId,
        requester: &Requester<'_>,
        out: W,
        progress: &mut (dyn FnMut(ExportProgress) + Send),
    ) -> Result<(W, ExportSummary), AppError> {
        let now = self.now();
        let scope = self.store.read_snapshot(tenant).await?;
        let business = scope.tenant_row().await?.ok_or(AppError::NotFound)?;
        let total = scope.export_rows().await?;
        let request = export::Request {
            tenant: &business,
            kind: "tenant",
            subject: None,
            now,
        };
        let spool = self.export_spool()?;
        let done = export::tenant(out, &scope, &request, total, spool, progress).await?;
        scope.commit().await?;
        self.audit_export(tenant, requester, "tenant", None, &done.1)
            .await?;
        Ok(done)
    }

    async fn audit_export(
        &self,
        tenant: TenantId,
        requester: &Requester<'_>,
        kind: &str,
        customer: Option<CustomerId>,
        summary: &ExportSummary,
    ) -> Result<(), AppError> {
        let scope = self.store.write(tenant).await?;
        requester.use_link(&scope, self.now()).await?;
        audit(
            &scope,
            AuditKind::DataExported,
            requester.actor(),
            customer.map(|c| c.to_string()),
            BTreeMap::from([
                ("scope".to_owned(), kind.to_owned()),
                ("via".to_owned(), requester.via().to_owned()),
                ("rows".to_owned(), summary.rows.to_string()),
                (
                    "manifest_sha256".to_owned(),
                    summary.manifest_sha256.clone(),
                ),
            ]),
            self.now(),
        )
        .await?;
        scope.commit().await?;
        Ok(())
    }

    /// Erases a customer of the principal's business (P10): without
    /// `confirmation` it erases nothing and answers the token to confirm
    /// with; with a valid one it erases. A person with admin rights only
    /// (an API key cannot erase).
    ///
    /// # Errors
    /// [`AppError::Forbidden`] without them; [`AppError::NotFound`] for a
    /// customer not in the business (or erased already);
    /// [`AppError::Invalid`] for a confirmation that is wrong, expired or
    /// another's; [`Conflict::LegalHold`] under a legal hold.
    pub async fn erase_customer(
        &self,
        principal: &Principal,
        customer: CustomerId,
        confirmation: Option<&str>,
    ) -> Result<Erasure, AppError> {
        principal.require(Need::PersonAdmin)?;
        let requester = Requester::Person(principal);
        let actor = principal.user.to_string();
        let subject = customer.to_string();
        let now = self.now();
        let Some(token) = confirmation else {
            let scope = self.store.read(principal.tenant).await?;
            scope
                .customers()
                .get(customer)
                .await?
                .ok_or(AppError::NotFound)?;
            if scope.legal_hold().await? {
                return Err(AppError::Conflict(Conflict::LegalHold));
            }
            let bookings = scope.bookings().of_customer(customer).await?.len() as u64;
            let key = self.data_key(&scope).await?;
            scope.commit().await?;
            let expires_at = now + CONFIRMATION_LIFETIME;
            let token = confirmation_token(&key, ERASE_CUSTOMER, &subject, &actor, expires_at)?;
            return Ok(Erasure::Confirm {
                token,
                expires_at,
                bookings,
            });
        };
        let scope = self.store.write(principal.tenant).await?;
        let key = self.data_key(&scope).await?;
        if !confirmed(&key, ERASE_CUSTOMER, &subject, &actor, token, now)? {
            return Err(AppError::invalid(
                "confirmation",
                "not a confirmation of this erasure by you, or expired; ask for a new one",
            ));
        }
        drop(key);
        let erased = self
            .erase_customer_in(scope, &requester, customer, now)
            .await?;
        Ok(Erasure::Done {
            bookings: erased.bookings,
        })
    }

    /// Erases a customer of the business at `slug`, for an operator who
    /// confirmed at the command line.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for an unknown slug or customer;
    /// [`Conflict::LegalHold`] under a legal hold.
    pub async fn erase_customer_at(
        &self,
        slug: &str,
        customer: CustomerId,
    ) -> Result<u64, AppError> {
        let tenant = self.tenant_at(slug).await?;
        let scope = self.store.write(tenant).await?;
        let erased = self
            .erase_customer_in(scope, &Requester::Operator, customer, self.now())
            .await?;
        Ok(erased.bookings)
    }

    async fn erase_customer_in(
        &self,
        scope: bookwarden_persistence::TenantScope,
        requester: &Requester<'_>,
        customer: CustomerId,
        now: Timestamp,
    ) -> Result<CustomerErased, AppError> {
        requester.use_link(&scope, now).await?;
        let erased = scope
            .customers()
            .erase(customer, now)
            .await?
            .ok_or(AppError::NotFound)?;
        audit(
            &scope,
            AuditKind::CustomerErased,
            requester.actor(),
            Some(customer.to_string()),
            BTreeMap::from([
                ("via".to_owned(), requester.via().to_owned()),
                ("bookings".to_owned(), erased.bookings.to_string()),
            ]),
            now,
        )
        .await?;
        scope.commit().await?;
        // The links already lead nowhere (their bookings no longer carry
        // the digests); the directory entries go too.
        for digest in &erased.manage_digests {
            if let Err(error) = self.store.system().forget_credential(digest).await {
                tracing::warn!(%error, "an erased customer's manage link stays in the directory");
            }
        }
        Ok(erased)
    }

    /// Erases the principal's whole business (P10): without
    /// `confirmation` it erases nothing and answers the token to confirm
    /// with; with a valid one it destroys the business's data key, deletes
    /// every row it owns and keeps only a system-level tombstone. The
    /// owner, signed in as a person. Every session and key of the business
    /// stops working with the first step, the caller's too.
    ///
    /// # Errors
    /// [`AppError::Forbidden`] for anyone but an owner;
    /// [`AppError::Invalid`] for a confirmation that is wrong, expired or
    /// another's; [`Conflict::LegalHold`] under a legal hold.
    pub async fn erase_tenant(
        &self,
        principal: &Principal,
        confirmation: Option<&str>,
    ) -> Result<TenantErasure, AppError> {
        principal.require(Need::PersonOwner)?;
        let actor = principal.user.to_string();
        let subject = principal.tenant.to_string();
        let now = self.now();
        let scope = self.store.read(principal.tenant).await?;
        if scope.legal_hold().await? {
            return Err(AppError::Conflict(Conflict::LegalHold));
        }
        let key = self.data_key(&scope).await?;
        scope.commit().await?;
        let Some(token) = confirmation else {
            let expires_at = now + CONFIRMATION_LIFETIME;
            let token = confirmation_token(&key, ERASE_TENANT, &subject, &actor, expires_at)?;
            return Ok(TenantErasure::Confirm { token, expires_at });
        };
        if !confirmed(&key, ERASE_TENANT, &subject, &actor, token, now)? {
            return Err(AppError::invalid(
                "confirmation",
                "not a confirmation of this erasure by you, or expired; ask for a new one",
            ));
        }
        drop(key);
        let rows = self
            .run_tenant_erasure(principal.tenant, ErasureVia::Api, |_| {})
            .await?;
        Ok(TenantErasure::Done { rows })
    }

    /// Erases the business at `slug`, for an operator who confirmed at the
    /// command line; carries on an erasure that began before (the slug
    /// still names a business being erased). `progress` sees each step.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for an unknown slug; [`Conflict::LegalHold`]
    /// under a legal hold.
    pub async fn erase_tenant_at(
        &self,
        slug: &str,
        progress: impl FnMut(ErasureStep),
    ) -> Result<u64, AppError> {
        let slug = TenantSlug::parse(slug).map_err(|e| AppError::invalid("slug", e))?;
        let tenant = self
            .store
            .system()
            .locate_any(&slug)
            .await?
            .ok_or(AppError::NotFound)?;
        self.run_tenant_erasure(tenant, ErasureVia::Operator, progress)
            .await
    }

    /// Completes every erasure a crash or a dropped request left unfinished;
    /// answers how many it completed. One that fails (a legal hold set
    /// after it began, a database error) is logged and left for the next
    /// round; the others still run. The server runs it hourly.
    ///
    /// # Errors
    /// When the unfinished erasures cannot be listed, or naming how many
    /// failed.
    pub async fn resume_erasures(&self) -> Result<usize, AppError> {
        let unfinished = self.store.system().unfinished_erasures().await?;
        let mut completed = 0_usize;
        let mut failed = 0_usize;
        for tenant in unfinished {
            let via = self
                .store
                .system()
                .erasure(tenant)
                .await?
                .map_or(ErasureVia::Operator, |record| record.via);
            match self.run_tenant_erasure(tenant, via, |_| {}).await {
                Ok(_) => completed = completed.saturating_add(1),
                Err(error) => {
                    failed = failed.saturating_add(1);
                    tracing::error!(%tenant, %error, "a business erasure could not be completed");
                }
            }
        }
        if failed > 0 {
            return Err(AppError::internal(std::io::Error::other(format!(
                "{failed} business erasure(s) not completed ({completed} completed); see the log"
            ))));
        }
        Ok(completed)
    }

    async fn run_tenant_erasure(
        &self,
        tenant: TenantId,
        via: ErasureVia,
        mut progress: impl FnMut(ErasureStep),
    ) -> Result<u64, AppError> {
        // A step that fails for a reason that may pass (a booking that was
        // in flight when the business closed, a busy database) is tried
        // again; each try starts from the last committed step.
        let mut retries = 3_u8;
        loop {
            let step = match self
                .store
                .system()
                .erase_tenant_step(tenant, via, ERASURE_BATCH, self.now())
                .await
            {
                Ok(step) => step,
                Err(error @ (StoreError::LegalHold | StoreError::NoTenant)) => {
                    return Err(error.into());
                }
                Err(error) if retries > 0 => {
                    retries -= 1;
                    tracing::warn!(%tenant, %error, "a business erasure step failed; trying again");
                    continue;
                }
                Err(error) => return Err(error.into()),
            };
            progress(step);
            match step {
                ErasureStep::Marked => tracing::info!(%tenant, "business erasure begun"),
                ErasureStep::KeyDestroyed => {
                    tracing::info!(%tenant, "business data key destroyed");
                }
                ErasureStep::Deleted(_) => {}
                ErasureStep::Done { rows } => {
                    tracing::info!(%tenant, rows, "business erased");
                    return Ok(rows);
                }
            }
        }
    }

    /// Makes a link with which a customer of the principal's business gets
    /// their export or has themselves erased, once, within
    /// [`LINK_LIFETIME_DAYS`] days (P10). An admin signed in as a person;
    /// audited. The token is answered here: until mail sending exists the
    /// admin hands it to the customer, at the customer's email address.
    ///
    /// # Errors
    /// [`AppError::Forbidden`] without admin rights; [`AppError::NotFound`]
    /// for a customer not in the business or erased; [`Conflict::LegalHold`]
    /// for an erasure link under a legal hold.
    pub async fn create_data_request(
        &self,
        principal: &Principal,
        customer: CustomerId,
        kind: DataRequestKind,
    ) -> Result<DataRequestLink, AppError> {
        principal.require(Need::PersonAdmin)?;
        let now = self.now();
        let expires_at = now + SignedDuration::from_hours(24 * LINK_LIFETIME_DAYS);
        let (token, digest) =
            token::generate(TokenKind::DataRequest).map_err(AppError::internal)?;
        let scope = self.store.write(principal.tenant).await?;
        let stored = scope
            .data_requests()
            .insert(&DataRequestRecord {
                id: DataRequestId::random(),
                customer,
                kind,
                digest: *digest.as_bytes(),
                created_by: principal.user,
                created_at: now,
                expires_at,
                used_at: None,
            })
            .await?;
        if !stored {
            return Err(AppError::NotFound);
        }
        audit(
            &scope,
            AuditKind::DataRequestCreated,
            principal.actor(),
            Some(customer.to_string()),
            BTreeMap::from([
                ("kind".to_owned(), kind.as_str().to_owned()),
                ("expires_at".to_owned(), expires_at.to_string()),
            ]),
            now,
        )
        .await?;
        scope.commit().await?;
        Ok(DataRequestLink {
            token,
            customer,
            kind,
            expires_at,
        })
    }

    /// Does what the customer's request link at the business at `slug`
    /// says, once: writes their export into `out`, or erases them (the
    /// link, sent to their address, is the confirmation). Audited with
    /// `via` `customer_link`.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for a slug, token or link that is unknown,
    /// malformed, used, expired or another business's, all alike;
    /// [`Conflict::LegalHold`] for an erasure under a legal hold (the link
    /// stays usable).
    pub async fn use_data_request<W: AsyncWrite + AsyncSeek + Unpin>(
        &self,
        slug: &str,
        token_text: &str,
        out: W,
    ) -> Result<DataRequestOutcome<W>, AppError> {
        let parsed = token::parse_as(token_text, TokenKind::DataRequest)
            .map_err(|_malformed| AppError::NotFound)?;
        let digest = *parsed.digest().as_bytes();
        let slug = TenantSlug::parse(slug).map_err(|_malformed| AppError::NotFound)?;
        let tenant = self
            .store
            .system()
            .locate(&slug)
            .await?
            .ok_or(AppError::NotFound)?;
        let scope = self.store.read(tenant).await?;
        let link = scope
            .data_requests()
            .live(&digest, self.now())
            .await?
            .ok_or(AppError::NotFound)?;
        scope.commit().await?;
        let requester = Requester::Customer(digest);
        match link.kind {
            DataRequestKind::Export => {
                let (written, summary) = self
                    .export_customer_in(tenant, &requester, link.customer, out)
                    .await?;
                Ok(DataRequestOutcome::Exported(written, summary))
            }
            DataRequestKind::Erasure => {
                let scope = self.store.write(tenant).await?;
                let erased = self
                    .erase_customer_in(scope, &requester, link.customer, self.now())
                    .await?;
                Ok(DataRequestOutcome::Erased {
                    bookings: erased.bookings,
                })
            }
        }
    }

    /// Sets or lifts the legal hold on the business at `slug` (an
    /// operator's command), audited in its log. While set, no erasure of
    /// the business's data runs and audit retention is paused.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for an unknown slug.
    pub async fn set_legal_hold(&self, slug: &str, on: bool) -> Result<(), AppError> {
        let tenant = self.tenant_at(slug).await?;
        let scope = self.store.write(tenant).await?;
        if !scope.set_legal_hold(on).await? {
            return Err(AppError::NotFound);
        }
        audit(
            &scope,
            AuditKind::LegalHoldChanged,
            None,
            Some(tenant.to_string()),
            BTreeMap::from([("legal_hold".to_owned(), on.to_string())]),
            self.now(),
        )
        .await?;
        scope.commit().await?;
        Ok(())
    }
}
