//! [`AppInstallationCredentials`]: the HTTP gate's [`CredentialProvider`] for the contract's
//! `app-installation` scheme (a GitHub App). The engine holds the app's private key (sealed at
//! rest, opened only here), signs a short-lived RS256 JWT with it (`iat` 60 s in the past for
//! clock drift, `exp` nine minutes after that, under GitHub's ten; `iss` the app id), and
//! exchanges it at the installation's token URL for an installation token. The token is
//! handed out until five minutes before its `expires_at` (a tenth of its life when that is
//! shorter), then minted again; a 401 from the vendor mints once more. Minting is
//! single-flight (a tokio mutex). The spoke never sees the key, the JWT or the token.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::secrets::Secret;
use crate::host::{BearerToken, CredentialError, CredentialProvider};
use crate::model::EpochSeconds;
use crate::pipeline::{Clock, SystemClock};

/// How long before `expires_at` a token is replaced (at most).
const REFRESH_AHEAD_SECS: i64 = 300;

/// Why an app installation credential cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum AppSetupError {
    /// The private key is not an RSA key in PEM (PKCS#1 or PKCS#8).
    #[error("the app's private key is not an RSA private key in PEM: {0}")]
    BadKey(String),
    /// The token URL is not usable.
    #[error("the installation token URL `{url}` is not usable: {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
}

/// What identifies an app installation.
#[derive(Clone)]
pub struct AppInstallation {
    /// The JWT's issuer: the app's client id or numeric app id.
    pub app_id: String,
    /// The installation id (fills `{installation-id}` in the token path).
    pub installation_id: String,
    /// The app's private key, PEM.
    pub private_key_pem: Secret,
}

impl std::fmt::Debug for AppInstallation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppInstallation")
            .field("app_id", &self.app_id)
            .field("installation_id", &self.installation_id)
            .field("private_key_pem", &"[redacted]")
            .finish()
    }
}

/// The token URL of `installation`: `token_path` (from the manifest, with
/// `{installation-id}`) joined to `api_base` (the connection URL).
pub fn token_url(
    api_base: &str,
    token_path: &str,
    installation_id: &str,
) -> Result<String, AppSetupError> {
    let bad = |reason: &str| AppSetupError::BadUrl {
        url: format!("{api_base}{token_path}"),
        reason: reason.into(),
    };
    if installation_id.is_empty() || !installation_id.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad("the installation id must be a number"));
    }
    let path = token_path.replace("{installation-id}", installation_id);
    let url = format!("{}{}", api_base.trim_end_matches('/'), path);
    let parsed = url::Url::parse(&url).map_err(|e| bad(&e.to_string()))?;
    let loopback = parsed.host_str().is_some_and(super::is_loopback_host);
    if parsed.scheme() != "https" && !(parsed.scheme() == "http" && loopback) {
        return Err(bad("it must be https (plain http only on loopback)"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("it must not carry a user name or password"));
    }
    Ok(url)
}

#[derive(Serialize)]
struct Claims<'a> {
    iat: i64,
    exp: i64,
    iss: &'a str,
}

#[derive(Deserialize)]
struct TokenAnswer {
    token: String,
    expires_at: String,
}

struct Cached {
    token: BearerToken,
    renew_at: EpochSeconds,
}

/// Installation tokens of one app installation, minted and refreshed as needed.
pub struct AppInstallationCredentials {
    app_id: String,
    key: EncodingKey,
    token_url: String,
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
    cached: Mutex<Option<Cached>>,
    mints: AtomicU64,
}

impl std::fmt::Debug for AppInstallationCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppInstallationCredentials")
            .field("app_id", &self.app_id)
            .field("token_url", &self.token_url)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl AppInstallationCredentials {
    /// Credentials for `installation`, minting at `token_url` (see [`token_url`]).
    pub fn new(installation: &AppInstallation, token_url: String) -> Result<Self, AppSetupError> {
        Self::with_clock(installation, token_url, Arc::new(SystemClock))
    }

    /// [`AppInstallationCredentials::new`] with a clock (for tests).
    pub fn with_clock(
        installation: &AppInstallation,
        token_url: String,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AppSetupError> {
        let key = EncodingKey::from_rsa_pem(installation.private_key_pem.expose().as_bytes())
            .map_err(|e| AppSetupError::BadKey(e.to_string()))?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| AppSetupError::BadUrl {
                url: token_url.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            app_id: installation.app_id.clone(),
            key,
            token_url,
            client,
            clock,
            cached: Mutex::new(None),
            mints: AtomicU64::new(0),
        })
    }

    /// Installation tokens minted so far.
    pub fn mint_count(&self) -> u64 {
        self.mints.load(Ordering::Relaxed)
    }

    /// A fresh JWT for the app.
    fn jwt(&self) -> Result<String, CredentialError> {
        let now = self.clock.now();
        let claims = Claims {
            iat: now - 60,
            exp: now + 540,
            iss: &self.app_id,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map_err(|e| CredentialError::Unavailable(format!("could not sign the app JWT: {e}")))
    }

    /// Mints an installation token.
    async fn mint(&self) -> Result<Cached, CredentialError> {
        let jwt = self.jwt()?;
        let response = self
            .client
            .post(&self.token_url)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .header("User-Agent", "sam")
            .bearer_auth(jwt)
            .send()
            .await
            .map_err(|e| {
                CredentialError::Unavailable(format!("the installation token request failed: {e}"))
            })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| {
            CredentialError::Unavailable(format!("the installation token answer broke: {e}"))
        })?;
        if !status.is_success() {
            let message = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| {
                    v.get("message")
                        .and_then(|m| m.as_str())
                        .map(str::to_string)
                })
                .unwrap_or_default();
            let message = crate::host::untrusted::inert_bounded(&message, 300);
            let what = format!(
                "minting an installation token answered {status}: {message} (check the app id, the installation id and the private key; `sam connect` replaces them)"
            );
            return Err(match status.as_u16() {
                401 | 403 | 404 | 422 => CredentialError::ConsentNeeded(what),
                _ => CredentialError::Unavailable(what),
            });
        }
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
            CredentialError::Unavailable(format!(
                "the installation token answer is not JSON with token and expires_at: {e}"
            ))
        })?;
        let expires_at = chrono::DateTime::parse_from_rfc3339(&answer.expires_at)
            .map_err(|e| {
                CredentialError::Unavailable(format!(
                    "the installation token's expires_at is not RFC 3339: {e}"
                ))
            })?
            .timestamp();
        let now = self.clock.now();
        let life = (expires_at - now).max(0);
        let renew_at = expires_at - REFRESH_AHEAD_SECS.min(life / 10);
        self.mints.fetch_add(1, Ordering::Relaxed);
        Ok(Cached {
            token: BearerToken::new(answer.token),
            renew_at,
        })
    }
}

impl CredentialProvider for AppInstallationCredentials {
    fn bearer_token(&self) -> BoxFuture<'_, Result<BearerToken, CredentialError>> {
        Box::pin(async move {
            let mut cached = self.cached.lock().await;
            if let Some(c) = cached.as_ref()
                && self.clock.now() < c.renew_at
            {
                return Ok(c.token.clone());
            }
            let fresh = self.mint().await?;
            let token = fresh.token.clone();
            *cached = Some(fresh);
            Ok(token)
        })
    }

    fn token_rejected<'a>(
        &'a self,
        rejected: &'a BearerToken,
    ) -> BoxFuture<'a, Result<bool, CredentialError>> {
        Box::pin(async move {
            let mut cached = self.cached.lock().await;
            // Another request already replaced the rejected token: use the new one.
            if cached.as_ref().is_some_and(|c| &c.token != rejected) {
                return Ok(true);
            }
            *cached = Some(self.mint().await?);
            Ok(true)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_url_is_filled_and_checked() {
        let url = token_url(
            "https://api.github.com",
            "/app/installations/{installation-id}/access_tokens",
            "42",
        )
        .unwrap();
        assert_eq!(
            url,
            "https://api.github.com/app/installations/42/access_tokens"
        );
        assert!(token_url("http://127.0.0.1:9", "/x/{installation-id}", "1").is_ok());
        assert!(token_url("http://example.com", "/x/{installation-id}", "1").is_err());
        assert!(token_url("https://api.github.com", "/x/{installation-id}", "1/../2").is_err());
        assert!(token_url("https://u:p@api.github.com", "/x/{installation-id}", "1").is_err());
    }

    #[test]
    fn a_key_that_is_not_rsa_pem_is_refused_and_debug_hides_it() {
        let app = AppInstallation {
            app_id: "1".into(),
            installation_id: "2".into(),
            private_key_pem: Secret::new("-----BEGIN RSA PRIVATE KEY-----\nnope\n"),
        };
        assert!(matches!(
            AppInstallationCredentials::new(&app, "https://api.github.com/x".into()),
            Err(AppSetupError::BadKey(_))
        ));
        assert!(!format!("{app:?}").contains("nope"));
    }
}
