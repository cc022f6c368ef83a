//! Shared rules for short human-written text: names, labels, choices.

/// Why a piece of text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Nothing but white space.
    #[error("must not be empty")]
    Empty,
    /// Longer than allowed, counted in characters.
    #[error("must be at most {max} characters")]
    TooLong {
        /// The limit in characters.
        max: usize,
    },
    /// Holds a control character (line breaks are allowed only in long text).
    #[error("must not contain control characters")]
    ControlCharacter,
}

/// Trims `input` and checks it is one line of 1 to `max` characters.
pub(crate) fn single_line(input: &str, max: usize) -> Result<String, TextError> {
    let trimmed = input.trim();
    check(trimmed, max, |c| c.is_control())?;
    Ok(trimmed.to_owned())
}

/// Trims `input` and checks it is 1 to `max` characters, allowing line breaks
/// and tabs.
pub(crate) fn multi_line(input: &str, max: usize) -> Result<String, TextError> {
    let trimmed = input.trim();
    check(trimmed, max, |c| {
        c.is_control() && !matches!(c, '\n' | '\r' | '\t')
    })?;
    Ok(trimmed.to_owned())
}

fn check(text: &str, max: usize, forbidden: impl Fn(char) -> bool) -> Result<(), TextError> {
    if text.is_empty() {
        return Err(TextError::Empty);
    }
    if text.chars().count() > max {
        return Err(TextError::TooLong { max });
    }
    if text.chars().any(forbidden) {
        return Err(TextError::ControlCharacter);
    }
    Ok(())
}

/// Whether `s` is a lowercase slug: ASCII letters, digits and single inner
/// hyphens, `min..=max` bytes long.
pub(crate) fn is_slug(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}
