//! The tenant-isolation check (P1), over HTTP alone, for any Bookwarden
//! deployment: a test server on loopback or a live one.
//!
//! [`check`] signs up three throwaway businesses through the public API
//! (random slugs), brings in an owner, an admin and a staff member for
//! each, makes API keys of every scope, and for every case a fresh catalog
//! (staff with schedules, a service, a booking at a free time the server
//! lists, an invitation). Then it sends random [`Operation`]s: one of a
//! business's senders ([`Who`]), one request shape ([`Action`]), and an id
//! drawn from any of the three businesses or from nowhere ([`IdSource`]).
//! The run fails with a [`Leak`] on
//!
//! - any 5xx;
//! - any response that holds another business's ids, emails or slug;
//! - any answer to another business's id that is not byte for byte the
//!   answer to a random id (status and body): no existence oracle;
//! - any change to another business's data (its staff, services,
//!   customers, bookings, accounts, keys, invitations, audit chain and
//!   schedules, read back by its owner after every request).
//!
//! A `429` is the deployment's rate limit at work, not a finding: the
//! request waits for `Retry-After` and goes again (at most ten times).
//!
//! At the end (after a leak too) the check cleans up what it made: it
//! cancels its bookings, deletes its services and staff (except those a
//! booking names, which the API keeps), withdraws open invitations,
//! revokes its API keys and signs out. **The three businesses themselves,
//! their accounts and their customers remain**: the API has no tenant
//! deletion yet. Their slugs start with `iso-`.
//!
//! The crate depends on no other Bookwarden crate, so it can be aimed at
//! any deployment of any version that speaks the same API; the
//! `bookwarden-isolation-check` binary is the same check on the command
//! line.

mod action;
mod client;
mod error;
mod rng;
mod setup;
mod time;

use std::time::{Duration, Instant};

pub use action::{Action, IdSource, Kind, Listing, Operation, Who};
pub use error::{Error, Exchange, Leak, LeakKind};
pub use setup::Cleanup;

use action::Window;
use client::{Client, Request};
use rng::Rng;
use setup::Business;
use time::{DAY, now, rfc3339};

/// How many businesses the check makes.
pub const BUSINESSES: usize = 3;

/// Where the deployment answers: a base URL such as
/// `https://book.example.com` or `http://127.0.0.1:8080`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    base: String,
}

impl Target {
    /// A target from its base URL (a trailing `/` is dropped).
    ///
    /// # Errors
    /// [`Error::BadTarget`] when `url` is not an `http` or `https` URL.
    pub fn new(url: &str) -> Result<Self, Error> {
        let bad = || Error::BadTarget {
            url: url.to_owned(),
        };
        let parsed = reqwest::Url::parse(url).map_err(|_not_a_url| bad())?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(bad());
        }
        Ok(Self {
            base: url.trim_end_matches('/').to_owned(),
        })
    }

    /// The base URL, without a trailing `/`.
    #[must_use]
    pub fn base(&self) -> &str {
        &self.base
    }
}

/// How much to check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Cases: each makes a fresh catalog in every business, then sends its
    /// operations.
    pub cases: u32,
    /// Operations per case (each followed by a read-back of all three
    /// businesses: about 30 requests).
    pub ops_per_case: u32,
    /// The seed of the plan: the same seed sends the same operations.
    pub seed: u64,
}

impl Default for Options {
    /// Four cases of sixty operations, seed 0.
    fn default() -> Self {
        Self {
            cases: 4,
            ops_per_case: 60,
            seed: 0,
        }
    }
}

/// What a run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The slugs of the businesses made (they remain on the deployment).
    pub slugs: Vec<String>,
    /// Cases run.
    pub cases: u32,
    /// Operations sent.
    pub operations: u64,
    /// Of those, operations carrying another business's id.
    pub foreign: u64,
    /// Requests sent in all (setup, operations, comparisons, read-backs,
    /// cleanup, retries).
    pub requests: u64,
    /// `429` answers waited out.
    pub rate_limited: u64,
    /// What cleanup did and left.
    pub cleanup: Cleanup,
    /// How long the run took.
    pub elapsed: Duration,
}

/// Runs the check against `target`.
///
/// On a leak the error is [`Error::Leak`], which carries the failing
/// request and response (method, path, status, body), what it was
/// compared with and where in the run it happened; cleanup has run by
/// then. Any other error means the run could not be carried out (the
/// deployment unreachable, a setup request refused, a rate limit that
/// never let up): no verdict.
///
/// # Errors
/// [`Error::Leak`] on a leak; the other variants of [`Error`] when the run
/// could not be carried out.
///
/// # Example
///
/// ```no_run
/// use bookwarden_isolation::{Options, Target, check};
///
/// # async fn run() -> Result<(), bookwarden_isolation::Error> {
/// let target = Target::new("http://127.0.0.1:8080")?;
/// let options = Options { cases: 2, ops_per_case: 40, seed: 7 };
/// match check(&target, &options).await {
///     Ok(report) => assert!(report.operations > 0),
///     Err(error) => {
///         if let Some(leak) = error.leak() {
///             eprintln!("{leak}"); // the request and response that leaked
///         }
///         return Err(error);
///     }
/// }
/// # Ok(())
/// # }
/// ```
pub async fn check(target: &Target, options: &Options) -> Result<Report, Error> {
    let started = Instant::now();
    let client = Client::new(target.base.clone())?;
    let today = now();
    let window = Window {
        from: rfc3339(today - DAY),
        to: rfc3339(today + 80 * DAY),
    };
    let password = format!("isolation check {}", uuid::Uuid::new_v4().simple());
    let mut businesses = Vec::with_capacity(BUSINESSES);
    for index in 0..BUSINESSES {
        businesses.push(Business::sign_up(&client, index, &password).await?);
    }
    let mut run = Run {
        client: &client,
        window: &window,
        rng: Rng::new(options.seed),
        seed: options.seed,
        operations: 0,
        foreign: 0,
    };
    let outcome = run.cases(&mut businesses, options).await;
    let mut cleanup = Cleanup::default();
    for business in &businesses {
        business.clean_up(&client, &window, &mut cleanup).await;
    }
    outcome?;
    Ok(Report {
        slugs: businesses.iter().map(|b| b.slug.clone()).collect(),
        cases: options.cases,
        operations: run.operations,
        foreign: run.foreign,
        requests: client.requests(),
        rate_limited: client.rate_limited(),
        cleanup,
        elapsed: started.elapsed(),
    })
}

/// The state of one run.
struct Run<'r> {
    client: &'r Client,
    window: &'r Window,
    rng: Rng,
    seed: u64,
    operations: u64,
    foreign: u64,
}

impl Run<'_> {
    async fn cases(&mut self, businesses: &mut [Business], options: &Options) -> Result<(), Error> {
        for case in 0..options.cases {
            for business in businesses.iter_mut() {
                business.refresh(self.client, case).await?;
            }
            let mut before = Vec::with_capacity(businesses.len());
            for business in businesses.iter() {
                before.push(business.read_back(self.client, self.window).await?);
            }
            for n in 0..options.ops_per_case {
                let op = Operation::random(&mut self.rng, businesses.len());
                let context = format!(
                    "seed {}, case {case}, operation {n}: {op:?}; businesses {}",
                    self.seed,
                    businesses
                        .iter()
                        .map(|b| format!("{} = {}", b.index, b.slug))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                self.operation(businesses, &op, &mut before, &context)
                    .await?;
            }
        }
        Ok(())
    }

    /// Sends one operation and checks its answer and every business's
    /// read-back.
    async fn operation(
        &mut self,
        businesses: &[Business],
        op: &Operation,
        before: &mut [Vec<Exchange>],
        context: &str,
    ) -> Result<(), Error> {
        let leak = |kind, exchange, compared, earlier| {
            Error::Leak(Box::new(Leak {
                kind,
                exchange,
                compared,
                before: earlier,
                context: context.to_owned(),
            }))
        };
        let Some(me) = businesses.get(op.business) else {
            return Ok(());
        };
        let nowhere = self.rng.uuid().to_string();
        let id = match (op.action.kind(), op.id) {
            (Some(kind), IdSource::Business { business, pick }) => businesses
                .get(business)
                .map(|b| b.pool(kind))
                .and_then(|pool| pool.get(pick % pool.len().max(1)))
                .cloned()
                .unwrap_or_else(|| nowhere.clone()),
            _ => nowhere.clone(),
        };
        let request = |id: &str| {
            let (method, path, body) = op.action.render(&me.slug, id, &me.starts, self.window);
            let mut request = Request::new(me.sender(op.who), method, path).token(me.token(op.who));
            request.body = body;
            request
        };
        let answer = self.client.send(&request(&id)).await?;
        self.operations += 1;
        if answer.status >= 500 {
            return Err(leak(LeakKind::ServerError, answer, None, None));
        }
        for other in businesses.iter().filter(|b| b.index != me.index) {
            if let Some(marker) = other
                .markers
                .iter()
                .find(|m| answer.body.contains(m.as_str()))
            {
                let kind = LeakKind::ForeignData {
                    business: other.index,
                    marker: marker.clone(),
                };
                return Err(leak(kind, answer, None, None));
            }
        }
        if op.is_foreign() {
            self.foreign += 1;
            let random = self.rng.uuid().to_string();
            let compared = self.client.send(&request(&random)).await?;
            if (answer.status, &answer.body) != (compared.status, &compared.body) {
                return Err(leak(LeakKind::UnlikeRandomId, answer, Some(compared), None));
            }
        }
        for (business, earlier) in businesses.iter().zip(before.iter_mut()) {
            let now = business.read_back(self.client, self.window).await?;
            if let Some(failed) = now.iter().find(|e| e.status >= 500) {
                return Err(leak(LeakKind::ServerError, failed.clone(), None, None));
            }
            if business.index != me.index {
                let changed = now
                    .iter()
                    .zip(earlier.iter())
                    .find(|(after, then)| (after.status, &after.body) != (then.status, &then.body));
                let count_changed = now.len() != earlier.len();
                if changed.is_some() || count_changed {
                    let (after, then) =
                        changed.map_or((None, None), |(a, t)| (Some(a.clone()), Some(t.clone())));
                    let kind = LeakKind::CrossTenantWrite {
                        business: business.index,
                    };
                    return Err(leak(kind, answer, after, then));
                }
            }
            *earlier = now;
        }
        Ok(())
    }
}
