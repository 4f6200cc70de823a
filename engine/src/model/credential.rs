//! OAuth connections and profile validations. An [`OAuthConnection`] is the credential half of
//! a connection & credential alias: the OAuth app (client id, the client secret sealed), the
//! endpoints (the spoke's, or overrides for a simulator or sandbox), the callback URL, the
//! site the consent reached and the tokens. Every secret is a [`SealedSecret`]: ciphertext
//! made by the engine's key, which lives outside the database. A [`ProfileValidation`]
//! records that a profile's download and activity APIs answered for the processes and
//! connection it had then, which publishing requires.

use serde::{Deserialize, Serialize};

use super::{EpochSeconds, ProcessSet};

/// A secret encrypted with the engine's key (XChaCha20-Poly1305). `Debug` shows only the
/// key id.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SealedSecret {
    /// Id of the key that sealed it (a fingerprint, never the key).
    pub key_id: String,
    /// The 24-byte nonce.
    pub nonce: Vec<u8>,
    /// Ciphertext and tag.
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealedSecret(key {}, [redacted])", self.key_id)
    }
}

/// Whether the connection can get tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialStatus {
    /// No consent yet: run `sam connect`.
    NotConnected,
    /// Tokens are held.
    Connected,
    /// The vendor refused the refresh token, or the processes need more scopes: the admin
    /// must consent again (`sam connect`), with the reason.
    ReconsentNeeded(String),
}

/// Where the OAuth requests go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OAuthEndpoints {
    /// The authorization (consent) URL.
    pub authorize_url: String,
    /// The token URL.
    pub token_url: String,
    /// The accessible-resources URL, if the vendor has one.
    pub accessible_resources_url: Option<String>,
    /// Replaces the scheme, host and port of the connection URL template (a simulator or
    /// sandbox standing in for the vendor's API host).
    pub api_base_override: Option<String>,
}

/// The site a consent reached (one site per profile).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OAuthSite {
    /// The vendor's id (Atlassian's cloud id).
    pub id: String,
    /// The site URL.
    pub url: String,
    /// The site name.
    pub name: String,
}

/// An authorization started and not finished yet (for a code pasted later).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PendingAuthorization {
    /// The `state` sent (sealed: it guards the callback).
    pub state: SealedSecret,
    /// The PKCE verifier, when PKCE is on.
    pub pkce_verifier: Option<SealedSecret>,
    /// The redirect URI used.
    pub redirect_uri: String,
    /// When it was started.
    pub started_at: EpochSeconds,
}

/// The credential of one OAuth connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OAuthConnection {
    /// Key (the `credential_key` of [`super::AuthKind::OAuth2`]).
    pub credential_key: String,
    /// The profile it belongs to.
    pub profile: String,
    /// The OAuth app's client id.
    pub client_id: String,
    /// The OAuth app's client secret.
    pub client_secret: Option<SealedSecret>,
    /// The callback URL registered for the app.
    pub redirect_uri: String,
    /// The endpoints.
    pub endpoints: OAuthEndpoints,
    /// Whether PKCE (S256) is used.
    pub pkce: bool,
    /// The scopes requested at the last consent.
    pub requested_scopes: Vec<String>,
    /// The scopes the vendor granted.
    pub granted_scopes: Vec<String>,
    /// The site chosen.
    pub site: Option<OAuthSite>,
    /// The access token.
    pub access_token: Option<SealedSecret>,
    /// When the access token expires (engine clock).
    pub access_expires_at: Option<EpochSeconds>,
    /// Lifetime the vendor gave the access token, in seconds.
    pub access_lifetime: Option<i64>,
    /// The refresh token (rotates on every refresh).
    pub refresh_token: Option<SealedSecret>,
    /// Whether tokens can be had.
    pub status: CredentialStatus,
    /// An authorization in progress.
    pub pending: Option<PendingAuthorization>,
    /// When consent was given.
    pub connected_at: Option<EpochSeconds>,
    /// When the tokens were last refreshed.
    pub refreshed_at: Option<EpochSeconds>,
    /// Refreshes since consent.
    pub refresh_count: u64,
}

/// A second credential of a profile (issue 19): a secret the spoke's manifest declares under
/// `extra-credentials` (for Confluence, Atlassian's organization API key), which the HTTP
/// gate adds only to requests under its URL prefix. Keyed by profile and name.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraCredentialRecord {
    /// The profile it belongs to.
    pub profile: String,
    /// The manifest's name for it (for example `org-api-key`).
    pub name: String,
    /// The URL prefix the manifest declares (as the spoke writes its requests).
    pub declared_prefix: String,
    /// Where those requests go: the declared prefix, rebased like the connection URL when
    /// the connection points at a simulator or sandbox.
    pub target_prefix: String,
    /// The secret, sealed with the engine's key (slot `extra/<profile>/<name>`).
    pub secret: SealedSecret,
    /// When the admin supplied it.
    pub added_at: EpochSeconds,
}

impl std::fmt::Debug for ExtraCredentialRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtraCredentialRecord")
            .field("profile", &self.profile)
            .field("name", &self.name)
            .field("declared_prefix", &self.declared_prefix)
            .field("target_prefix", &self.target_prefix)
            .field("secret", &self.secret)
            .field("added_at", &self.added_at)
            .finish()
    }
}

impl ExtraCredentialRecord {
    /// The sealing slot of a profile's extra credential.
    pub fn slot(profile: &str, name: &str) -> String {
        format!("extra/{profile}/{name}")
    }
}

/// One check of a validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ValidationCheckRecord {
    /// The process it proves.
    pub process: String,
    /// What was called.
    pub description: String,
    /// `None` when it passed, else why it failed.
    pub error: Option<String>,
}

/// A passed validation of a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProfileValidation {
    /// The profile.
    pub profile: String,
    /// When.
    pub validated_at: EpochSeconds,
    /// The processes it was validated with.
    pub processes: ProcessSet,
    /// The connection alias it was validated with.
    pub connection: String,
    /// The checks.
    pub checks: Vec<ValidationCheckRecord>,
}
