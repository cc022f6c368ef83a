//! Audit retention by severity (P9): what expires when, and that a kind a
//! newer version wrote is kept as long as the longest retention.

use bookwarden_domain::audit::{AuditKind, Severity, expired};
use bookwarden_domain::jiff::{SignedDuration, Timestamp};

fn days(n: i64) -> SignedDuration {
    SignedDuration::from_hours(24 * n)
}

#[test]
fn p9_entries_expire_after_their_severitys_retention_and_not_before() {
    let at: Timestamp = "2026-06-01T12:00:00Z".parse().unwrap();
    for (kind, kept) in [
        (AuditKind::LoginSucceeded, 30),
        (AuditKind::LoginFailed, 90),
        (AuditKind::RoleChanged, 180),
        (AuditKind::DataExported, 180),
        (AuditKind::AuditPurged, 90),
    ] {
        assert_eq!(
            i64::from(kind.severity().retention_days()),
            kept,
            "{kind:?}"
        );
        let name = kind.as_str();
        let due = at + days(kept);
        assert!(
            !expired(name, at, due - SignedDuration::from_secs(1)),
            "{name}"
        );
        assert!(expired(name, at, due), "{name}");
    }
    // Unknown to this version: kept as long as anything is.
    let longest = i64::from(Severity::Critical.retention_days());
    assert!(!expired("future.kind", at, at + days(longest - 1)));
    assert!(expired("future.kind", at, at + days(longest)));
    // An instant at the edge of time never expires by overflow.
    assert!(!expired("login.succeeded", Timestamp::MAX, Timestamp::MAX));
}
