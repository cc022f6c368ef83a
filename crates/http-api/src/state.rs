//! What every handler can reach: the app, the per-address rate limiters,
//! the metrics handle and how the server is exposed.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{RateLimits, RequestLimits};
use bookwarden_app::App;
use bookwarden_domain::id::TenantId;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::problem::ApiError;

/// Shared server state.
pub(crate) struct State {
    /// The wired application.
    pub app: Arc<App>,
    /// Budgets per client address.
    pub limits: Limits,
    /// What one request may send (checked by the envelope).
    pub request_limits: RequestLimits,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// Whether clients reach us over HTTPS (built-in TLS or a terminating
    /// proxy): turns on HSTS and `Secure` cookies matter.
    pub https: bool,
    /// Whether the client address comes from `X-Forwarded-For`.
    pub behind_proxy: bool,
}

/// Keyed GCRA limiters, one per budget.
pub(crate) struct Limits {
    login: DefaultKeyedRateLimiter<IpAddr>,
    signup: DefaultKeyedRateLimiter<IpAddr>,
    public: DefaultKeyedRateLimiter<IpAddr>,
    /// Audit entries for ids a business does not have, per business.
    unknown_ids: DefaultKeyedRateLimiter<TenantId>,
}

/// Audit entries for requests naming ids a business does not have: at
/// most this many a minute per business, so probing cannot flood its log.
pub(crate) const UNKNOWN_IDS_PER_MINUTE: u32 = 10;

fn quota(per: Duration, count: u32) -> Quota {
    let count = NonZeroU32::new(count).unwrap_or(NonZeroU32::MIN);
    let period = per / count.get();
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(count))
        .allow_burst(count)
}

impl Limits {
    /// Limiters for the configured budgets.
    pub(crate) fn new(limits: RateLimits) -> Self {
        Self {
            login: RateLimiter::keyed(quota(Duration::from_secs(60), limits.login_per_minute)),
            signup: RateLimiter::keyed(quota(Duration::from_secs(3600), limits.signup_per_hour)),
            public: RateLimiter::keyed(quota(Duration::from_secs(60), limits.public_per_minute)),
            unknown_ids: RateLimiter::keyed(quota(Duration::from_secs(60), UNKNOWN_IDS_PER_MINUTE)),
        }
    }

    fn check(limiter: &DefaultKeyedRateLimiter<IpAddr>, address: IpAddr) -> Result<(), ApiError> {
        limiter
            .check_key(&address)
            .map_err(|not_until| ApiError::RateLimited {
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            })
    }

    /// One sign-in (or invitation acceptance) attempt from `address`.
    ///
    /// # Errors
    /// [`ApiError::RateLimited`] when the budget is spent.
    pub(crate) fn login(&self, address: IpAddr) -> Result<(), ApiError> {
        Self::check(&self.login, address)
    }

    /// One sign-up from `address`.
    ///
    /// # Errors
    /// [`ApiError::RateLimited`] when the budget is spent.
    pub(crate) fn signup(&self, address: IpAddr) -> Result<(), ApiError> {
        Self::check(&self.signup, address)
    }

    /// One public booking-flow request from `address`.
    ///
    /// # Errors
    /// [`ApiError::RateLimited`] when the budget is spent.
    pub(crate) fn public(&self, address: IpAddr) -> Result<(), ApiError> {
        Self::check(&self.public, address)
    }

    /// Whether one more audit entry for an unknown id in `tenant` fits
    /// the budget.
    pub(crate) fn unknown_id(&self, tenant: TenantId) -> bool {
        self.unknown_ids.check_key(&tenant).is_ok()
    }

    /// Drops state of addresses whose budget is full again.
    pub(crate) fn shrink(&self) {
        self.login.retain_recent();
        self.signup.retain_recent();
        self.public.retain_recent();
        self.unknown_ids.retain_recent();
    }
}
