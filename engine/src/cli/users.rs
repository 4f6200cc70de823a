//! `sam users add|list|remove`: the web console's password users (parse, call, print). The
//! password is read from the first line of standard input, so it is never in the shell's
//! history or the process list: `printf '%s\n' "$PASSWORD" | sam users add alice --role admin`.

use std::io::{BufRead, Write};

use clap::Subcommand;

use super::output::{ListFormat, Listing};
use super::{CliError, write_out};
use crate::app::ops::Engine;
use crate::app::users::{AddUser, RemoveUser, UsersQuery};
use crate::model::{Role, format_utc};

/// `sam users` subcommands.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add a console user, or reset one's password and role (the password from stdin).
    Add {
        /// The sign-in name.
        name: String,
        /// What the user may do.
        #[arg(long, value_enum, default_value_t = Role::Viewer)]
        role: Role,
    },
    /// List the console users.
    List {
        #[command(flatten)]
        format: ListFormat,
    },
    /// Remove a console user.
    Remove {
        /// The sign-in name.
        name: String,
    },
}

pub(super) async fn run(
    engine: &Engine,
    command: UsersCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match command {
        UsersCommand::Add { name, role } => {
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .map_err(|e| CliError::User(format!("cannot read the password from stdin: {e}")))?;
            let password = password.trim_end_matches(['\r', '\n']).to_string();
            let user = engine
                .users_add(AddUser {
                    name,
                    role,
                    password,
                })
                .await?;
            write_out(
                out,
                &format!(
                    "console user `{}` ({}) can sign in to the web console\n",
                    user.name, user.role
                ),
            )
        }
        UsersCommand::List { format } => {
            let list = engine.users_list(UsersQuery {}).await?;
            Listing {
                records: &list,
                header: &["Name", "Role", "Since", "By"],
                rows: list
                    .users
                    .iter()
                    .map(|u| {
                        vec![
                            u.name.clone(),
                            u.role.to_string(),
                            format!("{} UTC", format_utc(u.created_at)),
                            u.created_by.clone(),
                        ]
                    })
                    .collect(),
                footer: Some(format!("{} users", list.users.len())),
            }
            .print(format, out)
        }
        UsersCommand::Remove { name } => {
            let user = engine.users_remove(RemoveUser { name }).await?;
            write_out(out, &format!("console user `{}` removed\n", user.name))
        }
    }
}
