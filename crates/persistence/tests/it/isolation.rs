//! Tenant isolation (P1): a scope bound to one tenant never sees or changes
//! another tenant's rows, and another tenant's id answers exactly as an id
//! that does not exist.

use std::collections::BTreeMap;

use bookwarden_domain::account::{Customer, PersonName, StaffMember};
use bookwarden_domain::booking::{AnyBooking, CancelledBy};
use bookwarden_domain::id::{BookingId, CustomerId, ServiceId, StaffId, TenantId};
use bookwarden_domain::time::TimeRange;
use bookwarden_persistence::{Store, StoreError};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::bookings::{Desk, booking, desk, try_book};
use crate::harness::{Engine, TestDb, customer, engines, now, service, staff_member, tenant};

#[tokio::test]
async fn p1_foreign_ids_answer_exactly_as_missing_ids() {
    for engine in engines().await {
        let db = TestDb::new(engine).await;
        let a = desk(&db.store, 1, 0, 0).await;
        let b = desk(&db.store, 1, 0, 0).await;
        let b_booking = booking(&b, 0, 60, 1);
        try_book(&db.store, &b, &b_booking).await.unwrap();

        let scope = db.store.write(a.tenant).await.unwrap();
        // Reads of B's ids from A's scope: nothing, as for random ids.
        assert_eq!(
            scope.staff().get(b.staff).await.unwrap(),
            None,
            "{engine:?}"
        );
        assert_eq!(scope.staff().get(StaffId::random()).await.unwrap(), None);
        assert_eq!(scope.customers().get(b.customer).await.unwrap(), None);
        assert_eq!(scope.services().get(b.service.id()).await.unwrap(), None);
        assert_eq!(scope.bookings().get(b_booking.id()).await.unwrap(), None);
        // Writes to B's ids from A's scope change nothing.
        let name = PersonName::parse("Mallory").unwrap();
        assert!(!scope.staff().rename(b.staff, &name).await.unwrap());
        assert!(!scope.staff().delete(b.staff).await.unwrap());
        assert!(!scope.customers().delete(b.customer).await.unwrap());
        assert!(!scope.services().delete(b.service.id()).await.unwrap());
        // Lists hold A's rows only.
        let staff: Vec<StaffId> = scope
            .staff()
            .list()
            .await
            .unwrap()
            .iter()
            .map(StaffMember::id)
            .collect();
        assert_eq!(staff, vec![a.staff]);
        scope.commit().await.unwrap();

        // A value of B handed to A's scope is refused, not written under A.
        let scope = db.store.write(a.tenant).await.unwrap();
        let err = scope
            .staff()
            .insert(&staff_member(b.tenant, "Eve"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::WrongTenant),
            "{engine:?}: {err:?}"
        );
        let err = scope
            .bookings()
            .create(&b_booking, &b.service, None, None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::WrongTenant),
            "{engine:?}: {err:?}"
        );
        scope.rollback().await.unwrap();

        // B's rows are intact.
        let scope = db.store.read(b.tenant).await.unwrap();
        assert_eq!(
            scope
                .staff()
                .get(b.staff)
                .await
                .unwrap()
                .unwrap()
                .name()
                .as_str(),
            "Sam"
        );
        assert!(
            scope
                .bookings()
                .get(b_booking.id())
                .await
                .unwrap()
                .is_some()
        );
        scope.rollback().await.unwrap();
        db.finish().await;
    }
}

#[tokio::test]
async fn p1_the_same_email_in_two_tenants_reveals_nothing() {
    for engine in engines().await {
        let db = TestDb::new(engine).await;
        let a = tenant(&db.store).await;
        let b = tenant(&db.store).await;
        for t in [a.id(), b.id()] {
            let scope = db.store.write(t).await.unwrap();
            scope
                .customers()
                .insert(&customer(t, "same@example.com"), now())
                .await
                .unwrap();
            scope.commit().await.unwrap();
        }
        let scope = db.store.write(a.id()).await.unwrap();
        let err = scope
            .customers()
            .insert(&customer(a.id(), "same@example.com"), now())
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Duplicate(bookwarden_persistence::Unique::CustomerEmail)
            ),
            "{engine:?}: {err:?}"
        );
        scope.rollback().await.unwrap();
        db.finish().await;
    }
}

/// One operation of the isolation state machine. `via` picks the tenant
/// whose scope runs it; `pick` picks an id from every tenant's ids ever
/// created, or (past their count) a random id that exists nowhere.
#[derive(Clone, Debug)]
enum Op {
    AddStaff { via: usize, name: u8 },
    RenameStaff { via: usize, pick: usize, name: u8 },
    DeleteStaff { via: usize, pick: usize },
    GetStaff { via: usize, pick: usize },
    ListStaff { via: usize },
    AddCustomer { via: usize, email: u8 },
    DeleteCustomer { via: usize, pick: usize },
    GetCustomer { via: usize, pick: usize },
    ListCustomers { via: usize },
    AddService { via: usize, staff_pick: usize },
    GetService { via: usize, pick: usize },
    DeleteService { via: usize, pick: usize },
    PlantForeign { via: usize, owner: usize },
    Book { via: usize, hour: u8 },
    GetBooking { via: usize, pick: usize },
    CancelBooking { via: usize, pick: usize },
    ListBookings { via: usize },
}

const TENANTS: usize = 3;

fn op() -> impl Strategy<Value = Op> {
    let t = 0..TENANTS;
    let pick = 0_usize..64;
    prop_oneof![
        3 => (t.clone(), any::<u8>()).prop_map(|(via, name)| Op::AddStaff { via, name }),
        2 => (t.clone(), pick.clone(), any::<u8>()).prop_map(|(via, pick, name)| Op::RenameStaff { via, pick, name }),
        1 => (t.clone(), pick.clone()).prop_map(|(via, pick)| Op::DeleteStaff { via, pick }),
        3 => (t.clone(), pick.clone()).prop_map(|(via, pick)| Op::GetStaff { via, pick }),
        1 => t.clone().prop_map(|via| Op::ListStaff { via }),
        3 => (t.clone(), 0_u8..12).prop_map(|(via, email)| Op::AddCustomer { via, email }),
        1 => (t.clone(), pick.clone()).prop_map(|(via, pick)| Op::DeleteCustomer { via, pick }),
        3 => (t.clone(), pick.clone()).prop_map(|(via, pick)| Op::GetCustomer { via, pick }),
        1 => t.clone().prop_map(|via| Op::ListCustomers { via }),
        2 => (t.clone(), pick.clone()).prop_map(|(via, staff_pick)| Op::AddService { via, staff_pick }),
        3 => (t.clone(), pick.clone()).prop_map(|(via, pick)| Op::GetService { via, pick }),
        1 => (t.clone(), pick.clone()).prop_map(|(via, pick)| Op::DeleteService { via, pick }),
        1 => (t.clone(), t.clone()).prop_map(|(via, owner)| Op::PlantForeign { via, owner }),
        3 => (t.clone(), 0_u8..12).prop_map(|(via, hour)| Op::Book { via, hour }),
        3 => (t.clone(), pick.clone()).prop_map(|(via, pick)| Op::GetBooking { via, pick }),
        2 => (t.clone(), pick).prop_map(|(via, pick)| Op::CancelBooking { via, pick }),
        1 => t.prop_map(|via| Op::ListBookings { via }),
    ]
}

/// What each tenant holds, as the model expects.
#[derive(Default)]
struct Model {
    staff: BTreeMap<StaffId, (usize, String)>,
    customers: BTreeMap<CustomerId, (usize, String)>,
    services: BTreeMap<ServiceId, (usize, StaffId)>,
    /// Every id ever made, in order, for picking.
    staff_ids: Vec<StaffId>,
    customer_ids: Vec<CustomerId>,
    service_ids: Vec<ServiceId>,
    /// Bookings: owner, hour booked, still active.
    bookings: BTreeMap<BookingId, (usize, u8, bool)>,
    booking_ids: Vec<BookingId>,
}

fn pick<T: Copy>(ids: &[T], pick: usize, fresh: impl Fn() -> T) -> T {
    ids.get(pick).copied().unwrap_or_else(fresh)
}

async fn run_ops(store: &Store, desks: &[Desk], ops: &[Op]) -> Result<(), TestCaseError> {
    let tenants: Vec<TenantId> = desks.iter().map(|d| d.tenant).collect();
    let all_time = TimeRange::new(
        "2026-01-01T00:00:00Z".parse().unwrap(),
        "2028-01-01T00:00:00Z".parse().unwrap(),
    )
    .unwrap();
    let mut m = Model::default();
    // The desks exist in the model too, but are not offered for picking.
    for (via, d) in desks.iter().enumerate() {
        m.staff.insert(d.staff, (via, "Sam".to_owned()));
        m.customers
            .insert(d.customer, (via, "ada@example.com".to_owned()));
        m.services.insert(d.service.id(), (via, d.staff));
    }
    for (step, op) in ops.iter().enumerate() {
        let ctx = format!("step {step}: {op:?}");
        match *op {
            Op::AddStaff { via, name } => {
                let member = staff_member(tenants[via], &format!("Staff {name}"));
                let scope = store.write(tenants[via]).await.unwrap();
                scope.staff().insert(&member).await.unwrap();
                scope.commit().await.unwrap();
                m.staff
                    .insert(member.id(), (via, member.name().as_str().to_owned()));
                m.staff_ids.push(member.id());
            }
            Op::RenameStaff { via, pick: p, name } => {
                let id = pick(&m.staff_ids, p, StaffId::random);
                let new = PersonName::parse(&format!("Renamed {name}")).unwrap();
                let scope = store.write(tenants[via]).await.unwrap();
                let done = scope.staff().rename(id, &new).await.unwrap();
                scope.commit().await.unwrap();
                let expect = matches!(m.staff.get(&id), Some((owner, _)) if *owner == via);
                prop_assert_eq!(done, expect, "{}", ctx);
                if done {
                    m.staff.insert(id, (via, new.as_str().to_owned()));
                }
            }
            Op::DeleteStaff { via, pick: p } => {
                let id = pick(&m.staff_ids, p, StaffId::random);
                let scope = store.write(tenants[via]).await.unwrap();
                let done = scope.staff().delete(id).await.unwrap();
                scope.commit().await.unwrap();
                let expect = matches!(m.staff.get(&id), Some((owner, _)) if *owner == via);
                prop_assert_eq!(done, expect, "{}", ctx);
                if done {
                    m.staff.remove(&id);
                    // Assignments cascade; a service may be left with no staff.
                }
            }
            Op::GetStaff { via, pick: p } => {
                let id = pick(&m.staff_ids, p, StaffId::random);
                let scope = store.read(tenants[via]).await.unwrap();
                let got = scope.staff().get(id).await.unwrap();
                scope.rollback().await.unwrap();
                let expect = m
                    .staff
                    .get(&id)
                    .filter(|(owner, _)| *owner == via)
                    .map(|(_, n)| n.clone());
                prop_assert_eq!(got.map(|s| s.name().as_str().to_owned()), expect, "{}", ctx);
            }
            Op::ListStaff { via } => {
                let scope = store.read(tenants[via]).await.unwrap();
                let got: Vec<StaffId> = scope
                    .staff()
                    .list()
                    .await
                    .unwrap()
                    .iter()
                    .map(StaffMember::id)
                    .collect();
                scope.rollback().await.unwrap();
                let expect: Vec<StaffId> = m
                    .staff
                    .iter()
                    .filter(|(_, (o, _))| *o == via)
                    .map(|(id, _)| *id)
                    .collect();
                prop_assert_eq!(got, expect, "{}", ctx);
            }
            Op::AddCustomer { via, email } => {
                let address = format!("c{email}@example.com");
                let c = customer(tenants[via], &address);
                let scope = store.write(tenants[via]).await.unwrap();
                let result = scope.customers().insert(&c, now()).await;
                let taken = m
                    .customers
                    .values()
                    .any(|(o, e)| *o == via && *e == address);
                match result {
                    Ok(()) => {
                        prop_assert!(!taken, "{}: duplicate accepted", ctx);
                        scope.commit().await.unwrap();
                        m.customers.insert(c.id(), (via, address));
                        m.customer_ids.push(c.id());
                    }
                    Err(StoreError::Duplicate(bookwarden_persistence::Unique::CustomerEmail)) => {
                        prop_assert!(taken, "{}: refused though only other tenants use it", ctx);
                        scope.rollback().await.unwrap();
                    }
                    Err(e) => prop_assert!(false, "{}: {:?}", ctx, e),
                }
            }
            Op::DeleteCustomer { via, pick: p } => {
                let id = pick(&m.customer_ids, p, CustomerId::random);
                let scope = store.write(tenants[via]).await.unwrap();
                let done = scope.customers().delete(id).await.unwrap();
                scope.commit().await.unwrap();
                let expect = matches!(m.customers.get(&id), Some((owner, _)) if *owner == via);
                prop_assert_eq!(done, expect, "{}", ctx);
                if done {
                    m.customers.remove(&id);
                }
            }
            Op::GetCustomer { via, pick: p } => {
                let id = pick(&m.customer_ids, p, CustomerId::random);
                let scope = store.read(tenants[via]).await.unwrap();
                let got = scope.customers().get(id).await.unwrap();
                scope.rollback().await.unwrap();
                let expect = m
                    .customers
                    .get(&id)
                    .filter(|(owner, _)| *owner == via)
                    .map(|(_, e)| e.clone());
                prop_assert_eq!(
                    got.map(|c| c.email().as_str().to_owned()),
                    expect,
                    "{}",
                    ctx
                );
            }
            Op::ListCustomers { via } => {
                let scope = store.read(tenants[via]).await.unwrap();
                let got: Vec<CustomerId> = scope
                    .customers()
                    .list()
                    .await
                    .unwrap()
                    .iter()
                    .map(Customer::id)
                    .collect();
                scope.rollback().await.unwrap();
                let expect: Vec<CustomerId> = m
                    .customers
                    .iter()
                    .filter(|(_, (o, _))| *o == via)
                    .map(|(id, _)| *id)
                    .collect();
                prop_assert_eq!(got, expect, "{}", ctx);
            }
            Op::AddService { via, staff_pick } => {
                // Assign a staff member drawn from every tenant: a foreign or
                // missing one must be refused by the composite foreign key.
                let member = pick(&m.staff_ids, staff_pick, StaffId::random);
                let svc = service(tenants[via], &[member], 1, 0, 0);
                let scope = store.write(tenants[via]).await.unwrap();
                let result = scope.services().insert(&svc).await;
                let own = matches!(m.staff.get(&member), Some((owner, _)) if *owner == via);
                match result {
                    Ok(()) => {
                        prop_assert!(own, "{}: assigned a foreign or missing staff member", ctx);
                        scope.commit().await.unwrap();
                        m.services.insert(svc.id(), (via, member));
                        m.service_ids.push(svc.id());
                    }
                    Err(StoreError::MissingReference(_)) => {
                        prop_assert!(!own, "{}: refused its own staff member", ctx);
                        scope.rollback().await.unwrap();
                    }
                    Err(e) => prop_assert!(false, "{}: {:?}", ctx, e),
                }
            }
            Op::GetService { via, pick: p } => {
                let id = pick(&m.service_ids, p, ServiceId::random);
                let scope = store.read(tenants[via]).await.unwrap();
                let got = scope.services().get(id).await.unwrap();
                scope.rollback().await.unwrap();
                let expect = m.services.get(&id).filter(|(owner, _)| *owner == via);
                prop_assert_eq!(got.is_some(), expect.is_some(), "{}", ctx);
                if let (Some(got), Some((_, member))) = (got, expect) {
                    let staff_left: Vec<StaffId> = if m.staff.contains_key(member) {
                        vec![*member]
                    } else {
                        vec![]
                    };
                    prop_assert_eq!(got.staff().to_vec(), staff_left, "{}", ctx);
                }
            }
            Op::DeleteService { via, pick: p } => {
                let id = pick(&m.service_ids, p, ServiceId::random);
                let scope = store.write(tenants[via]).await.unwrap();
                let done = scope.services().delete(id).await.unwrap();
                scope.commit().await.unwrap();
                let expect = matches!(m.services.get(&id), Some((owner, _)) if *owner == via);
                prop_assert_eq!(done, expect, "{}", ctx);
                if done {
                    m.services.remove(&id);
                }
            }
            Op::Book { via, hour } => {
                let d = &desks[via];
                let b = booking(d, i64::from(hour) * 60, 60, 1);
                // Half through the one-trip path, half through a scope.
                let result = if hour % 2 == 0 {
                    store
                        .booker(b.tenant())
                        .book(&b, &d.service, None, None)
                        .await
                } else {
                    try_book(store, d, &b).await
                };
                let taken = m
                    .bookings
                    .values()
                    .any(|&(o, h, active)| o == via && h == hour && active);
                match result {
                    Ok(_) => {
                        prop_assert!(!taken, "{}: double booking accepted", ctx);
                        m.bookings.insert(b.id(), (via, hour, true));
                        m.booking_ids.push(b.id());
                    }
                    Err(StoreError::SlotTaken) => {
                        prop_assert!(taken, "{}: refused a free hour", ctx)
                    }
                    Err(e) => prop_assert!(false, "{}: {:?}", ctx, e),
                }
            }
            Op::GetBooking { via, pick: p } => {
                let id = pick(&m.booking_ids, p, BookingId::random);
                let scope = store.read(tenants[via]).await.unwrap();
                let got = scope.bookings().get(id).await.unwrap();
                scope.rollback().await.unwrap();
                let expect = m.bookings.get(&id).filter(|(owner, _, _)| *owner == via);
                prop_assert_eq!(got.is_some(), expect.is_some(), "{}", ctx);
                if let (Some(got), Some(&(_, _, active))) = (got, expect) {
                    prop_assert_eq!(got.is_active(), active, "{}", ctx);
                }
            }
            Op::CancelBooking { via, pick: p } => {
                let id = pick(&m.booking_ids, p, BookingId::random);
                let scope = store.write(tenants[via]).await.unwrap();
                let done = match scope.bookings().get(id).await.unwrap() {
                    Some(AnyBooking::Requested(b)) => {
                        let cancelled = b.cancel(CancelledBy::Staff, now()).unwrap();
                        scope.bookings().cancel(&cancelled).await.unwrap()
                    }
                    _ => false,
                };
                scope.commit().await.unwrap();
                let expect = matches!(m.bookings.get(&id), Some((owner, _, true)) if *owner == via);
                prop_assert_eq!(done, expect, "{}", ctx);
                if done && let Some(entry) = m.bookings.get_mut(&id) {
                    entry.2 = false;
                }
            }
            Op::ListBookings { via } => {
                let scope = store.read(tenants[via]).await.unwrap();
                let mut got: Vec<BookingId> = scope
                    .bookings()
                    .list(all_time, None)
                    .await
                    .unwrap()
                    .iter()
                    .map(AnyBooking::id)
                    .collect();
                scope.rollback().await.unwrap();
                got.sort();
                let expect: Vec<BookingId> = m
                    .bookings
                    .iter()
                    .filter(|(_, (o, _, _))| *o == via)
                    .map(|(id, _)| *id)
                    .collect();
                prop_assert_eq!(got, expect, "{}", ctx);
            }
            Op::PlantForeign { via, owner } => {
                let member = staff_member(tenants[owner], "Planted");
                let scope = store.write(tenants[via]).await.unwrap();
                let result = scope.staff().insert(&member).await;
                if via == owner {
                    prop_assert!(result.is_ok(), "{}", ctx);
                    scope.commit().await.unwrap();
                    m.staff.insert(member.id(), (via, "Planted".to_owned()));
                    m.staff_ids.push(member.id());
                } else {
                    prop_assert!(matches!(result, Err(StoreError::WrongTenant)), "{}", ctx);
                    scope.rollback().await.unwrap();
                }
            }
        }
    }
    // Finally every tenant's full lists match the model.
    for (via, &t) in tenants.iter().enumerate() {
        let scope = store.read(t).await.unwrap();
        let staff: Vec<StaffId> = scope
            .staff()
            .list()
            .await
            .unwrap()
            .iter()
            .map(StaffMember::id)
            .collect();
        let customers = scope.customers().list().await.unwrap().len();
        let services = scope.services().list().await.unwrap().len();
        scope.rollback().await.unwrap();
        let expect: Vec<StaffId> = m
            .staff
            .iter()
            .filter(|(_, (o, _))| *o == via)
            .map(|(id, _)| *id)
            .collect();
        prop_assert_eq!(staff, expect);
        prop_assert_eq!(
            customers,
            m.customers.values().filter(|(o, _)| *o == via).count()
        );
        prop_assert_eq!(
            services,
            m.services.values().filter(|(o, _)| *o == via).count()
        );
    }
    Ok(())
}

/// Runs the state machine: `cases` fresh databases with `ops` operations
/// each.
fn state_machine(engine: Engine, cases: u32, ops: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&prop::collection::vec(op(), ops), |ops| {
            runtime.block_on(async {
                let db = TestDb::new(engine).await;
                // Each tenant has a desk (staff member, customer, service)
                // for bookings, kept out of the pickable ids.
                let mut desks = Vec::new();
                for _ in 0..TENANTS {
                    desks.push(desk(&db.store, 1, 0, 0).await);
                }
                let outcome = run_ops(&db.store, &desks, &ops).await;
                db.finish().await;
                outcome
            })
        })
        .unwrap();
}

/// 10,000 operations on SQLite and 1,000 on PostgreSQL per run.
#[test]
fn p1_isolation_state_machine_over_three_tenants() {
    let engines = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(engines());
    for engine in engines {
        match engine {
            Engine::Sqlite => state_machine(engine, 20, 500),
            Engine::Postgres => state_machine(engine, 4, 250),
        }
    }
}
