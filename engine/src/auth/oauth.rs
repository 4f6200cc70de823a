//! The OAuth 2.0 authorization-code flow (3LO) with the `oauth2` crate: the authorize URL
//! (scopes, `state`, the vendor's audience and extra parameters such as `prompt=consent`,
//! optional PKCE S256), the code exchange and the refresh (client credentials in the request
//! body, as Atlassian expects), and the accessible-resources lookup that names the sites a
//! token reaches. Requests go through reqwest with redirects off and a timeout. Errors are
//! typed and say what the admin should do; no secret ever appears in one.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AsyncHttpClient, AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndpointNotSet, EndpointSet, HttpClientError, HttpRequest, HttpResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use serde::Deserialize;

use super::secrets::Secret;
use crate::model::OAuthEndpoints;

/// How long one OAuth request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why an OAuth step failed. Messages name the fix; none contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A configured URL is not a URL.
    #[error("the {what} {url:?} is not a valid URL")]
    InvalidUrl {
        /// Which URL.
        what: &'static str,
        /// The text.
        url: String,
    },
    /// An endpoint would carry a secret over plain http to a host that is not loopback.
    #[error(
        "the {what} {url} uses plain http: OAuth endpoints must use https (plain http is allowed only on loopback addresses, for a local simulator); nothing was sent"
    )]
    Insecure {
        /// Which URL.
        what: &'static str,
        /// The URL.
        url: String,
    },
    /// The token endpoint refused the client id or secret.
    #[error(
        "the token endpoint refused the OAuth client ({error}): check the client id and secret (--client-id, --client-secret-env) against the app's settings in the vendor's developer console"
    )]
    ClientRejected {
        /// The OAuth error code.
        error: String,
    },
    /// The token endpoint refused the authorization code.
    #[error(
        "the authorization code was refused ({error}{}): codes are single-use and expire after a few minutes; run `sam connect` again",
        description.as_deref().map(|d| format!(": {d}")).unwrap_or_default()
    )]
    CodeRejected {
        /// The OAuth error code.
        error: String,
        /// The vendor's description.
        description: Option<String>,
    },
    /// The token endpoint refused the refresh token (revoked, rotated away or expired).
    #[error(
        "the vendor refused the refresh token ({error}{})",
        description.as_deref().map(|d| format!(": {d}")).unwrap_or_default()
    )]
    RefreshRejected {
        /// The OAuth error code.
        error: String,
        /// The vendor's description.
        description: Option<String>,
    },
    /// The admin (or the vendor) denied consent.
    #[error(
        "consent was denied ({error}{}): run `sam connect` again and select Accept on the consent screen",
        description.as_deref().map(|d| format!(": {d}")).unwrap_or_default()
    )]
    ConsentDenied {
        /// The OAuth error code.
        error: String,
        /// The vendor's description.
        description: Option<String>,
    },
    /// The callback's `state` is not the one sent.
    #[error(
        "the callback's state does not match the authorization request (a stale or forged callback): nothing was saved; run `sam connect` again and use the new URL"
    )]
    StateMismatch,
    /// The callback port is taken.
    #[error(
        "cannot listen for the OAuth callback on {addr}: the port is already in use; stop what listens there, or register another callback URL in the app and pass it with --redirect-uri (or SAM_REDIRECT_URI)"
    )]
    PortInUse {
        /// The address.
        addr: String,
    },
    /// The callback listener could not start.
    #[error("cannot listen for the OAuth callback on {addr}: {message}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        message: String,
    },
    /// No callback came in time.
    #[error(
        "no OAuth callback arrived within {0} s: open the printed URL in a browser, or paste the redirected URL with `sam connect <profile> --code <URL>`"
    )]
    CallbackTimeout(u64),
    /// What was pasted holds no code.
    #[error("{0}")]
    BadCallback(String),
    /// The OAuth server could not be reached.
    #[error("cannot reach {url}: {message}")]
    Unreachable {
        /// Where.
        url: String,
        /// Why.
        message: String,
    },
    /// The OAuth server answered something unexpected.
    #[error("unexpected answer from {url}: {message}")]
    Vendor {
        /// Where.
        url: String,
        /// What.
        message: String,
    },
}

/// An OAuth app as registered with the vendor, plus where to reach the vendor.
#[derive(Debug, Clone)]
pub struct OAuthApp {
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: Secret,
    /// The registered callback URL.
    pub redirect_uri: String,
    /// The endpoints.
    pub endpoints: OAuthEndpoints,
}

/// A started authorization: the URL for the browser and what the callback must match.
#[derive(Debug)]
pub struct AuthorizationRequest {
    /// The authorize URL.
    pub url: url::Url,
    /// The `state` sent.
    pub state: Secret,
    /// The PKCE verifier, when PKCE is on.
    pub pkce_verifier: Option<Secret>,
}

/// Tokens from the token endpoint.
#[derive(Debug)]
pub struct Tokens {
    /// The access token.
    pub access_token: Secret,
    /// The (new) refresh token.
    pub refresh_token: Option<Secret>,
    /// Lifetime of the access token in seconds.
    pub expires_in: Option<i64>,
    /// Scopes granted, when the vendor says.
    pub scopes: Option<Vec<String>>,
}

/// A site a token can reach (Atlassian's accessible-resources entry).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct AccessibleSite {
    /// The cloud id.
    pub id: String,
    /// The site URL.
    pub url: String,
    /// The site name.
    pub name: String,
    /// Scopes granted on it.
    #[serde(default)]
    pub scopes: Vec<String>,
}

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// reqwest as the `oauth2` crate's HTTP client (no redirects, a timeout).
struct Http(reqwest::Client);

impl Http {
    fn new() -> Result<Self, AuthError> {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map(Http)
            .map_err(|e| AuthError::Unreachable {
                url: "(HTTP client)".into(),
                message: e.to_string(),
            })
    }
}

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = HttpClientError<reqwest::Error>;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Self::Error>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request = reqwest::Request::try_from(request).map_err(Box::new)?;
            let response = self.0.execute(request).await.map_err(Box::new)?;
            let mut builder = oauth2::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let body = response.bytes().await.map_err(Box::new)?;
            builder.body(body.to_vec()).map_err(HttpClientError::Http)
        })
    }
}

/// Refuses an OAuth endpoint that is not https, unless it is plain http on a loopback
/// address: the client secret, codes and tokens never cross a network in clear text.
pub fn require_https(what: &'static str, url: &str) -> Result<(), AuthError> {
    let parsed = url::Url::parse(url).map_err(|_| AuthError::InvalidUrl {
        what,
        url: url.to_string(),
    })?;
    let loopback = parsed
        .host_str()
        .is_some_and(super::callback::is_loopback_host);
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(AuthError::Insecure {
            what,
            url: url.to_string(),
        }),
    }
}

impl OAuthApp {
    /// Checks every endpoint is https (or plain http on loopback).
    pub fn check_endpoints(&self) -> Result<(), AuthError> {
        require_https("authorize URL", &self.endpoints.authorize_url)?;
        require_https("token URL", &self.endpoints.token_url)?;
        if let Some(url) = &self.endpoints.accessible_resources_url {
            require_https("accessible-resources URL", url)?;
        }
        Ok(())
    }

    fn client(&self) -> Result<Client, AuthError> {
        self.check_endpoints()?;
        let auth = AuthUrl::new(self.endpoints.authorize_url.clone()).map_err(|_| {
            AuthError::InvalidUrl {
                what: "authorize URL",
                url: self.endpoints.authorize_url.clone(),
            }
        })?;
        let token =
            TokenUrl::new(self.endpoints.token_url.clone()).map_err(|_| AuthError::InvalidUrl {
                what: "token URL",
                url: self.endpoints.token_url.clone(),
            })?;
        let redirect =
            RedirectUrl::new(self.redirect_uri.clone()).map_err(|_| AuthError::InvalidUrl {
                what: "redirect URI",
                url: self.redirect_uri.clone(),
            })?;
        Ok(BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_client_secret(ClientSecret::new(self.client_secret.expose().to_string()))
            .set_auth_uri(auth)
            .set_token_uri(token)
            .set_redirect_uri(redirect)
            .set_auth_type(AuthType::RequestBody))
    }

    /// Builds the authorize URL for `scopes`, with `audience`, the `extra` parameters, a
    /// random `state` and, when `pkce`, an S256 challenge.
    pub fn authorization(
        &self,
        scopes: &[String],
        audience: Option<&str>,
        extra: &[(String, String)],
        pkce: bool,
    ) -> Result<AuthorizationRequest, AuthError> {
        let client = self.client()?;
        let mut request = client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(scopes.iter().map(|s| Scope::new(s.clone())));
        if let Some(audience) = audience {
            request = request.add_extra_param("audience", audience.to_string());
        }
        for (k, v) in extra {
            request = request.add_extra_param(k.clone(), v.clone());
        }
        let mut verifier = None;
        if pkce {
            let (challenge, v) = PkceCodeChallenge::new_random_sha256();
            request = request.set_pkce_challenge(challenge);
            verifier = Some(Secret::new(v.secret().clone()));
        }
        let (url, state) = request.url();
        Ok(AuthorizationRequest {
            url,
            state: Secret::new(state.secret().clone()),
            pkce_verifier: verifier,
        })
    }

    /// Exchanges an authorization code for tokens.
    pub async fn exchange_code(
        &self,
        code: &str,
        pkce_verifier: Option<&Secret>,
    ) -> Result<Tokens, AuthError> {
        let client = self.client()?;
        let http = Http::new()?;
        let mut request = client.exchange_code(AuthorizationCode::new(code.to_string()));
        if let Some(v) = pkce_verifier {
            request = request.set_pkce_verifier(PkceCodeVerifier::new(v.expose().to_string()));
        }
        let response = request
            .request_async(&http)
            .await
            .map_err(|e| self.token_error(e, false))?;
        Ok(tokens(&response))
    }

    /// Trades a refresh token for new tokens (the vendor rotates the refresh token).
    pub async fn refresh(&self, refresh_token: &Secret) -> Result<Tokens, AuthError> {
        let client = self.client()?;
        let http = Http::new()?;
        let token = RefreshToken::new(refresh_token.expose().to_string());
        let response = client
            .exchange_refresh_token(&token)
            .request_async(&http)
            .await
            .map_err(|e| self.token_error(e, true))?;
        Ok(tokens(&response))
    }

    fn token_error(
        &self,
        error: RequestTokenError<
            HttpClientError<reqwest::Error>,
            oauth2::StandardErrorResponse<BasicErrorResponseType>,
        >,
        refreshing: bool,
    ) -> AuthError {
        let url = self.endpoints.token_url.clone();
        match error {
            RequestTokenError::ServerResponse(response) => {
                let code = response.error().as_ref().to_string();
                let description = response.error_description().cloned();
                match response.error() {
                    BasicErrorResponseType::InvalidClient => {
                        AuthError::ClientRejected { error: code }
                    }
                    BasicErrorResponseType::Extension(e) if e == "access_denied" => {
                        AuthError::ClientRejected { error: code }
                    }
                    _ if refreshing => AuthError::RefreshRejected {
                        error: code,
                        description,
                    },
                    _ => AuthError::CodeRejected {
                        error: code,
                        description,
                    },
                }
            }
            RequestTokenError::Request(e) => AuthError::Unreachable {
                url,
                message: describe_http_error(&e),
            },
            RequestTokenError::Parse(e, _) => AuthError::Vendor {
                url,
                message: format!("the token response does not parse: {e}"),
            },
            RequestTokenError::Other(message) => AuthError::Vendor { url, message },
        }
    }
}

fn describe_http_error(e: &HttpClientError<reqwest::Error>) -> String {
    match e {
        HttpClientError::Reqwest(inner) => {
            let mut text = inner.to_string();
            let mut source = std::error::Error::source(inner.as_ref());
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            text
        }
        other => other.to_string(),
    }
}

fn tokens(response: &oauth2::basic::BasicTokenResponse) -> Tokens {
    Tokens {
        access_token: Secret::new(response.access_token().secret().clone()),
        refresh_token: response
            .refresh_token()
            .map(|t| Secret::new(t.secret().clone())),
        expires_in: response
            .expires_in()
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        scopes: response
            .scopes()
            .map(|s| s.iter().map(|s| s.to_string()).collect()),
    }
}

/// The sites `access_token` can reach, from the vendor's accessible-resources endpoint.
pub async fn accessible_resources(
    url: &str,
    access_token: &Secret,
) -> Result<Vec<AccessibleSite>, AuthError> {
    require_https("accessible-resources URL", url)?;
    let http = Http::new()?;
    let response = http
        .0
        .get(url)
        .bearer_auth(access_token.expose())
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|e| AuthError::Unreachable {
            url: url.to_string(),
            message: e.to_string(),
        })?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| AuthError::Unreachable {
        url: url.to_string(),
        message: e.to_string(),
    })?;
    if !status.is_success() {
        return Err(AuthError::Vendor {
            url: url.to_string(),
            message: format!("HTTP {status}"),
        });
    }
    serde_json::from_slice(&body).map_err(|e| AuthError::Vendor {
        url: url.to_string(),
        message: format!("the list of sites does not parse: {e}"),
    })
}

/// What came back to the callback URL (or was pasted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallbackParams {
    /// The code.
    pub code: Option<String>,
    /// The state.
    pub state: Option<String>,
    /// The OAuth error, when consent failed.
    pub error: Option<String>,
    /// Its description.
    pub error_description: Option<String>,
}

impl CallbackParams {
    /// From a query string.
    pub fn from_query(query: &str) -> Self {
        let mut out = CallbackParams::default();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            let v = Some(v.into_owned());
            match k.as_ref() {
                "code" => out.code = v,
                "state" => out.state = v,
                "error" => out.error = v,
                "error_description" => out.error_description = v,
                _ => {}
            }
        }
        out
    }

    /// From what an admin pasted: the whole redirected URL, its query, or the bare code.
    pub fn from_pasted(input: &str) -> Result<Self, AuthError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(AuthError::BadCallback(
                "nothing was pasted: paste the URL the browser was redirected to (or its code)"
                    .into(),
            ));
        }
        if let Ok(url) = url::Url::parse(input) {
            let params = Self::from_query(url.query().unwrap_or(""));
            if params.code.is_none() && params.error.is_none() {
                return Err(AuthError::BadCallback(
                    "the pasted URL has no `code` parameter: paste the URL the browser was redirected to after consent".into(),
                ));
            }
            return Ok(params);
        }
        if input.contains("code=") || input.contains("error=") {
            return Ok(Self::from_query(input.trim_start_matches('?')));
        }
        if input.chars().any(char::is_whitespace) {
            return Err(AuthError::BadCallback(
                "the pasted text is neither a URL nor a code".into(),
            ));
        }
        Ok(CallbackParams {
            code: Some(input.to_string()),
            ..CallbackParams::default()
        })
    }

    /// The code, after checking `state` against `expected` (when the callback carries one;
    /// a bare pasted code has none) and turning an OAuth error into [`AuthError`].
    pub fn into_code(self, expected: Option<&Secret>) -> Result<String, AuthError> {
        if let Some(error) = self.error {
            return Err(AuthError::ConsentDenied {
                error,
                description: self.error_description,
            });
        }
        if let (Some(expected), Some(state)) = (expected, self.state.as_deref())
            && !constant_time_eq(expected.expose().as_bytes(), state.as_bytes())
        {
            return Err(AuthError::StateMismatch);
        }
        self.code
            .ok_or_else(|| AuthError::BadCallback("the callback carries no code".into()))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> OAuthApp {
        OAuthApp {
            client_id: "cid".into(),
            client_secret: Secret::new("shh"),
            redirect_uri: "http://127.0.0.1:8976/callback".into(),
            endpoints: OAuthEndpoints {
                authorize_url: "https://auth.example.com/authorize".into(),
                token_url: "https://auth.example.com/oauth/token".into(),
                accessible_resources_url: None,
                api_base_override: None,
            },
        }
    }

    #[tokio::test]
    async fn plain_http_off_loopback_is_refused_before_any_request() {
        for url in [
            "https://auth.example.com/t",
            "http://127.0.0.1:9/t",
            "http://[::1]:9/t",
            "http://localhost:9/t",
        ] {
            require_https("token URL", url).unwrap();
        }
        for url in [
            "http://192.0.2.2:9/t",
            "http://auth.example.com/t",
            "ftp://127.0.0.1/t",
        ] {
            assert!(
                matches!(
                    require_https("token URL", url),
                    Err(AuthError::Insecure { .. })
                ),
                "{url}"
            );
        }
        // The engine's own calls check too: a refresh to a TEST-NET address (which would
        // hang, unroutable) fails at once.
        let mut insecure = app();
        insecure.endpoints.token_url = "http://192.0.2.2:9/oauth/token".into();
        let started = std::time::Instant::now();
        let e = insecure.refresh(&Secret::new("r")).await.unwrap_err();
        assert!(
            matches!(
                e,
                AuthError::Insecure {
                    what: "token URL",
                    ..
                }
            ),
            "{e}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert!(insecure.authorization(&[], None, &[], true).is_err());
        let e = accessible_resources("http://192.0.2.2:9/resources", &Secret::new("a"))
            .await
            .unwrap_err();
        assert!(matches!(e, AuthError::Insecure { .. }), "{e}");
    }

    #[test]
    fn the_authorize_url_carries_audience_scopes_state_and_prompt() {
        let scopes = vec!["read:a".to_string(), "offline_access".to_string()];
        let extra = vec![("prompt".to_string(), "consent".to_string())];
        let req = app()
            .authorization(&scopes, Some("api.example.com"), &extra, true)
            .unwrap();
        let pairs: std::collections::HashMap<String, String> =
            req.url.query_pairs().into_owned().collect();
        assert_eq!(pairs["audience"], "api.example.com");
        assert_eq!(pairs["scope"], "read:a offline_access");
        assert_eq!(pairs["prompt"], "consent");
        assert_eq!(pairs["response_type"], "code");
        assert_eq!(pairs["client_id"], "cid");
        assert_eq!(pairs["state"], req.state.expose());
        assert_eq!(pairs["code_challenge_method"], "S256");
        assert!(!req.url.as_str().contains("shh"));
    }

    #[test]
    fn pasted_input_and_state_checks() {
        let state = Secret::new("s1");
        let ok =
            CallbackParams::from_pasted("http://127.0.0.1:8976/callback?code=c1&state=s1").unwrap();
        assert_eq!(ok.into_code(Some(&state)).unwrap(), "c1");
        let bad =
            CallbackParams::from_pasted("http://127.0.0.1:8976/callback?code=c1&state=s2").unwrap();
        assert!(matches!(
            bad.into_code(Some(&state)),
            Err(AuthError::StateMismatch)
        ));
        let bare = CallbackParams::from_pasted("  c9 ").unwrap();
        assert_eq!(bare.into_code(Some(&state)).unwrap(), "c9");
        let denied = CallbackParams::from_pasted(
            "http://127.0.0.1:8976/callback?error=access_denied&state=s1",
        )
        .unwrap();
        assert!(matches!(
            denied.into_code(Some(&state)),
            Err(AuthError::ConsentDenied { .. })
        ));
        assert!(CallbackParams::from_pasted("http://x/cb?foo=1").is_err());
        assert!(CallbackParams::from_pasted("").is_err());
    }
}
