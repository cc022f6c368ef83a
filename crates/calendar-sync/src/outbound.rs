//! Outbound HTTP, guarded against server-side request forgery.
//!
//! Staff give us URLs (a CalDAV server, an ICS feed) that our servers then
//! fetch. Every such request goes through one [`Outbound`] client that:
//!
//! - speaks https only (plain http only where loopback is allowed, for
//!   tests);
//! - resolves each host itself, once per connection, and refuses the host
//!   when **any** of its addresses is loopback, private, link-local
//!   (cloud metadata lives there), CGNAT, multicast, reserved or otherwise
//!   not public, in IPv4, IPv6 and the IPv6 forms that embed an IPv4
//!   address; the connection goes to the addresses it checked, so a name
//!   that resolves differently a moment later (DNS rebinding) gains
//!   nothing;
//! - checks literal addresses in the URL, and every redirect's target, by
//!   the same rule, and follows a few redirects at most;
//! - uses no proxy from the environment, and caps time and body size.
//!
//! Loopback is allowed only by [`OutboundConfig::allow_loopback`], which
//! tests set to reach their local fake providers.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, RequestBuilder, Url};

/// How the outbound client behaves.
#[derive(Clone, Debug)]
pub struct OutboundConfig {
    /// Allow loopback addresses (and plain http to them). Tests only:
    /// production leaves it off.
    pub allow_loopback: bool,
    /// The most bytes read from one response body.
    pub max_bytes: usize,
    /// The longest one request may take, redirects included.
    pub timeout: Duration,
    /// Redirects followed at most.
    pub max_redirects: usize,
    /// Extra trusted root certificates (PEM), for tests whose fake
    /// providers serve https with a test authority.
    pub extra_roots_pem: Vec<Vec<u8>>,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        Self {
            allow_loopback: false,
            max_bytes: 10 * 1024 * 1024,
            timeout: Duration::from_secs(30),
            max_redirects: 3,
            extra_roots_pem: Vec::new(),
        }
    }
}

/// Why an outbound request gave no usable answer. Messages name no
/// address and no response content: they reach logs and connection
/// health.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The URL is not one we fetch: not https, carries credentials, has no
    /// host, or its host resolves to an address that is not public.
    #[error("refused to fetch this URL: {0}")]
    Refused(&'static str),
    /// The host could not be resolved or reached.
    #[error("the server could not be reached")]
    Unreachable,
    /// No complete answer within the time allowed.
    #[error("the server took too long to answer")]
    Timeout,
    /// The body was larger than allowed.
    #[error("the answer was larger than allowed")]
    TooLarge,
    /// More redirects than allowed.
    #[error("too many redirects")]
    TooManyRedirects,
    /// Any other transport failure (TLS, protocol).
    #[error("the request failed in transport")]
    Transport,
}

/// An answer, its body read in full (within the cap).
#[derive(Clone)]
pub struct Fetched {
    /// The status code.
    pub status: u16,
    /// The response headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body.
    pub body: Vec<u8>,
    /// Where the answer came from, after redirects.
    pub url: Url,
}

impl std::fmt::Debug for Fetched {
    // A body may hold calendar data: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetched")
            .field("status", &self.status)
            .field("bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl Fetched {
    /// The value of header `name`, when present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `Retry-After` as a delay, when given in seconds.
    pub fn retry_after(&self) -> Option<Duration> {
        self.header("retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok())
            // A day at most, whatever the provider says.
            .map(|seconds| Duration::from_secs(seconds.min(86_400)))
    }
}

/// A request made by [`Outbound::request`] or [`Outbound::credentialed`]
/// after its URL passed the guard. Only headers and a body can be added:
/// [`Outbound::fetch`] takes nothing else, so no request from another
/// client, or to another URL, can slip past the checks.
#[derive(Debug)]
pub struct Guarded(RequestBuilder);

impl Guarded {
    /// Adds a header. A value that is not a valid header value is left out
    /// (the values sent are protocol constants, or validators the server
    /// itself sent as header values).
    #[must_use]
    pub fn header(self, name: HeaderName, value: &str) -> Self {
        match HeaderValue::from_str(value) {
            Ok(value) => Self(self.0.header(name, value)),
            Err(_invalid) => self,
        }
    }

    /// Adds HTTP Basic credentials.
    #[must_use]
    pub fn basic_auth(self, user: &str, password: &str) -> Self {
        Self(self.0.basic_auth(user, Some(password)))
    }

    /// Sets the body.
    #[must_use]
    pub fn body(self, body: String) -> Self {
        Self(self.0.body(body))
    }
}

/// The guarded client. Cheap to clone; keeps its connections pooled.
#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
    /// For requests that carry credentials: redirects only within the
    /// origin of the first request (reqwest drops `Authorization` only when
    /// the next hop's host differs from the last hop's, so A -> B -> B
    /// would hand it to B again).
    credentialed: reqwest::Client,
    allow_loopback: bool,
    max_bytes: usize,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("allow_loopback", &self.allow_loopback)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

/// The resolver's refusal, found again in reqwest's error chain.
#[derive(Debug, thiserror::Error)]
#[error("the host resolves to an address that is not public")]
struct NotPublic;

/// Resolves with the system resolver and refuses a host when any of its
/// addresses is not allowed; returns exactly the addresses it checked.
struct GuardedResolver {
    allow_loopback: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            if found.is_empty() {
                return Err("the host has no address".into());
            }
            if found
                .iter()
                .any(|addr| !address_allowed(addr.ip(), allow_loopback))
            {
                return Err(Box::new(NotPublic) as Box<dyn std::error::Error + Send + Sync>);
            }
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

impl Outbound {
    /// A client with `config`.
    ///
    /// # Errors
    /// [`FetchError::Transport`] when an extra root certificate does not
    /// parse or the TLS stack cannot be set up.
    pub fn new(config: &OutboundConfig) -> Result<Self, FetchError> {
        Ok(Self {
            client: client(config, false)?,
            credentialed: client(config, true)?,
            allow_loopback: config.allow_loopback,
            max_bytes: config.max_bytes,
        })
    }

    /// A request to `url`, once the URL itself passes the guard (scheme,
    /// no credentials, a literal address that is public); its host's
    /// addresses are checked when it connects.
    ///
    /// # Errors
    /// [`FetchError::Refused`].
    pub fn request(&self, method: Method, url: Url) -> Result<Guarded, FetchError> {
        url_allowed(&url, self.allow_loopback).map_err(FetchError::Refused)?;
        Ok(Guarded(self.client.request(method, url)))
    }

    /// [`Outbound::request`] for a request that carries credentials: it
    /// follows redirects only within the origin it starts at.
    ///
    /// # Errors
    /// [`FetchError::Refused`].
    pub fn credentialed(&self, method: Method, url: Url) -> Result<Guarded, FetchError> {
        url_allowed(&url, self.allow_loopback).map_err(FetchError::Refused)?;
        Ok(Guarded(self.credentialed.request(method, url)))
    }

    /// Sends `request` and reads its body, at most the configured bytes.
    ///
    /// # Errors
    /// [`FetchError`] for every way it can fail; never the body.
    pub async fn fetch(&self, request: Guarded) -> Result<Fetched, FetchError> {
        let mut response = request.0.send().await.map_err(classify)?;
        if response
            .content_length()
            .is_some_and(|n| n > u64::try_from(self.max_bytes).unwrap_or(u64::MAX))
        {
            return Err(FetchError::TooLarge);
        }
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let url = response.url().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if body.len().saturating_add(chunk.len()) > self.max_bytes {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            status,
            headers,
            body,
            url,
        })
    }
}

/// A client under `config`; `same_origin` keeps redirects within the
/// first request's origin.
fn client(config: &OutboundConfig, same_origin: bool) -> Result<reqwest::Client, FetchError> {
    let allow_loopback = config.allow_loopback;
    let max_redirects = config.max_redirects;
    let redirects = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > max_redirects {
            return attempt.error(TooManyRedirects);
        }
        if same_origin
            && attempt
                .previous()
                .first()
                .is_some_and(|first| first.origin() != attempt.url().origin())
        {
            return attempt.error(RefusedRedirect(
                "a redirect to another server is not followed with credentials",
            ));
        }
        match url_allowed(attempt.url(), allow_loopback) {
            Ok(()) => attempt.follow(),
            Err(reason) => attempt.error(RefusedRedirect(reason)),
        }
    });
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .no_proxy()
        // A feed's URL is a secret: never sent on as a Referer.
        .referer(false)
        .redirect(redirects)
        .timeout(config.timeout)
        .connect_timeout(config.timeout.min(Duration::from_secs(10)))
        .https_only(!allow_loopback)
        .dns_resolver(Arc::new(GuardedResolver { allow_loopback }))
        .user_agent(concat!("Bookwarden/", env!("CARGO_PKG_VERSION")));
    for pem in &config.extra_roots_pem {
        let root = reqwest::Certificate::from_pem(pem).map_err(|_bad| FetchError::Transport)?;
        builder = builder.add_root_certificate(root);
    }
    builder.build().map_err(|_tls| FetchError::Transport)
}

#[derive(Debug, thiserror::Error)]
#[error("too many redirects")]
struct TooManyRedirects;

#[derive(Debug, thiserror::Error)]
#[error("redirect refused: {0}")]
struct RefusedRedirect(&'static str);

/// Maps reqwest's error to ours by what its chain holds.
fn classify(error: reqwest::Error) -> FetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(cause) = source {
        if cause.is::<NotPublic>() {
            return FetchError::Refused("the host resolves to an address that is not public");
        }
        if let Some(RefusedRedirect(reason)) = cause.downcast_ref::<RefusedRedirect>() {
            return FetchError::Refused(reason);
        }
        if cause.is::<TooManyRedirects>() {
            return FetchError::TooManyRedirects;
        }
        source = cause.source();
    }
    if error.is_timeout() {
        FetchError::Timeout
    } else if error.is_connect() {
        FetchError::Unreachable
    } else {
        FetchError::Transport
    }
}

/// Whether `url` may be fetched: https (or http where loopback is allowed),
/// a host, no user name or password in it, and a literal address only if
/// it is allowed.
///
/// # Errors
/// The reason, in words that name no address.
pub fn url_allowed(url: &Url, allow_loopback: bool) -> Result<(), &'static str> {
    match url.scheme() {
        "https" => {}
        "http" if allow_loopback => {}
        _ => return Err("only https URLs are fetched"),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("a URL must not carry a user name or password");
    }
    match url.host() {
        None => Err("the URL has no host"),
        Some(url::Host::Ipv4(ip)) if !address_allowed(IpAddr::V4(ip), allow_loopback) => {
            Err("the address is not public")
        }
        Some(url::Host::Ipv6(ip)) if !address_allowed(IpAddr::V6(ip), allow_loopback) => {
            Err("the address is not public")
        }
        Some(_) => Ok(()),
    }
}

/// Whether we may connect to `ip`: public, or loopback where allowed.
pub fn address_allowed(ip: IpAddr, allow_loopback: bool) -> bool {
    is_public(ip) || (allow_loopback && is_loopback(ip))
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Whether `ip` is a public unicast address: not loopback, private,
/// link-local, shared (CGNAT), multicast, broadcast, documentation,
/// benchmarking, reserved or unspecified; for IPv6 forms that carry an
/// IPv4 address (mapped, compatible, NAT64, 6to4), the same of that
/// address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        // 0.0.0.0/8: "this network".
        || a == 0
        // 100.64.0.0/10: shared address space (CGNAT).
        || (a == 100 && (64..=127).contains(&b))
        // 192.0.0.0/24: IETF protocol assignments.
        || (a == 192 && b == 0 && c == 0)
        // 192.88.99.0/24: the former 6to4 relay anycast.
        || (a == 192 && b == 88 && c == 99)
        // 198.18.0.0/15: benchmarking.
        || (a == 198 && (18..=19).contains(&b))
        // 240.0.0.0/4: reserved.
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    let [s0, s1, s2, s3, s4, s5, s6, s7] = segments;
    let embedded = |high: u16, low: u16| {
        let [a, b] = high.to_be_bytes();
        let [c, d] = low.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    // ::/96, IPv4-compatible (deprecated), and :: and ::1 with it.
    if s0 == 0 && s1 == 0 && s2 == 0 && s3 == 0 && s4 == 0 && s5 == 0 {
        return false;
    }
    // 64:ff9b::/96 and 64:ff9b:1::/48: NAT64, which reaches the embedded
    // IPv4 address.
    if s0 == 0x64 && s1 == 0xff9b {
        // The well-known /96 only; the local-use 64:ff9b:1::/48 may embed
        // the IPv4 address elsewhere, so it is refused.
        return s2 == 0 && s3 == 0 && s4 == 0 && s5 == 0 && is_public_v4(embedded(s6, s7));
    }
    // 2002::/16: 6to4, which reaches the IPv4 address in bits 16-47.
    if s0 == 0x2002 {
        return is_public_v4(embedded(s1, s2));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // fc00::/7: unique local (fd00:ec2::254 is a cloud metadata address).
        || (s0 & 0xfe00) == 0xfc00
        // fe80::/10: link-local; fec0::/10: the former site-local.
        || (s0 & 0xffc0) == 0xfe80
        || (s0 & 0xffc0) == 0xfec0
        // 2001:db8::/32: documentation.
        || (s0 == 0x2001 && s1 == 0x0db8)
        // 2001::/32: Teredo, which tunnels to IPv4 addresses we cannot see.
        || (s0 == 0x2001 && s1 == 0)
        // 2001:2::/48: benchmarking; 3fff::/20: documentation (RFC 9637).
        || (s0 == 0x2001 && s1 == 0x0002 && s2 == 0)
        || (s0 & 0xfff0) == 0x3ff0
        // 100::/64: discard-only.
        || (s0 == 0x0100 && s1 == 0 && s2 == 0 && s3 == 0)
        // Anything outside 2000::/3 is not global unicast today.
        || (s0 & 0xe000) != 0x2000)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn p5_ssrf_private_and_special_addresses_are_not_public() {
        for text in [
            "127.0.0.1",
            "127.5.6.7",
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "192.0.0.8",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::7f00:1",
            "2002:7f00:0001::1",
            "2002:a9fe:a9fe::1",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001:0:4136:e378::1",
            "64:ff9b:1:a9fe:0:0:8.8.8.8",
            "100::1",
            "2001:2::1",
            "3fff:1::1",
        ] {
            assert!(!is_public(ip(text)), "{text} passed as public");
        }
    }

    #[test]
    fn p5_ssrf_public_addresses_pass() {
        for text in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "192.0.1.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:0808:0808::1",
        ] {
            assert!(is_public(ip(text)), "{text} refused");
        }
    }

    #[test]
    fn p5_ssrf_loopback_only_where_allowed_and_never_private() {
        assert!(!address_allowed(ip("127.0.0.1"), false));
        assert!(address_allowed(ip("127.0.0.1"), true));
        assert!(address_allowed(ip("::1"), true));
        assert!(!address_allowed(ip("10.0.0.1"), true));
        assert!(!address_allowed(ip("169.254.169.254"), true));
    }

    #[test]
    fn p5_ssrf_urls_need_https_and_no_credentials() {
        let check = |text: &str, loopback: bool| url_allowed(&Url::parse(text).unwrap(), loopback);
        assert!(check("https://calendar.example.com/feed.ics", false).is_ok());
        assert!(check("http://calendar.example.com/feed.ics", false).is_err());
        assert!(check("ftp://calendar.example.com/feed.ics", false).is_err());
        assert!(check("file:///etc/passwd", true).is_err());
        assert!(check("https://user:pw@calendar.example.com/", false).is_err());
        assert!(check("https://169.254.169.254/latest/meta-data", false).is_err());
        assert!(check("https://[::ffff:127.0.0.1]/", false).is_err());
        assert!(check("https://[::1]:8443/", false).is_err());
        assert!(check("http://127.0.0.1:9/", true).is_ok());
        assert!(check("http://10.0.0.1/", true).is_err());
    }
}
