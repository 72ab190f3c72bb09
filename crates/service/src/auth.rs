//! API tokens: JWTs signed with a key derived from the master key (HS256, fixed), whose `jti`
//! is stored hashed so a token can be revoked. The scope in the database is authoritative.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::Digest;
use tmahost_store::model::{Role, TokenScope};
use tmahost_store::{KeyPurpose, MasterKey};
use tmahost_types::BotId;

use crate::{JwtKey, ServiceError};

const ISSUER: &str = "tmahost";
const AUDIENCE: &str = "tmahost-api";

/// Who is calling an operation, as established by authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The API token used, if any (`None` for the local CLI).
    pub token_id: Option<String>,
    pub scope: TokenScope,
    /// How the actor appears in the audit log and in `created_by`.
    pub label: String,
    /// Per-bot roles of a Telegram user (control bot, dashboard). `None` for API tokens and
    /// the CLI, whose scope alone decides.
    pub roles: Option<BTreeMap<i64, Role>>,
}

/// What an operation on one bot requires of the caller; each level includes the ones before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    /// Read the bot, its apps, deployments and audit log: any member.
    See,
    /// Deploy, activate, roll back, make dev links: developers and owners.
    Deploy,
    /// Members, app settings, new apps, API tokens: owners.
    Manage,
}

impl Actor {
    /// The operator at the machine (`tmahost admin …`): full rights.
    pub fn local_admin() -> Self {
        Self { token_id: None, scope: TokenScope::Admin, label: "cli:admin".into(), roles: None }
    }

    pub fn is_admin(&self) -> bool {
        self.scope == TokenScope::Admin
    }

    /// A Telegram user who is neither an admin nor a member of any bot.
    pub fn is_stranger(&self) -> bool {
        !self.is_admin() && self.roles.as_ref().is_some_and(BTreeMap::is_empty)
    }

    /// The Telegram user behind the actor (control bot, dashboard), if any.
    pub fn telegram_user(&self) -> Option<i64> {
        self.label.strip_prefix("tg:")?.parse().ok()
    }

    /// The role of a Telegram user on `bot` (admins and tokens have none).
    pub fn role(&self, bot: BotId) -> Option<Role> {
        self.roles.as_ref().and_then(|r| r.get(&bot.0).copied())
    }

    /// Checks that the actor may do what `need` names on `bot`. A bot outside the actor's scope
    /// is reported as missing, as everywhere.
    pub fn check(&self, bot: BotId, need: Need) -> Result<(), ServiceError> {
        if self.is_admin() {
            return Ok(());
        }
        if !self.scope.allows_bot(bot) {
            return Err(ServiceError::NotFound("bot"));
        }
        let Some(roles) = &self.roles else { return Ok(()) };
        match (need, roles.get(&bot.0)) {
            (Need::See | Need::Deploy, Some(_)) | (Need::Manage, Some(Role::Owner)) => Ok(()),
            (Need::Manage, Some(Role::Developer)) => {
                Err(ServiceError::Forbidden("only the bot's owners (or platform admins) can do this".into()))
            }
            (_, None) => Err(ServiceError::NotFound("bot")),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: String,
    jti: String,
    iat: i64,
    exp: i64,
}

/// Signs and checks API token JWTs.
#[derive(Clone)]
pub struct TokenSigner {
    key: JwtKey,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSigner(<redacted>)")
    }
}

/// A freshly minted token: the JWT is shown once and never stored.
#[derive(Clone)]
pub struct MintedToken {
    pub id: String,
    pub jwt: String,
    pub jti_hash: String,
    pub expires_at_ms: i64,
}

impl std::fmt::Debug for MintedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedToken").field("id", &self.id).field("jwt", &"<redacted>").finish()
    }
}

pub fn hash_jti(jti: &str) -> String {
    hex::encode(sha2::Sha256::digest(jti.as_bytes()))
}

impl TokenSigner {
    pub fn new(master: &MasterKey) -> Self {
        Self {
            key: JwtKey::new(&master.derive(KeyPurpose::ApiTokenSigning), ISSUER)
                .with_audience(AUDIENCE)
                .with_leeway(30),
        }
    }

    pub fn mint(&self, now_ms: i64, ttl_secs: i64) -> Result<MintedToken, ServiceError> {
        let id = uuid::Uuid::now_v7().to_string();
        let jti = uuid::Uuid::new_v4().simple().to_string();
        let iat = now_ms / 1000;
        let exp = iat + ttl_secs;
        let claims = Claims { iss: ISSUER.into(), aud: AUDIENCE.into(), sub: id.clone(), jti: jti.clone(), iat, exp };
        let jwt = self.key.sign(&claims).map_err(ServiceError::internal)?;
        Ok(MintedToken { id, jwt, jti_hash: hash_jti(&jti), expires_at_ms: exp * 1000 })
    }

    /// Checks signature, algorithm, issuer, audience and expiry; returns `(token id, jti hash)`.
    pub fn verify(&self, jwt: &str) -> Result<(String, String), ServiceError> {
        let claims: Claims = self.key.verify(jwt).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            ServiceError::Unauthorized(match e.kind() {
                ErrorKind::ExpiredSignature => "the API token has expired".into(),
                _ => "the API token is not valid".into(),
            })
        })?;
        Ok((claims.sub, hash_jti(&claims.jti)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_verify_and_tampered_ones_do_not() {
        let s = TokenSigner::new(&MasterKey::generate());
        let t = s.mint(tmahost_store::now_ms(), 3600).expect("mint");
        let (id, hash) = s.verify(&t.jwt).expect("valid");
        assert_eq!((id.as_str(), hash.as_str()), (t.id.as_str(), t.jti_hash.as_str()));
        let other = TokenSigner::new(&MasterKey::generate());
        assert!(other.verify(&t.jwt).is_err());
        let mut bad = t.jwt.clone();
        bad.pop();
        assert!(s.verify(&bad).is_err());
        assert!(!format!("{t:?}").contains(&t.jwt));
    }

    #[test]
    fn expired_tokens_are_refused_with_a_clear_message() {
        let s = TokenSigner::new(&MasterKey::generate());
        let t = s.mint(tmahost_store::now_ms() - 10_000_000, 60).expect("mint");
        let e = s.verify(&t.jwt).expect_err("expired");
        assert!(e.to_string().contains("expired"), "{e}");
    }

    #[test]
    fn the_none_algorithm_is_refused() {
        let s = TokenSigner::new(&MasterKey::generate());
        // {"alg":"none"} header with valid-looking claims and an empty signature.
        let forged = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJpc3MiOiJ0bWFob3N0IiwiYXVkIjoidG1haG9zdC1hcGkiLCJzdWIiOiJ4IiwianRpIjoieCIsImlhdCI6MSwiZXhwIjo5OTk5OTk5OTk5fQ.";
        assert!(s.verify(forged).is_err());
    }
}
