//! Where the HTTP gate gets the bearer token it adds to a spoke's requests. The gate asks a
//! [`CredentialProvider`] for a token before each request and tells it when the vendor rejected
//! one (so an OAuth provider can refresh once and retry). Tokens are wrapped in [`BearerToken`],
//! whose `Debug` never prints the secret. A spoke never sees any of this.

use futures::future::BoxFuture;

/// A bearer token. `Debug` is redacted so it cannot leak into logs by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(String);

impl BearerToken {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The secret itself; call only where it goes on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken([redacted])")
    }
}

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The connection has no usable credential: the admin must connect (or re-consent).
    #[error("the connection needs consent: {0}")]
    ConsentNeeded(String),
    /// The credential store or the token endpoint failed.
    #[error("could not obtain a token: {0}")]
    Unavailable(String),
}

/// Supplies bearer tokens for one connection.
pub trait CredentialProvider: Send + Sync {
    /// A token valid now (refreshed first if it is about to expire).
    fn bearer_token(&self) -> BoxFuture<'_, Result<BearerToken, CredentialError>>;

    /// The vendor answered 401 to `rejected`. Return `true` when a fresh token is now available
    /// and the request is worth one more try. The default cannot refresh.
    fn token_rejected<'a>(
        &'a self,
        _rejected: &'a BearerToken,
    ) -> BoxFuture<'a, Result<bool, CredentialError>> {
        Box::pin(async { Ok(false) })
    }
}

/// A fixed token: for pasted API tokens and for tests.
#[derive(Debug, Clone)]
pub struct StaticToken(pub BearerToken);

impl StaticToken {
    /// A provider that always answers `token`.
    pub fn new(token: impl Into<String>) -> Self {
        Self(BearerToken::new(token))
    }
}

impl CredentialProvider for StaticToken {
    fn bearer_token(&self) -> BoxFuture<'_, Result<BearerToken, CredentialError>> {
        let token = self.0.clone();
        Box::pin(async move { Ok(token) })
    }
}

/// No credential at all: requests go out without `Authorization` (used for `manifest` calls,
/// which make no requests, and for unauthenticated vendors).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCredential;

impl CredentialProvider for NoCredential {
    fn bearer_token(&self) -> BoxFuture<'_, Result<BearerToken, CredentialError>> {
        Box::pin(async { Ok(BearerToken::new(String::new())) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let token = BearerToken::new("s3cr3t-value");
        let shown = format!("{token:?} {:?}", StaticToken(token.clone()));
        assert!(!shown.contains("s3cr3t"), "{shown}");
    }
}
