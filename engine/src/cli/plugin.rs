//! `sam plugin …`: what an integrator runs on a spoke before trusting it. `inspect` loads the
//! component in the sandbox, reads its manifest and prints it, with the permissions table in
//! the style of the reference guide's "Minimal user permissions" (process, vendor role, OAuth
//! scopes), and the component's size and cold/warm load times. `check` runs the conformance
//! kit ([`crate::conformance::Kit`]) against a bundled simulator (Confluence, GitHub, or the
//! Example Seats vendor of the templates with `--against example`), a real vendor URL (with
//! `--record FILE`, its exchanges are recorded) or a recording (`--replay FILE`) and prints a
//! pass/fail table. `new` writes a spoke project from a template
//! ([`crate::scaffold`]). `--json` prints
//! either as one JSON document. `trust` approves a profile's changed component after showing
//! what its manifest asks for now ([`crate::host::trust`]).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use super::{CliError, write_out};
use crate::contract::{AuthScheme, CONTRACT_VERSION, Manifest};
use crate::host::{LoadError, LoadedSpoke, SpokeHost};

/// `sam plugin` subcommands.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// List the spokes: bundled in this binary and in the plugins folder.
    List {
        #[command(flatten)]
        format: super::output::ListFormat,
    },
    /// Print a spoke's manifest and the permissions it needs.
    Inspect {
        /// The spoke: a component file (`.wasm`) or the name of a bundled spoke
        /// (`confluence-cloud`).
        #[arg(value_name = "SPOKE")]
        file: PathBuf,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Run the conformance kit on a spoke: manifest, validate, download, activity, reclaim
    /// and restore, rate limiting. Exits 0 when every rule passes or is skipped.
    Check {
        /// The spoke: a component file (`.wasm`) or the name of a bundled spoke
        /// (`confluence-cloud`).
        #[arg(value_name = "SPOKE")]
        file: PathBuf,
        /// `simulator` (the bundled Confluence or GitHub simulator, started on loopback),
        /// `example` (the Example Seats simulator, the vendor of `sam plugin new`'s
        /// templates) or the vendor connection URL to test against.
        #[arg(
            long,
            default_value = "simulator",
            value_name = "simulator|example|URL"
        )]
        against: String,
        /// With a URL: the environment variable holding a bearer token.
        #[arg(long, value_name = "VAR")]
        token_env: Option<String>,
        /// With a URL: a config field, as `name=value` (repeatable).
        #[arg(long = "config", value_name = "NAME=VALUE")]
        config: Vec<String>,
        /// With a URL: a selected group id (repeatable).
        #[arg(long = "group", value_name = "ID")]
        groups: Vec<String>,
        /// With a URL: an extra host the spoke may reach (repeatable).
        #[arg(long = "grant-host", value_name = "HOST")]
        grant_hosts: Vec<String>,
        /// With a URL: allow the reclaim and restore rules to write to the tenant.
        #[arg(long)]
        allow_writes: bool,
        /// Record every exchange with the vendor to this file (JSON; never the token), to
        /// replay later with `--replay`.
        #[arg(long, value_name = "FILE", conflicts_with = "replay")]
        record: Option<PathBuf>,
        /// Replay a recording made with `--record` instead of reaching a vendor: no network;
        /// its config, groups and time are the recorded ones.
        #[arg(long, value_name = "FILE")]
        replay: Option<PathBuf>,
        /// With the simulator: how many users its tenant has.
        #[arg(long, default_value_t = 600)]
        users: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Start a new spoke project from a template: one build command away from a component
    /// that passes `sam plugin check --against example`.
    New {
        /// The spoke id: lowercase letters, digits and dashes (e.g. demo-vendor).
        name: String,
        /// The language.
        #[arg(long, value_enum, default_value_t = crate::scaffold::Lang::Rust)]
        lang: crate::scaffold::Lang,
        /// The project folder (default: ./NAME); must not exist or be empty.
        #[arg(long, value_name = "PATH")]
        dir: Option<PathBuf>,
        /// The Rust SDK folder a Rust project depends on (default: this checkout's sdk/rust).
        #[arg(long, value_name = "PATH")]
        sdk: Option<PathBuf>,
    },
    /// Print the contract's reference (Markdown), generated from the WIT's doc comments:
    /// every interface, type and function a spoke implements or calls.
    Contract {
        /// The contract version (default: the current one; `0.1.0` for the frozen first).
        #[arg(long, value_name = "VERSION")]
        version: Option<String>,
    },
    /// Approve a profile's spoke component after it changed: shows what its manifest asks
    /// for now against what was approved (hosts, processes, scopes, auth), then pins it.
    Trust {
        /// The profile.
        profile: String,
        /// Approve without asking.
        #[arg(long)]
        yes: bool,
    },
}

pub(super) async fn run(
    host: &SpokeHost,
    command: PluginCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match command {
        PluginCommand::List { format } => list(host, format, out).await,
        PluginCommand::Contract { version } => {
            let text = crate::contract_doc::reference(version.as_deref()).map_err(|e| match e {
                crate::contract_doc::ContractDocError::UnknownVersion { .. } => {
                    CliError::User(e.to_string())
                }
                _ => CliError::Failure(e.to_string()),
            })?;
            write_out(out, &text)
        }
        PluginCommand::Inspect { file, json } => {
            let spoke = load_spoke(host, &file).await?;
            let sha256 = spoke.sha256().to_string();
            let bytes = spoke_bytes(&file).await?;
            let size = bytes.len();
            let times = host
                .measure_load(bytes, spoke.id())
                .await
                .map_err(load_error)?;
            let text = if json {
                let mut text = inspect_json(spoke.manifest(), spoke.contract_version(), &sha256)?;
                if let Ok(serde_json::Value::Object(mut document)) =
                    serde_json::from_str::<serde_json::Value>(&text)
                {
                    document.insert("size_bytes".into(), size.into());
                    document.insert(
                        "load_ms".into(),
                        serde_json::json!({
                            "cold": times.cold.as_secs_f64() * 1e3,
                            "warm": times.warm.as_secs_f64() * 1e3,
                        }),
                    );
                    text = serde_json::to_string_pretty(&document)
                        .map_err(|e| CliError::Failure(format!("cannot encode JSON: {e}")))?;
                    text.push('\n');
                }
                text
            } else {
                let text = inspect_text(spoke.manifest(), spoke.contract_version());
                let facts = format!(
                    "sha256: {sha256}\nsize: {} bytes ({:.1} MiB)\nload: {:.0} ms cold (compiled), {:.1} ms warm (from the compile cache)",
                    size,
                    size as f64 / (1024.0 * 1024.0),
                    times.cold.as_secs_f64() * 1e3,
                    times.warm.as_secs_f64() * 1e3,
                );
                match text.split_once("\ncontract: ") {
                    Some((head, tail)) => format!("{head}\n{facts}\ncontract: {tail}"),
                    None => format!("{facts}\n{text}"),
                }
            };
            write_out(out, &text)
        }
        PluginCommand::Trust { profile, yes } => trust(host, &profile, yes, out).await,
        PluginCommand::New {
            name,
            lang,
            dir,
            sdk,
        } => {
            use crate::scaffold;
            let request = scaffold::NewSpoke {
                dir: dir.unwrap_or_else(|| PathBuf::from(&name)),
                name,
                lang,
                sdk_path: sdk.unwrap_or_else(scaffold::default_sdk_path),
            };
            let made = scaffold::create(&request).map_err(|e| CliError::User(e.to_string()))?;
            write_out(
                out,
                &format!(
                    "Created {} spoke `{}` in {} ({} files).\nBuild:  cd {} && {}\nCheck:  {}\n",
                    lang,
                    request.name,
                    made.dir.display(),
                    made.files.len(),
                    made.dir.display(),
                    made.build_command,
                    made.check_command()
                ),
            )
        }
        PluginCommand::Check {
            file,
            against,
            token_env,
            config,
            groups,
            grant_hosts,
            allow_writes,
            record,
            replay,
            users,
            json,
        } => {
            use crate::conformance::Kit;
            let spoke = load_spoke(host, &file).await?;
            let id = spoke.id().to_string();
            let mut kit = Kit::new(spoke).users(users);
            kit = if let Some(replay) = replay {
                kit.replay(replay)
            } else if against == "simulator" {
                kit.against_simulator()
            } else if against == "example" {
                kit.against_example()
            } else {
                let var = token_env.ok_or_else(|| {
                    CliError::User(
                        "checking against a URL needs --token-env VAR (a bearer token)".into(),
                    )
                })?;
                let token = std::env::var(&var).map_err(|_| {
                    CliError::User(format!("environment variable {var} is not set"))
                })?;
                let mut kit = kit.against_url(against.clone(), token);
                for pair in &config {
                    let (name, value) = pair.split_once('=').ok_or_else(|| {
                        CliError::User(format!("--config `{pair}` is not NAME=VALUE"))
                    })?;
                    kit = kit.config(name.trim(), value.trim());
                }
                for group in groups {
                    kit = kit.group(group);
                }
                for host in grant_hosts {
                    kit = kit.grant_host(host);
                }
                if allow_writes {
                    kit.allow_writes()
                } else {
                    kit
                }
            };
            if let Some(record) = record {
                kit = kit.record_to(record);
            }
            let report = kit.run().await.map_err(kit_error)?;
            let text = if json {
                let mut text = serde_json::to_string_pretty(&report.to_json())
                    .map_err(|e| CliError::Failure(format!("cannot encode JSON: {e}")))?;
                text.push('\n');
                text
            } else {
                report.table()
            };
            write_out(out, &text)?;
            if report.passed() {
                Ok(())
            } else if report.failed().is_empty() {
                Err(CliError::Failure(format!(
                    "spoke `{id}` asked for what the recording does not hold: {}; record again",
                    report.unrecorded().join(", ")
                )))
            } else {
                Err(CliError::Failure(format!(
                    "spoke `{id}` failed the conformance kit: {}",
                    report.failed().join(", ")
                )))
            }
        }
    }
}

fn kit_error(error: crate::conformance::KitError) -> CliError {
    use crate::conformance::KitError;
    match error {
        KitError::Load(error) => load_error(error),
        KitError::Simulator(_) => CliError::Failure(error.to_string()),
        _ => CliError::User(error.to_string()),
    }
}

/// The component bytes of a spoke file, or of the bundled spoke it names.
async fn spoke_bytes(spoke: &Path) -> Result<Vec<u8>, CliError> {
    if !spoke.exists()
        && let Some(bundled) = spoke.to_str().and_then(crate::bundled::find)
    {
        return Ok(bundled.wasm.to_vec());
    }
    tokio::fs::read(spoke)
        .await
        .map_err(|e| CliError::User(format!("cannot read {}: {e}", spoke.display())))
}

/// Loads a spoke from a file, or from the binary when `spoke` names a bundled one and no
/// such file exists.
pub(super) async fn load_spoke(host: &SpokeHost, spoke: &Path) -> Result<LoadedSpoke, CliError> {
    if !spoke.exists()
        && let Some(bundled) = spoke.to_str().and_then(crate::bundled::find)
    {
        return host
            .load_bytes(bundled.wasm.to_vec(), bundled.name)
            .await
            .map_err(load_error);
    }
    host.load_file(spoke).await.map_err(|error| match error {
        LoadError::Read { .. } if spoke.extension().is_none() => {
            let names: Vec<&str> = crate::bundled::all().iter().map(|b| b.name).collect();
            CliError::User(format!(
                "{error}; give a .wasm file or a bundled spoke ({})",
                if names.is_empty() {
                    "none in this build".to_string()
                } else {
                    names.join(", ")
                }
            ))
        }
        other => load_error(other),
    })
}

fn load_error(error: LoadError) -> CliError {
    match error {
        LoadError::Manifest { .. } => CliError::Failure(error.to_string()),
        _ => CliError::User(error.to_string()),
    }
}

/// `sam plugin trust PROFILE`: shows how the profile's component now differs from the
/// approved one, asks (unless `yes`), and has the engine pin the component it showed.
async fn trust(
    host: &SpokeHost,
    name: &str,
    yes: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    use crate::app::plugins::{ApproveComponent, TrustQuery};
    use crate::model::format_utc;
    use std::io::IsTerminal;
    let settings = crate::config::current().map_err(|e| CliError::User(e.to_string()))?;
    let engine = super::engine::engine(host, &settings, false).await?;
    let view = engine
        .plugins_trust_diff(TrustQuery {
            profile: name.to_string(),
        })
        .await?;
    if view.same {
        return write_out(
            out,
            &format!(
                "profile `{name}` already runs the approved component (sha256 {})\n",
                view.now.sha256
            ),
        );
    }
    let mut text = format!(
        "profile `{name}`: spoke {}\napproved: {}\nnow:      sha256 {} ({} {})\n",
        crate::host::untrusted::inert_bounded(&view.spoke_path, 300),
        match &view.approved {
            Some(p) => format!(
                "sha256 {} ({} {}), {}",
                p.sha256,
                p.spoke_id,
                p.version,
                p.pinned_at.map_or_else(String::new, format_utc)
            ),
            None => "nothing yet".into(),
        },
        view.now.sha256,
        view.now.spoke_id,
        view.now.version,
    );
    if view.changes.is_empty() {
        text.push_str("its manifest asks for the same hosts, processes, scopes and auth\n");
    } else {
        text.push_str("what its manifest asks for, against the approved one:\n");
        for line in &view.changes {
            text.push_str(&format!("  {line}\n"));
        }
    }
    write_out(out, &text)?;
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(CliError::User(format!(
                "not approved: pass --yes to approve this component for profile `{name}`"
            )));
        }
        eprint!("Approve this component for profile `{name}`? [y/N] ");
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Err(CliError::User("not approved".into()));
        }
    }
    let approved = engine
        .plugins_trust(ApproveComponent {
            profile: name.to_string(),
            sha256: view.now.sha256.clone(),
        })
        .await?;
    write_out(
        out,
        &format!(
            "approved: profile `{name}` now runs sha256 {}\n",
            approved.now.sha256
        ),
    )
}

fn inspect_json(manifest: &Manifest, contract: &str, sha256: &str) -> Result<String, CliError> {
    let document = serde_json::json!({
        "contract": format!("sam:spoke@{contract}"),
        "crash_safe_reclaim": contract != "0.1.0",
        "sha256": sha256,
        "manifest": manifest,
    });
    serde_json::to_string_pretty(&document)
        .map(|mut s| {
            s.push('\n');
            s
        })
        .map_err(|e| CliError::Failure(format!("cannot encode JSON: {e}")))
}

/// The human form of `plugin inspect`; `contract` is the version the component declares.
pub fn inspect_text(manifest: &Manifest, contract: &str) -> String {
    let note = if contract == CONTRACT_VERSION {
        String::new()
    } else {
        format!(
            " (older than this engine's {CONTRACT_VERSION}: adapted; its reclaims are not crash-safe)"
        )
    };
    let mut text = format!(
        "{} ({}) {} by {}\n{}\ncontract: sam:spoke@{contract}{note}\n\n",
        manifest.display_name,
        manifest.id,
        manifest.version,
        manifest.publisher,
        manifest.description
    );
    text.push_str("Minimal user permissions\n");
    let mut permissions = new_table(["Process", "Required user role", "Authentication scopes"]);
    for permission in &manifest.processes {
        let scopes = if permission.scopes.is_empty() {
            "none".to_string()
        } else {
            permission
                .scopes
                .iter()
                .map(|s| format!("• {s}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        permissions.add_row([
            permission.process.label().to_string(),
            permission.vendor_role.clone(),
            scopes,
        ]);
    }
    text.push_str(&format!("{permissions}\n\n"));

    let mut details = new_table(["Setting", "Value"]);
    match &manifest.auth {
        AuthScheme::Oauth2AuthorizationCode(oauth) => {
            details.add_row(["Authentication", "OAuth 2.0 authorization code"]);
            details.add_row(["Authorize URL", &oauth.authorize_url]);
            details.add_row(["Token URL", &oauth.token_url]);
            if let Some(audience) = &oauth.audience {
                details.add_row(["Audience", audience]);
            }
            details.add_row(["Base scopes", &oauth.base_scopes.join(" ")]);
            if !oauth.extra_parameters.is_empty() {
                let extra = oauth
                    .extra_parameters
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("&");
                details.add_row(["Extra parameters", &extra]);
            }
            if let Some(url) = &oauth.accessible_resources_url {
                details.add_row(["Accessible resources", url]);
            }
        }
        AuthScheme::BearerToken => {
            details.add_row(["Authentication", "Bearer token"]);
        }
        AuthScheme::AppInstallation(app) => {
            details.add_row(["Authentication", "App installation (RS256 JWT)"]);
            details.add_row(["Token path", &app.token_path]);
        }
    }
    for alternative in &manifest.auth_alternatives {
        let (name, detail) = match alternative {
            AuthScheme::Oauth2AuthorizationCode(o) => {
                ("OAuth 2.0 authorization code", o.token_url.clone())
            }
            AuthScheme::BearerToken => ("Bearer token", String::new()),
            AuthScheme::AppInstallation(app) => {
                ("App installation (RS256 JWT)", app.token_path.clone())
            }
        };
        details.add_row([
            "Alternative authentication".to_string(),
            format!("{name} {detail}").trim().to_string(),
        ]);
    }
    let scope = match &manifest.scope {
        Some(scope) if scope.required => {
            format!("{} (at least one): {}", scope.noun, scope.description)
        }
        Some(scope) => format!("{} (optional): {}", scope.noun, scope.description),
        None => "nothing to select".to_string(),
    };
    details.add_row(["Profile scope".to_string(), scope]);
    if manifest.activity_from_download {
        details.add_row(["Activity", "reported with the download (no extra calls)"]);
    }
    details.add_row(["Connection URL", &manifest.connection_url_template]);
    details.add_row(["Allowed hosts", &manifest.allowed_hosts.join(", ")]);
    details.add_row([
        "Activity look-back".to_string(),
        format!("{} days", manifest.activity_lookback_days),
    ]);
    let products = manifest
        .products
        .iter()
        .map(|p| match &p.edition {
            Some(edition) => format!("{} {edition} ({})", p.name, p.identifier),
            None => format!("{} ({})", p.name, p.identifier),
        })
        .collect::<Vec<_>>()
        .join(", ");
    details.add_row(["Products", &products]);
    text.push_str(&format!("{details}\n"));

    if !manifest.config_fields.is_empty() {
        text.push_str("\nConfiguration fields\n");
        let mut fields = new_table(["Field", "Label", "Required", "Description"]);
        for field in &manifest.config_fields {
            fields.add_row([
                field.name.as_str(),
                field.label.as_str(),
                if field.required { "yes" } else { "no" },
                field.description.as_str(),
            ]);
        }
        text.push_str(&format!("{fields}\n"));
    }
    text
}

fn new_table<const N: usize>(header: [&str; N]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(110)
        .set_header(header);
    table
}

/// `sam plugin list`: the bundled spokes and the `*.wasm` files of the plugins folder, each
/// loaded to read its manifest (a spoke that does not load is listed with its error).
async fn list(
    host: &SpokeHost,
    format: super::output::ListFormat,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let settings = crate::config::current().map_err(|e| CliError::User(e.to_string()))?;
    let mut rows: Vec<[String; 5]> = Vec::new();
    for bundled in crate::bundled::all() {
        let row = match host.load_bytes(bundled.wasm.to_vec(), bundled.name).await {
            Ok(spoke) => {
                let m = spoke.manifest();
                [
                    m.id.clone(),
                    m.display_name.clone(),
                    m.version.clone(),
                    "bundled".into(),
                    String::new(),
                ]
            }
            Err(e) => [
                bundled.name.into(),
                String::new(),
                String::new(),
                "bundled".into(),
                e.to_string(),
            ],
        };
        rows.push(row);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&settings.plugins_dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    for file in files {
        let source = file.display().to_string();
        let row = match host.load_file(&file).await {
            Ok(spoke) => {
                let m = spoke.manifest();
                [
                    m.id.clone(),
                    m.display_name.clone(),
                    m.version.clone(),
                    source,
                    String::new(),
                ]
            }
            Err(e) => [
                String::new(),
                String::new(),
                String::new(),
                source,
                e.to_string(),
            ],
        };
        rows.push(row);
    }
    let records: Vec<_> = rows
        .iter()
        .map(|r| serde_json::json!({"id": r[0], "name": r[1], "version": r[2], "source": r[3], "error": r[4]}))
        .collect();
    super::output::Listing {
        records: &records,
        header: &["Spoke", "Name", "Version", "Source", "Error"],
        rows: rows.into_iter().map(Vec::from).collect(),
        footer: Some(format!(
            "plugins folder: {}",
            settings.plugins_dir.display()
        )),
    }
    .print(format, out)
}
