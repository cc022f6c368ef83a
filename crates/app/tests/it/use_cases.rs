//! Sign-up, sessions that the clock ends, and a booking's life, through
//! `App`'s methods alone.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bookwarden_app::{
    App, AppError, BookingRequest, Carrier, ClientInfo, Clock, Config, Conflict, CustomerInput,
    LoginRequest, Principal, SecretString, Signup,
};
use bookwarden_domain::account::Role;
use bookwarden_domain::id::ServiceId;
use bookwarden_domain::intake::IntakeForm;
use bookwarden_domain::jiff::civil::Weekday;
use bookwarden_domain::jiff::{SignedDuration, Timestamp};
use bookwarden_domain::schedule::{DayHours, DayRange, DayTime, ScheduleSpec, WeeklyHours};
use bookwarden_domain::service::{Capacity, ServiceName, ServiceSpec, Timing, TimingSpec};
use bookwarden_domain::time::TimeZone;

/// A clock the test moves.
pub(crate) struct TestClock(Mutex<Timestamp>);

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

impl TestClock {
    pub(crate) fn at(when: &str) -> Self {
        Self(Mutex::new(when.parse().unwrap()))
    }

    pub(crate) fn advance(&self, by: SignedDuration) {
        let mut now = self.0.lock().unwrap();
        *now = now.checked_add(by).unwrap();
    }
}

pub(crate) struct Harness {
    pub(crate) app: App,
    pub(crate) clock: Arc<TestClock>,
    pub(crate) folder: PathBuf,
}

/// A Monday, 06:00 UTC.
const START: &str = "2027-03-01T06:00:00Z";
const PASSWORD: &str = "plum tree orchard 42";

pub(crate) async fn harness() -> Harness {
    let folder = std::env::temp_dir().join(format!("bookwarden-app-{}", uuid_like()));
    let clock = Arc::new(TestClock(Mutex::new(START.parse().unwrap())));
    let (app, _) = App::open(Config::embedded(folder.clone()), clock.clone())
        .await
        .unwrap();
    Harness { app, clock, folder }
}

fn uuid_like() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

impl Harness {
    /// Signs up a business and signs its owner in: the owner's principal
    /// and session token.
    pub(crate) async fn owner(&self, slug: &str) -> (Principal, SecretString) {
        self.app
            .signup(Signup {
                tenant_name: "Harbour Physio".to_owned(),
                region: None,
                slug: slug.to_owned(),
                time_zone: "Europe/Berlin".to_owned(),
                email: format!("olive@{slug}.example"),
                name: "Olive".to_owned(),
                password: SecretString::new(PASSWORD.to_owned()),
                client: ClientInfo::default(),
            })
            .await
            .unwrap();
        let session = self
            .app
            .login(LoginRequest {
                tenant: slug.to_owned(),
                email: format!("olive@{slug}.example"),
                password: SecretString::new(PASSWORD.to_owned()),
                otp: None,
                recovery_code: None,
                new_password: None,
                client: ClientInfo::default(),
            })
            .await
            .unwrap();
        let principal = self
            .app
            .authenticate(session.token.expose_secret(), Carrier::Bearer)
            .await
            .unwrap();
        (principal, session.token)
    }

    pub(crate) async fn finish(self) {
        drop(self.app);
        let _ = std::fs::remove_dir_all(self.folder);
    }
}

#[tokio::test]
async fn a_session_ends_when_the_clock_passes_its_idle_limit() {
    let h = harness().await;
    let (principal, token) = h.owner("harbour").await;
    assert_eq!(principal.role().as_str(), "owner");
    // 29 minutes idle: still good.
    h.clock.advance(SignedDuration::from_mins(29));
    h.app
        .authenticate(token.expose_secret(), Carrier::Bearer)
        .await
        .unwrap();
    // 31 more minutes idle: over the 30-minute default.
    h.clock.advance(SignedDuration::from_mins(31));
    let ended = h
        .app
        .authenticate(token.expose_secret(), Carrier::Bearer)
        .await;
    assert!(matches!(ended, Err(AppError::Unauthenticated)), "{ended:?}");
    h.finish().await;
}

#[tokio::test]
async fn a_booking_holds_its_time_and_cannot_be_cancelled_once_started() {
    let h = harness().await;
    let (owner, _) = h.owner("quay").await;
    let sam = h.app.create_staff(&owner, "Sam Smith", None).await.unwrap();
    let mornings = DayHours::new(vec![
        DayRange::new(DayTime::new(9, 0).unwrap(), DayTime::new(12, 0).unwrap()).unwrap(),
    ])
    .unwrap();
    h.app
        .put_schedule(
            &owner,
            sam.id(),
            ScheduleSpec {
                zone: TimeZone::parse("Europe/Berlin").unwrap(),
                weekly: WeeklyHours::closed().with(Weekday::Monday, mornings),
                overrides: BTreeMap::new(),
                time_off: Vec::new(),
            },
        )
        .await
        .unwrap();
    let service = h
        .app
        .create_service(
            &owner,
            ServiceSpec {
                name: ServiceName::parse("Check-up").unwrap(),
                timing: Timing::new(TimingSpec {
                    duration_minutes: 60,
                    buffer_before_minutes: 0,
                    buffer_after_minutes: 0,
                    minimum_notice_minutes: 0,
                    horizon_days: 30,
                    slot_step_minutes: 60,
                })
                .unwrap(),
                capacity: Capacity::new(1).unwrap(),
                staff: vec![sam.id()],
                price: None,
                intake: IntakeForm::default(),
                public: true,
            },
        )
        .await
        .unwrap();
    // 09:00 in Berlin (UTC+1) on the Monday the clock stands on.
    let nine: Timestamp = "2027-03-01T08:00:00Z".parse().unwrap();
    let request = |service: ServiceId, email: &str| BookingRequest {
        service,
        staff: None,
        start: nine,
        seats: 1,
        customer: CustomerInput {
            email: email.to_owned(),
            name: "Casey".to_owned(),
            phone: None,
        },
        answers: BTreeMap::new(),
    };
    let booked = h
        .app
        .create_booking(&owner, &request(service.id(), "casey@example.com"))
        .await
        .unwrap();
    assert_eq!((booked.staff, booked.range.start()), (sam.id(), nine));
    // The same time again is taken, whoever asks.
    let again = h
        .app
        .create_booking(&owner, &request(service.id(), "drew@example.com"))
        .await;
    assert!(
        matches!(again, Err(AppError::Conflict(Conflict::SlotTaken))),
        "{again:?}"
    );
    // Once the appointment has started, it cannot be cancelled.
    h.clock.advance(SignedDuration::from_hours(3));
    let late = h.app.cancel_booking(&owner, booked.id).await;
    assert!(
        matches!(late, Err(AppError::Conflict(Conflict::BookingStarted))),
        "{late:?}"
    );
    h.finish().await;
}

fn login_as(slug: &str, email: &str, password: &str) -> LoginRequest {
    LoginRequest {
        tenant: slug.to_owned(),
        email: email.to_owned(),
        password: SecretString::new(password.to_owned()),
        otp: None,
        recovery_code: None,
        new_password: None,
        client: ClientInfo::default(),
    }
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_account_until_the_clock_passes_the_lock() {
    let h = harness().await;
    let _ = h.owner("pier").await;
    let email = "olive@pier.example";
    for _ in 0..5 {
        let wrong = h
            .app
            .login(login_as("pier", email, "not the password"))
            .await;
        assert!(matches!(wrong, Err(AppError::LoginFailed)), "{wrong:?}");
    }
    // Locked now, even with the right password, for the 15-minute default.
    let locked = h.app.login(login_as("pier", email, PASSWORD)).await;
    let Err(AppError::Locked { retry_after }) = locked else {
        panic!("expected a lock, got {locked:?}");
    };
    assert!(retry_after.as_secs() > 0 && retry_after.as_secs() <= 15 * 60);
    h.clock.advance(SignedDuration::from_mins(16));
    h.app
        .login(login_as("pier", email, PASSWORD))
        .await
        .unwrap();
    h.finish().await;
}

#[tokio::test]
async fn an_invitation_works_once_and_not_after_it_expires() {
    let h = harness().await;
    let (owner, _) = h.owner("jetty").await;
    let late = h
        .app
        .invite(
            &owner,
            "late@jetty.example",
            Role::Staff,
            &ClientInfo::default(),
        )
        .await
        .unwrap();
    let prompt = h
        .app
        .invite(
            &owner,
            "prompt@jetty.example",
            Role::Staff,
            &ClientInfo::default(),
        )
        .await
        .unwrap();
    accept(&h.app, &prompt.token).await.unwrap();
    let twice = accept(&h.app, &prompt.token).await;
    assert!(
        matches!(twice, Err(AppError::InvitationInvalid)),
        "{twice:?}"
    );
    // The 72-hour default has passed for the other one.
    h.clock.advance(SignedDuration::from_hours(73));
    let expired = accept(&h.app, &late.token).await;
    assert!(
        matches!(expired, Err(AppError::InvitationInvalid)),
        "{expired:?}"
    );
    h.app
        .login(login_as(
            "jetty",
            "prompt@jetty.example",
            "harbour lights at dusk 7",
        ))
        .await
        .unwrap();
    h.finish().await;
}

async fn accept(app: &App, token: &SecretString) -> Result<bookwarden_app::SignupDone, AppError> {
    app.accept_invitation(
        token.expose_secret(),
        "New Person",
        SecretString::new("harbour lights at dusk 7".to_owned()),
        &ClientInfo::default(),
    )
    .await
}
