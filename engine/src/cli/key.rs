//! `sam key show|rotate`: the key that encrypts client secrets and tokens at rest. `show`
//! prints where the key comes from and its id (never the key). `rotate` re-encrypts every
//! stored secret in one transaction: with a key file, a new key is written to
//! `<key file>.new` first, the secrets are re-sealed with it, then it replaces the key file
//! (an interrupted rotation leaves both files, and sam opens secrets with either); with
//! `SAM_KEY`, set the new key in `SAM_KEY` and the old one in `SAM_KEY_PREVIOUS` and run
//! `sam key rotate`. The rotation runs in the engine that holds the database (the daemon's
//! `SAM_KEY`/`SAM_KEY_PREVIOUS` when a daemon runs); `show` reads this process's key.

use std::io::Write;

use clap::Subcommand;

use super::{CliError, write_out};
use crate::app::profiles::RotateKey;
use crate::app::session::keyring;
use crate::auth::{KeySource, secrets};
use crate::config::Settings;
use crate::host::SpokeHost;

/// `sam key` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Where the key comes from and its id.
    Show,
    /// Re-encrypt every stored secret with a new key.
    Rotate,
}

pub(super) async fn run(
    host: &SpokeHost,
    settings: &Settings,
    command: KeyCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match command {
        KeyCommand::Show => {
            let ring = keyring(settings)?;
            let source = match ring.source() {
                KeySource::Env => format!("${}", secrets::KEY_ENV),
                KeySource::File(p) => p.display().to_string(),
            };
            write_out(
                out,
                &format!("key: {source}\nkey id: {}\n", ring.primary().id()),
            )
        }
        KeyCommand::Rotate => {
            let engine = super::engine::engine(host, settings, false).await?;
            let rotated = engine.key_rotate(RotateKey {}).await?;
            write_out(
                out,
                &format!(
                    "re-encrypted the secrets of {} connection(s) with key {}\n",
                    rotated.connections, rotated.key_id
                ),
            )
        }
    }
}
