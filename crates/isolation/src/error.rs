//! What can go wrong: a leak (the finding the check exists for, with the
//! request and response that show it), or a run that could not be carried
//! out (the deployment unreachable, a setup request refused, a rate limit
//! that never let up).

use std::fmt;

/// One request the check sent and the answer it got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// Who sent it, in the check's words (`owner of business 0`, ...).
    pub sender: String,
    /// The HTTP method.
    pub method: String,
    /// The path and query, relative to the target's base URL.
    pub path: String,
    /// The JSON body sent, if any.
    pub request_body: Option<String>,
    /// The answer's status code.
    pub status: u16,
    /// The answer's body, as text.
    pub body: String,
}

impl fmt::Display for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} (as {})", self.method, self.path, self.sender)?;
        if let Some(body) = &self.request_body {
            write!(f, " with body {body}")?;
        }
        write!(f, "\n  -> {} {}", self.status, self.body)
    }
}

/// What kind of leak was found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeakKind {
    /// The server failed (5xx): an unchecked path is a path nobody proved
    /// safe.
    ServerError,
    /// A response held another business's id, email or slug.
    ForeignData {
        /// The index (0..3) of the business whose data leaked.
        business: usize,
        /// The string found.
        marker: String,
    },
    /// Another business's id was answered unlike an id that exists
    /// nowhere: an existence oracle. `compared` holds the answer to the
    /// random id.
    UnlikeRandomId,
    /// Another business's data read back differently after the request:
    /// a cross-tenant write. `compared` holds the read-back that changed.
    CrossTenantWrite {
        /// The index (0..3) of the business whose data changed.
        business: usize,
    },
}

impl fmt::Display for LeakKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ServerError => write!(f, "a server error (5xx)"),
            Self::ForeignData { business, marker } => {
                write!(f, "business {business}'s {marker:?} in a response")
            }
            Self::UnlikeRandomId => {
                write!(f, "another business's id answered unlike a random id")
            }
            Self::CrossTenantWrite { business } => {
                write!(f, "business {business}'s data changed")
            }
        }
    }
}

/// A leak, with everything needed to reproduce it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leak {
    /// What was found.
    pub kind: LeakKind,
    /// The failing request and its response.
    pub exchange: Exchange,
    /// The answer it was compared with, when the finding is a difference:
    /// the same request with a random id, or the read-back that changed
    /// (its answer after the request; `before` holds the one before).
    pub compared: Option<Exchange>,
    /// The read-back's answer before the request, for a cross-tenant write.
    pub before: Option<Exchange>,
    /// Where in the run it happened: seed, case, operation, businesses.
    pub context: String,
}

impl fmt::Display for Leak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "LEAK: {}", self.kind)?;
        writeln!(f, "context: {}", self.context)?;
        writeln!(f, "request: {}", self.exchange)?;
        if let Some(before) = &self.before {
            writeln!(f, "read back before: {before}")?;
        }
        if let Some(compared) = &self.compared {
            let label = match self.kind {
                LeakKind::CrossTenantWrite { .. } => "read back after",
                _ => "compared with",
            };
            writeln!(f, "{label}: {compared}")?;
        }
        Ok(())
    }
}

/// Why a run ended without a verdict of "no leak".
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A leak: the deployment does not keep its businesses apart.
    #[error("{0}")]
    Leak(Box<Leak>),
    /// The base URL is not an `http` or `https` URL.
    #[error("the target {url:?} is not an http(s) base URL")]
    BadTarget {
        /// The URL given.
        url: String,
    },
    /// The HTTP client could not be built.
    #[error("could not build the HTTP client")]
    Client(#[source] reqwest::Error),
    /// A request got no answer.
    #[error("{method} {path}: no answer from the deployment")]
    Transport {
        /// The HTTP method.
        method: String,
        /// The path and query.
        path: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// A request the check needs for its setup or read-backs was refused:
    /// the deployment does not behave as the API documents (or its limits
    /// are too tight for the check).
    #[error("{step}: unexpected answer to {exchange}")]
    Unexpected {
        /// What the check was doing.
        step: String,
        /// The request and its answer.
        exchange: Box<Exchange>,
    },
    /// A request stayed rate limited (429) through every retry.
    #[error("still rate limited after {attempts} attempts: {exchange}")]
    RateLimited {
        /// How many times it was sent.
        attempts: u32,
        /// The last request and its answer.
        exchange: Box<Exchange>,
    },
}

impl Error {
    /// The leak, if this error is one.
    #[must_use]
    pub fn leak(&self) -> Option<&Leak> {
        match self {
            Self::Leak(leak) => Some(leak),
            _ => None,
        }
    }
}
