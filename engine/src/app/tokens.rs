//! API tokens: creating (the secret is shown once, only its SHA-256 is stored), listing,
//! revoking, and verifying a presented token into an [`Actor`] with the token's role. Also the
//! local admin token a daemon writes on start to `<db>.token` (mode 0600, beside the
//! database), which the CLI of whoever can read the database reads to talk to that daemon.
//!
//! A token reads `sam_<id>_<secret>`: the id (12 hex digits) finds the record, the secret
//! (64 hex digits, 256 random bits) is compared by hash in constant time.

use std::io::Write;
use std::path::{Path, PathBuf};

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Actor, AppError, store_failure, write_failure};
use crate::model::{ApiToken, AuditAction, EpochSeconds, Role};
use crate::store::Store;

/// The name of the token the daemon creates for the local CLI.
pub const LOCAL_ADMIN: &str = "local-admin";

/// A token just created: the only time its secret is seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedToken {
    /// The public id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// The whole token, to give the caller (never shown again).
    pub token: String,
}

/// A token as listed (never its secret or hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenView {
    /// The public id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// When it was created (epoch seconds).
    pub created_at: EpochSeconds,
    /// Who created it.
    pub created_by: String,
    /// When it was revoked, if it was.
    pub revoked_at: Option<EpochSeconds>,
}

impl From<&ApiToken> for TokenView {
    fn from(t: &ApiToken) -> Self {
        Self {
            id: t.id.clone(),
            name: t.name.clone(),
            role: t.role,
            created_at: t.created_at,
            created_by: t.created_by.clone(),
            revoked_at: t.revoked_at,
        }
    }
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Creates a token named `name` with `role`; its secret is in the answer only.
pub fn create(
    store: &Store,
    now: EpochSeconds,
    name: &str,
    role: Role,
) -> Result<CreatedToken, AppError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        return Err(AppError::Invalid(
            "a token name must be 1 to 100 characters, without control characters".into(),
        ));
    }
    let mut id = [0u8; 6];
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut id);
    rand::rng().fill_bytes(&mut secret);
    let (id, secret) = (hex::encode(id), hex::encode(secret));
    let record = ApiToken {
        id: id.clone(),
        name: name.to_string(),
        role,
        secret_sha256: sha256_hex(&secret),
        created_at: now,
        created_by: crate::store::current_actor(),
        revoked_at: None,
    };
    store
        .write(|tx| {
            tx.put_api_token(&record)?;
            tx.audit(
                now,
                None,
                AuditAction::TokenCreated,
                format!("token {id} `{}` with role {role}", record.name),
                None,
            )?;
            Ok::<_, crate::store::WriteError>(())
        })
        .map_err(write_failure)?;
    Ok(CreatedToken {
        token: format!("sam_{id}_{secret}"),
        id,
        name: record.name,
        role,
    })
}

/// Every token, revoked ones included (newest last).
pub fn list(store: &Store) -> Result<Vec<TokenView>, AppError> {
    let mut tokens = store
        .read()
        .and_then(|r| r.api_tokens())
        .map_err(store_failure)?;
    tokens.sort_by_key(|t| (t.created_at, t.id.clone()));
    Ok(tokens.iter().map(TokenView::from).collect())
}

/// Revokes token `id` (idempotent: revoking a revoked token changes nothing).
pub fn revoke(store: &Store, now: EpochSeconds, id: &str) -> Result<TokenView, AppError> {
    store.write(|tx| {
        let mut token = tx
            .api_token(id)
            .map_err(write_failure)?
            .ok_or_else(|| AppError::NotFound(format!("no token with id `{id}`")))?;
        if token.revoked_at.is_none() {
            token.revoked_at = Some(now);
            tx.put_api_token(&token).map_err(write_failure)?;
            tx.audit(
                now,
                None,
                AuditAction::TokenRevoked,
                format!("token {id} `{}`", token.name),
                None,
            )
            .map_err(write_failure)?;
        }
        Ok(TokenView::from(&token))
    })
}

/// The actor a presented token stands for; `Unauthorized` for anything else (malformed,
/// unknown, wrong secret, revoked), with the same message so nothing leaks.
pub fn verify(store: &Store, presented: &str) -> Result<Actor, AppError> {
    verify_token(store, presented).map(|token| token_actor(&token))
}

/// The actor a live (unrevoked) token stands for.
pub fn token_actor(token: &ApiToken) -> Actor {
    Actor {
        name: format!("token:{} ({})", token.id, token.name),
        role: token.role,
    }
}

/// The stored token a presented `sam_<id>_<secret>` is, if it matches and is not revoked;
/// `Unauthorized` (one message) otherwise.
pub fn verify_token(store: &Store, presented: &str) -> Result<ApiToken, AppError> {
    let refused = || AppError::Unauthorized("invalid or revoked API token".into());
    let rest = presented.trim().strip_prefix("sam_").ok_or_else(refused)?;
    let (id, secret) = rest.split_once('_').ok_or_else(refused)?;
    if id.len() != 12 || secret.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(refused());
    }
    let token = store
        .read()
        .and_then(|r| r.api_token(id))
        .map_err(store_failure)?
        .ok_or_else(refused)?;
    let matches: bool = sha256_hex(secret)
        .as_bytes()
        .ct_eq(token.secret_sha256.as_bytes())
        .into();
    if !matches || token.revoked_at.is_some() {
        return Err(refused());
    }
    Ok(token)
}

/// `<db>.token`: the local admin token of the daemon holding `db`.
pub fn token_file(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".token");
    PathBuf::from(name)
}

/// The local admin token beside `db`, if there is a readable one.
pub fn read_local_token(db: &Path) -> Option<String> {
    let text = std::fs::read_to_string(token_file(db)).ok()?;
    let token = text.trim();
    (!token.is_empty()).then(|| token.to_string())
}

/// Makes sure `<db>.token` holds a valid admin token (a daemon's start): keeps a valid one,
/// else creates a token named `local-admin` and writes it, mode 0600, atomically.
pub fn ensure_local_admin(store: &Store, now: EpochSeconds) -> Result<PathBuf, AppError> {
    let path = token_file(store.path());
    if let Some(token) = read_local_token(store.path())
        && verify(store, &token).is_ok_and(|a| a.role == Role::Admin)
    {
        return Ok(path);
    }
    let created =
        crate::store::with_actor_sync("daemon", || create(store, now, LOCAL_ADMIN, Role::Admin))?;
    write_private(&path, &format!("{}\n", created.token))
        .map_err(|e| AppError::Failed(format!("cannot write {}: {e}", path.display())))?;
    Ok(path)
}

/// Writes `text` to `path` readable by its owner only (a temporary file renamed over it).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}
