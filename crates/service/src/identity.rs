//! The identity token the edge attaches to requests it proxies to an app's backend
//! (`Tma-Identity`): an EdDSA JWT naming the verified Telegram user, so a backend checks one
//! signature with any JWT library against the JWKS (`/_tma/jwks.json`, `/api/v1/jwks.json`)
//! and never sees launch data. The keys are derived from the master key (the same on every
//! node, nothing to distribute); `TMAHOST_IDENTITY_KEY_VERSION` rotates them, and the JWKS
//! keeps publishing the previous version so tokens signed just before a rotation still verify.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use tmahost_store::{KeyPurpose, MasterKey};

use crate::ServiceError;

/// How long an identity token is valid: long enough for one request and its retries, short
/// enough that a logged or leaked token is soon worthless.
pub const IDENTITY_TTL_SECS: i64 = 120;

/// What a backend learns about the caller. `sub` is the Telegram user id, `aud` the app's id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdentityClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    /// When Telegram signed the launch data.
    pub auth_date: i64,
    /// The user as Telegram described them (`id`, `first_name`, `username`, `language_code`,
    /// `is_premium`, …).
    pub user: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_instance: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_param: Option<String>,
    /// The edge session the request came with (empty for `Authorization: tma` requests).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sid: String,
    /// The TON wallet the user proved in this session (`POST /_tma/ton/proof`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wallet: Option<tmahost_types::ton::Wallet>,
}

struct Key {
    kid: String,
    encoding: EncodingKey,
    public: [u8; 32],
}

/// The platform's identity-signing keys: the current version signs, it and the previous one
/// are published.
pub struct IdentityKeys {
    issuer: String,
    /// Signs.
    current: Key,
    /// Still published after a rotation.
    previous: Option<Key>,
}

impl std::fmt::Debug for IdentityKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.keys().map(|k| k.kid.as_str()).collect();
        f.debug_struct("IdentityKeys").field("issuer", &self.issuer).field("kids", &kids).finish()
    }
}

impl IdentityKeys {
    /// Keys of `version` (signing) and `version - 1` (still verifying), for tokens issued as
    /// `issuer`.
    pub fn derive(master: &MasterKey, version: u32, issuer: String) -> Result<Self, ServiceError> {
        let key = |v: u32| -> Result<Key, ServiceError> {
            let seed = master.derive(KeyPurpose::IdentitySigning(v));
            let seed = zeroize::Zeroizing::new(<[u8; 32]>::try_from(seed.expose()).map_err(ServiceError::internal)?);
            let signing = SigningKey::from_bytes(&seed);
            let der = signing.to_pkcs8_der().map_err(ServiceError::internal)?;
            let public = signing.verifying_key().to_bytes();
            let kid = format!("v{v}-{}", URL_SAFE_NO_PAD.encode(&sha2::Sha256::digest(public)[..6]));
            Ok(Key { kid, encoding: EncodingKey::from_ed_der(der.as_bytes()), public })
        };
        let previous = match version.checked_sub(1) {
            Some(v) if v > 0 => Some(key(v)?),
            _ => None,
        };
        Ok(Self { issuer, current: key(version)?, previous })
    }

    fn keys(&self) -> impl Iterator<Item = &Key> {
        std::iter::once(&self.current).chain(self.previous.as_ref())
    }

    /// `iss` of every token.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The public keys as a JSON Web Key Set (RFC 7517, OKP keys of RFC 8037).
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<_> = self
            .keys()
            .map(|k| {
                serde_json::json!({
                    "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
                    "kid": k.kid, "x": URL_SAFE_NO_PAD.encode(k.public),
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// A signed token for `claims` (its `iss` is set here), with the current key's `kid`.
    pub fn mint(&self, claims: &mut IdentityClaims) -> Result<String, ServiceError> {
        let key = &self.current;
        claims.iss.clone_from(&self.issuer);
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.encoding).map_err(ServiceError::internal)
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{DecodingKey, Validation};

    use super::*;

    fn claims(now: i64) -> IdentityClaims {
        IdentityClaims {
            iss: String::new(),
            aud: "app-1".into(),
            sub: "42".into(),
            iat: now,
            exp: now + IDENTITY_TTL_SECS,
            auth_date: now,
            user: serde_json::json!({ "id": 42, "first_name": "Alice" }),
            chat_type: Some("sender".into()),
            chat_instance: None,
            start_param: None,
            sid: "s1".into(),
            wallet: None,
        }
    }

    #[test]
    fn tokens_verify_against_the_published_keys_and_rotation_keeps_the_old_one() {
        let master = MasterKey::generate();
        let v1 = IdentityKeys::derive(&master, 1, "https://console.example".into()).expect("keys");
        let now = crate::now_ms() / 1000;
        let token = v1.mint(&mut claims(now)).expect("mint");
        let header = jsonwebtoken::decode_header(&token).expect("header");
        assert_eq!((header.alg, header.kid.as_deref()), (Algorithm::EdDSA, Some(v1.current.kid.as_str())));

        // After a rotation the JWKS holds v2 and v1: the token signed with v1 still verifies.
        let v2 = IdentityKeys::derive(&master, 2, "https://console.example".into()).expect("keys");
        let jwks = v2.jwks();
        assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(2));
        let jwk = jwks["keys"]
            .as_array()
            .and_then(|keys| keys.iter().find(|k| k["kid"] == header.kid.clone().unwrap_or_default()));
        let x = jwk.and_then(|k| k["x"].as_str()).expect("v1 still published");
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&["app-1"]);
        validation.set_issuer(&["https://console.example"]);
        let decoded = jsonwebtoken::decode::<IdentityClaims>(
            &token,
            &DecodingKey::from_ed_components(x).expect("x"),
            &validation,
        )
        .expect("verifies");
        assert_eq!((decoded.claims.sub.as_str(), decoded.claims.user["first_name"].as_str()), ("42", Some("Alice")));

        // Another app's audience is refused; so is another platform's key.
        validation.set_audience(&["app-2"]);
        assert!(
            jsonwebtoken::decode::<IdentityClaims>(
                &token,
                &DecodingKey::from_ed_components(x).expect("x"),
                &validation
            )
            .is_err()
        );
        let other = IdentityKeys::derive(&MasterKey::generate(), 1, "https://console.example".into()).expect("keys");
        let other_x = other.jwks()["keys"][0]["x"].as_str().expect("x").to_owned();
        validation.set_audience(&["app-1"]);
        assert!(
            jsonwebtoken::decode::<IdentityClaims>(
                &token,
                &DecodingKey::from_ed_components(&other_x).expect("x"),
                &validation
            )
            .is_err()
        );
    }
}
