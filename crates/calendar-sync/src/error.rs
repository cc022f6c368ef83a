//! Why a sync gave no new busy time. Messages carry no URL, address,
//! token or calendar content: they reach logs and the connection's health.

use std::time::Duration;

use crate::outbound::FetchError;

/// Why a sync failed. The previous busy time stays in force whatever the
/// reason; [`SyncError::revokes`] says when the connection is dead until
/// its owner reconnects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The request could not be made or completed (refused by the
    /// outbound guard, unreachable, timed out, too large).
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The provider no longer accepts the credentials (HTTP 401 or 403, or
    /// OAuth `invalid_grant`).
    #[error("the calendar provider no longer accepts the credentials")]
    Unauthorized,
    /// The calendar or feed is gone (HTTP 404 or 410).
    #[error("the calendar was not found at the provider")]
    NotFound,
    /// The provider asked us to slow down (HTTP 429).
    #[error("the calendar provider asked to retry later")]
    RateLimited {
        /// How long it asked us to wait, when it said.
        retry_after: Option<Duration>,
    },
    /// The provider failed (HTTP 5xx).
    #[error("the calendar provider failed (HTTP {status})")]
    Unavailable {
        /// The status.
        status: u16,
        /// How long it asked us to wait, when it said.
        retry_after: Option<Duration>,
    },
    /// Any other status we do not expect.
    #[error("the calendar provider answered HTTP {status}")]
    Unexpected {
        /// The status.
        status: u16,
    },
    /// The answer is not what the protocol says it should be.
    #[error("the calendar provider's answer could not be read: {0}")]
    Malformed(&'static str),
}

impl SyncError {
    /// Whether the connection cannot sync again until its owner
    /// reconnects: the provider refused the credentials.
    pub fn revokes(&self) -> bool {
        matches!(self, Self::Unauthorized)
    }

    /// How long the provider asked us to wait before the next attempt.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } | Self::Unavailable { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// The error for a status that is not a success, with the provider's
    /// `Retry-After` where it gave one.
    pub(crate) fn from_status(status: u16, retry_after: Option<Duration>) -> Self {
        match status {
            401 | 403 => Self::Unauthorized,
            404 | 410 => Self::NotFound,
            429 => Self::RateLimited { retry_after },
            500..=599 => Self::Unavailable {
                status,
                retry_after,
            },
            _ => Self::Unexpected { status },
        }
    }
}
