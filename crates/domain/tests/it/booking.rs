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
