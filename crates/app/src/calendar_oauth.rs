//! Connecting a Google or Microsoft calendar: the OAuth 2.0 authorization
//! code flow with PKCE, started and completed by the same signed-in person
//! (P5).
//!
//! Starting seals the flow (whose calendar, which provider and mode, the
//! PKCE verifier and a ten-minute expiry) under the tenant's key, bound to
//! the person who started it, and sends that sealed value as the OAuth
//! `state`. The provider hands it back unchanged with the code; completing
//! opens it with the same person's binding, so a `state` from anyone else,
//! altered, or expired is refused before any code is exchanged, and no
//! flow table is needed. The code is exchanged with the verifier, a first
//! sync proves the tokens work, and only then is the connection stored,
//! its tokens sealed for it.

use bookwarden_calendar_sync::google;
use bookwarden_calendar_sync::ical::Limits;
use bookwarden_calendar_sync::microsoft;
use bookwarden_calendar_sync::oauth::new_verifier;
use bookwarden_calendar_sync::{Scope, SyncError};
use bookwarden_crypto::SecretString;
use bookwarden_crypto::vault::{self, Purpose};
use bookwarden_domain::calendar::{Provider, SyncMode};
use bookwarden_domain::id::{ConnectionId, StaffId};
use bookwarden_domain::jiff::{SignedDuration, Timestamp};
use data_encoding::BASE64URL_NOPAD;

use crate::App;
use crate::auth::{ClientInfo, Need, Principal};
use crate::calendars::{
    ConnectionView, Credentials, NewConnection, OAuthTokens, Source, connect_refusal, frame,
    sync_window, unframe,
};
use crate::config::CalendarProvider;
use crate::error::{AppError, Conflict};

/// How long a started sign-in may take.
const FLOW_LIFETIME: SignedDuration = SignedDuration::from_mins(10);

/// The vault purpose of a sealed flow.
fn flow_purpose() -> Result<Purpose, AppError> {
    Purpose::new("oauth.flow_state").map_err(AppError::internal)
}

/// The refusal of a `state` that is not this person's live flow: one
/// answer, whatever the reason.
fn refused_state() -> AppError {
    AppError::invalid(
        "state",
        "does not belong to a calendar sign-in this account started, or it expired; start again",
    )
}

/// A started flow, as sealed into the `state`.
struct Flow {
    /// The connection whose consent this renews (a Google mode change),
    /// if any.
    replaces: Option<ConnectionId>,
    staff: StaffId,
    provider: Provider,
    mode: SyncMode,
    verifier: SecretString,
    expires_at: Timestamp,
}

impl Flow {
    fn to_plain(&self) -> Result<Vec<u8>, AppError> {
        let mut plain = Vec::new();
        frame(
            &mut plain,
            &self.replaces.map(|id| id.to_string()).unwrap_or_default(),
        )?;
        frame(&mut plain, &self.staff.to_string())?;
        frame(&mut plain, self.provider.as_str())?;
        frame(&mut plain, self.mode.as_str())?;
        frame(&mut plain, self.verifier.expose_secret())?;
        frame(&mut plain, &self.expires_at.as_second().to_string())?;
        Ok(plain)
    }

    fn from_plain(plain: &[u8]) -> Option<Self> {
        let (replaces, rest) = unframe(plain)?;
        let (staff, rest) = unframe(rest)?;
        let (provider, rest) = unframe(rest)?;
        let (mode, rest) = unframe(rest)?;
        let (verifier, rest) = unframe(rest)?;
        let (expires_at, _) = unframe(rest)?;
        Some(Self {
            replaces: if replaces.is_empty() {
                None
            } else {
                Some(replaces.parse().ok()?)
            },
            staff: staff.parse().ok()?,
            provider: Provider::parse(provider).ok()?,
            mode: SyncMode::parse(mode).ok()?,
            verifier: SecretString::new(verifier.to_owned()),
            expires_at: Timestamp::from_second(expires_at.parse().ok()?).ok()?,
        })
    }
}

impl App {
    /// The OAuth provider `provider`, when this server has an app
    /// registered with it.
    fn oauth_provider(&self, provider: Provider) -> Result<&CalendarProvider, AppError> {
        self.calendar_provider(provider).map_err(|_not_configured| {
            AppError::invalid("provider", "is not enabled on this server")
        })
    }

    /// Starts connecting `staff`'s Google or Microsoft calendar: the
    /// provider's consent page to send the person's browser to. Busy-only
    /// Google connections ask only to see free/busy time. With `replaces`,
    /// the consent renews that connection of theirs in place, in `mode`
    /// (how a Google connection changes mode: each has its own scope).
    ///
    /// # Errors
    /// [`AppError::Forbidden`] without a signed-in person or for someone
    /// else's calendar; [`AppError::NotFound`] for an unknown staff member;
    /// [`Conflict::PlanWithoutCalendars`]; [`AppError::Invalid`] naming
    /// `provider` when it is not Google or Microsoft, or not enabled.
    pub async fn start_calendar_oauth(
        &self,
        principal: &Principal,
        staff: StaffId,
        provider: Provider,
        mode: SyncMode,
        replaces: Option<ConnectionId>,
    ) -> Result<String, AppError> {
        principal.require(Need::Person)?;
        if !matches!(provider, Provider::Google | Provider::Microsoft) {
            return Err(AppError::invalid("provider", "google or microsoft"));
        }
        self.may_manage_calendars(principal, staff).await?;
        if let Some(id) = replaces {
            let record = self.managed_connection(principal, id).await?;
            if record.staff != staff || record.provider != provider {
                return Err(AppError::invalid(
                    "connection_id",
                    "is not this staff member's connection at this provider",
                ));
            }
        }
        let api = self.oauth_provider(provider)?;
        let scope = self.store.read(principal.tenant).await?;
        let tenant = scope.tenant_row().await?.ok_or(AppError::NotFound)?;
        let key = self.data_key(&scope).await?;
        scope.commit().await?;
        if !tenant.plan().allows_calendar_connections() || !tenant.accepts_bookings() {
            return Err(AppError::Conflict(Conflict::PlanWithoutCalendars));
        }
        let flow = Flow {
            replaces,
            staff,
            provider,
            mode,
            verifier: new_verifier(),
            expires_at: self
                .now()
                .checked_add(FLOW_LIFETIME)
                .map_err(AppError::internal)?,
        };
        let sealed = vault::seal(
            &key,
            &flow_purpose()?,
            principal.user.as_bytes(),
            &flow.to_plain()?,
        )
        .map_err(AppError::internal)?;
        let state = SecretString::new(BASE64URL_NOPAD.encode(&sealed));
        let (scopes, extra): (Vec<&str>, &[(&str, &str)]) = match provider {
            Provider::Google => (vec![google::scope_for(mode)], google::AUTH_PARAMS),
            _ => (microsoft::SCOPES.to_vec(), &[]),
        };
        Ok(api
            .oauth
            .authorize_with(&scopes, extra, &state, &flow.verifier)
            .to_string())
    }

    /// Completes a connection with the `code` and `state` the provider
    /// sent the browser back with: the same person who started it, within
    /// ten minutes. The code is exchanged, a first sync runs, and only then
    /// is the connection stored.
    ///
    /// # Errors
    /// [`AppError::Invalid`] naming `state` for a state that is not this
    /// person's live flow, `code` when the provider refuses the code or
    /// the first sync fails; the errors of
    /// [`App::start_calendar_oauth`].
    pub async fn complete_calendar_oauth(
        &self,
        principal: &Principal,
        code: &SecretString,
        state: &str,
        client: &ClientInfo,
    ) -> Result<ConnectionView, AppError> {
        principal.require(Need::Person)?;
        let sealed = BASE64URL_NOPAD
            .decode(state.trim().as_bytes())
            .map_err(|_not_base64| refused_state())?;
        let scope = self.store.read(principal.tenant).await?;
        let key = self.data_key(&scope).await?;
        let tenant = scope.tenant_row().await?.ok_or(AppError::NotFound)?;
        scope.commit().await?;
        let plain = vault::open(&key, &flow_purpose()?, principal.user.as_bytes(), &sealed)
            .map_err(|_not_ours| refused_state())?;
        let flow = Flow::from_plain(plain.expose_secret()).ok_or_else(refused_state)?;
        let now = self.now();
        if now > flow.expires_at {
            return Err(refused_state());
        }
        self.may_manage_calendars(principal, flow.staff).await?;
        if !tenant.plan().allows_calendar_connections() || !tenant.accepts_bookings() {
            return Err(AppError::Conflict(Conflict::PlanWithoutCalendars));
        }
        let api = self.oauth_provider(flow.provider)?;
        let granted = api
            .oauth
            .exchange(&self.outbound, code, &flow.verifier, now)
            .await
            .map_err(|e| match e {
                SyncError::Unauthorized => {
                    AppError::invalid("code", "the provider refused this code; start again")
                }
                SyncError::Fetch(_) => AppError::invalid(
                    "code",
                    "the provider could not be reached to complete the sign-in; start again",
                ),
                _ => AppError::invalid(
                    "code",
                    "the provider did not complete the sign-in; start again",
                ),
            })?;
        let refresh = granted.refresh.ok_or_else(|| {
            AppError::invalid("code", "the provider gave no refresh token; start again")
        })?;
        let spare = SecretString::new(refresh.expose_secret().to_owned());
        let tokens = OAuthTokens {
            refresh,
            access: granted.access,
            expires_at: granted.expires_at,
        };
        let stored = self
            .store_granted(principal, &flow, api, tokens, now, client)
            .await;
        if stored.is_err() {
            // Nothing kept the grant: it is not left live at the provider.
            self.revoke_grants(vec![(flow.provider, spare)]).await;
        }
        stored
    }

    /// The first sync with fresh tokens, then the connection stored (or,
    /// for a renewed consent, updated in place).
    async fn store_granted(
        &self,
        principal: &Principal,
        flow: &Flow,
        api: &CalendarProvider,
        tokens: OAuthTokens,
        now: Timestamp,
        client: &ClientInfo,
    ) -> Result<ConnectionView, AppError> {
        let zone = {
            let scope = self.store.read(principal.tenant).await?;
            let zone = self.staff_zone(&scope, flow.staff).await?;
            scope.commit().await?;
            zone
        };
        let window = sync_window(now)?;
        let source = Source::Api {
            provider: flow.provider,
            tokens,
        };
        let fetched = self
            .fetch(
                &source,
                &Scope {
                    window,
                    zone: &zone,
                    mode: flow.mode,
                    limits: Limits::default(),
                },
                None,
            )
            .await
            .map_err(|e| connect_refusal("code", &e))?;
        let Source::Api { tokens, .. } = &source else {
            return Err(AppError::internal(SyncError::Malformed(
                "not an API source",
            )));
        };
        if let Some(id) = flow.replaces {
            return self
                .renew_connection(principal, id, flow.mode, tokens, window, fetched, client)
                .await;
        }
        self.save_connection(
            principal,
            NewConnection {
                id: ConnectionId::random(),
                staff: flow.staff,
                provider: flow.provider,
                mode: flow.mode,
                label: url_host(&api.api_base),
                credentials: Credentials::Tokens(tokens),
                window,
                fetched,
            },
            client,
        )
        .await
    }

    /// Revokes OAuth grants at their providers after the connections were
    /// deleted: best effort, logged when it fails (the tokens are gone
    /// from here either way). Microsoft offers no revocation of one app's
    /// grant.
    pub(crate) async fn revoke_grants(&self, grants: Vec<(Provider, SecretString)>) {
        for (provider, refresh) in grants {
            let Ok(api) = self.calendar_provider(provider) else {
                continue;
            };
            if let Err(error) = api.oauth.revoke(&self.outbound, &refresh).await {
                tracing::warn!(provider = provider.as_str(), %error, "revoking a calendar grant at the provider failed; its tokens are deleted here");
            }
        }
    }
}

/// The host of an API root, as a connection's label.
fn url_host(base: &str) -> String {
    let rest = base.split_once("://").map_or(base, |(_, rest)| rest);
    rest.split(['/', '?', '#'])
        .next()
        .unwrap_or_default()
        .chars()
        .take(100)
        .collect()
}
