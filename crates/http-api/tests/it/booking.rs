//! The booking engine made usable over HTTP: staff, schedules, services,
//! the public flow with idempotent booking and the manage token, races for
//! one slot, DST, role rules and other tenants' ids (P1, P13, P15).

use std::sync::Arc;

use bookwarden_domain::jiff::{SignedDuration, Timestamp, ToSpan as _};
use serde_json::{Value, json};

use crate::harness::{Options, Owner, TestApp, engines, every_day, spawn_app, spawn_with};

/// A business with one staff member working 09:00-17:00 UTC every day and
/// one public 30-minute service asking for a reason.
pub(crate) struct Shop {
    pub(crate) owner: Owner,
    pub(crate) staff: String,
    pub(crate) service: String,
}

pub(crate) async fn shop(app: &TestApp) -> Shop {
    let owner = app.owner().await;
    let staff: Value = app
        .post(
            "/v1/staff",
            Some(&owner.token),
            json!({ "name": "Sam Smith" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let staff = staff["id"].as_str().unwrap().to_owned();
    let weekly = every_day("09:00", "17:00");
    let schedule = app
        .http
        .put(app.url(&format!("/v1/staff/{staff}/schedule")))
        .bearer_auth(&owner.token)
        .json(&json!({ "time_zone": "UTC", "weekly": weekly }))
        .send()
        .await
        .unwrap();
    assert_eq!(schedule.status(), 200);
    let service = app
        .post(
            "/v1/services",
            Some(&owner.token),
            json!({
                "name": "Check-up",
                "duration_minutes": 30,
                "buffer_after_minutes": 0,
                "horizon_days": 400,
                "staff": [staff],
                "price": { "amount_minor": 4500, "currency": "EUR" },
                "intake": [
                    { "key": "reason", "label": "What brings you in?", "kind": "text", "max_chars": 200, "required": true },
                    { "key": "consent", "label": "I agree to the terms", "kind": "checkbox", "required": true },
                ],
            }),
        )
        .await;
    assert_eq!(service.status(), 201);
    let service: Value = service.json().await.unwrap();
    Shop {
        owner,
        staff,
        service: service["id"].as_str().unwrap().to_owned(),
    }
}

/// 10:00 UTC, `days` days after the app's now.
pub(crate) fn at_ten(app: &TestApp, days: i64) -> Timestamp {
    use bookwarden_app::Clock as _;
    let day = app
        .clock
        .now()
        .to_zoned_datetime(bookwarden_domain::jiff::tz::TimeZone::UTC)
        .date();
    let day = day.checked_add(days.days()).unwrap();
    day.at(10, 0, 0, 0)
        .to_zoned_datetime(bookwarden_domain::jiff::tz::TimeZone::UTC)
        .unwrap()
        .timestamp()
}

/// Every listed time of a slots response, day after day.
pub(crate) fn listed_slots(body: &Value) -> Vec<Value> {
    body["days"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["slots"].as_array().unwrap().clone())
        .collect()
}

fn booking_body(shop: &Shop, start: Timestamp, email: &str) -> Value {
    json!({
        "service_id": shop.service,
        "start": start.to_string(),
        "customer": { "email": email, "name": "Casey Customer" },
        "answers": { "reason": "A sore knee", "consent": true },
    })
}

async fn public_book(
    app: &TestApp,
    slug: &str,
    body: Value,
    key: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .http
        .post(app.url(&format!("/v1/public/{slug}/bookings")))
        .json(&body);
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn p13_a_customer_books_manages_and_cancels_through_the_public_flow() {
    let app = spawn_app().await;
    let shop = shop(&app).await;
    let slug = &shop.owner.slug;
    let listed: Value = app
        .http
        .get(app.url(&format!("/v1/public/{slug}/services")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["services"][0]["id"], shop.service.as_str());
    assert_eq!(listed["services"][0]["intake"][0]["key"], "reason");
    let from = at_ten(&app, 2) - SignedDuration::from_hours(1);
    let to = from + SignedDuration::from_hours(24);
    let slots: Value = app
        .http
        .get(app.url(&format!(
            "/v1/public/{slug}/services/{}/slots?from={from}&to={to}&time_zone=Europe/Berlin",
            shop.service
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let slots = listed_slots(&slots);
    assert_eq!(slots.len(), 16, "09:00-17:00 in 30-minute slots");
    let first = slots
        .iter()
        .find(|s| s["start"].as_str().unwrap().parse::<Timestamp>().unwrap() == at_ten(&app, 2))
        .unwrap();
    assert!(
        first["start"]
            .as_str()
            .unwrap()
            .ends_with("T11:00:00+01:00"),
        "on Berlin's clock: {first}"
    );
    // Intake answers are checked.
    let mut missing = booking_body(&shop, at_ten(&app, 2), "casey@example.com");
    missing["answers"] = json!({ "consent": true });
    assert_eq!(public_book(&app, slug, missing, None).await.status(), 422);
    let mut unknown = booking_body(&shop, at_ten(&app, 2), "refused@example.com");
    unknown["answers"]["shoe_size"] = json!("44");
    assert_eq!(public_book(&app, slug, unknown, None).await.status(), 422);
    let customers = app
        .get("/v1/customers", &shop.owner.token)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !customers.contains("refused@example.com"),
        "a refused booking stores no customer"
    );
    // Booking with an idempotency key.
    let body = booking_body(&shop, at_ten(&app, 2), "casey@example.com");
    let created = public_book(&app, slug, body.clone(), Some("order-1")).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let token = created["manage_token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("bw_mng_"));
    let again = public_book(&app, slug, body.clone(), Some("order-1")).await;
    assert_eq!(again.status(), 200, "a retry answers the same booking");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], created["id"]);
    assert!(
        again.get("manage_token").is_none(),
        "the token is shown once"
    );
    let other = booking_body(&shop, at_ten(&app, 3), "casey@example.com");
    let reused = public_book(&app, slug, other, Some("order-1")).await;
    assert_eq!(reused.status(), 409, "a key reused for another request");
    // Someone else who learns the key gets nothing for the taken slot.
    let snoop = booking_body(&shop, at_ten(&app, 2), "snoop@example.com");
    let snooped = public_book(&app, slug, snoop, Some("order-1")).await;
    assert_eq!(snooped.status(), 409);
    let snooped = snooped.text().await.unwrap();
    assert!(!snooped.contains("sore knee") && !snooped.contains(created["id"].as_str().unwrap()));
    // The slot is gone for everyone else.
    let taken = public_book(
        &app,
        slug,
        booking_body(&shop, at_ten(&app, 2), "dana@example.com"),
        None,
    )
    .await;
    assert_eq!(taken.status(), 409);
    let problem: Value = taken.json().await.unwrap();
    assert_eq!(problem["code"], "slot_taken");
    // The manage token shows, moves, exports and cancels it.
    let view: Value = app
        .get("/v1/manage/booking", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        view["booking"]["answers"]["reason"], "A sore knee",
        "answers shown to the customer"
    );
    assert!(
        view.get("customer").is_none(),
        "the stored customer record is not shown"
    );
    let ics = app.get("/v1/manage/booking.ics", &token).await;
    assert_eq!(ics.status(), 200);
    assert!(
        ics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/calendar")
    );
    let ics = ics.text().await.unwrap();
    let uid = format!("UID:{}@bookwarden", created["id"].as_str().unwrap());
    assert!(ics.contains(&uid) && ics.contains("BEGIN:VEVENT"), "{ics}");
    let start_line = format!("DTSTART:{}", at_ten(&app, 2).strftime("%Y%m%dT%H%M%SZ"));
    assert!(ics.contains(&start_line), "{ics}");
    let moved = app
        .http
        .post(app.url("/v1/manage/booking/reschedule"))
        .bearer_auth(&token)
        .json(&json!({ "start": (at_ten(&app, 2) + SignedDuration::from_mins(15)).to_string() }))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), 409, "off the grid is not a slot");
    let moved = app
        .http
        .post(app.url("/v1/manage/booking/reschedule"))
        .bearer_auth(&token)
        .json(&json!({ "start": (at_ten(&app, 2) + SignedDuration::from_mins(30)).to_string() }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        moved.status(),
        200,
        "a half-hour later, overlapping its own old time"
    );
    let ics_after = app
        .get("/v1/manage/booking.ics", &token)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        ics_after.contains(&uid) && ics_after.contains("SEQUENCE:1"),
        "same UID, new sequence"
    );
    let freed = public_book(
        &app,
        slug,
        booking_body(&shop, at_ten(&app, 2), "dana@example.com"),
        None,
    )
    .await;
    assert_eq!(freed.status(), 201, "the old time is free again");
    let cancelled = app
        .http
        .post(app.url("/v1/manage/booking/cancel"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 200);
    let cancelled: Value = cancelled.json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["cancelled_by"], "customer");
    let rebooked = public_book(
        &app,
        slug,
        booking_body(
            &shop,
            at_ten(&app, 2) + SignedDuration::from_mins(30),
            "erin@example.com",
        ),
        None,
    )
    .await;
    assert_eq!(rebooked.status(), 201, "cancelling gives the time back");
    // Tokens travel in headers only, and a wrong one is simply unknown.
    assert_eq!(
        app.get("/v1/manage/booking", "bw_mng_nonsense")
            .await
            .status(),
        404
    );
    app.finish().await;
}

/// Listings are kept between visitors, and every change shows at once: a
/// booking, a cancellation through the manage link, a new schedule, a
/// staff-only listing, and time passing the first slot.
#[tokio::test]
async fn p13_kept_slot_listings_follow_bookings_cancellations_schedules_and_time() {
    let app = spawn_app().await;
    let shop = shop(&app).await;
    let slug = &shop.owner.slug;
    let from = at_ten(&app, 2) - SignedDuration::from_hours(1);
    let to = from + SignedDuration::from_hours(24);
    let url = format!(
        "/v1/public/{slug}/services/{}/slots?from={from}&to={to}&time_zone=Europe/Berlin",
        shop.service
    );
    let times = |body: Value| -> Vec<Timestamp> {
        listed_slots(&body)
            .iter()
            .map(|s| s["start"].as_str().unwrap().parse().unwrap())
            .collect()
    };
    let list = || async {
        let response = app.http.get(app.url(&url)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        times(response.json().await.unwrap())
    };
    let first = list().await;
    assert_eq!(first.len(), 16);
    assert_eq!(list().await, first, "the same listing again");
    // A booking takes its time out at once.
    let booked = public_book(
        &app,
        slug,
        booking_body(&shop, at_ten(&app, 2), "fay@example.com"),
        None,
    )
    .await;
    assert_eq!(booked.status(), 201);
    let token = booked.json::<Value>().await.unwrap()["manage_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let after_booking = list().await;
    assert_eq!(after_booking.len(), 15);
    assert!(!after_booking.contains(&at_ten(&app, 2)));
    // Cancelling through the manage link gives it back.
    let cancelled = app
        .http
        .post(app.url("/v1/manage/booking/cancel"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 200);
    assert_eq!(list().await, first);
    // One member's listing, and an unknown member refused.
    let member = app
        .http
        .get(app.url(&format!("{url}&staff_id={}", shop.staff)))
        .send()
        .await
        .unwrap();
    assert_eq!(member.status(), 200);
    assert_eq!(times(member.json().await.unwrap()), first);
    let stranger = app
        .http
        .get(app.url(&format!("{url}&staff_id={}", uuid::Uuid::new_v4())))
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), 422);
    // Shorter hours show at once.
    let weekly = every_day("09:00", "12:00");
    let schedule = app
        .http
        .put(app.url(&format!("/v1/staff/{}/schedule", shop.staff)))
        .bearer_auth(&shop.owner.token)
        .json(&json!({ "time_zone": "UTC", "weekly": weekly }))
        .send()
        .await
        .unwrap();
    assert_eq!(schedule.status(), 200);
    let shorter = list().await;
    assert_eq!(shorter.len(), 6, "09:00-12:00: {shorter:?}");
    // Time passing the first slot takes it out, with no write at all.
    let now = {
        use bookwarden_app::Clock as _;
        app.clock.now()
    };
    let seconds = shorter[0].duration_since(now).as_secs() + 2;
    app.clock.advance(seconds);
    assert_eq!(list().await, shorter[1..].to_vec());
    app.finish().await;
}

/// A change made by another server (its own store, so this process never
/// hears of it) binds bookings at once: the kept copy of the rules is
/// refused by the booking statement and the check runs again.
#[tokio::test]
async fn p13_a_change_by_another_server_binds_the_next_booking() {
    for engine in engines() {
        let app = spawn_with(Options {
            engine,
            ..Options::default()
        })
        .await;
        let shop = shop(&app).await;
        let slug = &shop.owner.slug;
        // This server keeps the business's rules.
        let listed = app
            .http
            .get(app.url(&format!("/v1/public/{slug}/services")))
            .send()
            .await
            .unwrap();
        assert_eq!(listed.status(), 200);
        // Another server suspends the business.
        let other = bookwarden_app::App::open_store(app.app.config())
            .await
            .unwrap();
        let tenant: bookwarden_domain::id::TenantId = shop.owner.tenant.parse().unwrap();
        let scope = other.write(tenant).await.unwrap();
        let mut row = scope.tenant_row().await.unwrap().unwrap();
        row.set_status(bookwarden_domain::tenant::TenantStatus::Suspended)
            .unwrap();
        assert!(scope.update_tenant(&row).await.unwrap());
        scope.commit().await.unwrap();
        other.close().await.unwrap();
        let refused = public_book(
            &app,
            slug,
            booking_body(&shop, at_ten(&app, 2), "gus@example.com"),
            None,
        )
        .await;
        assert_eq!(refused.status(), 404, "{engine:?}: a suspended business");
        app.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn p13_sixty_four_concurrent_public_bookings_for_one_slot_get_exactly_one_201() {
    for engine in engines() {
        let app = Arc::new(
            spawn_with(Options {
                engine,
                workers: 4,
                ..Options::default()
            })
            .await,
        );
        let shop = Arc::new(shop(&app).await);
        let start = at_ten(&app, 5);
        let mut tasks = Vec::new();
        for n in 0..64 {
            let (app, shop) = (app.clone(), shop.clone());
            tasks.push(tokio::spawn(async move {
                let body = booking_body(&shop, start, &format!("racer{n}@example.com"));
                public_book(&app, &shop.owner.slug, body, None)
                    .await
                    .status()
                    .as_u16()
            }));
        }
        let mut statuses = Vec::new();
        for task in tasks {
            statuses.push(task.await.unwrap());
        }
        assert_eq!(
            statuses.iter().filter(|s| **s == 201).count(),
            1,
            "{engine:?}: {statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 409).count(),
            63,
            "{engine:?}: {statuses:?}"
        );
        let owner = shop.owner.token.clone();
        let from = start - SignedDuration::from_hours(1);
        let list: Value = app
            .get(
                &format!(
                    "/v1/bookings?from={from}&to={}",
                    start + SignedDuration::from_hours(1)
                ),
                &owner,
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(list["bookings"].as_array().unwrap().len(), 1);
        drop(shop);
        Arc::into_inner(app).unwrap().finish().await;
    }
}

/// A new customer's email arriving in many first bookings at once: every
/// booking is made, all for one customer record, because the customer is
/// added in the booking's own statement and a request that meets the email
/// added a moment ago books for that customer.
#[tokio::test]
async fn p13_concurrent_first_bookings_for_one_new_email_share_one_customer() {
    for engine in engines() {
        let app = Arc::new(
            spawn_with(Options {
                engine,
                workers: 4,
                ..Options::default()
            })
            .await,
        );
        let shop = Arc::new(shop(&app).await);
        let mut tasks = Vec::new();
        for n in 0..16 {
            let (app, shop) = (app.clone(), shop.clone());
            tasks.push(tokio::spawn(async move {
                let body = booking_body(&shop, at_ten(&app, 2 + n), "twin@example.com");
                let response = public_book(&app, &shop.owner.slug, body, None).await;
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap();
                (status, body)
            }));
        }
        let mut customers = std::collections::BTreeSet::new();
        for task in tasks {
            let (status, body) = task.await.unwrap();
            assert_eq!(status, 201, "{engine:?}: {body}");
            customers.insert(body["customer_id"].as_str().unwrap().to_owned());
        }
        assert_eq!(customers.len(), 1, "{engine:?}: {customers:?}");
        let listed: Value = app
            .get("/v1/customers", &shop.owner.token)
            .await
            .json()
            .await
            .unwrap();
        let listed = listed["customers"].as_array().unwrap();
        assert_eq!(listed.len(), 1, "{engine:?}: {listed:?}");
        assert_eq!(
            listed[0]["id"].as_str(),
            customers.first().map(String::as_str)
        );
        drop(shop);
        Arc::into_inner(app).unwrap().finish().await;
    }
}

#[tokio::test]
async fn p13_slots_listed_in_a_customer_zone_on_a_dst_day_are_bookable_as_listed() {
    let app = spawn_app().await;
    let owner = app.owner().await;
    let staff: Value = app
        .post(
            "/v1/staff",
            Some(&owner.token),
            json!({ "name": "Nina Night" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let staff = staff["id"].as_str().unwrap().to_owned();
    // Berlin springs forward at 02:00 on 2027-03-28: 01:00-04:00 holds two real hours.
    let put = app
        .http
        .put(app.url(&format!("/v1/staff/{staff}/schedule")))
        .bearer_auth(&owner.token)
        .json(&json!({ "time_zone": "Europe/Berlin", "overrides": { "2027-03-28": [["01:00", "04:00"]] } }))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let service: Value = app
        .post("/v1/services", Some(&owner.token), json!({
            "name": "Night consult", "duration_minutes": 30, "horizon_days": 600, "staff": [staff],
        }))
        .await
        .json()
        .await
        .unwrap();
    let service = service["id"].as_str().unwrap();
    let slots: Value = app
        .http
        .get(app.url(&format!(
            "/v1/public/{}/services/{service}/slots?from=2027-03-27T12:00:00Z&to=2027-03-28T12:00:00Z&time_zone=America/New_York",
            owner.slug
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let slots = listed_slots(&slots);
    assert_eq!(slots.len(), 4, "two real hours: {slots:?}");
    let locals: Vec<&str> = slots.iter().map(|s| s["start"].as_str().unwrap()).collect();
    // New York is already on summer time (UTC-4): Berlin's 01:00 CET is 20:00
    // there, and its 03:00 CEST, right after the gap, is 21:00.
    assert_eq!(
        locals,
        [
            "2027-03-27T20:00:00-04:00",
            "2027-03-27T20:30:00-04:00",
            "2027-03-27T21:00:00-04:00",
            "2027-03-27T21:30:00-04:00"
        ]
    );
    for (n, slot) in slots.iter().enumerate() {
        let body = json!({
            "service_id": service,
            "start": slot["start"],
            "customer": { "email": format!("owl{n}@example.com"), "name": "Owl" },
        });
        let booked = public_book(&app, &owner.slug, body, None).await;
        assert_eq!(booked.status(), 201, "slot {slot} is bookable as listed");
    }
    app.finish().await;
}

#[tokio::test]
async fn p1_staff_manage_only_their_own_schedule_and_bookings_and_keys_keep_to_their_scopes() {
    let app = spawn_app().await;
    let shop = shop(&app).await;
    let owner = &shop.owner;
    let (sam_user, sam) = app
        .member(owner, &owner.token, "staff", "sam@clinic.example")
        .await;
    let linked: Value = app
        .post(
            "/v1/staff",
            Some(&owner.token),
            json!({ "name": "Sam Staff", "user_id": sam_user }),
        )
        .await
        .json()
        .await
        .unwrap();
    let sam_staff = linked["id"].as_str().unwrap().to_owned();
    let hours = json!({ "time_zone": "UTC", "weekly": { "monday": [["08:00", "12:00"]] } });
    let put = |token: String, staff: String| {
        let request = app
            .http
            .put(app.url(&format!("/v1/staff/{staff}/schedule")))
            .bearer_auth(token)
            .json(&hours);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(
        put(sam.clone(), sam_staff.clone()).await,
        200,
        "own schedule"
    );
    assert_eq!(
        put(sam.clone(), shop.staff.clone()).await,
        403,
        "someone else's"
    );
    assert_eq!(
        app.post(
            "/v1/services",
            Some(&sam),
            json!({ "name": "x", "duration_minutes": 30, "staff": [] })
        )
        .await
        .status(),
        403
    );
    assert_eq!(app.get("/v1/customers", &sam).await.status(), 403);
    let known = app
        .post(
            "/v1/customers",
            Some(&owner.token),
            json!({ "email": "vip@example.com", "name": "Vee Ip", "phone": "+4915112345678" }),
        )
        .await;
    assert_eq!(known.status(), 201);
    let probe = app
        .post(
            "/v1/customers",
            Some(&sam),
            json!({ "email": "vip@example.com", "name": "Guess" }),
        )
        .await;
    assert_eq!(
        probe.status(),
        409,
        "staff cannot read a record by guessing its email"
    );
    assert!(!probe.text().await.unwrap().contains("+4915112345678"));
    // Bookings: the admin books with the shop's staff member; Sam sees none of it.
    let booked: Value = app
        .post(
            "/v1/bookings",
            Some(&owner.token),
            booking_body(&shop, at_ten(&app, 2), "casey@example.com"),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(booked["status"], "confirmed");
    let id = booked["id"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/v1/bookings/{id}"), &sam).await.status(),
        404,
        "not Sam's"
    );
    assert_eq!(
        app.get(&format!("/v1/bookings/{id}"), &owner.token)
            .await
            .status(),
        200
    );
    let from = at_ten(&app, 1);
    let to = at_ten(&app, 4);
    let mine: Value = app
        .get(&format!("/v1/bookings?from={from}&to={to}"), &sam)
        .await
        .json()
        .await
        .unwrap();
    assert!(mine["bookings"].as_array().unwrap().is_empty());
    let theirs = app
        .get(
            &format!("/v1/bookings?from={from}&to={to}&staff_id={}", shop.staff),
            &sam,
        )
        .await;
    assert_eq!(theirs.status(), 403);
    // The customer filter narrows the listing to that customer's bookings.
    let other: Value = app
        .post(
            "/v1/bookings",
            Some(&owner.token),
            booking_body(&shop, at_ten(&app, 1), "drew@example.com"),
        )
        .await
        .json()
        .await
        .unwrap();
    let listing_app = &app;
    let listed = |customer: String| {
        let token = owner.token.clone();
        async move {
            let found: Value = listing_app
                .get(
                    &format!("/v1/bookings?from={from}&to={to}&customer_id={customer}"),
                    &token,
                )
                .await
                .json()
                .await
                .unwrap();
            found["bookings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let casey = booked["customer_id"].as_str().unwrap().to_owned();
    let drew = other["customer_id"].as_str().unwrap().to_owned();
    assert_ne!(casey, drew);
    assert_eq!(listed(casey).await, vec![id.to_owned()]);
    assert_eq!(
        listed(drew).await,
        vec![other["id"].as_str().unwrap().to_owned()]
    );
    assert!(listed(uuid::Uuid::new_v4().to_string()).await.is_empty());
    // Keys: read lists, write books, neither administers.
    let shared = &app;
    let key = |scope: &str| {
        let body = json!({ "name": scope, "scopes": [scope] });
        let owner = owner.token.clone();
        async move {
            let created: Value = shared
                .post("/v1/api-keys", Some(&owner), body)
                .await
                .json()
                .await
                .unwrap();
            created["token"].as_str().unwrap().to_owned()
        }
    };
    let read = key("read").await;
    let write = key("write").await;
    assert_eq!(app.get("/v1/services", &read).await.status(), 200);
    assert_eq!(
        app.post(
            "/v1/bookings",
            Some(&read),
            booking_body(&shop, at_ten(&app, 3), "a@example.com")
        )
        .await
        .status(),
        403
    );
    assert_eq!(
        app.post(
            "/v1/bookings",
            Some(&write),
            booking_body(&shop, at_ten(&app, 3), "a@example.com")
        )
        .await
        .status(),
        201
    );
    assert_eq!(
        app.post("/v1/staff", Some(&write), json!({ "name": "Nope" }))
            .await
            .status(),
        403
    );
    // Business-side cancel and reschedule.
    let moved = app
        .post(
            &format!("/v1/bookings/{id}/reschedule"),
            Some(&owner.token),
            json!({ "start": at_ten(&app, 6).to_string() }),
        )
        .await;
    assert_eq!(moved.status(), 200);
    let cancelled: Value = app
        .post(
            &format!("/v1/bookings/{id}/cancel"),
            Some(&owner.token),
            json!(null),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled["cancelled_by"], "staff");
    let twice = app
        .post(
            &format!("/v1/bookings/{id}/cancel"),
            Some(&owner.token),
            json!(null),
        )
        .await;
    assert_eq!(twice.status(), 409);
    app.finish().await;
}

#[tokio::test]
async fn p1_another_tenants_bookings_services_staff_and_customers_answer_like_missing_ones() {
    let app = spawn_app().await;
    let a = shop(&app).await;
    let b = shop(&app).await;
    let booked: Value = app
        .post(
            "/v1/bookings",
            Some(&b.owner.token),
            booking_body(&b, at_ten(&app, 2), "bee@example.com"),
        )
        .await
        .json()
        .await
        .unwrap();
    let customer = booked["customer_id"].as_str().unwrap();
    let booking = booked["id"].as_str().unwrap();
    let missing = "6c0f5e0e-3f5a-4c1e-9b55-0e5f3c1d2a77";
    for path in [
        format!("/v1/bookings/{booking}"),
        format!("/v1/services/{}", b.service),
        format!("/v1/staff/{}", b.staff),
        format!("/v1/staff/{}/schedule", b.staff),
        format!("/v1/customers/{customer}"),
    ] {
        let foreign = app.get(&path, &a.owner.token).await;
        let unknown_path = path.replace(path.rsplit('/').find(|p| p.len() == 36).unwrap(), missing);
        let unknown = app.get(&unknown_path, &a.owner.token).await;
        assert_eq!(foreign.status(), 404, "{path}");
        assert_eq!(
            foreign.bytes().await.unwrap(),
            unknown.bytes().await.unwrap(),
            "{path}"
        );
    }
    // A's service cannot be booked with B's staff, nor B's service through A.
    let mut crossed = booking_body(&a, at_ten(&app, 3), "x@example.com");
    crossed["staff_id"] = json!(b.staff);
    let crossed = public_book(&app, &a.owner.slug, crossed, None).await;
    let mut random = booking_body(&a, at_ten(&app, 3), "x@example.com");
    random["staff_id"] = json!(missing);
    let random = public_book(&app, &a.owner.slug, random, None).await;
    assert_eq!(crossed.status(), 422);
    assert_eq!(
        crossed.bytes().await.unwrap(),
        random.bytes().await.unwrap(),
        "B's staff member is as unknown to A's service as a random id"
    );
    let foreign_service = booking_body(&b, at_ten(&app, 3), "x@example.com");
    assert_eq!(
        public_book(&app, &a.owner.slug, foreign_service, None)
            .await
            .status(),
        422
    );
    for path in [
        format!("/v1/bookings/{booking}/cancel"),
        format!("/v1/bookings/{booking}/confirm"),
    ] {
        assert_eq!(
            app.post(&path, Some(&a.owner.token), json!(null))
                .await
                .status(),
            404
        );
    }
    let still: Value = app
        .get(&format!("/v1/bookings/{booking}"), &b.owner.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(still["status"], "confirmed", "B's booking untouched");
    app.finish().await;
}

#[tokio::test]
async fn p13_requested_bookings_are_confirmed_and_things_in_use_are_not_deleted() {
    let app = spawn_app().await;
    let shop = shop(&app).await;
    let owner = &shop.owner.token;
    let public: Value = public_book(
        &app,
        &shop.owner.slug,
        booking_body(&shop, at_ten(&app, 2), "pat@example.com"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        public["status"], "requested",
        "a public booking waits for the business"
    );
    let id = public["id"].as_str().unwrap();
    let confirmed: Value = app
        .post(
            &format!("/v1/bookings/{id}/confirm"),
            Some(owner),
            json!(null),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(confirmed["status"], "confirmed");
    let again = app
        .post(
            &format!("/v1/bookings/{id}/confirm"),
            Some(owner),
            json!(null),
        )
        .await;
    assert_eq!(again.status(), 409, "only a requested booking is confirmed");
    let customer = public["customer_id"].as_str().unwrap();
    let fetched: Value = app
        .get(&format!("/v1/customers/{customer}"), owner)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["email"], "pat@example.com");
    let service: Value = app
        .get(&format!("/v1/services/{}", shop.service), owner)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(service["price"]["amount_minor"], 4500);
    // In use: a staff member and a service with bookings stay.
    assert_eq!(
        app.delete(&format!("/v1/staff/{}", shop.staff), owner)
            .await
            .status(),
        409
    );
    assert_eq!(
        app.delete(&format!("/v1/services/{}", shop.service), owner)
            .await
            .status(),
        409
    );
    // Unused ones go.
    let spare: Value = app
        .post("/v1/staff", Some(owner), json!({ "name": "Spare" }))
        .await
        .json()
        .await
        .unwrap();
    let spare = spare["id"].as_str().unwrap();
    let unused: Value = app
        .post(
            "/v1/services",
            Some(owner),
            json!({ "name": "Unused", "duration_minutes": 15, "staff": [spare] }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        app.delete(
            &format!("/v1/services/{}", unused["id"].as_str().unwrap()),
            owner
        )
        .await
        .status(),
        204
    );
    assert_eq!(
        app.delete(&format!("/v1/staff/{spare}"), owner)
            .await
            .status(),
        204
    );
    assert_eq!(
        app.get(&format!("/v1/staff/{spare}"), owner).await.status(),
        404
    );
    let listed: Value = app.get("/v1/staff", owner).await.json().await.unwrap();
    assert_eq!(listed["staff"].as_array().unwrap().len(), 1);
    app.finish().await;
}
