//! The platform's own JWTs (API tokens, dashboard sessions, edge sessions): each signed with an
//! HS256 key derived from the master key for its purpose, with one issuer. `JwtKey` is the only
//! place such keys are made and the only algorithm they accept.

use jsonwebtoken::errors::Error;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tmahost_store::SecretBytes;

/// Signs and verifies the JWTs of one purpose.
#[derive(Clone)]
pub struct JwtKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKey(<redacted>)")
    }
}

impl JwtKey {
    /// A key of its own purpose (derived for it alone, so one purpose's tokens never verify
    /// as another's) whose tokens carry `iss: issuer` and `exp`, `iss`, `sub`.
    pub fn new(key: &SecretBytes, issuer: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        // Without an expected audience, an `aud` claim is the caller's to check.
        validation.validate_aud = false;
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(key.expose()),
            decoding: DecodingKey::from_secret(key.expose()),
            validation,
        }
    }

    /// Tokens must also carry `aud: audience`.
    pub fn with_audience(mut self, audience: &str) -> Self {
        self.validation.set_audience(&[audience]);
        self.validation.validate_aud = true;
        self.validation.required_spec_claims.insert("aud".into());
        self
    }

    /// Tokens must carry an `aud` claim, which the caller checks.
    pub fn requiring_audience(mut self) -> Self {
        self.validation.required_spec_claims.insert("aud".into());
        self
    }

    /// Clock skew tolerated on `exp`, in seconds (5 unless set).
    pub fn with_leeway(mut self, secs: u64) -> Self {
        self.validation.leeway = secs;
        self
    }

    pub fn sign<C: Serialize>(&self, claims: &C) -> Result<String, Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }

    /// The claims of a token with a valid signature, issuer, expiry and required claims.
    pub fn verify<C: DeserializeOwned>(&self, jwt: &str) -> Result<C, Error> {
        jsonwebtoken::decode::<C>(jwt, &self.decoding, &self.validation).map(|d| d.claims)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use tmahost_store::{KeyPurpose, MasterKey};

    use super::*;

    fn key_of(master: &MasterKey, purpose: KeyPurpose<'_>) -> JwtKey {
        JwtKey::new(&master.derive(purpose), "tmahost-a")
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Claims {
        iss: String,
        sub: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        aud: Option<String>,
        exp: i64,
    }

    fn claims(iss: &str, aud: Option<&str>, exp: i64) -> Claims {
        Claims { iss: iss.into(), sub: "1".into(), aud: aud.map(Into::into), exp }
    }

    const FAR: i64 = 4_000_000_000;

    #[test]
    fn a_key_verifies_only_its_own_purpose_issuer_and_audience() {
        let master = MasterKey::generate();
        let key = key_of(&master, KeyPurpose::ApiTokenSigning);
        let jwt = key.sign(&claims("tmahost-a", None, FAR)).expect("sign");
        assert_eq!(key.verify::<Claims>(&jwt).expect("valid"), claims("tmahost-a", None, FAR));
        assert!(key_of(&master, KeyPurpose::DashboardSession).verify::<Claims>(&jwt).is_err(), "another purpose");
        assert!(key_of(&MasterKey::generate(), KeyPurpose::ApiTokenSigning).verify::<Claims>(&jwt).is_err());
        let foreign = key.sign(&claims("tmahost-b", None, FAR)).expect("sign");
        assert!(key.verify::<Claims>(&foreign).is_err(), "another issuer");
        assert!(key.clone().requiring_audience().verify::<Claims>(&jwt).is_err(), "no aud");

        let api = key.clone().with_audience("api");
        assert!(api.verify::<Claims>(&key.sign(&claims("tmahost-a", Some("api"), FAR)).expect("sign")).is_ok());
        assert!(api.verify::<Claims>(&key.sign(&claims("tmahost-a", Some("web"), FAR)).expect("sign")).is_err());
    }

    #[test]
    fn expiry_is_checked_with_the_leeway() {
        let key = key_of(&MasterKey::generate(), KeyPurpose::ApiTokenSigning);
        let now = jsonwebtoken::get_current_timestamp() as i64;
        let just_expired = key.sign(&claims("tmahost-a", None, now - 2)).expect("sign");
        assert!(key.verify::<Claims>(&just_expired).is_ok(), "within 5 s");
        assert!(key.with_leeway(0).verify::<Claims>(&just_expired).is_err());
    }

    #[test]
    fn other_algorithms_are_refused() {
        let key = key_of(&MasterKey::generate(), KeyPurpose::ApiTokenSigning);
        let header = r#"{"alg":"none","typ":"JWT"}"#;
        let body = serde_json::to_string(&claims("tmahost-a", None, FAR)).expect("json");
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        assert!(key.verify::<Claims>(&format!("{}.{}.", b64(header), b64(&body))).is_err());
    }
}
