//! The server over real HTTP, against an actix hello-world on the same
//! machine: a month of slots among 500 bookings and 500 busy blocks (as
//! visitors see it, kept between them, and computed afresh for every
//! request), and public bookings on the embedded SQLite database. The server is the
//! release `bookwarden` binary (built by `cargo xtask bench`) in its own
//! process, so its memory can be read: resident size idle and its peak
//! under load go to target/criterion/http-memory.json. Nothing scrapes its
//! `/metrics` meanwhile, as on a node no Prometheus watches: the peak
//! includes whatever the metrics recorder holds on to by itself.
//!
//! Each measured iteration sends 64 requests at once from one client, for
//! the baseline and for Bookwarden alike.
//!
//! Then the same cold listings and bookings again, with a staff member's
//! calendar feed (5,000 events, 500 of them weekly series, served by the
//! baseline's server) synced in full over and over beside them through
//! `POST /v1/calendar-connections/{id}/sync`: what a sync costs the
//! booking page. First the feed answers the same bytes each time (with no
//! validators, so each sync fetches it whole), then the bookings once more
//! beside a feed in which one meeting moves on every fetch, so each sync
//! parses, expands and merges it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stderr,
    missing_docs,
    reason = "a benchmark fails loudly and reports on the terminal"
)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bookwarden_app::{
    App, BookingRequest, ClientInfo, CustomerInput, LoginRequest, SecretString, Signup,
    SystemClock, TenantChange,
};
use bookwarden_domain::calendar::{ConnectionStatus, ImportedBusy, Provider, SyncMode};
use bookwarden_domain::id::{ConnectionId, StaffId};
use bookwarden_domain::intake::IntakeForm;
use bookwarden_domain::jiff::civil::Weekday;
use bookwarden_domain::jiff::{SignedDuration, Timestamp};
use bookwarden_domain::schedule::{DayHours, DayRange, DayTime, ScheduleSpec, WeeklyHours};
use bookwarden_domain::service::{Capacity, ServiceName, ServiceSpec, Timing, TimingSpec};
use bookwarden_domain::time::{TimeRange, TimeZone};
use bookwarden_http_api::config::{Config, FileConfig};
use bookwarden_persistence::ConnectionRecord;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};

const BATCH: u64 = 64;
const PASSWORD: &str = "plum tree orchard 42";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn binary() -> PathBuf {
    bookwarden_tests::release_binary()
}

/// Resident and peak resident memory of `pid`, in KiB.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

struct Fixture {
    base: String,
    slug: String,
    service: String,
    quick: String,
    staff: Vec<String>,
    month: (Timestamp, Timestamp),
    server: Child,
    dir: PathBuf,
}

/// Seeds a business in a fresh data folder through the app itself (busy
/// blocks have no HTTP endpoint yet), then starts the binary on it.
async fn fixture() -> Fixture {
    let dir = std::env::temp_dir().join(format!(
        "bookwarden-bench-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let config = Config::from_file_config(FileConfig {
        data_dir: Some(dir.clone()),
        ..FileConfig::default()
    })
    .unwrap();
    let (app, _) = App::open(config.app, Arc::new(SystemClock)).await.unwrap();
    let slug = "bench-clinic".to_owned();
    app.signup(Signup {
        tenant_name: "Bench Clinic".into(),
        region: None,
        slug: slug.clone(),
        time_zone: "UTC".into(),
        email: "owner@bench.example".into(),
        name: "Olive".into(),
        password: SecretString::new(PASSWORD.into()),
        client: ClientInfo::default(),
    })
    .await
    .unwrap();
    let session = app
        .login(LoginRequest {
            tenant: slug.clone(),
            email: "owner@bench.example".into(),
            password: SecretString::new(PASSWORD.into()),
            otp: None,
            recovery_code: None,
            new_password: None,
            client: ClientInfo::default(),
        })
        .await
        .unwrap();
    let principal = app
        .authenticate(
            session.token.expose_secret(),
            bookwarden_app::Carrier::Bearer,
        )
        .await
        .unwrap();
    let mut staff = Vec::new();
    let eight_to_six = DayHours::new(vec![
        DayRange::new(
            DayTime::parse("08:00").unwrap(),
            DayTime::parse("18:00").unwrap(),
        )
        .unwrap(),
    ])
    .unwrap();
    let all_day = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
        Weekday::Sunday,
    ]
    .into_iter()
    .fold(WeeklyHours::closed(), |week, day| {
        week.with(day, eight_to_six.clone())
    });
    let mut staff_ids = Vec::new();
    for n in 0..4 {
        let member = app
            .create_staff(&principal, &format!("Staff {n}"), None)
            .await
            .unwrap();
        app.put_schedule(
            &principal,
            member.id(),
            ScheduleSpec {
                zone: TimeZone::parse("UTC").unwrap(),
                weekly: all_day.clone(),
                overrides: Default::default(),
                time_off: Vec::new(),
            },
        )
        .await
        .unwrap();
        staff.push(member.id().to_string());
        staff_ids.push(member.id());
    }
    // A public one-to-one service of `minutes`, on a grid of `minutes`.
    let public_service = |name: &str, minutes: u32, horizon_days: u32| ServiceSpec {
        name: ServiceName::parse(name).unwrap(),
        timing: Timing::new(TimingSpec {
            duration_minutes: minutes,
            buffer_before_minutes: 0,
            buffer_after_minutes: 0,
            minimum_notice_minutes: 0,
            horizon_days,
            slot_step_minutes: minutes,
        })
        .unwrap(),
        capacity: Capacity::new(1).unwrap(),
        staff: staff_ids.clone(),
        price: None,
        intake: IntakeForm::new(Vec::new()).unwrap(),
        public: true,
    };
    let service = app
        .create_service(&principal, public_service("Visit", 30, 365))
        .await
        .unwrap();
    // Public bookings go to a short service with room for 240 a day over
    // two years, after the month the slots are listed for.
    let quick = app
        .create_service(&principal, public_service("Quick question", 10, 730))
        .await
        .unwrap();
    let day = SignedDuration::from_hours(24);
    let start = Timestamp::now().checked_add(day).unwrap();
    let start = Timestamp::from_second(start.as_second() - start.as_second() % 86_400).unwrap();
    let month = (start, start.checked_add(day * 30).unwrap());
    // 500 bookings: 125 per staff member, about four a day each at 08:00,
    // 10:30, 13:00 and 15:30.
    let opening = |k: i64, minutes: i64| {
        start
            .checked_add(SignedDuration::from_hours(24 * (k / 4) + 8))
            .and_then(|t| t.checked_add(SignedDuration::from_mins(150 * (k % 4) + minutes)))
            .unwrap()
    };
    for n in 0..500_i64 {
        let member = &staff[usize::try_from(n % 4).unwrap()];
        let at = opening(n / 4, 0);
        app.create_booking(
            &principal,
            &BookingRequest {
                service: service.id(),
                staff: Some(member.parse().unwrap()),
                start: at,
                seats: 1,
                customer: CustomerInput {
                    email: format!("c{n}@bench.example"),
                    name: "Customer".into(),
                    phone: None,
                },
                answers: Default::default(),
            },
        )
        .await
        .unwrap();
    }
    // 500 busy blocks, 125 per staff member, 20 minutes each in the gaps.
    let now = Timestamp::now();
    for (m, member) in staff.iter().enumerate() {
        let connection = ConnectionId::random();
        let scope = app.store().write(principal.tenant()).await.unwrap();
        scope
            .calendars()
            .insert(&ConnectionRecord {
                id: connection,
                staff: member.parse::<StaffId>().unwrap(),
                provider: Provider::Ics,
                mode: SyncMode::BusyOnly,
                status: ConnectionStatus::Healthy,
                label: "calendar.example".to_owned(),
                sealed_secret: None,
                sync_cursor: None,
                last_synced_at: Some(now),
                failures: 0,
                next_sync_at: None,
                last_error: None,
                degraded: false,
                // Fresh and covering the benchmark's weeks: trusted.
                synced_until: Some(
                    now.checked_add(SignedDuration::from_hours(24 * 400))
                        .unwrap(),
                ),
                created_at: now,
            })
            .await
            .unwrap();
        let blocks: Vec<([u8; 32], ImportedBusy)> = (0..125_i64)
            .map(|k| {
                let mut key = [0_u8; 32];
                key[..8].copy_from_slice(&k.to_be_bytes());
                let from = opening(k, 60 + i64::try_from(m).unwrap());
                let range = TimeRange::new(
                    from,
                    from.checked_add(SignedDuration::from_mins(20)).unwrap(),
                )
                .unwrap();
                (
                    key,
                    ImportedBusy::new(None, range, false, SyncMode::BusyOnly),
                )
            })
            .collect();
        scope
            .calendars()
            .merge_busy(connection, &blocks)
            .await
            .unwrap();
        scope.commit().await.unwrap();
    }
    app.change_tenant(
        &slug,
        TenantChange::Plan(bookwarden_domain::tenant::Plan::Pro),
    )
    .await
    .unwrap();
    drop(app);
    let port = free_port();
    let server = Command::new(binary())
        .args(["serve", "--data-dir"])
        .arg(&dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("BOOKWARDEN_PUBLIC_PER_MINUTE", "100000000")
        // The calendar feed is served on loopback, by the baseline's server.
        .env("BOOKWARDEN_CALENDAR_ALLOW_LOOPBACK", "true")
        .env("BOOKWARDEN_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Fixture {
        base,
        slug,
        service: service.id().to_string(),
        quick: quick.id().to_string(),
        staff,
        month,
        server,
        dir,
    }
}

/// A staff calendar of 5,000 events, 4,500 single half-hour meetings and
/// 500 weekly series of four, every one with the description, location and
/// attendee a real calendar carries. They lie 300 days after `month`
/// starts: inside the sync's window, outside the month listed and the days
/// booked, so the benchmarks beside the sync read and write what the ones
/// without it did, and only the sync's own cost shows.
fn feed_text(month: (Timestamp, Timestamp)) -> String {
    let month = (month.0 + SignedDuration::from_hours(24 * 300), month.1);
    let stamp = |at: Timestamp| at.strftime("%Y%m%dT%H%M%SZ").to_string();
    let mut text = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Bench//EN\r\n");
    for n in 0..5_000_i64 {
        // Spread over the first three weeks, 08:00 to 18:00.
        let day = n % 21;
        let minute = (n / 21) % 20 * 30;
        let start =
            month.0 + SignedDuration::from_hours(24 * day + 8) + SignedDuration::from_mins(minute);
        let end = start + SignedDuration::from_mins(30);
        text.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:bench-{n}@feed.example\r\nDTSTAMP:20261101T000000Z\r\n\
             DTSTART:{}\r\nDTEND:{}\r\nSUMMARY:Meeting {n}\r\n\
             DESCRIPTION:Agenda for meeting {n}: review\\, plan\\, next steps\r\n\
             LOCATION:Room {n}\r\nATTENDEE;CN=Guest {n}:mailto:guest{n}@example.com\r\n",
            stamp(start),
            stamp(end),
        ));
        if n < 500 {
            text.push_str("RRULE:FREQ=WEEKLY;COUNT=4\r\n");
        }
        text.push_str("END:VEVENT\r\n");
    }
    text.push_str("END:VCALENDAR\r\n");
    text
}

/// An actix hello-world on the same runtime settings (2 workers); it also
/// serves the calendar feed synced in the last benchmarks, as it is
/// (`basic.ics`: the same bytes every time, with no validators, as many
/// feeds are) and changing (`changing.ics`: one meeting moves on every
/// fetch, so every sync parses, expands and merges).
fn hello_server(feed: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let feed = actix_web::web::Data::new(feed);
    let moves = actix_web::web::Data::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            actix_web::HttpServer::new(move || {
                actix_web::App::new()
                    .app_data(feed.clone())
                    .app_data(moves.clone())
                    .route(
                        "/hello",
                        actix_web::web::get().to(|| async {
                            actix_web::HttpResponse::Ok().json(json!({ "hello": "world" }))
                        }),
                    )
                    .route(
                        "/private-bench/basic.ics",
                        actix_web::web::get().to(|feed: actix_web::web::Data<String>| async move {
                            actix_web::HttpResponse::Ok()
                                .content_type("text/calendar")
                                .body(feed.get_ref().clone())
                        }),
                    )
                    .route(
                        "/private-bench/changing.ics",
                        actix_web::web::get().to(
                            |feed: actix_web::web::Data<String>,
                             moves: actix_web::web::Data<AtomicUsize>| async move {
                                let n = moves.fetch_add(1, Ordering::Relaxed) % 500;
                                let head = feed.strip_suffix("END:VCALENDAR\r\n").unwrap();
                                actix_web::HttpResponse::Ok()
                                    .content_type("text/calendar")
                                    .body(format!(
                                        "{head}BEGIN:VEVENT\r\nUID:moving@feed.example\r\n\
                                         DTSTAMP:20261101T000000Z\r\n\
                                         DTSTART:{}\r\nDURATION:PT30M\r\nEND:VEVENT\r\n\
                                         END:VCALENDAR\r\n",
                                        moving_start(n)
                                    ))
                            },
                        ),
                    )
            })
            .workers(2)
            .listen(listener)
            .unwrap()
            .run()
            .await
            .unwrap();
        });
    });
    base
}

/// Where the moving meeting of `changing.ics` is on its `n`th fetch: 340
/// days ahead (inside the sync's window, outside the days listed and
/// booked), half an hour later each time.
fn moving_start(n: usize) -> String {
    let day = Timestamp::from_second(Timestamp::now().as_second() / 86_400 * 86_400).unwrap();
    let at = day
        + SignedDuration::from_hours(24 * 340 + 8)
        + SignedDuration::from_mins(30 * i64::try_from(n).unwrap());
    at.strftime("%Y%m%dT%H%M%SZ").to_string()
}

async fn batch(requests: Vec<reqwest::RequestBuilder>) -> Duration {
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(requests.len());
    for request in requests {
        tasks.push(tokio::spawn(async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body = response.bytes().await.unwrap_or_default();
            (status, body)
        }));
    }
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert!(
            status < 300,
            "status {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    started.elapsed()
}

fn http(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut fixture = runtime.block_on(fixture());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(128)
        .build()
        .unwrap();
    let hello = hello_server(feed_text(fixture.month));
    let (idle_kib, _) = memory(fixture.server.id());
    let mut group = c.benchmark_group("http");
    group.throughput(Throughput::Elements(BATCH));
    group.sample_size(20);
    group.bench_function("hello_64", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let requests = (0..BATCH)
                        .map(|_| client.get(format!("{hello}/hello")))
                        .collect();
                    total += batch(requests).await;
                }
                total
            })
        });
    });
    let slots_url = format!(
        "{}/v1/public/{}/services/{}/slots?from={}&to={}&time_zone=Europe/Berlin",
        fixture.base, fixture.slug, fixture.service, fixture.month.0, fixture.month.1
    );
    let sample: Value = runtime.block_on(async {
        client
            .get(&slots_url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    let offered: usize = sample["days"].as_array().map_or(0, |days| {
        days.iter()
            .map(|d| d["slots"].as_array().map_or(0, Vec::len))
            .sum()
    });
    // 12 free times a day for 30 days, each free with all four members.
    assert!(offered >= 300, "a month of free times: {offered}");
    eprintln!(
        "the month view lists {offered} free times (staff merged), {} bytes",
        serde_json::to_vec(&sample).map_or(0, |b| b.len())
    );
    group.bench_function("slots_month_64", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let requests = (0..BATCH).map(|_| client.get(&slots_url)).collect();
                    total += batch(requests).await;
                }
                total
            })
        });
    });
    // The same month computed for every request: each asks for a window
    // one second shorter, so no kept listing answers it.
    let cold = AtomicUsize::new(1);
    let cold_slots = |b: &mut criterion::Bencher<'_>| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let requests = (0..BATCH)
                        .map(|_| {
                            let n = i64::try_from(cold.fetch_add(1, Ordering::Relaxed)).unwrap();
                            let to = fixture
                                .month
                                .1
                                .checked_sub(SignedDuration::from_secs(n))
                                .unwrap();
                            client.get(format!(
                                "{}/v1/public/{}/services/{}/slots?from={}&to={to}&time_zone=Europe/Berlin",
                                fixture.base, fixture.slug, fixture.service, fixture.month.0
                            ))
                        })
                        .collect();
                    total += batch(requests).await;
                }
                total
            })
        });
    };
    group.bench_function("slots_month_cold_64", cold_slots);
    // Public bookings, each on its own free slot after the seeded month.
    let next = AtomicUsize::new(0);
    let book_url = format!("{}/v1/public/{}/bookings", fixture.base, fixture.slug);
    // The seeded bookings run a day past the month; start after them.
    let after_month = fixture
        .month
        .1
        .checked_add(SignedDuration::from_hours(48))
        .unwrap();
    let book = |b: &mut criterion::Bencher<'_>| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let requests = (0..BATCH)
                        .map(|_| {
                            let n = next.fetch_add(1, Ordering::Relaxed);
                            let member = &fixture.staff[n % fixture.staff.len()];
                            // 60 ten-minute slots a day from 08:00.
                            let slot = i64::try_from(n / fixture.staff.len()).unwrap();
                            let at = after_month
                                .checked_add(SignedDuration::from_hours(24 * (slot / 60) + 8))
                                .and_then(|t| t.checked_add(SignedDuration::from_mins(10 * (slot % 60))))
                                .unwrap();
                            client.post(&book_url).json(&json!({
                                "service_id": fixture.quick,
                                "staff_id": member,
                                "start": at.to_string(),
                                "customer": { "email": format!("b{n}@bench.example"), "name": "Booker" },
                            }))
                        })
                        .collect();
                    total += batch(requests).await;
                }
                total
            })
        });
    };
    group.sample_size(10);
    group.bench_function("book_64", book);
    // Two staff members connect their calendars: first the listings and
    // bookings with the calendars connected and nothing syncing (what
    // consulting them costs), then with a sync running beside (what the
    // sync costs): first of a feed that answers the same bytes each time,
    // then of one that changed.
    let (connections, owner) = runtime.block_on(async {
        let login: Value = client
            .post(format!("{}/v1/sessions", fixture.base))
            .json(&json!({ "tenant": fixture.slug, "email": "owner@bench.example", "password": PASSWORD }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let owner = login["token"].as_str().unwrap().to_owned();
        let mut connections = Vec::new();
        for (staff, feed) in [(0, "basic"), (1, "changing")] {
            let connected = client
                .post(format!("{}/v1/calendar-connections", fixture.base))
                .bearer_auth(&owner)
                .json(&json!({
                    "staff_id": fixture.staff[staff], "kind": "ics",
                    "url": format!("{hello}/private-bench/{feed}.ics"),
                }))
                .send()
                .await
                .unwrap();
            assert_eq!(connected.status(), 201, "{}", connected.text().await.unwrap_or_default());
            let connected: Value = connected.json().await.unwrap();
            connections.push(format!(
                "{}/v1/calendar-connections/{}/sync",
                fixture.base,
                connected["id"].as_str().unwrap()
            ));
        }
        (connections, owner)
    });
    group.sample_size(20);
    group.bench_function("slots_month_cold_64_connected", cold_slots);
    group.sample_size(10);
    group.bench_function("book_64_connected", book);
    let syncs = Arc::new(AtomicUsize::new(0));
    let syncing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let target = Arc::new(std::sync::Mutex::new(connections[0].clone()));
    let sync_loop = {
        let (client, syncs, syncing, target) = (
            client.clone(),
            syncs.clone(),
            syncing.clone(),
            target.clone(),
        );
        runtime.spawn(async move {
            let started = Instant::now();
            while syncing.load(Ordering::Relaxed) {
                let url = target.lock().unwrap().clone();
                let answer = client.post(&url).bearer_auth(&owner).send().await.unwrap();
                let view: Value = answer.json().await.unwrap();
                assert_eq!(view["health"], "healthy", "{view}");
                syncs.fetch_add(1, Ordering::Relaxed);
            }
            started.elapsed()
        })
    };
    group.sample_size(20);
    group.bench_function("slots_month_cold_64_syncing", cold_slots);
    group.sample_size(10);
    group.bench_function("book_64_syncing", book);
    let unchanged = (syncs.swap(0, Ordering::Relaxed), Instant::now());
    *target.lock().unwrap() = connections[1].clone();
    group.bench_function("book_64_syncing_changed", book);
    syncing.store(false, Ordering::Relaxed);
    let busy_for = runtime.block_on(sync_loop).unwrap();
    let changed = syncs.load(Ordering::Relaxed);
    let changed_for = unchanged.1.elapsed();
    eprintln!(
        "{} full syncs of the unchanged 5,000-event feed ran beside the listings and the first \
         bookings, {} each on average; {changed} of the changing feed beside the last bookings, \
         {} each",
        unchanged.0,
        humantime_ms(busy_for.saturating_sub(changed_for), unchanged.0),
        humantime_ms(changed_for, changed)
    );
    group.finish();
    let (_, peak_kib) = memory(fixture.server.id());
    let out =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/criterion/http-memory.json");
    let _ = std::fs::create_dir_all(out.parent().unwrap());
    std::fs::write(
        &out,
        json!({ "idle_kib": idle_kib, "peak_kib": peak_kib }).to_string(),
    )
    .unwrap();
    let _ = fixture.server.kill();
    let _ = fixture.server.wait();
    let _ = std::fs::remove_dir_all(&fixture.dir);
}

/// `total / count` in milliseconds, for the terminal.
fn humantime_ms(total: Duration, count: usize) -> String {
    let count = u32::try_from(count.max(1)).unwrap_or(u32::MAX);
    format!("{:.0} ms", (total / count).as_secs_f64() * 1000.0)
}

criterion_group!(benches, http);
criterion_main!(benches);
