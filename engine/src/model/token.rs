//! API tokens of the daemon's HTTP API: who may call it and with which role. A token's secret
//! is never stored: only its SHA-256 (tokens are 256 random bits, so a fast hash is the right
//! tool; a password hash would only slow every request down). Roles are ordered: a viewer
//! reads; an approver also answers, approves and rejects removal candidates; an admin does
//! everything.

use serde::{Deserialize, Serialize};

use super::EpochSeconds;

/// What a caller may do.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
    utoipa::ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Reads everything; changes nothing.
    Viewer,
    /// Reads; answers, approves and rejects removal candidates.
    Approver,
    /// Everything: profiles, runs, reclaims, undo, rules, entitlements, tokens.
    Admin,
}

impl Role {
    /// The role's name, as in flags and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }

    /// Whether this role includes `needed`.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored API token (its secret's hash, never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiToken {
    /// The public id (the part of the token before its secret), unique.
    pub id: String,
    /// A name for people ("ci", "alice's laptop").
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// SHA-256 of the secret, hex.
    pub secret_sha256: String,
    /// When it was created.
    pub created_at: EpochSeconds,
    /// Who created it.
    pub created_by: String,
    /// When it was revoked (a revoked token is refused).
    pub revoked_at: Option<EpochSeconds>,
}

/// A person who signs in to the web console with a password (`sam users add`): the
/// password's argon2 hash in PHC form, never the password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsoleUser {
    /// The sign-in name, unique.
    pub name: String,
    /// What the user may do (the API's roles).
    pub role: Role,
    /// The argon2id hash of the password (PHC string: algorithm, parameters, salt, hash).
    pub password_hash: String,
    /// When the user was added or last changed.
    pub created_at: EpochSeconds,
    /// Who added it.
    pub created_by: String,
}

/// A self-service answer link that was used (each link answers once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UsedAnswerLink {
    /// The link's id (hex of its signed payload).
    pub id: String,
    /// The candidate it answered.
    pub candidate: u64,
    /// When it was used.
    pub used_at: EpochSeconds,
}
