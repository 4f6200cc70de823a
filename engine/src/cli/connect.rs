//! `sam connect <profile>`: the OAuth 2.0 (3LO) consent that turns a Draft profile's
//! connection & credential alias into a working connection, as the guide's "Create and Get
//! OAuth Token" step. This module runs the browser part: it asks the engine (this process,
//! or the daemon holding the database) what the consent needs, builds the authorize URL
//! (audience, the processes' scopes plus `offline_access`, a random state, `prompt=consent`,
//! PKCE when asked), opens a browser where there is one and always prints the URL, receives
//! the callback on a loopback listener bound before the URL is printed (or takes the
//! redirected URL or code pasted on standard input, or later with `--code`) and checks its
//! state. The engine finishes it ([`crate::app::connections`]): the code exchange, the site
//! (`--site` when the token reaches several), the connection URL, and the OAuth app and
//! tokens stored sealed in one transaction; stored secrets never come back out.
//! `--credential-env`/`--org-api-key-env` store a spoke's second credentials.
//! `--auth-base`/`--api-base` (or the explicit URLs) let a simulator or a vendor sandbox
//! stand in for the vendor's hosts.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use clap::Args;

use super::{CliError, write_out};
use crate::app::Engine;
use crate::app::connections::{
    CompleteConsent, ConnectQuery, ConsentCompleted, CredentialValue, SavePending, StoreCredentials,
};
use crate::auth::{self, AuthError, CallbackListener, CallbackParams, OAuthApp, Secret};
use crate::config::Settings;
use crate::host::SpokeHost;

/// Arguments of `sam connect`.
#[derive(Debug, Args, Clone, Default)]
pub struct ConnectArgs {
    /// The profile.
    pub profile: String,
    /// The OAuth app's client id (from the developer console's Settings page).
    #[arg(long, env = "SAM_CLIENT_ID", value_name = "ID")]
    pub client_id: Option<String>,
    /// The environment variable holding the OAuth app's client secret.
    #[arg(long, value_name = "VAR")]
    pub client_secret_env: Option<String>,
    /// The callback URL registered for the app [default: the stored one, else the config's
    /// redirect_uri, else http://127.0.0.1:8976/callback].
    #[arg(long, value_name = "URL")]
    pub redirect_uri: Option<String>,
    /// Stand-in for the vendor's auth host (authorize and token URLs keep their paths).
    #[arg(long, value_name = "URL")]
    pub auth_base: Option<String>,
    /// Stand-in for the vendor's API host (accessible-resources and the connection URL).
    #[arg(long, value_name = "URL")]
    pub api_base: Option<String>,
    /// The authorize URL, replacing the spoke's.
    #[arg(long, value_name = "URL")]
    pub authorize_url: Option<String>,
    /// The token URL, replacing the spoke's.
    #[arg(long, value_name = "URL")]
    pub token_url: Option<String>,
    /// The accessible-resources URL, replacing the spoke's.
    #[arg(long, value_name = "URL")]
    pub resources_url: Option<String>,
    /// The site to connect (its URL, cloud id or name), when the consent reaches several.
    #[arg(long, value_name = "URL")]
    pub site: Option<String>,
    /// Use PKCE (S256) besides the client secret.
    #[arg(long)]
    pub pkce: bool,
    /// Do not try to open a browser (the URL is printed either way).
    #[arg(long)]
    pub no_browser: bool,
    /// Do not listen for the callback: paste the redirected URL (or code) on standard input,
    /// or finish later with --code.
    #[arg(long)]
    pub no_listen: bool,
    /// Finish a consent started with --no-listen: the redirected URL or the code.
    #[arg(long, value_name = "URL|CODE")]
    pub code: Option<String>,
    /// Seconds to wait for the callback.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    /// A second credential the spoke declares, read from an environment variable:
    /// `NAME=VAR` (for Confluence `org-api-key=VAR`, Atlassian's organization API key, whose
    /// last-active dates count readers as active). Stored encrypted; sent only to the
    /// requests its manifest entry names. Alone (on a connected profile) it runs no consent.
    #[arg(long = "credential-env", value_name = "NAME=VAR")]
    pub credential_env: Vec<String>,
    /// Shorthand for `--credential-env org-api-key=VAR`.
    #[arg(long, value_name = "VAR")]
    pub org_api_key_env: Option<String>,
}

impl ConnectArgs {
    /// The second credentials asked for, their values read from the environment.
    fn extra_credentials(&self) -> Result<Vec<CredentialValue>, CliError> {
        let mut wanted = Vec::new();
        for item in &self.credential_env {
            let (name, var) = item.split_once('=').ok_or_else(|| {
                CliError::User(format!(
                    "--credential-env `{item}`: write NAME=VAR (for example org-api-key=ORG_KEY)"
                ))
            })?;
            wanted.push((name.trim().to_string(), var.trim().to_string()));
        }
        if let Some(var) = &self.org_api_key_env {
            wanted.push(("org-api-key".to_string(), var.trim().to_string()));
        }
        wanted
            .into_iter()
            .map(|(name, var)| {
                let value = std::env::var(&var)
                    .ok()
                    .filter(|v| !v.trim().is_empty())
                    .ok_or_else(|| {
                        CliError::User(format!(
                            "the `{name}` of profile `{}` is read from ${var}, which is not set",
                            self.profile
                        ))
                    })?;
                Ok(CredentialValue { name, value })
            })
            .collect()
    }

    /// Whether anything but second credentials was asked (so a consent is wanted).
    fn wants_consent(&self) -> bool {
        self.client_id.is_some()
            || self.client_secret_env.is_some()
            || self.code.is_some()
            || self.site.is_some()
            || self.authorize_url.is_some()
            || self.token_url.is_some()
            || self.resources_url.is_some()
            || self.auth_base.is_some()
    }
}

/// Who completes the consent in the browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Browser {
    /// The admin: open the system browser where there is one.
    System,
    /// Nobody here: only print the URL.
    PrintOnly,
    /// sam itself follows the URL (the bundled simulator consents at once): `sam demo`.
    Follow,
}

fn auth_error(e: AuthError) -> CliError {
    match e {
        AuthError::Unreachable { .. } | AuthError::Vendor { .. } => {
            CliError::Failure(e.to_string())
        }
        other => CliError::User(other.to_string()),
    }
}

pub(super) async fn run(
    host: &SpokeHost,
    settings: &Settings,
    args: ConnectArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let engine = super::engine::engine(host, settings, false).await?;
    let browser = if args.no_browser {
        Browser::PrintOnly
    } else {
        Browser::System
    };
    let extra = args.extra_credentials()?;
    if !extra.is_empty() {
        let stored = engine
            .connections_credentials(StoreCredentials {
                profile: args.profile.clone(),
                credentials: extra,
                api_base: args.api_base.clone(),
            })
            .await?;
        let mut text = String::new();
        for c in &stored.stored {
            text.push_str(&format!(
                "stored `{}` for profile `{}` (sent only to {})\n",
                c.name, args.profile, c.target
            ));
        }
        write_out(out, &text)?;
        if stored.connected && !args.wants_consent() {
            return Ok(());
        }
    }
    connect(&engine, settings, &args, None, browser, out).await
}

/// Runs the consent for `args.profile` (see the module doc): the browser dance here, the
/// rest in the engine (this process, or the daemon holding the database).
pub(super) async fn connect(
    engine: &Engine,
    settings: &Settings,
    args: &ConnectArgs,
    secret: Option<Secret>,
    browser: Browser,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let name = args.profile.as_str();
    let context = engine
        .connections_context(ConnectQuery {
            name: name.to_string(),
            auth_base: args.auth_base.clone(),
            api_base: args.api_base.clone(),
            fresh_endpoints: args.authorize_url.is_some()
                || args.token_url.is_some()
                || args.resources_url.is_some(),
        })
        .await?;
    let mut endpoints = context.endpoints.clone();
    if let Some(u) = &args.authorize_url {
        endpoints.authorize_url = u.clone();
    }
    if let Some(u) = &args.token_url {
        endpoints.token_url = u.clone();
    }
    if let Some(u) = &args.resources_url {
        endpoints.accessible_resources_url = Some(u.clone());
    }

    // The OAuth app: flags first, then what is stored (the engine keeps the secret).
    let client_id = args
        .client_id
        .clone()
        .or_else(|| context.client_id.clone())
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| {
            CliError::User(format!(
                "no OAuth client id for profile `{name}`: pass --client-id (from the app's Settings page in the developer console)"
            ))
        })?;
    let client_secret = match (secret, &args.client_secret_env) {
        (Some(secret), _) => Some(secret),
        (None, Some(var)) => Some(Secret::new(std::env::var(var).map_err(|_| {
            CliError::User(format!(
                "--client-secret-env {var}: the variable is not set; export the app's client secret in it"
            ))
        })?)),
        (None, None) if context.has_client_secret => None,
        (None, None) => {
            return Err(CliError::User(context.unreadable.clone().unwrap_or_else(|| {
                format!(
                    "no OAuth client secret for profile `{name}`: pass --client-secret-env VAR with the secret in $VAR"
                )
            })));
        }
    };
    let redirect_uri = args
        .redirect_uri
        .clone()
        .or_else(|| context.redirect_uri.clone())
        .unwrap_or_else(|| settings.redirect_uri.clone());
    let app = OAuthApp {
        client_id: client_id.clone(),
        client_secret: client_secret.clone().unwrap_or_else(|| Secret::new("")),
        redirect_uri: redirect_uri.clone(),
        endpoints: endpoints.clone(),
    };
    // Before anything is sent or printed: the client secret and the code cross these.
    app.check_endpoints().map_err(auth_error)?;
    let complete =
        |code: Option<String>, verifier: Option<Secret>, pasted: Option<String>| CompleteConsent {
            profile: name.to_string(),
            client_id: client_id.clone(),
            client_secret: client_secret.as_ref().map(|s| s.expose().to_string()),
            redirect_uri: redirect_uri.clone(),
            endpoints: endpoints.clone(),
            pkce: args.pkce,
            code,
            pkce_verifier: verifier.map(|v| v.expose().to_string()),
            pasted,
            site: args.site.clone(),
        };

    // The code: from --code (finishing a consent started with --no-listen: the engine checks
    // it against the pending state), the listener, or standard input.
    let request = match &args.code {
        Some(pasted) => complete(None, None, Some(pasted.clone())),
        None => {
            let listen = !args.no_listen && auth::is_loopback_redirect(&redirect_uri);
            // Bind before printing the URL, so a taken port is reported before consent.
            let listener = if listen {
                Some(
                    CallbackListener::bind(&redirect_uri)
                        .await
                        .map_err(auth_error)?,
                )
            } else {
                None
            };
            let authorization = app
                .authorization(
                    &context.scopes,
                    context.audience.as_deref(),
                    &context.extra_parameters,
                    args.pkce,
                )
                .map_err(auth_error)?;
            write_out(
                out,
                &format!(
                    "Open this URL in a browser and grant access (scopes: {}):\n{}\n",
                    context.scopes.join(" "),
                    authorization.url
                ),
            )?;
            let _ = out.flush();
            match listener {
                Some(listener) => {
                    write_out(
                        out,
                        &format!(
                            "Waiting for the callback on {redirect_uri} (up to {} s)...\n",
                            args.timeout
                        ),
                    )?;
                    let _ = out.flush();
                    let waiting = listener.wait(Duration::from_secs(args.timeout));
                    let params = match browser {
                        Browser::System => {
                            open_browser(authorization.url.as_str());
                            waiting.await
                        }
                        Browser::PrintOnly => waiting.await,
                        Browser::Follow => {
                            let url = authorization.url.to_string();
                            let follow = tokio::spawn(async move { follow_url(&url).await });
                            let params = waiting.await;
                            if let Ok(Err(e)) = follow.await
                                && params.is_err()
                            {
                                return Err(auth_error(e));
                            }
                            params
                        }
                    }
                    .map_err(auth_error)?;
                    let code = params
                        .into_code(Some(&authorization.state))
                        .map_err(auth_error)?;
                    complete(Some(code), authorization.pkce_verifier, None)
                }
                None => {
                    if browser == Browser::System {
                        open_browser(authorization.url.as_str());
                    }
                    // Keep the state (sealed by the engine) so the code can be pasted now or
                    // later.
                    engine
                        .connections_pending(SavePending {
                            profile: name.to_string(),
                            client_id: client_id.clone(),
                            client_secret: client_secret.as_ref().map(|s| s.expose().to_string()),
                            redirect_uri: redirect_uri.clone(),
                            endpoints: endpoints.clone(),
                            pkce: args.pkce,
                            state: authorization.state.expose().to_string(),
                            pkce_verifier: authorization
                                .pkce_verifier
                                .as_ref()
                                .map(|v| v.expose().to_string()),
                        })
                        .await?;
                    let stdin = std::io::stdin();
                    let mut line = String::new();
                    if stdin.is_terminal() {
                        eprint!("Paste the URL the browser was redirected to (or its code): ");
                    }
                    let read = stdin.lock().read_line(&mut line).unwrap_or(0);
                    if read == 0 || line.trim().is_empty() {
                        return write_out(
                            out,
                            &format!(
                                "After consenting, finish with: sam connect {name} --code '<the redirected URL>'\n"
                            ),
                        );
                    }
                    let code = CallbackParams::from_pasted(&line)
                        .and_then(|p| p.into_code(Some(&authorization.state)))
                        .map_err(auth_error)?;
                    complete(Some(code), authorization.pkce_verifier, None)
                }
            }
        }
    };
    let done = engine.connections_complete(request).await?;
    print_connected(name, &done, out)
}

fn print_connected(
    name: &str,
    done: &ConsentCompleted,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let mut text = match &done.site {
        Some(s) => format!(
            "connected profile `{name}` to {} ({}, cloud id {})\n",
            s.url, s.name, s.id
        ),
        None => format!("connected profile `{name}`\n"),
    };
    text.push_str(&format!("  connection URL: {}\n", done.connection_url));
    text.push_str(&format!(
        "  scopes granted: {}\n",
        done.granted_scopes.join(" ")
    ));
    if !done.missing_scopes.is_empty() {
        text.push_str(&format!(
            "  warning: not granted: {} (the processes that need them will fail validation)\n",
            done.missing_scopes.join(" ")
        ));
    }
    text.push_str(&format!(
        "next: sam groups list {name}, then sam groups add {name} <group>...\n"
    ));
    write_out(out, &text)
}

/// Opens `url` in the system browser where there is a display; never fails.
fn open_browser(url: &str) {
    let has_display = cfg!(target_os = "macos")
        || cfg!(windows)
        || std::env::var_os("DISPLAY").is_some()
        || std::env::var_os("WAYLAND_DISPLAY").is_some();
    if !has_display || std::env::var_os("SAM_NO_BROWSER").is_some() {
        return;
    }
    let mut command = if cfg!(target_os = "macos") {
        std::process::Command::new("open")
    } else if cfg!(windows) {
        let mut c = std::process::Command::new("cmd");
        c.args(["/C", "start", ""]);
        c
    } else {
        std::process::Command::new("xdg-open")
    };
    let _ = command
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

/// Plays the browser for a vendor that consents at once (the bundled simulator): follows the
/// authorize URL's redirects to the callback listener.
async fn follow_url(url: &str) -> Result<(), AuthError> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| AuthError::Unreachable {
            url: url.to_string(),
            message: e.to_string(),
        })?;
    client
        .get(url)
        .send()
        .await
        .map_err(|e| AuthError::Unreachable {
            url: url.to_string(),
            message: e.to_string(),
        })?;
    Ok(())
}
