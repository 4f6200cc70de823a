//! Secrets at rest: the engine's key and the sealing of client secrets and tokens. The key is
//! 32 random bytes kept outside the database: in a key file (64 hex digits, created on first
//! use with mode 0600 in a 0700 folder; a file others can read is refused) or in the `SAM_KEY`
//! environment variable. Each secret is sealed with XChaCha20-Poly1305 (random 24-byte nonce)
//! with its slot as associated data (`<credential key>/<field>`), so a ciphertext cannot be
//! moved to another field or record, and carries the key's id (a fingerprint) so a wrong key
//! is named as such instead of failing as "corrupt". [`Secret`] and [`MasterKey`] print as
//! `[redacted]` in `Debug`. Rotation: a [`Keyring`] opens with any of its keys and seals with
//! the primary; `sam key rotate` re-seals every record in one transaction.

use std::io::Write;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::model::SealedSecret;

/// The environment variable that can hold the key (64 hex digits) instead of a key file.
pub const KEY_ENV: &str = "SAM_KEY";
/// The environment variable holding the previous key during a rotation of `SAM_KEY`.
pub const PREVIOUS_KEY_ENV: &str = "SAM_KEY_PREVIOUS";

/// Why a key or a secret could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key text is not 64 hex digits.
    #[error("{source_name} does not hold a key (64 hex digits)")]
    Malformed {
        /// Where it came from.
        source_name: String,
    },
    /// The key file could not be read or created.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The key file can be read by other users.
    #[error("key file {path} can be read by other users (mode {mode:o}): run `chmod 600 {path}`")]
    Exposed {
        /// The file.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
    },
    /// The secret was sealed with a key this keyring does not hold.
    #[error(
        "a stored secret was encrypted with key {sealed_with}, but the key in use is {in_use}: point --key-file or SAM_KEY at the key it was stored with, or run `sam connect` again"
    )]
    WrongKey {
        /// Id of the key that sealed it.
        sealed_with: String,
        /// Id of the key in use.
        in_use: String,
    },
    /// Decryption failed although the key id matched: the record was altered.
    #[error(
        "a stored secret ({slot}) fails its integrity check: it was altered; run `sam connect` again"
    )]
    Tampered {
        /// The slot.
        slot: String,
    },
}

/// A secret in memory: zeroed on drop, redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The secret itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// One 256-bit key.
#[derive(Clone)]
pub struct MasterKey {
    bytes: Zeroizing<[u8; 32]>,
    id: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey(id {}, [redacted])", self.id)
    }
}

impl MasterKey {
    /// A new random key.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(bytes.as_mut());
        Self::from_bytes(bytes)
    }

    fn from_bytes(bytes: Zeroizing<[u8; 32]>) -> Self {
        let digest = Sha256::new()
            .chain_update(b"sam key id v1\0")
            .chain_update(bytes.as_ref())
            .finalize();
        let id = hex::encode(&digest[..8]);
        Self { bytes, id }
    }

    /// A key for another purpose, derived from this one (HMAC-SHA256 of `purpose` under this
    /// key): e.g. the web console's answer links are signed with
    /// `derive("sam web answer links v1")`, so no second secret is kept, and rotating this
    /// key invalidates the links signed before.
    pub fn derive(&self, purpose: &str) -> Zeroizing<[u8; 32]> {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.bytes.as_ref())
            .expect("HMAC takes a key of any length");
        mac.update(purpose.as_bytes());
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&mac.finalize().into_bytes());
        out
    }

    /// Parses 64 hex digits (surrounding whitespace ignored).
    pub fn from_hex(text: &str, source_name: &str) -> Result<Self, KeyError> {
        let malformed = || KeyError::Malformed {
            source_name: source_name.to_string(),
        };
        let text = Zeroizing::new(text.trim().to_string());
        if text.len() != 64 {
            return Err(malformed());
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.as_bytes(), bytes.as_mut()).map_err(|_| malformed())?;
        Ok(Self::from_bytes(bytes))
    }

    /// The key as 64 hex digits (for writing the key file).
    fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.bytes.as_ref()))
    }

    /// The key's id: a fingerprint that reveals nothing of the key.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Seals `plaintext` for `slot`.
    pub fn seal(&self, slot: &str, plaintext: &str) -> SealedSecret {
        let cipher = XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(self.bytes.as_ref()));
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: slot.as_bytes(),
                },
            )
            // XChaCha20-Poly1305 encryption fails only for messages over 256 GiB.
            .unwrap_or_default();
        SealedSecret {
            key_id: self.id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        }
    }

    fn open(&self, slot: &str, sealed: &SealedSecret) -> Result<Secret, KeyError> {
        let tampered = || KeyError::Tampered {
            slot: slot.to_string(),
        };
        if sealed.nonce.len() != 24 {
            return Err(tampered());
        }
        let cipher = XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(self.bytes.as_ref()));
        let plain = Zeroizing::new(
            cipher
                .decrypt(
                    XNonce::from_slice(&sealed.nonce),
                    Payload {
                        msg: &sealed.ciphertext,
                        aad: slot.as_bytes(),
                    },
                )
                .map_err(|_| tampered())?,
        );
        let text = std::str::from_utf8(&plain).map_err(|_| tampered())?;
        Ok(Secret::new(text))
    }
}

/// Where the primary key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The `SAM_KEY` environment variable.
    Env,
    /// A key file (created now or earlier).
    File(PathBuf),
}

/// The keys in use: seal with the primary, open with any.
#[derive(Debug, Clone)]
pub struct Keyring {
    primary: MasterKey,
    others: Vec<MasterKey>,
    source: KeySource,
}

impl Keyring {
    /// A keyring of one key.
    pub fn single(key: MasterKey, source: KeySource) -> Self {
        Self {
            primary: key,
            others: Vec::new(),
            source,
        }
    }

    /// Loads the key: `SAM_KEY` when `env_key` is set (with `SAM_KEY_PREVIOUS` as a second
    /// key for opening), else the key file at `key_file`, created with a new random key when
    /// missing (and `<key_file>.new`, left by an interrupted rotation, as a second key).
    pub fn load(
        env_key: Option<&str>,
        previous_env_key: Option<&str>,
        key_file: &Path,
    ) -> Result<Self, KeyError> {
        if let Some(text) = env_key {
            let primary = MasterKey::from_hex(text, KEY_ENV)?;
            let others = match previous_env_key {
                Some(p) => vec![MasterKey::from_hex(p, PREVIOUS_KEY_ENV)?],
                None => Vec::new(),
            };
            return Ok(Self {
                primary,
                others,
                source: KeySource::Env,
            });
        }
        let primary = read_or_create_key_file(key_file)?;
        let pending = pending_path(key_file);
        let others = if pending.exists() {
            vec![read_key_file(&pending)?]
        } else {
            Vec::new()
        };
        Ok(Self {
            primary,
            others,
            source: KeySource::File(key_file.to_path_buf()),
        })
    }

    /// The primary key.
    pub fn primary(&self) -> &MasterKey {
        &self.primary
    }

    /// Where the primary key came from.
    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// Seals with the primary key.
    pub fn seal(&self, slot: &str, plaintext: &str) -> SealedSecret {
        self.primary.seal(slot, plaintext)
    }

    /// Opens with the key that sealed it.
    pub fn open(&self, slot: &str, sealed: &SealedSecret) -> Result<Secret, KeyError> {
        std::iter::once(&self.primary)
            .chain(self.others.iter())
            .find(|k| k.id == sealed.key_id)
            .ok_or_else(|| KeyError::WrongKey {
                sealed_with: sealed.key_id.clone(),
                in_use: self.primary.id.clone(),
            })?
            .open(slot, sealed)
    }

    /// A keyring whose primary is `new` and which still opens with every key of this one.
    pub fn rotated_to(&self, new: MasterKey) -> Self {
        let mut others = vec![self.primary.clone()];
        others.extend(self.others.iter().cloned());
        Self {
            primary: new,
            others,
            source: self.source.clone(),
        }
    }
}

/// `<key_file>.new`: the next key during a rotation.
pub fn pending_path(key_file: &Path) -> PathBuf {
    let mut name = key_file.as_os_str().to_owned();
    name.push(".new");
    PathBuf::from(name)
}

fn read_key_file(path: &Path) -> Result<MasterKey, KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::Exposed {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io)?);
    MasterKey::from_hex(&text, &format!("key file {}", path.display()))
}

fn read_or_create_key_file(path: &Path) -> Result<MasterKey, KeyError> {
    if path.exists() {
        return read_key_file(path);
    }
    let key = MasterKey::generate();
    match write_key_file(path, &key) {
        Ok(()) => Ok(key),
        // Another process created it first: use theirs.
        Err(KeyError::Io { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => {
            read_key_file(path)
        }
        Err(e) => Err(e),
    }
}

/// Writes a new key file (mode 0600, refusing to replace an existing file).
pub fn write_key_file(path: &Path, key: &MasterKey) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(parent).map_err(io)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    let mut text = key.to_hex();
    text.push('\n');
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_round_trips_and_is_bound_to_its_slot() {
        let key = MasterKey::generate();
        let sealed = key.seal("acme/refresh_token", "rt-123");
        assert!(
            !sealed
                .ciphertext
                .windows(6)
                .any(|w| w == b"rt-123".as_slice())
        );
        let ring = Keyring::single(key, KeySource::Env);
        assert_eq!(
            ring.open("acme/refresh_token", &sealed).unwrap().expose(),
            "rt-123"
        );
        assert!(matches!(
            ring.open("acme/access_token", &sealed),
            Err(KeyError::Tampered { .. })
        ));
        let mut altered = sealed.clone();
        altered.ciphertext[0] ^= 1;
        assert!(matches!(
            ring.open("acme/refresh_token", &altered),
            Err(KeyError::Tampered { .. })
        ));
    }

    #[test]
    fn a_wrong_key_is_refused_by_name() {
        let sealed = MasterKey::generate().seal("s", "secret");
        let other = Keyring::single(MasterKey::generate(), KeySource::Env);
        let err = other.open("s", &sealed).unwrap_err();
        assert!(matches!(err, KeyError::WrongKey { .. }), "{err}");
        assert!(err.to_string().contains(&sealed.key_id));
    }

    #[test]
    fn a_rotated_keyring_opens_old_secrets_and_seals_with_the_new_key() {
        let old = MasterKey::generate();
        let sealed = old.seal("s", "v");
        let ring = Keyring::single(old, KeySource::Env).rotated_to(MasterKey::generate());
        assert_eq!(ring.open("s", &sealed).unwrap().expose(), "v");
        assert_eq!(ring.seal("s", "v").key_id, ring.primary().id());
    }

    #[test]
    fn debug_output_is_redacted() {
        let key = MasterKey::from_hex(&"ab".repeat(32), "test").unwrap();
        let sealed = key.seal("s", "hunter2");
        let shown = format!("{key:?} {sealed:?} {:?}", Secret::new("hunter2"));
        assert!(
            !shown.contains("hunter2") && !shown.contains("abab"),
            "{shown}"
        );
    }

    #[test]
    fn the_key_file_is_created_0600_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("conf").join("key");
        let first = Keyring::load(None, None, &path).unwrap();
        let second = Keyring::load(None, None, &path).unwrap();
        assert_eq!(first.primary().id(), second.primary().id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                Keyring::load(None, None, &path),
                Err(KeyError::Exposed { .. })
            ));
        }
    }

    #[test]
    fn the_env_key_wins_and_must_be_hex() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        let ring = Keyring::load(Some(&"0f".repeat(32)), None, &path).unwrap();
        assert_eq!(ring.source(), &KeySource::Env);
        assert!(!path.exists());
        assert!(matches!(
            Keyring::load(Some("nope"), None, &path),
            Err(KeyError::Malformed { .. })
        ));
    }
}
