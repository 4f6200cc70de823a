//! `sam key show|rotate`: the key that encrypts client secrets and tokens at rest. `show`
//! prints where the key comes from and its id (never the key). `rotate` re-encrypts every
//! stored secret in one transaction: with a key file, a new key is written to
//! `<key file>.new` first, the secrets are re-sealed with it, then it replaces the key file
//! (an interrupted rotation leaves both files, and sam opens secrets with either); with
//! `SAM_KEY`, set the new key in `SAM_KEY` and the old one in `SAM_KEY_PREVIOUS` and run
//! `sam key rotate`.

use std::io::Write;

use clap::Subcommand;

use super::profile::{open_store, store_failure, write_failure};
use super::{CliError, write_out};
use crate::app::session::keyring;
use crate::auth::secrets::{self, pending_path, write_key_file};
use crate::auth::{KeyError, KeySource, Keyring, MasterKey, slot};
use crate::config::Settings;
use crate::model::{AuthKind, OAuthConnection, SealedSecret};
use crate::store::WriteError;

/// `sam key` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Where the key comes from and its id.
    Show,
    /// Re-encrypt every stored secret with a new key.
    Rotate,
}

pub(super) fn run(
    settings: &Settings,
    command: KeyCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let ring = keyring(settings)?;
    match command {
        KeyCommand::Show => {
            let source = match ring.source() {
                KeySource::Env => format!("${}", secrets::KEY_ENV),
                KeySource::File(p) => p.display().to_string(),
            };
            write_out(
                out,
                &format!("key: {source}\nkey id: {}\n", ring.primary().id()),
            )
        }
        KeyCommand::Rotate => rotate(settings, ring, out),
    }
}

fn rotate(settings: &Settings, ring: Keyring, out: &mut dyn Write) -> Result<(), CliError> {
    let store = open_store(Some(&settings.db))?;
    let (new_ring, finish) = match ring.source().clone() {
        KeySource::Env => {
            if std::env::var_os(secrets::PREVIOUS_KEY_ENV).is_none() {
                return Err(CliError::User(format!(
                    "to rotate a key held in ${0}: put the new key in ${0} and the old one in ${1}, then run `sam key rotate`",
                    secrets::KEY_ENV,
                    secrets::PREVIOUS_KEY_ENV
                )));
            }
            (ring.clone(), None)
        }
        KeySource::File(path) => {
            let pending = pending_path(&path);
            let new = if pending.exists() {
                // An interrupted rotation: finish it with the key it wrote.
                Keyring::load(None, None, &pending)
                    .map_err(|e| CliError::User(e.to_string()))?
                    .primary()
                    .clone()
            } else {
                let key = MasterKey::generate();
                write_key_file(&pending, &key).map_err(|e| CliError::User(e.to_string()))?;
                key
            };
            (ring.rotated_to(new), Some((pending, path)))
        }
    };
    let count = store
        .write(|tx| {
            let mut n = 0;
            for mut record in tx.oauth_connections()? {
                reseal(&mut record, &new_ring).map_err(|e| WriteError::NotFound {
                    what: format!("a readable secret of `{}` ({e})", record.credential_key),
                })?;
                tx.put_oauth_connection(&record)?;
                n += 1;
            }
            for mut record in tx.all_extra_credentials()? {
                let slot = crate::model::ExtraCredentialRecord::slot(&record.profile, &record.name);
                let plain =
                    new_ring
                        .open(&slot, &record.secret)
                        .map_err(|e| WriteError::NotFound {
                            what: format!(
                                "a readable `{}` of profile `{}` ({e})",
                                record.name, record.profile
                            ),
                        })?;
                record.secret = new_ring.seal(&slot, plain.expose());
                tx.put_extra_credential(&record)?;
            }
            // App installation private keys live sealed in their connection.
            for mut connection in tx.all_connections()? {
                let alias = connection.alias.clone();
                if let AuthKind::AppInstallation { private_key, .. } = &mut connection.auth {
                    let slot = slot(&alias, crate::app::session::APP_KEY_SLOT);
                    let plain =
                        new_ring
                            .open(&slot, private_key)
                            .map_err(|e| WriteError::NotFound {
                                what: format!("a readable app key of `{alias}` ({e})"),
                            })?;
                    *private_key = new_ring.seal(&slot, plain.expose());
                    tx.put_connection(&connection)?;
                    n += 1;
                }
            }
            Ok::<_, WriteError>(n)
        })
        .map_err(write_failure)?;
    if let Some((pending, path)) = finish {
        std::fs::rename(&pending, &path).map_err(|e| {
            store_failure(format!(
                "secrets are re-encrypted with the key in {}, but it could not replace {}: {e}; move it there by hand",
                pending.display(),
                path.display()
            ))
        })?;
    }
    write_out(
        out,
        &format!(
            "re-encrypted the secrets of {count} connection(s) with key {}\n",
            new_ring.primary().id()
        ),
    )
}

fn reseal(record: &mut OAuthConnection, ring: &Keyring) -> Result<(), KeyError> {
    let key = record.credential_key.clone();
    let redo = |field: &str, sealed: &mut Option<SealedSecret>| -> Result<(), KeyError> {
        if let Some(s) = sealed.as_ref() {
            let slot = slot(&key, field);
            let plain = ring.open(&slot, s)?;
            *sealed = Some(ring.seal(&slot, plain.expose()));
        }
        Ok(())
    };
    redo("client_secret", &mut record.client_secret)?;
    redo("access_token", &mut record.access_token)?;
    redo("refresh_token", &mut record.refresh_token)?;
    if let Some(p) = record.pending.as_mut() {
        let mut state = Some(p.state.clone());
        redo("state", &mut state)?;
        if let Some(s) = state {
            p.state = s;
        }
        redo("pkce_verifier", &mut p.pkce_verifier)?;
    }
    Ok(())
}
