//! HTTP to the deployment: one request at a time, each answer read whole,
//! and rate limits honoured. A live deployment answers `429` with
//! `Retry-After` when a budget is spent; that is the server working, not a
//! leak, so the request waits and goes again (a bounded number of times)
//! and only the answer after the limit counts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::error::{Error, Exchange};

/// How many times one request is sent while it is answered 429.
pub(crate) const MAX_ATTEMPTS: u32 = 10;
/// The longest single wait for a `Retry-After`, in seconds.
const MAX_WAIT_SECONDS: u64 = 120;

/// One request, before it is sent.
#[derive(Clone, Debug)]
pub(crate) struct Request {
    /// Who sends it, for reports.
    pub(crate) sender: String,
    /// The method.
    pub(crate) method: Method,
    /// Path and query below the base URL.
    pub(crate) path: String,
    /// A JSON body.
    pub(crate) body: Option<Value>,
    /// The bearer credential, if any.
    pub(crate) token: Option<String>,
}

impl Request {
    /// A request without body or credential.
    pub(crate) fn new(sender: impl Into<String>, method: Method, path: impl Into<String>) -> Self {
        Self {
            sender: sender.into(),
            method,
            path: path.into(),
            body: None,
            token: None,
        }
    }

    /// With a JSON body.
    pub(crate) fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    /// With a bearer credential.
    pub(crate) fn token(mut self, token: Option<&str>) -> Self {
        self.token = token.map(str::to_owned);
        self
    }
}

/// The deployment's HTTP client.
pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
    requests: AtomicU64,
    rate_limited: AtomicU64,
}

impl Client {
    /// A client for `base` (no trailing slash).
    pub(crate) fn new(base: String) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(Error::Client)?;
        Ok(Self {
            http,
            base,
            requests: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
        })
    }

    /// Requests sent so far, retries included.
    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Answers `429` waited out so far.
    pub(crate) fn rate_limited(&self) -> u64 {
        self.rate_limited.load(Ordering::Relaxed)
    }

    /// Sends `request`, waiting out rate limits, and returns the exchange.
    pub(crate) async fn send(&self, request: &Request) -> Result<Exchange, Error> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut builder = self.http.request(
                request.method.clone(),
                format!("{}{}", self.base, request.path),
            );
            if let Some(token) = &request.token {
                builder = builder.bearer_auth(token);
            }
            if let Some(body) = &request.body {
                builder = builder.json(body);
            }
            self.requests.fetch_add(1, Ordering::Relaxed);
            let transport = |source| Error::Transport {
                method: request.method.to_string(),
                path: request.path.clone(),
                source,
            };
            let response = builder.send().await.map_err(transport)?;
            let status = response.status().as_u16();
            let wait = retry_after(&response);
            let body = response.text().await.map_err(transport)?;
            let exchange = Exchange {
                sender: request.sender.clone(),
                method: request.method.to_string(),
                path: request.path.clone(),
                request_body: request.body.as_ref().map(Value::to_string),
                status,
                body,
            };
            if status != 429 {
                return Ok(exchange);
            }
            if attempt >= MAX_ATTEMPTS {
                return Err(Error::RateLimited {
                    attempts: attempt,
                    exchange: Box::new(exchange),
                });
            }
            self.rate_limited.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(wait).await;
        }
    }

    /// Sends `request` and returns its JSON body when the status is one of
    /// `expected`; anything else is [`Error::Unexpected`] for `step`.
    pub(crate) async fn expect(
        &self,
        step: &str,
        request: &Request,
        expected: &[u16],
    ) -> Result<Value, Error> {
        let exchange = self.send(request).await?;
        if !expected.contains(&exchange.status) {
            return Err(Error::Unexpected {
                step: step.to_owned(),
                exchange: Box::new(exchange),
            });
        }
        if exchange.body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&exchange.body).map_err(|_not_json| Error::Unexpected {
            step: format!("{step} (the answer is not JSON)"),
            exchange: Box::new(exchange),
        })
    }
}

/// How long a 429 asks to wait: its `Retry-After` in seconds (at least
/// one, at most [`MAX_WAIT_SECONDS`]); one second when it names none.
fn retry_after(response: &reqwest::Response) -> Duration {
    let seconds = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(1);
    Duration::from_secs(seconds.clamp(1, MAX_WAIT_SECONDS))
}
