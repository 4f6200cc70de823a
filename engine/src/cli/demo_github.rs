//! `sam demo --spoke github-copilot`: the whole job on the bundled GitHub simulator. It starts
//! the simulator with a seeded organization (direct and team-granted Copilot seats, pending
//! cancellations, idle holders), creates a profile that authenticates as the simulator's
//! GitHub App (sam signs the JWT with the app's private key, stored sealed, and mints the
//! installation tokens), validates, publishes, downloads the seats (their activity comes on
//! the same pages), records a sample entitlement, reclaims (a dry run unless `--reclaim`),
//! reconciles (the vendor's own seat counts beside the entitlement) and prints where the
//! seats stand. Same folder rules as the Confluence demo.

use std::io::Write;

use super::demo::DemoArgs;
use super::{CliError, write_out};
use crate::config::Settings;
use crate::host::SpokeHost;

#[cfg(not(feature = "simulator"))]
pub(super) async fn walk(
    _host: &SpokeHost,
    _settings: &Settings,
    _args: &DemoArgs,
    _out: &mut dyn Write,
) -> Result<(), CliError> {
    Err(CliError::User(
        "this sam was built without the bundled simulators (feature `simulator`)".into(),
    ))
}

#[cfg(feature = "simulator")]
pub(super) async fn walk(
    host: &SpokeHost,
    settings: &Settings,
    args: &DemoArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    use std::path::PathBuf;

    use github_sim::{RateLimitConfig, SimConfig, Simulator};

    use super::demo::step;
    use super::profile::{CreateArgs, ProfileCommand};

    crate::config::set_current(settings.clone());
    let db = settings.db.clone();
    let dir = db
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();

    step(out, 1, "Start the bundled GitHub simulator")?;
    let sim = Simulator::start(SimConfig {
        seats: args.users,
        seed: args.seed,
        rate_limit: RateLimitConfig::unlimited(),
        log_calls: false,
        ..SimConfig::default()
    })
    .await
    .map_err(|e| CliError::Failure(format!("cannot start the GitHub simulator: {e}")))?;
    let key_file = dir.join("github-app.pem");
    std::fs::write(&key_file, sim.app_private_key_pem())
        .map_err(|e| CliError::Failure(format!("cannot write {}: {e}", key_file.display())))?;
    write_out(
        out,
        &format!(
            "simulator at {} (organization {}, {} Copilot seats)\nGitHub App: id {}, installation {}, private key {}\n",
            sim.base_url(),
            sim.org(),
            sim.seat_count(),
            sim.app_id(),
            sim.installation_id(),
            key_file.display()
        ),
    )?;

    step(
        out,
        2,
        "Create the integration profile (Draft), authenticated as the GitHub App",
    )?;
    super::profile::run(
        host,
        settings,
        ProfileCommand::Create(CreateArgs {
            name: "demo".into(),
            spoke: PathBuf::from("github-copilot"),
            connection_url: Some(sim.base_url()),
            grant_hosts: vec!["127.0.0.1".into()],
            config: vec![format!("org={}", sim.org())],
            groups: Vec::new(),
            token_env: None,
            app_id: Some(sim.app_id().to_string()),
            installation_id: Some(sim.installation_id().to_string()),
            app_key_file: Some(key_file.clone()),
            display_name: Some("GitHub Copilot Demo".into()),
            no_activity: false,
            no_reclaim: false,
            analyze_from: None,
        }),
        out,
    )
    .await?;

    step(
        out,
        3,
        "Validate (the seat listing and the billing summary)",
    )?;
    {
        let engine = super::engine::engine(host, settings, false).await?;
        super::profile::validate(&engine, "demo", false, out).await?;
    }

    step(
        out,
        4,
        "Publish: software models, reclamation rules, scheduled jobs",
    )?;
    {
        let engine = super::engine::engine(host, settings, false).await?;
        super::profile::publish(&engine, "demo", out).await?;
    }

    step(
        out,
        5,
        "Download the seats (with each seat's last activity, on the same pages)",
    )?;
    let active = super::demo::download_and_count(host, settings, out, &mut |out| {
        step(out, 6, "Activity (already on the seat pages: no calls)")
    })
    .await?;

    super::demo::finish(
        host,
        settings,
        args,
        out,
        super::demo::Finish {
            first_step: 7,
            model: "github/github copilot/business",
            unit_cost: "19",
            reconcile: "Reconcile: the license position, with GitHub's own seat counts",
            active,
        },
    )
    .await?;
    write_out(
        out,
        "\nReal organizations use the same commands: see the GitHub section of docs/admin-guide.md.\n",
    )?;
    sim.shutdown().await;
    Ok(())
}
