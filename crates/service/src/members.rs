//! Who works on a bot: owners and developers (granted by owners and admins), and the actor a
//! Telegram user is (admin, else member of the bots that granted them a role).

use serde_json::json;
use tmahost_store::model::{Member, NewAuditEvent, Role, TokenScope};
use tmahost_types::{AuditAction, BotId};

use crate::auth::{Actor, Need};
use crate::refs::{BotRef, Granted};
use crate::{Platform, ServiceError};

impl Platform {
    /// A Telegram user (control bot, dashboard login): an admin if listed in
    /// `TMAHOST_ADMIN_IDS`, else the member of the bots that granted them a role.
    pub async fn telegram_actor(&self, user_id: i64) -> Result<Actor, ServiceError> {
        let label = format!("tg:{user_id}");
        if self.config().telegram.admin_ids.contains(&user_id) {
            return Ok(Actor { token_id: None, scope: TokenScope::Admin, label, roles: None });
        }
        let roles: std::collections::BTreeMap<i64, Role> = self.db().member_roles(user_id).await?.into_iter().collect();
        let scope = TokenScope::Bots(roles.keys().map(|id| BotId(*id)).collect());
        Ok(Actor { token_id: None, scope, label, roles: Some(roles) })
    }

    /// Gives a Telegram user a role on a bot (or changes it). Owners and admins only.
    pub async fn grant_member(&self, r: &BotRef, user_id: i64, role: Role) -> Result<(), ServiceError> {
        r.require(Need::Manage)?;
        let (actor, bot) = (r.actor(), &r.bot);
        if user_id <= 0 {
            return Err(ServiceError::invalid("invalid_user", format!("`{user_id}` is not a Telegram user id")));
        }
        let audit = NewAuditEvent {
            actor: &actor.label,
            action: AuditAction::MemberGrant,
            bot_id: Some(bot.bot_id()),
            app_id: None,
            deployment_id: None,
            details: json!({ "user_id": user_id, "role": role }),
        };
        self.db().upsert_member(bot.bot_id(), user_id, role, &audit).await?;
        self.changed();
        Ok(())
    }

    pub async fn revoke_member(&self, r: &BotRef, user_id: i64) -> Result<(), ServiceError> {
        r.require(Need::Manage)?;
        let (actor, bot) = (r.actor(), &r.bot);
        let audit = NewAuditEvent {
            actor: &actor.label,
            action: AuditAction::MemberRevoke,
            bot_id: Some(bot.bot_id()),
            app_id: None,
            deployment_id: None,
            details: json!({ "user_id": user_id }),
        };
        self.db().remove_member(bot.bot_id(), user_id, &audit).await.map_err(|e| match e {
            tmahost_store::StoreError::NotFound => ServiceError::NotFound("member"),
            e => e.into(),
        })?;
        self.changed();
        Ok(())
    }

    pub async fn list_members(&self, bot: &BotRef) -> Result<Vec<Member>, ServiceError> {
        Ok(self.db().list_members(bot.bot.bot_id()).await?)
    }
}
