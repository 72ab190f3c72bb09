//! Dashboard sessions: a `__Host-` cookie holding an HS256 JWT (key derived from the master
//! key) for one Telegram user, and the CSRF token every form carries, bound to the session id.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tmahost_service::JwtKey;
use tmahost_service::{KeyPurpose, SecretBytes};

pub(crate) const COOKIE: &str = "__Host-tmahost_dashboard";
const ISSUER: &str = "tmahost-dashboard";
/// How long a dashboard login lasts.
pub(crate) const TTL_SECS: i64 = 12 * 3600;

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Claims {
    iss: String,
    /// Telegram user id.
    pub sub: String,
    /// Session id; the CSRF token is derived from it.
    pub sid: String,
    iat: i64,
    exp: i64,
}

pub(crate) struct Keys {
    jwt: JwtKey,
    csrf: SecretBytes,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(<redacted>)")
    }
}

impl Keys {
    /// The platform's [`KeyPurpose::DashboardSession`] and [`KeyPurpose::DashboardCsrf`] keys.
    pub fn new(keys: impl Fn(KeyPurpose<'_>) -> SecretBytes) -> Self {
        Self { jwt: JwtKey::new(&keys(KeyPurpose::DashboardSession), ISSUER), csrf: keys(KeyPurpose::DashboardCsrf) }
    }

    /// A new session for `user_id`: the cookie value and its claims.
    pub fn mint(&self, user_id: i64, now: i64) -> Option<(String, Claims)> {
        let claims = Claims {
            iss: ISSUER.into(),
            sub: user_id.to_string(),
            sid: uuid::Uuid::new_v4().simple().to_string(),
            iat: now,
            exp: now + TTL_SECS,
        };
        let jwt = self.jwt.sign(&claims).ok()?;
        Some((jwt, claims))
    }

    pub fn check(&self, jwt: &str) -> Option<Claims> {
        self.jwt.verify(jwt).ok()
    }

    pub fn csrf(&self, sid: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.csrf.expose()).expect("any key length");
        mac.update(sid.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    pub fn csrf_ok(&self, sid: &str, given: &str) -> bool {
        bool::from(self.csrf(sid).as_bytes().ct_eq(given.as_bytes()))
    }
}

/// `Set-Cookie` for a session (or, with an empty value and 0, for logging out).
pub(crate) fn cookie(value: &str, max_age: i64) -> String {
    format!("{COOKIE}={value}; Path=/; Max-Age={max_age}; Secure; HttpOnly; SameSite=Strict")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_and_csrf_tokens_check_out_only_with_the_right_key() {
        let master = tmahost_service::MasterKey::generate();
        let keys = Keys::new(|p| master.derive(p));
        let (jwt, claims) = keys.mint(42, time_now() - 2 * TTL_SECS).expect("mint");
        assert!(keys.check(&jwt).is_none(), "expired");
        let (jwt, claims2) = keys.mint(42, time_now()).expect("mint");
        assert_eq!(keys.check(&jwt).map(|c| c.sub), Some("42".into()));
        let other = tmahost_service::MasterKey::generate();
        assert!(Keys::new(|p| other.derive(p)).check(&jwt).is_none());
        let token = keys.csrf(&claims2.sid);
        assert!(keys.csrf_ok(&claims2.sid, &token));
        assert!(!keys.csrf_ok(&claims.sid, &token), "bound to the session");
        assert!(!keys.csrf_ok(&claims2.sid, ""));
    }

    fn time_now() -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
    }
}
