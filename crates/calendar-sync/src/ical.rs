//! iCalendar text in, busy time out.
//!
//! Parsing and recurrence expansion are `calcard`'s (VTIMEZONE and Windows
//! zone names, RRULE, RDATE, EXDATE, RECURRENCE-ID overrides, DURATION).
//! Each event series is expanded on its own, with its own cap, after
//! three corrections for what `calcard` 0.3 gets wrong: an override whose
//! SEQUENCE differs from its series would not replace its occurrence, a
//! UTC start of a recurring event would be read in the default zone, and a
//! UTC `UNTIL` would be compared with local times as if they were UTC.
//!
//! Every cost is bounded whatever the input ([`Limits`]): occurrences per
//! series and per source, series per source, zones per calendar, dates per
//! event, and a deadline; a rule whose one period would generate more than
//! [`MAX_PER_PERIOD`] occurrences (or any per-second or per-minute rule) is
//! not expanded, since the rule engine builds a whole period before any cap
//! sees it. Whatever was cut is reported in [`Degraded`].
//!
//! What comes out is [`Imported`]: the start, the end, whether it is an
//! all-day event and (only in [`SyncMode::WithSubject`]) the summary, as
//! the domain's [`ImportedBusy`], with an opaque key. Descriptions,
//! locations, attendees, organizers, attachments and URLs are never copied
//! out of the parser's structures, which are dropped before this returns.
//! Floating times and all-day dates are read in the staff member's zone;
//! transparent and cancelled events block nothing.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use bookwarden_crypto::digest::Sha256;
use bookwarden_domain::calendar::{ImportedBusy, SyncMode};
use bookwarden_domain::jiff::Timestamp;
use bookwarden_domain::time::{TimeRange, TimeZone};
use calcard::common::PartialDateTime;
use calcard::common::timezone::Tz;
use calcard::icalendar::{
    ICalendar, ICalendarComponent, ICalendarComponentType, ICalendarFrequency, ICalendarParameter,
    ICalendarParameterName, ICalendarProperty, ICalendarStatus, ICalendarTransparency,
    ICalendarValue,
};
use calcard::{Entry, Parser};
use chrono::{DateTime, Datelike as _, TimeZone as _, Timelike as _, Utc};

/// How much one source may expand to before it is cut and marked
/// degraded. Every bound holds whatever the input: a hostile calendar costs
/// at most these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Occurrences one series may produce, counted from its first.
    pub per_series: usize,
    /// Occurrences the whole source may produce.
    pub per_calendar: usize,
    /// Series (events with their overrides) one source may hold.
    pub max_series: usize,
    /// Time zones one calendar may define; further ones are ignored.
    pub max_zones: usize,
    /// RDATE and EXDATE values one event may list; further ones are
    /// ignored and the series counted as cut.
    pub max_dates_per_event: usize,
    /// CPU time one source may take to expand, counted on the threads
    /// that expand it (so a busy server that makes the work wait never cuts
    /// it); past it the rest is cut.
    pub deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_series: 20_000,
            per_calendar: 200_000,
            max_series: 20_000,
            max_zones: 100,
            max_dates_per_event: 1_000,
            deadline: Duration::from_secs(5),
        }
    }
}

/// The most occurrences one period of a rule may generate at once: the
/// rule engine collects a whole period (a year, for a yearly rule) before
/// the per-series cap sees any of it, so a rule whose BY lists multiply to
/// more is not expanded.
pub const MAX_PER_PERIOD: usize = 10_000;

/// An opaque, stable key of one occurrence of one event: a digest of the
/// source's event id and the occurrence's original start, so incremental
/// syncs can replace exactly what changed without the event's id (which
/// can be an address) being stored.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventKey([u8; 32]);

impl EventKey {
    /// The key of the occurrence of event `event_id` originally starting
    /// at `occurrence`.
    pub fn new(event_id: &str, occurrence: Timestamp) -> Self {
        let mut digest = Sha256::labelled(b"bookwarden calendar occurrence");
        digest.update_framed(event_id.as_bytes());
        digest.update_framed(&occurrence.as_microsecond().to_be_bytes());
        Self(digest.finish())
    }

    /// The key of an event instance that has an id of its own (Google's
    /// and Graph's instances of a series do), whatever its start: a moved
    /// instance keeps its key, and a removal names it by id alone.
    pub fn instance(instance_id: &str) -> Self {
        let mut digest = Sha256::labelled(b"bookwarden calendar instance");
        digest.update_framed(instance_id.as_bytes());
        Self(digest.finish())
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for EventKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [a, b, c, d, ..] = self.0;
        write!(f, "EventKey({a:02x}{b:02x}{c:02x}{d:02x}..)")
    }
}

/// One busy occurrence and its key.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Imported {
    /// Which occurrence of which event.
    pub key: EventKey,
    /// The busy time.
    pub busy: ImportedBusy,
}

/// Why a calendar's busy time may be incomplete. A degraded source is
/// reported, never silently cut.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Degraded {
    /// Series cut at [`Limits::per_series`].
    pub series_cut: usize,
    /// Whether the calendar reached [`Limits::per_calendar`].
    pub calendar_cut: bool,
    /// Lines or components that could not be read and were skipped.
    pub unreadable: usize,
}

impl Degraded {
    /// Whether anything was cut or skipped.
    pub fn any(&self) -> bool {
        self.series_cut > 0 || self.calendar_cut || self.unreadable > 0
    }
}

/// The busy time of one calendar text in a window.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expansion {
    /// Busy occurrences overlapping the window, by start.
    pub events: Vec<Imported>,
    /// What was cut or skipped.
    pub degraded: Degraded,
}

/// The text holds no calendar at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the text is not an iCalendar calendar")]
pub struct NotICalendar;

/// The busy occurrences of every event in `text` that overlap `window`,
/// floating times and dates read in `zone`, keeping what `mode` allows.
///
/// # Errors
/// [`NotICalendar`] when the text holds no calendar; a calendar with
/// unreadable parts is read as far as it goes and marked
/// [`Degraded::unreadable`].
pub fn expand(
    text: &str,
    window: TimeRange,
    zone: &TimeZone,
    mode: SyncMode,
    limits: Limits,
) -> Result<Expansion, NotICalendar> {
    let mut expander = Expander::new(window, zone, mode, limits);
    expander.add(text)?;
    Ok(expander.finish())
}

/// Expands several calendar texts of one source (a CalDAV account's
/// objects) under one set of [`Limits`]: one budget, one series count, one
/// deadline for all of them.
pub struct Expander {
    window: TimeRange,
    staff_zone: Tz,
    mode: SyncMode,
    limits: Limits,
    budget: usize,
    series: usize,
    /// CPU time spent in earlier [`Expander::add`] calls.
    spent: Duration,
    /// The thread's CPU clock when the current call began.
    call_began: Duration,
    out: Expansion,
}

impl std::fmt::Debug for Expander {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Expander")
            .field("budget", &self.budget)
            .field("series", &self.series)
            .finish_non_exhaustive()
    }
}

impl Expander {
    /// An expander over `window`, reading floating times in `zone`.
    pub fn new(window: TimeRange, zone: &TimeZone, mode: SyncMode, limits: Limits) -> Self {
        Self {
            window,
            staff_zone: zone.name().parse().unwrap_or(Tz::UTC),
            mode,
            limits,
            budget: limits.per_calendar,
            series: 0,
            spent: Duration::ZERO,
            call_began: Duration::ZERO,
            out: Expansion::default(),
        }
    }

    /// Adds the events of one calendar text.
    ///
    /// # Errors
    /// [`NotICalendar`] when the text holds no calendar (nothing added).
    pub fn add(&mut self, text: &str) -> Result<(), NotICalendar> {
        self.call_began = crate::background::thread_cpu_time();
        let added = self.add_text(text);
        self.spent = self.spent_now();
        added
    }

    fn add_text(&mut self, text: &str) -> Result<(), NotICalendar> {
        let mut parser = Parser::new(text);
        let mut found = false;
        loop {
            match parser.entry() {
                Entry::ICalendar(calendar) => {
                    found = true;
                    self.add_calendar(&calendar);
                }
                Entry::Eof => break,
                Entry::VCard(_) => {}
                // The line's text is dropped unread: it may be a description.
                _ => self.out.degraded.unreadable = self.out.degraded.unreadable.saturating_add(1),
            }
        }
        if found { Ok(()) } else { Err(NotICalendar) }
    }

    /// The busy time found, by start, each occurrence once.
    pub fn finish(mut self) -> Expansion {
        self.out
            .events
            .sort_by_key(|e| (e.busy.range().start(), e.busy.range().end(), e.key));
        self.out.events.dedup_by_key(|e| e.key);
        self.out
    }

    /// Whether the source has used up what it may: then the rest is cut.
    fn exhausted(&mut self) -> bool {
        let spent = self.budget == 0
            || self.series >= self.limits.max_series
            || self.spent_now() > self.limits.deadline;
        if spent {
            self.out.degraded.calendar_cut = true;
        }
        spent
    }

    /// CPU time spent so far, the current call included.
    fn spent_now(&self) -> Duration {
        let this_call = crate::background::thread_cpu_time().saturating_sub(self.call_began);
        self.spent.saturating_add(this_call)
    }

    fn add_calendar(&mut self, calendar: &ICalendar) {
        let (zones, groups) = by_series(calendar, self.limits.max_zones);
        if zones.skipped > 0 {
            self.out.degraded.unreadable =
                self.out.degraded.unreadable.saturating_add(zones.skipped);
        }
        for (id, members) in groups {
            if self.exhausted() {
                return;
            }
            self.series = self.series.saturating_add(1);
            let series = Series {
                calendar: series_calendar(calendar, &zones, &members),
                id,
            };
            self.expand_series(series);
        }
    }
}

/// A calendar's time zones, by TZID, at most the cap; and how many were
/// left out.
struct Zones<'c> {
    by_id: Vec<(&'c str, &'c ICalendarComponent)>,
    skipped: usize,
}

/// The calendar's zones and its events grouped by UID (component indexes,
/// nothing copied yet).
fn by_series(calendar: &ICalendar, max_zones: usize) -> (Zones<'_>, BTreeMap<String, Vec<usize>>) {
    let mut zones = Zones {
        by_id: Vec::new(),
        skipped: 0,
    };
    for zone in calendar.timezones() {
        let Some(id) = zone
            .property(&ICalendarProperty::Tzid)
            .and_then(|e| e.values.first())
            .and_then(ICalendarValue::as_text)
        else {
            continue;
        };
        if zones.by_id.len() < max_zones {
            zones.by_id.push((id, zone));
        } else {
            zones.skipped = zones.skipped.saturating_add(1);
        }
    }
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (index, component) in calendar.components.iter().enumerate() {
        if component.component_type != ICalendarComponentType::VEvent {
            continue;
        }
        // An event without a UID is a series of its own.
        let id = component
            .uid()
            .map_or_else(|| format!("\u{0}component-{index}"), str::to_owned);
        groups.entry(id).or_default().push(index);
    }
    (zones, groups)
}

/// A calendar of one series' components and the zones they name, built
/// just before it is expanded and dropped after.
fn series_calendar(calendar: &ICalendar, zones: &Zones<'_>, members: &[usize]) -> ICalendar {
    let events: Vec<&ICalendarComponent> = members
        .iter()
        .filter_map(|&i| calendar.components.get(i))
        .collect();
    let named: BTreeSet<&str> = events
        .iter()
        .flat_map(|c| c.entries.iter().filter_map(|e| e.tz_id()))
        .collect();
    let mut components: Vec<ICalendarComponent> = zones
        .by_id
        .iter()
        .filter(|(id, _)| named.contains(id))
        .map(|(_, zone)| (*zone).clone())
        .collect();
    components.extend(events.into_iter().cloned());
    ICalendar { components }
}

/// One event series: its id, and a calendar of the zones it names and its
/// components (a master and its overrides), expanded alone so that one
/// series' overrides never replace another's occurrences and each has its
/// own cap.
struct Series {
    id: String,
    calendar: ICalendar,
}

impl Expander {
    fn expand_series(&mut self, mut series: Series) {
        let (window, staff_zone, mode, limits) =
            (self.window, self.staff_zone, self.mode, self.limits);
        let out = &mut self.out;
        let cut = correct(&mut series.calendar, staff_zone, window.end(), limits);
        let calendar = &series.calendar;
        let limit = limits.per_series.min(self.budget);
        let expanded = calendar.expand_dates(staff_zone, limit);
        out.degraded.unreadable = out
            .degraded
            .unreadable
            .saturating_add(expanded.errors.len());
        if cut || spent_by_rules(calendar, &expanded.events) >= limit {
            out.degraded.series_cut = out.degraded.series_cut.saturating_add(1);
        }
        self.budget = self.budget.saturating_sub(expanded.events.len().max(1));
        let resolver = calendar.build_tz_resolver().with_default(staff_zone);
        for event in expanded.events {
            let Some(component) = calendar.components.get(usize_of(event.comp_id)) else {
                continue;
            };
            if !blocks_time(component) {
                continue;
            }
            let all_day = is_all_day(component);
            let Some(range) = occurrence_range(&event) else {
                continue;
            };
            if !range.overlaps(&window) {
                continue;
            }
            // An override is keyed by the occurrence it replaces.
            let original = component
                .property(&ICalendarProperty::RecurrenceId)
                .and_then(|entry| {
                    let ICalendarValue::PartialDateTime(at) = entry.values.first()? else {
                        return None;
                    };
                    let zone = resolver.resolve_or_default(entry.tz_id());
                    at.to_date_time_with_tz(zone).and_then(|t| timestamp(&t))
                })
                .unwrap_or(range.start());
            let subject = match mode {
                SyncMode::WithSubject => summary(component),
                SyncMode::BusyOnly => None,
            };
            out.events.push(Imported {
                key: EventKey::new(&series.id, original),
                busy: ImportedBusy::new(subject, range, all_day, mode),
            });
        }
    }
}

type Expanded = calcard::icalendar::dates::CalendarEvent<
    DateTime<Tz>,
    calcard::icalendar::dates::TimeOrDelta<DateTime<Tz>, chrono::TimeDelta>,
>;

/// How much of a series' cap its rules used: `calcard` counts every step
/// of a rule, including occurrences an EXDATE removed or an override
/// replaced, and says nothing when it stops at the cap.
fn spent_by_rules(calendar: &ICalendar, events: &[Expanded]) -> usize {
    let mut masters = HashSet::new();
    let mut skipped = 0usize;
    for (index, component) in calendar.components.iter().enumerate() {
        if component.has_property(&ICalendarProperty::Rrule) {
            masters.insert(u32::try_from(index).unwrap_or(u32::MAX));
        }
        if component.is_recurrence_override() {
            skipped = skipped.saturating_add(1);
        }
        skipped = skipped.saturating_add(
            component
                .entries
                .iter()
                .filter(|e| e.name == ICalendarProperty::Exdate)
                .map(|e| e.values.len())
                .sum(),
        );
    }
    if masters.is_empty() {
        return 0;
    }
    let from_rules = events
        .iter()
        .filter(|e| masters.contains(&e.comp_id))
        .count();
    from_rules.saturating_add(skipped)
}

fn usize_of(id: u32) -> usize {
    usize::try_from(id).unwrap_or(usize::MAX)
}

/// Whether the component is an event that takes time: not cancelled (in
/// either spelling), not transparent, and with an end or a length (RFC
/// 5545: a timed event with neither lasts no time at all).
fn blocks_time(component: &ICalendarComponent) -> bool {
    if component.component_type != ICalendarComponentType::VEvent {
        return false;
    }
    let cancelled = matches!(component.status(), Some(ICalendarStatus::Cancelled))
        || component
            .property(&ICalendarProperty::Status)
            .and_then(|e| e.values.first())
            .and_then(ICalendarValue::as_text)
            .is_some_and(|s| s.eq_ignore_ascii_case("CANCELED"));
    let transparent = matches!(
        component.transparency(),
        Some(ICalendarTransparency::Transparent)
    );
    let lasts = component.has_property(&ICalendarProperty::Dtend)
        || component.has_property(&ICalendarProperty::Duration)
        || is_all_day(component);
    !cancelled && !transparent && lasts
}

fn start_value(component: &ICalendarComponent) -> Option<&PartialDateTime> {
    [ICalendarProperty::Dtstart, ICalendarProperty::RecurrenceId]
        .iter()
        .find_map(|name| match component.property(name)?.values.first()? {
            ICalendarValue::PartialDateTime(at) => Some(&**at),
            _ => None,
        })
}

fn is_all_day(component: &ICalendarComponent) -> bool {
    start_value(component).is_some_and(|at| !at.has_time())
}

/// The summary, as the parser left it; the domain makes it one line and
/// cuts it.
fn summary(component: &ICalendarComponent) -> Option<&str> {
    component
        .property(&ICalendarProperty::Summary)
        .and_then(|e| e.values.first())
        .and_then(ICalendarValue::as_text)
}

/// The occurrence as instants. Lengths are added on the wall clock (a
/// one-day event lasts a calendar day across a DST change); where that
/// lands in a gap, in exact seconds.
fn occurrence_range(event: &Expanded) -> Option<TimeRange> {
    let (start_s, end_s) = event.timestamps();
    let (start, end) = match event.clone().try_into_date_time() {
        Some(at) => (timestamp(&at.start)?, timestamp(&at.end)?),
        None => (
            Timestamp::from_second(start_s).ok()?,
            Timestamp::from_second(end_s).ok()?,
        ),
    };
    TimeRange::new(start, end).ok()
}

fn timestamp<Z: chrono::TimeZone>(at: &DateTime<Z>) -> Option<Timestamp> {
    let utc = at.with_timezone(&Utc);
    Timestamp::new(
        utc.timestamp(),
        i32::try_from(utc.timestamp_subsec_nanos()).ok()?,
    )
    .ok()
}

/// The corrections described in the module's documentation, made on the
/// series' own copy, and each rule ended at the window's end: `calcard`
/// walks a rule from its first occurrence and has no window, so an
/// open-ended weekly meeting would otherwise run to the cap every time.
/// Returns whether anything was cut: a rule too dense to expand safely
/// (dropped, so only the series' first occurrence stands) or dates past
/// [`Limits::max_dates_per_event`].
fn correct(
    calendar: &mut ICalendar,
    staff_zone: Tz,
    window_end: Timestamp,
    limits: Limits,
) -> bool {
    let zones = calendar.build_owned_tz_resolver().with_default(staff_zone);
    let mut cut = false;
    for component in &mut calendar.components {
        if component.component_type != ICalendarComponentType::VEvent {
            continue;
        }
        // Overrides must match their series whatever their SEQUENCE.
        component
            .entries
            .retain(|e| e.name != ICalendarProperty::Sequence);
        cut |= bound_rules_and_dates(component, limits.max_dates_per_event);
        let recurring = component.has_property(&ICalendarProperty::Rrule);
        let mut start = None;
        for entry in &mut component.entries {
            if entry.name != ICalendarProperty::Dtstart {
                continue;
            }
            let Some(ICalendarValue::PartialDateTime(at)) = entry.values.first() else {
                continue;
            };
            let utc = at.has_time() && at.has_zone();
            let value = (**at).clone();
            if recurring && utc && entry.tz_id().is_none() {
                entry.params.push(ICalendarParameter::new(
                    ICalendarParameterName::Tzid,
                    "UTC".to_owned(),
                ));
            }
            start = Some((zones.resolve_or_default(entry.tz_id()), value));
        }
        let Some((start_zone, start)) = start else {
            continue;
        };
        let last = last_start(&start, start_zone, window_end);
        for entry in &mut component.entries {
            if entry.name != ICalendarProperty::Rrule {
                continue;
            }
            let Some(ICalendarValue::RecurrenceRule(rule)) = entry.values.first_mut() else {
                continue;
            };
            if let Some(until) = rule.until.as_mut()
                && until.has_time()
                && until.has_zone()
                && let Some(local) = local_until(until, start_zone)
            {
                *until = local;
            }
            let Some(last) = &last else {
                continue;
            };
            let sooner = match &rule.until {
                None => true,
                Some(until) => naive(until).is_none_or(|u| naive(last).is_some_and(|l| l < u)),
            };
            if sooner {
                rule.until = Some(last.clone());
            }
        }
    }
    cut
}

/// Drops rules whose one period would generate more than
/// [`MAX_PER_PERIOD`] occurrences (and every per-second or per-minute rule:
/// busy time never needs them), with their BY lists deduplicated first;
/// keeps at most `max_dates` RDATE and EXDATE values. Whether anything was
/// dropped.
fn bound_rules_and_dates(component: &mut ICalendarComponent, max_dates: usize) -> bool {
    let mut cut = false;
    for entry in &mut component.entries {
        if let Some(ICalendarValue::RecurrenceRule(rule)) = entry.values.first_mut() {
            dedup(&mut rule.bysecond);
            dedup(&mut rule.byminute);
            dedup(&mut rule.byhour);
            dedup(&mut rule.bymonthday);
            dedup(&mut rule.byyearday);
            dedup(&mut rule.byweekno);
            dedup(&mut rule.bysetpos);
        }
    }
    let before = component.entries.len();
    component
        .entries
        .retain(|entry| match entry.values.first() {
            Some(ICalendarValue::RecurrenceRule(rule))
                if entry.name == ICalendarProperty::Rrule =>
            {
                rule_is_bounded(rule)
            }
            _ => true,
        });
    cut |= component.entries.len() != before;
    let mut dates = 0usize;
    for entry in &mut component.entries {
        if entry.name != ICalendarProperty::Rdate && entry.name != ICalendarProperty::Exdate {
            continue;
        }
        let room = max_dates.saturating_sub(dates);
        if entry.values.len() > room {
            entry.values.truncate(room);
            cut = true;
        }
        dates = dates.saturating_add(entry.values.len());
    }
    cut
}

fn dedup<T: Ord>(list: &mut Vec<T>) {
    list.sort_unstable();
    list.dedup();
}

fn rule_is_bounded(rule: &calcard::icalendar::ICalendarRecurrenceRule) -> bool {
    let days = match rule.freq {
        ICalendarFrequency::Secondly | ICalendarFrequency::Minutely => return false,
        ICalendarFrequency::Yearly => 366,
        ICalendarFrequency::Monthly => 31,
        ICalendarFrequency::Weekly => 7,
        ICalendarFrequency::Daily | ICalendarFrequency::Hourly => 1,
    };
    let count = |n: usize| n.max(1);
    let per_day = count(rule.byhour.len())
        .saturating_mul(count(rule.byminute.len()))
        .saturating_mul(count(rule.bysecond.len()));
    per_day.saturating_mul(days) <= MAX_PER_PERIOD && rule.bysetpos.len() <= 366
}

/// The last start a series may have for its occurrences to begin before
/// `window_end`, on its own clock (a date for an all-day series); for a
/// series that starts after the window, its own start (an earlier end
/// would make the rule invalid, and it has nothing in the window anyway).
fn last_start(start: &PartialDateTime, zone: Tz, window_end: Timestamp) -> Option<PartialDateTime> {
    let end = DateTime::<Utc>::from_timestamp(window_end.as_second(), 0)?;
    let local = zone.from_utc_datetime(&end.naive_utc()).naive_local();
    // For an all-day series, the day the window ends on, inclusive.
    let last = wall_clock(local, start.has_time());
    match (naive(start), naive(&last)) {
        (Some(first), Some(last_local)) if first <= last_local => Some(last),
        (Some(_), Some(_)) => Some(PartialDateTime {
            tz_hour: None,
            tz_minute: None,
            tz_minus: false,
            ..start.clone()
        }),
        _ => None,
    }
}

/// A wall-clock reading as a value without zone: a date-time, or a date
/// when `with_time` is false.
fn wall_clock(local: chrono::NaiveDateTime, with_time: bool) -> PartialDateTime {
    let time = |part: u32| with_time.then(|| u8::try_from(part).ok()).flatten();
    PartialDateTime {
        year: u16::try_from(local.year()).ok(),
        month: u8::try_from(local.month()).ok(),
        day: u8::try_from(local.day()).ok(),
        hour: time(local.hour()),
        minute: time(local.minute()),
        second: time(local.second()),
        ..PartialDateTime::default()
    }
}

/// A value's wall-clock reading, zone ignored.
fn naive(at: &PartialDateTime) -> Option<chrono::NaiveDateTime> {
    at.to_date_time().map(|r| r.date_time)
}

/// A UTC `UNTIL` as the wall-clock time it is in the series' zone.
fn local_until(until: &PartialDateTime, zone: Tz) -> Option<PartialDateTime> {
    let utc = until.to_date_time()?;
    let offset = utc.offset.map_or(0, |o| i64::from(o.local_minus_utc()));
    let instant = utc
        .date_time
        .checked_sub_signed(chrono::TimeDelta::seconds(offset))?;
    let local = zone.from_utc_datetime(&instant).naive_local();
    Some(wall_clock(local, true))
}
