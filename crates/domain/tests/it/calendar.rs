//! A connection's health and its retries (P5): trusted only while fresh,
//! failing only after several failures, backing off, never retrying
//! forever, and a fail policy that hides what is not healthy.

use bookwarden_domain::calendar::{
    ConnectionStatus, FAILURES_BEFORE_FAILING, FailPolicy, Health, MAX_AUTOMATIC_RETRIES,
    STALE_AFTER, SYNC_INTERVAL, SyncState,
};
use bookwarden_domain::jiff::{SignedDuration, Timestamp};

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn state(status: ConnectionStatus, failures: u32, last_good: Option<&str>) -> SyncState {
    SyncState {
        status,
        failures,
        last_good: last_good.map(at),
        synced_until: Some(at("2027-12-05T00:00:00Z")),
    }
}

#[test]
fn p5_health_is_healthy_only_while_the_last_good_sync_is_fresh() {
    let now = at("2026-12-04T12:00:00Z");
    let fresh = state(ConnectionStatus::Healthy, 0, Some("2026-12-04T10:00:00Z"));
    assert_eq!(
        fresh.health(now),
        Health::Healthy,
        "exactly STALE_AFTER old"
    );
    let old = state(ConnectionStatus::Healthy, 0, Some("2026-12-04T09:59:59Z"));
    assert_eq!(old.health(now), Health::Stale);
    assert_eq!(
        state(ConnectionStatus::Healthy, 0, None).health(now),
        Health::Stale
    );
    // Passing trouble does not hide anyone; repeated failure does.
    let blip = state(
        ConnectionStatus::Failing,
        FAILURES_BEFORE_FAILING - 1,
        Some("2026-12-04T11:50:00Z"),
    );
    assert_eq!(blip.health(now), Health::Healthy);
    let failing = state(
        ConnectionStatus::Failing,
        FAILURES_BEFORE_FAILING,
        Some("2026-12-04T11:50:00Z"),
    );
    assert_eq!(failing.health(now), Health::Failing);
    let revoked = state(ConnectionStatus::Revoked, 0, Some("2026-12-04T11:59:00Z"));
    assert_eq!(revoked.health(now), Health::Revoked);
    assert_eq!(STALE_AFTER, SignedDuration::from_hours(2));
    // Beyond the imported window nothing is known.
    assert_eq!(
        fresh.health_until(now, at("2027-12-05T00:00:00Z")),
        Health::Healthy
    );
    assert_eq!(
        fresh.health_until(now, at("2027-12-05T00:00:01Z")),
        Health::Stale
    );
}

#[test]
fn p5_retries_back_off_with_jitter_honour_retry_after_and_stop() {
    let now = at("2026-12-04T12:00:00Z");
    let wait = |s: SyncState, retry_after: Option<i64>, jitter: u8| {
        s.next_attempt(now, retry_after.map(SignedDuration::from_secs), jitter)
            .map(|next| next.duration_since(now).as_secs())
    };
    let ok = state(ConnectionStatus::Healthy, 0, Some("2026-12-04T12:00:00Z"));
    assert_eq!(wait(ok, None, 0), Some(SYNC_INTERVAL.as_secs()));
    let failing = |n| state(ConnectionStatus::Failing, n, None);
    assert_eq!(wait(failing(1), None, 0), Some(60));
    assert_eq!(wait(failing(2), None, 0), Some(120));
    assert_eq!(wait(failing(5), None, 0), Some(960));
    assert_eq!(wait(failing(11), None, 0), Some(6 * 3600), "capped");
    // Jitter stretches by up to a quarter.
    assert_eq!(wait(failing(2), None, 255), Some(150));
    // The provider's Retry-After is honoured, within the cap.
    assert_eq!(wait(failing(1), Some(600), 0), Some(600));
    assert_eq!(wait(failing(1), Some(86_400 * 30), 0), Some(6 * 3600));
    // Nothing retries forever, and a revoked token not at all.
    assert_eq!(wait(failing(MAX_AUTOMATIC_RETRIES), None, 0), None);
    let revoked = state(ConnectionStatus::Revoked, 0, None);
    assert_eq!(wait(revoked, None, 0), None);
}

#[test]
fn p5_the_default_fail_policy_hides_every_unhealthy_calendar() {
    assert_eq!(FailPolicy::default(), FailPolicy::Hide);
    for health in [Health::Stale, Health::Failing, Health::Revoked] {
        assert!(FailPolicy::Hide.withholds(health));
        assert!(!FailPolicy::Warn.withholds(health));
    }
    assert!(!FailPolicy::Hide.withholds(Health::Healthy));
}
