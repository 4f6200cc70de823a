//! Connections: how the engine reaches a profile's vendor site. A connection is a reference
//! (an alias, the connection URL, extra granted hosts and the kind of credential); secrets
//! never live in the model or the database — a static token is read from a named environment
//! variable, and OAuth credentials will live in the OS keyring or a credential store.

use serde::{Deserialize, Serialize};

/// How the credential for a connection is obtained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AuthKind {
    /// A bearer token read from this environment variable at run time.
    StaticTokenEnv {
        /// The variable's name.
        variable: String,
    },
    /// OAuth 2.0 authorization code; the tokens are held outside the database under `key`.
    #[serde(rename = "oauth2")]
    OAuth2 {
        /// Where the credential store keeps the tokens.
        credential_key: String,
        /// Scopes granted at consent.
        scopes: Vec<String>,
    },
    /// An app installation (a GitHub App): the engine signs JWTs with the app's private key
    /// (sealed here with the engine's key) and mints installation tokens at `token_path`.
    /// Appended last, so older records decode.
    AppInstallation {
        /// The JWT's issuer: the app's id or client id.
        app_id: String,
        /// The installation id.
        installation_id: String,
        /// The spoke's token path (with `{installation-id}`), relative to the connection URL.
        token_path: String,
        /// The app's private key (PEM), sealed.
        private_key: super::SealedSecret,
    },
}

/// The connection & credential alias of one profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Connection {
    /// Alias, e.g. `confluence-cloud.subscription_activity_reclaim.acme` (parent alias from
    /// the process set, child alias per profile).
    pub alias: String,
    /// Base URL request paths are joined to.
    pub connection_url: String,
    /// Hosts allowed besides the manifest's (operator grants, e.g. a loopback simulator).
    pub granted_hosts: Vec<String>,
    /// How the credential is obtained.
    pub auth: AuthKind,
}
