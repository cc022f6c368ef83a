//! A customer's own data-rights request (P10): a link that lets the
//! customer download everything stored about them, or have it erased,
//! without an account. A business's admin makes the link for a customer
//! of theirs; it is sent to the customer's email address (until mail
//! sending exists, the admin hands it over), works once, and expires.

use std::fmt;

/// How long a request link works, in days.
pub const LINK_LIFETIME_DAYS: i64 = 7;

/// What a request link does.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum DataRequestKind {
    /// Answers the customer's export.
    Export,
    /// Erases the customer.
    Erasure,
}

/// A name that is not a request kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a data request is `export` or `erasure`")]
pub struct DataRequestKindError;

impl DataRequestKind {
    /// Parses `export` or `erasure`.
    ///
    /// # Errors
    /// [`DataRequestKindError`] for anything else.
    pub fn parse(name: &str) -> Result<Self, DataRequestKindError> {
        match name {
            "export" => Ok(Self::Export),
            "erasure" => Ok(Self::Erasure),
            _ => Err(DataRequestKindError),
        }
    }

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Export => "export",
            Self::Erasure => "erasure",
        }
    }
}

impl fmt::Display for DataRequestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p10_data_request_kinds_round_trip_and_nothing_else_parses() {
        for kind in [DataRequestKind::Export, DataRequestKind::Erasure] {
            assert_eq!(DataRequestKind::parse(kind.as_str()), Ok(kind));
        }
        for bad in ["", "Export", "delete", "export "] {
            assert_eq!(DataRequestKind::parse(bad), Err(DataRequestKindError));
        }
    }
}
