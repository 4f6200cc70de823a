//! A profile's OAuth 2.0 (3LO) connection and its second credentials, as application
//! operations. The surface runs the browser part of a consent (the authorize URL, the
//! loopback listener, the pasted redirect); the engine owns every secret: it tells the
//! surface what the consent needs but never a stored secret ([`App::connections_context`]),
//! keeps a consent's state sealed so its code can be pasted later
//! ([`App::connections_pending`]), and finishes the consent itself
//! ([`App::connections_complete`]): it checks a pasted redirect's state against the pending
//! one, exchanges the code (with the client secret given now or the sealed one), reads the
//! sites the token reaches and picks one, fills the connection URL, and stores the OAuth app
//! and tokens sealed with this engine's key in one audited transaction. Second credentials a
//! spoke declares (Confluence's organization API key) are stored sealed with the target
//! their requests go to ([`App::connections_credentials`]).

use serde::{Deserialize, Serialize};

use super::session::{keyring, load_trusted_spoke};
use super::{Actor, App, AppError};
use crate::auth::{self, AccessibleSite, AuthError, CallbackParams, OAuthApp, Secret, slot};
use crate::model::{
    AuditAction, AuthKind, CredentialStatus, EpochSeconds, IntegrationProfile, OAuthConnection,
    OAuthEndpoints, OAuthSite, PendingAuthorization,
};
use crate::store::WriteError;

/// `GET /api/v1/connections/context`: what a consent for a profile starts from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConnectQuery {
    /// The profile.
    pub name: String,
    /// A stand-in for the vendor's auth host (the stored endpoints are replaced).
    pub auth_base: Option<String>,
    /// A stand-in for the vendor's API host (the stored endpoints are replaced).
    pub api_base: Option<String>,
    /// Compute the spoke's endpoints afresh even without a stand-in (explicit URLs follow).
    #[serde(default)]
    pub fresh_endpoints: bool,
}

/// What a consent needs to know; never a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConnectContext {
    /// The profile.
    pub profile: String,
    /// The stored client id.
    pub client_id: Option<String>,
    /// Whether a client secret is stored (and readable with this engine's key).
    pub has_client_secret: bool,
    /// The stored callback URL.
    pub redirect_uri: Option<String>,
    /// The endpoints: the stored ones, or the spoke's (on the stand-ins) when asked afresh
    /// or when none are stored.
    pub endpoints: OAuthEndpoints,
    /// The scopes the profile's processes need (with the spoke's base scopes).
    pub scopes: Vec<String>,
    /// The `audience` parameter the vendor requires, if any.
    pub audience: Option<String>,
    /// Other authorize-URL parameters the spoke asks for.
    pub extra_parameters: Vec<(String, String)>,
    /// The callback URL of a consent in progress, if one is pending.
    pub pending_redirect_uri: Option<String>,
    /// Why a stored secret cannot be opened (a wrong key), if one cannot.
    pub unreadable: Option<String>,
}

/// `POST /api/v1/connections/pending`: keep a started consent's state (sealed) so its code
/// can be pasted later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SavePending {
    /// The profile.
    pub profile: String,
    /// The OAuth app's client id.
    pub client_id: String,
    /// The client secret, when given now (else the stored one stays).
    pub client_secret: Option<String>,
    /// The callback URL.
    pub redirect_uri: String,
    /// The endpoints.
    pub endpoints: OAuthEndpoints,
    /// Whether PKCE is used.
    #[serde(default)]
    pub pkce: bool,
    /// The state sent.
    pub state: String,
    /// The PKCE verifier.
    pub pkce_verifier: Option<String>,
}

/// `POST /api/v1/connections/complete`: finish a consent with its code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CompleteConsent {
    /// The profile.
    pub profile: String,
    /// The OAuth app's client id.
    pub client_id: String,
    /// The client secret, when given now (else the stored one).
    pub client_secret: Option<String>,
    /// The callback URL.
    pub redirect_uri: String,
    /// The endpoints.
    pub endpoints: OAuthEndpoints,
    /// Whether PKCE is used.
    #[serde(default)]
    pub pkce: bool,
    /// The code, already checked against the state by the caller that sent it.
    pub code: Option<String>,
    /// The PKCE verifier of that consent.
    pub pkce_verifier: Option<String>,
    /// Or: the redirected URL (or its code) pasted for the pending consent; the engine
    /// checks its state against the pending one.
    pub pasted: Option<String>,
    /// The site to connect (its URL, cloud id or name) when the token reaches several.
    pub site: Option<String>,
}

/// The answer of a finished consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsentCompleted {
    /// The profile.
    pub profile: String,
    /// The site chosen.
    pub site: Option<OAuthSite>,
    /// The connection URL.
    pub connection_url: String,
    /// The scopes granted.
    pub granted_scopes: Vec<String>,
    /// Scopes the processes need that were not granted.
    pub missing_scopes: Vec<String>,
}

/// The answer of keeping a consent's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConnectionSaved {
    /// The profile.
    pub profile: String,
    /// The credential's status now.
    pub status: CredentialStatus,
}

/// One second credential's value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CredentialValue {
    /// The name the spoke's manifest declares (`org-api-key`).
    pub name: String,
    /// The secret.
    pub value: String,
}

/// `POST /api/v1/connections/credentials`: store second credentials of a profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoreCredentials {
    /// The profile.
    pub profile: String,
    /// The credentials.
    pub credentials: Vec<CredentialValue>,
    /// A stand-in for the vendor's API host their targets are rebased onto [default: the
    /// connection's stored stand-in].
    pub api_base: Option<String>,
}

/// One stored second credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoredCredential {
    /// Its name.
    pub name: String,
    /// The URL prefix its requests go to.
    pub target: String,
}

/// The answer of storing second credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CredentialsStored {
    /// The profile.
    pub profile: String,
    /// What was stored.
    pub stored: Vec<StoredCredential>,
    /// Whether the profile's connection can already get tokens (or needs none).
    pub connected: bool,
}

/// An OAuth failure: the vendor's or the network's is the engine's failure, the rest the
/// caller's to fix.
fn auth_error(e: AuthError) -> AppError {
    match e {
        AuthError::Unreachable { .. } | AuthError::Vendor { .. } => AppError::Failed(e.to_string()),
        other => AppError::Invalid(other.to_string()),
    }
}

fn no_profile(name: &str) -> AppError {
    AppError::NotFound(format!("no profile named `{name}`"))
}

/// Picks the site a consent connects: the one asked for, the only one, or the one connected
/// before; several and none asked for is the caller's to settle with `--site`.
fn choose_site(
    profile: &str,
    sites: &[AccessibleSite],
    wanted: Option<&str>,
    current: Option<&OAuthSite>,
) -> Result<AccessibleSite, AppError> {
    let list = || {
        sites
            .iter()
            .map(|s| format!("{} ({})", s.url, s.id))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if sites.is_empty() {
        return Err(AppError::Invalid(
            "the consent reaches no site: consent as a user of the site (a site admin for reclaim), or check that the app is installed on it".into(),
        ));
    }
    let norm = |s: &str| s.trim().trim_end_matches('/').to_ascii_lowercase();
    if let Some(wanted) = wanted {
        return sites
            .iter()
            .find(|s| {
                norm(&s.url) == norm(wanted) || s.id == wanted.trim() || norm(&s.name) == norm(wanted)
            })
            .cloned()
            .ok_or_else(|| {
                AppError::Invalid(format!(
                    "the token cannot reach site {wanted}; it reaches: {}. Pass one of those with --site, or consent as a user of {wanted}",
                    list()
                ))
            });
    }
    if sites.len() == 1 {
        return Ok(sites[0].clone());
    }
    if let Some(current) = current
        && let Some(s) = sites.iter().find(|s| s.id == current.id)
    {
        return Ok(s.clone());
    }
    Err(AppError::Invalid(format!(
        "the consent reaches several sites ({}): run the consent again with --site URL to pick the one for profile `{profile}`",
        list()
    )))
}

impl App {
    /// The profile and the credential key of its OAuth connection.
    fn oauth_profile(&self, name: &str) -> Result<(IntegrationProfile, String), AppError> {
        let read = self.store().read()?;
        let profile = read.profile(name)?.ok_or_else(|| no_profile(name))?;
        let connection = read.connection(&profile.connection)?.ok_or_else(|| {
            AppError::Failed(format!(
                "profile `{name}` refers to connection `{}`, which does not exist",
                profile.connection
            ))
        })?;
        match connection.auth {
            AuthKind::OAuth2 { credential_key, .. } => Ok((profile, credential_key)),
            AuthKind::StaticTokenEnv { variable } => Err(AppError::Invalid(format!(
                "profile `{name}` uses a bearer token from ${variable}, not OAuth: nothing to connect"
            ))),
            AuthKind::AppInstallation { app_id, .. } => Err(AppError::Invalid(format!(
                "profile `{name}` authenticates as app {app_id}'s installation, not OAuth: nothing to connect (sam mints its tokens)"
            ))),
        }
    }

    /// What a consent for a profile needs: the stored OAuth app (never its secret), the
    /// endpoints, the scopes and the authorize-URL parameters of the spoke.
    pub async fn connections_context(
        &self,
        _actor: &Actor,
        q: ConnectQuery,
    ) -> Result<ConnectContext, AppError> {
        let name = q.name.as_str();
        let (profile, credential_key) = self.oauth_profile(name)?;
        let record = self.store().read()?.oauth_connection(&credential_key)?;
        let spoke = load_trusted_spoke(self.host(), self.store(), &profile).await?;
        let manifest = spoke.manifest();
        let scheme = auth::oauth_scheme(manifest).ok_or_else(|| {
            AppError::Invalid(format!(
                "spoke `{}` does not authenticate with OAuth",
                manifest.id
            ))
        })?;
        let fresh = q.fresh_endpoints || q.auth_base.is_some() || q.api_base.is_some();
        let endpoints = match (&record, fresh) {
            (Some(r), false) => r.endpoints.clone(),
            _ => auth::endpoints_for(scheme, q.auth_base.as_deref(), q.api_base.as_deref())
                .map_err(auth_error)?,
        };
        let (has_client_secret, unreadable) = match &record {
            Some(r) => {
                let ring = keyring(self.settings())?;
                let mut unreadable = None;
                let mut readable =
                    |field: &str, sealed: Option<&crate::model::SealedSecret>| match sealed
                        .map(|s| ring.open(&slot(&credential_key, field), s))
                    {
                        Some(Ok(_)) => true,
                        Some(Err(e)) => {
                            unreadable = Some(e.to_string());
                            false
                        }
                        None => false,
                    };
                let has = readable("client_secret", r.client_secret.as_ref());
                if let Some(p) = &r.pending {
                    readable("state", Some(&p.state));
                }
                (has, unreadable)
            }
            None => (false, None),
        };
        Ok(ConnectContext {
            profile: name.to_string(),
            client_id: record.as_ref().map(|r| r.client_id.clone()),
            has_client_secret,
            redirect_uri: record.as_ref().map(|r| r.redirect_uri.clone()),
            endpoints,
            scopes: auth::required_scopes(manifest, profile.processes),
            audience: scheme.audience.clone(),
            extra_parameters: scheme.extra_parameters.clone(),
            pending_redirect_uri: record
                .as_ref()
                .and_then(|r| r.pending.as_ref())
                .map(|p| p.redirect_uri.clone()),
            unreadable,
        })
    }

    /// Keeps a started consent's state (sealed) so its code can be pasted now or later; the
    /// connection's tokens are untouched.
    pub async fn connections_pending(
        &self,
        _actor: &Actor,
        req: SavePending,
    ) -> Result<ConnectionSaved, AppError> {
        let (_, credential_key) = self.oauth_profile(&req.profile)?;
        let ring = keyring(self.settings())?;
        let now = self.now();
        let seal = |field: &str, plain: &str| ring.seal(&slot(&credential_key, field), plain);
        let pending = PendingAuthorization {
            state: seal("state", &req.state),
            pkce_verifier: req
                .pkce_verifier
                .as_deref()
                .map(|v| seal("pkce_verifier", v)),
            redirect_uri: req.redirect_uri.clone(),
            started_at: now,
        };
        let status = self.store().write(|tx| {
            let mut record =
                tx.oauth_connection(&credential_key)?
                    .unwrap_or_else(|| OAuthConnection {
                        credential_key: credential_key.clone(),
                        profile: req.profile.clone(),
                        client_id: req.client_id.clone(),
                        client_secret: None,
                        redirect_uri: req.redirect_uri.clone(),
                        endpoints: req.endpoints.clone(),
                        pkce: req.pkce,
                        requested_scopes: Vec::new(),
                        granted_scopes: Vec::new(),
                        site: None,
                        access_token: None,
                        access_expires_at: None,
                        access_lifetime: None,
                        refresh_token: None,
                        status: CredentialStatus::NotConnected,
                        pending: None,
                        connected_at: None,
                        refreshed_at: None,
                        refresh_count: 0,
                    });
            // The app settings of this attempt are kept with the pending state, so `--code`
            // finishes with the same ones.
            record.client_id = req.client_id.clone();
            if let Some(secret) = &req.client_secret {
                record.client_secret = Some(seal("client_secret", secret));
            }
            record.redirect_uri = req.redirect_uri.clone();
            record.endpoints = req.endpoints.clone();
            record.pkce = req.pkce;
            record.pending = Some(pending.clone());
            tx.put_oauth_connection(&record)?;
            Ok::<_, WriteError>(record.status)
        })?;
        Ok(ConnectionSaved {
            profile: req.profile,
            status,
        })
    }

    /// Finishes a consent: checks a pasted redirect against the pending state, exchanges the
    /// code, picks the site, fills the connection URL and stores the OAuth app and tokens
    /// (sealed), the site's id in the profile's config and the connection URL, in one audited
    /// transaction; a changed site asks for validation again.
    pub async fn connections_complete(
        &self,
        _actor: &Actor,
        req: CompleteConsent,
    ) -> Result<ConsentCompleted, AppError> {
        let name = req.profile.as_str();
        let (profile, credential_key) = self.oauth_profile(name)?;
        let existing = self.store().read()?.oauth_connection(&credential_key)?;
        let ring = keyring(self.settings())?;
        let open = |field: &str, sealed: &crate::model::SealedSecret| {
            ring.open(&slot(&credential_key, field), sealed)
                .map(|s| Secret::new(s.expose().to_string()))
                .map_err(|e| AppError::Invalid(e.to_string()))
        };
        let client_secret = match (
            &req.client_secret,
            existing.as_ref().and_then(|e| e.client_secret.as_ref()),
        ) {
            (Some(given), _) => Secret::new(given.clone()),
            (None, Some(sealed)) => open("client_secret", sealed)?,
            (None, None) => {
                return Err(AppError::Invalid(format!(
                    "no OAuth client secret for profile `{name}`: pass --client-secret-env VAR with the secret in $VAR"
                )));
            }
        };
        let (code, verifier) = match (&req.code, &req.pasted) {
            (Some(code), None) => (code.clone(), req.pkce_verifier.clone().map(Secret::new)),
            (None, Some(pasted)) => {
                let pending = existing.as_ref().and_then(|e| e.pending.as_ref()).ok_or_else(|| {
                    AppError::Invalid(format!(
                        "no consent is pending for profile `{name}`: run `sam connect {name} --no-listen` first, then pass the redirected URL with --code"
                    ))
                })?;
                if pending.redirect_uri != req.redirect_uri {
                    return Err(AppError::Invalid(format!(
                        "the pending consent used redirect URI {}, not {}: run `sam connect {name}` again",
                        pending.redirect_uri, req.redirect_uri
                    )));
                }
                let state = open("state", &pending.state)?;
                let verifier = match &pending.pkce_verifier {
                    Some(v) => Some(open("pkce_verifier", v)?),
                    None => None,
                };
                let code = CallbackParams::from_pasted(pasted)
                    .and_then(|p| p.into_code(Some(&state)))
                    .map_err(auth_error)?;
                (code, verifier)
            }
            _ => {
                return Err(AppError::Invalid(
                    "give either the code or the pasted redirect".into(),
                ));
            }
        };
        let app = OAuthApp {
            client_id: req.client_id.clone(),
            client_secret: client_secret.clone(),
            redirect_uri: req.redirect_uri.clone(),
            endpoints: req.endpoints.clone(),
        };
        // The client secret and the code cross these: plain http only on loopback.
        app.check_endpoints().map_err(auth_error)?;
        let spoke = load_trusted_spoke(self.host(), self.store(), &profile).await?;
        let manifest = spoke.manifest().clone();
        let scopes = auth::required_scopes(&manifest, profile.processes);
        let tokens = app
            .exchange_code(&code, verifier.as_ref())
            .await
            .map_err(auth_error)?;
        if tokens.refresh_token.is_none() {
            return Err(AppError::Invalid(
                "the vendor issued no refresh token: the app must allow offline_access (it is requested); check the app's permissions in the developer console".into(),
            ));
        }
        let granted = tokens.scopes.clone().unwrap_or_else(|| scopes.clone());
        let missing_scopes: Vec<String> = scopes
            .iter()
            .filter(|s| !granted.contains(s))
            .cloned()
            .collect();
        let site = match &req.endpoints.accessible_resources_url {
            Some(url) => {
                let sites = auth::oauth::accessible_resources(url, &tokens.access_token)
                    .await
                    .map_err(auth_error)?;
                let chosen = choose_site(
                    name,
                    &sites,
                    req.site.as_deref(),
                    existing.as_ref().and_then(|e| e.site.as_ref()),
                )?;
                Some(OAuthSite {
                    id: chosen.id,
                    url: chosen.url,
                    name: chosen.name,
                })
            }
            None => None,
        };
        // The connection URL: the template filled with the site id, on the API stand-in.
        let mut config = profile.config.clone();
        let site_field = manifest
            .config_fields
            .iter()
            .find(|f| {
                manifest
                    .connection_url_template
                    .contains(&format!("{{{}}}", f.name))
            })
            .map(|f| f.name.clone());
        if let (Some(site), Some(field)) = (&site, &site_field) {
            config.retain(|(k, _)| k != field);
            config.push((field.clone(), site.id.clone()));
        }
        let (connection_url, unfilled) = auth::fill_template(
            &manifest.connection_url_template,
            &config,
            req.endpoints.api_base_override.as_deref(),
        );
        if !unfilled.is_empty() {
            return Err(AppError::Invalid(format!(
                "the connection URL still needs {}: set it with `sam profile set {name} --config {}=...`",
                unfilled.join(", "),
                unfilled[0]
            )));
        }
        let now = self.now();
        let seal = |field: &str, plain: &str| ring.seal(&slot(&credential_key, field), plain);
        let record = OAuthConnection {
            credential_key: credential_key.clone(),
            profile: name.to_string(),
            client_id: req.client_id.clone(),
            client_secret: Some(seal("client_secret", client_secret.expose())),
            redirect_uri: req.redirect_uri.clone(),
            endpoints: req.endpoints.clone(),
            pkce: req.pkce,
            requested_scopes: scopes.clone(),
            granted_scopes: granted.clone(),
            site: site.clone(),
            access_token: Some(seal("access_token", tokens.access_token.expose())),
            access_expires_at: tokens.expires_in.map(|s| now + s),
            access_lifetime: tokens.expires_in,
            refresh_token: tokens
                .refresh_token
                .as_ref()
                .map(|r| seal("refresh_token", r.expose())),
            status: CredentialStatus::Connected,
            pending: None,
            connected_at: Some(now),
            refreshed_at: None,
            refresh_count: 0,
        };
        self.store().write(|tx| {
            let site_changed = existing
                .as_ref()
                .and_then(|e| e.site.as_ref())
                .map(|s| &s.id)
                != site.as_ref().map(|s| &s.id);
            tx.put_oauth_connection(&record)?;
            if let Some(mut c) = tx.connection(&profile.connection)? {
                c.connection_url = connection_url.clone();
                if let Some(host) = auth::loopback_grant(&connection_url)
                    && !c.granted_hosts.contains(&host)
                {
                    c.granted_hosts.push(host);
                }
                tx.put_connection(&c)?;
            }
            let mut p = profile.clone();
            p.config = config.clone();
            tx.put_profile(&p)?;
            if site_changed {
                tx.clear_validation(name)?;
            }
            tx.audit(
                now,
                Some(name),
                AuditAction::ConnectionChanged,
                format!(
                    "connected to {} with scopes {}",
                    site.as_ref()
                        .map_or(connection_url.as_str(), |s| s.url.as_str()),
                    granted.join(" ")
                ),
                None,
            )?;
            Ok::<_, WriteError>(())
        })?;
        Ok(ConsentCompleted {
            profile: req.profile,
            site,
            connection_url,
            granted_scopes: granted,
            missing_scopes,
        })
    }

    /// Stores second credentials a profile's spoke declares (sealed), each with the target
    /// its requests go to: the manifest's prefix, rebased onto `api_base` or the connection's
    /// stored API stand-in when the connection points at a simulator.
    pub async fn connections_credentials(
        &self,
        _actor: &Actor,
        req: StoreCredentials,
    ) -> Result<CredentialsStored, AppError> {
        let name = req.profile.as_str();
        let (profile, stored_base, connected) = {
            let read = self.store().read()?;
            let profile = read.profile(name)?.ok_or_else(|| no_profile(name))?;
            let (stored_base, connected) =
                match read.connection(&profile.connection)?.map(|c| c.auth) {
                    Some(AuthKind::OAuth2 { credential_key, .. }) => {
                        let record = read.oauth_connection(&credential_key)?;
                        (
                            record
                                .as_ref()
                                .and_then(|c| c.endpoints.api_base_override.clone()),
                            record.is_some_and(|c| c.status == CredentialStatus::Connected),
                        )
                    }
                    Some(AuthKind::StaticTokenEnv { .. } | AuthKind::AppInstallation { .. }) => {
                        (None, true)
                    }
                    None => (None, false),
                };
            (profile, stored_base, connected)
        };
        let api_base = req.api_base.clone().or(stored_base);
        let spoke = load_trusted_spoke(self.host(), self.store(), &profile).await?;
        let declared = spoke.manifest().extra_credentials.clone();
        let ring = keyring(self.settings())?;
        let now: EpochSeconds = self.now();
        let mut records = Vec::new();
        for cred in &req.credentials {
            let Some(entry) = declared.iter().find(|d| d.name == cred.name) else {
                let known: Vec<&str> = declared.iter().map(|d| d.name.as_str()).collect();
                return Err(AppError::Invalid(format!(
                    "spoke `{}` declares no second credential `{}` (it declares: {})",
                    spoke.id(),
                    cred.name,
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            };
            if cred.value.trim().is_empty() {
                return Err(AppError::Invalid(format!(
                    "the `{}` of profile `{name}` is empty",
                    cred.name
                )));
            }
            let target = match &api_base {
                Some(base) => auth::rebase(&entry.url_prefix, base).map_err(|e| {
                    AppError::Invalid(format!(
                        "cannot rebase {} onto {base}: {e}",
                        entry.url_prefix
                    ))
                })?,
                None => entry.url_prefix.clone(),
            };
            records.push(crate::model::ExtraCredentialRecord {
                profile: name.to_string(),
                name: cred.name.clone(),
                declared_prefix: entry.url_prefix.clone(),
                target_prefix: target,
                secret: ring.seal(
                    &crate::model::ExtraCredentialRecord::slot(name, &cred.name),
                    cred.value.trim(),
                ),
                added_at: now,
            });
        }
        self.store().write(|tx| {
            for r in &records {
                tx.put_extra_credential(r)?;
                tx.audit(
                    now,
                    Some(name),
                    AuditAction::ConnectionChanged,
                    format!(
                        "second credential `{}` stored (sent only to {})",
                        r.name, r.target_prefix
                    ),
                    None,
                )?;
            }
            Ok::<_, WriteError>(())
        })?;
        Ok(CredentialsStored {
            profile: req.profile,
            stored: records
                .into_iter()
                .map(|r| StoredCredential {
                    name: r.name,
                    target: r.target_prefix,
                })
                .collect(),
            connected,
        })
    }
}
