//! Conversions between domain values and column values: instants as Unix
//! microseconds, and the private JSON formats of the schedule, intake-form
//! and answer columns. Reading a row back parses it through the domain's
//! constructors again, so a corrupted row is an error, never a panic or an
//! invalid value.

use std::collections::BTreeMap;

use bookwarden_domain::account::{Email, Phone};
use bookwarden_domain::intake::{
    Choices, FieldKey, FieldKind, IntakeAnswer, IntakeAnswers, IntakeField, IntakeForm,
};
use bookwarden_domain::jiff::Timestamp;
use bookwarden_domain::jiff::civil::Date;
use bookwarden_domain::schedule::{DayHours, DayRange, DayTime, WeeklyHours};
use bookwarden_domain::time::TimeRange;
use serde::{Deserialize, Serialize};

use crate::error::StoreError;

/// An instant as stored.
pub(crate) fn us(t: Timestamp) -> i64 {
    t.as_microsecond()
}

/// A stored instant.
pub(crate) fn instant(table: &'static str, value: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_microsecond(value).map_err(|e| corrupt(table, e))
}

/// A stored range.
pub(crate) fn range(table: &'static str, start: i64, end: i64) -> Result<TimeRange, StoreError> {
    TimeRange::new(instant(table, start)?, instant(table, end)?).map_err(|e| corrupt(table, e))
}

/// A row of `table` that does not parse.
pub(crate) fn corrupt(table: &'static str, reason: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        table,
        reason: reason.to_string(),
    }
}

/// A JSON error without the values it quotes (they may be intake answers).
fn json_error(table: &'static str, e: &serde_json::Error) -> StoreError {
    corrupt(
        table,
        format!(
            "JSON {:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ),
    )
}

fn to_json<T: Serialize>(table: &'static str, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| json_error(table, &e))
}

fn from_json<'a, T: Deserialize<'a>>(table: &'static str, text: &'a str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| json_error(table, &e))
}

/// A day's hours as `[start_minute, end_minute]` pairs.
type HoursRow = Vec<(u16, u16)>;

fn hours_row(hours: &DayHours) -> HoursRow {
    hours
        .ranges()
        .iter()
        .map(|r| (r.start().minutes(), r.end().minutes()))
        .collect()
}

fn hours_from_row(row: &HoursRow) -> Result<DayHours, StoreError> {
    let minute = |m: u16| {
        let hour = u8::try_from(m / 60).map_err(|e| corrupt("schedules", e))?;
        let minute = u8::try_from(m % 60).map_err(|e| corrupt("schedules", e))?;
        DayTime::new(hour, minute).map_err(|e| corrupt("schedules", e))
    };
    let ranges = row
        .iter()
        .map(|&(start, end)| {
            DayRange::new(minute(start)?, minute(end)?).map_err(|e| corrupt("schedules", e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    DayHours::new(ranges).map_err(|e| corrupt("schedules", e))
}

const WEEK: [bookwarden_domain::jiff::civil::Weekday; 7] = {
    use bookwarden_domain::jiff::civil::Weekday::*;
    [
        Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday,
    ]
};

/// The weekly hours column: seven days, Monday first.
pub(crate) fn weekly_json(weekly: &WeeklyHours) -> Result<String, StoreError> {
    let days: Vec<HoursRow> = WEEK.iter().map(|&d| hours_row(weekly.on(d))).collect();
    to_json("schedules", &days)
}

pub(crate) fn weekly_from_json(text: &str) -> Result<WeeklyHours, StoreError> {
    let days: Vec<HoursRow> = from_json("schedules", text)?;
    if days.len() != 7 {
        return Err(corrupt("schedules", "weekly hours need seven days"));
    }
    WEEK.iter()
        .zip(&days)
        .try_fold(WeeklyHours::closed(), |w, (&day, row)| {
            Ok(w.with(day, hours_from_row(row)?))
        })
}

/// The overrides column: `[["2026-12-24", [[540, 720]]], ...]`.
pub(crate) fn overrides_json(overrides: &BTreeMap<Date, DayHours>) -> Result<String, StoreError> {
    let rows: Vec<(String, HoursRow)> = overrides
        .iter()
        .map(|(date, hours)| (date.to_string(), hours_row(hours)))
        .collect();
    to_json("schedules", &rows)
}

pub(crate) fn overrides_from_json(text: &str) -> Result<BTreeMap<Date, DayHours>, StoreError> {
    let rows: Vec<(String, HoursRow)> = from_json("schedules", text)?;
    rows.iter()
        .map(|(date, row)| {
            let date: Date = date.parse().map_err(|e| corrupt("schedules", e))?;
            Ok((date, hours_from_row(row)?))
        })
        .collect()
}

/// The time-off column: `[[start_us, end_us], ...]`.
pub(crate) fn time_off_json(ranges: &[TimeRange]) -> Result<String, StoreError> {
    let rows: Vec<(i64, i64)> = ranges
        .iter()
        .map(|r| (us(r.start()), us(r.end())))
        .collect();
    to_json("schedules", &rows)
}

pub(crate) fn time_off_from_json(text: &str) -> Result<Vec<TimeRange>, StoreError> {
    let rows: Vec<(i64, i64)> = from_json("schedules", text)?;
    rows.iter()
        .map(|&(s, e)| range("schedules", s, e))
        .collect()
}

#[derive(Serialize, Deserialize)]
struct FieldRow {
    key: String,
    label: String,
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_chars: Option<u16>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    options: Vec<String>,
    required: bool,
}

/// The intake column of a service.
pub(crate) fn intake_json(form: &IntakeForm) -> Result<String, StoreError> {
    let rows: Vec<FieldRow> = form
        .fields()
        .iter()
        .map(|f| {
            let (kind, max_chars, options) = match f.kind() {
                FieldKind::Text { max_chars } => ("text", Some(*max_chars), Vec::new()),
                FieldKind::LongText { max_chars } => ("long_text", Some(*max_chars), Vec::new()),
                FieldKind::Email => ("email", None, Vec::new()),
                FieldKind::Phone => ("phone", None, Vec::new()),
                FieldKind::SingleChoice(c) => ("single_choice", None, c.options().to_vec()),
                FieldKind::MultiChoice(c) => ("multi_choice", None, c.options().to_vec()),
                FieldKind::Checkbox => ("checkbox", None, Vec::new()),
            };
            FieldRow {
                key: f.key().as_str().to_owned(),
                label: f.label().to_owned(),
                kind: kind.to_owned(),
                max_chars,
                options,
                required: f.required(),
            }
        })
        .collect();
    to_json("services", &rows)
}

pub(crate) fn intake_from_json(text: &str) -> Result<IntakeForm, StoreError> {
    let rows: Vec<FieldRow> = from_json("services", text)?;
    let bad = |e: &dyn std::fmt::Display| corrupt("services", e);
    let fields = rows
        .into_iter()
        .map(|row| {
            let options: Vec<&str> = row.options.iter().map(String::as_str).collect();
            let chars = || {
                row.max_chars
                    .ok_or_else(|| bad(&"text field without a limit"))
            };
            let kind = match row.kind.as_str() {
                "text" => FieldKind::Text {
                    max_chars: chars()?,
                },
                "long_text" => FieldKind::LongText {
                    max_chars: chars()?,
                },
                "email" => FieldKind::Email,
                "phone" => FieldKind::Phone,
                "single_choice" => {
                    FieldKind::SingleChoice(Choices::new(&options).map_err(|e| bad(&e))?)
                }
                "multi_choice" => {
                    FieldKind::MultiChoice(Choices::new(&options).map_err(|e| bad(&e))?)
                }
                "checkbox" => FieldKind::Checkbox,
                other => return Err(bad(&format!("unknown field kind {other}"))),
            };
            let key = FieldKey::parse(&row.key).map_err(|e| bad(&e))?;
            IntakeField::new(key, &row.label, kind, row.required).map_err(|e| bad(&e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    IntakeForm::new(fields).map_err(|e| bad(&e))
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
enum AnswerRow {
    Text(String),
    Email(String),
    Phone(String),
    Choice(String),
    Choices(Vec<String>),
    Checked(bool),
}

/// The answers column of a booking.
pub(crate) fn answers_json(answers: &IntakeAnswers) -> Result<String, StoreError> {
    let rows: BTreeMap<&str, AnswerRow> = answers
        .iter()
        .map(|(key, answer)| {
            let row = match answer {
                IntakeAnswer::Text(s) => AnswerRow::Text(s.clone()),
                IntakeAnswer::Email(e) => AnswerRow::Email(e.as_str().to_owned()),
                IntakeAnswer::Phone(p) => AnswerRow::Phone(p.as_str().to_owned()),
                IntakeAnswer::Choice(c) => AnswerRow::Choice(c.clone()),
                IntakeAnswer::Choices(c) => AnswerRow::Choices(c.clone()),
                IntakeAnswer::Checked(b) => AnswerRow::Checked(*b),
            };
            (key.as_str(), row)
        })
        .collect();
    to_json("bookings", &rows)
}

/// Answers read back are parsed again value by value (keys, emails,
/// phones); the service's form is not consulted, since it may have changed
/// since the booking was made.
pub(crate) fn answers_from_json(text: &str) -> Result<IntakeAnswers, StoreError> {
    let rows: BTreeMap<String, AnswerRow> = from_json("bookings", text)?;
    let bad = |e: &dyn std::fmt::Display| corrupt("bookings", e);
    let answers = rows
        .into_iter()
        .map(|(key, row)| {
            let key = FieldKey::parse(&key).map_err(|e| bad(&e))?;
            let answer = match row {
                AnswerRow::Text(s) => IntakeAnswer::Text(s),
                AnswerRow::Email(s) => IntakeAnswer::Email(Email::parse(&s).map_err(|e| bad(&e))?),
                AnswerRow::Phone(s) => IntakeAnswer::Phone(Phone::parse(&s).map_err(|e| bad(&e))?),
                AnswerRow::Choice(s) => IntakeAnswer::Choice(s),
                AnswerRow::Choices(c) => IntakeAnswer::Choices(c),
                AnswerRow::Checked(b) => IntakeAnswer::Checked(b),
            };
            Ok((key, answer))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(IntakeAnswers::restore(answers))
}
