//! Authentication as GitHub does it: classic personal access tokens (`ghp_…`, with OAuth
//! scopes), fine-grained tokens (`github_pat_…`, with organization permissions), GitHub App
//! JWTs (RS256, verified with the app's public key; `iss` = app id or client id, `iat` at
//! most 60 s ahead, `exp` in the future and at most 600 s after `iat`), and installation
//! tokens (`ghs_…`, minted from a JWT, one hour by default). Expired or unknown credentials
//! get 401 `Bad credentials`. The app's RSA key pair is generated from the seed (and cached
//! per process, since 2048-bit generation takes a moment) or read from a given PEM.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use axum::http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rand::SeedableRng;
use rsa::PrivateKey as RsaPrivateKey;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
use serde::Deserialize;

use crate::errors::SimError;
use crate::rng::SplitMix64;

/// The kind of a user token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Credential {
    /// Classic PAT / OAuth token with scopes.
    Classic { user: u32, scopes: Vec<String> },
    /// Fine-grained PAT with organization permissions.
    FineGrained {
        user: u32,
        permissions: Vec<(String, String)>,
    },
    /// Installation access token.
    Installation {
        installation: u64,
        permissions: Vec<(String, String)>,
    },
}

#[derive(Clone, Debug)]
pub(crate) struct StoredToken {
    pub cred: Credential,
    pub expires_ms: Option<i64>,
}

/// Who a request authenticated as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Principal {
    /// No credentials.
    Anonymous,
    /// A GitHub App (valid JWT).
    App,
    /// A token.
    Token(Credential),
}

impl Principal {
    /// The primary-limit bucket.
    pub(crate) fn bucket(&self) -> String {
        match self {
            Principal::Anonymous => "anonymous".into(),
            Principal::App => "app".into(),
            Principal::Token(Credential::Classic { user, .. })
            | Principal::Token(Credential::FineGrained { user, .. }) => format!("user:{user}"),
            Principal::Token(Credential::Installation { installation, .. }) => {
                format!("installation:{installation}")
            }
        }
    }
}

/// Issued tokens.
#[derive(Debug, Default)]
pub(crate) struct TokenStore {
    tokens: HashMap<String, StoredToken>,
}

impl TokenStore {
    pub(crate) fn insert(&mut self, token: String, t: StoredToken) {
        self.tokens.insert(token, t);
    }

    pub(crate) fn remove(&mut self, token: &str) -> bool {
        self.tokens.remove(token).is_some()
    }

    /// The credential of a live token.
    pub(crate) fn check(&self, token: &str, now_ms: i64) -> Option<Credential> {
        let t = self.tokens.get(token)?;
        if t.expires_ms.is_some_and(|e| now_ms >= e) {
            return None;
        }
        Some(t.cred.clone())
    }
}

/// New token strings in GitHub's formats.
pub(crate) fn new_token(rng: &mut SplitMix64, cred: &Credential) -> String {
    match cred {
        Credential::Classic { .. } => format!("ghp_{}", rng.alnum(36)),
        Credential::FineGrained { .. } => {
            format!("github_pat_{}_{}", rng.alnum(22), rng.alnum(59))
        }
        Credential::Installation { .. } => format!("ghs_{}", rng.alnum(36)),
    }
}

/// The scheme and credential of an `Authorization` header.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Presented<'a> {
    None,
    Bearer(&'a str),
    Token(&'a str),
    Malformed,
}

pub(crate) fn presented(headers: &HeaderMap) -> Presented<'_> {
    let Some(v) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Presented::None;
    };
    let Ok(v) = v.to_str() else {
        return Presented::Malformed;
    };
    let v = v.trim();
    let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
    let rest = rest.trim();
    if rest.is_empty() {
        return Presented::Malformed;
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        Presented::Bearer(rest)
    } else if scheme.eq_ignore_ascii_case("token") {
        Presented::Token(rest)
    } else {
        Presented::Malformed
    }
}

/// Whether a credential looks like a JWT (three base64url parts, a JSON header).
pub(crate) fn looks_like_jwt(s: &str) -> bool {
    s.starts_with("eyJ") && s.split('.').count() == 3
}

/// The GitHub App's key pair.
pub(crate) struct AppKeys {
    pub private_pem: String,
    pub public_pem: String,
    decoding: DecodingKey,
}

impl std::fmt::Debug for AppKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppKeys")
            .field("public_pem", &self.public_pem)
            .finish_non_exhaustive()
    }
}

/// Generated key pairs (private PEM, public PEM) by seed.
type KeyCache = Mutex<HashMap<u64, Arc<(String, String)>>>;

fn key_cache() -> &'static KeyCache {
    static CACHE: OnceLock<KeyCache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

fn pems_of(key: &RsaPrivateKey) -> Result<(String, String), SimError> {
    let private = key
        .to_pkcs1_pem(LineEnding::LF)
        .map_err(|e| SimError::Key(e.to_string()))?
        .to_string();
    let public = key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| SimError::Key(e.to_string()))?;
    Ok((private, public))
}

impl AppKeys {
    /// From a given private key PEM (PKCS#1 `RSA PRIVATE KEY` or PKCS#8 `PRIVATE KEY`).
    pub(crate) fn from_private_pem(pem: &str) -> Result<Self, SimError> {
        let key = RsaPrivateKey::from_pkcs1_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs8_pem(pem))
            .map_err(|e| SimError::Key(format!("not an RSA private key PEM: {e}")))?;
        let (_, public) = pems_of(&key)?;
        Self::build(pem.to_string(), public)
    }

    /// A 2048-bit key derived from the seed (the same seed gives the same key).
    pub(crate) fn from_seed(seed: u64) -> Result<Self, SimError> {
        let cached = key_cache()
            .lock()
            .map_err(|_| SimError::Key("key cache poisoned".into()))?
            .get(&seed)
            .cloned();
        let pair = match cached {
            Some(p) => p,
            None => {
                let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0xA11C_E5EE_D000_0001);
                let key =
                    RsaPrivateKey::new(&mut rng, 2048).map_err(|e| SimError::Key(e.to_string()))?;
                let pair = Arc::new(pems_of(&key)?);
                key_cache()
                    .lock()
                    .map_err(|_| SimError::Key("key cache poisoned".into()))?
                    .insert(seed, pair.clone());
                pair
            }
        };
        Self::build(pair.0.clone(), pair.1.clone())
    }

    fn build(private_pem: String, public_pem: String) -> Result<Self, SimError> {
        let decoding = DecodingKey::from_rsa_pem(public_pem.as_bytes())
            .map_err(|e| SimError::Key(e.to_string()))?;
        Ok(Self {
            private_pem,
            public_pem,
            decoding,
        })
    }
}

#[derive(Debug, Deserialize)]
struct Claims {
    iat: Option<serde_json::Value>,
    exp: Option<serde_json::Value>,
    iss: Option<serde_json::Value>,
}

/// Message for a JWT that cannot be decoded or verified.
pub(crate) const JWT_UNDECODABLE: &str = "A JSON web token could not be decoded";
pub(crate) const JWT_IAT: &str = "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued";
pub(crate) const JWT_EXP: &str = "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires";
pub(crate) const JWT_EXP_TOO_FAR: &str = "'Expiration time' claim ('exp') is too far in the future";
pub(crate) const JWT_ISS: &str = "Integration not found";

/// Verifies an app JWT against the sim clock (`now_secs`). Err carries the 401 message.
pub(crate) fn verify_jwt(
    jwt: &str,
    keys: &AppKeys,
    app_id: u64,
    client_id: &str,
    now_secs: i64,
) -> Result<(), &'static str> {
    let mut v = Validation::new(Algorithm::RS256);
    // Times are checked below against the simulator's clock, not the system's.
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    v.leeway = 0;
    let data =
        jsonwebtoken::decode::<Claims>(jwt, &keys.decoding, &v).map_err(|_| JWT_UNDECODABLE)?;
    let c = data.claims;
    let iss_ok = match &c.iss {
        Some(serde_json::Value::Number(n)) => n.as_u64() == Some(app_id),
        Some(serde_json::Value::String(s)) => s == client_id || s == &app_id.to_string(),
        _ => false,
    };
    let iat = c.iat.as_ref().and_then(|v| v.as_i64()).ok_or(JWT_IAT)?;
    if iat > now_secs + 60 {
        return Err(JWT_IAT);
    }
    let exp = c.exp.as_ref().and_then(|v| v.as_i64()).ok_or(JWT_EXP)?;
    if exp <= now_secs {
        return Err(JWT_EXP);
    }
    if exp - iat > 600 {
        return Err(JWT_EXP_TOO_FAR);
    }
    if !iss_ok {
        return Err(JWT_ISS);
    }
    Ok(())
}

/// Whether a granted level satisfies a wanted one (`write` implies `read`).
pub(crate) fn level_ok(granted: &str, wanted: &str) -> bool {
    granted == wanted || (granted == "write" && wanted == "read") || granted == "admin"
}
