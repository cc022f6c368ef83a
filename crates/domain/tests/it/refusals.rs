//! Every constructor refuses invalid input with a typed error.

use bookwarden_domain::account::{
    ApiKeyScope, ApiKeyScopeError, Email, EmailError, PersonName, Phone, PhoneError, Role,
    RoleError,
};
use bookwarden_domain::id::{BookingId, StaffId, TenantId};
use bookwarden_domain::intake::{FieldKey, FieldKind, IntakeField, IntakeForm};
use bookwarden_domain::schedule::{
    DayHours, DayRange, DayTime, DayTimeError, HoursError, Schedule, ScheduleError, ScheduleSpec,
};
use bookwarden_domain::service::{
    Capacity, Currency, Price, Service, ServiceError, ServiceName, ServiceSpec, Timing,
    TimingError, TimingSpec,
};
use bookwarden_domain::tenant::{
    Plan, Region, Tenant, TenantName, TenantSlug, TenantSlugError, TenantStatus,
    TenantTransitionError,
};
use bookwarden_domain::text::TextError;
use bookwarden_domain::time::{
    TimeRange, TimeRangeError, TimeZone, TimeZoneError, Window, WindowTooLong,
};

use bookwarden_domain::jiff::SignedDuration;
use bookwarden_domain::jiff::civil::date;

use crate::support::{range, timing, ts, zone};

#[test]
fn ids_are_random_and_parse_back() {
    let a = TenantId::random();
    let b = TenantId::random();
    assert_ne!(a, b);
    assert_eq!(a.as_uuid().get_version_num(), 4);
    assert_eq!(a.to_string().parse::<TenantId>().unwrap(), a);
    let err = "not-a-uuid".parse::<BookingId>().unwrap_err();
    assert_eq!(err.entity(), "booking");
    assert_eq!(err.to_string(), "not a valid booking id");
}

#[test]
fn time_range_refuses_empty_and_reversed() {
    let t = ts("2026-01-01T10:00:00Z");
    assert_eq!(TimeRange::new(t, t), Err(TimeRangeError::EndNotAfterStart));
    assert_eq!(
        TimeRange::new(ts("2026-01-01T11:00:00Z"), t),
        Err(TimeRangeError::EndNotAfterStart)
    );
    let r = range("2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z");
    assert!(r.contains(t));
    assert!(!r.contains(ts("2026-01-01T11:00:00Z")), "half-open");
    assert!(!r.overlaps(&range("2026-01-01T11:00:00Z", "2026-01-01T12:00:00Z")));
}

#[test]
fn time_zone_refuses_unknown_and_malformed_names() {
    assert!(matches!(TimeZone::parse(""), Err(TimeZoneError::Malformed)));
    assert!(matches!(
        TimeZone::parse(&"A/".repeat(40)),
        Err(TimeZoneError::Malformed)
    ));
    assert!(matches!(
        TimeZone::parse("Mars/Olympus_Mons"),
        Err(TimeZoneError::Unknown(_))
    ));
    assert!(matches!(
        TimeZone::parse("../../etc/passwd"),
        Err(TimeZoneError::Unknown(_))
    ));
    assert_eq!(
        TimeZone::parse("europe/berlin").unwrap().name(),
        "Europe/Berlin"
    );
    assert_eq!(
        TimeZone::parse(" Australia/Lord_Howe ").unwrap().name(),
        "Australia/Lord_Howe"
    );
}

#[test]
fn tenant_name_refuses_blank_long_and_control_text() {
    assert_eq!(TenantName::parse("   "), Err(TextError::Empty));
    assert_eq!(
        TenantName::parse(&"x".repeat(101)),
        Err(TextError::TooLong { max: 100 })
    );
    assert_eq!(
        TenantName::parse("North\u{0}side"),
        Err(TextError::ControlCharacter)
    );
    assert_eq!(
        TenantName::parse(" North Side Physio ").unwrap().as_str(),
        "North Side Physio"
    );
}

#[test]
fn tenant_slug_refuses_malformed_and_reserved() {
    for bad in [
        "ab",
        "North",
        "north side",
        "-north",
        "north-",
        "north--side",
        "nörth",
        &"a".repeat(49),
    ] {
        assert_eq!(
            TenantSlug::parse(bad),
            Err(TenantSlugError::Malformed),
            "{bad}"
        );
    }
    assert_eq!(TenantSlug::parse("admin"), Err(TenantSlugError::Reserved));
    assert_eq!(
        TenantSlug::parse("north-side-2").unwrap().as_str(),
        "north-side-2"
    );
}

#[test]
fn region_plan_and_status_refuse_unknown_names() {
    assert!(Region::parse("EU").is_err());
    assert!(Region::parse("e").is_err());
    assert_eq!(Region::parse("eu-central").unwrap().as_str(), "eu-central");
    assert!(Plan::parse("gold").is_err());
    assert_eq!(Plan::parse("pro").unwrap(), Plan::Pro);
    assert!(!Plan::Free.allows_calendar_connections());
    assert!(TenantStatus::parse("deleted").is_err());
}

#[test]
fn tenant_lifecycle_refuses_leaving_cancelled() {
    let mut tenant = Tenant::create(
        TenantName::parse("North Side").unwrap(),
        TenantSlug::parse("north-side").unwrap(),
        Region::parse("eu-central").unwrap(),
        zone("Europe/Berlin"),
    );
    assert!(tenant.accepts_bookings());
    assert_eq!(
        tenant.set_status(TenantStatus::Active),
        Err(TenantTransitionError::Already("active"))
    );
    tenant.set_status(TenantStatus::Suspended).unwrap();
    assert!(!tenant.accepts_bookings());
    tenant.set_status(TenantStatus::Cancelled).unwrap();
    assert_eq!(
        tenant.set_status(TenantStatus::Active),
        Err(TenantTransitionError::Cancelled)
    );
    assert_eq!(
        tenant.change_plan(Plan::Pro),
        Err(TenantTransitionError::Cancelled)
    );
}

#[test]
fn email_refuses_malformed_addresses() {
    assert_eq!(Email::parse(" "), Err(EmailError::Empty));
    for bad in [
        "plainaddress",
        "@example.com",
        "user@",
        "user@localhost",
        "us er@example.com",
        "user@exa mple.com",
        "user@@example.com",
        ".user@example.com",
        "user.@example.com",
        "us..er@example.com",
        "user@-example.com",
        "user@example..com",
        "user@example.com.",
        "user\n@example.com",
    ] {
        assert_eq!(Email::parse(bad), Err(EmailError::Malformed), "{bad:?}");
    }
    let long_local = format!("{}@example.com", "a".repeat(65));
    assert_eq!(Email::parse(&long_local), Err(EmailError::TooLong));
    let long = format!("a@{}.com", "b".repeat(250));
    assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    let email = Email::parse(" Ada.Lovelace@Example.COM ").unwrap();
    assert_eq!(email.as_str(), "ada.lovelace@example.com");
    assert_eq!(email.local_part(), "ada.lovelace");
    assert!(
        !format!("{email:?}").contains("ada"),
        "Debug hides the address"
    );
}

#[test]
fn person_name_and_phone_refusals() {
    assert_eq!(PersonName::parse(""), Err(TextError::Empty));
    assert_eq!(
        PersonName::parse("Ada\u{7}"),
        Err(TextError::ControlCharacter)
    );
    for bad in [
        "4930123456",
        "+49 30 abc",
        "+123",
        "+0123456789",
        "+1234567890123456",
    ] {
        assert_eq!(Phone::parse(bad), Err(PhoneError), "{bad}");
    }
    assert_eq!(
        Phone::parse("+49 (30) 123-456").unwrap().as_str(),
        "+4930123456"
    );
}

#[test]
fn roles_refuse_unknown_and_rank_correctly() {
    assert_eq!(Role::parse("root"), Err(RoleError));
    assert!(Role::Owner.can_manage(Role::Owner));
    assert!(Role::Admin.can_manage(Role::Staff));
    assert!(Role::Admin.can_manage(Role::Admin));
    assert!(!Role::Admin.can_manage(Role::Owner));
    assert!(!Role::Staff.can_manage(Role::Staff));
    assert!(Role::Admin.is_privileged() && !Role::Staff.is_privileged());
}

#[test]
fn api_key_scopes_parse_their_names_and_refuse_others() {
    for scope in ApiKeyScope::ALL {
        assert_eq!(ApiKeyScope::parse(scope.as_str()), Ok(scope));
    }
    for bad in ["", "Read", "delete", "admin "] {
        assert_eq!(ApiKeyScope::parse(bad), Err(ApiKeyScopeError), "{bad:?}");
    }
}

fn spec() -> TimingSpec {
    TimingSpec {
        duration_minutes: 30,
        buffer_before_minutes: 0,
        buffer_after_minutes: 0,
        minimum_notice_minutes: 0,
        horizon_days: 30,
        slot_step_minutes: 30,
    }
}

#[test]
fn timing_refuses_each_out_of_range_part() {
    let cases = [
        (
            TimingSpec {
                duration_minutes: 0,
                ..spec()
            },
            TimingError::Duration,
        ),
        (
            TimingSpec {
                duration_minutes: 1_441,
                ..spec()
            },
            TimingError::Duration,
        ),
        (
            TimingSpec {
                buffer_before_minutes: 721,
                ..spec()
            },
            TimingError::Buffer,
        ),
        (
            TimingSpec {
                buffer_after_minutes: 721,
                ..spec()
            },
            TimingError::Buffer,
        ),
        (
            TimingSpec {
                minimum_notice_minutes: 525_601,
                ..spec()
            },
            TimingError::MinimumNotice,
        ),
        (
            TimingSpec {
                horizon_days: 0,
                ..spec()
            },
            TimingError::Horizon,
        ),
        (
            TimingSpec {
                horizon_days: 731,
                ..spec()
            },
            TimingError::Horizon,
        ),
        (
            TimingSpec {
                slot_step_minutes: 0,
                ..spec()
            },
            TimingError::SlotStep,
        ),
        (
            TimingSpec {
                minimum_notice_minutes: 30 * 1_440,
                ..spec()
            },
            TimingError::NoticeBeyondHorizon,
        ),
    ];
    for (spec, error) in cases {
        assert_eq!(Timing::new(spec), Err(error.clone()), "{error}");
    }
    let ok = Timing::new(spec()).unwrap();
    assert_eq!(ok.duration().as_secs(), 1_800);
}

#[test]
fn service_parts_refuse_invalid_values() {
    assert_eq!(
        ServiceName::parse(&"s".repeat(121)),
        Err(TextError::TooLong { max: 120 })
    );
    assert!(Capacity::new(0).is_err());
    assert!(Capacity::new(1_001).is_err());
    assert_eq!(Capacity::new(12).unwrap().seats(), 12);
    for bad in ["eur", "EURO", "E1R", ""] {
        assert!(Currency::parse(bad).is_err(), "{bad}");
    }
    let eur = Currency::parse("EUR").unwrap();
    assert_eq!(eur.as_str(), "EUR");
    assert!(Price::new(1_000_000_001, eur).is_err());
    assert_eq!(Price::new(4_500, eur).unwrap().minor_units(), 4_500);
}

#[test]
fn service_refuses_duplicate_staff() {
    let tenant = TenantId::random();
    let staff = StaffId::random();
    let spec = ServiceSpec {
        name: ServiceName::parse("Massage").unwrap(),
        timing: timing(60, 0, 0, 0, 30, 60),
        capacity: Capacity::ONE,
        staff: vec![staff, staff],
        price: None,
        intake: IntakeForm::default(),
        public: true,
    };
    let err = Service::new(bookwarden_domain::id::ServiceId::random(), tenant, spec).unwrap_err();
    assert_eq!(err, ServiceError::DuplicateStaff);
}

#[test]
fn intake_definitions_refuse_bad_keys_limits_and_duplicates() {
    for bad in ["", "Allergies", "1st", "has space", &"k".repeat(41)] {
        assert!(FieldKey::parse(bad).is_err(), "{bad:?}");
    }
    let key = FieldKey::parse("notes").unwrap();
    assert!(
        IntakeField::new(
            key.clone(),
            "Notes",
            FieldKind::Text { max_chars: 0 },
            false
        )
        .is_err()
    );
    assert!(
        IntakeField::new(
            key.clone(),
            "Notes",
            FieldKind::LongText { max_chars: 5_001 },
            false
        )
        .is_err()
    );
    assert!(IntakeField::new(key.clone(), "", FieldKind::Email, false).is_err());
    let field = IntakeField::new(key, "Notes", FieldKind::Text { max_chars: 10 }, false).unwrap();
    assert!(IntakeForm::new(vec![field.clone(), field]).is_err());
    assert!(bookwarden_domain::intake::Choices::new(&[]).is_err());
    assert!(bookwarden_domain::intake::Choices::new(&["a", "a"]).is_err());
    assert!(bookwarden_domain::intake::Choices::new(&["a", " "]).is_err());
}

#[test]
fn schedule_parts_refuse_invalid_hours() {
    assert_eq!(DayTime::parse("9:00"), Err(DayTimeError::Malformed));
    assert_eq!(DayTime::parse("09-00"), Err(DayTimeError::Malformed));
    assert_eq!(DayTime::parse("+9:00"), Err(DayTimeError::Malformed));
    assert_eq!(DayTime::parse("24:01"), Err(DayTimeError::OutOfRange));
    assert_eq!(DayTime::parse("12:60"), Err(DayTimeError::OutOfRange));
    assert_eq!(DayTime::parse("24:00").unwrap(), DayTime::END_OF_DAY);
    let nine = DayTime::parse("09:00").unwrap();
    let five = DayTime::parse("17:00").unwrap();
    assert_eq!(DayRange::new(five, nine), Err(HoursError::EndNotAfterStart));
    assert_eq!(DayRange::new(nine, nine), Err(HoursError::EndNotAfterStart));
    let a = DayRange::new(nine, five).unwrap();
    let b = DayRange::new(
        DayTime::parse("12:00").unwrap(),
        DayTime::parse("18:00").unwrap(),
    )
    .unwrap();
    assert_eq!(DayHours::new(vec![a, b]), Err(HoursError::Overlap));
    assert_eq!(DayHours::new(vec![a; 13]), Err(HoursError::TooManyRanges));
}

#[test]
fn schedule_refuses_unbounded_time_off() {
    let r = range("2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z");
    let spec = ScheduleSpec {
        zone: zone("UTC"),
        weekly: bookwarden_domain::schedule::WeeklyHours::closed(),
        overrides: Default::default(),
        time_off: vec![r; Schedule::MAX_TIME_OFF + 1],
    };
    let err = Schedule::new(
        bookwarden_domain::id::ScheduleId::random(),
        TenantId::random(),
        StaffId::random(),
        spec,
    )
    .unwrap_err();
    assert_eq!(err, ScheduleError::TooMuchTimeOff);
}

#[test]
fn windows_longer_than_the_limit_are_refused_and_the_limit_itself_is_not() {
    // 92 days exactly is a window; one second more is not. Slot listings
    // and booking listings both take a `Window`, so this is the one check.
    let longest = Window::new(range("2026-01-01T00:00:00Z", "2026-04-03T00:00:00Z"));
    assert!(longest.is_ok());
    let over = Window::new(range("2026-01-01T00:00:00Z", "2026-04-03T00:00:01Z"));
    assert_eq!(over, Err(WindowTooLong));
}

#[test]
fn collections_refuse_more_than_their_limits() {
    assert_eq!(
        PersonName::parse(&"n".repeat(201)),
        Err(TextError::TooLong { max: 200 })
    );
    let tenant = TenantId::random();
    let many: Vec<StaffId> = (0..=Service::MAX_STAFF)
        .map(|_| StaffId::random())
        .collect();
    let spec = ServiceSpec {
        name: ServiceName::parse("Class").unwrap(),
        timing: timing(60, 0, 0, 0, 30, 60),
        capacity: Capacity::ONE,
        staff: many,
        price: None,
        intake: IntakeForm::default(),
        public: true,
    };
    assert_eq!(
        Service::new(bookwarden_domain::id::ServiceId::random(), tenant, spec).unwrap_err(),
        ServiceError::TooManyStaff
    );
    let fields: Vec<IntakeField> = (0..=IntakeForm::MAX_FIELDS)
        .map(|i| {
            let key = FieldKey::parse(&format!("f{i}")).unwrap();
            IntakeField::new(key, "Q", FieldKind::Checkbox, false).unwrap()
        })
        .collect();
    assert_eq!(
        IntakeForm::new(fields).unwrap_err(),
        bookwarden_domain::intake::FormError::TooManyFields
    );
    let day = date(2026, 1, 1);
    let overrides = (0..=Schedule::MAX_OVERRIDES)
        .map(|i| {
            let d = day
                .checked_add(SignedDuration::from_hours(24 * i as i64))
                .unwrap();
            (d, DayHours::closed())
        })
        .collect();
    let spec = ScheduleSpec {
        zone: zone("UTC"),
        weekly: bookwarden_domain::schedule::WeeklyHours::closed(),
        overrides,
        time_off: Vec::new(),
    };
    let err = Schedule::new(
        bookwarden_domain::id::ScheduleId::random(),
        tenant,
        StaffId::random(),
        spec,
    )
    .unwrap_err();
    assert_eq!(err, ScheduleError::TooManyOverrides);
}
