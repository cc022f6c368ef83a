//! Accounts: sign-up (a tenant and its owner), passwords, two-factor,
//! invitations, roles, the privileged-access report and API keys. Every
//! change to access is appended to the tenant's audit chain in the same
//! transaction as the change.

use std::collections::BTreeMap;

use bookwarden_crypto::SecretString;
use bookwarden_crypto::password::{PasswordHash, PolicyContext, Verification};
use bookwarden_crypto::token::{self, TokenKind};
use bookwarden_crypto::totp::{
    Totp, TotpAlgorithm, TotpSeed, generate_recovery_codes, recovery_code_digest,
};
use bookwarden_domain::account::{AccountStatus, ApiKeyScope, Email, PersonName, Role, User};
use bookwarden_domain::audit::AuditKind;
use bookwarden_domain::id::{ApiKeyId, InvitationId, TenantId, UserId};
use bookwarden_domain::jiff::Timestamp;
use bookwarden_domain::tenant::{Region, Tenant, TenantName, TenantSlug, TenantStatus};
use bookwarden_domain::time::TimeZone;
use bookwarden_persistence::{
    ApiKeyRecord, CredentialKind, InvitationRecord, StoreError, UserRecord,
};

use crate::App;
use crate::auth::{ClientInfo, Need, Principal, after, audit};
use crate::error::AppError;
use crate::error::Conflict;

/// A new business and its owner. `Debug` shows no password.
pub struct Signup {
    /// The business's name.
    pub tenant_name: String,
    /// Its slug (used to sign in and in public booking links).
    pub slug: String,
    /// Its default time zone.
    pub time_zone: String,
    /// The region its data lives in, one the deployment serves; `None`:
    /// the deployment's default region.
    pub region: Option<String>,
    /// The owner's email.
    pub email: String,
    /// The owner's name.
    pub name: String,
    /// The owner's password.
    pub password: SecretString,
    /// Where it came from.
    pub client: ClientInfo,
}

impl std::fmt::Debug for Signup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signup")
            .field("slug", &self.slug)
            .finish_non_exhaustive()
    }
}

/// What sign-up made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignupDone {
    /// The tenant.
    pub tenant: TenantId,
    /// Its owner.
    pub user: UserId,
}

/// An account as shown to admins and to the person themself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserView {
    /// The id.
    pub id: UserId,
    /// The email.
    pub email: String,
    /// The name.
    pub name: String,
    /// The role.
    pub role: Role,
    /// Whether it may sign in.
    pub active: bool,
    /// Whether two-factor is on.
    pub totp_enabled: bool,
    /// Whether a new password is due.
    pub reset_required: bool,
    /// The last sign-in.
    pub last_login_at: Option<Timestamp>,
}

impl From<&UserRecord> for UserView {
    fn from(record: &UserRecord) -> Self {
        Self {
            id: record.user.id(),
            email: record.user.email().as_str().to_owned(),
            name: record.user.name().as_str().to_owned(),
            role: record.user.role(),
            active: record.user.status() == AccountStatus::Active,
            totp_enabled: record.totp_seed.is_some(),
            reset_required: record.reset_required,
            last_login_at: record.last_login_at,
        }
    }
}

/// A line of the privileged-access review (P14).
pub type PrivilegedAccount = UserView;

/// A started TOTP enrollment: what the authenticator app needs. Secret.
pub struct TotpEnrollment {
    /// The `otpauth://` URI for a QR code.
    pub otpauth_uri: SecretString,
}

impl std::fmt::Debug for TotpEnrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpEnrollment(..)")
    }
}

/// A change to someone's account by an admin or owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserChange {
    /// A new role.
    pub role: Option<Role>,
    /// Enable (true) or disable (false).
    pub active: Option<bool>,
}

/// A new invitation; the token is shown once.
pub struct InvitationCreated {
    /// Its id.
    pub id: InvitationId,
    /// The single-use token (`bw_inv_...`) to hand to the person.
    pub token: SecretString,
    /// When it stops working.
    pub expires_at: Timestamp,
}

impl std::fmt::Debug for InvitationCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvitationCreated")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A forced reset's token, shown once to the admin who forced it.
pub struct ResetIssued {
    /// The single-use token (`bw_rst_...`).
    pub token: SecretString,
    /// When it stops working.
    pub expires_at: Timestamp,
}

impl std::fmt::Debug for ResetIssued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResetIssued")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// An invitation as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationView {
    /// Its id.
    pub id: InvitationId,
    /// For whom.
    pub email: String,
    /// With which role.
    pub role: Role,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// When it was used.
    pub accepted_at: Option<Timestamp>,
}

/// A new API key; the token is shown once.
pub struct ApiKeyCreated {
    /// Its id.
    pub id: ApiKeyId,
    /// The token (`bw_key_...`).
    pub token: SecretString,
}

impl std::fmt::Debug for ApiKeyCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyCreated")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// An API key as listed (never its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyView {
    /// Its id.
    pub id: ApiKeyId,
    /// Its label.
    pub name: String,
    /// Its scopes.
    pub scopes: Vec<ApiKeyScope>,
    /// Who made it.
    pub created_by: UserId,
    /// When.
    pub created_at: Timestamp,
    /// When it was revoked.
    pub revoked_at: Option<Timestamp>,
}

/// The scopes of a stored key. The store keeps their names; one this
/// build does not know grants nothing (fail closed) rather than failing
/// every request the key makes.
pub(crate) fn stored_scopes(names: &[String]) -> Vec<ApiKeyScope> {
    names
        .iter()
        .filter_map(|name| ApiKeyScope::parse(name).ok())
        .collect()
}

fn name_of(field: &'static str, text: &str) -> Result<PersonName, AppError> {
    PersonName::parse(text).map_err(|e| AppError::invalid(field, e))
}

fn unserved_region() -> AppError {
    AppError::invalid("region", "is not a region this deployment serves")
}

impl App {
    /// Creates a business and its owner account.
    ///
    /// # Errors
    /// [`AppError::Invalid`] or [`AppError::WeakPassword`] for bad input,
    /// [`AppError::Conflict`] when the slug is taken.
    pub async fn signup(&self, request: Signup) -> Result<SignupDone, AppError> {
        let now = self.now();
        let name = TenantName::parse(&request.tenant_name)
            .map_err(|e| AppError::invalid("tenant_name", e))?;
        let slug = TenantSlug::parse(&request.slug).map_err(|e| AppError::invalid("slug", e))?;
        let zone =
            TimeZone::parse(&request.time_zone).map_err(|e| AppError::invalid("time_zone", e))?;
        let email = Email::parse(&request.email).map_err(|e| AppError::invalid("email", e))?;
        let person = name_of("name", &request.name)?;
        // The store refuses a region it has no database for; asked first,
        // so a refused signup costs no password hash.
        let region = match request.region.as_deref() {
            None => self.config.default_region.clone(),
            Some(text) => Region::parse(text)
                .ok()
                .filter(|region| self.store.system().serves(region))
                .ok_or_else(unserved_region)?,
        };
        let password = self
            .policy
            .check(
                request.password,
                &PolicyContext::new(email.as_str(), name.as_str()),
            )
            .map_err(AppError::WeakPassword)?;
        if self.store.system().locate(&slug).await?.is_some() {
            return Err(AppError::Conflict(Conflict::SlugTaken));
        }
        let hash = self.hasher.hash(password).await?;
        let tenant = Tenant::create(name, slug, region, zone);
        match self.store.system().create_tenant(&tenant, now).await {
            Ok(()) => {}
            Err(StoreError::Duplicate(_)) => return Err(AppError::Conflict(Conflict::SlugTaken)),
            Err(StoreError::UnknownRegion(_)) => return Err(unserved_region()),
            Err(other) => return Err(other.into()),
        }
        let owner = User::create(tenant.id(), email, person, Role::Owner);
        let scope = self.store.write(tenant.id()).await?;
        scope.create_data_key(&self.keys, now).await?;
        scope
            .users()
            .insert(&owner, Some(hash.as_str()), now)
            .await?;
        let actor = Some(owner.id().to_string());
        audit(
            &scope,
            AuditKind::TenantCreated,
            actor.clone(),
            Some(tenant.id().to_string()),
            request.client.detail(),
            now,
        )
        .await?;
        audit(
            &scope,
            AuditKind::UserJoined,
            actor.clone(),
            actor,
            BTreeMap::from([("role".to_owned(), "owner".to_owned())]),
            now,
        )
        .await?;
        scope.commit().await?;
        Ok(SignupDone {
            tenant: tenant.id(),
            user: owner.id(),
        })
    }

    async fn user_record(&self, tenant: TenantId, user: UserId) -> Result<UserRecord, AppError> {
        let scope = self.store.read(tenant).await?;
        let record = scope.users().get(user).await?;
        scope.commit().await?;
        record.ok_or(AppError::NotFound)
    }

    /// The signed-in person's own account.
    ///
    /// # Errors
    /// [`AppError::NotFound`] if the account is gone.
    pub async fn me(&self, principal: &Principal) -> Result<UserView, AppError> {
        principal.require(Need::Read)?;
        Ok(UserView::from(
            &self.user_record(principal.tenant, principal.user).await?,
        ))
    }

    /// Verifies a person's current password (re-authentication).
    async fn reauthenticate(
        &self,
        record: &UserRecord,
        password: SecretString,
    ) -> Result<(), AppError> {
        let stored = record.password_hash.as_deref().map(PasswordHash::parse);
        let Some(Ok(stored)) = stored else {
            self.hasher.verify_dummy(password).await?;
            return Err(AppError::invalid("current_password", "is wrong"));
        };
        match self.hasher.verify(password, stored).await {
            Ok(Verification::Valid | Verification::ValidNeedsRehash(_)) => Ok(()),
            Ok(Verification::Invalid)
            | Err(bookwarden_crypto::password::PasswordError::ResetRequired) => {
                Err(AppError::invalid("current_password", "is wrong"))
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Changes the signed-in person's password; every other session of
    /// theirs ends.
    ///
    /// # Errors
    /// [`AppError::Invalid`] for a wrong current password,
    /// [`AppError::WeakPassword`].
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: SecretString,
        new: SecretString,
        client: &ClientInfo,
    ) -> Result<(), AppError> {
        principal.require(Need::Person)?;
        let record = self.user_record(principal.tenant, principal.user).await?;
        self.reauthenticate(&record, current).await?;
        let tenant_name = self.tenant_name(principal.tenant).await?;
        let checked = self
            .policy
            .check(
                new,
                &PolicyContext::new(record.user.email().as_str(), &tenant_name),
            )
            .map_err(AppError::WeakPassword)?;
        let hash = self.hasher.hash(checked).await?;
        let now = self.now();
        let scope = self.store.write(principal.tenant).await?;
        scope
            .users()
            .replace_password(principal.user, hash.as_str())
            .await?;
        let others: Vec<_> = scope
            .sessions()
            .of_user(principal.user)
            .await?
            .into_iter()
            .filter(|s| s.revoked_at.is_none() && Some(s.id) != principal.session())
            .collect();
        for session in &others {
            scope.sessions().revoke(session.id, now).await?;
        }
        audit(
            &scope,
            AuditKind::PasswordChanged,
            principal.actor(),
            principal.actor(),
            client.detail(),
            now,
        )
        .await?;
        scope.commit().await?;
        for session in others {
            self.store
                .system()
                .forget_credential(&session.digest)
                .await?;
        }
        Ok(())
    }

    /// Loads a target account in the principal's tenant and checks the
    /// principal may manage it. Another tenant's id is simply not found.
    async fn managed_target(
        &self,
        principal: &Principal,
        target: UserId,
    ) -> Result<UserRecord, AppError> {
        let record = self.user_record(principal.tenant, target).await?;
        if !principal.role.can_manage(record.user.role()) || target == principal.user {
            return Err(AppError::Forbidden);
        }
        Ok(record)
    }

    /// Forces a password reset after a suspected compromise: the target's
    /// password stops working at once, their sessions end (and their API
    /// keys stop working until the reset is done), and a single-use reset
    /// token is returned, once, for the admin to hand over out of band.
    ///
    /// # Errors
    /// [`AppError::Forbidden`] or [`AppError::NotFound`].
    pub async fn force_password_reset(
        &self,
        principal: &Principal,
        target: UserId,
        client: &ClientInfo,
    ) -> Result<ResetIssued, AppError> {
        principal.require(Need::PersonAdmin)?;
        let record = self.managed_target(principal, target).await?;
        let now = self.now();
        let expires_at = after(now, self.config.auth.reset_ttl);
        let (token, digest) =
            token::generate(TokenKind::PasswordReset).map_err(AppError::internal)?;
        let digest = *digest.as_bytes();
        self.store
            .system()
            .register_credential(&digest, principal.tenant, CredentialKind::PasswordReset)
            .await?;
        let scope = self.store.write(principal.tenant).await?;
        scope
            .users()
            .start_reset(target, &digest, expires_at)
            .await?;
        let ended = self.end_sessions_in(&scope, target, now).await?;
        audit(
            &scope,
            AuditKind::PasswordResetForced,
            principal.actor(),
            Some(target.to_string()),
            client.detail(),
            now,
        )
        .await?;
        scope.commit().await?;
        self.forget_all(&ended).await?;
        if let Some(earlier) = record.reset_digest {
            self.store.system().forget_credential(&earlier).await?;
        }
        Ok(ResetIssued { token, expires_at })
    }

    /// Sets a new password with a forced reset's token (single use,
    /// expiring); every session of the account ends.
    ///
    /// # Errors
    /// [`AppError::ResetTokenInvalid`] for an unknown, used or expired
    /// token; [`AppError::WeakPassword`].
    pub async fn complete_password_reset(
        &self,
        token_text: &str,
        new_password: SecretString,
        client: &ClientInfo,
    ) -> Result<(), AppError> {
        let parsed = token::parse_as(token_text, TokenKind::PasswordReset)
            .map_err(|_malformed| AppError::ResetTokenInvalid)?;
        let digest = *parsed.digest().as_bytes();
        let Some((tenant, CredentialKind::PasswordReset)) =
            self.store.system().locate_credential(&digest).await?
        else {
            return Err(AppError::ResetTokenInvalid);
        };
        let now = self.now();
        let scope = self.store.read(tenant).await?;
        let record = scope.users().by_reset_digest(&digest).await?;
        let tenant_row = scope.tenant_row().await?;
        scope.commit().await?;
        let Some(record) = record.filter(|r| {
            r.reset_expires_at.is_some_and(|t| now < t) && r.user.status() == AccountStatus::Active
        }) else {
            return Err(AppError::ResetTokenInvalid);
        };
        let tenant_name = tenant_row
            .map(|t| t.name().as_str().to_owned())
            .unwrap_or_default();
        let checked = self
            .policy
            .check(
                new_password,
                &PolicyContext::new(record.user.email().as_str(), &tenant_name),
            )
            .map_err(AppError::WeakPassword)?;
        let hash = self.hasher.hash(checked).await?;
        let user = record.user.id();
        let scope = self.store.write(tenant).await?;
        if !scope
            .users()
            .finish_reset(user, &digest, hash.as_str(), now)
            .await?
        {
            scope.rollback().await?;
            return Err(AppError::ResetTokenInvalid);
        }
        let ended = self.end_sessions_in(&scope, user, now).await?;
        audit(
            &scope,
            AuditKind::PasswordChanged,
            Some(user.to_string()),
            Some(user.to_string()),
            client.detail(),
            now,
        )
        .await?;
        scope.commit().await?;
        self.forget_all(&ended).await?;
        self.store.system().forget_credential(&digest).await?;
        Ok(())
    }

    async fn end_sessions_in(
        &self,
        scope: &bookwarden_persistence::TenantScope,
        user: UserId,
        now: Timestamp,
    ) -> Result<Vec<[u8; 32]>, AppError> {
        let live: Vec<[u8; 32]> = scope
            .sessions()
            .of_user(user)
            .await?
            .into_iter()
            .filter(|s| s.revoked_at.is_none())
            .map(|s| s.digest)
            .collect();
        scope.sessions().revoke_all_of(user, now).await?;
        Ok(live)
    }

    async fn forget_all(&self, digests: &[[u8; 32]]) -> Result<(), AppError> {
        for digest in digests {
            self.store.system().forget_credential(digest).await?;
        }
        Ok(())
    }

    /// Every account of the tenant.
    ///
    /// # Errors
    /// [`AppError::Forbidden`] without admin rights.
    pub async fn users(&self, principal: &Principal) -> Result<Vec<UserView>, AppError> {
        principal.require(Need::Admin)?;
        let scope = self.store.read(principal.tenant).await?;
        let all = scope.users().list().await?;
        scope.commit().await?;
        Ok(all.iter().map(UserView::from).collect())
    }

    /// Owners and admins with their last sign-in, for periodic review (P14).
    ///
    /// # Errors
    /// [`AppError::Forbidden`] without admin rights.
    pub async fn privileged_accounts(
        &self,
        principal: &Principal,
    ) -> Result<Vec<PrivilegedAccount>, AppError> {
        principal.require(Need::Admin)?;
        self.privileged_in(principal.tenant).await
    }

    /// The owners and admins of `tenant`.
    pub(crate) async fn privileged_in(
        &self,
        tenant: TenantId,
    ) -> Result<Vec<PrivilegedAccount>, AppError> {
        let scope = self.store.read(tenant).await?;
        let all = scope.users().list().await?;
        scope.commit().await?;
        Ok(all
            .iter()
            .map(UserView::from)
            .filter(|u| u.role.is_privileged())
            .collect())
    }

    /// Changes another account's role or status. Owners manage everyone;
    /// admins manage admins and staff (never owners, and never make one);
    /// nobody changes their own; the last active owner stays an active
    /// owner.
    ///
    /// Longer than most on purpose: the locks (active owners first, then
    /// the target), the rules checked under them and the audit event are
    /// one transaction, read top to bottom in the order they happen.
    ///
    /// # Errors
    /// [`AppError::Forbidden`], [`AppError::NotFound`],
    /// [`AppError::Conflict`] for the last owner.
    pub async fn change_user(
        &self,
        principal: &Principal,
        target: UserId,
        change: UserChange,
        client: &ClientInfo,
    ) -> Result<UserView, AppError> {
        principal.require(Need::PersonAdmin)?;
        self.managed_target(principal, target).await?;
        if let Some(role) = change.role
            && !principal.role.can_manage(role)
        {
            return Err(AppError::Forbidden);
        }
        let now = self.now();
        let scope = self.store.write(principal.tenant).await?;
        // Locks first the tenant's active owners (when the change could
        // take one away), then the target, in that order in every such
        // transaction, so two of them cannot deadlock; then decides on the
        // rows as they are now: a promotion committed since the check above
        // counts, and two owners demoting each other at once cannot both
        // pass.
        let could_demote =
            change.role.is_some_and(|r| r != Role::Owner) || change.active == Some(false);
        let owners = if could_demote {
            scope.users().ensure_another_active_owner(target).await
        } else {
            Ok(())
        };
        let Some(record) = scope.users().get_locked(target).await? else {
            scope.rollback().await?;
            return Err(AppError::NotFound);
        };
        if !principal.role.can_manage(record.user.role()) {
            scope.rollback().await?;
            return Err(AppError::Forbidden);
        }
        if record.user.role() == Role::Owner
            && could_demote
            && let Err(refused) = owners
        {
            scope.rollback().await?;
            return Err(refused.into());
        }
        let mut ended = Vec::new();
        if let Some(role) = change.role.filter(|&r| r != record.user.role()) {
            scope.users().set_role(target, role).await?;
            let detail = BTreeMap::from([
                ("from".to_owned(), record.user.role().as_str().to_owned()),
                ("to".to_owned(), role.as_str().to_owned()),
            ]);
            audit(
                &scope,
                AuditKind::RoleChanged,
                principal.actor(),
                Some(target.to_string()),
                detail,
                now,
            )
            .await?;
        }
        match change.active {
            Some(false) if record.user.status() == AccountStatus::Active => {
                scope
                    .users()
                    .set_status(target, AccountStatus::Disabled)
                    .await?;
                ended = self.end_sessions_in(&scope, target, now).await?;
                audit(
                    &scope,
                    AuditKind::UserDisabled,
                    principal.actor(),
                    Some(target.to_string()),
                    client.detail(),
                    now,
                )
                .await?;
            }
            Some(true) if record.user.status() == AccountStatus::Disabled => {
                scope
                    .users()
                    .set_status(target, AccountStatus::Active)
                    .await?;
                audit(
                    &scope,
                    AuditKind::UserEnabled,
                    principal.actor(),
                    Some(target.to_string()),
                    client.detail(),
                    now,
                )
                .await?;
            }
            _ => {}
        }
        let updated = scope.users().get(target).await?.ok_or(AppError::NotFound)?;
        scope.commit().await?;
        self.forget_all(&ended).await?;
        Ok(UserView::from(&updated))
    }

    /// Starts TOTP enrollment after re-authentication: a new seed, sealed and
    /// kept pending until a code from it is confirmed.
    ///
    /// # Errors
    /// [`AppError::Conflict`] when two-factor is already on.
    pub async fn totp_begin(
        &self,
        principal: &Principal,
        password: SecretString,
    ) -> Result<TotpEnrollment, AppError> {
        principal.require(Need::Person)?;
        let record = self.user_record(principal.tenant, principal.user).await?;
        if record.totp_seed.is_some() {
            return Err(AppError::Conflict(Conflict::TotpAlreadyEnabled));
        }
        // A stolen session alone must not bind the account to an attacker's
        // authenticator.
        self.reauthenticate(&record, password).await?;
        let seed = TotpSeed::generate(TotpAlgorithm::Sha1).map_err(AppError::internal)?;
        let scope = self.store.write(principal.tenant).await?;
        let key = self.data_key(&scope).await?;
        let sealed = seed
            .seal(&key, principal.user.as_bytes())
            .map_err(AppError::internal)?;
        scope
            .users()
            .set_totp_pending(principal.user, Some(&sealed))
            .await?;
        let tenant = scope.tenant_row().await?;
        scope.commit().await?;
        let issuer = tenant.map_or_else(
            || "Bookwarden".to_owned(),
            |t| format!("Bookwarden {}", t.slug().as_str()),
        );
        let otpauth_uri = Totp::new(seed).otpauth_uri(&issuer, record.user.email().as_str());
        Ok(TotpEnrollment { otpauth_uri })
    }

    /// Confirms enrollment with a current code: two-factor is on from now,
    /// and the recovery codes (shown once) are returned.
    ///
    /// # Errors
    /// [`AppError::Conflict`] without a pending enrollment,
    /// [`AppError::OtpInvalid`] for a wrong code.
    pub async fn totp_confirm(
        &self,
        principal: &Principal,
        code: SecretString,
        client: &ClientInfo,
    ) -> Result<Vec<SecretString>, AppError> {
        principal.require(Need::Person)?;
        let now = self.now();
        let scope = self.store.write(principal.tenant).await?;
        let record = scope
            .users()
            .get(principal.user)
            .await?
            .ok_or(AppError::NotFound)?;
        let Some(pending) = record.totp_pending.clone() else {
            scope.rollback().await?;
            return Err(AppError::Conflict(Conflict::NoTotpEnrollment));
        };
        let key = self.data_key(&scope).await?;
        let seed = TotpSeed::open(&key, principal.user.as_bytes(), &pending)
            .map_err(AppError::internal)?;
        let unix = u64::try_from(now.as_second()).unwrap_or(0);
        let Ok(step) = Totp::new(seed).verify(code.expose_secret(), unix, None) else {
            scope.rollback().await?;
            return Err(AppError::OtpInvalid);
        };
        let (codes, digests) =
            generate_recovery_codes(principal.user.as_bytes()).map_err(AppError::internal)?;
        let digests: Vec<[u8; 32]> = digests.iter().map(|d| *d.as_bytes()).collect();
        scope
            .users()
            .set_totp_seed(principal.user, Some(&pending))
            .await?;
        scope.users().set_totp_pending(principal.user, None).await?;
        let step = i64::try_from(step.get()).map_err(AppError::internal)?;
        scope.users().accept_totp_step(principal.user, step).await?;
        scope
            .users()
            .replace_recovery_codes(principal.user, &digests)
            .await?;
        // Sessions opened before the second factor existed end with it.
        let others: Vec<_> = scope
            .sessions()
            .of_user(principal.user)
            .await?
            .into_iter()
            .filter(|s| s.revoked_at.is_none() && Some(s.id) != principal.session())
            .collect();
        for session in &others {
            scope.sessions().revoke(session.id, now).await?;
        }
        audit(
            &scope,
            AuditKind::TotpEnabled,
            principal.actor(),
            principal.actor(),
            client.detail(),
            now,
        )
        .await?;
        scope.commit().await?;
        for session in others {
            self.store
                .system()
                .forget_credential(&session.digest)
                .await?;
        }
        Ok(codes)
    }

    /// Turns two-factor off; needs the password and a current code (or a
    /// recovery code) again.
    ///
    /// # Errors
    /// [`AppError::Invalid`] for a wrong password, [`AppError::OtpInvalid`].
    pub async fn totp_disable(
        &self,
        principal: &Principal,
        password: SecretString,
        otp: Option<SecretString>,
        recovery_code: Option<SecretString>,
        client: &ClientInfo,
    ) -> Result<(), AppError> {
        principal.require(Need::Person)?;
        let record = self.user_record(principal.tenant, principal.user).await?;
        let Some(sealed) = record.totp_seed.clone() else {
            return Err(AppError::Conflict(Conflict::TotpNotEnabled));
        };
        self.reauthenticate(&record, password).await?;
        let now = self.now();
        let scope = self.store.write(principal.tenant).await?;
        let passed = match (&otp, &recovery_code) {
            (Some(code), _) => {
                let key = self.data_key(&scope).await?;
                let seed = TotpSeed::open(&key, principal.user.as_bytes(), &sealed)
                    .map_err(AppError::internal)?;
                let last = record.totp_last_step.and_then(|s| u64::try_from(s).ok());
                let unix = u64::try_from(now.as_second()).unwrap_or(0);
                match Totp::new(seed).verify(code.expose_secret(), unix, last) {
                    Ok(step) => {
                        let step = i64::try_from(step.get()).map_err(AppError::internal)?;
                        scope.users().accept_totp_step(principal.user, step).await?
                    }
                    Err(_wrong) => false,
                }
            }
            (None, Some(code)) => {
                match recovery_code_digest(principal.user.as_bytes(), code.expose_secret()) {
                    Ok(digest) => {
                        scope
                            .users()
                            .use_recovery_code(principal.user, digest.as_bytes())
                            .await?
                    }
                    Err(_malformed) => false,
                }
            }
            (None, None) => false,
        };
        if !passed {
            scope.rollback().await?;
            return Err(AppError::OtpInvalid);
        }
        scope.users().set_totp_seed(principal.user, None).await?;
        scope
            .users()
            .replace_recovery_codes(principal.user, &[])
            .await?;
        audit(
            &scope,
            AuditKind::TotpDisabled,
            principal.actor(),
            principal.actor(),
            client.detail(),
            now,
        )
        .await?;
        scope.commit().await?;
        Ok(())
    }

    /// Invites a person with `role` (admin or staff; owners are made by
    /// promotion, by an owner).
    ///
    /// # Errors
    /// [`AppError::Forbidden`], [`AppError::Invalid`],
    /// [`AppError::Conflict`] when the email already has an account.
    pub async fn invite(
        &self,
        principal: &Principal,
        email: &str,
        role: Role,
        client: &ClientInfo,
    ) -> Result<InvitationCreated, AppError> {
        principal.require(Need::PersonAdmin)?;
        if role == Role::Owner {
            return Err(AppError::invalid(
                "role",
                "owners are not invited; promote an admin",
            ));
        }
        if !principal.role.can_manage(role) {
            return Err(AppError::Forbidden);
        }
        let email = Email::parse(email).map_err(|e| AppError::invalid("email", e))?;
        let now = self.now();
        let (token, digest) = token::generate(TokenKind::Invitation).map_err(AppError::internal)?;
        let digest = *digest.as_bytes();
        let scope = self.store.read(principal.tenant).await?;
        let taken = scope.users().by_email(&email).await?.is_some();
        scope.commit().await?;
        if taken {
            return Err(AppError::Conflict(Conflict::EmailTaken));
        }
        // The directory entry first (never inside the tenant's write
        // transaction: on SQLite both live in one file with one writer).
        self.store
            .system()
            .register_credential(&digest, principal.tenant, CredentialKind::Invitation)
            .await?;
        let scope = self.store.write(principal.tenant).await?;
        let invitation = InvitationRecord {
            id: InvitationId::random(),
            digest,
            email,
            role,
            invited_by: principal.user,
            created_at: now,
            expires_at: after(now, self.config.auth.invitation_ttl),
            accepted_at: None,
        };
        scope.invitations().insert(&invitation).await?;
        let mut detail = client.detail();
        detail.insert("role".to_owned(), role.as_str().to_owned());
        detail.insert("invitation".to_owned(), invitation.id.to_string());
        audit(
            &scope,
            AuditKind::UserInvited,
            principal.actor(),
            Some(invitation.email.as_str().to_owned()),
            detail,
            now,
        )
        .await?;
        scope.commit().await?;
        Ok(InvitationCreated {
            id: invitation.id,
            token,
            expires_at: invitation.expires_at,
        })
    }

    /// The tenant's invitations.
    ///
    /// # Errors
    /// [`AppError::Forbidden`].
    pub async fn invitations(
        &self,
        principal: &Principal,
    ) -> Result<Vec<InvitationView>, AppError> {
        principal.require(Need::PersonAdmin)?;
        let scope = self.store.read(principal.tenant).await?;
        let all = scope.invitations().list().await?;
        scope.commit().await?;
        Ok(all
            .into_iter()
            .map(|i| InvitationView {
                id: i.id,
                email: i.email.as_str().to_owned(),
                role: i.role,
                expires_at: i.expires_at,
                accepted_at: i.accepted_at,
            })
            .collect())
    }

    /// Withdraws an unused invitation.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for an unknown, used or foreign one.
    pub async fn withdraw_invitation(
        &self,
        principal: &Principal,
        id: InvitationId,
        client: &ClientInfo,
    ) -> Result<(), AppError> {
        principal.require(Need::PersonAdmin)?;
        let now = self.now();
        let scope = self.store.write(principal.tenant).await?;
        let digest = scope
            .invitations()
            .list()
            .await?
            .into_iter()
            .find(|i| i.id == id)
            .map(|i| i.digest);
        if !scope.invitations().withdraw(id).await? {
            scope.rollback().await?;
            return Err(AppError::NotFound);
        }
        audit(
            &scope,
            AuditKind::InvitationWithdrawn,
            principal.actor(),
            Some(id.to_string()),
            client.detail(),
            now,
        )
        .await?;
        scope.commit().await?;
        if let Some(digest) = digest {
            self.store.system().forget_credential(&digest).await?;
        }
        Ok(())
    }

    /// Accepts an invitation: the invited person sets their name and
    /// password and gets their own account. Works once.
    ///
    /// Long because the order is the guarantee: the password is hashed
    /// before any transaction, then the invitation is consumed, the
    /// account created and the event audited in one, so a token can be
    /// spent only by an account that exists.
    ///
    /// # Errors
    /// [`AppError::InvitationInvalid`] for an unknown, used or expired
    /// token; [`AppError::WeakPassword`]; [`AppError::Conflict`].
    pub async fn accept_invitation(
        &self,
        token_text: &str,
        name: &str,
        password: SecretString,
        client: &ClientInfo,
    ) -> Result<SignupDone, AppError> {
        let person = name_of("name", name)?;
        let parsed = token::parse_as(token_text, TokenKind::Invitation)
            .map_err(|_malformed| AppError::InvitationInvalid)?;
        let digest = *parsed.digest().as_bytes();
        let Some((tenant, CredentialKind::Invitation)) =
            self.store.system().locate_credential(&digest).await?
        else {
            return Err(AppError::InvitationInvalid);
        };
        let now = self.now();
        let scope = self.store.read(tenant).await?;
        let invitation = scope.invitations().by_digest(&digest).await?;
        let tenant_row = scope.tenant_row().await?;
        let inviter = match &invitation {
            Some(i) => scope.users().get(i.invited_by).await?,
            None => None,
        };
        scope.commit().await?;
        // The invitation is only as good as its sender is now: still active
        // and still allowed to grant the role, in a tenant still open.
        let tenant_open = tenant_row
            .as_ref()
            .is_some_and(|t| t.status() != TenantStatus::Cancelled);
        let Some(invitation) = invitation.filter(|i| {
            let sender_may = inviter.as_ref().is_some_and(|sender| {
                sender.user.status() == AccountStatus::Active
                    && !sender.reset_required
                    && sender.user.role().is_privileged()
                    && sender.user.role().can_manage(i.role)
            });
            i.accepted_at.is_none() && now < i.expires_at && sender_may && tenant_open
        }) else {
            return Err(AppError::InvitationInvalid);
        };
        let tenant_name = tenant_row
            .map(|t| t.name().as_str().to_owned())
            .unwrap_or_default();
        let checked = self
            .policy
            .check(
                password,
                &PolicyContext::new(invitation.email.as_str(), &tenant_name),
            )
            .map_err(AppError::WeakPassword)?;
        let hash = self.hasher.hash(checked).await?;
        let scope = self.store.write(tenant).await?;
        if !scope.invitations().accept(invitation.id, now).await? {
            scope.rollback().await?;
            return Err(AppError::InvitationInvalid);
        }
        let user = User::create(tenant, invitation.email.clone(), person, invitation.role);
        match scope.users().insert(&user, Some(hash.as_str()), now).await {
            Ok(()) => {}
            Err(StoreError::Duplicate(_)) => {
                scope.rollback().await?;
                return Err(AppError::Conflict(Conflict::EmailTaken));
            }
            Err(other) => return Err(other.into()),
        }
        let mut detail = client.detail();
        detail.insert("role".to_owned(), invitation.role.as_str().to_owned());
        detail.insert("invitation".to_owned(), invitation.id.to_string());
        let actor = Some(user.id().to_string());
        audit(
            &scope,
            AuditKind::UserJoined,
            actor.clone(),
            actor,
            detail,
            now,
        )
        .await?;
        scope.commit().await?;
        self.store.system().forget_credential(&digest).await?;
        Ok(SignupDone {
            tenant,
            user: user.id(),
        })
    }

    /// Creates an API key (its token is returned once) with at least one
    /// scope; only admins and owners make keys.
    ///
    /// # Errors
    /// [`AppError::Forbidden`], [`AppError::Invalid`].
    pub async fn create_api_key(
        &self,
        principal: &Principal,
        name: &str,
        scopes: &[ApiKeyScope],
        client: &ClientInfo,
    ) -> Result<ApiKeyCreated, AppError> {
        principal.require(Need::PersonAdmin)?;
        let label = name.trim();
        if label.is_empty() || label.chars().count() > 100 || label.chars().any(char::is_control) {
            return Err(AppError::invalid("name", "1 to 100 printable characters"));
        }
        if scopes.is_empty() {
            return Err(AppError::invalid(
                "scopes",
                "at least one of read, write, admin",
            ));
        }
        let mut wanted: Vec<String> = Vec::new();
        for scope in scopes {
            let name = scope.as_str().to_owned();
            if !wanted.contains(&name) {
                wanted.push(name);
            }
        }
        let now = self.now();
        let (token, digest) = token::generate(TokenKind::ApiKey).map_err(AppError::internal)?;
        let digest = *digest.as_bytes();
        self.store
            .system()
            .register_credential(&digest, principal.tenant, CredentialKind::ApiKey)
            .await?;
        let key = ApiKeyRecord {
            id: ApiKeyId::random(),
            name: label.to_owned(),
            digest,
            scopes: wanted.clone(),
            created_by: principal.user,
            created_at: now,
            revoked_at: None,
        };
        let scope = self.store.write(principal.tenant).await?;
        scope.api_keys().insert(&key).await?;
        let mut detail = client.detail();
        detail.insert("scopes".to_owned(), wanted.join(" "));
        audit(
            &scope,
            AuditKind::ApiKeyCreated,
            principal.actor(),
            Some(key.id.to_string()),
            detail,
            now,
        )
        .await?;
        scope.commit().await?;
        Ok(ApiKeyCreated { id: key.id, token })
    }

    /// The tenant's API keys (never their tokens).
    ///
    /// # Errors
    /// [`AppError::Forbidden`].
    pub async fn api_keys(&self, principal: &Principal) -> Result<Vec<ApiKeyView>, AppError> {
        principal.require(Need::PersonAdmin)?;
        let scope = self.store.read(principal.tenant).await?;
        let keys = scope.api_keys().list().await?;
        scope.commit().await?;
        Ok(keys
            .into_iter()
            .map(|k| ApiKeyView {
                id: k.id,
                name: k.name,
                scopes: stored_scopes(&k.scopes),
                created_by: k.created_by,
                created_at: k.created_at,
                revoked_at: k.revoked_at,
            })
            .collect())
    }

    /// Revokes an API key; it fails from the very next request.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for an unknown, revoked or foreign key.
    pub async fn revoke_api_key(
        &self,
        principal: &Principal,
        id: ApiKeyId,
        client: &ClientInfo,
    ) -> Result<(), AppError> {
        principal.require(Need::PersonAdmin)?;
        let now = self.now();
        let scope = self.store.write(principal.tenant).await?;
        let digest = scope
            .api_keys()
            .list()
            .await?
            .into_iter()
            .find(|k| k.id == id)
            .map(|k| k.digest);
        if !scope.api_keys().revoke(id, now).await? {
            scope.rollback().await?;
            return Err(AppError::NotFound);
        }
        audit(
            &scope,
            AuditKind::ApiKeyRevoked,
            principal.actor(),
            Some(id.to_string()),
            client.detail(),
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
