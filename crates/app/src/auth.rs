//! Signing in and recognising a signed-in caller.
//!
//! Sign-in is per tenant (business slug, email, password). An unknown
//! email, a wrong password and a disabled account take the same path: one
//! password verification (a dummy one when there is no hash), one failure
//! counted against the account digest, one audit entry, one answer. Hashing
//! happens outside any transaction, so a slow hash never holds the SQLite
//! writer.
//!
//! A bearer token finds its tenant through the credential directory, then
//! its session or key row inside that tenant; a revoked or expired one
//! fails on the very next request.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use bookwarden_crypto::SecretString;
use bookwarden_crypto::digest::{Sha256, constant_time_eq};
use bookwarden_crypto::password::{PasswordError, PasswordHash, PolicyContext, Verification};
use bookwarden_crypto::token::{self, TokenKind};
use bookwarden_crypto::totp::{Totp, TotpSeed, recovery_code_digest};
use bookwarden_crypto::vault::{self, Purpose, TenantDataKey};
use bookwarden_domain::account::{AccountStatus, ApiKeyScope, Email, Role};
use bookwarden_domain::audit::AuditKind;
use bookwarden_domain::id::{ApiKeyId, NoticeId, SessionId, TenantId, UserId};
use bookwarden_domain::jiff::{SignedDuration, Timestamp};
use bookwarden_domain::sign_in::{MAX_DEVICE_CHARS, Novelty, SignInSource};
use bookwarden_domain::tenant::{Tenant, TenantSlug, TenantStatus};
use bookwarden_persistence::{
    AuditEvent, CredentialKind, FailureOutcome, SessionRecord, SignInNotice, TenantScope,
    ThrottleRule, UserRecord,
};

use crate::App;
use crate::error::AppError;

/// Where a request came from, for audit entries and rate limits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client's address (from the socket, or the trusted proxy).
    pub address: Option<IpAddr>,
    /// The `User-Agent`, cut to a sane length.
    pub user_agent: Option<String>,
}

impl ClientInfo {
    pub(crate) fn detail(&self) -> BTreeMap<String, String> {
        let mut detail = BTreeMap::new();
        if let Some(address) = self.address {
            detail.insert("address".to_owned(), address.to_string());
        }
        if let Some(agent) = &self.user_agent {
            detail.insert("user_agent".to_owned(), agent.chars().take(200).collect());
        }
        detail
    }
}

/// A sign-in attempt. `Debug` shows no secret.
pub struct LoginRequest {
    /// The business's slug.
    pub tenant: String,
    /// The account's email.
    pub email: String,
    /// The password.
    pub password: SecretString,
    /// A current TOTP code, when two-factor is on.
    pub otp: Option<SecretString>,
    /// A recovery code instead of the TOTP code.
    pub recovery_code: Option<SecretString>,
    /// A new password, when a reset is required.
    pub new_password: Option<SecretString>,
    /// Where it came from.
    pub client: ClientInfo,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("tenant", &self.tenant)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

/// A new session. The token is shown to the client once.
pub struct SessionCreated {
    /// The bearer token (`bw_ses_...`).
    pub token: SecretString,
    /// The CSRF token browsers send back with the cookie variant.
    pub csrf_token: String,
    /// The session's id.
    pub session: SessionId,
    /// The tenant.
    pub tenant: TenantId,
    /// The user.
    pub user: UserId,
    /// The user's role.
    pub role: Role,
    /// When it ends whatever happens.
    pub expires_at: Timestamp,
}

impl std::fmt::Debug for SessionCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCreated")
            .field("session", &self.session)
            .field("tenant", &self.tenant)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// How a token reached the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Carrier<'a> {
    /// An `Authorization: Bearer` header (API clients; no CSRF risk).
    Bearer,
    /// The session cookie. `csrf` is `None` for a safe method, else the
    /// `X-CSRF-Token` header's value (itself `None` when missing).
    Cookie {
        /// The CSRF check to make.
        csrf: Option<Option<&'a str>>,
    },
}

/// How a principal proved who it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A person's sign-in session.
    Session(SessionId),
    /// An API key with its scopes.
    ApiKey {
        /// The key.
        id: ApiKeyId,
        /// What it may do.
        scopes: Vec<ApiKeyScope>,
    },
}

/// An authenticated caller, bound to exactly one tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
///
/// Only authentication makes one (its fields are private to this crate),
/// so no caller can build a principal for a tenant it did not sign in to.
pub struct Principal {
    pub(crate) tenant: TenantId,
    pub(crate) user: UserId,
    pub(crate) role: Role,
    pub(crate) credential: Credential,
}

/// What an operation needs from its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// A person signed in with a session (account security).
    Person,
    /// A person whose role is admin or owner.
    PersonAdmin,
    /// A person who is an owner.
    PersonOwner,
    /// Read access: any session, or a key with any scope.
    Read,
    /// Write access: any session, or a `write`/`admin` key.
    Write,
    /// Administration: an admin's session, or an `admin` key.
    Admin,
}

impl Principal {
    /// Refuses with [`AppError::Forbidden`] unless the principal has `need`.
    ///
    /// # Errors
    /// [`AppError::Forbidden`].
    pub fn require(&self, need: Need) -> Result<(), AppError> {
        let has_scope = |wanted: &[ApiKeyScope]| match &self.credential {
            Credential::ApiKey { scopes, .. } => scopes.iter().any(|s| wanted.contains(s)),
            Credential::Session(_) => false,
        };
        let person = matches!(self.credential, Credential::Session(_));
        let allowed = match need {
            Need::Person => person,
            Need::PersonAdmin => person && self.role.is_privileged(),
            Need::PersonOwner => person && self.role == Role::Owner,
            Need::Read => person || has_scope(&ApiKeyScope::ALL),
            Need::Write => person || has_scope(&[ApiKeyScope::Write, ApiKeyScope::Admin]),
            Need::Admin => {
                self.role.is_privileged() && (person || has_scope(&[ApiKeyScope::Admin]))
            }
        };
        if allowed {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }

    /// The tenant everything it does is confined to.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// The person (for an API key: the person who made it).
    pub fn user(&self) -> UserId {
        self.user
    }

    /// That person's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// How it signed in.
    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    /// The session, if the principal signed in with one.
    pub fn session(&self) -> Option<SessionId> {
        match self.credential {
            Credential::Session(id) => Some(id),
            Credential::ApiKey { .. } => None,
        }
    }

    pub(crate) fn actor(&self) -> Option<String> {
        Some(self.user.to_string())
    }
}

/// The CSRF token that goes with a session token: derived from it, so it
/// needs no storage, and useless without the cookie it belongs to.
pub fn csrf_token_for(session_token: &str) -> String {
    let mut digest = Sha256::labelled(b"bookwarden csrf v1");
    digest.update(session_token.as_bytes());
    data_encoding::BASE32_NOPAD
        .encode(&digest.finish())
        .to_ascii_lowercase()
}

/// Whether `presented` is the CSRF token of `session_token`, compared in
/// constant time.
pub(crate) fn csrf_matches(session_token: &str, presented: &str) -> bool {
    constant_time_eq(
        csrf_token_for(session_token).as_bytes(),
        presented.as_bytes(),
    )
}

/// The key failed sign-ins are counted under: the tenant and the email,
/// whether or not an account has it.
fn account_digest(tenant: TenantId, email: &Email) -> [u8; 32] {
    let mut digest = Sha256::labelled(b"bookwarden login v1");
    digest.update(tenant.as_bytes());
    digest.update(email.as_str().as_bytes());
    digest.finish()
}

fn seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

pub(crate) fn after(now: Timestamp, d: Duration) -> Timestamp {
    now.checked_add(SignedDuration::from_secs(seconds(d)))
        .unwrap_or(now)
}

/// A failed sign-in: whose (if known) and why, for the audit entry.
struct Failure {
    user: Option<UserId>,
    reason: &'static str,
}

/// What the password check found.
enum Checked {
    Good {
        record: Box<UserRecord>,
        rehash: Option<bookwarden_crypto::password::VerifiedPassword>,
        must_reset: bool,
    },
    Bad {
        user: Option<UserId>,
        reason: &'static str,
    },
}

impl App {
    fn throttle_rule(&self) -> ThrottleRule {
        let auth = &self.config.auth;
        ThrottleRule {
            max_failures: auth.lockout_failures,
            window_secs: seconds(auth.lockout_window),
            lockout_secs: seconds(auth.lockout),
        }
    }

    /// Signs a person in and opens a new session. The steps are separate
    /// functions where they stand alone; what is left is their order,
    /// which is the guarantee (the attempt counted before any hashing, one
    /// verification on every path, the second factor and the session in
    /// one transaction), so it reads as one sequence.
    ///
    /// # Errors
    /// [`AppError::LoginFailed`] for every kind of wrong credential,
    /// [`AppError::Locked`], [`AppError::OtpRequired`],
    /// [`AppError::OtpInvalid`], [`AppError::ResetRequired`],
    /// [`AppError::WeakPassword`] for a bad new password, [`AppError::Busy`].
    pub async fn login(&self, request: LoginRequest) -> Result<SessionCreated, AppError> {
        let now = self.now();
        let slug =
            TenantSlug::parse(&request.tenant).map_err(|e| AppError::invalid("tenant", e))?;
        let email = Email::parse(&request.email).map_err(|e| AppError::invalid("email", e))?;
        let Some(tenant) = self.store.system().locate(&slug).await? else {
            self.hasher.verify_dummy(request.password).await?;
            return Err(AppError::LoginFailed);
        };
        let account = account_digest(tenant, &email);
        let (outcome, record, tenant_row) =
            self.count_attempt(tenant, &account, &email, now).await?;
        let tenant_open = tenant_row.is_some_and(|t| t.status() != TenantStatus::Cancelled);
        let checked = self
            .check_password(record, request.password, tenant_open)
            .await?;
        let (record, rehash, must_reset) = match checked {
            Checked::Good {
                record,
                rehash,
                must_reset,
            } => (record, rehash, must_reset),
            Checked::Bad { user, reason } => {
                let failure = Failure { user, reason };
                self.audit_failure(
                    tenant,
                    &email,
                    failure,
                    outcome.locked_now,
                    &request.client,
                    now,
                )
                .await?;
                return Err(AppError::LoginFailed);
            }
        };
        let user = record.user.id();
        // Second factor, when on.
        let second = match &record.totp_seed {
            None => None,
            Some(sealed) => {
                if request.otp.is_none() && request.recovery_code.is_none() {
                    return Err(AppError::OtpRequired);
                }
                Some(sealed.clone())
            }
        };
        let new_hash = self
            .replacement_hash(tenant, &email, must_reset, rehash, request.new_password)
            .await?;
        let (token, digest) = token::generate(TokenKind::Session).map_err(AppError::internal)?;
        let digest = *digest.as_bytes();
        self.store
            .system()
            .register_credential(&digest, tenant, CredentialKind::Session)
            .await?;
        let scope = self.store.write(tenant).await?;
        if let Some(sealed) = second {
            let passed = self
                .check_second_factor(
                    &scope,
                    user,
                    &sealed,
                    request.otp.as_ref(),
                    request.recovery_code.as_ref(),
                    now,
                )
                .await?;
            if !passed {
                scope.rollback().await?;
                self.store.system().forget_credential(&digest).await?;
                let failure = Failure {
                    user: Some(user),
                    reason: "second_factor",
                };
                self.audit_failure(
                    tenant,
                    &email,
                    failure,
                    outcome.locked_now,
                    &request.client,
                    now,
                )
                .await?;
                return Err(AppError::OtpInvalid);
            }
            if request.otp.is_none() {
                audit(
                    &scope,
                    AuditKind::RecoveryCodeUsed,
                    Some(user.to_string()),
                    Some(user.to_string()),
                    BTreeMap::new(),
                    now,
                )
                .await?;
            }
        }
        if let Some(hash) = &new_hash {
            scope.users().replace_password(user, hash.as_str()).await?;
            if must_reset {
                scope.sessions().revoke_all_of(user, now).await?;
                audit(
                    &scope,
                    AuditKind::PasswordChanged,
                    Some(user.to_string()),
                    Some(user.to_string()),
                    request.client.detail(),
                    now,
                )
                .await?;
            }
        }
        let (session, expires_at) = self
            .open_session(&scope, user, digest, &account, &request.client, now)
            .await?;
        scope.commit().await?;
        let csrf_token = csrf_token_for(token.expose_secret());
        Ok(SessionCreated {
            token,
            csrf_token,
            session,
            tenant,
            user,
            role: record.user.role(),
            expires_at,
        })
    }

    /// Counts a sign-in attempt before its password is checked, in one
    /// transaction with the lock check, so concurrent guesses cannot all
    /// slip in while the first ones are still hashing (success clears it);
    /// and reads the account and the tenant row in the same transaction.
    async fn count_attempt(
        &self,
        tenant: TenantId,
        account: &[u8; 32],
        email: &Email,
        now: Timestamp,
    ) -> Result<(FailureOutcome, Option<UserRecord>, Option<Tenant>), AppError> {
        let scope = self.store.write(tenant).await?;
        let state = scope.login_throttle().state(account, now).await?;
        if let Some(until) = state.locked_until {
            scope.rollback().await?;
            let left = until.duration_since(now).as_secs().max(1);
            return Err(AppError::Locked {
                retry_after: Duration::from_secs(u64::try_from(left).unwrap_or(1)),
            });
        }
        let outcome = scope
            .login_throttle()
            .record_failure(account, self.throttle_rule(), now)
            .await?;
        let record = scope.users().by_email(email).await?;
        let tenant_row = scope.tenant_row().await?;
        scope.commit().await?;
        Ok((outcome, record, tenant_row))
    }

    /// The hash to store after a good password, if any: a stored bcrypt
    /// hash that would truncate this password must be replaced by a new
    /// password (explicitly, never accepted as is); an outdated hash is
    /// upgraded to the current parameters.
    async fn replacement_hash(
        &self,
        tenant: TenantId,
        email: &Email,
        must_reset: bool,
        rehash: Option<bookwarden_crypto::password::VerifiedPassword>,
        new_password: Option<SecretString>,
    ) -> Result<Option<PasswordHash>, AppError> {
        if must_reset {
            let Some(new_password) = new_password else {
                return Err(AppError::ResetRequired);
            };
            let tenant_name = self.tenant_name(tenant).await?;
            let checked = self
                .policy
                .check(
                    new_password,
                    &PolicyContext::new(email.as_str(), &tenant_name),
                )
                .map_err(AppError::WeakPassword)?;
            return Ok(Some(self.hasher.hash(checked).await?));
        }
        match rehash {
            Some(verified) => Ok(Some(self.hasher.rehash_verified(verified).await?)),
            None => Ok(None),
        }
    }

    /// Stores a new session for `user`, clears the attempt count and
    /// audits the sign-in, inside the caller's scope.
    async fn open_session(
        &self,
        scope: &TenantScope,
        user: UserId,
        digest: [u8; 32],
        account: &[u8; 32],
        client: &ClientInfo,
        now: Timestamp,
    ) -> Result<(SessionId, Timestamp), AppError> {
        let expires_at = after(now, self.config.auth.session_absolute);
        let session = SessionId::random();
        scope
            .sessions()
            .insert(&SessionRecord {
                id: session,
                user,
                digest,
                created_at: now,
                last_seen_at: now,
                expires_at,
                revoked_at: None,
            })
            .await?;
        scope.login_throttle().clear(account).await?;
        scope.users().record_login(user, now).await?;
        self.notice_new_source(scope, user, client, now).await?;
        let mut detail = client.detail();
        detail.insert("session".to_owned(), session.to_string());
        audit(
            scope,
            AuditKind::LoginSucceeded,
            Some(user.to_string()),
            Some(user.to_string()),
            detail,
            now,
        )
        .await?;
        Ok((session, expires_at))
    }

    /// Records where `user` signed in from; a device or network the
    /// account has not used before (and it signed in before) leaves a
    /// notice for its holder and an audit entry (P14).
    async fn notice_new_source(
        &self,
        scope: &TenantScope,
        user: UserId,
        client: &ClientInfo,
        now: Timestamp,
    ) -> Result<(), AppError> {
        let source = SignInSource::of(client.user_agent.as_deref(), client.address);
        let key = self.data_key(scope).await?;
        let digest = |what: &str, value: &str| {
            let mut message = what.as_bytes().to_vec();
            message.push(0);
            message.extend_from_slice(value.as_bytes());
            vault::keyed_digest(&key, &Purpose::SIGN_IN_SOURCE, &message)
                .map_err(AppError::internal)
        };
        let sign_ins = scope.sign_ins();
        let before = sign_ins.any(user).await?;
        let device = sign_ins
            .remember(user, &digest("device", source.device())?, now)
            .await?;
        let network = match source.network() {
            Some(network) => {
                sign_ins
                    .remember(user, &digest("network", network)?, now)
                    .await?
            }
            None => false,
        };
        let novelty = Novelty { device, network };
        if !novelty.deserves_notice(before) {
            return Ok(());
        }
        sign_ins
            .notify(&SignInNotice {
                id: NoticeId::random(),
                user,
                at: now,
                address: client.address.map(|a| a.to_string()),
                user_agent: client
                    .user_agent
                    .as_ref()
                    .map(|agent| agent.chars().take(MAX_DEVICE_CHARS).collect()),
                new_device: device,
                new_network: network,
            })
            .await?;
        audit(
            scope,
            AuditKind::LoginNewSource,
            Some(user.to_string()),
            Some(user.to_string()),
            BTreeMap::from([
                ("new_device".to_owned(), device.to_string()),
                ("new_network".to_owned(), network.to_string()),
            ]),
            now,
        )
        .await
    }

    /// The signed-in person's notices of sign-ins from a new device or
    /// network, newest first (at most 100).
    ///
    /// # Errors
    /// [`AppError::Forbidden`] for an API key.
    pub async fn sign_in_notices(
        &self,
        principal: &Principal,
    ) -> Result<Vec<SignInNotice>, AppError> {
        principal.require(Need::Person)?;
        let scope = self.store.read(principal.tenant).await?;
        let notices = scope.sign_ins().notices(principal.user, 100).await?;
        scope.commit().await?;
        Ok(notices)
    }

    /// Exactly one password verification on every path.
    async fn check_password(
        &self,
        record: Option<UserRecord>,
        password: SecretString,
        tenant_open: bool,
    ) -> Result<Checked, AppError> {
        let Some(record) = record else {
            self.hasher.verify_dummy(password).await?;
            return Ok(Checked::Bad {
                user: None,
                reason: "unknown_account",
            });
        };
        let user = Some(record.user.id());
        let stored = record
            .password_hash
            .as_deref()
            .map(PasswordHash::parse)
            .transpose();
        let Ok(Some(stored)) = stored else {
            self.hasher.verify_dummy(password).await?;
            return Ok(Checked::Bad {
                user,
                reason: "no_password",
            });
        };
        let verification = match self.hasher.verify(password, stored).await {
            Ok(v) => v,
            // The first 72 bytes match a bcrypt hash that would truncate the
            // rest: the password must be replaced, never accepted as is.
            Err(PasswordError::ResetRequired) => {
                return Ok(self.good_or_disabled(record, None, true, tenant_open));
            }
            Err(other) => return Err(other.into()),
        };
        Ok(match verification {
            Verification::Invalid => Checked::Bad {
                user,
                reason: "wrong_password",
            },
            Verification::Valid => self.good_or_disabled(record, None, false, tenant_open),
            Verification::ValidNeedsRehash(verified) => {
                self.good_or_disabled(record, Some(verified), false, tenant_open)
            }
        })
    }

    fn good_or_disabled(
        &self,
        record: UserRecord,
        rehash: Option<bookwarden_crypto::password::VerifiedPassword>,
        must_reset: bool,
        tenant_open: bool,
    ) -> Checked {
        if record.user.status() != AccountStatus::Active || !tenant_open {
            return Checked::Bad {
                user: Some(record.user.id()),
                reason: "disabled",
            };
        }
        // A forced reset clears the password; only its reset token sets a
        // new one. (Defensive: a hash should not survive alongside it.)
        if record.reset_required {
            return Checked::Bad {
                user: Some(record.user.id()),
                reason: "reset_pending",
            };
        }
        Checked::Good {
            record: Box::new(record),
            rehash,
            must_reset,
        }
    }

    async fn check_second_factor(
        &self,
        scope: &TenantScope,
        user: UserId,
        sealed: &[u8],
        otp: Option<&SecretString>,
        recovery_code: Option<&SecretString>,
        now: Timestamp,
    ) -> Result<bool, AppError> {
        if let Some(code) = otp {
            let key = self.data_key(scope).await?;
            let seed = TotpSeed::open(&key, user.as_bytes(), sealed).map_err(AppError::internal)?;
            let last = scope
                .users()
                .get(user)
                .await?
                .and_then(|r| r.totp_last_step)
                .and_then(|s| u64::try_from(s).ok());
            let unix = u64::try_from(now.as_second()).unwrap_or(0);
            let Ok(step) = Totp::new(seed).verify(code.expose_secret(), unix, last) else {
                return Ok(false);
            };
            let step = i64::try_from(step.get()).map_err(AppError::internal)?;
            return Ok(scope.users().accept_totp_step(user, step).await?);
        }
        if let Some(code) = recovery_code {
            let Ok(digest) = recovery_code_digest(user.as_bytes(), code.expose_secret()) else {
                return Ok(false);
            };
            return Ok(scope
                .users()
                .use_recovery_code(user, digest.as_bytes())
                .await?);
        }
        Ok(false)
    }

    /// Records a failed sign-in (already counted against the account) in
    /// the audit chain, and the lockout when this attempt caused one.
    async fn audit_failure(
        &self,
        tenant: TenantId,
        email: &Email,
        Failure { user, reason }: Failure,
        locked_now: bool,
        client: &ClientInfo,
        now: Timestamp,
    ) -> Result<(), AppError> {
        let scope = self.store.write(tenant).await?;
        let mut detail = client.detail();
        // Whoever mistyped a slug or an address must not disclose it to
        // this business: only a digest under its key, so repeats correlate.
        // A key that does not open costs the digest, never the answer.
        match self.data_key(&scope).await {
            Ok(key) => {
                detail.insert(
                    "email_digest".to_owned(),
                    typed_value_digest(&key, email.as_str())?,
                );
            }
            Err(error) => {
                tracing::warn!(%tenant, %error, "a failed sign-in is audited without its address digest");
            }
        }
        detail.insert("reason".to_owned(), reason.to_owned());
        let subject = user.map(|u| u.to_string());
        audit(
            &scope,
            AuditKind::LoginFailed,
            None,
            subject.clone(),
            detail.clone(),
            now,
        )
        .await?;
        if locked_now {
            metrics::counter!("auth_lockouts_total").increment(1);
            detail.remove("reason");
            audit(&scope, AuditKind::Lockout, None, subject, detail, now).await?;
            tracing::warn!(tenant = %tenant, "an account was locked after repeated failed sign-ins");
        }
        scope.commit().await?;
        Ok(())
    }

    pub(crate) async fn tenant_name(&self, tenant: TenantId) -> Result<String, AppError> {
        let scope = self.store.read(tenant).await?;
        let row = scope.tenant_row().await?;
        scope.commit().await?;
        Ok(row
            .map(|t| t.name().as_str().to_owned())
            .unwrap_or_default())
    }

    /// Recognises a presented token (session or API key) carried by
    /// `carrier`.
    ///
    /// # Errors
    /// [`AppError::Unauthenticated`] for anything not currently valid;
    /// [`AppError::Forbidden`] for a cookie on a state-changing request
    /// without its CSRF token.
    pub async fn authenticate(
        &self,
        presented: &str,
        carrier: Carrier<'_>,
    ) -> Result<Principal, AppError> {
        let parsed = token::parse(presented).map_err(|_malformed| AppError::Unauthenticated)?;
        if let Carrier::Cookie { csrf } = carrier {
            // A cookie only ever carries a session token.
            if parsed.kind() != TokenKind::Session {
                return Err(AppError::Unauthenticated);
            }
            if let Some(header) = csrf
                && !header.is_some_and(|h| csrf_matches(presented, h))
            {
                return Err(AppError::Forbidden);
            }
        }
        let digest = *parsed.digest().as_bytes();
        let Some((tenant, kind)) = self.store.system().locate_credential(&digest).await? else {
            return Err(AppError::Unauthenticated);
        };
        let now = self.now();
        match (parsed.kind(), kind) {
            (TokenKind::Session, CredentialKind::Session) => {
                self.session_principal(tenant, &digest, now).await
            }
            (TokenKind::ApiKey, CredentialKind::ApiKey) => {
                self.api_key_principal(tenant, &digest).await
            }
            _ => Err(AppError::Unauthenticated),
        }
    }

    async fn session_principal(
        &self,
        tenant: TenantId,
        digest: &[u8; 32],
        now: Timestamp,
    ) -> Result<Principal, AppError> {
        let scope = self.store.read(tenant).await?;
        let session = scope.sessions().by_digest(digest).await?;
        let Some(session) = session else {
            scope.commit().await?;
            return Err(AppError::Unauthenticated);
        };
        let record = scope.users().get(session.user).await?;
        let tenant_row = scope.tenant_row().await?;
        scope.commit().await?;
        let idle_until = after(session.last_seen_at, self.config.auth.session_idle);
        let live = session.revoked_at.is_none() && now < session.expires_at && now < idle_until;
        let tenant_open = tenant_row.is_some_and(|t| t.status() != TenantStatus::Cancelled);
        let Some(record) = record.filter(|r| r.user.status() == AccountStatus::Active) else {
            return Err(AppError::Unauthenticated);
        };
        if !live || !tenant_open || record.reset_required {
            return Err(AppError::Unauthenticated);
        }
        // Note use at most once a minute, so reads stay reads.
        if now.duration_since(session.last_seen_at) >= SignedDuration::from_secs(60) {
            let scope = self.store.write(tenant).await?;
            scope.sessions().touch(session.id, now).await?;
            scope.commit().await?;
        }
        Ok(Principal {
            tenant,
            user: session.user,
            role: record.user.role(),
            credential: Credential::Session(session.id),
        })
    }

    async fn api_key_principal(
        &self,
        tenant: TenantId,
        digest: &[u8; 32],
    ) -> Result<Principal, AppError> {
        let scope = self.store.read(tenant).await?;
        let key = scope.api_keys().by_digest(digest).await?;
        let Some(key) = key.filter(|k| k.revoked_at.is_none()) else {
            scope.commit().await?;
            return Err(AppError::Unauthenticated);
        };
        let creator = scope.users().get(key.created_by).await?;
        let tenant_row = scope.tenant_row().await?;
        scope.commit().await?;
        let tenant_open = tenant_row.is_some_and(|t| t.status() != TenantStatus::Cancelled);
        // A key stops working when the person who made it loses access,
        // including while their password is being reset after a compromise.
        let Some(creator) =
            creator.filter(|c| c.user.status() == AccountStatus::Active && !c.reset_required)
        else {
            return Err(AppError::Unauthenticated);
        };
        if !tenant_open {
            return Err(AppError::Unauthenticated);
        }
        Ok(Principal {
            tenant,
            user: key.created_by,
            role: creator.user.role(),
            credential: Credential::ApiKey {
                id: key.id,
                scopes: crate::accounts::stored_scopes(&key.scopes),
            },
        })
    }

    /// Ends the principal's session.
    ///
    /// # Errors
    /// [`AppError::Forbidden`] for an API key.
    pub async fn logout(&self, principal: &Principal, client: &ClientInfo) -> Result<(), AppError> {
        principal.require(Need::Person)?;
        let Some(session) = principal.session() else {
            return Err(AppError::Forbidden);
        };
        let now = self.now();
        let scope = self.store.write(principal.tenant).await?;
        let digest = scope.sessions().get(session).await?.map(|s| s.digest);
        scope.sessions().revoke(session, now).await?;
        let mut detail = client.detail();
        detail.insert("session".to_owned(), session.to_string());
        audit(
            &scope,
            AuditKind::Logout,
            principal.actor(),
            principal.actor(),
            detail,
            now,
        )
        .await?;
        scope.commit().await?;
        if let Some(digest) = digest {
            self.store.system().forget_credential(&digest).await?;
        }
        Ok(())
    }
}

/// A value a person typed (an email address at a failed sign-in), as the
/// audit chain may hold it: a keyed digest under the tenant's data key, in
/// hex, never the text (P9). Repeats in one tenant give the same digest;
/// erasing the tenant's key unlinks them for good.
pub(crate) fn typed_value_digest(key: &TenantDataKey, value: &str) -> Result<String, AppError> {
    let digest = vault::keyed_digest(key, &Purpose::AUDIT_TYPED_VALUE, value.as_bytes())
        .map_err(AppError::internal)?;
    Ok(data_encoding::HEXLOWER.encode(&digest))
}

/// Appends one event to the scope's audit chain.
pub(crate) async fn audit(
    scope: &TenantScope,
    kind: AuditKind,
    actor: Option<String>,
    subject: Option<String>,
    detail: BTreeMap<String, String>,
    now: Timestamp,
) -> Result<(), AppError> {
    scope
        .audit(
            &AuditEvent {
                kind,
                actor,
                subject,
                detail,
            },
            now,
        )
        .await?;
    Ok(())
}
