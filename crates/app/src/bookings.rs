//! Bookings: the staff-side calendar (list, create on a customer's behalf,
//! confirm, cancel, reschedule) and the public flow a customer uses with a
//! business's slug (services, slots, booking with an idempotency key, and
//! the manage token for viewing, cancelling, rescheduling and the `.ics`).
//!
//! Every start time is checked against the slot engine before it is
//! written, and the database refuses overlapping time whatever the engine
//! said, so two customers racing for one slot get one booking and one 409.

use std::collections::BTreeMap;
use std::sync::Arc;

use bookwarden_crypto::SecretString;
use bookwarden_crypto::digest::Sha256;
use bookwarden_crypto::token::{self, TokenKind};
use bookwarden_domain::account::Customer;
use bookwarden_domain::booking::{
    AnyBooking, Booking, CancelledBy, NewBooking, RequestError, Stage,
};
use bookwarden_domain::calendar::{SourceNotice, source_notices};
use bookwarden_domain::id::{BookingId, CustomerId, ServiceId, StaffId, TenantId};
use bookwarden_domain::intake::{IntakeAnswer, IntakeAnswers, RawAnswer};
use bookwarden_domain::jiff::Timestamp;
use bookwarden_domain::service::Service;
use bookwarden_domain::slots::{BookedTime, Slot, SlotQuery, available_slots};
use bookwarden_domain::tenant::{Tenant, TenantSlug};
use bookwarden_domain::time::{TimeRange, TimeZone, Window};
use bookwarden_persistence::{
    BookingExtras, Created, Idempotency, StoreError, TenantScope, Unique,
};

use crate::App;
use crate::auth::{Need, Principal};
use crate::catalog::{CustomerInput, parse_customer};
use crate::error::AppError;
use crate::error::Conflict;
use crate::listing::{Listing, ListingKey, ListingRequest};
use crate::snapshot::{Catalog, Snapshot};

/// A booking as shown to staff and to the customer holding its manage
/// token. `Debug` leaves the intake answers out.
#[derive(Clone, PartialEq, Eq)]
pub struct BookingView {
    /// Its id.
    pub id: BookingId,
    /// The service.
    pub service: ServiceId,
    /// Who provides it.
    pub staff: StaffId,
    /// For whom.
    pub customer: CustomerId,
    /// When.
    pub range: TimeRange,
    /// Seats taken.
    pub seats: u16,
    /// Requested, confirmed (when) or cancelled (when, by whom).
    pub stage: Stage,
    /// Times it was moved.
    pub reschedules: u32,
    /// When it was made.
    pub created_at: Timestamp,
    /// The intake answers.
    pub answers: IntakeAnswers,
}

impl std::fmt::Debug for BookingView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BookingView")
            .field("id", &self.id)
            .field("stage", &self.stage.name())
            .finish_non_exhaustive()
    }
}

impl From<&AnyBooking> for BookingView {
    fn from(booking: &AnyBooking) -> Self {
        BookingView {
            id: booking.id(),
            service: booking.service(),
            staff: booking.staff(),
            customer: booking.customer(),
            range: booking.range(),
            seats: booking.seats(),
            stage: booking.stage(),
            reschedules: booking.reschedules(),
            created_at: booking.created_at(),
            answers: booking.answers().clone(),
        }
    }
}

/// An intake answer in plain shapes, for the HTTP layer to serialize.
#[derive(Clone, PartialEq, Eq)]
pub enum AnswerValue {
    /// Text, email, phone or one choice.
    Text(String),
    /// Several choices.
    List(Vec<String>),
    /// A checkbox.
    Flag(bool),
}

/// The plain shape of an answer.
pub fn answer_value(answer: &IntakeAnswer) -> AnswerValue {
    match answer {
        IntakeAnswer::Text(t) | IntakeAnswer::Choice(t) => AnswerValue::Text(t.clone()),
        IntakeAnswer::Email(e) => AnswerValue::Text(e.as_str().to_owned()),
        IntakeAnswer::Phone(p) => AnswerValue::Text(p.as_str().to_owned()),
        IntakeAnswer::Choices(c) => AnswerValue::List(c.clone()),
        IntakeAnswer::Checked(b) => AnswerValue::Flag(*b),
    }
}

/// A booking request, from staff or from the public flow. `Debug` shows
/// no personal data and no answer.
#[derive(Clone)]
pub struct BookingRequest {
    /// The service.
    pub service: ServiceId,
    /// A staff member, or any who is free.
    pub staff: Option<StaffId>,
    /// The start.
    pub start: Timestamp,
    /// Seats wanted (group services).
    pub seats: u16,
    /// The customer.
    pub customer: CustomerInput,
    /// Intake answers by field key.
    pub answers: BTreeMap<String, RawAnswer>,
}

impl std::fmt::Debug for BookingRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BookingRequest")
            .field("service", &self.service)
            .field("staff", &self.staff)
            .field("start", &self.start)
            .field("seats", &self.seats)
            .finish_non_exhaustive()
    }
}

/// A public booking made: the booking, and its manage token the first time
/// (a replay of the same idempotency key answers the booking without it).
pub struct Booked {
    /// The booking.
    pub booking: BookingView,
    /// The token that manages it, shown once.
    pub manage_token: Option<SecretString>,
    /// Whether this answered an earlier request with the same key.
    pub replayed: bool,
}

impl std::fmt::Debug for Booked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Booked")
            .field("booking", &self.booking)
            .field("replayed", &self.replayed)
            .finish_non_exhaustive()
    }
}

/// The longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 200;

fn window(from: Timestamp, to: Timestamp) -> Result<Window, AppError> {
    let range = TimeRange::new(from, to).map_err(|e| AppError::invalid("to", e))?;
    Window::new(range).map_err(|e| AppError::invalid("to", e))
}

fn slot_taken() -> AppError {
    AppError::Conflict(Conflict::SlotTaken)
}

/// A request the service's rules refuse, as clients have always been told:
/// the staff member and the seats are the request's fields; a time the
/// engine does not offer (taken, too soon, too far) is a taken slot.
fn request_error(error: RequestError) -> AppError {
    match error {
        RequestError::StaffNotOnService => {
            AppError::invalid("staff", "does not provide this service")
        }
        RequestError::Seats { .. } => AppError::invalid("seats", "more seats than the service has"),
        RequestError::NotOffered | RequestError::TooSoon | RequestError::TooFar => slot_taken(),
    }
}

fn booking_error(error: bookwarden_domain::booking::BookingError) -> AppError {
    use bookwarden_domain::booking::BookingError as E;
    match error {
        E::AlreadyStarted => AppError::Conflict(Conflict::BookingStarted),
        other => AppError::invalid("start", other),
    }
}

/// Digest of a booking request, to refuse an idempotency key reused for
/// another request: every field counts, each length-prefixed. Ids and the
/// start count in their canonical text (a UUID in lowercase, the start as
/// RFC 3339 in UTC), so two spellings of one instant are one request.
fn request_digest(request: &BookingRequest) -> [u8; 32] {
    let mut digest = Sha256::new();
    let mut part = |bytes: &[u8]| digest.update_framed(bytes);
    let staff = request.staff.map(|s| s.to_string()).unwrap_or_default();
    for text in [
        request.service.to_string().as_str(),
        staff.as_str(),
        request.start.to_string().as_str(),
        request.customer.email.as_str(),
        request.customer.name.as_str(),
        request.customer.phone.as_deref().unwrap_or(""),
    ] {
        part(text.as_bytes());
    }
    part(&request.seats.to_be_bytes());
    for (key, answer) in &request.answers {
        part(key.as_bytes());
        match answer {
            RawAnswer::Text(t) => {
                part(b"t");
                part(t.as_bytes());
            }
            RawAnswer::Choices(list) => {
                part(b"c");
                for item in list {
                    part(item.as_bytes());
                }
            }
            RawAnswer::Flag(flag) => {
                part(b"f");
                part(&[u8::from(*flag)]);
            }
        }
    }
    digest.finish()
}

/// A start must be a whole second: the engine's grid is in seconds.
fn whole_second(start: Timestamp) -> Result<Timestamp, AppError> {
    if start.subsec_nanosecond() == 0 {
        Ok(start)
    } else {
        Err(AppError::invalid(
            "start",
            "a slot starts on a whole second",
        ))
    }
}

impl App {
    /// The tenant a public slug names (kept once found).
    async fn public_tenant(&self, slug: &str) -> Result<TenantId, AppError> {
        if let Some(kept) = self.snapshots.slug(slug, self.now()) {
            return Ok(kept);
        }
        let parsed = TenantSlug::parse(slug).map_err(|_malformed| AppError::NotFound)?;
        self.store
            .system()
            .locate(&parsed)
            .await?
            .ok_or(AppError::NotFound)
    }

    /// The snapshot of the business at `slug` (`tenant`), kept or read
    /// now, when it takes bookings.
    async fn public_snapshot(
        &self,
        slug: &str,
        tenant: TenantId,
        fresh: bool,
    ) -> Result<Arc<Snapshot>, AppError> {
        // Read before the rows: a write committed after this moves it.
        let epoch = self.store.catalog_epoch(tenant);
        let now = self.now();
        let kept = if fresh {
            None
        } else {
            self.snapshots.get(tenant, epoch, now)
        };
        let snapshot = match kept {
            Some(kept) => kept,
            None => {
                let scope = self.store.read(tenant).await?;
                let read = async {
                    // The version before the rows: rows newer than their
                    // version only cost a retry, the other way round
                    // would let a booking pass on old rules.
                    let version = scope.catalog_version().await?;
                    let row = scope.tenant_row().await?;
                    let catalog = Catalog::read(&scope).await?;
                    Ok::<_, StoreError>(row.zip(version).map(|(tenant, version)| Snapshot {
                        tenant,
                        version,
                        catalog,
                    }))
                }
                .await;
                scope.commit().await?;
                let snapshot = Arc::new(read?.ok_or(AppError::NotFound)?);
                self.snapshots.put(slug, epoch, now, snapshot.clone());
                snapshot
            }
        };
        if snapshot.tenant.accepts_bookings() {
            Ok(snapshot)
        } else {
            Err(AppError::NotFound)
        }
    }

    /// A business's public services.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for an unknown or closed business.
    pub async fn public_services(&self, slug: &str) -> Result<(Tenant, Vec<Service>), AppError> {
        let tenant = self.public_tenant(slug).await?;
        let snapshot = self.public_snapshot(slug, tenant, false).await?;
        let mut services: Vec<Service> = snapshot
            .catalog
            .services
            .values()
            .filter(|s| s.is_public())
            .cloned()
            .collect();
        services.sort_by_key(Service::id);
        Ok((snapshot.tenant.clone(), services))
    }

    /// The slots of `service` whose start lies in the window, for `staff`
    /// or all its staff, inside an open scope.
    #[allow(clippy::too_many_arguments, reason = "each narrows the question")]
    async fn slots_in(
        &self,
        scope: &TenantScope,
        catalog: &Catalog,
        service: &Service,
        staff: Option<StaffId>,
        window: Window,
        zone: &TimeZone,
        exclude: Option<BookingId>,
        public: bool,
    ) -> Result<(Vec<Slot>, Vec<SourceNotice>), AppError> {
        let range = window.range();
        let wanted: Vec<StaffId> = service
            .staff()
            .iter()
            .copied()
            .filter(|s| staff.is_none_or(|w| w == *s))
            .collect();
        if wanted.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        // Bookings that could touch the window: services never change, so
        // no booking is longer (with its buffers) than the longest service.
        let span = |s: &Service| {
            let t = s.timing();
            t.duration()
                .saturating_add(t.buffer_before())
                .saturating_add(t.buffer_after())
        };
        let longest = catalog
            .services
            .values()
            .map(span)
            .max()
            .unwrap_or_default();
        let reach = longest.saturating_add(span(service));
        let wide = TimeRange::new(
            range.start().checked_sub(reach).unwrap_or(range.start()),
            range.end().checked_add(reach).unwrap_or(range.end()),
        )
        .map_err(AppError::internal)?;
        let services = &catalog.services;
        let mut booked: Vec<BookedTime> = Vec::new();
        // One query: for one member, theirs; for several, everyone's.
        let only = match wanted.as_slice() {
            [one] => Some(*one),
            _ => None,
        };
        for booking in scope.bookings().list(wide, only).await? {
            if Some(booking.id()) == exclude || !wanted.contains(&booking.staff()) {
                continue;
            }
            // A cancelled booking holds no time.
            if let Some(held) = services
                .get(&booking.service())
                .and_then(|of| booking.booked_time(of.timing()))
            {
                booked.push(held);
            }
        }
        let busy = scope.calendars().busy_between(&wanted, wide).await?;
        // Imported busy time is trusted only as far as it is fresh: the
        // tenant's fail policy says whether a staff member whose calendar
        // is not healthy is left out of the public flow.
        let states = scope.calendars().states_of(&wanted).await?;
        let notices = if states.is_empty() {
            Vec::new()
        } else {
            let policy = scope.calendars().fail_policy().await?;
            source_notices(&states, policy, self.now(), wide.end())
        };
        let mut slots = available_slots(&SlotQuery {
            service,
            // The engine ignores other staff members' schedules.
            schedules: &catalog.schedules,
            bookings: &booked,
            busy: &busy,
            window,
            staff,
            customer_zone: zone,
            now: self.now(),
        });
        if public {
            slots.retain(|slot| {
                !notices
                    .iter()
                    .any(|n| n.withheld && n.staff == slot.staff())
            });
        }
        Ok((slots, notices))
    }

    /// Free times of a public service, grouped by day in the requested
    /// zone, from every staff member of the service or from the one asked
    /// for. Kept while current (see [`crate::listing`]).
    ///
    /// # Errors
    /// [`AppError::NotFound`] for an unknown business or service,
    /// [`AppError::Invalid`] for a bad window, zone or staff member.
    pub async fn public_slots(
        &self,
        slug: &str,
        service_id: ServiceId,
        request: &ListingRequest<'_>,
    ) -> Result<Arc<Listing>, AppError> {
        let staff = request.staff;
        let asked = window(request.from, request.to)?;
        let zone =
            TimeZone::parse(request.time_zone).map_err(|e| AppError::invalid("time_zone", e))?;
        let key = ListingKey {
            slug: slug.to_owned(),
            service: service_id,
            staff,
            from: asked.range().start(),
            to: asked.range().end(),
            zone: request.time_zone.to_owned(),
        };
        let now = self.now();
        if let Some(kept) = self
            .listings
            .get(&key, now, |tenant| self.store.write_epoch(tenant))
        {
            return Ok(kept);
        }
        let tenant = self.public_tenant(slug).await?;
        // Read before the data: a write committed after this moves it.
        let epoch = self.store.write_epoch(tenant);
        let snapshot = self.public_snapshot(slug, tenant, false).await?;
        let service = snapshot
            .catalog
            .services
            .get(&service_id)
            .filter(|s| s.is_public())
            .cloned()
            .ok_or(AppError::NotFound)?;
        // One seat always fits: only the staff member is in question.
        if let Err(RequestError::StaffNotOnService) = service.offers(staff, 1) {
            return Err(AppError::invalid(
                "staff_id",
                "does not provide this service",
            ));
        }
        let scope = self.store.read(tenant).await?;
        let slots = self
            .slots_in(
                &scope,
                &snapshot.catalog,
                &service,
                staff,
                asked,
                &zone,
                None,
                true,
            )
            .await;
        scope.commit().await?;
        let (slots, notices) = slots?;
        let listing = Arc::new(Listing::new(
            request.time_zone.to_owned(),
            service.timing().duration(),
            &slots,
            notices,
        ));
        self.listings.put(
            key,
            tenant,
            epoch,
            now,
            service.timing().minimum_notice(),
            listing.clone(),
        );
        Ok(listing)
    }

    /// Checks `request` against the engine and builds the booking; the
    /// caller writes it. Answers the service and the staff member chosen.
    async fn plan_booking(
        &self,
        scope: &TenantScope,
        catalog: &Catalog,
        request: &BookingRequest,
        customer: CustomerId,
        public_only: bool,
    ) -> Result<(Booking<bookwarden_domain::booking::Requested>, Service), AppError> {
        let service = catalog
            .services
            .get(&request.service)
            .filter(|s| !public_only || s.is_public())
            .cloned()
            .ok_or_else(|| AppError::invalid("service", "no such service"))?;
        let staff = request.staff;
        let start = whole_second(request.start)?;
        // The service's rules are the domain's: the staff member first,
        // then the answers, then the seats, as clients have always been told.
        service.offers(staff, 1).map_err(request_error)?;
        let answers = service
            .intake()
            .validate(request.answers.clone())
            .map_err(|e| AppError::invalid("answers", e))?;
        service.offers(None, request.seats).map_err(request_error)?;
        let one = Window::at(start).ok_or_else(|| AppError::invalid("start", "out of range"))?;
        let utc = TimeZone::parse("UTC").map_err(AppError::internal)?;
        let (slots, _) = self
            .slots_in(
                scope,
                catalog,
                &service,
                staff,
                one,
                &utc,
                None,
                public_only,
            )
            .await?;
        let slot = slots
            .iter()
            .find(|s| s.start() == start && s.seats_left() >= request.seats)
            .ok_or_else(slot_taken)?;
        let booking =
            Booking::for_slot(&service, slot, customer, request.seats, answers, self.now())
                .map_err(request_error)?;
        Ok((booking, service))
    }

    /// Books through the public flow. With the same `idempotency_key` and
    /// request, answers the first booking (without its manage token).
    ///
    /// # Errors
    /// [`AppError::NotFound`] for an unknown business,
    /// [`AppError::Invalid`] for bad input, [`AppError::Conflict`]
    /// (`slot_taken`) when the time is no longer free,
    /// [`AppError::Conflict`] (`idempotency_key_reused`) for a key reused
    /// with another request.
    pub async fn public_book(
        &self,
        slug: &str,
        request: &BookingRequest,
        idempotency_key: Option<&str>,
    ) -> Result<Booked, AppError> {
        if let Some(key) = idempotency_key
            && (key.is_empty()
                || key.len() > MAX_IDEMPOTENCY_KEY
                || key.chars().any(char::is_control))
        {
            return Err(AppError::invalid(
                "idempotency-key",
                "1 to 200 printable characters",
            ));
        }
        let tenant = self.public_tenant(slug).await?;
        // Checked against the kept rules first; when they changed meanwhile
        // the booking statement refuses, and the check runs again on the
        // rules as they are now.
        for fresh in [false, true] {
            let snapshot = self.public_snapshot(slug, tenant, fresh).await?;
            if let Some(booked) = self
                .book_against(&snapshot, request, idempotency_key)
                .await?
            {
                return Ok(booked);
            }
        }
        Err(AppError::Busy)
    }

    /// One public booking checked against `snapshot`'s rules; `None` when
    /// they are no longer the tenant's. Long because it is the one
    /// statement's whole preparation (service, slot, intake answers,
    /// customer, manage link, idempotency) and its outcomes, kept in the
    /// order the request is checked.
    async fn book_against(
        &self,
        snapshot: &Snapshot,
        request: &BookingRequest,
        idempotency_key: Option<&str>,
    ) -> Result<Option<Booked>, AppError> {
        let tenant = &snapshot.tenant;
        let customer = parse_customer(tenant.id(), &request.customer)?;
        let digest_of_request = request_digest(request);
        let idempotency = idempotency_key.map(|key| Idempotency {
            key,
            request_digest: &digest_of_request,
        });
        // Checked first, so a refused request stores nothing. The customer
        // (found by email, or added) and the manage link's directory entry
        // then go into the booking's own statement: one write, all or
        // nothing.
        let scope = self.store.read(tenant.id()).await?;
        let planned = self
            .plan_booking(&scope, &snapshot.catalog, request, customer.id(), true)
            .await;
        let mut known = match planned {
            Ok(_) => scope.customers().by_email(customer.email()).await?,
            Err(_) => None,
        };
        scope.commit().await?;
        let (planned, service) = match planned {
            Ok(planned) => planned,
            // The slot is gone: it may be this same request's earlier
            // attempt (the same key and the same request), never another's.
            Err(AppError::Conflict(Conflict::SlotTaken)) if idempotency.is_some() => {
                return self
                    .replay(tenant.id(), idempotency)
                    .await?
                    .map(Some)
                    .ok_or_else(slot_taken);
            }
            Err(other) => return Err(other),
        };
        let (manage, manage_digest) =
            token::generate(TokenKind::BookingManage).map_err(AppError::internal)?;
        let manage_digest = *manage_digest.as_bytes();
        // Twice at most: a first booking for a new email can meet another
        // request adding the same email, and then books for that customer.
        for _ in 0..2 {
            let booking = Booking::request(
                NewBooking {
                    tenant: tenant.id(),
                    service: planned.service(),
                    staff: planned.staff(),
                    customer: known.as_ref().map_or(customer.id(), Customer::id),
                    range: planned.range(),
                    seats: planned.seats(),
                    answers: planned.answers().clone(),
                },
                self.now(),
            )
            .map_err(booking_error)?;
            let created = self
                .store
                .booker(tenant.id())
                .book_with(
                    &booking,
                    &service,
                    BookingExtras {
                        manage_digest: Some(&manage_digest),
                        idempotency,
                        new_customer: known.is_none().then_some(&customer),
                        catalog_version: Some(snapshot.version),
                    },
                )
                .await;
            match created {
                Ok(Created::New) => {
                    return Ok(Some(Booked {
                        booking: BookingView::from(&AnyBooking::from(booking)),
                        manage_token: Some(manage),
                        replayed: false,
                    }));
                }
                Ok(Created::Replayed(id)) => {
                    let scope = self.store.read(tenant.id()).await?;
                    let first = scope.bookings().get(id).await?;
                    scope.commit().await?;
                    let first = first.ok_or(AppError::NotFound)?;
                    return Ok(Some(Booked {
                        booking: BookingView::from(&first),
                        manage_token: None,
                        replayed: true,
                    }));
                }
                Err(StoreError::CatalogChanged) => return Ok(None),
                Err(StoreError::Duplicate(Unique::CustomerEmail)) if known.is_none() => {
                    let scope = self.store.read(tenant.id()).await?;
                    known = scope.customers().by_email(customer.email()).await?;
                    scope.commit().await?;
                }
                Err(StoreError::SlotTaken) => return Err(slot_taken()),
                Err(StoreError::IdempotencyMismatch) => {
                    return Err(AppError::Conflict(Conflict::IdempotencyKeyReused));
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(AppError::Busy)
    }

    /// The booking this same request made before under its key, if any.
    async fn replay(
        &self,
        tenant: TenantId,
        idempotency: Option<Idempotency<'_>>,
    ) -> Result<Option<Booked>, AppError> {
        let Some(idempotency) = idempotency else {
            return Ok(None);
        };
        let scope = self.store.read(tenant).await?;
        let found = scope.bookings().by_idempotency_key(idempotency).await;
        scope.commit().await?;
        let found = match found {
            Ok(found) => found,
            Err(StoreError::IdempotencyMismatch) => {
                return Err(AppError::Conflict(Conflict::IdempotencyKeyReused));
            }
            Err(other) => return Err(other.into()),
        };
        Ok(found.map(|b| Booked {
            booking: BookingView::from(&b),
            manage_token: None,
            replayed: true,
        }))
    }

    /// The booking a manage token opens, with its tenant.
    async fn managed(&self, token_text: &str) -> Result<(TenantId, AnyBooking), AppError> {
        let parsed = token::parse_as(token_text, TokenKind::BookingManage)
            .map_err(|_malformed| AppError::NotFound)?;
        let digest = *parsed.digest().as_bytes();
        let Some((tenant, bookwarden_persistence::CredentialKind::BookingManage)) =
            self.store.system().locate_credential(&digest).await?
        else {
            return Err(AppError::NotFound);
        };
        let scope = self.store.read(tenant).await?;
        let booking = scope.bookings().by_manage_digest(&digest).await?;
        scope.commit().await?;
        Ok((tenant, booking.ok_or(AppError::NotFound)?))
    }

    /// What the manage token shows: the booking (with the answers given)
    /// and its service and business. Never the stored customer record: a
    /// public booking names a customer by email alone, so whoever books
    /// with someone's email must not learn their name or phone.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for an unknown token.
    pub async fn manage_view(
        &self,
        token_text: &str,
    ) -> Result<(BookingView, Service, Tenant), AppError> {
        let (tenant, booking) = self.managed(token_text).await?;
        let view = BookingView::from(&booking);
        let scope = self.store.read(tenant).await?;
        let service = scope.services().get(view.service).await?;
        let tenant_row = scope.tenant_row().await?;
        scope.commit().await?;
        match (service, tenant_row) {
            (Some(s), Some(t)) => Ok((view, s, t)),
            _ => Err(AppError::NotFound),
        }
    }

    /// Cancels through the manage token.
    ///
    /// # Errors
    /// [`AppError::NotFound`], [`AppError::Conflict`] when already started
    /// or cancelled.
    pub async fn manage_cancel(&self, token_text: &str) -> Result<BookingView, AppError> {
        let (tenant, booking) = self.managed(token_text).await?;
        self.cancel_any(tenant, booking, CancelledBy::Customer)
            .await
    }

    /// Moves the booking through the manage token; the new time is taken or
    /// nothing changes.
    ///
    /// # Errors
    /// [`AppError::NotFound`], [`AppError::Conflict`] (`slot_taken`).
    pub async fn manage_reschedule(
        &self,
        token_text: &str,
        start: Timestamp,
    ) -> Result<BookingView, AppError> {
        let (tenant, booking) = self.managed(token_text).await?;
        let scope = self.store.read(tenant).await?;
        let open = scope
            .tenant_row()
            .await?
            .is_some_and(|t| t.accepts_bookings());
        scope.commit().await?;
        if !open {
            return Err(AppError::Conflict(Conflict::BusinessClosed));
        }
        self.reschedule_any(tenant, booking, start, true).await
    }

    async fn cancel_any(
        &self,
        tenant: TenantId,
        booking: AnyBooking,
        by: CancelledBy,
    ) -> Result<BookingView, AppError> {
        let now = self.now();
        let cancelled = match booking {
            AnyBooking::Requested(b) => b.cancel(by, now),
            AnyBooking::Confirmed(b) => b.cancel(by, now),
            AnyBooking::Cancelled(_) => return Err(AppError::Conflict(Conflict::BookingCancelled)),
        }
        .map_err(booking_error)?;
        let scope = self.store.write(tenant).await?;
        if !scope.bookings().cancel(&cancelled).await? {
            scope.rollback().await?;
            return Err(AppError::Conflict(Conflict::BookingCancelled));
        }
        scope.commit().await?;
        Ok(BookingView::from(&AnyBooking::from(cancelled)))
    }

    async fn reschedule_any(
        &self,
        tenant: TenantId,
        booking: AnyBooking,
        start: Timestamp,
        public: bool,
    ) -> Result<BookingView, AppError> {
        let view = BookingView::from(&booking);
        let start = whole_second(start)?;
        let scope = self.store.write(tenant).await?;
        let catalog = Catalog::read(&scope).await?;
        let service = catalog
            .services
            .get(&view.service)
            .cloned()
            .ok_or(AppError::NotFound)?;
        let one = Window::at(start).ok_or_else(|| AppError::invalid("start", "out of range"))?;
        let utc = TimeZone::parse("UTC").map_err(AppError::internal)?;
        // The booking's own time does not block its new one: the store moves
        // its hold in the same transaction.
        let free = self
            .slots_in(
                &scope,
                &catalog,
                &service,
                Some(view.staff),
                one,
                &utc,
                Some(view.id),
                public,
            )
            .await?
            .0
            .into_iter()
            .any(|s| s.start() == start && s.seats_left() >= view.seats);
        if !free {
            scope.rollback().await?;
            return Err(slot_taken());
        }
        let to = TimeRange::new(
            start,
            start
                .checked_add(service.timing().duration())
                .map_err(AppError::internal)?,
        )
        .map_err(|e| AppError::invalid("start", e))?;
        let now = self.now();
        let moved: AnyBooking = match booking {
            AnyBooking::Requested(b) => b.reschedule(to, now).map_err(booking_error)?.into(),
            AnyBooking::Confirmed(b) => b.reschedule(to, now).map_err(booking_error)?.into(),
            AnyBooking::Cancelled(_) => {
                scope.rollback().await?;
                return Err(AppError::Conflict(Conflict::BookingCancelled));
            }
        };
        let stored = match &moved {
            AnyBooking::Requested(b) => scope.bookings().reschedule(b, &service).await,
            AnyBooking::Confirmed(b) => scope.bookings().reschedule(b, &service).await,
            AnyBooking::Cancelled(_) => Ok(false),
        };
        match stored {
            Ok(true) => {}
            Ok(false) => {
                scope.rollback().await?;
                return Err(AppError::Conflict(Conflict::BookingCancelled));
            }
            Err(StoreError::SlotTaken) => {
                scope.rollback().await?;
                return Err(slot_taken());
            }
            Err(other) => return Err(other.into()),
        }
        scope.commit().await?;
        Ok(BookingView::from(&moved))
    }

    /// The `.ics` of the booking a manage token opens.
    ///
    /// # Errors
    /// [`AppError::NotFound`].
    pub async fn manage_ics(&self, token_text: &str) -> Result<String, AppError> {
        let (view, service, tenant) = self.manage_view(token_text).await?;
        Ok(crate::ics::event(&view, &service, &tenant, self.now()))
    }

    /// Bookings whose start lies in `[from, to)`, optionally of one staff
    /// member or customer. Staff see only their own.
    ///
    /// # Errors
    /// [`AppError::Forbidden`], [`AppError::Invalid`].
    pub async fn bookings(
        &self,
        principal: &Principal,
        from: Timestamp,
        to: Timestamp,
        mut staff: Option<StaffId>,
        customer: Option<CustomerId>,
    ) -> Result<Vec<BookingView>, AppError> {
        principal.require(Need::Read)?;
        let range = window(from, to)?.range();
        if !principal.role.is_privileged() {
            let own = self
                .own_staff(principal)
                .await?
                .ok_or(AppError::Forbidden)?;
            if staff.is_some_and(|s| s != own) {
                return Err(AppError::Forbidden);
            }
            staff = Some(own);
        }
        let scope = self.store.read(principal.tenant).await?;
        let found = scope.bookings().list_where(range, staff, customer).await?;
        scope.commit().await?;
        Ok(found.iter().map(BookingView::from).collect())
    }

    /// Loads a booking the principal may see: admins any, staff their own.
    async fn visible_booking(
        &self,
        principal: &Principal,
        id: BookingId,
    ) -> Result<AnyBooking, AppError> {
        principal.require(Need::Read)?;
        let scope = self.store.read(principal.tenant).await?;
        let booking = scope.bookings().get(id).await?;
        scope.commit().await?;
        let booking = booking.ok_or(AppError::NotFound)?;
        if !principal.role.is_privileged() {
            let own = self.own_staff(principal).await?;
            if own != Some(BookingView::from(&booking).staff) {
                // Someone else's booking is as unknown as a missing one.
                return Err(AppError::NotFound);
            }
        }
        Ok(booking)
    }

    /// One booking.
    ///
    /// # Errors
    /// [`AppError::NotFound`].
    pub async fn booking(
        &self,
        principal: &Principal,
        id: BookingId,
    ) -> Result<BookingView, AppError> {
        Ok(BookingView::from(
            &self.visible_booking(principal, id).await?,
        ))
    }

    /// Books on a customer's behalf (admins for anyone; staff for
    /// themselves), confirmed at once.
    ///
    /// # Errors
    /// As [`Self::public_book`], and [`AppError::Forbidden`].
    pub async fn create_booking(
        &self,
        principal: &Principal,
        request: &BookingRequest,
    ) -> Result<BookingView, AppError> {
        principal.require(Need::Write)?;
        let mut request = request.clone();
        if !principal.role.is_privileged() {
            let own = self
                .own_staff(principal)
                .await?
                .ok_or(AppError::Forbidden)?;
            match request.staff {
                Some(s) if s != own => return Err(AppError::Forbidden),
                _ => request.staff = Some(own),
            }
        }
        let customer = parse_customer(principal.tenant, &request.customer)?;
        let scope = self.store.write(principal.tenant).await?;
        let (customer, _) = self.find_or_add_customer(&scope, customer).await?;
        let catalog = Catalog::read(&scope).await?;
        let (booking, service) = match self
            .plan_booking(&scope, &catalog, &request, customer.id(), false)
            .await
        {
            Ok(planned) => planned,
            Err(error) => {
                scope.rollback().await?;
                return Err(error);
            }
        };
        let confirmed = booking.confirm(self.now());
        match scope
            .bookings()
            .create(&confirmed, &service, None, None)
            .await
        {
            Ok(_) => {}
            Err(StoreError::SlotTaken) => {
                scope.rollback().await?;
                return Err(slot_taken());
            }
            Err(other) => return Err(other.into()),
        }
        scope.commit().await?;
        Ok(BookingView::from(&AnyBooking::from(confirmed)))
    }

    /// Confirms a requested booking.
    ///
    /// # Errors
    /// [`AppError::NotFound`], [`AppError::Conflict`] unless requested.
    pub async fn confirm_booking(
        &self,
        principal: &Principal,
        id: BookingId,
    ) -> Result<BookingView, AppError> {
        principal.require(Need::Write)?;
        let booking = self.visible_booking(principal, id).await?;
        let AnyBooking::Requested(requested) = booking else {
            return Err(AppError::Conflict(Conflict::BookingNotRequested));
        };
        let confirmed = requested.confirm(self.now());
        let scope = self.store.write(principal.tenant).await?;
        if !scope.bookings().confirm(&confirmed).await? {
            scope.rollback().await?;
            return Err(AppError::Conflict(Conflict::BookingNotRequested));
        }
        scope.commit().await?;
        Ok(BookingView::from(&AnyBooking::from(confirmed)))
    }

    /// Cancels a booking on the business's side.
    ///
    /// # Errors
    /// [`AppError::NotFound`], [`AppError::Conflict`].
    pub async fn cancel_booking(
        &self,
        principal: &Principal,
        id: BookingId,
    ) -> Result<BookingView, AppError> {
        principal.require(Need::Write)?;
        let booking = self.visible_booking(principal, id).await?;
        self.cancel_any(principal.tenant, booking, CancelledBy::Staff)
            .await
    }

    /// Moves a booking; the new time is taken or nothing changes.
    ///
    /// # Errors
    /// [`AppError::NotFound`], [`AppError::Conflict`] (`slot_taken`).
    pub async fn reschedule_booking(
        &self,
        principal: &Principal,
        id: BookingId,
        start: Timestamp,
    ) -> Result<BookingView, AppError> {
        principal.require(Need::Write)?;
        let booking = self.visible_booking(principal, id).await?;
        self.reschedule_any(principal.tenant, booking, start, false)
            .await
    }
}
