//! API tokens: authentication of a bearer token (signature, revocation, expiry, and the rights
//! its minter still has), minting with a scope no wider than the minter's, listing, revoking.

use serde_json::json;
use tmahost_store::model::{ApiToken, NewAuditEvent, Role, TokenScope};
use tmahost_store::now_ms;
use tmahost_types::{AuditAction, BotId};

use crate::auth::{Actor, MintedToken, Need};
use crate::{Platform, ServiceError};

impl Platform {
    /// Turns a bearer token into an [`Actor`]: signature, expiry, and revocation are checked.
    pub async fn authenticate(&self, bearer: &str) -> Result<Actor, ServiceError> {
        let (id, jti_hash) = self.signer().verify(bearer)?;
        let token = self
            .db()
            .token_by_jti_hash(&jti_hash)
            .await?
            .filter(|t| t.id == id)
            .ok_or_else(|| ServiceError::Unauthorized("the API token is not known to this server".into()))?;
        if token.revoked_at.is_some() {
            return Err(ServiceError::Unauthorized("the API token has been revoked".into()));
        }
        let now = now_ms();
        if token.expires_at <= now {
            return Err(ServiceError::Unauthorized("the API token has expired".into()));
        }
        let scope = self.token_rights(&token, 0).await?;
        if scope == TokenScope::Bots(Vec::new()) {
            return Err(ServiceError::Unauthorized(
                "whoever created this API token no longer has rights to its bots; ask an owner for a new one".into(),
            ));
        }
        // Recording use costs a write; once a minute per token is enough to show activity.
        if token.last_used_at.is_none_or(|t| t < now - 60_000) {
            self.db().touch_token(&token.id).await?;
        }
        Ok(Actor { label: format!("token:{}", token.id), token_id: Some(token.id), scope, roles: None })
    }

    /// What a token may do now: its scope, narrowed to what its minter still may. A token
    /// minted by a bot's owner stops covering a bot when that owner is revoked or demoted; one
    /// minted by another token lives as long as that token, with at most its rights. Tokens
    /// minted by platform admins or the operator keep their scope.
    fn token_rights<'a>(
        &'a self,
        token: &'a ApiToken,
        depth: u8,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<TokenScope, ServiceError>> + Send + 'a>> {
        Box::pin(async move {
            let none = TokenScope::Bots(Vec::new());
            if token.minted_by_admin == 1 {
                return Ok(token.scope.clone());
            }
            let limit = if let Some(user) = token.created_by.strip_prefix("tg:").and_then(|u| u.parse::<i64>().ok()) {
                let minter = self.telegram_actor(user).await?;
                if minter.is_admin() {
                    return Ok(token.scope.clone());
                }
                let owned = minter.roles.unwrap_or_default().into_iter().filter(|(_, r)| *r == Role::Owner);
                TokenScope::Bots(owned.map(|(b, _)| BotId(b)).collect())
            } else if let Some(parent) = token.created_by.strip_prefix("token:") {
                let live = match self.db().get_token(parent).await? {
                    Some(p) if depth < 8 && p.revoked_at.is_none() && p.expires_at > now_ms() => p,
                    _ => return Ok(none),
                };
                self.token_rights(&live, depth + 1).await?
            } else {
                return Ok(token.scope.clone());
            };
            Ok(match (&token.scope, limit) {
                (_, TokenScope::Admin) => token.scope.clone(),
                (TokenScope::Admin, limit) => limit,
                (TokenScope::Bots(mine), TokenScope::Bots(allowed)) => {
                    TokenScope::Bots(mine.iter().copied().filter(|b| allowed.contains(b)).collect())
                }
            })
        })
    }

    /// Creates an admin token named `bootstrap` when no live token exists (first start).
    pub async fn ensure_bootstrap_token(&self) -> Result<Option<MintedToken>, ServiceError> {
        if self.db().count_live_tokens().await? > 0 {
            return Ok(None);
        }
        let (_, minted) = self.create_token(&Actor::local_admin(), "bootstrap", TokenScope::Admin, None).await?;
        Ok(Some(minted))
    }

    /// Mints a token. A caller may only grant what its own scope covers.
    pub async fn create_token(
        &self,
        actor: &Actor,
        name: &str,
        scope: TokenScope,
        ttl_days: Option<u32>,
    ) -> Result<(ApiToken, MintedToken), ServiceError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(ServiceError::invalid("invalid_name", "a token name has 1-64 printable characters"));
        }
        if let TokenScope::Bots(bots) = &scope {
            if bots.is_empty() {
                return Err(ServiceError::invalid("invalid_scope", "list at least one bot, or use the admin scope"));
            }
            for b in bots {
                self.bot(actor, *b, Need::Manage).await?;
            }
        }
        if !actor.scope.covers(&scope) {
            return Err(ServiceError::Forbidden("a token can only create tokens within its own scope".into()));
        }
        let days = ttl_days.unwrap_or(self.config().api.token_ttl_days);
        if !(1..=3650).contains(&days) {
            return Err(ServiceError::invalid("invalid_ttl", "ttl_days must be between 1 and 3650"));
        }
        let minted = self.signer().mint(now_ms(), i64::from(days) * 86_400)?;
        let audit = NewAuditEvent {
            actor: &actor.label,
            action: AuditAction::TokenCreate,
            bot_id: None,
            app_id: None,
            deployment_id: None,
            details: json!({ "token_id": minted.id, "name": name, "scope": scope }),
        };
        let token = self
            .db()
            .insert_token(
                &minted.id,
                name,
                &minted.jti_hash,
                &scope,
                &actor.label,
                actor.is_admin(),
                minted.expires_at_ms,
                &audit,
            )
            .await?;
        Ok((token, minted))
    }

    /// Whether the actor may see and revoke `scope`'s tokens: its own scope covers it, and a
    /// Telegram user must be an owner of every bot in it (developers deploy, owners hold keys).
    fn manages_tokens_of(actor: &Actor, scope: &TokenScope) -> bool {
        actor.scope.covers(scope)
            && match scope {
                TokenScope::Admin => actor.is_admin(),
                TokenScope::Bots(bots) => bots.iter().all(|b| actor.check(*b, Need::Manage).is_ok()),
            }
    }

    /// Tokens the actor manages (admins see all).
    pub async fn list_tokens(&self, actor: &Actor) -> Result<Vec<ApiToken>, ServiceError> {
        let all = self.db().list_tokens().await?;
        Ok(all.into_iter().filter(|t| Self::manages_tokens_of(actor, &t.scope)).collect())
    }

    pub async fn revoke_token(&self, actor: &Actor, id: &str) -> Result<(), ServiceError> {
        let token = self
            .db()
            .get_token(id)
            .await?
            .filter(|t| Self::manages_tokens_of(actor, &t.scope))
            .ok_or(ServiceError::NotFound("token"))?;
        let audit = NewAuditEvent {
            actor: &actor.label,
            action: AuditAction::TokenRevoke,
            bot_id: None,
            app_id: None,
            deployment_id: None,
            details: json!({ "token_id": token.id, "name": token.name }),
        };
        self.db().revoke_token(&token.id, &audit).await.map_err(|e| match e {
            tmahost_store::StoreError::NotFound => ServiceError::Conflict("the token is already revoked".into()),
            e => e.into(),
        })
    }
}
