//! Authentication of connections: OAuth 2.0 authorization code (3LO) with rotating refresh
//! tokens, and the secrets it needs kept encrypted at rest. [`oauth`] builds the authorize URL
//! and talks to the token and accessible-resources endpoints (the `oauth2` crate over
//! reqwest); [`callback`] is the loopback listener for the redirect; [`secrets`] holds the
//! engine's key and seals client secrets and tokens; [`provider`] is the HTTP gate's
//! credential provider for an OAuth connection (refresh before expiry and once on 401,
//! single-flight, rotated token persisted before use). This module also derives what a
//! profile's processes imply: the connection & credential alias and the exact scopes to
//! request, and where a connection's endpoints are when a simulator or sandbox stands in for
//! the vendor.

pub mod app_installation;
pub mod callback;
pub mod oauth;
pub mod provider;
pub mod secrets;

pub use app_installation::{AppInstallation, AppInstallationCredentials, AppSetupError};
pub use callback::{CallbackListener, is_loopback_host, is_loopback_redirect};
pub use oauth::{
    AccessibleSite, AuthError, AuthorizationRequest, CallbackParams, OAuthApp, Tokens,
};
pub use provider::OAuthCredentials;
pub use secrets::{KeyError, KeySource, Keyring, MasterKey, Secret};

use crate::contract::{AuthScheme, Manifest, Oauth2AuthorizationCode, Process};
use crate::model::{OAuthConnection, OAuthEndpoints, ProcessSet};

/// Why a connection's credentials cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    /// The connection has no (valid) consent.
    #[error("profile `{profile}` is not connected ({reason}): run `sam connect {profile}`")]
    NotConnected {
        /// The profile.
        profile: String,
        /// Why.
        reason: String,
    },
    /// A secret could not be opened.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A URL is bad.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The store failed.
    #[error("{0}")]
    Store(String),
}

/// The associated-data slot of one secret of a credential.
pub fn slot(credential_key: &str, field: &str) -> String {
    format!("{credential_key}/{field}")
}

/// The OAuth app of a stored connection, with its client secret opened.
pub fn app_of(record: &OAuthConnection, keyring: &Keyring) -> Result<OAuthApp, AuthSetupError> {
    let sealed = record
        .client_secret
        .as_ref()
        .ok_or_else(|| AuthSetupError::NotConnected {
            profile: record.profile.clone(),
            reason: "no client secret is stored".into(),
        })?;
    let secret = keyring.open(&slot(&record.credential_key, "client_secret"), sealed)?;
    Ok(OAuthApp {
        client_id: record.client_id.clone(),
        client_secret: secret,
        redirect_uri: record.redirect_uri.clone(),
        endpoints: record.endpoints.clone(),
    })
}

/// The manifest's OAuth settings, when the spoke authenticates with OAuth.
pub fn oauth_scheme(manifest: &Manifest) -> Option<&Oauth2AuthorizationCode> {
    match &manifest.auth {
        AuthScheme::Oauth2AuthorizationCode(o) => Some(o),
        AuthScheme::BearerToken | AuthScheme::AppInstallation(_) => None,
    }
}

/// The processes a process set enables, download first.
pub fn enabled_processes(processes: ProcessSet) -> Vec<Process> {
    let mut out = vec![Process::DownloadSubscriptions];
    if processes.activity {
        out.push(Process::DownloadActivity);
    }
    if processes.reclaim {
        out.push(Process::Reclaim);
    }
    out
}

/// The exact scopes to request for `processes`: the union of the enabled processes' scopes
/// (in manifest order, each once) plus the scheme's base scopes (such as `offline_access`).
pub fn required_scopes(manifest: &Manifest, processes: ProcessSet) -> Vec<String> {
    let enabled = enabled_processes(processes);
    let mut out: Vec<String> = Vec::new();
    for permission in &manifest.processes {
        if enabled.contains(&permission.process) {
            for scope in &permission.scopes {
                if !out.contains(scope) {
                    out.push(scope.clone());
                }
            }
        }
    }
    if let Some(o) = oauth_scheme(manifest) {
        for scope in &o.base_scopes {
            if !out.contains(scope) {
                out.push(scope.clone());
            }
        }
    }
    out
}

/// The parent connection & credential alias for a spoke and process set
/// (`confluence-cloud.subscription_activity_reclaim`).
pub fn parent_alias(spoke_id: &str, processes: ProcessSet) -> String {
    format!("{spoke_id}.{}", processes.alias_suffix())
}

/// A profile's own (child) alias: the parent alias and the profile name.
pub fn child_alias(spoke_id: &str, processes: ProcessSet, profile: &str) -> String {
    format!("{}.{profile}", parent_alias(spoke_id, processes))
}

/// Replaces the scheme, host and port of `url` with those of `base` (keeping the path and
/// query), for a simulator or sandbox standing in for the vendor's host.
pub fn rebase(url: &str, base: &str) -> Result<String, AuthError> {
    let mut target = url::Url::parse(url).map_err(|_| AuthError::InvalidUrl {
        what: "endpoint",
        url: url.to_string(),
    })?;
    let base_url = url::Url::parse(base).map_err(|_| AuthError::InvalidUrl {
        what: "base URL",
        url: base.to_string(),
    })?;
    let base_path = base_url.path().trim_end_matches('/');
    let path = format!("{base_path}{}", target.path());
    let mut out = base_url.clone();
    out.set_path(&path);
    out.set_query(target.query());
    target = out;
    Ok(target.to_string())
}

/// The endpoints of a connection: the manifest's, each replaced by an explicit URL where
/// given, else rebased onto `auth_base` (authorize and token) or `api_base`
/// (accessible-resources).
pub fn endpoints_for(
    scheme: &Oauth2AuthorizationCode,
    auth_base: Option<&str>,
    api_base: Option<&str>,
) -> Result<OAuthEndpoints, AuthError> {
    let pick = |url: &str, base: Option<&str>| match base {
        Some(b) => rebase(url, b),
        None => Ok(url.to_string()),
    };
    Ok(OAuthEndpoints {
        authorize_url: pick(&scheme.authorize_url, auth_base)?,
        token_url: pick(&scheme.token_url, auth_base)?,
        accessible_resources_url: scheme
            .accessible_resources_url
            .as_deref()
            .map(|u| pick(u, api_base))
            .transpose()?,
        api_base_override: api_base.map(|b| b.trim_end_matches('/').to_string()),
    })
}

/// Fills `{name}` placeholders of a connection URL template from config values, then rebases
/// it onto `api_base` when given. Returns the URL and the names left unfilled.
pub fn fill_template(
    template: &str,
    values: &[(String, String)],
    api_base: Option<&str>,
) -> (String, Vec<String>) {
    let mut url = template.to_string();
    for (k, v) in values {
        url = url.replace(&format!("{{{k}}}"), v);
    }
    let mut missing = Vec::new();
    let mut rest = url.as_str();
    while let Some(start) = rest.find('{') {
        match rest[start..].find('}') {
            Some(end) => {
                missing.push(rest[start + 1..start + end].to_string());
                rest = &rest[start + end + 1..];
            }
            None => break,
        }
    }
    if missing.is_empty()
        && let Some(base) = api_base
        && let Ok(rebased) = rebase(&url, base)
    {
        url = rebased;
    }
    (url, missing)
}

/// The host of `url`, when it is a loopback host (so it must be granted explicitly).
pub fn loopback_grant(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let host = parsed.host_str()?;
    is_loopback_host(host).then(|| host.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{AuthScheme, ConfigField, Oauth2AuthorizationCode, ProcessPermission};

    fn manifest() -> Manifest {
        let perm = |process, scopes: &[&str]| ProcessPermission {
            process,
            vendor_role: "r".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        };
        Manifest {
            id: "confluence-cloud".into(),
            display_name: "Confluence Cloud".into(),
            publisher: "Atlassian".into(),
            version: "1".into(),
            description: String::new(),
            processes: vec![
                perm(
                    Process::DownloadSubscriptions,
                    &["read:confluence-groups", "read:confluence-user"],
                ),
                perm(Process::DownloadActivity, &["search:confluence"]),
                perm(
                    Process::Reclaim,
                    &["read:confluence-groups", "write:confluence-groups"],
                ),
            ],
            auth: AuthScheme::Oauth2AuthorizationCode(Oauth2AuthorizationCode {
                authorize_url: "https://auth.atlassian.com/authorize".into(),
                token_url: "https://auth.atlassian.com/oauth/token".into(),
                audience: Some("api.atlassian.com".into()),
                base_scopes: vec!["offline_access".into()],
                extra_parameters: vec![("prompt".into(), "consent".into())],
                accessible_resources_url: Some(
                    "https://api.atlassian.com/oauth/token/accessible-resources".into(),
                ),
            }),
            auth_alternatives: vec![],
            scope: None,
            activity_from_download: false,
            connection_url_template: "https://api.atlassian.com/ex/confluence/{cloud-id}".into(),
            config_fields: vec![ConfigField {
                name: "cloud-id".into(),
                label: "Cloud ID".into(),
                description: String::new(),
                required: true,
            }],
            allowed_hosts: vec!["api.atlassian.com".into()],
            activity_lookback_days: 60,
            products: vec![],
            extra_credentials: Vec::new(),
        }
    }

    #[test]
    fn the_four_process_combinations_give_the_guides_aliases_and_scopes() {
        let m = manifest();
        let table = [
            (
                true,
                true,
                "confluence-cloud.subscription_activity_reclaim",
                "read:confluence-groups read:confluence-user search:confluence write:confluence-groups offline_access",
            ),
            (
                true,
                false,
                "confluence-cloud.subscription_activity",
                "read:confluence-groups read:confluence-user search:confluence offline_access",
            ),
            (
                false,
                true,
                "confluence-cloud.subscription_reclaim",
                "read:confluence-groups read:confluence-user write:confluence-groups offline_access",
            ),
            (
                false,
                false,
                "confluence-cloud.subscription",
                "read:confluence-groups read:confluence-user offline_access",
            ),
        ];
        for (activity, reclaim, alias, scopes) in table {
            let p = ProcessSet { activity, reclaim };
            assert_eq!(parent_alias(&m.id, p), alias);
            assert_eq!(child_alias(&m.id, p, "acme"), format!("{alias}.acme"));
            assert_eq!(required_scopes(&m, p).join(" "), scopes);
        }
    }

    #[test]
    fn endpoints_and_the_connection_url_can_be_rebased_onto_a_simulator() {
        let m = manifest();
        let scheme = oauth_scheme(&m).unwrap();
        let e = endpoints_for(
            scheme,
            Some("http://127.0.0.1:4000"),
            Some("http://127.0.0.1:4000/"),
        )
        .unwrap();
        assert_eq!(e.authorize_url, "http://127.0.0.1:4000/authorize");
        assert_eq!(e.token_url, "http://127.0.0.1:4000/oauth/token");
        assert_eq!(
            e.accessible_resources_url.as_deref(),
            Some("http://127.0.0.1:4000/oauth/token/accessible-resources")
        );
        let (url, missing) = fill_template(
            &m.connection_url_template,
            &[("cloud-id".into(), "c1".into())],
            e.api_base_override.as_deref(),
        );
        assert_eq!(url, "http://127.0.0.1:4000/ex/confluence/c1");
        assert!(missing.is_empty());
        let (_, missing) = fill_template(&m.connection_url_template, &[], None);
        assert_eq!(missing, ["cloud-id"]);
        assert_eq!(loopback_grant(&url).as_deref(), Some("127.0.0.1"));
        assert_eq!(loopback_grant("https://api.atlassian.com/x"), None);
    }
}
