//! Console users who sign in with a password (`sam users add NAME --role ROLE`): the
//! operations that add (or reset), list and remove them, as application operations of the
//! operation table (admin only, audited), and the password check of the sign-in page. Only
//! an argon2id hash (PHC string, random salt) is stored; an unknown name costs the same
//! hash as a wrong password, so the answer time does not tell which names exist.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::{Deserialize, Serialize};

use crate::app::{Actor, App, AppError, store_failure, write_failure};
use crate::model::{AuditAction, ConsoleUser, EpochSeconds, Role};
use crate::store::Store;

/// `POST /api/v1/users`: add a console user, or reset an existing one's password and role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AddUser {
    /// The sign-in name (1 to 64 letters, digits, `.`, `_`, `-`, `@`).
    pub name: String,
    /// viewer, approver or admin.
    pub role: Role,
    /// The password (at least 12 characters); only its hash is kept.
    pub password: String,
}

/// A console user as listed (never the hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserView {
    /// The sign-in name.
    pub name: String,
    /// The role.
    pub role: Role,
    /// When added or last changed.
    pub created_at: EpochSeconds,
    /// By whom.
    pub created_by: String,
}

/// `GET /api/v1/users`: no filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UsersQuery {}

/// The console users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserList {
    /// By name.
    pub users: Vec<UserView>,
}

/// `POST /api/v1/users/remove`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RemoveUser {
    /// The sign-in name.
    pub name: String,
}

impl From<&ConsoleUser> for UserView {
    fn from(u: &ConsoleUser) -> Self {
        Self {
            name: u.name.clone(),
            role: u.role,
            created_at: u.created_at,
            created_by: u.created_by.clone(),
        }
    }
}

/// The shortest password accepted.
pub const MIN_PASSWORD: usize = 12;

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

/// The argon2id PHC hash of `password` with a random salt.
pub fn hash_password(password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Failed(format!("cannot hash the password: {e}")))
}

fn password_matches(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash to check against when the name is unknown (same cost as a real check).
static DECOY: LazyLock<String> =
    LazyLock::new(|| hash_password("decoy password, never valid").unwrap_or_default());

/// The actor a console user stands for.
fn user_actor(user: &ConsoleUser) -> Actor {
    Actor {
        name: format!("web:{}", user.name),
        role: user.role,
    }
}

/// What a console session was signed in with, kept with the session so that every request
/// checks it again: a revoked token, a removed user or a reset password ends the session at
/// once, and a changed role applies at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedInWith {
    /// An API token, by id.
    Token(String),
    /// A console user, with the password hash the sign-in was checked against.
    User {
        /// The sign-in name.
        name: String,
        /// The PHC hash (a reset writes a new one, with a new salt).
        password_hash: String,
    },
}

/// The stored console user a name and password are; `Unauthorized` (one message) otherwise.
fn verify_user(store: &Store, name: &str, password: &str) -> Result<ConsoleUser, AppError> {
    let refused = || AppError::Unauthorized("invalid name or password".into());
    let user = if valid_name(name) {
        store
            .read()
            .and_then(|r| r.console_user(name))
            .map_err(store_failure)?
    } else {
        None
    };
    match user {
        Some(user) if password_matches(&user.password_hash, password) => Ok(user),
        Some(_) => Err(refused()),
        None => {
            let _ = password_matches(&DECOY, password);
            Err(refused())
        }
    }
}

impl App {
    /// Adds a console user, or resets one's password and role.
    pub async fn users_add(&self, _actor: &Actor, req: AddUser) -> Result<UserView, AppError> {
        let name = req.name.trim().to_string();
        if !valid_name(&name) {
            return Err(AppError::Invalid(
                "a user name is 1 to 64 letters, digits, `.`, `_`, `-` or `@`".into(),
            ));
        }
        if req.password.chars().count() < MIN_PASSWORD {
            return Err(AppError::Invalid(format!(
                "a password needs at least {MIN_PASSWORD} characters"
            )));
        }
        let password = req.password;
        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|e| AppError::Failed(e.to_string()))??;
        let user = ConsoleUser {
            name: name.clone(),
            role: req.role,
            password_hash: hash,
            created_at: self.now(),
            created_by: crate::store::current_actor(),
        };
        let now = self.now();
        self.store()
            .write(|tx| {
                let existed = tx.console_user(&name)?.is_some();
                tx.put_console_user(&user)?;
                tx.audit(
                    now,
                    None,
                    AuditAction::ConsoleUserChanged,
                    format!(
                        "console user `{name}` {} with role {}",
                        if existed { "reset" } else { "added" },
                        user.role
                    ),
                    None,
                )?;
                Ok::<_, crate::store::WriteError>(())
            })
            .map_err(write_failure)?;
        Ok(UserView::from(&user))
    }

    /// The console users.
    pub async fn users_list(&self, _actor: &Actor, _q: UsersQuery) -> Result<UserList, AppError> {
        let users = self.store().read()?.console_users()?;
        Ok(UserList {
            users: users.iter().map(UserView::from).collect(),
        })
    }

    /// Removes a console user (their sessions end at their next request's expiry).
    pub async fn users_remove(
        &self,
        _actor: &Actor,
        req: RemoveUser,
    ) -> Result<UserView, AppError> {
        let now = self.now();
        self.store().write(|tx| {
            let user = tx
                .console_user(&req.name)
                .map_err(write_failure)?
                .ok_or_else(|| AppError::NotFound(format!("no console user `{}`", req.name)))?;
            tx.delete_console_user(&req.name).map_err(write_failure)?;
            tx.audit(
                now,
                None,
                AuditAction::ConsoleUserChanged,
                format!("console user `{}` removed", req.name),
                None,
            )
            .map_err(write_failure)?;
            Ok(UserView::from(&user))
        })
    }
}

impl App {
    /// The sign-in check of an API token (the console's token sign-in): its actor, and what
    /// the session keeps to check it again.
    pub async fn sign_in_with_token(
        &self,
        token: String,
    ) -> Result<(Actor, SignedInWith), AppError> {
        let store = self.store().clone();
        let token =
            tokio::task::spawn_blocking(move || crate::app::tokens::verify_token(&store, &token))
                .await
                .map_err(|e| AppError::Failed(e.to_string()))??;
        Ok((
            crate::app::tokens::token_actor(&token),
            SignedInWith::Token(token.id),
        ))
    }

    /// The sign-in check of a console user's password (argon2, off the async threads).
    pub async fn sign_in_with_password(
        &self,
        name: String,
        password: String,
    ) -> Result<(Actor, SignedInWith), AppError> {
        let store = self.store().clone();
        let user = tokio::task::spawn_blocking(move || verify_user(&store, &name, &password))
            .await
            .map_err(|e| AppError::Failed(e.to_string()))??;
        Ok((
            user_actor(&user),
            SignedInWith::User {
                name: user.name,
                password_hash: user.password_hash,
            },
        ))
    }

    /// Who a console session signed in with stands for now (its current role); `Unauthorized`
    /// when the token was revoked or removed, or the user removed or given a new password.
    /// One read, no hashing: it runs on every console request.
    pub fn signed_in_actor(&self, with: &SignedInWith) -> Result<Actor, AppError> {
        let ended =
            || AppError::Unauthorized("the sign-in of this session is no longer valid".into());
        let read = self.store().read()?;
        match with {
            SignedInWith::Token(id) => match read.api_token(id)? {
                Some(token) if token.revoked_at.is_none() => {
                    Ok(crate::app::tokens::token_actor(&token))
                }
                _ => Err(ended()),
            },
            SignedInWith::User {
                name,
                password_hash,
            } => match read.console_user(name)? {
                Some(user) if user.password_hash == *password_hash => Ok(user_actor(&user)),
                _ => Err(ended()),
            },
        }
    }

    /// Whether the answer link `id` was used already (links are single-use).
    pub fn answer_link_used(&self, id: &str) -> Result<bool, AppError> {
        Ok(self.store().read()?.used_answer_link(id)?.is_some())
    }

    /// Marks an answer link used; false when it was used already (by a concurrent answer).
    pub fn use_answer_link(&self, record: &crate::model::UsedAnswerLink) -> Result<bool, AppError> {
        self.store()
            .write(|tx| tx.use_answer_link(record))
            .map_err(AppError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_hash_is_argon2id_salted_and_checks_only_its_password() {
        let a = hash_password("correct horse battery").unwrap();
        let b = hash_password("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "salted");
        assert!(password_matches(&a, "correct horse battery"));
        assert!(!password_matches(&a, "correct horse batterY"));
        assert!(!password_matches("not a hash", "x"));
    }
}
