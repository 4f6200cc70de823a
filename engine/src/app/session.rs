//! What the profile commands share: finding a spoke by file, bundled name or plugins-folder
//! name; loading the key that opens stored secrets; and opening a profile's session (its
//! spoke, a gate session on its connection URL with the right credential provider — a static
//! token from the environment, or [`OAuthCredentials`] — its config with the selected
//! groups, and the operator's limits for the profile), with the spoke checked against the
//! profile's pin.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{AppError, store_failure};
use crate::auth::{
    AppInstallation, AppInstallationCredentials, AuthSetupError, Keyring, OAuthCredentials, secrets,
};
use crate::config::Settings;
use crate::contract::Config;
use crate::host::{CredentialProvider, GateSession, LoadedSpoke, SpokeHost, StaticToken};
use crate::model::{AuthKind, Connection, IntegrationProfile};
use crate::store::Store;

/// The prefix of a stored spoke path that names a bundled spoke.
pub const BUNDLED_PREFIX: &str = "bundled:";

/// Where a `--spoke` argument points: a component file, a bundled spoke, or
/// `<plugins dir>/<name>.wasm`. Returns what to store on the profile.
pub fn resolve_spoke(arg: &Path, settings: &Settings) -> Result<String, AppError> {
    if arg.is_file() {
        let path = std::fs::canonicalize(arg)
            .map_err(|e| AppError::Invalid(format!("cannot read spoke {}: {e}", arg.display())))?;
        return Ok(path.display().to_string());
    }
    let name = arg.to_string_lossy();
    let in_folder: PathBuf = settings.plugins_dir.join(format!("{name}.wasm"));
    if !name.contains('/') && in_folder.is_file() {
        return Ok(in_folder.display().to_string());
    }
    if crate::bundled::find(&name).is_some() {
        return Ok(format!("{BUNDLED_PREFIX}{name}"));
    }
    let bundled: Vec<&str> = crate::bundled::all().iter().map(|b| b.name).collect();
    Err(AppError::Invalid(format!(
        "unknown spoke `{name}`: give a .wasm file, a spoke in {} or a bundled spoke ({}); `sam plugin list` shows them",
        settings.plugins_dir.display(),
        if bundled.is_empty() {
            "none in this build".to_string()
        } else {
            bundled.join(", ")
        }
    )))
}

/// Loads the spoke a profile stores (file or bundled).
pub async fn load_profile_spoke(
    host: &SpokeHost,
    spoke_path: &str,
) -> Result<LoadedSpoke, AppError> {
    if let Some(name) = spoke_path.strip_prefix(BUNDLED_PREFIX) {
        let bundled = crate::bundled::find(name).ok_or_else(|| {
            AppError::Invalid(format!(
                "the profile uses bundled spoke `{name}`, which this build of sam does not bundle"
            ))
        })?;
        return host
            .load_bytes(bundled.wasm.to_vec(), bundled.name)
            .await
            .map_err(|e| AppError::Invalid(e.to_string()));
    }
    host.load_file(spoke_path)
        .await
        .map_err(|e| AppError::Invalid(e.to_string()))
}

/// Loads a profile's spoke and checks it against the profile's pin ([`crate::host::trust`]):
/// another component than the approved one refuses in one line until `sam plugin trust`. A
/// profile from before pinning is pinned now (when the store is writable), and a bundled spoke
/// that changed with sam but asks for nothing new is re-pinned.
pub async fn load_trusted_spoke(
    host: &SpokeHost,
    store: &Store,
    profile: &IntegrationProfile,
) -> Result<LoadedSpoke, AppError> {
    use crate::host::trust::{self, Verdict};
    use crate::pipeline::Clock;
    let spoke = load_profile_spoke(host, &profile.spoke_path).await?;
    let pin = store
        .read()
        .and_then(|r| r.plugin_pin(&profile.name))
        .map_err(store_failure)?;
    let bundled = profile.spoke_path.starts_with(BUNDLED_PREFIX);
    let now = crate::pipeline::SystemClock.now();
    let verdict = trust::check(
        &profile.name,
        pin.as_ref(),
        &spoke,
        &profile.spoke_path,
        bundled,
        now,
    )
    .map_err(|e| AppError::Invalid(e.to_string()))?;
    if let Verdict::FirstUse(new) | Verdict::Repinned(new) = verdict {
        tracing::info!(
            profile = %profile.name,
            sha256 = %new.sha256,
            origin = ?new.origin,
            "pinned the profile's spoke component; a different file will be refused until `sam plugin trust`"
        );
        if !store.is_read_only() {
            store
                .write(|tx| tx.put_plugin_pin(&new))
                .map_err(store_failure)?;
        }
    }
    Ok(spoke)
}

/// The key that opens stored secrets (`SAM_KEY`, else the key file, created when missing).
pub fn keyring(settings: &Settings) -> Result<Keyring, AppError> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    Keyring::load(
        env(secrets::KEY_ENV).as_deref(),
        env(secrets::PREVIOUS_KEY_ENV).as_deref(),
        &settings.key_file,
    )
    .map_err(|e| AppError::Invalid(e.to_string()))
}

/// Maps a credential setup failure to a CLI error.
pub fn setup_error(e: AuthSetupError) -> AppError {
    match e {
        AuthSetupError::Store(m) => AppError::Failed(m),
        other => AppError::Invalid(other.to_string()),
    }
}

/// The secret slot of an app installation's private key (under the connection's alias).
pub const APP_KEY_SLOT: &str = "app_private_key";

/// The credential of an app installation profile: the spoke must offer the
/// `app-installation` scheme; the key (PEM, read by the surface) is checked to be an RSA key
/// and sealed.
pub fn app_installation_auth(
    settings: &Settings,
    manifest: &crate::contract::Manifest,
    alias: &str,
    app_id: &str,
    installation_id: &str,
    key_pem: Option<&str>,
) -> Result<AuthKind, AppError> {
    let token_path = std::iter::once(&manifest.auth)
        .chain(manifest.auth_alternatives.iter())
        .find_map(|scheme| match scheme {
            crate::contract::AuthScheme::AppInstallation(app) => Some(app.token_path.clone()),
            _ => None,
        })
        .ok_or_else(|| {
            AppError::Invalid(format!(
                "spoke `{}` does not offer app installation authentication",
                manifest.id
            ))
        })?;
    if app_id.trim().is_empty() || app_id.chars().any(char::is_control) {
        return Err(AppError::Invalid(
            "--app-id must be the app's id or client id".into(),
        ));
    }
    if installation_id.is_empty() || !installation_id.chars().all(|c| c.is_ascii_digit()) {
        return Err(AppError::Invalid(
            "--installation-id must be the installation's number".into(),
        ));
    }
    let pem = key_pem.filter(|p| !p.trim().is_empty()).ok_or_else(|| {
        AppError::Invalid("give --app-key-file (the app's private key, PEM)".into())
    })?;
    let pem = crate::auth::Secret::new(pem.to_string());
    // Refuse a file that is not an RSA private key now, not at the first run.
    let probe = AppInstallation {
        app_id: app_id.to_string(),
        installation_id: installation_id.to_string(),
        private_key_pem: pem.clone(),
    };
    AppInstallationCredentials::new(&probe, "https://api.github.com/".into())
        .map_err(|e| AppError::Invalid(format!("the app key: {e}")))?;
    let keyring = keyring(settings)?;
    Ok(AuthKind::AppInstallation {
        app_id: app_id.to_string(),
        installation_id: installation_id.to_string(),
        token_path,
        private_key: keyring.seal(&crate::auth::slot(alias, APP_KEY_SLOT), pem.expose()),
    })
}

/// The credential provider of a connection.
pub fn credentials_for(
    store: &Arc<Store>,
    settings: &Settings,
    profile: &IntegrationProfile,
    connection: &Connection,
) -> Result<Arc<dyn CredentialProvider>, AppError> {
    match &connection.auth {
        AuthKind::StaticTokenEnv { variable } => {
            let token = std::env::var(variable).map_err(|_| {
                AppError::Invalid(format!(
                    "the bearer token of profile `{}` is read from ${variable}, which is not set",
                    profile.name
                ))
            })?;
            Ok(Arc::new(StaticToken::new(token)))
        }
        AuthKind::AppInstallation {
            app_id,
            installation_id,
            token_path,
            private_key,
        } => {
            let keyring = keyring(settings)?;
            let pem = keyring
                .open(
                    &crate::auth::slot(&connection.alias, APP_KEY_SLOT),
                    private_key,
                )
                .map_err(|e| AppError::Invalid(e.to_string()))?;
            let url = crate::auth::app_installation::token_url(
                &connection.connection_url,
                token_path,
                installation_id,
            )
            .map_err(|e| AppError::Invalid(e.to_string()))?;
            let installation = AppInstallation {
                app_id: app_id.clone(),
                installation_id: installation_id.clone(),
                private_key_pem: pem,
            };
            let credentials = AppInstallationCredentials::new(&installation, url)
                .map_err(|e| AppError::Invalid(e.to_string()))?;
            Ok(Arc::new(credentials))
        }
        AuthKind::OAuth2 { credential_key, .. } => {
            let keyring = keyring(settings)?;
            let credentials = OAuthCredentials::open(store.clone(), keyring, credential_key)
                .map_err(|e| match e {
                    AuthSetupError::NotConnected { reason, .. } => AppError::Invalid(format!(
                        "profile `{p}` is not connected ({reason}): run `sam connect {p}`",
                        p = profile.name
                    )),
                    other => setup_error(other),
                })?;
            Ok(Arc::new(credentials))
        }
    }
}

/// A profile's second credentials, opened: `(name, target prefix, provider)` each.
pub fn extra_credentials_for(
    store: &Arc<Store>,
    settings: &Settings,
    profile: &str,
) -> Result<crate::host::ExtraCredentials, AppError> {
    let records = store
        .read()
        .map_err(store_failure)?
        .extra_credentials(profile)
        .map_err(store_failure)?;
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let keyring = keyring(settings)?;
    records
        .into_iter()
        .map(|r| {
            let slot = crate::model::ExtraCredentialRecord::slot(&r.profile, &r.name);
            let secret = keyring.open(&slot, &r.secret).map_err(|e| {
                AppError::Invalid(format!(
                    "the `{}` of profile `{profile}` cannot be opened ({e}): supply it again with `sam connect {profile} --credential-env {}=VAR`",
                    r.name, r.name
                ))
            })?;
            let provider: Arc<dyn CredentialProvider> =
                Arc::new(StaticToken::new(secret.expose().to_string()));
            Ok((r.name, r.target_prefix, provider))
        })
        .collect()
}

/// A profile ready for spoke calls.
pub struct ProfileSession {
    /// The profile.
    pub profile: IntegrationProfile,
    /// The spoke.
    pub spoke: LoadedSpoke,
    /// The gate session.
    pub session: Arc<GateSession>,
    /// The config (values and selected groups).
    pub config: Config,
    /// The scopes the connection was granted, where known (an OAuth connection).
    pub granted_scopes: Option<Vec<String>>,
}

/// Opens the session of profile `name`.
pub async fn open_profile_session(
    host: &SpokeHost,
    store: &Arc<Store>,
    settings: &Settings,
    name: &str,
) -> Result<ProfileSession, AppError> {
    let (profile, connection, groups, limits, granted_scopes) = {
        let read = store.read().map_err(store_failure)?;
        let profile = read
            .profile(name)
            .map_err(store_failure)?
            .ok_or_else(|| AppError::NotFound(format!("no profile named `{name}`")))?;
        let connection = read
            .connection(&profile.connection)
            .map_err(store_failure)?
            .ok_or_else(|| {
                AppError::Failed(format!(
                    "profile `{name}` refers to connection `{}`, which does not exist",
                    profile.connection
                ))
            })?;
        let groups = read.selected_groups(name).map_err(store_failure)?;
        let limits = read.profile_limits(name).map_err(store_failure)?;
        let granted_scopes = match &connection.auth {
            AuthKind::OAuth2 { credential_key, .. } => read
                .oauth_connection(credential_key)
                .map_err(store_failure)?
                .map(|c| c.granted_scopes),
            AuthKind::StaticTokenEnv { .. } | AuthKind::AppInstallation { .. } => None,
        };
        (profile, connection, groups, limits, granted_scopes)
    };
    let spoke = load_trusted_spoke(host, store, &profile).await?;
    if spoke.id() != profile.spoke_id {
        return Err(AppError::Invalid(format!(
            "{} is spoke `{}`, but profile `{name}` was created for `{}`",
            profile.spoke_path,
            spoke.id(),
            profile.spoke_id
        )));
    }
    if connection.connection_url.contains('{') {
        return Err(AppError::Invalid(format!(
            "profile `{name}` has no site yet (connection URL {}): run `sam connect {name}`",
            connection.connection_url
        )));
    }
    let credentials = credentials_for(store, settings, &profile, &connection)?;
    let extra = extra_credentials_for(store, settings, &profile.name)?;
    let session = spoke
        .session_full(
            &connection.connection_url,
            &connection.granted_hosts,
            credentials,
            crate::pipeline::limits::overrides(&limits),
            extra,
        )
        .map_err(|e| AppError::Invalid(e.to_string()))?;
    let config = Config {
        values: profile.config.clone(),
        selected_groups: groups.into_iter().map(|g| g.group_id).collect(),
    };
    Ok(ProfileSession {
        profile,
        spoke,
        session,
        config,
        granted_scopes,
    })
}

/// How a refused refresh starts ([`crate::auth::oauth::AuthError::RefreshRejected`]).
const REFRESH_REFUSED: &str = "the vendor refused the refresh token";

/// A failed run's error. When the failure made the profile's OAuth connection lose its
/// consent, that is the whole story, said once (the spoke's own message only repeats it, as
/// an "invalid config"): a refused refresh token reads as what it usually is — rotated by the
/// vendor while sam was stopped (killed during a refresh) — with the one fix, `sam connect`.
/// Either way an auth failure: exit 3.
pub fn explain_failure(store: &Store, profile: &str, message: String) -> AppError {
    let reason = store.read().ok().and_then(|read| {
        let p = read.profile(profile).ok()??;
        let c = read.connection(&p.connection).ok()??;
        let AuthKind::OAuth2 { credential_key, .. } = &c.auth else {
            return None;
        };
        match read.oauth_connection(credential_key).ok()??.status {
            crate::model::CredentialStatus::ReconsentNeeded(reason) => Some(reason),
            _ => None,
        }
    });
    match reason {
        Some(reason) if reason.starts_with(REFRESH_REFUSED) => {
            let detail = reason[REFRESH_REFUSED.len()..]
                .trim()
                .trim_start_matches('(')
                .trim_end_matches(')');
            AppError::Failed(format!(
                "the vendor refused the refresh token of profile `{profile}` ({detail}): it was rotated or revoked while sam was stopped; run `sam connect {profile}` again"
            ))
        }
        Some(reason) => AppError::Failed(format!(
            "the connection of profile `{profile}` needs consent again ({reason}): run `sam connect {profile}` again"
        )),
        None => AppError::Failed(message),
    }
}
