//! Plugin pins and operator limits, the two per-profile records an operator owns and a spoke
//! never reaches. A [`PluginPin`] records which component a profile was created with (its
//! sha256) and the permissions it asked for then (hosts, processes with roles and scopes, auth
//! endpoints, connection URL template), so a changed file is refused until an admin approves
//! it, having seen what changed. [`ProfileLimits`] holds the operator's values of the sandbox
//! and pipeline limits for one profile, by limit name; a missing name means the default.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::EpochSeconds;

/// The permissions a spoke's manifest asks for, as approved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinnedPermissions {
    /// The spoke's id.
    pub spoke_id: String,
    /// The spoke's own version.
    pub version: String,
    /// Allowed hosts, sorted.
    pub hosts: Vec<String>,
    /// One entry per process: (process, vendor role, scopes sorted).
    pub processes: Vec<(String, String, Vec<String>)>,
    /// Auth: `bearer-token`, or the OAuth endpoints and base scopes as `name value` lines.
    pub auth: Vec<String>,
    /// The connection URL template.
    pub connection_url_template: String,
}

/// How a pin came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PinOrigin {
    /// Recorded when the profile was created.
    Created,
    /// Approved by an admin with `sam plugin trust`.
    Trusted,
    /// Recorded the first time a profile created before pinning existed was used.
    FirstUse,
    /// A bundled spoke changed with the sam binary, asking for nothing new.
    Bundled,
}

/// The component a profile runs, as approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginPin {
    /// The profile.
    pub profile: String,
    /// The sha256 of the component's bytes, lowercase hex.
    pub sha256: String,
    /// What its manifest asked for.
    pub permissions: PinnedPermissions,
    /// When it was recorded.
    pub pinned_at: EpochSeconds,
    /// How.
    pub origin: PinOrigin,
}

/// The operator's limits for one profile: limit name to value (seconds, bytes or a count, as
/// the limit says). Names this build does not know are kept and ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileLimits {
    /// The profile.
    pub profile: String,
    /// Limit name to value.
    pub values: BTreeMap<String, u64>,
}
