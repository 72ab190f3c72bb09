//! One-time dashboard login links, handed out by the control bot's `/login` (and the CLI):
//! a random code whose SHA-256 is stored; it works once, within five minutes.

use base64::Engine;
use rand::RngCore;
use sha2::Digest;
use tmahost_store::now_ms;

use crate::{Actor, Platform, ServiceError};

/// How long a login link works.
pub const LOGIN_LINK_TTL_SECS: u64 = 300;
/// Oldest Login Widget authorization accepted.
pub const WIDGET_MAX_AGE_SECS: i64 = 3600;

/// A login link; its URL is a credential until used, so `Debug` hides it.
#[derive(Clone)]
pub struct LoginLink {
    pub url: String,
    pub valid_for_secs: u64,
}

impl std::fmt::Debug for LoginLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginLink").field("url", &"<redacted>").field("valid_for_secs", &self.valid_for_secs).finish()
    }
}

fn hash_code(code: &str) -> String {
    hex::encode(sha2::Sha256::digest(code.as_bytes()))
}

impl Platform {
    /// A link that signs the calling Telegram user in to the dashboard. Admins and members
    /// of at least one bot only.
    pub async fn create_login_link(&self, actor: &Actor) -> Result<LoginLink, ServiceError> {
        let user_id = actor
            .telegram_user()
            .ok_or_else(|| ServiceError::Forbidden("login links are for Telegram users".into()))?;
        if actor.is_stranger() {
            return Err(ServiceError::Forbidden("you are not an admin or a member of any bot".into()));
        }
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let code = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        let expires_at = now_ms() + (LOGIN_LINK_TTL_SECS as i64) * 1000;
        self.db().insert_login_link(&hash_code(&code), user_id, expires_at).await?;
        Ok(LoginLink { url: format!("{}/login/{code}", self.config().api_url()), valid_for_secs: LOGIN_LINK_TTL_SECS })
    }

    /// Whether a login link would work, without using it (the page before the sign-in button:
    /// link previews and scanners fetch URLs, and must not burn the link).
    pub async fn login_link_usable(&self, code: &str) -> Result<bool, ServiceError> {
        if code.is_empty() || code.len() > 100 {
            return Ok(false);
        }
        Ok(self.db().login_link_usable(&hash_code(code)).await?)
    }

    /// Uses up a login link; returns who it signs in. Unknown, used and expired codes all
    /// get the same answer.
    pub async fn redeem_login_link(&self, code: &str) -> Result<Actor, ServiceError> {
        let refused = || ServiceError::Unauthorized("this login link is invalid, expired or already used".into());
        if code.is_empty() || code.len() > 100 {
            return Err(refused());
        }
        let user_id = self.db().redeem_login_link(&hash_code(code)).await?.ok_or_else(refused)?;
        self.telegram_actor(user_id).await
    }

    /// A Telegram Login Widget callback (the widget of the control bot): who it signs in.
    /// Strangers are refused like with links.
    pub async fn widget_login(&self, fields: &[(String, String)]) -> Result<Actor, ServiceError> {
        let token = self.config().control_bot().ok_or_else(|| {
            ServiceError::Forbidden("the Login Widget needs the control bot (TMAHOST_CONTROL_BOT_TOKEN)".into())
        })?;
        let user = tmahost_types::login_widget::verify(fields, &token, now_ms() / 1000, WIDGET_MAX_AGE_SECS)
            .map_err(|e| ServiceError::Unauthorized(e.to_string()))?;
        let actor = self.telegram_actor(user.id).await?;
        if actor.is_stranger() {
            return Err(ServiceError::Forbidden("you are not an admin or a member of any bot".into()));
        }
        // A payload is a bearer credential for its lifetime (it sits in the redirect URL, in
        // history and logs): it signs in once.
        let hash = fields.iter().find(|(k, _)| k == "hash").map(|(_, v)| v.as_str()).unwrap_or_default();
        let keep_until = (now_ms() / 1000 + WIDGET_MAX_AGE_SECS + 60) * 1000;
        let digest = hex::encode(sha2::Sha256::digest(hash.as_bytes()));
        if !self.db().use_login_payload(&digest, keep_until).await? {
            return Err(ServiceError::Unauthorized("this Telegram login was used already; log in again".into()));
        }
        Ok(actor)
    }
}
