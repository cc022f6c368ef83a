//! Calendar connections as the schedule around them changes (P4).

use std::collections::BTreeMap;

use bookwarden_domain::calendar::{ConnectionStatus, Provider, SyncMode};
use bookwarden_domain::id::{ConnectionId, ScheduleId};
use bookwarden_domain::schedule::{Schedule, ScheduleSpec, WeeklyHours};
use bookwarden_domain::time::TimeZone;
use bookwarden_persistence::ConnectionRecord;

use crate::bookings::desk;
use crate::harness::{TestDb, engines, now};

fn schedule(d: &crate::bookings::Desk, id: ScheduleId, zone: &str) -> Schedule {
    Schedule::new(
        id,
        d.tenant,
        d.staff,
        ScheduleSpec {
            zone: TimeZone::parse(zone).unwrap(),
            weekly: WeeklyHours::closed(),
            overrides: BTreeMap::new(),
            time_off: Vec::new(),
        },
    )
    .unwrap()
}

#[tokio::test]
async fn p4_a_staff_members_new_time_zone_makes_their_calendars_sync_again_in_full() {
    for engine in engines().await {
        let db = TestDb::new(engine).await;
        let d = desk(&db.store, 1, 0, 0).await;
        let id = ScheduleId::random();
        let connection = ConnectionRecord {
            id: ConnectionId::random(),
            staff: d.staff,
            provider: Provider::Ics,
            mode: SyncMode::BusyOnly,
            status: ConnectionStatus::Healthy,
            label: "feed.example".to_owned(),
            sealed_secret: Some(vec![0xAB; 80]),
            sync_cursor: Some("ics2\u{1f}etag\u{1f}\u{1f}digest".to_owned()),
            last_synced_at: Some(now()),
            failures: 0,
            next_sync_at: Some(now() + bookwarden_domain::jiff::SignedDuration::from_mins(15)),
            last_error: None,
            degraded: false,
            synced_until: None,
            created_at: now(),
        };
        let scope = db.store.write(d.tenant).await.unwrap();
        scope
            .schedules()
            .put(&schedule(&d, id, "Europe/Berlin"))
            .await
            .unwrap();
        scope.calendars().insert(&connection).await.unwrap();
        // The same zone again: nothing to sync again.
        scope
            .schedules()
            .put(&schedule(&d, id, "Europe/Berlin"))
            .await
            .unwrap();
        let kept = scope.calendars().get(connection.id).await.unwrap().unwrap();
        assert_eq!(kept.sync_cursor, connection.sync_cursor, "{engine:?}");
        assert_eq!(kept.next_sync_at, connection.next_sync_at, "{engine:?}");
        // Another zone: the cursor (with the unchanged feed's digest) goes,
        // and the connection is due at once.
        scope
            .schedules()
            .put(&schedule(&d, id, "America/New_York"))
            .await
            .unwrap();
        let moved = scope.calendars().get(connection.id).await.unwrap().unwrap();
        assert_eq!(moved.sync_cursor, None, "{engine:?}");
        assert!(
            moved.next_sync_at.is_some_and(|at| at <= now()),
            "{engine:?}"
        );
        assert_eq!(
            scope.calendars().due(now(), 10).await.unwrap(),
            vec![connection.id],
            "{engine:?}"
        );
        scope.commit().await.unwrap();
        db.finish().await;
    }
}

/// A sync recording its result must not make every cached copy of the
/// catalog (the tenant row, services, schedules) be read again: with syncs
/// back to back beside the booking page, that cost bookings a third of
/// their rate. A change to the catalog still moves the count at once.
#[tokio::test]
async fn p4_a_sync_recording_its_result_leaves_the_catalog_epoch_a_schedule_change_moves_it() {
    for engine in engines().await {
        let db = TestDb::new(engine).await;
        let d = desk(&db.store, 1, 0, 0).await;
        let other = desk(&db.store, 1, 0, 0).await;
        let id = ScheduleId::random();
        let connection = ConnectionRecord {
            id: ConnectionId::random(),
            staff: d.staff,
            provider: Provider::Ics,
            mode: SyncMode::BusyOnly,
            status: ConnectionStatus::Healthy,
            label: "feed.example".to_owned(),
            sealed_secret: None,
            sync_cursor: None,
            last_synced_at: None,
            failures: 0,
            next_sync_at: Some(now()),
            last_error: None,
            degraded: false,
            synced_until: None,
            created_at: now(),
        };
        let scope = db.store.write(d.tenant).await.unwrap();
        scope.calendars().insert(&connection).await.unwrap();
        scope.commit().await.unwrap();

        let (catalog, any) = (
            db.store.catalog_epoch(d.tenant),
            db.store.write_epoch(d.tenant),
        );
        let until = now() + bookwarden_domain::jiff::SignedDuration::from_mins(5);
        let scope = db.store.write(d.tenant).await.unwrap();
        assert!(
            scope
                .calendars()
                .claim(connection.id, now(), until)
                .await
                .unwrap()
        );
        scope.commit().await.unwrap();
        let scope = db.store.write(d.tenant).await.unwrap();
        assert!(
            scope
                .calendars()
                .schedule(connection.id, now())
                .await
                .unwrap()
        );
        scope.commit().await.unwrap();
        assert_eq!(db.store.catalog_epoch(d.tenant), catalog, "{engine:?}");
        assert!(db.store.write_epoch(d.tenant) > any, "{engine:?}");

        let scope = db.store.write(d.tenant).await.unwrap();
        scope
            .schedules()
            .put(&schedule(&d, id, "Europe/Berlin"))
            .await
            .unwrap();
        scope.commit().await.unwrap();
        let moved = db.store.catalog_epoch(d.tenant);
        assert!(moved > catalog, "{engine:?}");

        // Each tenant's next change moves its count.
        for (tenant, staff) in [(other.tenant, other.staff), (d.tenant, d.staff)] {
            let before = db.store.catalog_epoch(tenant);
            let scope = db.store.write(tenant).await.unwrap();
            let changed = Schedule::new(
                ScheduleId::random(),
                tenant,
                staff,
                ScheduleSpec {
                    zone: TimeZone::parse("Asia/Tokyo").unwrap(),
                    weekly: WeeklyHours::closed(),
                    overrides: BTreeMap::new(),
                    time_off: Vec::new(),
                },
            )
            .unwrap();
            scope.schedules().put(&changed).await.unwrap();
            scope.commit().await.unwrap();
            assert!(db.store.catalog_epoch(tenant) > before, "{engine:?}");
        }
        db.finish().await;
    }
}
