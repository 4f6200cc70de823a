//! `sam plugin …`: what an integrator runs on a spoke before trusting it. `inspect` loads the
//! component in the sandbox, reads its manifest and prints it, with the permissions table in
//! the style of the reference guide's "Minimal user permissions" (process, vendor role, OAuth
//! scopes); `--json` prints the same as one JSON document.

use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use super::{CliError, write_out};
use crate::contract::{AuthScheme, CONTRACT_VERSION, Manifest};
use crate::host::{LoadError, SpokeHost};

/// `sam plugin` subcommands.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Print a spoke's manifest and the permissions it needs.
    Inspect {
        /// The spoke component (`.wasm`).
        file: PathBuf,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
}

pub(super) async fn run(
    host: &SpokeHost,
    command: PluginCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match command {
        PluginCommand::Inspect { file, json } => {
            let spoke = host.load_file(&file).await.map_err(load_error)?;
            let text = if json {
                inspect_json(spoke.manifest())?
            } else {
                inspect_text(spoke.manifest())
            };
            write_out(out, &text)
        }
    }
}

fn load_error(error: LoadError) -> CliError {
    match error {
        LoadError::Manifest { .. } => CliError::Failure(error.to_string()),
        _ => CliError::User(error.to_string()),
    }
}

fn inspect_json(manifest: &Manifest) -> Result<String, CliError> {
    let document = serde_json::json!({
        "contract": format!("sam:spoke@{CONTRACT_VERSION}"),
        "manifest": manifest,
    });
    serde_json::to_string_pretty(&document)
        .map(|mut s| {
            s.push('\n');
            s
        })
        .map_err(|e| CliError::Failure(format!("cannot encode JSON: {e}")))
}

/// The human form of `plugin inspect`.
pub fn inspect_text(manifest: &Manifest) -> String {
    let mut text = format!(
        "{} ({}) {} by {}\n{}\ncontract: sam:spoke@{CONTRACT_VERSION}\n\n",
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
