//! Forgetting on request: deleting an app or a bot (owners; admins for any bot) and erasing a
//! Telegram user's data (admins). The database side is `store`'s `removal.rs`; here are the
//! rights, the audit events, and the Telegram side of a deleted bot.

use serde_json::json;
use tmahost_store::model::{AppSlug, NewAuditEvent};
use tmahost_store::{Erasure, StoreError, now_ms};
use tmahost_types::AuditAction;

use crate::auth::{Actor, Need};
use crate::refs::{AppRef, BotRef, Granted};
use crate::{Platform, ServiceError, telegram_api};

/// Longest a session can live (`session_ttl_secs`' bound): an erased user's older sessions are
/// refused at least this long.
const LONGEST_SESSION_MS: i64 = 30 * 86_400_000;

/// What deleting a bot did besides removing its rows.
#[derive(Debug, Clone, Default)]
pub struct BotRemoval {
    /// API tokens that named only this bot, now revoked.
    pub revoked_tokens: Vec<String>,
    /// What could not be undone at Telegram (the bot is deleted either way).
    pub warnings: Vec<String>,
}

/// A user's erasure: the pseudonym the audit log now names them by, and what went.
#[derive(Debug, Clone)]
pub struct UserErasure {
    pub pseudonym: String,
    pub erased: Erasure,
    /// The user is in `TMAHOST_ADMIN_IDS`, which only the operator can change.
    pub still_admin: bool,
}

impl Platform {
    /// Deletes an app with its deployments, settings, domain, analytics and staff codes; its
    /// hosts answer 404 on every edge once they hear of the change. The `main` app goes only
    /// with its bot (the bot's menu button opens it).
    pub async fn delete_app(&self, r: &AppRef) -> Result<(), ServiceError> {
        r.require(Need::Manage)?;
        let (actor, bot, app) = (r.actor(), &r.bot, &r.app);
        if app.slug.as_str() == AppSlug::MAIN {
            return Err(ServiceError::Conflict(
                "the `main` app is what the bot's menu button opens; it is deleted with the bot".into(),
            ));
        }
        let audit = NewAuditEvent {
            actor: &actor.label,
            action: AuditAction::AppDelete,
            bot_id: Some(bot.bot_id()),
            app_id: Some(&app.id),
            deployment_id: None,
            details: json!({ "slug": app.slug.as_str(), "custom_domain": app.settings.custom_domain }),
        };
        self.db().delete_app(&app.id, &audit).await.map_err(|e| match e {
            StoreError::NotFound => ServiceError::NotFound("app"),
            e => e.into(),
        })?;
        self.changed();
        tracing::info!(bot = %bot.id, app = %app.slug, actor = %actor.label, "app deleted");
        Ok(())
    }

    /// Deletes a bot with its apps, members and everything stored about them; tokens scoped to
    /// it stop working. The menu button registration set is reset to Telegram's default; a
    /// Bot API that cannot be reached leaves a warning, not a bot.
    pub async fn delete_bot(&self, r: &BotRef) -> Result<BotRemoval, ServiceError> {
        r.require(Need::Manage)?;
        let (actor, bot) = (r.actor(), &r.bot);
        // Read before the row (and its encrypted token) is gone.
        let token = self.bot_token(bot).await;
        let apps: Vec<String> =
            self.db().list_apps(bot.bot_id()).await?.into_iter().map(|a| a.slug.to_string()).collect();
        let audit = NewAuditEvent {
            actor: &actor.label,
            action: AuditAction::BotDelete,
            bot_id: Some(bot.bot_id()),
            app_id: None,
            deployment_id: None,
            details: json!({ "username": bot.username, "apps": apps }),
        };
        let revoked_tokens = self.db().delete_bot(bot.bot_id(), &audit).await.map_err(|e| match e {
            StoreError::NotFound => ServiceError::NotFound("bot"),
            e => e.into(),
        })?;
        self.changed();
        tracing::info!(bot = %bot.id, actor = %actor.label, "bot deleted");
        let mut warnings = Vec::new();
        match token {
            Ok(token) => {
                let (http, base) = (self.http(), &self.config().telegram.api_url);
                if let Err(e) = telegram_api::reset_menu_button(http, base, &token).await {
                    tracing::warn!(bot = %bot.id, error = %e, "resetting the menu button failed");
                    warnings.push(format!("the bot's menu button was not reset ({e}); reset it in @BotFather"));
                }
            }
            Err(e) => warnings.push(format!("the bot's token could not be read ({e}); its menu button was not reset")),
        }
        Ok(BotRemoval { revoked_tokens, warnings })
    }

    /// Erases what the platform keeps about Telegram user `user_id` (see the book's "Data
    /// the platform keeps"): memberships, analytics, one-time codes, allow-list entries; their
    /// open sessions stop working on every edge; the audit log names a pseudonym instead.
    pub async fn erase_user(&self, actor: &Actor, user_id: i64) -> Result<UserErasure, ServiceError> {
        if !actor.is_admin() {
            return Err(ServiceError::Forbidden("only platform admins can erase a user's data".into()));
        }
        if user_id <= 0 {
            return Err(ServiceError::invalid("invalid_user", format!("`{user_id}` is not a Telegram user id")));
        }
        let pseudonym = format!("erased:{}", hex::encode(rand::random::<[u8; 8]>()));
        let erasing_self = actor.telegram_user() == Some(user_id);
        let audit = NewAuditEvent {
            actor: if erasing_self { &pseudonym } else { &actor.label },
            action: AuditAction::UserErase,
            bot_id: None,
            app_id: None,
            deployment_id: None,
            details: json!({ "user": pseudonym }),
        };
        let until = now_ms() + LONGEST_SESSION_MS + 60_000;
        let erased = self.db().erase_user(user_id, &pseudonym, until, &audit).await?;
        self.changed();
        tracing::info!(actor = %audit.actor, pseudonym = %pseudonym, "user data erased");
        Ok(UserErasure { pseudonym, erased, still_admin: self.config().telegram.admin_ids.contains(&user_id) })
    }
}
