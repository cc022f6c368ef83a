//! An iCalendar feed served over loopback HTTP, well-behaved and hostile,
//! and the outbound guard in front of it (P4, P5).

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::http::header;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use bookwarden_calendar_sync::Scope;
use bookwarden_calendar_sync::error::SyncError;
use bookwarden_calendar_sync::feed::{FeedSync, IcsFeed, Validators};
use bookwarden_calendar_sync::ical::Limits;
use bookwarden_calendar_sync::outbound::{FetchError, Outbound, OutboundConfig};
use bookwarden_domain::calendar::SyncMode;
use bookwarden_domain::time::TimeZone;

use crate::support::{calendar, range};

const ETAG: &str = "\"v1\"";

fn feed_text() -> String {
    calendar(&[
        "UID:feed-1
        DTSTART:20261208T090000Z
        DTEND:20261208T100000Z
        SUMMARY:Physio
        DESCRIPTION:MARKER-FEED-DESCRIPTION",
        "UID:feed-2
        DTSTART;TZID=Europe/Berlin:20261209T140000
        DURATION:PT45M",
    ])
}

struct Fake {
    base: String,
    port: u16,
    hits: Arc<AtomicUsize>,
}

async fn feed(request: HttpRequest, hits: web::Data<AtomicUsize>) -> HttpResponse {
    hits.fetch_add(1, Ordering::SeqCst);
    let unchanged = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == ETAG.as_bytes());
    if unchanged {
        return HttpResponse::NotModified().finish();
    }
    HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .insert_header((header::ETAG, ETAG))
        .insert_header((header::LAST_MODIFIED, "Mon, 30 Nov 2026 10:00:00 GMT"))
        .body(feed_text())
}

async fn serve() -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = web::Data::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(counted.clone())
            .route("/feed.ics", web::get().to(feed))
            .route(
                "/plain.ics",
                web::get().to(|| async { HttpResponse::Ok().body(feed_text()) }),
            )
            .route(
                "/unauthorized.ics",
                web::get().to(|| async { HttpResponse::Unauthorized().finish() }),
            )
            .route(
                "/gone.ics",
                web::get().to(|| async { HttpResponse::Gone().finish() }),
            )
            .route(
                "/busy.ics",
                web::get().to(|| async {
                    HttpResponse::TooManyRequests()
                        .insert_header((header::RETRY_AFTER, "120"))
                        .finish()
                }),
            )
            .route(
                "/broken.ics",
                web::get().to(|| async {
                    HttpResponse::InternalServerError()
                        .insert_header((header::RETRY_AFTER, "30"))
                        .body("MARKER-ERROR-BODY")
                }),
            )
            .route(
                "/html.ics",
                web::get().to(|| async {
                    HttpResponse::Ok()
                        .content_type("text/html")
                        .body("<html>MARKER-HTML</html>")
                }),
            )
            .route(
                "/binary.ics",
                web::get()
                    .to(|| async { HttpResponse::Ok().body(vec![0xff_u8, 0xfe, 0x00, 0x41]) }),
            )
            .route(
                "/huge.ics",
                web::get().to(|| async { HttpResponse::Ok().body(vec![b'A'; 2 * 1024 * 1024]) }),
            )
            .route(
                "/slow.ics",
                web::get().to(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    HttpResponse::Ok().body(feed_text())
                }),
            )
            .route(
                "/to-metadata.ics",
                web::get().to(|| async {
                    HttpResponse::Found()
                        .insert_header((
                            header::LOCATION,
                            "http://169.254.169.254/latest/meta-data/",
                        ))
                        .finish()
                }),
            )
            .route(
                "/to-private.ics",
                web::get().to(|| async {
                    HttpResponse::TemporaryRedirect()
                        .insert_header((header::LOCATION, "http://10.0.0.7/feed.ics"))
                        .finish()
                }),
            )
            .route(
                "/loop.ics",
                web::get().to(|| async {
                    HttpResponse::Found()
                        .insert_header((header::LOCATION, "/loop.ics"))
                        .finish()
                }),
            )
            .route(
                "/moved.ics",
                web::get().to(|| async {
                    HttpResponse::MovedPermanently()
                        .insert_header((header::LOCATION, "/feed.ics"))
                        .finish()
                }),
            )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    Fake {
        base: format!("http://127.0.0.1:{port}"),
        port,
        hits: hits.into_inner(),
    }
}

fn loopback() -> Outbound {
    Outbound::new(&OutboundConfig {
        allow_loopback: true,
        max_bytes: 1024 * 1024,
        timeout: Duration::from_secs(1),
        ..OutboundConfig::default()
    })
    .unwrap()
}

fn zone() -> TimeZone {
    TimeZone::parse("Europe/Berlin").unwrap()
}

fn scope(zone: &TimeZone, mode: SyncMode) -> Scope<'_> {
    Scope {
        window: range("2026-12-07T00:00:00Z", "2026-12-14T00:00:00Z"),
        zone,
        mode,
        limits: Limits::default(),
    }
}

async fn sync(outbound: &Outbound, url: &str) -> Result<FeedSync, SyncError> {
    let zone = zone();
    IcsFeed::new(url)
        .unwrap()
        .sync(outbound, &scope(&zone, SyncMode::BusyOnly), None)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p4_a_feed_is_fetched_expanded_and_then_asked_only_whether_it_changed() {
    let fake = serve().await;
    let outbound = loopback();
    let zone = zone();
    let feed = IcsFeed::new(&format!("{}/feed.ics", fake.base)).unwrap();
    let first = feed
        .sync(&outbound, &scope(&zone, SyncMode::WithSubject), None)
        .await
        .unwrap();
    let FeedSync::Changed {
        expansion,
        validators,
    } = first
    else {
        panic!("the first fetch is a full one");
    };
    let spans: Vec<String> = expansion
        .events
        .iter()
        .map(|e| format!("{}/{}", e.busy.range().start(), e.busy.range().end()))
        .collect();
    assert_eq!(
        spans,
        [
            "2026-12-08T09:00:00Z/2026-12-08T10:00:00Z",
            "2026-12-09T13:00:00Z/2026-12-09T13:45:00Z",
        ]
    );
    assert_eq!(expansion.events[0].busy.subject(), Some("Physio"));
    assert_eq!(validators.etag.as_deref(), Some(ETAG));
    // The validators survive being stored as a cursor.
    let stored = Validators::from_cursor(&validators.to_cursor());
    assert_eq!(stored, validators);
    let again = feed
        .sync(
            &outbound,
            &scope(&zone, SyncMode::WithSubject),
            Some(&stored),
        )
        .await
        .unwrap();
    assert_eq!(again, FeedSync::NotModified);
    assert_eq!(fake.hits.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p4_a_feed_without_validators_is_not_expanded_again_when_its_bytes_are_the_same() {
    let fake = serve().await;
    let (outbound, zone) = (loopback(), zone());
    let feed = IcsFeed::new(&format!("{}/plain.ics", fake.base)).unwrap();
    let scope = scope(&zone, SyncMode::BusyOnly);
    let FeedSync::Changed {
        expansion,
        validators,
    } = feed.sync(&outbound, &scope, None).await.unwrap()
    else {
        panic!("the first fetch is a full one");
    };
    assert_eq!(expansion.events.len(), 2);
    assert_eq!(
        (
            validators.etag.as_deref(),
            validators.last_modified.as_deref()
        ),
        (None, None)
    );
    let stored = Validators::from_cursor(&validators.to_cursor());
    assert_eq!(stored, validators);
    assert_eq!(stored.digest.as_ref().map(String::len), Some(64));
    // The same bytes again: nothing to parse.
    let again = feed.sync(&outbound, &scope, Some(&stored)).await.unwrap();
    assert_eq!(again, FeedSync::NotModified);
    // Other bytes (here: a digest of something else) are a changed feed.
    let other = Validators {
        digest: Some("0".repeat(64)),
        ..stored.clone()
    };
    let changed = feed.sync(&outbound, &scope, Some(&other)).await.unwrap();
    assert!(matches!(changed, FeedSync::Changed { expansion, .. } if expansion.events.len() == 2));
    // A cursor stored before digests existed still reads, without one.
    let older = Validators::from_cursor("ics1\u{1f}\"v1\"\u{1f}");
    assert_eq!(
        (older.etag.as_deref(), older.digest),
        (Some("\"v1\""), None)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p5_provider_failures_are_typed_with_their_retry_hints() {
    let fake = serve().await;
    let outbound = loopback();
    let url = |path: &str| format!("{}/{path}", fake.base);
    let err = sync(&outbound, &url("unauthorized.ics")).await.unwrap_err();
    assert_eq!(err, SyncError::Unauthorized);
    assert!(err.revokes());
    assert_eq!(
        sync(&outbound, &url("gone.ics")).await.unwrap_err(),
        SyncError::NotFound
    );
    let busy = sync(&outbound, &url("busy.ics")).await.unwrap_err();
    assert_eq!(busy.retry_after(), Some(Duration::from_secs(120)));
    assert!(!busy.revokes());
    let broken = sync(&outbound, &url("broken.ics")).await.unwrap_err();
    assert_eq!(
        broken,
        SyncError::Unavailable {
            status: 500,
            retry_after: Some(Duration::from_secs(30))
        }
    );
    assert!(!broken.to_string().contains("MARKER"));
    assert!(matches!(
        sync(&outbound, &url("html.ics")).await.unwrap_err(),
        SyncError::Malformed(_)
    ));
    assert!(matches!(
        sync(&outbound, &url("binary.ics")).await.unwrap_err(),
        SyncError::Malformed(_)
    ));
    assert_eq!(
        sync(&outbound, &url("huge.ics")).await.unwrap_err(),
        SyncError::Fetch(FetchError::TooLarge)
    );
    assert_eq!(
        sync(&outbound, &url("slow.ics")).await.unwrap_err(),
        SyncError::Fetch(FetchError::Timeout)
    );
    // A permanent redirect to the feed itself is followed.
    assert!(matches!(
        sync(&outbound, &url("moved.ics")).await,
        Ok(FeedSync::Changed { .. })
    ));
    assert_eq!(
        sync(&outbound, &url("loop.ics")).await.unwrap_err(),
        SyncError::Fetch(FetchError::TooManyRedirects)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p5_ssrf_redirects_into_private_networks_are_refused() {
    let fake = serve().await;
    let outbound = loopback();
    for path in ["to-metadata.ics", "to-private.ics"] {
        let err = sync(&outbound, &format!("{}/{path}", fake.base))
            .await
            .unwrap_err();
        assert!(
            matches!(err, SyncError::Fetch(FetchError::Refused(_))),
            "{path}: {err:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p5_ssrf_loopback_is_refused_unless_allowed_by_name_or_address() {
    let fake = serve().await;
    let production = Outbound::new(&OutboundConfig::default()).unwrap();
    for url in [
        // Plain http is refused before anything else.
        format!("http://127.0.0.1:{}/feed.ics", fake.port),
        // A literal loopback address, in both families and mapped.
        format!("https://127.0.0.1:{}/feed.ics", fake.port),
        format!("https://[::1]:{}/feed.ics", fake.port),
        format!("https://[::ffff:127.0.0.1]:{}/feed.ics", fake.port),
        // A name that resolves to loopback: refused by the resolver.
        format!("https://localhost:{}/feed.ics", fake.port),
        "https://169.254.169.254/latest/meta-data/".to_owned(),
        "webcal://10.1.2.3/feed.ics".to_owned(),
    ] {
        let err = sync(&production, &url).await.unwrap_err();
        assert!(
            matches!(err, SyncError::Fetch(FetchError::Refused(_))),
            "{url}: {err:?}"
        );
    }
    assert_eq!(
        fake.hits.load(Ordering::SeqCst),
        0,
        "nothing reached the server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p5_credentials_never_follow_a_redirect_to_another_server() {
    use bookwarden_calendar_sync::caldav::CalDav;
    use bookwarden_crypto::SecretString;

    // B counts what reaches it, and whether it carried credentials.
    let reached = web::Data::new(AtomicUsize::new(0));
    let counted = reached.clone();
    let b_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let b_port = b_listener.local_addr().unwrap().port();
    let b = HttpServer::new(move || {
        App::new()
            .app_data(counted.clone())
            .default_service(web::to(
                |request: HttpRequest, reached: web::Data<AtomicUsize>| async move {
                    reached.fetch_add(1, Ordering::SeqCst);
                    assert!(request.headers().get(header::AUTHORIZATION).is_none());
                    HttpResponse::TemporaryRedirect()
                        .insert_header((header::LOCATION, "/y"))
                        .finish()
                },
            ))
    })
    .workers(1)
    .listen(b_listener)
    .unwrap()
    .run();
    tokio::spawn(b);
    // A, the account's server, sends everything to B.
    let a_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let a_port = a_listener.local_addr().unwrap().port();
    let a = HttpServer::new(move || {
        App::new().default_service(web::to(move || async move {
            HttpResponse::TemporaryRedirect()
                .insert_header((header::LOCATION, format!("http://127.0.0.1:{b_port}/x")))
                .finish()
        }))
    })
    .workers(1)
    .listen(a_listener)
    .unwrap()
    .run();
    tokio::spawn(a);
    let account = CalDav::new(
        &format!("http://127.0.0.1:{a_port}/"),
        "sam",
        SecretString::new("app-password".to_owned()),
    )
    .unwrap();
    let err = account.calendars(&loopback()).await.unwrap_err();
    assert!(
        matches!(err, SyncError::Fetch(FetchError::Refused(_))),
        "{err:?}"
    );
    assert_eq!(reached.load(Ordering::SeqCst), 0, "a request reached B");
}
