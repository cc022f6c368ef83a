//! Intake fields: the questions an owner asks when a service is booked, and
//! the customer's answers, validated into [`IntakeAnswers`] (P15).
//!
//! Answers are personal data: their `Debug` output never shows a value.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::account::{Email, Phone};
use crate::text::{self, TextError};

/// The stable key of a field, such as `allergies`, used in forms and exports.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct FieldKey(String);

/// A field key was not 1 to 40 lowercase letters, digits and underscores,
/// starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a field key is 1 to 40 lowercase letters, digits and underscores, starting with a letter")]
pub struct FieldKeyError;

impl FieldKey {
    /// Checks a key.
    pub fn parse(input: &str) -> Result<Self, FieldKeyError> {
        let ok = (1..=40).contains(&input.len())
            && input.starts_with(|c: char| c.is_ascii_lowercase())
            && input
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(Self(input.to_owned()))
        } else {
            Err(FieldKeyError)
        }
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What kind of answer a field takes.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum FieldKind {
    /// One line of text, at most `max_chars` characters.
    Text {
        /// The limit in characters.
        max_chars: u16,
    },
    /// Several lines of text, at most `max_chars` characters.
    LongText {
        /// The limit in characters.
        max_chars: u16,
    },
    /// An email address.
    Email,
    /// An international phone number.
    Phone,
    /// Exactly one of the options.
    SingleChoice(Choices),
    /// Any number of the options, each at most once.
    MultiChoice(Choices),
    /// Yes or no; a required checkbox must be ticked (consent, terms).
    Checkbox,
}

/// Longest text answer a field may allow.
pub const MAX_TEXT_CHARS: u16 = 5_000;

/// The options of a choice field: 1 to 50 distinct labels.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Choices(Vec<String>);

/// Why a list of options was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChoicesError {
    /// No options, or more than 50.
    #[error("a choice field has 1 to 50 options")]
    Count,
    /// An option is not valid text.
    #[error("option: {0}")]
    Option(#[source] TextError),
    /// The same option twice.
    #[error("options must be distinct")]
    Duplicate,
}

impl Choices {
    /// Most options a choice field may have.
    pub const MAX: usize = 50;

    /// Checks a list of options.
    pub fn new(options: &[&str]) -> Result<Self, ChoicesError> {
        if options.is_empty() || options.len() > Self::MAX {
            return Err(ChoicesError::Count);
        }
        let mut seen = BTreeSet::new();
        let mut out = Vec::with_capacity(options.len());
        for option in options {
            let option = text::single_line(option, 100).map_err(ChoicesError::Option)?;
            if !seen.insert(option.clone()) {
                return Err(ChoicesError::Duplicate);
            }
            out.push(option);
        }
        Ok(Self(out))
    }

    /// The options in the owner's order.
    pub fn options(&self) -> &[String] {
        &self.0
    }

    fn contains(&self, option: &str) -> bool {
        self.0.iter().any(|o| o == option)
    }
}

/// One question on a service's intake form.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct IntakeField {
    key: FieldKey,
    label: String,
    kind: FieldKind,
    required: bool,
}

/// Why a field definition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// The label is not valid text.
    #[error("label: {0}")]
    Label(#[source] TextError),
    /// A text limit of zero or above [`MAX_TEXT_CHARS`].
    #[error("a text field allows 1 to {MAX_TEXT_CHARS} characters")]
    TextLimit,
}

impl IntakeField {
    /// A field; `label` is the question shown to the customer.
    pub fn new(
        key: FieldKey,
        label: &str,
        kind: FieldKind,
        required: bool,
    ) -> Result<Self, FieldError> {
        let label = text::single_line(label, 200).map_err(FieldError::Label)?;
        if let FieldKind::Text { max_chars } | FieldKind::LongText { max_chars } = kind
            && (max_chars == 0 || max_chars > MAX_TEXT_CHARS)
        {
            return Err(FieldError::TextLimit);
        }
        Ok(Self {
            key,
            label,
            kind,
            required,
        })
    }

    /// The field's key.
    pub fn key(&self) -> &FieldKey {
        &self.key
    }
    /// The question.
    pub fn label(&self) -> &str {
        &self.label
    }
    /// What answer it takes.
    pub fn kind(&self) -> &FieldKind {
        &self.kind
    }
    /// Whether an answer is required.
    pub fn required(&self) -> bool {
        self.required
    }
}

/// The fields of one service, in display order, with distinct keys.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct IntakeForm(Vec<IntakeField>);

/// Why a form was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// Two fields share a key.
    #[error("two fields share the key {0}")]
    DuplicateKey(String),
    /// More than [`IntakeForm::MAX_FIELDS`] fields.
    #[error("a form has at most {} fields", IntakeForm::MAX_FIELDS)]
    TooManyFields,
}

/// An answer as the customer sent it, before validation.
#[derive(Clone, PartialEq, Eq)]
pub enum RawAnswer {
    /// Text, email or phone.
    Text(String),
    /// One or more chosen options.
    Choices(Vec<String>),
    /// A checkbox.
    Flag(bool),
}

impl fmt::Debug for RawAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawAnswer(..)")
    }
}

/// A validated answer.
#[derive(Clone, PartialEq, Eq)]
pub enum IntakeAnswer {
    /// Text or long text.
    Text(String),
    /// An email address.
    Email(Email),
    /// A phone number.
    Phone(Phone),
    /// The chosen option.
    Choice(String),
    /// The chosen options, in the form's order.
    Choices(Vec<String>),
    /// A checkbox.
    Checked(bool),
}

impl fmt::Debug for IntakeAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IntakeAnswer(..)")
    }
}

/// Why answers were refused. Names the field; never echoes the answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// An answer for a key the form does not have.
    #[error("unknown field {0}")]
    UnknownField(String),
    /// A required field was left out or left blank.
    #[error("field {0} is required")]
    Missing(String),
    /// The answer is of another kind than the field takes.
    #[error("field {0} takes another kind of answer")]
    WrongKind(String),
    /// The text is not acceptable.
    #[error("field {field}: {reason}")]
    Text {
        /// The field's key.
        field: String,
        /// What is wrong with it.
        #[source]
        reason: TextError,
    },
    /// Not a valid email address.
    #[error("field {field} needs a valid email address")]
    Email {
        /// The field's key.
        field: String,
        /// What is wrong with it.
        #[source]
        reason: crate::account::EmailError,
    },
    /// Not a valid phone number.
    #[error("field {field} needs a phone number in international form")]
    Phone {
        /// The field's key.
        field: String,
        /// What is wrong with it.
        #[source]
        reason: crate::account::PhoneError,
    },
    /// An option the field does not offer, or the same option twice.
    #[error("field {0} has an option it does not offer")]
    Choice(String),
}

impl IntakeForm {
    /// Most fields a form may have.
    pub const MAX_FIELDS: usize = 50;

    /// Checks a list of fields.
    pub fn new(fields: Vec<IntakeField>) -> Result<Self, FormError> {
        if fields.len() > Self::MAX_FIELDS {
            return Err(FormError::TooManyFields);
        }
        let mut keys = BTreeSet::new();
        for field in &fields {
            if !keys.insert(field.key.as_str()) {
                return Err(FormError::DuplicateKey(field.key.as_str().to_owned()));
            }
        }
        Ok(Self(fields))
    }

    /// The fields in display order.
    pub fn fields(&self) -> &[IntakeField] {
        &self.0
    }

    /// Validates the customer's answers: every key must be a field, every
    /// required field answered, every answer of the field's kind.
    pub fn validate(&self, raw: BTreeMap<String, RawAnswer>) -> Result<IntakeAnswers, AnswerError> {
        if let Some(unknown) = raw
            .keys()
            .find(|k| !self.0.iter().any(|f| f.key.as_str() == *k))
        {
            return Err(AnswerError::UnknownField(unknown.clone()));
        }
        let mut raw = raw;
        let mut answers = BTreeMap::new();
        for field in &self.0 {
            let key = field.key.as_str();
            let answer = match raw.remove(key) {
                None => None,
                Some(given) => validate_one(field, given)?,
            };
            match answer {
                Some(answer) => {
                    answers.insert(field.key.clone(), answer);
                }
                None if field.required => return Err(AnswerError::Missing(key.to_owned())),
                None => {}
            }
        }
        Ok(IntakeAnswers(answers))
    }
}

/// Checks one answer; `Ok(None)` means "left blank".
fn validate_one(
    field: &IntakeField,
    given: RawAnswer,
) -> Result<Option<IntakeAnswer>, AnswerError> {
    let key = || field.key.as_str().to_owned();
    let blank = |s: &str| s.trim().is_empty();
    let answer = match (&field.kind, given) {
        (
            FieldKind::Text { .. }
            | FieldKind::LongText { .. }
            | FieldKind::Email
            | FieldKind::Phone,
            RawAnswer::Text(s),
        ) if blank(&s) => {
            return Ok(None);
        }
        (FieldKind::Text { max_chars }, RawAnswer::Text(s)) => {
            let text = text::single_line(&s, usize::from(*max_chars)).map_err(|reason| {
                AnswerError::Text {
                    field: key(),
                    reason,
                }
            })?;
            IntakeAnswer::Text(text)
        }
        (FieldKind::LongText { max_chars }, RawAnswer::Text(s)) => {
            let text = text::multi_line(&s, usize::from(*max_chars)).map_err(|reason| {
                AnswerError::Text {
                    field: key(),
                    reason,
                }
            })?;
            IntakeAnswer::Text(text)
        }
        (FieldKind::Email, RawAnswer::Text(s)) => {
            IntakeAnswer::Email(Email::parse(&s).map_err(|reason| AnswerError::Email {
                field: key(),
                reason,
            })?)
        }
        (FieldKind::Phone, RawAnswer::Text(s)) => {
            IntakeAnswer::Phone(Phone::parse(&s).map_err(|reason| AnswerError::Phone {
                field: key(),
                reason,
            })?)
        }
        (FieldKind::SingleChoice(choices), RawAnswer::Text(s)) => {
            if blank(&s) {
                return Ok(None);
            }
            if !choices.contains(&s) {
                return Err(AnswerError::Choice(key()));
            }
            IntakeAnswer::Choice(s)
        }
        (FieldKind::MultiChoice(choices), RawAnswer::Choices(chosen)) => {
            if chosen.is_empty() {
                return Ok(None);
            }
            let mut seen = BTreeSet::new();
            if !chosen
                .iter()
                .all(|c| choices.contains(c) && seen.insert(c.as_str()))
            {
                return Err(AnswerError::Choice(key()));
            }
            let ordered = choices
                .options()
                .iter()
                .filter(|o| seen.contains(o.as_str()))
                .cloned()
                .collect();
            IntakeAnswer::Choices(ordered)
        }
        (FieldKind::Checkbox, RawAnswer::Flag(checked)) => {
            // A required checkbox is a consent: unticked counts as missing.
            if !checked && field.required {
                return Ok(None);
            }
            IntakeAnswer::Checked(checked)
        }
        _ => return Err(AnswerError::WrongKind(key())),
    };
    Ok(Some(answer))
}

/// A customer's validated answers, keyed by field.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct IntakeAnswers(BTreeMap<FieldKey, IntakeAnswer>);

impl IntakeAnswers {
    /// Rebuilds answers that were validated when they were stored. Each value
    /// is already a parsed type; the form is not consulted, since it may
    /// have changed since the booking was made.
    pub fn restore(answers: impl IntoIterator<Item = (FieldKey, IntakeAnswer)>) -> Self {
        Self(answers.into_iter().collect())
    }

    /// The answer to one field, if given.
    pub fn get(&self, key: &FieldKey) -> Option<&IntakeAnswer> {
        self.0.get(key)
    }

    /// All answers, ordered by key.
    pub fn iter(&self) -> impl Iterator<Item = (&FieldKey, &IntakeAnswer)> {
        self.0.iter()
    }

    /// How many fields were answered.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no field was answered.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for IntakeAnswers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IntakeAnswers({} answers, redacted)", self.0.len())
    }
}
