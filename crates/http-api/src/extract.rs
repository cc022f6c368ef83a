//! Extractors: the client's address and agent, and the authenticated
//! principal. The tenant of a request comes only from its credential; the
//! stronger extractors are built on [`Authenticated`], so a handler that
//! needs an admin cannot forget to check.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{Method, header};
use actix_web::{FromRequest, HttpMessage as _, HttpRequest, web};
use bookwarden_app::{AppError, Carrier, ClientInfo, Need, Principal};

use crate::problem::ApiError;
use crate::state::State;

/// The name of the session cookie. `__Host-` makes browsers insist on
/// `Secure`, `Path=/` and no `Domain`.
pub const SESSION_COOKIE: &str = "__Host-bw_session";
/// The header browsers send the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

fn state(request: &HttpRequest) -> Result<web::Data<State>, ApiError> {
    request
        .app_data::<web::Data<State>>()
        .cloned()
        .ok_or_else(|| ApiError::App(AppError::internal(std::io::Error::other("state missing"))))
}

/// The client's address: the socket peer, or behind a trusted proxy the
/// address the proxy appended last to `X-Forwarded-For`. Only that last
/// entry counts (anything earlier was written by the client); if it is not
/// an address the socket peer is used.
pub(crate) fn client_address(request: &HttpRequest, behind_proxy: bool) -> Option<IpAddr> {
    if behind_proxy {
        let last = request
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .last()
            .and_then(|entry| entry.trim().parse::<IpAddr>().ok());
        if last.is_some() {
            return last;
        }
    }
    request.peer_addr().map(|a| a.ip())
}

/// Where the request came from.
pub(crate) struct Client(pub ClientInfo);

impl Client {
    /// The key rate limits count under: the IPv4 address, or the IPv6 /64
    /// (one customer's usual allocation, so rotating addresses inside it
    /// does not reset a budget). Unknown only without a socket.
    pub(crate) fn address(&self) -> IpAddr {
        match self.0.address {
            Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let prefix = u128::from(v6) & !((1_u128 << 64) - 1);
                    IpAddr::V6(std::net::Ipv6Addr::from(prefix))
                }
            },
            Some(v4) => v4,
            None => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        }
    }
}

impl FromRequest for Client {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let behind_proxy = state(request).map(|s| s.behind_proxy).unwrap_or(false);
        let user_agent = request
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(200).collect());
        std::future::ready(Ok(Self(ClientInfo {
            address: client_address(request, behind_proxy),
            user_agent,
        })))
    }
}

/// A caller with a valid session or API key.
pub(crate) struct Authenticated(pub Principal);

/// Where the presented token came from.
enum Presented {
    Bearer(String),
    Cookie(String),
}

fn presented(request: &HttpRequest) -> Result<Presented, ApiError> {
    if let Some(value) = request.headers().get(header::AUTHORIZATION) {
        let text = value
            .to_str()
            .map_err(|_not_ascii| ApiError::App(AppError::Unauthenticated))?;
        let token = text
            .strip_prefix("Bearer ")
            .ok_or(ApiError::App(AppError::Unauthenticated))?;
        return Ok(Presented::Bearer(token.trim().to_owned()));
    }
    if let Some(cookie) = request.cookie(SESSION_COOKIE) {
        return Ok(Presented::Cookie(cookie.value().to_owned()));
    }
    Err(ApiError::App(AppError::Unauthenticated))
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            let state = state(&request)?;
            let found = presented(&request)?;
            let principal = match &found {
                Presented::Bearer(token) => state.app.authenticate(token, Carrier::Bearer).await?,
                Presented::Cookie(token) => {
                    // A cookie rides along on cross-site requests too: a
                    // state-changing one must prove it read our response.
                    let csrf = changes_state(request.method()).then(|| {
                        request
                            .headers()
                            .get(CSRF_HEADER)
                            .and_then(|v| v.to_str().ok())
                    });
                    state
                        .app
                        .authenticate(token, Carrier::Cookie { csrf })
                        .await?
                }
            };
            tracing::Span::current().record("tenant", tracing::field::display(principal.tenant()));
            // For the envelope: a 404 for an id this business does not
            // have is audited in the business.
            request.extensions_mut().insert(principal.clone());
            Ok(Self(principal))
        })
    }
}

/// A caller with admin rights (an admin's or owner's session, or an
/// `admin` key).
pub(crate) struct Admin(pub Principal);

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let authenticated = Authenticated::from_request(request, payload);
        Box::pin(async move {
            let Authenticated(principal) = authenticated.await?;
            principal.require(Need::Admin)?;
            Ok(Self(principal))
        })
    }
}

/// A person signed in with a session (not an API key).
pub(crate) struct Person(pub Principal);

impl FromRequest for Person {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let authenticated = Authenticated::from_request(request, payload);
        Box::pin(async move {
            let Authenticated(principal) = authenticated.await?;
            principal.require(Need::Person)?;
            Ok(Self(principal))
        })
    }
}
