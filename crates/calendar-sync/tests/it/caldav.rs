//! CalDAV against a real server: Radicale, started on loopback with its
//! own users file and storage folder, seeded over CalDAV itself (one UID
//! per resource: Radicale skips a file that holds two), P4 and P5.
//!
//! How Radicale is found and started is `radicale.rs`'s.

use std::net::TcpListener;
use std::time::Duration;

use bookwarden_calendar_sync::Scope;
use bookwarden_calendar_sync::caldav::{CalDav, DavSync};
use bookwarden_calendar_sync::error::SyncError;
use bookwarden_calendar_sync::ical::Limits;
use bookwarden_calendar_sync::outbound::{FetchError, Outbound, OutboundConfig};
use bookwarden_crypto::SecretString;
use bookwarden_domain::calendar::SyncMode;
use bookwarden_domain::time::TimeZone;

use crate::radicale::{PASSWORD, Radicale, USER, radicale, seed};
use crate::support::{calendar, range};

fn outbound() -> Outbound {
    Outbound::new(&OutboundConfig {
        allow_loopback: true,
        timeout: Duration::from_secs(5),
        ..OutboundConfig::default()
    })
    .unwrap()
}

fn account(server: &Radicale, password: &str) -> CalDav {
    CalDav::new(&server.base, USER, SecretString::new(password.to_owned())).unwrap()
}

fn stamp(lines: &str) -> String {
    calendar(&[&format!("DTSTAMP:20261101T000000Z\n{lines}")])
}

fn seeded_files() -> Vec<(&'static str, String)> {
    vec![
        (
            "weekly",
            // A weekly series across Berlin's DST change, and its third
            // occurrence moved: one UID, so one resource.
            calendar(&[
                "UID:weekly@caldav.test
                DTSTAMP:20261101T000000Z
                DTSTART;TZID=Europe/Berlin:20261014T100000
                DTEND;TZID=Europe/Berlin:20261014T110000
                RRULE:FREQ=WEEKLY;COUNT=4
                SUMMARY:Team",
                "UID:weekly@caldav.test
                DTSTAMP:20261101T000000Z
                SEQUENCE:2
                RECURRENCE-ID;TZID=Europe/Berlin:20261028T100000
                DTSTART;TZID=Europe/Berlin:20261028T150000
                DTEND;TZID=Europe/Berlin:20261028T160000
                SUMMARY:Team (moved)",
            ]),
        ),
        (
            "holiday",
            stamp(
                "UID:holiday@caldav.test
                DTSTART;VALUE=DATE:20261102
                DTEND;VALUE=DATE:20261103
                SUMMARY:Away",
            ),
        ),
        (
            "free",
            stamp(
                "UID:free@caldav.test
                DTSTART:20261103T090000Z
                DTEND:20261103T100000Z
                TRANSP:TRANSPARENT
                SUMMARY:Maybe",
            ),
        ),
        (
            "private",
            stamp(
                "UID:private@caldav.test
                DTSTART:20261104T120000Z
                DTEND:20261104T130000Z
                SUMMARY:Doctor
                DESCRIPTION:MARKER-CALDAV-DESCRIPTION
                LOCATION:MARKER-CALDAV-LOCATION
                ATTENDEE;CN=MARKER-CALDAV-ATTENDEE:mailto:someone@example.com",
            ),
        ),
    ]
}

const EXPECTED: [&str; 6] = [
    "2026-10-14T08:00:00Z/2026-10-14T09:00:00Z",
    "2026-10-21T08:00:00Z/2026-10-21T09:00:00Z",
    "2026-10-28T14:00:00Z/2026-10-28T15:00:00Z",
    "2026-11-01T23:00:00Z/2026-11-02T23:00:00Z",
    "2026-11-04T09:00:00Z/2026-11-04T10:00:00Z",
    "2026-11-04T12:00:00Z/2026-11-04T13:00:00Z",
];

fn spans(expansion: &bookwarden_calendar_sync::ical::Expansion) -> Vec<String> {
    expansion
        .events
        .iter()
        .map(|e| format!("{}/{}", e.busy.range().start(), e.busy.range().end()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p4_caldav_events_come_from_a_real_server_expanded_here_and_minimized() {
    let Some(server) = radicale().await else {
        return;
    };
    seed(&server, USER, PASSWORD, "work", &seeded_files()).await;
    // Another person's calendar on the same server stays theirs.
    seed(
        &server,
        "olu",
        "other-secret-9",
        "private",
        &[(
            "olu",
            stamp(
                "UID:olu@caldav.test
                DTSTART:20261105T120000Z
                DTEND:20261105T130000Z
                SUMMARY:MARKER-OTHER-PERSON",
            ),
        )],
    )
    .await;
    let outbound = outbound();
    let sam = account(&server, PASSWORD);
    let calendars = sam.calendars(&outbound).await.unwrap();
    assert_eq!(calendars.len(), 1, "{calendars:?}");
    assert!(calendars[0].url.path().ends_with("/sam/work/"));
    let zone = TimeZone::parse("Europe/Berlin").unwrap();
    let scope = Scope {
        window: range("2026-10-01T00:00:00Z", "2026-12-01T00:00:00Z"),
        zone: &zone,
        mode: SyncMode::WithSubject,
        limits: Limits::default(),
    };
    let DavSync::Changed { expansion, cursor } = sam.sync(&outbound, &scope, None).await.unwrap()
    else {
        panic!("a first sync is a full one");
    };
    // Exactly what was seeded (the weekly series' fourth occurrence,
    // 4 November at 10:00 in Berlin, is 09:00Z), and nothing of Olu's.
    assert_eq!(spans(&expansion), EXPECTED);
    let subjects: Vec<Option<&str>> = expansion.events.iter().map(|e| e.busy.subject()).collect();
    assert_eq!(
        subjects,
        [
            Some("Team"),
            Some("Team"),
            Some("Team (moved)"),
            Some("Away"),
            Some("Team"),
            Some("Doctor"),
        ]
    );
    assert!(!expansion.degraded.any(), "{:?}", expansion.degraded);

    // Nothing changed: the cursor says so without fetching events.
    let cursor = cursor.expect("radicale keeps change tags");
    assert_eq!(
        sam.sync(&outbound, &scope, Some(&cursor)).await.unwrap(),
        DavSync::NotModified
    );
    // A new event changes the tag, and the next sync brings it.
    let http = reqwest::Client::new();
    let put = http
        .put(format!("{}sam/work/late.ics", server.base))
        .basic_auth(USER, Some(PASSWORD))
        .header("Content-Type", "text/calendar")
        .body(stamp(
            "UID:late@caldav.test
            DTSTART:20261120T160000Z
            DTEND:20261120T170000Z",
        ))
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success());
    let DavSync::Changed { expansion, .. } =
        sam.sync(&outbound, &scope, Some(&cursor)).await.unwrap()
    else {
        panic!("the calendar changed");
    };
    assert_eq!(expansion.events.len(), EXPECTED.len() + 1);
    assert!(spans(&expansion).contains(&"2026-11-20T16:00:00Z/2026-11-20T17:00:00Z".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p5_a_refused_password_is_unauthorized_and_revokes() {
    let Some(server) = radicale().await else {
        return;
    };
    seed(&server, USER, PASSWORD, "work", &seeded_files()).await;
    let err = account(&server, "not-the-password")
        .calendars(&outbound())
        .await
        .unwrap_err();
    assert_eq!(err, SyncError::Unauthorized);
    assert!(err.revokes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p5_ssrf_a_caldav_server_on_loopback_is_refused_in_production() {
    // Refused before any connection, so no server is needed: a listener
    // that would accept one shows none came.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let production = Outbound::new(&OutboundConfig::default()).unwrap();
    for base in [
        format!("http://127.0.0.1:{port}/"),
        format!("https://127.0.0.1:{port}/"),
        format!("https://localhost:{port}/"),
    ] {
        let err = CalDav::new(&base, USER, SecretString::new(PASSWORD.to_owned()))
            .unwrap()
            .calendars(&production)
            .await
            .unwrap_err();
        assert!(
            matches!(err, SyncError::Fetch(FetchError::Refused(_))),
            "{base}: {err:?}"
        );
    }
    assert!(
        listener.accept().is_err(),
        "a connection reached the listener"
    );
}
