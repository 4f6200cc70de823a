//! [`OAuthCredentials`]: the HTTP gate's [`CredentialProvider`] for an OAuth connection. It
//! hands out the stored access token while it is fresh, refreshes it shortly before it
//! expires (a tenth of its lifetime, at most 60 s, ahead) and once when the vendor answers 401.
//! Refreshes are single-flight per connection (a tokio mutex): concurrent requests wait for
//! the one refresh and then use its token. The vendor rotates refresh tokens, so the new
//! refresh token and access token are written to the store, sealed, in one transaction before
//! the new access token is used; if that write fails the token is not used. A refused
//! refresh marks the connection "re-consent needed" (in the store, with the reason) and
//! fails the request with a message telling the admin to run `sam connect`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::future::BoxFuture;
use tokio::sync::Mutex;

use super::oauth::{AuthError, OAuthApp};
use super::secrets::{Keyring, Secret};
use super::{AuthSetupError, slot};
use crate::host::{BearerToken, CredentialError, CredentialProvider};
use crate::model::{AuditAction, CredentialStatus, EpochSeconds, OAuthConnection};
use crate::pipeline::{Clock, SystemClock};
use crate::store::{Store, WriteError};

struct Cached {
    token: BearerToken,
    expires_at: Option<EpochSeconds>,
    lifetime: Option<i64>,
}

/// Tokens of one OAuth connection, refreshed as needed and persisted on rotation.
pub struct OAuthCredentials {
    store: Arc<Store>,
    keyring: Keyring,
    credential_key: String,
    profile: String,
    app: OAuthApp,
    cached: Mutex<Option<Cached>>,
    clock: Arc<dyn Clock>,
    refreshes: AtomicU64,
}

impl std::fmt::Debug for OAuthCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthCredentials")
            .field("credential_key", &self.credential_key)
            .field("profile", &self.profile)
            .field("tokens", &"[redacted]")
            .finish()
    }
}

impl OAuthCredentials {
    /// The credentials stored under `credential_key`; fails when the connection has no
    /// consent (or needs it again) or its secrets cannot be opened with `keyring`.
    pub fn open(
        store: Arc<Store>,
        keyring: Keyring,
        credential_key: &str,
    ) -> Result<Self, AuthSetupError> {
        Self::open_with_clock(store, keyring, credential_key, Arc::new(SystemClock))
    }

    /// [`OAuthCredentials::open`] with a clock (for tests).
    pub fn open_with_clock(
        store: Arc<Store>,
        keyring: Keyring,
        credential_key: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AuthSetupError> {
        let record = store
            .read()
            .map_err(|e| AuthSetupError::Store(e.to_string()))?
            .oauth_connection(credential_key)
            .map_err(|e| AuthSetupError::Store(e.to_string()))?
            .ok_or_else(|| AuthSetupError::NotConnected {
                profile: credential_key.to_string(),
                reason: "it was never connected".into(),
            })?;
        match &record.status {
            CredentialStatus::Connected => {}
            CredentialStatus::NotConnected => {
                return Err(AuthSetupError::NotConnected {
                    profile: record.profile.clone(),
                    reason: "it was never connected".into(),
                });
            }
            CredentialStatus::ReconsentNeeded(reason) => {
                return Err(AuthSetupError::NotConnected {
                    profile: record.profile.clone(),
                    reason: reason.clone(),
                });
            }
        }
        let app = super::app_of(&record, &keyring)?;
        let cached = match &record.access_token {
            Some(sealed) => Some(Cached {
                token: BearerToken::new(
                    keyring
                        .open(&slot(credential_key, "access_token"), sealed)?
                        .expose(),
                ),
                expires_at: record.access_expires_at,
                lifetime: record.access_lifetime,
            }),
            None => None,
        };
        Ok(Self {
            store,
            keyring,
            credential_key: credential_key.to_string(),
            profile: record.profile,
            app,
            cached: Mutex::new(cached),
            clock,
            refreshes: AtomicU64::new(0),
        })
    }

    /// Refreshes done by this provider.
    pub fn refresh_count(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }

    fn fresh(&self, cached: &Cached) -> bool {
        let Some(expires_at) = cached.expires_at else {
            return true;
        };
        let margin = cached.lifetime.map_or(60, |l| (l / 10).clamp(0, 60));
        self.clock.now() < expires_at - margin
    }

    async fn refresh_locked(
        &self,
        slot_guard: &mut Option<Cached>,
    ) -> Result<BearerToken, CredentialError> {
        let record = self.record()?;
        let Some(sealed) = &record.refresh_token else {
            return Err(self
                .mark_reconsent("the vendor issued no refresh token (offline_access missing)")
                .await);
        };
        let refresh_token: Secret = self
            .keyring
            .open(&slot(&self.credential_key, "refresh_token"), sealed)
            .map_err(|e| CredentialError::Unavailable(e.to_string()))?;
        let tokens = match self.app.refresh(&refresh_token).await {
            Ok(tokens) => tokens,
            Err(e @ (AuthError::RefreshRejected { .. } | AuthError::ClientRejected { .. })) => {
                return Err(self.mark_reconsent(&e.to_string()).await);
            }
            Err(e) => return Err(CredentialError::Unavailable(e.to_string())),
        };
        let now = self.clock.now();
        let expires_at = tokens.expires_in.map(|s| now.saturating_add(s));
        let key = self.credential_key.clone();
        let sealed_access = self
            .keyring
            .seal(&slot(&key, "access_token"), tokens.access_token.expose());
        let sealed_refresh = tokens
            .refresh_token
            .as_ref()
            .map(|t| self.keyring.seal(&slot(&key, "refresh_token"), t.expose()));
        // Persist the rotated refresh token (and the access token) before using either.
        self.store
            .write(|tx| {
                let mut record =
                    tx.oauth_connection(&key)?
                        .ok_or_else(|| WriteError::NotFound {
                            what: format!("OAuth connection `{key}`"),
                        })?;
                record.access_token = Some(sealed_access.clone());
                record.access_expires_at = expires_at;
                record.access_lifetime = tokens.expires_in;
                if let Some(r) = &sealed_refresh {
                    record.refresh_token = Some(r.clone());
                }
                if let Some(scopes) = &tokens.scopes {
                    record.granted_scopes = scopes.clone();
                }
                record.refreshed_at = Some(now);
                record.refresh_count += 1;
                record.status = CredentialStatus::Connected;
                tx.put_oauth_connection(&record)
            })
            .map_err(|e: WriteError| {
                CredentialError::Unavailable(format!(
                    "the refreshed tokens could not be saved, so they are not used: {e}"
                ))
            })?;
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        tracing::info!(profile = %self.profile, "OAuth access token refreshed");
        let token = BearerToken::new(tokens.access_token.expose());
        *slot_guard = Some(Cached {
            token: token.clone(),
            expires_at,
            lifetime: tokens.expires_in,
        });
        Ok(token)
    }

    fn record(&self) -> Result<OAuthConnection, CredentialError> {
        self.store
            .read()
            .and_then(|r| r.oauth_connection(&self.credential_key))
            .map_err(|e| CredentialError::Unavailable(e.to_string()))?
            .ok_or_else(|| {
                CredentialError::ConsentNeeded(format!(
                    "profile `{}` has no OAuth connection: run `sam connect {}`",
                    self.profile, self.profile
                ))
            })
    }

    async fn mark_reconsent(&self, reason: &str) -> CredentialError {
        let key = self.credential_key.clone();
        let now = self.clock.now();
        let profile = self.profile.clone();
        let reason_text = reason.to_string();
        let written = self.store.write(|tx| {
            if let Some(mut record) = tx.oauth_connection(&key)? {
                record.status = CredentialStatus::ReconsentNeeded(reason_text.clone());
                record.access_token = None;
                record.access_expires_at = None;
                record.refresh_token = None;
                tx.put_oauth_connection(&record)?;
            }
            tx.audit(
                now,
                Some(&profile),
                AuditAction::ConnectionChanged,
                format!("re-consent needed: {reason_text}"),
                None,
            )?;
            Ok::<_, WriteError>(())
        });
        if let Err(e) = written {
            tracing::warn!(profile = %self.profile, "could not record that re-consent is needed: {e}");
        }
        CredentialError::ConsentNeeded(format!(
            "{reason}; profile `{p}` needs consent again: run `sam connect {p}`",
            p = self.profile
        ))
    }
}

impl CredentialProvider for OAuthCredentials {
    fn bearer_token(&self) -> BoxFuture<'_, Result<BearerToken, CredentialError>> {
        Box::pin(async move {
            let mut guard = self.cached.lock().await;
            if let Some(cached) = guard.as_ref()
                && self.fresh(cached)
            {
                return Ok(cached.token.clone());
            }
            self.refresh_locked(&mut guard).await
        })
    }

    fn token_rejected<'a>(
        &'a self,
        rejected: &'a BearerToken,
    ) -> BoxFuture<'a, Result<bool, CredentialError>> {
        Box::pin(async move {
            let mut guard = self.cached.lock().await;
            if let Some(cached) = guard.as_ref()
                && &cached.token != rejected
            {
                // Another request refreshed meanwhile: retry with that token.
                return Ok(true);
            }
            self.refresh_locked(&mut guard).await.map(|_| true)
        })
    }
}
