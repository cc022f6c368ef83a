//! Staff calendars in the product (P4, P5): connecting an iCalendar feed
//! or a CalDAV account, seeing every connection's health, changing how
//! much is imported, syncing now, disconnecting, and the periodic sync
//! that keeps the imported busy time fresh.
//!
//! The fetching and the iCalendar work are `bookwarden-calendar-sync`'s;
//! this module seals the credentials, holds the lease that keeps two
//! servers from syncing one connection at once, merges what a sync found
//! into the kept busy time and records the outcome. A failed sync keeps
//! the previous busy time; the domain's [`SyncState`] decides health and
//! when to try again, and the tenant's [`FailPolicy`] what the booking page
//! does with a staff member whose calendar is not healthy.
//!
//! Who may do what: a staff member manages their own connections; admins
//! and owners (and `admin` API keys) see and manage every connection.
//! Credentials are given only by a signed-in person.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bookwarden_calendar_sync::api::ApiSync;
use bookwarden_calendar_sync::caldav::{CalDav, DavSync};
use bookwarden_calendar_sync::feed::{FeedSync, IcsFeed, Validators};
use bookwarden_calendar_sync::google::GoogleCalendar;
use bookwarden_calendar_sync::ical::{Degraded, Expansion, Imported, Limits};
use bookwarden_calendar_sync::microsoft::GraphCalendar;
use bookwarden_calendar_sync::outbound::FetchError;
use bookwarden_calendar_sync::{Scope, SyncError};
use bookwarden_crypto::vault::{self, Purpose, TenantDataKey};
use bookwarden_crypto::{SecretBytes, SecretString};
use bookwarden_domain::audit::AuditKind;
use bookwarden_domain::calendar::ImportedBusy;
use bookwarden_domain::calendar::{
    ConnectionStatus, FailPolicy, Health, Provider, SyncMode, SyncState,
};
use bookwarden_domain::id::{ConnectionId, StaffId, TenantId};
use bookwarden_domain::jiff::{SignedDuration, Timestamp};
use bookwarden_domain::time::{TimeRange, TimeZone};
use bookwarden_persistence::{ConnectionRecord, SyncFailure, SyncSuccess, TenantScope};

use crate::App;
use crate::auth::{ClientInfo, Need, Principal, audit};
use crate::config::CalendarProvider;
use crate::error::{AppError, Conflict};

/// Days before today whose busy time is imported.
const SYNC_BEHIND_DAYS: i64 = 1;

/// Days after today whose busy time is imported. Slots later than the
/// import reaches count the calendar as stale (nothing is known there).
pub const SYNC_AHEAD_DAYS: i64 = 366;

/// The longest one sync may take, all requests included; a slower one
/// fails (and keeps the previous busy time).
const SYNC_DEADLINE: Duration = Duration::from_secs(240);

/// How long a sync's lease lasts: longer than [`SYNC_DEADLINE`], so a
/// lease outlives its sync only when its server died.
const LEASE: SignedDuration = SignedDuration::from_mins(10);

/// Connections taken from one tenant per round of the periodic sync.
const DUE_PER_TENANT: u64 = 100;

/// A calendar a staff member connects. `Debug` shows only the kind.
pub enum ConnectCalendar {
    /// A read-only iCalendar feed; its URL is a secret (it grants read
    /// access to the calendar).
    IcsFeed {
        /// `https://` or `webcal://`.
        url: SecretString,
    },
    /// A CalDAV account such as iCloud, with an app-specific password.
    CalDav {
        /// The server, e.g. `https://caldav.icloud.com/`.
        server: String,
        /// The account name.
        user: String,
        /// The app-specific password.
        password: SecretString,
    },
}

impl std::fmt::Debug for ConnectCalendar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::IcsFeed { .. } => "ConnectCalendar::IcsFeed(..)",
            Self::CalDav { .. } => "ConnectCalendar::CalDav(..)",
        })
    }
}

impl ConnectCalendar {
    fn provider(&self) -> Provider {
        match self {
            Self::IcsFeed { .. } => Provider::Ics,
            Self::CalDav { .. } => Provider::CalDav,
        }
    }

    /// The request field a refusal of this source names.
    fn field(&self) -> &'static str {
        match self {
            Self::IcsFeed { .. } => "url",
            Self::CalDav { .. } => "server",
        }
    }
}

/// A connection as its staff member and the business's admins see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionView {
    /// Its id.
    pub id: ConnectionId,
    /// Whose calendar.
    pub staff: StaffId,
    /// Where it lives.
    pub provider: Provider,
    /// How much is imported.
    pub mode: SyncMode,
    /// The host it syncs from.
    pub label: String,
    /// Its health now.
    pub health: Health,
    /// The last good sync.
    pub last_synced_at: Option<Timestamp>,
    /// What went wrong last, if the last sync failed.
    pub last_error: Option<String>,
    /// Whether the last good sync was cut by a bound (too many events or
    /// occurrences).
    pub degraded: bool,
    /// When the next automatic sync is due; none when automatic retries
    /// stopped (revoked, or failing too long).
    pub next_sync_at: Option<Timestamp>,
    /// When it was connected.
    pub connected_at: Timestamp,
}

impl ConnectionView {
    pub(crate) fn of(record: &ConnectionRecord, now: Timestamp) -> Self {
        Self {
            id: record.id,
            staff: record.staff,
            provider: record.provider,
            mode: record.mode,
            label: record.label.clone(),
            health: record.state().health(now),
            last_synced_at: record.last_synced_at,
            last_error: record.last_error.clone(),
            degraded: record.degraded,
            next_sync_at: record.next_sync_at,
            connected_at: record.created_at,
        }
    }
}

/// What one round of the periodic sync did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncRound {
    /// Connections synced.
    pub synced: usize,
    /// Connections whose sync failed (their busy time kept).
    pub failed: usize,
    /// Connections another server was syncing, or that went away.
    pub skipped: usize,
}

/// A connection whose first sync worked, ready to store.
pub(crate) struct NewConnection<'a> {
    pub(crate) id: ConnectionId,
    pub(crate) staff: StaffId,
    pub(crate) provider: Provider,
    pub(crate) mode: SyncMode,
    pub(crate) label: String,
    pub(crate) credentials: Credentials<'a>,
    pub(crate) window: TimeRange,
    pub(crate) fetched: Fetched,
}

/// What a new connection seals.
pub(crate) enum Credentials<'a> {
    /// A feed address or CalDAV account.
    Source(&'a ConnectCalendar),
    /// OAuth tokens.
    Tokens(&'a OAuthTokens),
}

/// A source ready to fetch from.
pub(crate) enum Source {
    Feed(IcsFeed),
    Dav(CalDav),
    /// Google or Microsoft, with the connection's OAuth tokens.
    Api {
        provider: Provider,
        tokens: OAuthTokens,
    },
}

/// What a fetch found.
pub(crate) enum Fetched {
    Unchanged,
    /// The whole busy time of the window.
    Changed {
        expansion: Expansion,
        cursor: Option<String>,
    },
    /// A whole window already compared with the kept blocks: what to
    /// add or change, and what to remove.
    Diff {
        changed: Vec<([u8; 32], ImportedBusy)>,
        removed: Vec<[u8; 32]>,
        degraded: bool,
        cursor: Option<String>,
    },
    /// Changes since the cursor, to merge.
    Changes {
        changed: Vec<Imported>,
        removed: Vec<[u8; 32]>,
        degraded: Degraded,
        cursor: String,
    },
}

impl From<ApiSync> for Fetched {
    fn from(sync: ApiSync) -> Self {
        match sync {
            ApiSync::Full { expansion, cursor } => Self::Changed { expansion, cursor },
            ApiSync::Changes {
                changed,
                removed,
                degraded,
                cursor,
            } => Self::Changes {
                changed,
                removed: removed.iter().map(|k| *k.as_bytes()).collect(),
                degraded,
                cursor,
            },
        }
    }
}

/// A full answer as the difference from the `kept` blocks: the occurrences
/// new or changed (as the store would keep them in `mode`), and the keys no
/// longer in the calendar.
fn full_as_changes(
    expansion: Expansion,
    cursor: Option<String>,
    mut kept: std::collections::HashMap<[u8; 32], ImportedBusy>,
    mode: SyncMode,
) -> Fetched {
    let degraded = expansion.degraded.any();
    let mut changed = Vec::new();
    for event in expansion.events {
        let key = *event.key.as_bytes();
        let busy = event.busy;
        let as_kept = ImportedBusy::new(busy.subject(), busy.range(), busy.all_day(), mode);
        match kept.remove(&key) {
            Some(before) if before == as_kept => {}
            _ => changed.push((key, busy)),
        }
    }
    Fetched::Diff {
        changed,
        removed: kept.into_keys().collect(),
        degraded,
        cursor,
    }
}

/// A sync's occurrences as the store keys them.
fn keyed(events: Vec<Imported>) -> Vec<([u8; 32], ImportedBusy)> {
    events
        .into_iter()
        .map(|e| (*e.key.as_bytes(), e.busy))
        .collect()
}

/// Records a good sync of `id` that imported `window`: healthy, its
/// cursor kept, due again after the domain's interval.
async fn record_good_sync(
    scope: &TenantScope,
    id: ConnectionId,
    done: Timestamp,
    window: TimeRange,
    cursor: Option<&str>,
    degraded: bool,
) -> Result<(), AppError> {
    let fresh = SyncState {
        status: ConnectionStatus::Healthy,
        failures: 0,
        last_good: Some(done),
        synced_until: Some(window.end()),
    };
    scope
        .calendars()
        .record_success(
            id,
            &SyncSuccess {
                cursor,
                at: done,
                synced_until: window.end(),
                degraded,
                next_sync_at: fresh.next_attempt(done, None, jitter(id)),
            },
        )
        .await?;
    Ok(())
}

/// An OAuth connection's tokens, sealed together under
/// [`Purpose::OAUTH_REFRESH_TOKEN`].
pub(crate) struct OAuthTokens {
    pub(crate) refresh: SecretString,
    pub(crate) access: SecretString,
    pub(crate) expires_at: Option<Timestamp>,
}

/// An access token this close to its expiry is refreshed first.
const REFRESH_AHEAD: SignedDuration = SignedDuration::from_mins(2);

impl OAuthTokens {
    pub(crate) fn seal(&self, key: &TenantDataKey, id: ConnectionId) -> Result<Vec<u8>, AppError> {
        let mut plain = Vec::new();
        frame(&mut plain, self.refresh.expose_secret())?;
        frame(&mut plain, self.access.expose_secret())?;
        let expiry = self
            .expires_at
            .map(|t| t.as_second().to_string())
            .unwrap_or_default();
        frame(&mut plain, &expiry)?;
        vault::seal(key, &Purpose::OAUTH_REFRESH_TOKEN, id.as_bytes(), &plain)
            .map_err(AppError::internal)
    }

    pub(crate) fn open(key: &TenantDataKey, id: ConnectionId, sealed: &[u8]) -> Option<Self> {
        let plain = vault::open(key, &Purpose::OAUTH_REFRESH_TOKEN, id.as_bytes(), sealed).ok()?;
        let (refresh, rest) = unframe(plain.expose_secret())?;
        let (access, rest) = unframe(rest)?;
        let (expiry, _) = unframe(rest)?;
        Some(Self {
            refresh: SecretString::new(refresh.to_owned()),
            access: SecretString::new(access.to_owned()),
            expires_at: expiry
                .parse::<i64>()
                .ok()
                .and_then(|s| Timestamp::from_second(s).ok()),
        })
    }

    fn fresh_at(&self, now: Timestamp) -> bool {
        self.expires_at
            .is_some_and(|at| now.checked_add(REFRESH_AHEAD).is_ok_and(|soon| soon < at))
    }
}

/// The window imported at `now`: whole UTC days, so it stays the same all
/// day and a cursor stays usable until midnight.
pub(crate) fn sync_window(now: Timestamp) -> Result<TimeRange, AppError> {
    let day = SignedDuration::from_hours(24);
    let midnight = Timestamp::from_second(now.as_second().div_euclid(86_400) * 86_400)
        .map_err(AppError::internal)?;
    let start = midnight
        .checked_sub(day * i32::try_from(SYNC_BEHIND_DAYS).unwrap_or(1))
        .map_err(AppError::internal)?;
    let end = midnight
        .checked_add(day * i32::try_from(SYNC_AHEAD_DAYS + 1).unwrap_or(367))
        .map_err(AppError::internal)?;
    TimeRange::new(start, end).map_err(AppError::internal)
}

/// A spread of 0 to 255 taken from the connection's id, so connections
/// that failed together do not retry together.
pub(crate) fn jitter(id: ConnectionId) -> u8 {
    id.as_bytes().last().copied().unwrap_or_default()
}

/// Appends `field` to `out` with its length in front.
pub(crate) fn frame(out: &mut Vec<u8>, field: &str) -> Result<(), AppError> {
    let len =
        u32::try_from(field.len()).map_err(|_too_long| AppError::invalid("user", "too long"))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(field.as_bytes());
    Ok(())
}

/// Takes one length-framed field off the front of `bytes`.
pub(crate) fn unframe(bytes: &[u8]) -> Option<(&str, &[u8])> {
    let (len, rest) = bytes.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    let (field, rest) = rest.split_at_checked(len)?;
    Some((std::str::from_utf8(field).ok()?, rest))
}

/// Seals what a source needs for this tenant and connection: the feed URL,
/// or the server, account and password (each length-framed).
fn seal_source(
    key: &TenantDataKey,
    id: ConnectionId,
    source: &ConnectCalendar,
) -> Result<Vec<u8>, AppError> {
    let (purpose, plain) = match source {
        ConnectCalendar::IcsFeed { url } => (
            Purpose::ICS_FEED_URL,
            SecretBytes::new(url.expose_secret().as_bytes().to_vec()),
        ),
        ConnectCalendar::CalDav {
            server,
            user,
            password,
        } => {
            let mut plain = Vec::new();
            frame(&mut plain, server)?;
            frame(&mut plain, user)?;
            plain.extend_from_slice(password.expose_secret().as_bytes());
            (Purpose::CALDAV_PASSWORD, SecretBytes::new(plain))
        }
    };
    vault::seal(key, &purpose, id.as_bytes(), plain.expose_secret()).map_err(AppError::internal)
}

/// Opens a connection's sealed source; `None` when it cannot be opened
/// (its data key was destroyed, or it was tampered with).
fn open_source(key: &TenantDataKey, record: &ConnectionRecord) -> Option<Source> {
    let sealed = record.sealed_secret.as_deref()?;
    match record.provider {
        Provider::Ics => {
            let plain =
                vault::open(key, &Purpose::ICS_FEED_URL, record.id.as_bytes(), sealed).ok()?;
            let url = std::str::from_utf8(plain.expose_secret()).ok()?;
            IcsFeed::new(url).ok().map(Source::Feed)
        }
        Provider::CalDav => {
            let plain =
                vault::open(key, &Purpose::CALDAV_PASSWORD, record.id.as_bytes(), sealed).ok()?;
            let (server, rest) = unframe(plain.expose_secret())?;
            let (user, password) = unframe(rest)?;
            let password = SecretString::new(std::str::from_utf8(password).ok()?.to_owned());
            CalDav::new(server, user, password).ok().map(Source::Dav)
        }
        Provider::Google | Provider::Microsoft => {
            OAuthTokens::open(key, record.id, sealed).map(|tokens| Source::Api {
                provider: record.provider,
                tokens,
            })
        }
    }
}

/// The host a source syncs from, as its label.
fn label_of(source: &ConnectCalendar) -> String {
    let text = match source {
        ConnectCalendar::IcsFeed { url } => url.expose_secret(),
        ConnectCalendar::CalDav { server, .. } => server.as_str(),
    };
    let text = text.trim();
    let rest = text.split_once("://").map_or(text, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // Never a user name or password written into the URL.
    let host = authority.rsplit('@').next().unwrap_or_default();
    host.chars().take(100).collect()
}

/// The refusal a first sync's failure becomes. Whether a URL was refused
/// by the private-network guard or could not be reached is one answer, so
/// the endpoint tells nobody what lies inside a network.
pub(crate) fn connect_refusal(field: &'static str, error: &SyncError) -> AppError {
    match error {
        SyncError::Unauthorized => {
            AppError::invalid(field, "the calendar server refused these credentials")
        }
        SyncError::Malformed(_) => {
            AppError::invalid(field, "the address does not serve a calendar")
        }
        _ => AppError::invalid(
            field,
            "the calendar could not be fetched; give a public https address that answers",
        ),
    }
}

impl App {
    /// Whether `principal` may manage the calendars of `staff`: their own,
    /// or anyone's for admins. Refuses an unknown staff member as not
    /// found.
    pub(crate) async fn may_manage_calendars(
        &self,
        principal: &Principal,
        staff: StaffId,
    ) -> Result<(), AppError> {
        let scope = self.store.read(principal.tenant).await?;
        let member = scope.staff().get(staff).await?;
        let own = scope.staff().of_user(principal.user).await?;
        scope.commit().await?;
        if member.is_none() {
            return Err(AppError::NotFound);
        }
        if principal.require(Need::Admin).is_ok() || own.is_some_and(|s| s.id() == staff) {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }

    /// A connection the principal may manage; not found otherwise when it
    /// is someone else's and the principal is no admin.
    pub(crate) async fn managed_connection(
        &self,
        principal: &Principal,
        id: ConnectionId,
    ) -> Result<ConnectionRecord, AppError> {
        let scope = self.store.read(principal.tenant).await?;
        let record = scope.calendars().get(id).await?;
        let own = scope.staff().of_user(principal.user).await?;
        scope.commit().await?;
        let record = record.ok_or(AppError::NotFound)?;
        if principal.require(Need::Admin).is_ok() || own.is_some_and(|s| s.id() == record.staff) {
            Ok(record)
        } else {
            Err(AppError::NotFound)
        }
    }

    /// The zone a staff member's all-day events and floating times are
    /// read in: their schedule's, else the business's.
    pub(crate) async fn staff_zone(
        &self,
        scope: &TenantScope,
        staff: StaffId,
    ) -> Result<TimeZone, AppError> {
        if let Some(schedule) = scope.schedules().of_staff(staff).await? {
            return Ok(schedule.zone().clone());
        }
        let tenant = scope.tenant_row().await?.ok_or(AppError::NotFound)?;
        Ok(tenant.time_zone().clone())
    }

    /// The OAuth provider of `provider`, when this server is configured
    /// for it.
    pub(crate) fn calendar_provider(
        &self,
        provider: Provider,
    ) -> Result<&CalendarProvider, SyncError> {
        let configured = match provider {
            Provider::Google => self.config.calendars.google.as_ref(),
            Provider::Microsoft => self.config.calendars.microsoft.as_ref(),
            Provider::CalDav | Provider::Ics => None,
        };
        configured.ok_or(SyncError::Fetch(FetchError::Refused(
            "this server is not configured for the provider",
        )))
    }

    /// Refreshes an OAuth source's access token when it is about to
    /// expire, or whatever its expiry when `force`d; true when it did. A
    /// refresh the provider refuses (`invalid_grant`) is
    /// [`SyncError::Unauthorized`]: the grant is dead.
    async fn refresh_if_due(
        &self,
        source: &mut Source,
        now: Timestamp,
        force: bool,
    ) -> Result<bool, SyncError> {
        let Source::Api { provider, tokens } = source else {
            return Ok(false);
        };
        if !force && tokens.fresh_at(now) {
            return Ok(false);
        }
        let api = self.calendar_provider(*provider)?;
        let fresh = api
            .oauth
            .refresh(&self.outbound, &tokens.refresh, now)
            .await?;
        tokens.access = fresh.access;
        tokens.expires_at = fresh.expires_at;
        if let Some(refresh) = fresh.refresh {
            tokens.refresh = refresh;
        }
        Ok(true)
    }

    /// Fetches a source over `scope`, within [`SYNC_DEADLINE`].
    pub(crate) async fn fetch(
        &self,
        source: &Source,
        scope: &Scope<'_>,
        cursor: Option<&str>,
    ) -> Result<Fetched, SyncError> {
        let fetch = async {
            match source {
                Source::Feed(feed) => {
                    let known = cursor.map(Validators::from_cursor);
                    Ok(
                        match feed.sync(&self.outbound, scope, known.as_ref()).await? {
                            FeedSync::NotModified => Fetched::Unchanged,
                            FeedSync::Changed {
                                expansion,
                                validators,
                            } => Fetched::Changed {
                                expansion,
                                cursor: Some(validators.to_cursor()),
                            },
                        },
                    )
                }
                Source::Dav(account) => {
                    Ok(match account.sync(&self.outbound, scope, cursor).await? {
                        DavSync::NotModified => Fetched::Unchanged,
                        DavSync::Changed { expansion, cursor } => {
                            Fetched::Changed { expansion, cursor }
                        }
                    })
                }
                Source::Api { provider, tokens } => {
                    let api = self.calendar_provider(*provider)?;
                    let found = if *provider == Provider::Google {
                        GoogleCalendar::new(&api.api_base)?
                            .sync(&self.outbound, &tokens.access, scope, cursor)
                            .await?
                    } else {
                        GraphCalendar::new(&api.api_base)?
                            .sync(&self.outbound, &tokens.access, scope, cursor)
                            .await?
                    };
                    Ok(Fetched::from(found))
                }
            }
        };
        tokio::time::timeout(SYNC_DEADLINE, fetch)
            .await
            .unwrap_or(Err(SyncError::Fetch(FetchError::Timeout)))
    }

    /// Connects a calendar for `staff` (the principal's own, or anyone's
    /// for an admin) after a first sync proves it works: nothing is stored
    /// for a source that cannot be fetched. The credentials are sealed
    /// under the tenant's key for this connection.
    ///
    /// # Errors
    /// [`AppError::Forbidden`] without a signed-in person or for someone
    /// else's calendar; [`AppError::NotFound`] for an unknown staff member;
    /// [`Conflict::PlanWithoutCalendars`]; [`AppError::Invalid`] naming
    /// `url` or `server` when the first sync fails.
    pub async fn connect_calendar(
        &self,
        principal: &Principal,
        staff: StaffId,
        mode: SyncMode,
        source: ConnectCalendar,
        client: &ClientInfo,
    ) -> Result<ConnectionView, AppError> {
        principal.require(Need::Person)?;
        self.may_manage_calendars(principal, staff).await?;
        let scope = self.store.read(principal.tenant).await?;
        let tenant = scope.tenant_row().await?.ok_or(AppError::NotFound)?;
        let zone = self.staff_zone(&scope, staff).await?;
        scope.commit().await?;
        if !tenant.plan().allows_calendar_connections() || !tenant.accepts_bookings() {
            return Err(AppError::Conflict(Conflict::PlanWithoutCalendars));
        }
        let field = source.field();
        let refused = |e: &SyncError| connect_refusal(field, e);
        let built = match &source {
            ConnectCalendar::IcsFeed { url } => IcsFeed::new(url.expose_secret()).map(Source::Feed),
            ConnectCalendar::CalDav {
                server,
                user,
                password,
            } => {
                if user.trim().is_empty() || user.chars().count() > 320 {
                    return Err(AppError::invalid("user", "1 to 320 characters"));
                }
                CalDav::new(
                    server,
                    user.trim(),
                    SecretString::new(password.expose_secret().to_owned()),
                )
                .map(Source::Dav)
            }
        }
        .map_err(|e| refused(&e))?;
        let now = self.now();
        let window = sync_window(now)?;
        let fetched = self
            .fetch(
                &built,
                &Scope {
                    window,
                    zone: &zone,
                    mode,
                    limits: Limits::default(),
                },
                None,
            )
            .await
            .map_err(|e| refused(&e))?;
        let id = ConnectionId::random();
        self.save_connection(
            principal,
            NewConnection {
                id,
                staff,
                provider: source.provider(),
                mode,
                label: label_of(&source),
                credentials: Credentials::Source(&source),
                window,
                fetched,
            },
            client,
        )
        .await
    }

    /// Renews an OAuth connection in place with a fresh consent's tokens,
    /// in `mode`, merging the first sync's busy time: how a Google
    /// connection changes mode without a second connection (revoking the
    /// old one would end the grant both share).
    #[allow(
        clippy::too_many_arguments,
        reason = "one step of the OAuth completion"
    )]
    pub(crate) async fn renew_connection(
        &self,
        principal: &Principal,
        id: ConnectionId,
        mode: SyncMode,
        tokens: &OAuthTokens,
        window: TimeRange,
        fetched: Fetched,
        client: &ClientInfo,
    ) -> Result<ConnectionView, AppError> {
        let Fetched::Changed { expansion, cursor } = fetched else {
            return Err(AppError::internal(SyncError::Malformed(
                "a first fetch answered with changes only",
            )));
        };
        let done = self.now();
        let scope = self.store.write(principal.tenant).await?;
        if scope.calendars().get(id).await?.is_none() {
            scope.rollback().await?;
            return Err(AppError::NotFound);
        }
        let key = self.data_key(&scope).await?;
        scope.calendars().set_mode(id, mode).await?;
        scope
            .calendars()
            .set_sealed_secret(id, &tokens.seal(&key, id)?)
            .await?;
        let blocks = keyed(expansion.events);
        scope.calendars().merge_busy(id, &blocks).await?;
        record_good_sync(
            &scope,
            id,
            done,
            window,
            cursor.as_deref(),
            expansion.degraded.any(),
        )
        .await?;
        let mut detail = client.detail();
        detail.insert("mode".to_owned(), mode.as_str().to_owned());
        detail.insert("consent".to_owned(), "renewed".to_owned());
        audit(
            &scope,
            AuditKind::CalendarModeChanged,
            principal.actor(),
            Some(id.to_string()),
            detail,
            done,
        )
        .await?;
        let record = scope.calendars().get(id).await?.ok_or(AppError::NotFound)?;
        scope.commit().await?;
        Ok(ConnectionView::of(&record, done))
    }

    /// Stores a connection after its first sync worked: the sealed
    /// credentials, the busy time found and the audit event, in one
    /// transaction.
    pub(crate) async fn save_connection(
        &self,
        principal: &Principal,
        new: NewConnection<'_>,
        client: &ClientInfo,
    ) -> Result<ConnectionView, AppError> {
        let NewConnection {
            id,
            staff,
            provider,
            mode,
            label,
            credentials,
            window,
            fetched,
        } = new;
        let Fetched::Changed { expansion, cursor } = fetched else {
            return Err(AppError::internal(SyncError::Malformed(
                "a first fetch answered with changes only",
            )));
        };
        let done = self.now();
        let fresh = SyncState {
            status: ConnectionStatus::Healthy,
            failures: 0,
            last_good: Some(done),
            synced_until: Some(window.end()),
        };
        let scope = self.store.write(principal.tenant).await?;
        // The plan is checked again where the connection is stored: a
        // downgrade or suspension during the first sync wins.
        let allowed = scope
            .tenant_row()
            .await?
            .is_some_and(|t| t.plan().allows_calendar_connections() && t.accepts_bookings());
        if !allowed {
            scope.rollback().await?;
            return Err(AppError::Conflict(Conflict::PlanWithoutCalendars));
        }
        let key = self.data_key(&scope).await?;
        let sealed = match credentials {
            Credentials::Source(source) => seal_source(&key, id, source)?,
            Credentials::Tokens(tokens) => tokens.seal(&key, id)?,
        };
        let record = ConnectionRecord {
            id,
            staff,
            provider,
            mode,
            status: ConnectionStatus::Healthy,
            label,
            sealed_secret: Some(sealed),
            sync_cursor: cursor,
            last_synced_at: Some(done),
            failures: 0,
            next_sync_at: fresh.next_attempt(done, None, jitter(id)),
            last_error: None,
            degraded: expansion.degraded.any(),
            synced_until: Some(window.end()),
            created_at: done,
        };
        scope.calendars().insert(&record).await?;
        let blocks = keyed(expansion.events);
        scope.calendars().merge_busy(id, &blocks).await?;
        let mut detail = client.detail();
        detail.insert("provider".to_owned(), record.provider.as_str().to_owned());
        detail.insert("staff".to_owned(), staff.to_string());
        detail.insert("mode".to_owned(), mode.as_str().to_owned());
        audit(
            &scope,
            AuditKind::CalendarConnected,
            principal.actor(),
            Some(id.to_string()),
            detail,
            done,
        )
        .await?;
        scope.commit().await?;
        Ok(ConnectionView::of(&record, done))
    }

    /// Calendar connections with their health: every one for admins, a
    /// staff member's own otherwise.
    ///
    /// # Errors
    /// [`AppError::Forbidden`].
    pub async fn calendar_connections(
        &self,
        principal: &Principal,
    ) -> Result<Vec<ConnectionView>, AppError> {
        principal.require(Need::Read)?;
        let scope = self.store.read(principal.tenant).await?;
        let all = scope.calendars().list().await?;
        let own = scope.staff().of_user(principal.user).await?;
        scope.commit().await?;
        let admin = principal.require(Need::Admin).is_ok();
        let now = self.now();
        Ok(all
            .iter()
            .filter(|c| admin || own.as_ref().is_some_and(|s| s.id() == c.staff))
            .map(|c| ConnectionView::of(c, now))
            .collect())
    }

    /// Changes how much a connection imports, then syncs it. Busy-only
    /// drops every subject kept, in the same transaction as the change.
    ///
    /// # Errors
    /// [`AppError::NotFound`], [`AppError::Forbidden`].
    pub async fn set_calendar_mode(
        &self,
        principal: &Principal,
        id: ConnectionId,
        mode: SyncMode,
        client: &ClientInfo,
    ) -> Result<ConnectionView, AppError> {
        principal.require(Need::Write)?;
        let record = self.managed_connection(principal, id).await?;
        if record.mode != mode && record.provider == Provider::Google {
            // Each mode has its own, narrowest scope at Google: another
            // mode needs the person's consent again.
            return Err(AppError::Conflict(Conflict::ReconnectRequired));
        }
        if record.mode != mode {
            let now = self.now();
            let scope = self.store.write(principal.tenant).await?;
            if !scope.calendars().set_mode(id, mode).await? {
                scope.rollback().await?;
                return Err(AppError::NotFound);
            }
            // What was imported under the old mode is not what the new one
            // wants: the next sync is a full one.
            scope
                .calendars()
                .record_success(
                    id,
                    &SyncSuccess {
                        cursor: None,
                        at: record.last_synced_at.unwrap_or(record.created_at),
                        synced_until: record.synced_until.unwrap_or(now),
                        degraded: record.degraded,
                        next_sync_at: Some(now),
                    },
                )
                .await?;
            let mut detail = client.detail();
            detail.insert("mode".to_owned(), mode.as_str().to_owned());
            audit(
                &scope,
                AuditKind::CalendarModeChanged,
                principal.actor(),
                Some(id.to_string()),
                detail,
                now,
            )
            .await?;
            scope.commit().await?;
        }
        self.sync_calendar_now(principal, id).await
    }

    /// Syncs a connection now and answers its health afterwards (a failed
    /// sync is an answer too: the view says what went wrong).
    ///
    /// # Errors
    /// [`AppError::NotFound`], [`Conflict::SyncRunning`] while another
    /// sync of it runs.
    pub async fn sync_calendar_now(
        &self,
        principal: &Principal,
        id: ConnectionId,
    ) -> Result<ConnectionView, AppError> {
        principal.require(Need::Write)?;
        self.managed_connection(principal, id).await?;
        let record = self.sync_connection(principal.tenant, id).await?;
        Ok(ConnectionView::of(&record, self.now()))
    }

    /// Disconnects a calendar: its sealed credentials and every busy block
    /// imported from it are deleted, and the disconnection audited.
    ///
    /// # Errors
    /// [`AppError::NotFound`], [`AppError::Forbidden`].
    pub async fn disconnect_calendar(
        &self,
        principal: &Principal,
        id: ConnectionId,
        client: &ClientInfo,
    ) -> Result<(), AppError> {
        principal.require(Need::Write)?;
        let record = self.managed_connection(principal, id).await?;
        let now = self.now();
        let scope = self.store.write(principal.tenant).await?;
        let grants = self
            .grants_of(&scope, std::slice::from_ref(&record))
            .await?;
        if !scope.calendars().delete(id).await? {
            scope.rollback().await?;
            return Err(AppError::NotFound);
        }
        let mut detail = client.detail();
        detail.insert("provider".to_owned(), record.provider.as_str().to_owned());
        detail.insert("staff".to_owned(), record.staff.to_string());
        audit(
            &scope,
            AuditKind::CalendarDisconnected,
            principal.actor(),
            Some(id.to_string()),
            detail,
            now,
        )
        .await?;
        scope.commit().await?;
        self.revoke_grants(grants).await;
        Ok(())
    }

    /// The OAuth grants among `records` to revoke at their providers once
    /// the connections are deleted.
    pub(crate) async fn grants_of(
        &self,
        scope: &TenantScope,
        records: &[ConnectionRecord],
    ) -> Result<Vec<(Provider, SecretString)>, AppError> {
        if !records
            .iter()
            .any(|r| matches!(r.provider, Provider::Google | Provider::Microsoft))
        {
            return Ok(Vec::new());
        }
        let key = self.data_key(scope).await?;
        Ok(records
            .iter()
            .filter_map(|record| match open_source(&key, record)? {
                Source::Api { provider, tokens } => Some((provider, tokens.refresh)),
                Source::Feed(_) | Source::Dav(_) => None,
            })
            .collect())
    }

    /// Disconnects every calendar of a tenant inside `scope` (its plan no
    /// longer has calendars, or it was suspended or cancelled), auditing
    /// each with `reason`. Answers the OAuth grants to revoke at their
    /// providers once the transaction is committed.
    pub(crate) async fn disconnect_all_calendars(
        &self,
        scope: &TenantScope,
        reason: &str,
        now: Timestamp,
    ) -> Result<(usize, Vec<(Provider, SecretString)>), AppError> {
        let all = scope.calendars().list().await?;
        let grants = self.grants_of(scope, &all).await?;
        for record in &all {
            scope.calendars().delete(record.id).await?;
            let detail = BTreeMap::from([
                ("provider".to_owned(), record.provider.as_str().to_owned()),
                ("staff".to_owned(), record.staff.to_string()),
                ("reason".to_owned(), reason.to_owned()),
            ]);
            audit(
                scope,
                AuditKind::CalendarDisconnected,
                None,
                Some(record.id.to_string()),
                detail,
                now,
            )
            .await?;
        }
        Ok((all.len(), grants))
    }

    /// What the booking page does with staff whose calendar is not
    /// healthy.
    ///
    /// # Errors
    /// [`AppError::Forbidden`].
    pub async fn calendar_fail_policy(
        &self,
        principal: &Principal,
    ) -> Result<FailPolicy, AppError> {
        principal.require(Need::Read)?;
        let scope = self.store.read(principal.tenant).await?;
        let policy = scope.calendars().fail_policy().await?;
        scope.commit().await?;
        Ok(policy)
    }

    /// Sets the fail policy (admins).
    ///
    /// # Errors
    /// [`AppError::Forbidden`].
    pub async fn set_calendar_fail_policy(
        &self,
        principal: &Principal,
        policy: FailPolicy,
        client: &ClientInfo,
    ) -> Result<FailPolicy, AppError> {
        principal.require(Need::Admin)?;
        let now = self.now();
        let scope = self.store.write(principal.tenant).await?;
        scope.calendars().set_fail_policy(policy).await?;
        let mut detail = client.detail();
        detail.insert("policy".to_owned(), policy.as_str().to_owned());
        audit(
            &scope,
            AuditKind::CalendarPolicyChanged,
            principal.actor(),
            None,
            detail,
            now,
        )
        .await?;
        scope.commit().await?;
        Ok(policy)
    }

    /// Syncs one connection under its lease: fetch with no transaction
    /// open, then merge and record in one. A failure keeps the previous
    /// busy time, counts toward backoff and, when the provider refused the
    /// credentials, marks the connection revoked and audits it (once) so
    /// the owner sees it.
    async fn sync_connection(
        &self,
        tenant: TenantId,
        id: ConnectionId,
    ) -> Result<ConnectionRecord, AppError> {
        let now = self.now();
        let scope = self.store.write(tenant).await?;
        let Some(record) = scope.calendars().get(id).await? else {
            scope.rollback().await?;
            return Err(AppError::NotFound);
        };
        let until = now.checked_add(LEASE).map_err(AppError::internal)?;
        if !scope.calendars().claim(id, now, until).await? {
            scope.rollback().await?;
            return Err(AppError::Conflict(Conflict::SyncRunning));
        }
        let zone = self.staff_zone(&scope, record.staff).await?;
        let key = self.data_key(&scope).await?;
        let mut source = open_source(&key, &record);
        scope.commit().await?;
        let window = sync_window(now)?;
        // A cursor speaks for the window it was taken over only.
        let cursor = record
            .sync_cursor
            .as_deref()
            .filter(|_| record.synced_until == Some(window.end()));
        let mut refreshed = false;
        let outcome = match &mut source {
            Some(source) => {
                let scope = Scope {
                    window,
                    zone: &zone,
                    mode: record.mode,
                    limits: Limits::default(),
                };
                match self.refresh_if_due(source, now, false).await {
                    Ok(did) => {
                        refreshed = did;
                        match self.fetch(source, &scope, cursor).await {
                            // A provider may end an access token early: one
                            // refresh and one more try before the grant is
                            // taken for dead.
                            Err(SyncError::Unauthorized)
                                if !did && matches!(source, Source::Api { .. }) =>
                            {
                                match self.refresh_if_due(source, now, true).await {
                                    Ok(_) => {
                                        refreshed = true;
                                        self.fetch(source, &scope, cursor).await
                                    }
                                    Err(error) => Err(error),
                                }
                            }
                            other => other,
                        }
                    }
                    Err(error) => Err(error),
                }
            }
            // Sealed credentials that no longer open are as good as
            // refused: the staff member must reconnect.
            None => Err(SyncError::Unauthorized),
        };
        // A full answer is compared with the kept blocks before the write
        // transaction, so the write holds the database's writer only for
        // what changed (the lease keeps any other sync of this connection
        // out meanwhile).
        let outcome = match outcome {
            Ok(Fetched::Changed { expansion, cursor }) => {
                let scope = self.store.read(tenant).await?;
                let kept = scope.calendars().imported_by_key(id).await?;
                scope.commit().await?;
                Ok(full_as_changes(expansion, cursor, kept, record.mode))
            }
            other => other,
        };
        let done = self.now();
        let scope = self.store.write(tenant).await?;
        let Some(current) = scope.calendars().get(id).await? else {
            // Disconnected meanwhile: nothing to record.
            scope.rollback().await?;
            return Err(AppError::NotFound);
        };
        // Refreshed tokens are kept whatever the fetch did: a provider may
        // have rotated the refresh token.
        if let (true, Some(Source::Api { tokens, .. })) = (refreshed, &source) {
            let key = self.data_key(&scope).await?;
            scope
                .calendars()
                .set_sealed_secret(id, &tokens.seal(&key, id)?)
                .await?;
        }
        match outcome {
            Ok(fetched) => {
                let (cursor, degraded) = match fetched {
                    Fetched::Unchanged => (current.sync_cursor.clone(), current.degraded),
                    Fetched::Changed { expansion, cursor } => {
                        let blocks = keyed(expansion.events);
                        scope.calendars().merge_busy(id, &blocks).await?;
                        (cursor, expansion.degraded.any())
                    }
                    Fetched::Diff {
                        changed,
                        removed,
                        degraded,
                        cursor,
                    } => {
                        scope
                            .calendars()
                            .apply_busy_changes(id, &changed, &removed)
                            .await?;
                        (cursor, degraded)
                    }
                    Fetched::Changes {
                        changed,
                        removed,
                        degraded,
                        cursor,
                    } => {
                        let changed = keyed(changed);
                        scope
                            .calendars()
                            .apply_busy_changes(id, &changed, &removed)
                            .await?;
                        (Some(cursor), current.degraded || degraded.any())
                    }
                };
                record_good_sync(&scope, id, done, window, cursor.as_deref(), degraded).await?;
            }
            Err(error) => {
                tracing::warn!(connection = %id, provider = current.provider.as_str(), %error, "calendar sync failed; the previous busy time stays");
                let status = if error.revokes() {
                    ConnectionStatus::Revoked
                } else {
                    ConnectionStatus::Failing
                };
                let failed = SyncState {
                    status,
                    failures: current.failures.saturating_add(1),
                    ..current.state()
                };
                let retry_after = error
                    .retry_after()
                    .and_then(|d| SignedDuration::try_from(d).ok());
                let message = error.to_string();
                scope
                    .calendars()
                    .record_failure(
                        id,
                        &SyncFailure {
                            status,
                            failures: failed.failures,
                            error: &message,
                            next_sync_at: failed.next_attempt(done, retry_after, jitter(id)),
                        },
                    )
                    .await?;
                if status == ConnectionStatus::Revoked
                    && current.status != ConnectionStatus::Revoked
                {
                    let detail = BTreeMap::from([
                        ("provider".to_owned(), current.provider.as_str().to_owned()),
                        ("staff".to_owned(), current.staff.to_string()),
                    ]);
                    audit(
                        &scope,
                        AuditKind::CalendarRevoked,
                        None,
                        Some(id.to_string()),
                        detail,
                        done,
                    )
                    .await?;
                }
            }
        }
        let after = scope.calendars().get(id).await?.ok_or(AppError::NotFound)?;
        scope.commit().await?;
        Ok(after)
    }

    /// One round of the periodic sync: every connection that is due, in
    /// every tenant whose plan has calendars and that is active, at most
    /// [`crate::config::CalendarSettings::max_concurrent_syncs`] at once.
    /// Servers sharing a database split the work through the leases.
    ///
    /// # Errors
    /// Only when the tenant list cannot be read; a tenant or connection
    /// that fails is logged and counted, and the round goes on.
    pub async fn sync_due_calendars(self: &Arc<Self>) -> Result<SyncRound, AppError> {
        let now = self.now();
        let mut work = Vec::new();
        for (tenant, _region) in self.store.system().tenants().await? {
            match self.due_in(tenant, now).await {
                Ok(due) => work.extend(due.into_iter().map(|id| (tenant, id))),
                Err(error) => tracing::warn!(%tenant, %error, "cannot list due calendar syncs"),
            }
        }
        let permits = Arc::new(tokio::sync::Semaphore::new(
            self.config.calendars.max_concurrent_syncs.max(1),
        ));
        let mut tasks = tokio::task::JoinSet::new();
        for (tenant, id) in work {
            let permit = Arc::clone(&permits)
                .acquire_owned()
                .await
                .map_err(AppError::internal)?;
            let app = Arc::clone(self);
            tasks.spawn(async move {
                let outcome = app.sync_connection(tenant, id).await;
                drop(permit);
                outcome
            });
        }
        let mut round = SyncRound::default();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(record)) if record.failures == 0 => round.synced += 1,
                Ok(Ok(_)) => round.failed += 1,
                Ok(Err(AppError::NotFound | AppError::Conflict(Conflict::SyncRunning))) => {
                    round.skipped += 1;
                }
                Ok(Err(error)) => {
                    tracing::warn!(%error, "calendar sync could not run");
                    round.failed += 1;
                }
                Err(panicked) => {
                    tracing::error!(error = %panicked, "calendar sync task failed");
                    round.failed += 1;
                }
            }
        }
        Ok(round)
    }

    /// The due connections of one tenant, none when it may not sync.
    async fn due_in(
        &self,
        tenant: TenantId,
        now: Timestamp,
    ) -> Result<Vec<ConnectionId>, AppError> {
        let scope = self.store.read(tenant).await?;
        let allowed = scope
            .tenant_row()
            .await?
            .is_some_and(|t| t.accepts_bookings() && t.plan().allows_calendar_connections());
        let due = if allowed {
            scope.calendars().due(now, DUE_PER_TENANT).await?
        } else {
            Vec::new()
        };
        scope.commit().await?;
        Ok(due)
    }

    /// Runs [`App::sync_due_calendars`] every `every` until the task is
    /// dropped: the server spawns it beside the HTTP workers.
    pub async fn run_calendar_sync(self: Arc<Self>, every: Duration) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match self.sync_due_calendars().await {
                Ok(round) if round.synced + round.failed > 0 => {
                    tracing::info!(
                        synced = round.synced,
                        failed = round.failed,
                        skipped = round.skipped,
                        "calendar sync round"
                    );
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "calendar sync round failed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn a_label_is_the_host_and_never_a_credential() {
        let feed = ConnectCalendar::IcsFeed {
            url: SecretString::new(
                "https://alice:hunter2@calendar.example/private-0a1b2c/basic.ics".to_owned(),
            ),
        };
        assert_eq!(label_of(&feed), "calendar.example");
        let dav = ConnectCalendar::CalDav {
            server: "https://caldav.icloud.com/".to_owned(),
            user: "alice@example.com".to_owned(),
            password: SecretString::new("abcd-efgh-ijkl-mnop".to_owned()),
        };
        assert_eq!(label_of(&dav), "caldav.icloud.com");
        assert_eq!(format!("{dav:?}"), "ConnectCalendar::CalDav(..)");
    }

    #[test]
    fn framed_fields_come_back_whole_and_truncation_is_refused() {
        let mut out = Vec::new();
        frame(&mut out, "https://dav.example/").unwrap();
        frame(&mut out, "alice").unwrap();
        out.extend_from_slice(b"pass:word");
        let (server, rest) = unframe(&out).unwrap();
        let (user, password) = unframe(rest).unwrap();
        assert_eq!(
            (server, user, password),
            ("https://dav.example/", "alice", &b"pass:word"[..])
        );
        assert!(unframe(&out[..10]).is_none());
        assert!(unframe(&[0, 0, 0]).is_none());
    }

    #[test]
    fn the_window_is_whole_days_from_yesterday_a_year_and_a_day_ahead() {
        let window = sync_window("2026-12-04T15:30:00Z".parse().unwrap()).unwrap();
        assert_eq!(window.start().to_string(), "2026-12-03T00:00:00Z");
        assert_eq!(window.end().to_string(), "2027-12-06T00:00:00Z");
    }
}
