//! The payloads a wallet signs: issued per session, expiring, checked without state.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{PAYLOAD_TTL_SECS, ProofError};

/// Issues and checks payloads: `base64url(nonce ‖ expiry ‖ mac)`, the MAC binding them to one
/// session, so an edge needs no state to issue one and any edge can check it.
#[derive(Clone)]
pub struct PayloadKey(Vec<u8>);

impl std::fmt::Debug for PayloadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PayloadKey(redacted)")
    }
}

/// A payload that checked out: its nonce (what a use is recorded under) and expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    pub nonce: String,
    pub expires_at: i64,
}

impl PayloadKey {
    pub fn new(key: &[u8]) -> Self {
        Self(key.to_vec())
    }

    fn mac(&self, sid: &str, nonce: &[u8], expires: i64) -> [u8; 16] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(b"ton-proof-payload/");
        mac.update(sid.as_bytes());
        mac.update(b"/");
        mac.update(nonce);
        mac.update(&expires.to_be_bytes());
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }

    /// A fresh payload for session `sid`, valid for [`PAYLOAD_TTL_SECS`].
    pub fn issue(&self, sid: &str, now: i64) -> (String, i64) {
        let nonce: [u8; 16] = rand::random();
        let expires = now + PAYLOAD_TTL_SECS;
        let mut raw = Vec::with_capacity(40);
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&expires.to_be_bytes());
        raw.extend_from_slice(&self.mac(sid, &nonce, expires));
        (URL_SAFE_NO_PAD.encode(raw), expires)
    }

    /// The payload, if this key issued it to `sid` and it has not expired (whether it was used
    /// already is for the caller to record).
    pub fn check(&self, payload: &str, sid: &str, now: i64) -> Result<Payload, ProofError> {
        let raw = URL_SAFE_NO_PAD.decode(payload).map_err(|_| ProofError::Payload)?;
        if raw.len() != 40 {
            return Err(ProofError::Payload);
        }
        let (nonce, rest) = raw.split_at(16);
        let (expires, mac) = rest.split_at(8);
        let expires = i64::from_be_bytes(expires.try_into().map_err(|_| ProofError::Payload)?);
        let good: bool = subtle::ConstantTimeEq::ct_eq(mac, &self.mac(sid, nonce, expires)[..]).into();
        if !good || expires <= now {
            return Err(ProofError::Payload);
        }
        Ok(Payload { nonce: hex::encode(nonce), expires_at: expires })
    }
}
