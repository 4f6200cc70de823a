//! Signed answer links: the self-service link of a removal notice names one candidate and an
//! expiry, signed with HMAC-SHA256 under a key derived from the engine's master key
//! ([`crate::auth::secrets::MasterKey::derive`]), so only the engine can make one and a
//! changed id or expiry breaks the signature. A link reads
//! `<console>/answer?t=<payload>.<signature>` (both base64url): the payload is the candidate
//! id, the expiry (epoch seconds) and 8 random bytes. Each link answers once: its id (the
//! payload in hex) is recorded in the store when used (`used_answer_links`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::config::Settings;
use crate::model::EpochSeconds;

/// What the key is derived for.
pub const PURPOSE: &str = "sam web answer links v1";

/// How long a link lasts when its candidate has no automatic-reclaim date.
pub const DEFAULT_LIFETIME: i64 = 14 * 86_400;

/// The key that signs and checks answer links.
#[derive(Clone)]
pub struct LinkKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey([redacted])")
    }
}

/// A link that checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The candidate.
    pub candidate: u64,
    /// When it expires.
    pub expires_at: EpochSeconds,
    /// Its id for the single-use record.
    pub id: String,
}

/// Why a link is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not a link sam made, or changed since.
    #[error("this link is not valid (it was changed, cut short or not made by this sam)")]
    Invalid,
    /// Past its expiry.
    #[error("this link expired; the seat's owner or an admin can still answer in the console")]
    Expired,
}

impl LinkKey {
    /// A key from raw bytes (tests).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The key derived from the master key of `settings` (`SAM_KEY` or the key file).
    pub fn from_settings(settings: &Settings) -> Result<Self, crate::app::AppError> {
        let ring = crate::app::session::keyring(settings)?;
        Ok(Self(ring.primary().derive(PURPOSE)))
    }

    fn mac(&self, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.0.as_ref())
            .expect("HMAC takes a key of any length");
        mac.update(payload);
        mac
    }

    /// A link token for `candidate`, valid until `expires_at`.
    pub fn sign(&self, candidate: u64, expires_at: EpochSeconds) -> String {
        let mut payload = [0u8; 24];
        payload[..8].copy_from_slice(&candidate.to_be_bytes());
        payload[8..16].copy_from_slice(&expires_at.to_be_bytes());
        rand::rng().fill_bytes(&mut payload[16..]);
        let tag = self.mac(&payload).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// Checks a token at `now`: the signature first (constant time), then the expiry.
    pub fn verify(&self, token: &str, now: EpochSeconds) -> Result<Verified, LinkError> {
        let (payload, tag) = token.trim().split_once('.').ok_or(LinkError::Invalid)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| LinkError::Invalid)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| LinkError::Invalid)?;
        if payload.len() != 24 {
            return Err(LinkError::Invalid);
        }
        self.mac(&payload)
            .verify_slice(&tag)
            .map_err(|_| LinkError::Invalid)?;
        let candidate =
            u64::from_be_bytes(payload[..8].try_into().map_err(|_| LinkError::Invalid)?);
        let expires_at =
            i64::from_be_bytes(payload[8..16].try_into().map_err(|_| LinkError::Invalid)?);
        if now >= expires_at {
            return Err(LinkError::Expired);
        }
        Ok(Verified {
            candidate,
            expires_at,
            id: hex::encode(&payload),
        })
    }
}

/// The full answer URL of a token under the console's base URL.
pub fn answer_url(base: &str, token: &str) -> String {
    format!("{}/answer?t={token}", base.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> LinkKey {
        LinkKey::from_bytes([7; 32])
    }

    #[test]
    fn a_link_names_its_candidate_until_it_expires() {
        let token = key().sign(42, 2_000);
        let ok = key().verify(&token, 1_999).unwrap();
        assert_eq!((ok.candidate, ok.expires_at), (42, 2_000));
        assert_eq!(key().verify(&token, 2_000), Err(LinkError::Expired));
        assert_ne!(key().sign(42, 2_000), token, "each link is distinct");
    }

    #[test]
    fn a_tampered_or_foreign_link_is_refused() {
        let token = key().sign(42, 2_000);
        let (payload, tag) = token.split_once('.').unwrap();
        // Another candidate id or a later expiry under the same signature.
        let mut raw = URL_SAFE_NO_PAD.decode(payload).unwrap();
        raw[7] = 43;
        let other = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(&raw));
        assert_eq!(key().verify(&other, 0), Err(LinkError::Invalid));
        let mut raw = URL_SAFE_NO_PAD.decode(payload).unwrap();
        raw[15] ^= 0x40;
        let later = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(&raw));
        assert_eq!(key().verify(&later, 0), Err(LinkError::Invalid));
        // Signed with another key, cut short, garbage.
        let foreign = LinkKey::from_bytes([8; 32]).sign(42, 2_000);
        assert_eq!(key().verify(&foreign, 0), Err(LinkError::Invalid));
        assert_eq!(key().verify(payload, 0), Err(LinkError::Invalid));
        assert_eq!(
            key().verify(&token[..token.len() - 2], 0),
            Err(LinkError::Invalid)
        );
        assert_eq!(key().verify("..", 0), Err(LinkError::Invalid));
    }
}
