//! Intake answers are validated against the service's fields (P15).

use std::collections::BTreeMap;

use bookwarden_domain::intake::{
    AnswerError, Choices, FieldKey, FieldKind, IntakeAnswer, IntakeField, IntakeForm, RawAnswer,
};

fn form() -> IntakeForm {
    let field = |key: &str, kind: FieldKind, required: bool| {
        IntakeField::new(FieldKey::parse(key).unwrap(), key, kind, required).unwrap()
    };
    IntakeForm::new(vec![
        field("reason", FieldKind::Text { max_chars: 20 }, true),
        field("history", FieldKind::LongText { max_chars: 200 }, false),
        field("contact", FieldKind::Email, false),
        field("mobile", FieldKind::Phone, false),
        field(
            "area",
            FieldKind::SingleChoice(Choices::new(&["Back", "Neck"]).unwrap()),
            false,
        ),
        field(
            "days",
            FieldKind::MultiChoice(Choices::new(&["Mon", "Tue", "Wed"]).unwrap()),
            false,
        ),
        field("consent", FieldKind::Checkbox, true),
    ])
    .unwrap()
}

fn answers(pairs: Vec<(&str, RawAnswer)>) -> BTreeMap<String, RawAnswer> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn text(s: &str) -> RawAnswer {
    RawAnswer::Text(s.to_owned())
}

fn minimal() -> Vec<(&'static str, RawAnswer)> {
    vec![
        ("reason", text("Back pain")),
        ("consent", RawAnswer::Flag(true)),
    ]
}

#[test]
fn p15_valid_answers_become_typed() {
    let mut given = minimal();
    given.push(("history", text("Line one\nLine two")));
    given.push(("contact", text("Ada@Example.com")));
    given.push(("mobile", text("+44 20 7946 0958")));
    given.push(("area", text("Neck")));
    given.push(("days", RawAnswer::Choices(vec!["Wed".into(), "Mon".into()])));
    let out = form().validate(answers(given)).unwrap();
    assert_eq!(out.len(), 7);
    let key = |k: &str| FieldKey::parse(k).unwrap();
    assert!(
        matches!(out.get(&key("contact")), Some(IntakeAnswer::Email(e)) if e.as_str() == "ada@example.com")
    );
    assert!(
        matches!(out.get(&key("mobile")), Some(IntakeAnswer::Phone(p)) if p.as_str() == "+442079460958")
    );
    assert!(
        matches!(out.get(&key("days")), Some(IntakeAnswer::Choices(c)) if c == &["Mon", "Wed"])
    );
    assert!(
        !format!("{out:?}").contains("Back pain"),
        "Debug never shows answers"
    );
}

#[test]
fn p15_unknown_field_is_refused() {
    let mut given = minimal();
    given.push(("shoe_size", text("44")));
    assert_eq!(
        form().validate(answers(given)),
        Err(AnswerError::UnknownField("shoe_size".into()))
    );
}

#[test]
fn p15_required_fields_must_be_answered() {
    let given = vec![("consent", RawAnswer::Flag(true))];
    assert_eq!(
        form().validate(answers(given)),
        Err(AnswerError::Missing("reason".into()))
    );
    let blank = vec![("reason", text("   ")), ("consent", RawAnswer::Flag(true))];
    assert_eq!(
        form().validate(answers(blank)),
        Err(AnswerError::Missing("reason".into()))
    );
    let unticked = vec![("reason", text("x")), ("consent", RawAnswer::Flag(false))];
    assert_eq!(
        form().validate(answers(unticked)),
        Err(AnswerError::Missing("consent".into()))
    );
}

#[test]
fn p15_each_kind_refuses_bad_answers() {
    let with = |key: &'static str, answer: RawAnswer| {
        let mut given = minimal();
        given.retain(|(k, _)| *k != key);
        given.push((key, answer));
        form().validate(answers(given)).unwrap_err()
    };
    assert!(matches!(
        with("reason", text(&"x".repeat(21))),
        AnswerError::Text { .. }
    ));
    assert!(matches!(
        with("reason", text("two\nlines")),
        AnswerError::Text { .. }
    ));
    assert!(matches!(
        with("contact", text("not-an-email")),
        AnswerError::Email { .. }
    ));
    assert!(matches!(
        with("mobile", text("0301234")),
        AnswerError::Phone { .. }
    ));
    assert_eq!(
        with("area", text("Knee")),
        AnswerError::Choice("area".into())
    );
    assert_eq!(
        with("days", RawAnswer::Choices(vec!["Mon".into(), "Mon".into()])),
        AnswerError::Choice("days".into())
    );
    assert_eq!(
        with("area", RawAnswer::Flag(true)),
        AnswerError::WrongKind("area".into())
    );
    assert_eq!(
        with("consent", text("yes")),
        AnswerError::WrongKind("consent".into())
    );
    // Errors name the field, never the answer.
    let err = with("contact", text("secret-value"));
    assert!(!err.to_string().contains("secret-value"));
}
