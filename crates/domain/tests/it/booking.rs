//! The booking lifecycle: only legal transitions succeed.

use bookwarden_domain::booking::{
    AnyBooking, Booking, BookingError, BookingParts, CancelledBy, NewBooking, Requested, Stage,
};
use bookwarden_domain::id::{BookingId, CustomerId, ServiceId, StaffId, TenantId};
use bookwarden_domain::intake::IntakeAnswers;

use crate::support::{range, timing, ts};

fn new_booking() -> NewBooking {
    NewBooking {
        tenant: TenantId::random(),
        service: ServiceId::random(),
        staff: StaffId::random(),
        customer: CustomerId::random(),
        range: range("2026-05-04T09:00:00Z", "2026-05-04T10:00:00Z"),
        seats: 1,
        answers: IntakeAnswers::default(),
    }
}

fn requested() -> Booking<Requested> {
    Booking::request(new_booking(), ts("2026-05-01T00:00:00Z")).unwrap()
}

#[test]
fn request_refuses_past_start_and_zero_seats() {
    let late = Booking::request(new_booking(), ts("2026-05-04T09:00:00Z"));
    assert_eq!(late.unwrap_err(), BookingError::InPast);
    let none = Booking::request(
        NewBooking {
            seats: 0,
            ..new_booking()
        },
        ts("2026-05-01T00:00:00Z"),
    );
    assert_eq!(none.unwrap_err(), BookingError::NoSeats);
}

#[test]
fn confirm_then_cancel() {
    let now = ts("2026-05-02T00:00:00Z");
    let confirmed = requested().confirm(now);
    assert_eq!(confirmed.stage().at(), now);
    let cancelled = confirmed.cancel(CancelledBy::Customer, now).unwrap();
    assert_eq!(cancelled.stage().by(), CancelledBy::Customer);
    // `cancelled.confirm(..)` and `cancelled.cancel(..)` do not compile: the
    // cancelled stage offers no transitions.
}

#[test]
fn cancel_and_reschedule_refused_once_started() {
    let started = ts("2026-05-04T09:00:00Z");
    assert_eq!(
        requested().cancel(CancelledBy::Staff, started).unwrap_err(),
        BookingError::AlreadyStarted
    );
    let later = range("2026-05-05T09:00:00Z", "2026-05-05T10:00:00Z");
    assert_eq!(
        requested().reschedule(later, started).unwrap_err(),
        BookingError::AlreadyStarted
    );
}

#[test]
fn reschedule_refuses_past_and_same_time_and_counts_moves() {
    let now = ts("2026-05-02T00:00:00Z");
    let past = range("2026-05-01T09:00:00Z", "2026-05-01T10:00:00Z");
    assert_eq!(
        requested().reschedule(past, now).unwrap_err(),
        BookingError::InPast
    );
    let same = requested().range();
    assert_eq!(
        requested().reschedule(same, now).unwrap_err(),
        BookingError::SameTime
    );
    let to = range("2026-05-05T09:00:00Z", "2026-05-05T10:00:00Z");
    let moved = requested().confirm(now).reschedule(to, now).unwrap();
    assert_eq!(moved.range(), to);
    assert_eq!(moved.reschedules(), 1);
    let held = moved.booked_time(&timing(60, 5, 10, 0, 30, 60));
    assert_eq!(held.range(), to);
}

#[test]
fn restore_rebuilds_each_stage() {
    let at = ts("2026-05-02T00:00:00Z");
    for stage in [
        Stage::Requested,
        Stage::Confirmed(at),
        Stage::Cancelled(at, CancelledBy::System),
    ] {
        let parts = BookingParts {
            id: BookingId::random(),
            new: new_booking(),
            created_at: at,
            reschedules: 2,
            stage,
        };
        let booking = AnyBooking::restore(parts);
        assert_eq!(booking.stage(), stage);
        assert_eq!(booking.is_active(), !matches!(stage, Stage::Cancelled(..)));
    }
}

mod for_slot {
    //! A booking request is checked against its service in the domain: the
    //! staff member, the seats, the slot's seats left, notice and horizon.

    use bookwarden_domain::booking::{AnyBooking, Booking, RequestError};
    use bookwarden_domain::id::{CustomerId, StaffId};
    use bookwarden_domain::intake::IntakeAnswers;
    use bookwarden_domain::slots::{SlotQuery, available_slots};
    use bookwarden_domain::time::Window;

    use crate::support::{every_day, hours, range, schedule, service, timing, ts, zone};

    #[test]
    fn a_request_is_checked_against_its_service_and_slot() {
        let tenant = bookwarden_domain::id::TenantId::random();
        let (sam, lee) = (StaffId::random(), StaffId::random());
        let berlin = zone("Europe/Berlin");
        // Two seats, one hour, 2 hours' notice, 10 days' horizon.
        let group = service(tenant, &[sam], timing(60, 0, 15, 120, 10, 60), 2);
        let plan = schedule(
            tenant,
            sam,
            &berlin,
            every_day(&hours(&[((9, 0), (17, 0))])),
        );
        let now = ts("2026-05-04T06:00:00Z");
        let slots = available_slots(&SlotQuery {
            service: &group,
            schedules: std::slice::from_ref(&plan),
            bookings: &[],
            busy: &[],
            window: Window::new(range("2026-05-04T00:00:00Z", "2026-05-20T00:00:00Z")).unwrap(),
            staff: None,
            customer_zone: &berlin,
            now,
        });
        let first = slots.first().unwrap();
        let customer = CustomerId::random();
        let book = |seats, at| {
            Booking::for_slot(&group, first, customer, seats, IntakeAnswers::default(), at)
        };
        let booked = book(2, now).unwrap();
        assert_eq!(
            (booked.staff(), booked.range(), booked.seats()),
            (sam, first.range(), 2)
        );
        assert_eq!(booked.tenant(), tenant);
        assert_eq!(
            book(0, now).unwrap_err(),
            RequestError::Seats { capacity: 2 }
        );
        assert_eq!(
            book(3, now).unwrap_err(),
            RequestError::Seats { capacity: 2 }
        );
        // Inside the notice, and after the start.
        let late = first
            .start()
            .checked_sub(jiff::SignedDuration::from_mins(30))
            .unwrap();
        assert_eq!(book(1, late).unwrap_err(), RequestError::TooSoon);
        assert_eq!(book(1, first.start()).unwrap_err(), RequestError::TooSoon);
        // Seen from long before, the slot is beyond the horizon.
        assert_eq!(
            book(1, ts("2026-04-01T00:00:00Z")).unwrap_err(),
            RequestError::TooFar
        );
        // A service someone else provides refuses Sam's slot.
        let lees = service(tenant, &[lee], timing(60, 0, 15, 120, 10, 60), 2);
        assert_eq!(
            Booking::for_slot(&lees, first, customer, 1, IntakeAnswers::default(), now)
                .unwrap_err(),
            RequestError::StaffNotOnService
        );
        assert_eq!(
            group.offers(Some(lee), 1).unwrap_err(),
            RequestError::StaffNotOnService
        );
        assert!(group.offers(None, 2).is_ok());
        // The hold is the appointment widened by the buffers (15 after).
        let hold = group.timing().hold(booked.range());
        assert_eq!(
            (hold.start(), hold.end()),
            (
                first.start(),
                first
                    .end()
                    .checked_add(jiff::SignedDuration::from_mins(15))
                    .unwrap()
            )
        );
        // A stored booking of any stage answers the same questions.
        let any = AnyBooking::from(booked.clone());
        assert_eq!(
            (any.staff(), any.range(), any.seats(), any.customer()),
            (sam, first.range(), 2, customer)
        );
        assert!(any.booked_time(group.timing()).is_some());
        let cancelled = AnyBooking::from(
            booked
                .cancel(bookwarden_domain::booking::CancelledBy::Customer, now)
                .unwrap(),
        );
        assert_eq!(
            cancelled.cancelled_by(),
            Some(bookwarden_domain::booking::CancelledBy::Customer)
        );
        assert!(cancelled.booked_time(group.timing()).is_none());
    }
}
