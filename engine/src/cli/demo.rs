//! `sam demo`: the README's first command. On a fresh machine it starts the bundled
//! Confluence Cloud simulator on loopback with a seeded tenant and walks the admin path with
//! the same code as the commands an admin types: create a profile, connect it through the
//! real OAuth 2.0 (3LO) flow (authorize URL, loopback callback, code exchange,
//! accessible-resources; sam plays the browser, the simulator consents at once), select the
//! product-access group, validate, publish, run download and activity, record a sample
//! entitlement, reclaim (a dry run unless `--reclaim`), reconcile, and print the license
//! position, the activity picture and the top removal candidates.
//! Its database and key live in a folder of their own (removed at the end unless `--keep`),
//! so the admin's own database is never touched.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::{CliError, write_out};
use crate::config::Settings;
use crate::host::SpokeHost;

/// Arguments of `sam demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Users in the simulated tenant.
    #[arg(long, default_value_t = 1_000)]
    pub users: usize,
    /// Seed of the simulated tenant (same seed, same tenant).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Reclaim for real (default: a dry run).
    #[arg(long)]
    pub reclaim: bool,
    /// Keep the demo's folder (database and key) in this directory instead of a temporary
    /// one that is removed at the end.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
    /// The bundled spoke to demonstrate: `confluence-cloud` (OAuth 3LO, product-access
    /// groups) or `github-copilot` (a GitHub App, the organization's Copilot seats).
    #[arg(long, default_value = "confluence-cloud", value_name = "SPOKE")]
    pub spoke: String,
    /// Then keep the demo's daemon running with its web console (and the simulator behind
    /// it) on the configured listen address, printing the console's URL and a sign-in
    /// token; stop it with Ctrl-C.
    #[arg(long)]
    pub serve: bool,
}

#[cfg(not(feature = "simulator"))]
pub(super) async fn run(
    _host: &SpokeHost,
    _settings: &Settings,
    _args: DemoArgs,
    _out: &mut dyn Write,
) -> Result<(), CliError> {
    Err(CliError::User(
        "this sam was built without the bundled simulator (feature `simulator`), so it has no demo"
            .into(),
    ))
}

#[cfg(feature = "simulator")]
pub(super) async fn run(
    host: &SpokeHost,
    settings: &Settings,
    args: DemoArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let (dir, temporary) = match &args.keep {
        Some(dir) => (dir.clone(), false),
        None => (
            std::env::temp_dir().join(format!(
                "sam-demo-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0)
            )),
            true,
        ),
    };
    std::fs::create_dir_all(&dir).map_err(|e| {
        CliError::User(format!(
            "cannot create the demo folder {}: {e}",
            dir.display()
        ))
    })?;
    let demo_settings = Settings {
        db: dir.join("sam-demo.redb"),
        key_file: dir.join("key"),
        ..settings.clone()
    };
    let result = match args.spoke.as_str() {
        "github-copilot" if args.serve => Err(CliError::User(
            "--serve is offered with the confluence-cloud demo".into(),
        )),
        "confluence-cloud" => walk(host, &demo_settings, &args, out).await,
        "github-copilot" => super::demo_github::walk(host, &demo_settings, &args, out).await,
        other => Err(CliError::User(format!(
            "no demo for spoke `{other}`: choose confluence-cloud or github-copilot"
        ))),
    };
    // The commands of this run use the demo's settings; later ones get the caller's back.
    crate::config::set_current(settings.clone());
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    } else if result.is_ok() {
        write_out(
            out,
            &format!(
                "\nThe demo's database stays in {0}: sam --db {0}/sam-demo.redb --key-file {0}/key profile show demo\n",
                dir.display()
            ),
        )?;
    }
    result
}

#[cfg(feature = "simulator")]
async fn walk(
    host: &SpokeHost,
    settings: &Settings,
    args: &DemoArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    use confluence_sim::{RateLimitConfig, SimConfig, Simulator};

    use super::connect::{Browser, ConnectArgs, connect};
    use super::profile::{CreateArgs, ProfileCommand};
    use crate::auth::Secret;

    crate::config::set_current(settings.clone());

    // A free loopback port for the callback, registered with the simulated OAuth app.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| CliError::Failure(format!("no free loopback port for the callback: {e}")))?;
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    step(out, 1, "Start the bundled Confluence Cloud simulator")?;
    let sim = Simulator::start(SimConfig {
        users: args.users,
        seed: args.seed,
        redirect_uris: vec![redirect_uri.clone()],
        rate_limit: RateLimitConfig::unlimited(),
        log_calls: false,
        ..SimConfig::default()
    })
    .await
    .map_err(|e| CliError::Failure(format!("cannot start the simulator: {e}")))?;
    write_out(
        out,
        &format!(
            "simulator at {} ({} users, site {}, cloud id {})\nOAuth app: client id {}, callback {redirect_uri}\n",
            sim.base_url(),
            args.users,
            sim.site_url(),
            sim.cloud_id(),
            sim.client_id()
        ),
    )?;

    step(out, 2, "Create the integration profile (Draft)")?;
    super::profile::run(
        host,
        settings,
        ProfileCommand::Create(CreateArgs {
            name: "demo".into(),
            spoke: PathBuf::from("confluence-cloud"),
            connection_url: None,
            grant_hosts: Vec::new(),
            config: Vec::new(),
            groups: Vec::new(),
            token_env: None,
            app_id: None,
            installation_id: None,
            app_key_file: None,
            display_name: Some("Confluence Demo".into()),
            no_activity: false,
            no_reclaim: false,
            analyze_from: None,
        }),
        out,
    )
    .await?;
    super::profile::run(
        host,
        settings,
        ProfileCommand::Show {
            name: "demo".into(),
            json: false,
        },
        out,
    )
    .await?;

    step(
        out,
        3,
        "Connect with OAuth 2.0 (3LO): consent, callback, token, site",
    )?;
    {
        let engine = super::engine::engine(host, settings, false).await?;
        let connect_args = ConnectArgs {
            profile: "demo".into(),
            client_id: Some(sim.client_id().to_string()),
            redirect_uri: Some(redirect_uri.clone()),
            auth_base: Some(sim.auth_base_url()),
            api_base: Some(sim.api_base_url()),
            timeout: 60,
            ..ConnectArgs::default()
        };
        let secret = Secret::new(sim.client_secret());
        connect(
            &engine,
            settings,
            &connect_args,
            Some(secret),
            Browser::Follow,
            out,
        )
        .await?;
    }

    step(out, 4, "Select the product-access group")?;
    {
        let engine = super::engine::engine(host, settings, false).await?;
        super::groups::add(&engine, "demo", &["confluence-users".to_string()], out).await?;
    }

    step(
        out,
        5,
        "Validate the connection (download and activity APIs)",
    )?;
    {
        let engine = super::engine::engine(host, settings, false).await?;
        super::profile::validate(&engine, "demo", false, out).await?;
    }

    step(
        out,
        6,
        "Publish: software models, reclamation rules, scheduled jobs",
    )?;
    {
        let engine = super::engine::engine(host, settings, false).await?;
        super::profile::publish(&engine, "demo", out).await?;
    }

    step(out, 7, "Download subscriptions")?;
    let active = download_and_count(host, settings, out, &mut |out| {
        step(out, 8, "Download activity")
    })
    .await?;

    finish(
        host,
        settings,
        args,
        out,
        Finish {
            first_step: 9,
            model: "atlassian/confluence",
            unit_cost: "5.16",
            reconcile: "Reconcile: the license position",
            active,
        },
    )
    .await?;
    write_out(
        out,
        "\nReal tenants use the same commands with a real OAuth app: see docs/admin-guide.md.\n",
    )?;
    if args.serve {
        step(out, 13, "Serve the web console (Ctrl-C stops it)")?;
        let served = super::daemon::run(
            host,
            settings,
            super::daemon::DaemonArgs {
                listen: None,
                max_concurrent: 4,
                allow_hosts: Vec::new(),
                public_metrics: false,
                print_token: true,
            },
            out,
        )
        .await;
        sim.shutdown().await;
        return served;
    }
    sim.shutdown().await;
    Ok(())
}

/// Prints step `n`'s heading.
#[cfg(feature = "simulator")]
pub(super) fn step(out: &mut dyn Write, n: u32, text: &str) -> Result<(), CliError> {
    write_out(out, &format!("\n== {n}. {text}\n"))
}

/// The end both demos share, from the sample entitlement on (its step numbers from
/// `first_step`).
#[cfg(feature = "simulator")]
pub(super) struct Finish<'a> {
    /// The sample entitlement's step.
    pub first_step: u32,
    /// The software model the entitlement is for.
    pub model: &'a str,
    /// Its list price per right and month, in USD (Confluence Standard's, Copilot
    /// Business's).
    pub unit_cost: &'a str,
    /// The reconcile step's title.
    pub reconcile: &'a str,
    /// The profile's active seats (the entitlement is sized from them).
    pub active: u64,
}

/// Records a sample entitlement (the active seats rounded up to the next 50), reclaims (a
/// dry run unless `--reclaim`), reconciles and prints where the seats stand.
#[cfg(feature = "simulator")]
pub(super) async fn finish(
    host: &SpokeHost,
    settings: &Settings,
    args: &DemoArgs,
    out: &mut dyn Write,
    finish: Finish<'_>,
) -> Result<(), CliError> {
    let first = finish.first_step;
    step(out, first, "Record a sample entitlement")?;
    let rights = (finish.active / 50 + 1) * 50;
    command(
        host,
        settings,
        &[
            "entitlements",
            "add",
            finish.model,
            "--rights",
            &rights.to_string(),
            "--unit-cost",
            finish.unit_cost,
            "--note",
            "sam demo sample",
        ],
        out,
    )
    .await?;
    if args.reclaim {
        step(
            out,
            first + 1,
            "Reclaim the unused seats (within the per-run cap)",
        )?;
        command(
            host,
            settings,
            &["run", "reclaim", "--profile", "demo"],
            out,
        )
        .await?;
    } else {
        step(
            out,
            first + 1,
            "Reclaim, as a dry run (sam demo --reclaim acts)",
        )?;
        command(
            host,
            settings,
            &["run", "reclaim", "--profile", "demo", "--dry-run"],
            out,
        )
        .await?;
    }
    step(out, first + 2, finish.reconcile)?;
    command(host, settings, &["run", "reconcile"], out).await?;
    step(
        out,
        first + 3,
        "Where the seats stand, and the top removal candidates",
    )?;
    let store = super::profile::open_store(Some(&settings.db))?;
    write_out(out, &summary(&store, "demo")?)?;
    drop(store);
    if args.reclaim {
        command(
            host,
            settings,
            &["candidates", "list", "--profile", "demo"],
            out,
        )
        .await?;
    }
    Ok(())
}

/// The demo's downloads: subscriptions, then (after `between`, which prints the step's
/// heading) activity; answers the profile's active seats, which the sample entitlement is
/// sized from.
#[cfg(feature = "simulator")]
pub(super) async fn download_and_count(
    host: &SpokeHost,
    settings: &Settings,
    out: &mut dyn Write,
    between: &mut dyn FnMut(&mut dyn Write) -> Result<(), CliError>,
) -> Result<u64, CliError> {
    use super::run::RunCommand;
    for activity in [false, true] {
        if activity {
            between(out)?;
        }
        let profile = "demo".to_string();
        let command = if activity {
            RunCommand::Activity {
                profile,
                json: false,
                draft: false,
            }
        } else {
            RunCommand::Download {
                profile,
                json: false,
                draft: false,
            }
        };
        super::run::run(host, settings, command, out).await?;
    }
    let store = super::profile::open_store(Some(&settings.db))?;
    let read = store.read().map_err(super::profile::store_failure)?;
    Ok(read
        .subscription_counts("demo")
        .map_err(super::profile::store_failure)?
        .0)
}

/// Runs one `sam` command line (as an admin would type it) on the demo's database.
#[cfg(feature = "simulator")]
pub(super) async fn command(
    host: &SpokeHost,
    settings: &Settings,
    args: &[&str],
    out: &mut dyn Write,
) -> Result<(), CliError> {
    use clap::Parser;

    use super::{Cli, Command};

    let shown: Vec<String> = args
        .iter()
        .map(|a| {
            if a.contains(' ') {
                format!("'{a}'")
            } else {
                a.to_string()
            }
        })
        .collect();
    write_out(out, &format!("$ sam {}\n", shown.join(" ")))?;
    let cli = Cli::try_parse_from(std::iter::once("sam").chain(args.iter().copied()))
        .map_err(|e| CliError::Failure(format!("the demo's command is wrong: {e}")))?;
    match cli.command {
        Command::Run(c) => super::run::run(host, settings, c, out).await,
        Command::Candidates(c) => super::reclaim::candidates(host, settings, c, out).await,
        Command::Entitlements(c) => super::reconcile::entitlements(host, settings, c, out).await,
        Command::Position(a) => super::reconcile::position(host, settings, a, out).await,
        other => Err(CliError::Failure(format!(
            "the demo does not run {other:?}"
        ))),
    }
}

/// Per model, the profile's inactive holders a rule never proposes (apps, seats the vendor
/// already cancelled, reclamation exclusions), in one pass over its seats: they hold a seat,
/// so they count as used; judged as the position judged them (its time, the model's rule) and
/// kept out by the rule the evaluation applies, so inactive - kept out = the open candidates.
#[cfg(feature = "simulator")]
fn kept_out_by_model(
    read: &crate::store::ReadTx,
    profile: &str,
    rules: &std::collections::BTreeMap<String, (crate::model::ReclamationRule, i64)>,
) -> Result<std::collections::BTreeMap<String, u64>, crate::store::ReadError> {
    let spoke_id = read
        .profile(profile)?
        .map(|p| p.spoke_id)
        .unwrap_or_default();
    let exclusions: Vec<_> = read
        .exclusions()?
        .into_iter()
        .filter(|x| x.active)
        .collect();
    let pending: crate::reclaim::PendingSeats = read
        .pending_cancellations(profile)?
        .into_iter()
        .map(|p| (p.external_user_id, p.identifier))
        .collect();
    let mut kept_out = std::collections::BTreeMap::new();
    read.for_each_subscription_with_activity(profile, |s, activity| {
        let Some((model, (rule, at))) = s
            .model
            .as_deref()
            .filter(|_| s.active)
            .and_then(|m| rules.get_key_value(m))
        else {
            return;
        };
        if crate::reclaim::stale_since(&s, activity, rule, *at, None).is_some()
            && crate::reclaim::kept_out(&spoke_id, &s, rule, &exclusions, &pending).is_some()
        {
            *kept_out.entry(model.clone()).or_insert(0u64) += 1;
        }
    })?;
    Ok(kept_out)
}

/// The demo's last step: the same figures `sam position` and `sam candidates list` print,
/// each named by its definition (issue 24), and the first open removal candidates.
#[cfg(feature = "simulator")]
pub(super) fn summary(store: &crate::store::Store, profile: &str) -> Result<String, CliError> {
    use super::profile::store_failure;
    use crate::model::format_utc;

    let read = store.read().map_err(store_failure)?;
    let seats = read.subscription_counts(profile).map_err(store_failure)?.0;
    let mut text = format!("seats held on profile `{profile}`: {seats}\n");
    let positions: Vec<_> = read
        .latest_positions()
        .map_err(store_failure)?
        .into_iter()
        .filter(|r| r.position.rights_used + r.position.excluded > 0)
        .collect();
    let mut rules = std::collections::BTreeMap::new();
    for r in &positions {
        let rule = read
            .rule(&r.model)
            .map_err(store_failure)?
            .unwrap_or_else(|| crate::model::ReclamationRule::default_for(&r.model, r.computed_at));
        rules.insert(r.model.clone(), (rule, r.computed_at));
    }
    let kept_out = kept_out_by_model(&read, profile, &rules).map_err(store_failure)?;
    for r in &positions {
        let p = &r.position;
        let days = rules[&r.model].0.inactivity_days;
        let kept = match kept_out.get(&r.model) {
            Some(n) => format!(
                "; {n} of them kept out of reclaim: apps, seats the vendor already cancelled, reclamation exclusions"
            ),
            None => String::new(),
        };
        text.push_str(&format!(
            "{}: {} holders = {} using a right ({} active, {} inactive: no activity in the last {days} days{kept}) + {} excluded from license counts\n",
            r.model,
            p.rights_used + p.excluded,
            p.rights_used,
            p.rights_used - p.inactive,
            p.inactive,
            p.excluded
        ));
    }
    let candidates = read.candidates(profile).map_err(store_failure)?;
    let mut by_state: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for c in &candidates {
        *by_state.entry(c.state.key()).or_default() += 1;
    }
    let open: Vec<_> = candidates.iter().filter(|c| !c.state.is_closed()).collect();
    let states = if by_state.is_empty() {
        String::new()
    } else {
        format!(
            " ({})",
            by_state
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    text.push_str(&format!(
        "removal candidates (the inactive seats a rule proposes: the inactive less those kept out of reclaim): {} open, {} in all{states}\n",
        open.len(),
        candidates.len(),
    ));
    if open.is_empty() {
        text.push_str(if candidates.is_empty() {
            "no removal candidates are stored: a dry run stores none (`sam demo --reclaim` creates them and acts)\n"
        } else {
            "no open removal candidates\n"
        });
        return Ok(text);
    }
    let mut table = comfy_table::Table::new();
    table
        .load_preset(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_header(["Candidate", "User", "Email", "Last activity", "State"]);
    for c in open.iter().take(10) {
        table.add_row([
            c.id.to_string(),
            c.display_name
                .clone()
                .unwrap_or_else(|| c.external_user_id.clone()),
            c.email.clone().unwrap_or_default(),
            c.last_activity
                .map_or_else(|| crate::model::NO_ACTIVITY.to_string(), format_utc),
            c.state.key().to_string(),
        ]);
    }
    text.push_str(&format!("first open removal candidates:\n{table}\n"));
    Ok(text)
}
