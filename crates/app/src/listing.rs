//! Public slot listings, grouped by day and kept while they are current.
//!
//! A booking page shows the same month to every visitor, and each listing
//! costs the slot engine a read of the month's bookings, busy blocks and
//! schedules. A listing is kept until the first of:
//! - any committed write of its tenant in this process (the store's write
//!   epoch moves: a booking, a cancellation, a schedule, a busy block);
//! - the moment its earliest slot runs into the service's notice;
//! - [`LISTING_TTL`], which bounds how long a write by another process (a
//!   second server on the same PostgreSQL) can go unseen.
//!
//! A listing that is stale can only offer a slot that is gone, never hide
//! a rule: every booking is checked against the database and answers 409
//! when the time is taken.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use bookwarden_domain::calendar::SourceNotice;
use bookwarden_domain::id::{ServiceId, StaffId, TenantId};
use bookwarden_domain::jiff::civil::Date;
use bookwarden_domain::jiff::tz::Offset;
use bookwarden_domain::jiff::{SignedDuration, Timestamp};
use bookwarden_domain::slots::Slot;

/// The longest a listing is kept.
pub const LISTING_TTL: SignedDuration = SignedDuration::from_secs(5);

/// Roughly how much the kept listings may hold, rendered; over it, the
/// expired ones go first, then all of them.
const BUDGET_BYTES: usize = 8 << 20;

/// A listing longer than this is computed for each request, not kept
/// (a month of one-minute slots around the clock, say).
const MAX_KEPT_SLOTS: usize = 10_000;

/// About what one listed time takes, kept and rendered.
const BYTES_PER_SLOT: usize = 96;

/// About what a kept listing takes besides its times.
const ENTRY_BYTES: usize = 512;

/// Free times of a service over a window, on the requested zone's days.
/// Staff members are merged: a time is listed when any of them is free
/// (ask for one member's listing to choose who).
pub struct Listing {
    /// The requested IANA zone.
    pub time_zone: String,
    /// The service's length, in minutes.
    pub duration_minutes: i64,
    /// Days with at least one free time, in order.
    pub days: Vec<ListingDay>,
    /// Staff members whose calendars are not healthy: the listing may miss
    /// their busy time, or leaves their times out (the tenant's fail
    /// policy).
    pub calendars: Vec<SourceNotice>,
    rendered: OnceLock<Arc<[u8]>>,
}

/// One day on the requested zone's calendar.
pub struct ListingDay {
    /// The date in the requested zone.
    pub date: Date,
    /// Its free times, in order.
    pub slots: Vec<ListedSlot>,
}

/// One free time.
#[derive(Clone, Copy)]
pub struct ListedSlot {
    /// When it starts.
    pub start: Timestamp,
    /// The requested zone's UTC offset then.
    pub offset: Offset,
    /// The most seats free with any one staff member.
    pub seats_left: u16,
}

impl Listing {
    /// Groups `slots` (any order, any staff) by day in their offsets.
    pub(crate) fn new(
        time_zone: String,
        duration: SignedDuration,
        slots: &[Slot],
        calendars: Vec<SourceNotice>,
    ) -> Self {
        let times = slots
            .iter()
            .map(|s| ListedSlot {
                start: s.start(),
                offset: s.offset(),
                seats_left: s.seats_left(),
            })
            .collect();
        let mut listing = Self::from_times(time_zone, duration, times);
        listing.calendars = calendars;
        listing
    }

    /// Groups free times (any order, repeated per staff member) by day.
    fn from_times(time_zone: String, duration: SignedDuration, mut times: Vec<ListedSlot>) -> Self {
        times.sort_by_key(|t| t.start);
        let mut days: Vec<ListingDay> = Vec::new();
        for time in times {
            let date = time.offset.to_datetime(time.start).date();
            match days.last_mut() {
                Some(day) if day.date == date => match day.slots.last_mut() {
                    Some(last) if last.start == time.start => {
                        last.seats_left = last.seats_left.max(time.seats_left);
                    }
                    _ => day.slots.push(time),
                },
                _ => days.push(ListingDay {
                    date,
                    slots: vec![time],
                }),
            }
        }
        Self {
            time_zone,
            duration_minutes: duration.as_mins(),
            days,
            calendars: Vec::new(),
            rendered: OnceLock::new(),
        }
    }

    /// How many free times are listed.
    pub fn len(&self) -> usize {
        self.days.iter().map(|d| d.slots.len()).sum()
    }

    /// Whether nothing is free.
    pub fn is_empty(&self) -> bool {
        self.days.is_empty()
    }

    /// The listing as the caller renders it (a response body), made once
    /// per listing by `render` and kept with it; a failed rendering is
    /// not kept.
    ///
    /// # Errors
    /// `render`'s.
    pub fn rendered<E>(
        &self,
        render: impl FnOnce(&Self) -> Result<Vec<u8>, E>,
    ) -> Result<Arc<[u8]>, E> {
        if let Some(kept) = self.rendered.get() {
            return Ok(kept.clone());
        }
        let made: Arc<[u8]> = render(self)?.into();
        // Two requests may render at once; both answer the first kept.
        Ok(self.rendered.get_or_init(|| made).clone())
    }

    fn first_start(&self) -> Option<Timestamp> {
        self.days
            .first()
            .and_then(|d| d.slots.first())
            .map(|s| s.start)
    }
}

/// What a client asks to list.
#[derive(Clone, Copy)]
pub struct ListingRequest<'a> {
    /// The window's start.
    pub from: Timestamp,
    /// The window's end: at most 92 days after the start.
    pub to: Timestamp,
    /// The IANA zone whose days group the times.
    pub time_zone: &'a str,
    /// One staff member's times only.
    pub staff: Option<StaffId>,
}

/// What a listing was asked for, parsed (so spellings of one instant are
/// one listing).
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct ListingKey {
    pub(crate) slug: String,
    pub(crate) service: ServiceId,
    pub(crate) staff: Option<StaffId>,
    pub(crate) from: Timestamp,
    pub(crate) to: Timestamp,
    /// A zone name that parsed.
    pub(crate) zone: String,
}

struct Kept {
    tenant: TenantId,
    epoch: u64,
    until: Timestamp,
    bytes: usize,
    listing: Arc<Listing>,
}

/// The listings kept, and about how many bytes they hold.
#[derive(Default)]
pub(crate) struct Listings(Mutex<(HashMap<ListingKey, Kept>, usize)>);

impl Listings {
    /// The kept listing for `key`, if its tenant has written nothing since
    /// (`epoch_of` reads the store's count) and it has not expired.
    pub(crate) fn get(
        &self,
        key: &ListingKey,
        now: Timestamp,
        epoch_of: impl Fn(TenantId) -> u64,
    ) -> Option<Arc<Listing>> {
        let kept_all = self.0.lock().ok()?;
        let kept = kept_all.0.get(key)?;
        (now < kept.until && epoch_of(kept.tenant) == kept.epoch).then(|| kept.listing.clone())
    }

    /// Keeps `listing`, computed from data read after the tenant's count was
    /// `epoch`, until `now` + [`LISTING_TTL`] or the moment its first slot
    /// is closer than `notice`.
    pub(crate) fn put(
        &self,
        key: ListingKey,
        tenant: TenantId,
        epoch: u64,
        now: Timestamp,
        notice: SignedDuration,
        listing: Arc<Listing>,
    ) {
        let ttl_end = now.checked_add(LISTING_TTL).unwrap_or(now);
        let until = listing
            .first_start()
            .and_then(|start| start.checked_sub(notice).ok())
            .map_or(ttl_end, |closes| closes.min(ttl_end));
        let slots = listing.len();
        if slots > MAX_KEPT_SLOTS {
            return;
        }
        // An empty listing still costs its entry.
        let bytes = slots
            .saturating_add(listing.days.len())
            .saturating_mul(BYTES_PER_SLOT)
            .saturating_add(ENTRY_BYTES)
            .saturating_add(key.slug.len())
            .saturating_add(key.zone.len());
        let Ok(mut kept_all) = self.0.lock() else {
            return;
        };
        let (map, total) = &mut *kept_all;
        if let Some(old) = map.remove(&key) {
            *total = total.saturating_sub(old.bytes);
        }
        if total.saturating_add(bytes) > BUDGET_BYTES {
            map.retain(|_, kept| now < kept.until);
            *total = map.values().map(|k| k.bytes).sum();
            if total.saturating_add(bytes) > BUDGET_BYTES {
                map.clear();
                *total = 0;
            }
        }
        *total = total.saturating_add(bytes);
        map.insert(
            key,
            Kept {
                tenant,
                epoch,
                until,
                bytes,
                listing,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

    use super::*;

    fn at(text: &str, offset_hours: i8, seats_left: u16) -> ListedSlot {
        ListedSlot {
            start: text.parse().unwrap(),
            offset: Offset::constant(offset_hours),
            seats_left,
        }
    }

    #[test]
    fn times_are_merged_across_staff_and_grouped_by_the_customers_day() {
        // New York's last evening hour of March 7 is already March 8 in UTC.
        let listing = Listing::from_times(
            "America/New_York".to_owned(),
            SignedDuration::from_mins(30),
            vec![
                at("2027-03-08T15:00:00Z", -5, 1),
                at("2027-03-08T04:30:00Z", -5, 2),
                at("2027-03-08T15:00:00Z", -5, 3),
                at("2027-03-08T04:30:00Z", -5, 1),
            ],
        );
        assert_eq!(listing.len(), 2, "one time per start, whoever is free");
        assert_eq!(listing.days.len(), 2);
        assert_eq!(listing.days[0].date.to_string(), "2027-03-07");
        assert_eq!(
            listing.days[0].slots[0].seats_left, 2,
            "the most seats free"
        );
        assert_eq!(listing.days[1].date.to_string(), "2027-03-08");
        assert_eq!(listing.days[1].slots[0].seats_left, 3);
        assert_eq!(listing.duration_minutes, 30);
    }

    #[test]
    fn kept_listings_expire_move_with_the_epoch_and_stay_within_their_budget() {
        let listings = Listings::default();
        let tenant = TenantId::random();
        let now: Timestamp = "2027-01-01T08:00:00Z".parse().unwrap();
        let key = |n: i64| ListingKey {
            slug: "clinic".to_owned(),
            service: ServiceId::random(),
            staff: None,
            from: now,
            to: now.checked_add(SignedDuration::from_hours(n)).unwrap(),
            zone: "UTC".to_owned(),
        };
        let one = |first: &str| {
            Arc::new(Listing::from_times(
                "UTC".to_owned(),
                SignedDuration::from_mins(30),
                vec![at(first, 0, 1)],
            ))
        };
        let k = key(1);
        listings.put(
            k.clone(),
            tenant,
            7,
            now,
            SignedDuration::ZERO,
            one("2027-01-01T12:00:00Z"),
        );
        assert!(listings.get(&k, now, |_| 7).is_some());
        assert!(
            listings.get(&k, now, |_| 8).is_none(),
            "a write moved the epoch"
        );
        let later = now.checked_add(LISTING_TTL).unwrap();
        assert!(listings.get(&k, later, |_| 7).is_none(), "expired");
        // The first slot runs into its notice before the time to live ends.
        let soon = key(2);
        listings.put(
            soon.clone(),
            tenant,
            7,
            now,
            SignedDuration::from_mins(239),
            one("2027-01-01T12:00:00Z"),
        );
        let closes = now.checked_add(SignedDuration::from_mins(1)).unwrap();
        assert!(listings.get(&soon, closes, |_| 7).is_none());
        // Too long a listing is not kept at all.
        let long = key(3);
        let many = (0..=MAX_KEPT_SLOTS)
            .map(|n| ListedSlot {
                start: now
                    .checked_add(SignedDuration::from_mins(i64::try_from(n).unwrap()))
                    .unwrap(),
                offset: Offset::UTC,
                seats_left: 1,
            })
            .collect();
        let huge = Arc::new(Listing::from_times(
            "UTC".to_owned(),
            SignedDuration::from_mins(1),
            many,
        ));
        listings.put(long.clone(), tenant, 7, now, SignedDuration::ZERO, huge);
        assert!(listings.get(&long, now, |_| 7).is_none());
        // However many are put, the kept bytes stay within the budget.
        let thousand: Vec<ListedSlot> = (0..1_000)
            .map(|n| ListedSlot {
                start: now.checked_add(SignedDuration::from_mins(n)).unwrap(),
                offset: Offset::UTC,
                seats_left: 1,
            })
            .collect();
        for n in 10..300 {
            let listing = Arc::new(Listing::from_times(
                "UTC".to_owned(),
                SignedDuration::from_mins(1),
                thousand.clone(),
            ));
            listings.put(key(n), tenant, 7, now, SignedDuration::ZERO, listing);
        }
        // Empty listings (a window with no hours) count too.
        for n in 300..40_000 {
            let empty = Arc::new(Listing::from_times(
                "UTC".to_owned(),
                SignedDuration::from_mins(1),
                Vec::new(),
            ));
            listings.put(key(n), tenant, 7, now, SignedDuration::ZERO, empty);
        }
        let kept = listings.0.lock().unwrap();
        assert!(kept.0.len() < 20_000, "{} entries kept", kept.0.len());
        assert!(kept.1 <= BUDGET_BYTES, "{} bytes kept", kept.1);
        assert_eq!(kept.1, kept.0.values().map(|k| k.bytes).sum::<usize>());
        assert!(!kept.0.is_empty(), "the newest is kept");
    }
}
