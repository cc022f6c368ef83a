//! Accounts and credentials: users with their password hash and TOTP state,
//! recovery codes, API keys and sessions. Only digests of tokens and codes
//! are stored; secrets (TOTP seeds) only vault-sealed.

use bookwarden_domain::account::{AccountStatus, Email, PersonName, Role, User};
use bookwarden_domain::id::{ApiKeyId, SessionId, TenantId, UserId};
use bookwarden_domain::jiff::Timestamp;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait as _, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect as _, Set,
};

use crate::entity::{api_keys, credential_directory, recovery_codes, sessions, users};
use crate::error::{Refusal, StoreError, Unique, refusal};
use crate::rows::{corrupt, instant, us};
use crate::store::{System, TenantScope};

/// A user with what signing in needs.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The account.
    pub user: User,
    /// The PHC (or legacy bcrypt) password hash, if a password is set.
    pub password_hash: Option<String>,
    /// The vault-sealed TOTP seed, if two-factor is on.
    pub totp_seed: Option<Vec<u8>>,
    /// The last TOTP step accepted, to refuse replays.
    pub totp_last_step: Option<i64>,
    /// A vault-sealed TOTP seed enrolled but not yet confirmed with a code.
    pub totp_pending: Option<Vec<u8>>,
    /// Whether the user must choose a new password before anything else.
    pub reset_required: bool,
    /// Digest of the outstanding password-reset token, if one was issued.
    pub reset_digest: Option<[u8; 32]>,
    /// When that token stops working.
    pub reset_expires_at: Option<Timestamp>,
    /// The last successful sign-in.
    pub last_login_at: Option<Timestamp>,
}

impl std::fmt::Debug for UserRecord {
    // Hashes and sealed seeds stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("user", &self.user)
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "[REDACTED]"),
            )
            .field("totp", &self.totp_seed.is_some())
            .field("totp_pending", &self.totp_pending.is_some())
            .field("reset_required", &self.reset_required)
            .field("last_login_at", &self.last_login_at)
            .finish()
    }
}

fn status_str(s: AccountStatus) -> &'static str {
    match s {
        AccountStatus::Active => "active",
        AccountStatus::Disabled => "disabled",
    }
}

fn parse_user(row: users::Model) -> Result<UserRecord, StoreError> {
    let bad = |e: &dyn std::fmt::Display| corrupt("users", e);
    let status = match row.status.as_str() {
        "active" => AccountStatus::Active,
        "disabled" => AccountStatus::Disabled,
        other => return Err(bad(&format!("unknown status {other}"))),
    };
    let user = User::restore(
        UserId::from_uuid(row.user_id),
        TenantId::from_uuid(row.tenant_id),
        Email::parse(&row.email).map_err(|e| bad(&e))?,
        PersonName::parse(&row.name).map_err(|e| bad(&e))?,
        Role::parse(&row.role).map_err(|e| bad(&e))?,
        status,
    );
    Ok(UserRecord {
        user,
        password_hash: row.password_hash,
        totp_seed: row.totp_seed,
        totp_last_step: row.totp_last_step,
        totp_pending: row.totp_pending,
        reset_required: row.reset_required,
        reset_digest: row
            .reset_digest
            .map(|d| digest_of("users", d))
            .transpose()?,
        reset_expires_at: row
            .reset_expires_us
            .map(|t| instant("users", t))
            .transpose()?,
        last_login_at: row
            .last_login_at_us
            .map(|t| instant("users", t))
            .transpose()?,
    })
}

/// Accounts of the scope's tenant.
pub struct Users<'s>(&'s TenantScope);

/// API keys of the scope's tenant.
pub struct ApiKeys<'s>(&'s TenantScope);

/// Sessions of the scope's tenant.
pub struct Sessions<'s>(&'s TenantScope);

impl TenantScope {
    /// Accounts.
    pub fn users(&self) -> Users<'_> {
        Users(self)
    }
    /// API keys.
    pub fn api_keys(&self) -> ApiKeys<'_> {
        ApiKeys(self)
    }
    /// Sessions.
    pub fn sessions(&self) -> Sessions<'_> {
        Sessions(self)
    }
}

impl Users<'_> {
    /// Adds an account; [`StoreError::Duplicate`] if the email is taken in
    /// this tenant.
    pub async fn insert(
        &self,
        user: &User,
        password_hash: Option<&str>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let scope = self.0;
        scope.check_owner(user.tenant())?;
        users::ActiveModel {
            tenant_id: Set(scope.uuid()),
            user_id: Set(*user.id().as_uuid()),
            email: Set(user.email().as_str().to_owned()),
            name: Set(user.name().as_str().to_owned()),
            role: Set(user.role().as_str().to_owned()),
            status: Set(status_str(user.status()).to_owned()),
            password_hash: Set(password_hash.map(str::to_owned)),
            totp_seed: Set(None),
            totp_last_step: Set(None),
            totp_pending: Set(None),
            reset_required: Set(false),
            reset_digest: Set(None),
            reset_expires_us: Set(None),
            created_at_us: Set(us(now)),
            last_login_at_us: Set(None),
        }
        .insert(scope.tx())
        .await
        .map_err(|e| match refusal(&e) {
            Some(Refusal::Unique) => StoreError::Duplicate(Unique::Email),
            _ => StoreError::from(e),
        })?;
        Ok(())
    }

    fn find(&self) -> sea_orm::Select<users::Entity> {
        users::Entity::find().filter(users::Column::TenantId.eq(self.0.uuid()))
    }

    /// One account, if it exists in this tenant.
    pub async fn get(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        self.find()
            .filter(users::Column::UserId.eq(*id.as_uuid()))
            .one(self.0.tx())
            .await?
            .map(parse_user)
            .transpose()
    }

    /// The account with this email in this tenant.
    pub async fn by_email(&self, email: &Email) -> Result<Option<UserRecord>, StoreError> {
        self.find()
            .filter(users::Column::Email.eq(email.as_str()))
            .one(self.0.tx())
            .await?
            .map(parse_user)
            .transpose()
    }

    /// Every account, ordered by id.
    pub async fn list(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.find()
            .order_by_asc(users::Column::UserId)
            .all(self.0.tx())
            .await?
            .into_iter()
            .map(parse_user)
            .collect()
    }

    /// One account, locked until the scope ends (`FOR UPDATE` on
    /// PostgreSQL; on SQLite a write scope holds the only write lock), for
    /// a change decided on what the row says now.
    pub async fn get_locked(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        let mut query = self.find().filter(users::Column::UserId.eq(*id.as_uuid()));
        if self.0.tx().get_database_backend() == sea_orm::DbBackend::Postgres {
            query = query.lock_exclusive();
        }
        query.one(self.0.tx()).await?.map(parse_user).transpose()
    }

    /// Refuses with [`StoreError::LastOwner`] unless the tenant keeps an
    /// active owner other than `leaving`: call it in the write scope that
    /// demotes or disables `leaving`, before the change. The tenant's
    /// active owners stay locked until the scope ends (`FOR UPDATE` on
    /// PostgreSQL; on SQLite a write scope holds the only write lock), so
    /// two owners demoting each other at once cannot both pass: the second
    /// waits for the first and then counts what it left.
    pub async fn ensure_another_active_owner(&self, leaving: UserId) -> Result<(), StoreError> {
        let mut owners = self
            .find()
            .filter(users::Column::Role.eq(Role::Owner.as_str()))
            .filter(users::Column::Status.eq(status_str(AccountStatus::Active)))
            .order_by_asc(users::Column::UserId);
        if self.0.tx().get_database_backend() == sea_orm::DbBackend::Postgres {
            owners = owners.lock_exclusive();
        }
        let others = owners
            .all(self.0.tx())
            .await?
            .into_iter()
            .filter(|row| row.user_id != *leaving.as_uuid())
            .count();
        if others == 0 {
            return Err(StoreError::LastOwner);
        }
        Ok(())
    }

    async fn set(
        &self,
        id: UserId,
        column: users::Column,
        value: sea_orm::Value,
    ) -> Result<bool, StoreError> {
        let result = users::Entity::update_many()
            .col_expr(column, sea_orm::sea_query::Expr::val(value))
            .filter(users::Column::TenantId.eq(self.0.uuid()))
            .filter(users::Column::UserId.eq(*id.as_uuid()))
            .exec(self.0.tx())
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Stores a new password hash (after a change, a reset or an upgrade
    /// from bcrypt).
    pub async fn set_password_hash(&self, id: UserId, hash: &str) -> Result<bool, StoreError> {
        self.set(
            id,
            users::Column::PasswordHash,
            Some(hash.to_owned()).into(),
        )
        .await
    }

    /// Sets a new password hash and clears a forced reset.
    pub async fn replace_password(&self, id: UserId, hash: &str) -> Result<bool, StoreError> {
        let changed = self.set_password_hash(id, hash).await?;
        self.set(id, users::Column::ResetRequired, false.into())
            .await?;
        Ok(changed)
    }

    /// Starts a forced password reset: the password stops working at once,
    /// and only the reset token with `digest` (until `expires_at`) can set a
    /// new one. Replaces any earlier reset token.
    pub async fn start_reset(
        &self,
        id: UserId,
        digest: &[u8; 32],
        expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        let result = users::Entity::update_many()
            .col_expr(users::Column::ResetRequired, true.into())
            .col_expr(users::Column::PasswordHash, Option::<String>::None.into())
            .col_expr(users::Column::ResetDigest, Some(digest.to_vec()).into())
            .col_expr(users::Column::ResetExpiresUs, Some(us(expires_at)).into())
            .filter(users::Column::TenantId.eq(self.0.uuid()))
            .filter(users::Column::UserId.eq(*id.as_uuid()))
            .exec(self.0.tx())
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// The user whose outstanding reset token has this digest.
    pub async fn by_reset_digest(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<UserRecord>, StoreError> {
        self.find()
            .filter(users::Column::ResetDigest.eq(digest.to_vec()))
            .one(self.0.tx())
            .await?
            .map(parse_user)
            .transpose()
    }

    /// Sets the new password of a reset, once: true only if the token with
    /// `digest` is still outstanding and unexpired at `now`.
    pub async fn finish_reset(
        &self,
        id: UserId,
        digest: &[u8; 32],
        hash: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let result = users::Entity::update_many()
            .col_expr(users::Column::PasswordHash, Some(hash.to_owned()).into())
            .col_expr(users::Column::ResetRequired, false.into())
            .col_expr(users::Column::ResetDigest, Option::<Vec<u8>>::None.into())
            .col_expr(users::Column::ResetExpiresUs, Option::<i64>::None.into())
            .filter(users::Column::TenantId.eq(self.0.uuid()))
            .filter(users::Column::UserId.eq(*id.as_uuid()))
            .filter(users::Column::ResetDigest.eq(digest.to_vec()))
            .filter(users::Column::ResetExpiresUs.gt(us(now)))
            .exec(self.0.tx())
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Stores (or clears) a sealed TOTP seed awaiting its first code.
    pub async fn set_totp_pending(
        &self,
        id: UserId,
        sealed: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        self.set(
            id,
            users::Column::TotpPending,
            sealed.map(<[u8]>::to_vec).into(),
        )
        .await
    }

    /// Changes the role.
    pub async fn set_role(&self, id: UserId, role: Role) -> Result<bool, StoreError> {
        self.set(id, users::Column::Role, role.as_str().into())
            .await
    }

    /// Enables or disables the account.
    pub async fn set_status(&self, id: UserId, status: AccountStatus) -> Result<bool, StoreError> {
        self.set(id, users::Column::Status, status_str(status).into())
            .await
    }

    /// Records a successful sign-in.
    pub async fn record_login(&self, id: UserId, now: Timestamp) -> Result<bool, StoreError> {
        self.set(id, users::Column::LastLoginAtUs, Some(us(now)).into())
            .await
    }

    /// Stores a sealed TOTP seed (or removes it), forgetting the last step.
    pub async fn set_totp_seed(
        &self,
        id: UserId,
        sealed: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let changed = self
            .set(
                id,
                users::Column::TotpSeed,
                sealed.map(<[u8]>::to_vec).into(),
            )
            .await?;
        self.set(id, users::Column::TotpLastStep, Option::<i64>::None.into())
            .await?;
        Ok(changed)
    }

    /// Accepts TOTP step `step` exactly once: `true` only if it is later
    /// than every step accepted before, in one atomic update, so two
    /// concurrent sign-ins with the same code cannot both pass.
    pub async fn accept_totp_step(&self, id: UserId, step: i64) -> Result<bool, StoreError> {
        let result = users::Entity::update_many()
            .col_expr(users::Column::TotpLastStep, Some(step).into())
            .filter(users::Column::TenantId.eq(self.0.uuid()))
            .filter(users::Column::UserId.eq(*id.as_uuid()))
            .filter(
                Condition::any()
                    .add(users::Column::TotpLastStep.is_null())
                    .add(users::Column::TotpLastStep.lt(step)),
            )
            .exec(self.0.tx())
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Replaces the user's recovery codes with these digests.
    pub async fn replace_recovery_codes(
        &self,
        id: UserId,
        digests: &[[u8; 32]],
    ) -> Result<(), StoreError> {
        let scope = self.0;
        recovery_codes::Entity::delete_many()
            .filter(recovery_codes::Column::TenantId.eq(scope.uuid()))
            .filter(recovery_codes::Column::UserId.eq(*id.as_uuid()))
            .exec(scope.tx())
            .await?;
        for digest in digests {
            recovery_codes::ActiveModel {
                tenant_id: Set(scope.uuid()),
                user_id: Set(*id.as_uuid()),
                digest: Set(digest.to_vec()),
            }
            .insert(scope.tx())
            .await
            .map_err(|e| match refusal(&e) {
                Some(Refusal::ForeignKey) => StoreError::MissingReference("user"),
                _ => StoreError::from(e),
            })?;
        }
        Ok(())
    }

    /// Uses up one recovery code: `true` only if it existed, in one atomic
    /// delete, so a code works once even under concurrency.
    pub async fn use_recovery_code(
        &self,
        id: UserId,
        digest: &[u8; 32],
    ) -> Result<bool, StoreError> {
        let result = recovery_codes::Entity::delete_many()
            .filter(recovery_codes::Column::TenantId.eq(self.0.uuid()))
            .filter(recovery_codes::Column::UserId.eq(*id.as_uuid()))
            .filter(recovery_codes::Column::Digest.eq(digest.to_vec()))
            .exec(self.0.tx())
            .await?;
        Ok(result.rows_affected == 1)
    }
}

/// What kind of credential a token digest belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CredentialKind {
    /// An API key.
    ApiKey,
    /// A sign-in session.
    Session,
    /// A staff invitation.
    Invitation,
    /// A password-reset token.
    PasswordReset,
    /// A customer's link to manage one booking.
    BookingManage,
}

impl CredentialKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::ApiKey => "api_key",
            Self::Session => "session",
            Self::Invitation => "invitation",
            Self::PasswordReset => "password_reset",
            Self::BookingManage => "booking_manage",
        }
    }
}

impl System<'_> {
    /// Records which tenant a token digest belongs to, so a bearer token can
    /// be routed before its tenant is known. Call before storing the key or
    /// session in the tenant's scope; an entry whose key never got stored
    /// leads nowhere.
    pub async fn register_credential(
        &self,
        digest: &[u8; 32],
        tenant: TenantId,
        kind: CredentialKind,
    ) -> Result<(), StoreError> {
        credential_directory::ActiveModel {
            digest: Set(digest.to_vec()),
            tenant_id: Set(*tenant.as_uuid()),
            kind: Set(kind.as_str().to_owned()),
        }
        .insert(self.0.directory())
        .await
        .map_err(|e| match refusal(&e) {
            Some(Refusal::Unique) => StoreError::Duplicate(Unique::Credential),
            _ => StoreError::from(e),
        })?;
        Ok(())
    }

    /// The tenant a token digest belongs to, if any.
    pub async fn locate_credential(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<(TenantId, CredentialKind)>, StoreError> {
        let row = credential_directory::Entity::find_by_id(digest.to_vec())
            .one(self.0.directory())
            .await?;
        row.map(|r| {
            let kind = match r.kind.as_str() {
                "api_key" => CredentialKind::ApiKey,
                "session" => CredentialKind::Session,
                "invitation" => CredentialKind::Invitation,
                "password_reset" => CredentialKind::PasswordReset,
                "booking_manage" => CredentialKind::BookingManage,
                other => {
                    return Err(corrupt(
                        "credential_directory",
                        format!("unknown kind {other}"),
                    ));
                }
            };
            Ok((TenantId::from_uuid(r.tenant_id), kind))
        })
        .transpose()
    }

    /// Forgets a token digest (after revocation).
    pub async fn forget_credential(&self, digest: &[u8; 32]) -> Result<(), StoreError> {
        credential_directory::Entity::delete_by_id(digest.to_vec())
            .exec(self.0.directory())
            .await?;
        Ok(())
    }
}

/// An API key as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Its id.
    pub id: ApiKeyId,
    /// The owner's label for it.
    pub name: String,
    /// SHA-256 of the token; the token itself is shown once and never stored.
    pub digest: [u8; 32],
    /// What it may do (`read`, `write`, `admin`).
    pub scopes: Vec<String>,
    /// Who made it.
    pub created_by: UserId,
    /// When.
    pub created_at: Timestamp,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

fn digest_of(table: &'static str, bytes: Vec<u8>) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(bytes).map_err(|_wrong_length| corrupt(table, "digest is not 32 bytes"))
}

fn parse_api_key(row: api_keys::Model) -> Result<ApiKeyRecord, StoreError> {
    Ok(ApiKeyRecord {
        id: ApiKeyId::from_uuid(row.api_key_id),
        name: row.name,
        digest: digest_of("api_keys", row.digest)?,
        scopes: row
            .scopes
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        created_by: UserId::from_uuid(row.created_by),
        created_at: instant("api_keys", row.created_at_us)?,
        revoked_at: row
            .revoked_at_us
            .map(|t| instant("api_keys", t))
            .transpose()?,
    })
}

impl ApiKeys<'_> {
    /// Stores a new key.
    pub async fn insert(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        let scope = self.0;
        api_keys::ActiveModel {
            tenant_id: Set(scope.uuid()),
            api_key_id: Set(*key.id.as_uuid()),
            name: Set(key.name.clone()),
            digest: Set(key.digest.to_vec()),
            scopes: Set(key.scopes.join(" ")),
            created_by: Set(*key.created_by.as_uuid()),
            created_at_us: Set(us(key.created_at)),
            last_used_at_us: Set(None),
            revoked_at_us: Set(key.revoked_at.map(us)),
        }
        .insert(scope.tx())
        .await
        .map_err(|e| match refusal(&e) {
            Some(Refusal::ForeignKey) => StoreError::MissingReference("user"),
            Some(Refusal::Unique) => StoreError::Duplicate(Unique::ApiKey),
            _ => StoreError::from(e),
        })?;
        Ok(())
    }

    /// The key with this digest in this tenant (revoked or not).
    pub async fn by_digest(&self, digest: &[u8; 32]) -> Result<Option<ApiKeyRecord>, StoreError> {
        api_keys::Entity::find()
            .filter(api_keys::Column::TenantId.eq(self.0.uuid()))
            .filter(api_keys::Column::Digest.eq(digest.to_vec()))
            .one(self.0.tx())
            .await?
            .map(parse_api_key)
            .transpose()
    }

    /// Every key, newest first.
    pub async fn list(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        api_keys::Entity::find()
            .filter(api_keys::Column::TenantId.eq(self.0.uuid()))
            .order_by_desc(api_keys::Column::CreatedAtUs)
            .order_by_asc(api_keys::Column::ApiKeyId)
            .all(self.0.tx())
            .await?
            .into_iter()
            .map(parse_api_key)
            .collect()
    }

    /// Revokes a key; `false` if there is no such live key in this tenant.
    pub async fn revoke(&self, id: ApiKeyId, now: Timestamp) -> Result<bool, StoreError> {
        let result = api_keys::Entity::update_many()
            .col_expr(api_keys::Column::RevokedAtUs, Some(us(now)).into())
            .filter(api_keys::Column::TenantId.eq(self.0.uuid()))
            .filter(api_keys::Column::ApiKeyId.eq(*id.as_uuid()))
            .filter(api_keys::Column::RevokedAtUs.is_null())
            .exec(self.0.tx())
            .await?;
        Ok(result.rows_affected == 1)
    }
}

/// A sign-in session as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Its id.
    pub id: SessionId,
    /// Whose session.
    pub user: UserId,
    /// SHA-256 of the session token.
    pub digest: [u8; 32],
    /// When it began.
    pub created_at: Timestamp,
    /// When it was last used (for the idle timeout).
    pub last_seen_at: Timestamp,
    /// When it ends whatever happens (the absolute timeout).
    pub expires_at: Timestamp,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

fn parse_session(row: sessions::Model) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        id: SessionId::from_uuid(row.session_id),
        user: UserId::from_uuid(row.user_id),
        digest: digest_of("sessions", row.digest)?,
        created_at: instant("sessions", row.created_at_us)?,
        last_seen_at: instant("sessions", row.last_seen_at_us)?,
        expires_at: instant("sessions", row.expires_at_us)?,
        revoked_at: row
            .revoked_at_us
            .map(|t| instant("sessions", t))
            .transpose()?,
    })
}

impl Sessions<'_> {
    /// Stores a new session.
    pub async fn insert(&self, session: &SessionRecord) -> Result<(), StoreError> {
        let scope = self.0;
        sessions::ActiveModel {
            tenant_id: Set(scope.uuid()),
            session_id: Set(*session.id.as_uuid()),
            user_id: Set(*session.user.as_uuid()),
            digest: Set(session.digest.to_vec()),
            created_at_us: Set(us(session.created_at)),
            last_seen_at_us: Set(us(session.last_seen_at)),
            expires_at_us: Set(us(session.expires_at)),
            revoked_at_us: Set(session.revoked_at.map(us)),
        }
        .insert(scope.tx())
        .await
        .map_err(|e| match refusal(&e) {
            Some(Refusal::ForeignKey) => StoreError::MissingReference("user"),
            Some(Refusal::Unique) => StoreError::Duplicate(Unique::Session),
            _ => StoreError::from(e),
        })?;
        Ok(())
    }

    /// The session with this digest in this tenant (revoked or not).
    pub async fn by_digest(&self, digest: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
        sessions::Entity::find()
            .filter(sessions::Column::TenantId.eq(self.0.uuid()))
            .filter(sessions::Column::Digest.eq(digest.to_vec()))
            .one(self.0.tx())
            .await?
            .map(parse_session)
            .transpose()
    }

    /// The session with this id in this tenant (revoked or not).
    pub async fn get(&self, id: SessionId) -> Result<Option<SessionRecord>, StoreError> {
        sessions::Entity::find()
            .filter(sessions::Column::TenantId.eq(self.0.uuid()))
            .filter(sessions::Column::SessionId.eq(*id.as_uuid()))
            .one(self.0.tx())
            .await?
            .map(parse_session)
            .transpose()
    }

    /// Every session of a user, newest first.
    pub async fn of_user(&self, user: UserId) -> Result<Vec<SessionRecord>, StoreError> {
        sessions::Entity::find()
            .filter(sessions::Column::TenantId.eq(self.0.uuid()))
            .filter(sessions::Column::UserId.eq(*user.as_uuid()))
            .order_by_desc(sessions::Column::CreatedAtUs)
            .all(self.0.tx())
            .await?
            .into_iter()
            .map(parse_session)
            .collect()
    }

    /// Marks a live session as used now.
    pub async fn touch(&self, id: SessionId, now: Timestamp) -> Result<bool, StoreError> {
        let result = sessions::Entity::update_many()
            .col_expr(sessions::Column::LastSeenAtUs, us(now).into())
            .filter(sessions::Column::TenantId.eq(self.0.uuid()))
            .filter(sessions::Column::SessionId.eq(*id.as_uuid()))
            .filter(sessions::Column::RevokedAtUs.is_null())
            .exec(self.0.tx())
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Revokes one live session.
    pub async fn revoke(&self, id: SessionId, now: Timestamp) -> Result<bool, StoreError> {
        let result = sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAtUs, Some(us(now)).into())
            .filter(sessions::Column::TenantId.eq(self.0.uuid()))
            .filter(sessions::Column::SessionId.eq(*id.as_uuid()))
            .filter(sessions::Column::RevokedAtUs.is_null())
            .exec(self.0.tx())
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Revokes every live session of a user (after a password change or a
    /// forced reset); returns how many.
    pub async fn revoke_all_of(&self, user: UserId, now: Timestamp) -> Result<u64, StoreError> {
        let result = sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAtUs, Some(us(now)).into())
            .filter(sessions::Column::TenantId.eq(self.0.uuid()))
            .filter(sessions::Column::UserId.eq(*user.as_uuid()))
            .filter(sessions::Column::RevokedAtUs.is_null())
            .exec(self.0.tx())
            .await?;
        Ok(result.rows_affected)
    }
}

impl std::fmt::Debug for ApiKeyRecord {
    // The digest identifies the key to anyone holding the token: keep it out
    // of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .field("created_by", &self.created_by)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRecord")
            .field("id", &self.id)
            .field("user", &self.user)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}
