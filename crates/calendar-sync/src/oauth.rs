//! OAuth 2.0 for the calendar providers that need it (Google, Microsoft):
//! the authorization code flow with PKCE (S256) and `state`, the code
//! exchange, refreshing, and revocation (RFC 7009) where the provider
//! offers it, all through the one guarded client.
//!
//! The embedder keeps the [`Authorization`]'s `state` and `verifier`
//! (sealed, bound to the person who started the flow) until the provider
//! sends the browser back with a code and the same `state`; a `state` that
//! does not match is refused before any code is exchanged. Tokens come
//! back as [`Tokens`], whose parts are secrets that never print.

use std::time::Duration;

use bookwarden_crypto::SecretString;
use bookwarden_domain::jiff::{SignedDuration, Timestamp};
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpRequest,
    HttpResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, RevocationUrl, StandardRevocableToken, TokenUrl,
};
use reqwest::header::HeaderName;
use reqwest::{Method, Url};

use crate::error::SyncError;
use crate::outbound::{FetchError, Outbound};

/// A registered OAuth application at one provider: its client id and
/// secret, its endpoints and the redirect URI registered with it.
pub struct OAuthApp {
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: SecretString,
    /// The authorization endpoint the browser is sent to.
    pub auth_url: Url,
    /// The token endpoint.
    pub token_url: Url,
    /// The revocation endpoint, where the provider has one (Google does;
    /// Microsoft offers none for one application's grant).
    pub revoke_url: Option<Url>,
    /// Where the provider sends the browser back with the code.
    pub redirect_url: Url,
}

impl std::fmt::Debug for OAuthApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthApp")
            .field("client_id", &self.client_id)
            .field("auth_host", &self.auth_url.host_str())
            .finish_non_exhaustive()
    }
}

/// A started authorization: send the browser to `url`; keep `state` and
/// `verifier` for the way back.
pub struct Authorization {
    /// The provider's consent page, with the scopes, `state` and the PKCE
    /// challenge.
    pub url: Url,
    /// The value the provider must send back unchanged.
    pub state: SecretString,
    /// The PKCE verifier the code is exchanged with.
    pub verifier: SecretString,
}

impl std::fmt::Debug for Authorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorization").finish_non_exhaustive()
    }
}

/// What a token endpoint gave.
pub struct Tokens {
    /// The access token, sent as a bearer token to the provider's API.
    pub access: SecretString,
    /// The refresh token, when the provider gave one (on a refresh, often
    /// none: keep the one you had).
    pub refresh: Option<SecretString>,
    /// When the access token stops working, when the provider said.
    pub expires_at: Option<Timestamp>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("refresh", &self.refresh.is_some())
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The PKCE S256 challenge of `verifier` (RFC 7636 section 4.2), as the
/// authorization URL carries it.
pub fn pkce_challenge(verifier: &str) -> String {
    PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier.to_owned()))
        .as_str()
        .to_owned()
}

/// A fresh PKCE verifier: 32 random bytes, base64url (RFC 7636).
pub fn new_verifier() -> SecretString {
    let (_challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    SecretString::new(verifier.secret().clone())
}

/// A token endpoint's answer to come: boxed and `Send`, so the caller's
/// future stays `Send` whatever the `oauth2` crate's futures hold.
pub type Boxed<'a, T> = std::pin::Pin<Box<dyn Future<Output = Result<T, SyncError>> + Send + 'a>>;

/// The future of one request the `oauth2` crate sends.
type Sending<'a> =
    std::pin::Pin<Box<dyn Future<Output = Result<HttpResponse, FetchError>> + Send + 'a>>;

/// Sends one of the `oauth2` crate's requests through the guarded client
/// (boxed and `Send`, so a sync can run on any worker).
fn send(outbound: &Outbound, request: HttpRequest) -> Sending<'_> {
    Box::pin(async move {
        let url = Url::parse(&request.uri().to_string())
            .map_err(|_bad| FetchError::Refused("not a URL"))?;
        let method = Method::from_bytes(request.method().as_str().as_bytes())
            .map_err(|_bad| FetchError::Transport)?;
        let mut guarded = outbound.credentialed(method, url)?;
        for (name, value) in request.headers() {
            let name = HeaderName::from_bytes(name.as_str().as_bytes())
                .map_err(|_bad| FetchError::Transport)?;
            let value = value.to_str().map_err(|_bad| FetchError::Transport)?;
            guarded = guarded.header(name, value);
        }
        let body = String::from_utf8(request.into_body()).map_err(|_bad| FetchError::Transport)?;
        let fetched = outbound.fetch(guarded.body(body)).await?;
        let mut response = oauth2::http::Response::builder().status(fetched.status);
        for (name, value) in &fetched.headers {
            response = response.header(name.as_str(), value.as_bytes());
        }
        response
            .body(fetched.body)
            .map_err(|_bad| FetchError::Transport)
    })
}

/// The guarded client as the `oauth2` crate's HTTP client (a clone:
/// it shares the connection pool, and owns no lifetime the compiler would
/// have to prove `Send` for every choice of).
struct Guard(Outbound);

impl<'c> oauth2::AsyncHttpClient<'c> for Guard {
    type Error = FetchError;
    type Future = Sending<'c>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        send(&self.0, request)
    }
}

/// Maps a token endpoint's refusal: a grant the provider no longer
/// accepts (`invalid_grant`) ends the connection.
fn token_error<E>(error: RequestTokenError<FetchError, E>) -> SyncError
where
    E: oauth2::ErrorResponse + TokenErrorKind + 'static,
{
    match error {
        RequestTokenError::Request(fetch) => SyncError::Fetch(fetch),
        RequestTokenError::ServerResponse(refusal) if refusal.is_invalid_grant() => {
            SyncError::Unauthorized
        }
        RequestTokenError::ServerResponse(_refusal) => {
            SyncError::Malformed("the token endpoint refused the request")
        }
        RequestTokenError::Parse(..) | RequestTokenError::Other(_) => {
            SyncError::Malformed("the token endpoint's answer could not be read")
        }
    }
}

/// Whether a token endpoint's error says the grant is dead.
trait TokenErrorKind {
    fn is_invalid_grant(&self) -> bool;
}

impl TokenErrorKind for oauth2::basic::BasicErrorResponse {
    fn is_invalid_grant(&self) -> bool {
        matches!(self.error(), BasicErrorResponseType::InvalidGrant)
    }
}

impl TokenErrorKind for oauth2::basic::BasicRevocationErrorResponse {
    fn is_invalid_grant(&self) -> bool {
        matches!(
            self.error(),
            oauth2::RevocationErrorResponseType::Basic(BasicErrorResponseType::InvalidGrant)
        )
    }
}

/// Tokens from a token response, with the expiry taken from `now`.
fn tokens<R: oauth2::TokenResponse>(response: &R, now: Timestamp) -> Tokens {
    let expires_at = response
        .expires_in()
        .map(|d| d.min(Duration::from_secs(86_400 * 365)))
        .and_then(|d| SignedDuration::try_from(d).ok())
        .and_then(|d| now.checked_add(d).ok());
    Tokens {
        access: SecretString::new(response.access_token().secret().clone()),
        refresh: response
            .refresh_token()
            .map(|t| SecretString::new(t.secret().clone())),
        expires_at,
    }
}

impl OAuthApp {
    /// An app from its client id and secret and the text of its
    /// `[authorization, token, redirect]` URLs and revocation URL.
    ///
    /// # Errors
    /// The first field that is not an http(s) URL: `auth_url`,
    /// `token_url`, `redirect_url` or `revoke_url`.
    pub fn new(
        client_id: &str,
        client_secret: SecretString,
        [auth, token, redirect]: [&str; 3],
        revoke: Option<&str>,
    ) -> Result<Self, &'static str> {
        fn url(text: &str, field: &'static str) -> Result<Url, &'static str> {
            Url::parse(text.trim())
                .ok()
                .filter(|u| matches!(u.scheme(), "https" | "http"))
                .ok_or(field)
        }
        Ok(Self {
            client_id: client_id.trim().to_owned(),
            client_secret,
            auth_url: url(auth, "auth_url")?,
            token_url: url(token, "token_url")?,
            revoke_url: revoke.map(|r| url(r, "revoke_url")).transpose()?,
            redirect_url: url(redirect, "redirect_url")?,
        })
    }

    fn client(
        &self,
    ) -> oauth2::Client<
        oauth2::basic::BasicErrorResponse,
        oauth2::basic::BasicTokenResponse,
        oauth2::basic::BasicTokenIntrospectionResponse,
        StandardRevocableToken,
        oauth2::basic::BasicRevocationErrorResponse,
        oauth2::EndpointSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointMaybeSet,
        oauth2::EndpointSet,
    > {
        BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                self.client_secret.expose_secret().to_owned(),
            ))
            .set_auth_uri(AuthUrl::from_url(self.auth_url.clone()))
            .set_token_uri(TokenUrl::from_url(self.token_url.clone()))
            .set_revocation_url_option(self.revoke_url.clone().map(RevocationUrl::from_url))
            .set_redirect_uri(RedirectUrl::from_url(self.redirect_url.clone()))
            // Both providers document the secret in the form body.
            .set_auth_type(AuthType::RequestBody)
    }

    /// Starts an authorization asking for `scopes`, with a fresh random
    /// `state` and PKCE verifier, and the provider's `extra` parameters
    /// (Google's `access_type=offline`, say).
    pub fn authorize(&self, scopes: &[&str], extra: &[(&str, &str)]) -> Authorization {
        let verifier = new_verifier();
        let state = SecretString::new(CsrfToken::new_random().secret().clone());
        Authorization {
            url: self.authorize_with(scopes, extra, &state, &verifier),
            state,
            verifier,
        }
    }

    /// The consent page's URL for a `state` and PKCE `verifier` the caller
    /// made (an embedder that seals its flow into the state itself).
    pub fn authorize_with(
        &self,
        scopes: &[&str],
        extra: &[(&str, &str)],
        state: &SecretString,
        verifier: &SecretString,
    ) -> Url {
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
            verifier.expose_secret().to_owned(),
        ));
        let state = state.expose_secret().to_owned();
        let client = self.client();
        let mut request = client
            .authorize_url(move || CsrfToken::new(state))
            .set_pkce_challenge(challenge);
        for scope in scopes {
            request = request.add_scope(oauth2::Scope::new((*scope).to_owned()));
        }
        for (name, value) in extra {
            request = request.add_extra_param(*name, *value);
        }
        request.url().0
    }

    /// Exchanges the code the provider sent back for tokens, with the
    /// flow's PKCE verifier.
    ///
    /// # Errors
    /// [`SyncError::Unauthorized`] for a code or verifier the provider
    /// refuses (`invalid_grant`); [`SyncError::Fetch`] and
    /// [`SyncError::Malformed`] otherwise.
    pub fn exchange<'a>(
        &'a self,
        outbound: &'a Outbound,
        code: &'a SecretString,
        verifier: &'a SecretString,
        now: Timestamp,
    ) -> Boxed<'a, Tokens> {
        Box::pin(async move {
            let http = Guard(outbound.clone());
            let response = self
                .client()
                .exchange_code(AuthorizationCode::new(code.expose_secret().to_owned()))
                .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose_secret().to_owned()))
                .request_async(&http)
                .await
                .map_err(token_error)?;
            Ok(tokens(&response, now))
        })
    }

    /// A fresh access token for `refresh`.
    ///
    /// # Errors
    /// [`SyncError::Unauthorized`] when the grant was revoked or expired
    /// (`invalid_grant`): the connection is dead until reconnected.
    pub fn refresh<'a>(
        &'a self,
        outbound: &'a Outbound,
        refresh: &'a SecretString,
        now: Timestamp,
    ) -> Boxed<'a, Tokens> {
        Box::pin(async move {
            let http = Guard(outbound.clone());
            let token = RefreshToken::new(refresh.expose_secret().to_owned());
            let response = self
                .client()
                .exchange_refresh_token(&token)
                .request_async(&http)
                .await
                .map_err(token_error)?;
            Ok(tokens(&response, now))
        })
    }

    /// Revokes `token` (a refresh token: revoking it ends the whole grant)
    /// at the provider's revocation endpoint. `Ok(false)` when the
    /// provider has none.
    ///
    /// # Errors
    /// [`SyncError`] when the endpoint cannot be reached or refuses; a
    /// token the provider no longer knows counts as revoked.
    pub fn revoke<'a>(
        &'a self,
        outbound: &'a Outbound,
        token: &'a SecretString,
    ) -> Boxed<'a, bool> {
        Box::pin(async move {
            if self.revoke_url.is_none() {
                return Ok(false);
            }
            let http = Guard(outbound.clone());
            let token = StandardRevocableToken::RefreshToken(RefreshToken::new(
                token.expose_secret().to_owned(),
            ));
            let client = self.client();
            let request = client
                .revoke_token(token)
                .map_err(|_insecure| FetchError::Refused("the revocation endpoint is not https"))?;
            match request.request_async(&http).await {
                Ok(()) => Ok(true),
                // A token the provider no longer knows is as good as
                // revoked (Google answers `invalid_token`).
                Err(RequestTokenError::ServerResponse(refusal))
                    if refusal.is_invalid_grant()
                        || refusal.error().as_ref() == "invalid_token" =>
                {
                    Ok(true)
                }
                Err(error) => Err(token_error(error)),
            }
        })
    }
}
