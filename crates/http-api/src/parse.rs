//! Request text into the app's typed inputs: ids, instants, roles, API-key
//! scopes, schedules and services, built through the domain's
//! constructors. The app's use cases take only the parsed types.
//!
//! Each refusal answers as it did when the app parsed the text itself, one
//! helper per kind: a malformed id in a path is as unknown as a missing
//! one (404 `not_found`: another tenant's id and a random string look
//! alike, P1); a malformed id or instant in a body or query is a 422
//! `invalid_field` naming the request field.

use std::collections::BTreeMap;
use std::str::FromStr;

use bookwarden_app::AppError;
use bookwarden_domain::account::{ApiKeyScope, Role};
use bookwarden_domain::id::IdParseError;
use bookwarden_domain::intake::{Choices, FieldKey, FieldKind, IntakeField, IntakeForm};
use bookwarden_domain::jiff::Timestamp;
use bookwarden_domain::jiff::civil::{Date, Weekday};
use bookwarden_domain::schedule::{
    DayHours, DayRange, DayTime, Schedule, ScheduleSpec, WeeklyHours,
};
use bookwarden_domain::service::{
    Capacity, Currency, Price, ServiceName, ServiceSpec, Timing, TimingSpec,
};
use bookwarden_domain::time::{TimeRange, TimeZone};

fn invalid(field: &'static str) -> impl Fn(&dyn std::fmt::Display) -> AppError {
    move |e| AppError::invalid(field, e)
}

/// An id from the path (or wherever a malformed id must answer exactly
/// like an unknown one): [`AppError::NotFound`] when it does not parse.
pub(crate) fn path_id<T: FromStr>(text: &str) -> Result<T, AppError> {
    text.parse::<T>().map_err(|_malformed| AppError::NotFound)
}

/// An id from a body or query `field`: `not a staff id` (service,
/// customer, ...) when it does not parse.
pub(crate) fn field_id<T>(field: &'static str, text: &str) -> Result<T, AppError>
where
    T: FromStr<Err = IdParseError>,
{
    text.parse::<T>()
        .map_err(|e| AppError::invalid(field, format!("not a {} id", e.entity())))
}

/// An optional [`field_id`].
pub(crate) fn optional_id<T>(field: &'static str, text: Option<&str>) -> Result<Option<T>, AppError>
where
    T: FromStr<Err = IdParseError>,
{
    text.map(|t| field_id(field, t)).transpose()
}

/// An RFC 3339 instant from a body or query `field`.
pub(crate) fn instant(field: &'static str, text: &str) -> Result<Timestamp, AppError> {
    text.parse::<Timestamp>()
        .map_err(|_malformed| AppError::invalid(field, "not an RFC 3339 instant"))
}

/// A role (`role`).
pub(crate) fn role(text: &str) -> Result<Role, AppError> {
    Role::parse(text).map_err(|e| AppError::invalid("role", e))
}

/// API-key scopes (`scopes`), in the order sent.
pub(crate) fn scopes(names: &[String]) -> Result<Vec<ApiKeyScope>, AppError> {
    names
        .iter()
        .map(|name| {
            ApiKeyScope::parse(name)
                .map_err(|_unknown| AppError::invalid("scopes", "each is read, write or admin"))
        })
        .collect()
}

/// Opening ranges as `("HH:MM", "HH:MM")` pairs.
pub(crate) type Ranges = Vec<(String, String)>;

/// A schedule as sent: weekly hours by weekday name, date overrides by
/// `YYYY-MM-DD`, and time off as RFC 3339 instant pairs.
pub(crate) struct ScheduleText {
    /// IANA zone the hours are read in.
    pub(crate) time_zone: String,
    /// `monday` .. `sunday` to ranges; missing days are closed.
    pub(crate) weekly: BTreeMap<String, Ranges>,
    /// Dates whose hours replace the weekly ones (empty = closed).
    pub(crate) overrides: BTreeMap<String, Ranges>,
    /// Ranges of instants off work.
    pub(crate) time_off: Vec<(String, String)>,
}

fn weekday(name: &str) -> Result<Weekday, AppError> {
    Ok(match name {
        "monday" => Weekday::Monday,
        "tuesday" => Weekday::Tuesday,
        "wednesday" => Weekday::Wednesday,
        "thursday" => Weekday::Thursday,
        "friday" => Weekday::Friday,
        "saturday" => Weekday::Saturday,
        "sunday" => Weekday::Sunday,
        _ => {
            return Err(AppError::invalid(
                "weekly",
                format!("{name:?} is not a weekday"),
            ));
        }
    })
}

fn day_hours(field: &'static str, ranges: &[(String, String)]) -> Result<DayHours, AppError> {
    if ranges.len() > 24 {
        return Err(AppError::invalid(field, "at most 24 ranges a day"));
    }
    let parsed = ranges
        .iter()
        .map(|(start, end)| {
            let start = DayTime::parse(start).map_err(|e| invalid(field)(&e))?;
            let end = DayTime::parse(end).map_err(|e| invalid(field)(&e))?;
            DayRange::new(start, end).map_err(|e| invalid(field)(&e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    DayHours::new(parsed).map_err(|e| invalid(field)(&e))
}

/// A schedule's rules, checked in the order the fields are listed.
pub(crate) fn schedule_spec(input: &ScheduleText) -> Result<ScheduleSpec, AppError> {
    let zone = TimeZone::parse(&input.time_zone).map_err(|e| invalid("time_zone")(&e))?;
    let mut weekly = WeeklyHours::closed();
    for (name, ranges) in &input.weekly {
        weekly = weekly.with(weekday(name)?, day_hours("weekly", ranges)?);
    }
    if input.overrides.len() > Schedule::MAX_OVERRIDES {
        return Err(AppError::invalid("overrides", "too many dates"));
    }
    let mut overrides = BTreeMap::new();
    for (date, ranges) in &input.overrides {
        let date: Date = date
            .parse()
            .map_err(|_malformed| AppError::invalid("overrides", "dates are YYYY-MM-DD"))?;
        overrides.insert(date, day_hours("overrides", ranges)?);
    }
    if input.time_off.len() > Schedule::MAX_TIME_OFF {
        return Err(AppError::invalid("time_off", "too many ranges"));
    }
    let time_off = input
        .time_off
        .iter()
        .map(|(start, end)| {
            TimeRange::new(instant("time_off", start)?, instant("time_off", end)?)
                .map_err(|e| invalid("time_off")(&e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ScheduleSpec {
        zone,
        weekly,
        overrides,
        time_off,
    })
}

/// One intake field as sent.
pub(crate) struct FieldText {
    /// Stable key of the answer.
    pub(crate) key: String,
    /// The question.
    pub(crate) label: String,
    /// `text`, `long_text`, `email`, `phone`, `single_choice`,
    /// `multi_choice` or `checkbox`.
    pub(crate) kind: String,
    /// Limit for text kinds.
    pub(crate) max_chars: Option<u16>,
    /// Options for choice kinds.
    pub(crate) options: Vec<String>,
    /// Whether an answer is needed.
    pub(crate) required: bool,
}

/// A service as sent.
pub(crate) struct ServiceText {
    /// Its name.
    pub(crate) name: String,
    /// Timing in minutes and days.
    pub(crate) timing: TimingSpec,
    /// Seats per slot.
    pub(crate) capacity: u16,
    /// Staff members who provide it.
    pub(crate) staff: Vec<String>,
    /// Price for display: minor units and ISO 4217 code.
    pub(crate) price: Option<(u64, String)>,
    /// Intake questions.
    pub(crate) intake: Vec<FieldText>,
    /// Bookable through the public flow.
    pub(crate) public: bool,
}

/// A field kind by its API name, with its limit or options.
fn field_kind(input: &FieldText) -> Result<FieldKind, AppError> {
    let options: Vec<&str> = input.options.iter().map(String::as_str).collect();
    let choices = || Choices::new(&options).map_err(|e| invalid("intake")(&e));
    Ok(match input.kind.as_str() {
        "text" => FieldKind::Text {
            max_chars: input.max_chars.unwrap_or(500),
        },
        "long_text" => FieldKind::LongText {
            max_chars: input.max_chars.unwrap_or(2_000),
        },
        "email" => FieldKind::Email,
        "phone" => FieldKind::Phone,
        "single_choice" => FieldKind::SingleChoice(choices()?),
        "multi_choice" => FieldKind::MultiChoice(choices()?),
        "checkbox" => FieldKind::Checkbox,
        other => {
            return Err(AppError::invalid(
                "intake",
                format!("{other:?} is not a field kind"),
            ));
        }
    })
}

/// The API name of a field kind.
pub(crate) fn kind_name(kind: &FieldKind) -> &'static str {
    match kind {
        FieldKind::Text { .. } => "text",
        FieldKind::LongText { .. } => "long_text",
        FieldKind::Email => "email",
        FieldKind::Phone => "phone",
        FieldKind::SingleChoice(_) => "single_choice",
        FieldKind::MultiChoice(_) => "multi_choice",
        FieldKind::Checkbox => "checkbox",
    }
}

fn field(input: &FieldText) -> Result<IntakeField, AppError> {
    let key = FieldKey::parse(&input.key).map_err(|e| invalid("intake")(&e))?;
    let kind = field_kind(input)?;
    IntakeField::new(key, &input.label, kind, input.required).map_err(|e| invalid("intake")(&e))
}

/// A service's rules, checked in the order the fields are listed. That
/// each staff member belongs to the business is the app's to check.
pub(crate) fn service_spec(input: &ServiceText) -> Result<ServiceSpec, AppError> {
    let name = ServiceName::parse(&input.name).map_err(|e| invalid("name")(&e))?;
    let timing = Timing::new(input.timing).map_err(|e| invalid("timing")(&e))?;
    let capacity = Capacity::new(input.capacity).map_err(|e| invalid("capacity")(&e))?;
    if input.staff.len() > 100 || input.intake.len() > 50 {
        return Err(AppError::invalid(
            "staff",
            "at most 100 staff and 50 intake fields",
        ));
    }
    let staff = input
        .staff
        .iter()
        .map(|s| field_id("staff", s))
        .collect::<Result<Vec<_>, _>>()?;
    let price = input
        .price
        .as_ref()
        .map(|(minor, code)| {
            let currency = Currency::parse(code).map_err(|e| invalid("price")(&e))?;
            Price::new(*minor, currency).map_err(|e| invalid("price")(&e))
        })
        .transpose()?;
    let fields = input
        .intake
        .iter()
        .map(field)
        .collect::<Result<Vec<_>, _>>()?;
    let intake = IntakeForm::new(fields).map_err(|e| invalid("intake")(&e))?;
    Ok(ServiceSpec {
        name,
        timing,
        capacity,
        staff,
        price,
        intake,
        public: input.public,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

    use bookwarden_domain::id::{BookingId, CustomerId, ServiceId, StaffId};

    use super::*;

    fn field_and_reason(error: AppError) -> (&'static str, String) {
        match error {
            AppError::Invalid { field, reason } => (field, reason),
            other => panic!("not an invalid field: {other:?}"),
        }
    }

    #[test]
    fn a_malformed_path_id_is_as_unknown_as_a_missing_one() {
        for text in ["", "nope", "123", "00000000-0000-0000-0000-00000000000g"] {
            assert!(matches!(
                path_id::<BookingId>(text),
                Err(AppError::NotFound)
            ));
        }
        let id = BookingId::random();
        assert_eq!(path_id::<BookingId>(&id.to_string()).unwrap(), id);
    }

    #[test]
    fn a_malformed_body_id_names_its_field_and_entity() {
        let cases = [
            field_and_reason(field_id::<StaffId>("staff", "x").unwrap_err()),
            field_and_reason(field_id::<CustomerId>("customer", "x").unwrap_err()),
            field_and_reason(field_id::<ServiceId>("service", "x").unwrap_err()),
        ];
        assert_eq!(
            cases,
            [
                ("staff", "not a staff id".to_owned()),
                ("customer", "not a customer id".to_owned()),
                ("service", "not a service id".to_owned()),
            ]
        );
        assert_eq!(optional_id::<StaffId>("staff", None).unwrap(), None);
    }

    #[test]
    fn instants_are_rfc_3339_and_name_their_field() {
        let at = instant("start", "2027-03-01T09:00:00+01:00").unwrap();
        assert_eq!(at.to_string(), "2027-03-01T08:00:00Z");
        let (field, reason) = field_and_reason(instant("from", "tomorrow").unwrap_err());
        assert_eq!(
            (field, reason.as_str()),
            ("from", "not an RFC 3339 instant")
        );
    }

    #[test]
    fn scopes_parse_in_order_and_refuse_unknown_names() {
        let names = ["write".to_owned(), "read".to_owned()];
        assert_eq!(
            scopes(&names).unwrap(),
            [ApiKeyScope::Write, ApiKeyScope::Read]
        );
        let (field, _) = field_and_reason(scopes(&["delete".to_owned()]).unwrap_err());
        assert_eq!(field, "scopes");
    }

    #[test]
    fn every_field_kind_name_parses_back_to_its_kind() {
        for name in [
            "text",
            "long_text",
            "email",
            "phone",
            "single_choice",
            "multi_choice",
            "checkbox",
        ] {
            let text = FieldText {
                key: "q".to_owned(),
                label: "Q".to_owned(),
                kind: name.to_owned(),
                max_chars: None,
                options: vec!["a".to_owned()],
                required: false,
            };
            assert_eq!(kind_name(&field_kind(&text).unwrap()), name);
        }
    }
}
