//! Tenant bots: registration (token checked with `getMe`, stored encrypted, `main` app and
//! menu button), lookup by id, @username or host label, enabling and disabling, the token.

use serde_json::json;
use tmahost_store::model::{App, AppSettings, AppSlug, Bot, BotStatus, NewAuditEvent};
use tmahost_store::now_ms;
use tmahost_types::host::{self};
use tmahost_types::{AuditAction, BotToken, BotUsername};

use crate::auth::Actor;
use crate::refs::{BotRef, Granted};
use crate::{Platform, ServiceError, telegram_api};

/// A newly registered bot with its `main` app and where that app is served.
#[derive(Debug, Clone)]
pub struct Registration {
    pub bot: Bot,
    pub app: App,
    pub url: String,
    /// Things that did not work but did not stop the registration.
    pub warnings: Vec<String>,
}

impl Platform {
    /// Registers a tenant bot: the token is checked with `getMe` when the Bot API is reachable
    /// (else `username` must be given), stored encrypted, the bot's `main` app is created and
    /// the bot's menu button is pointed at it.
    pub async fn register_bot(
        &self,
        actor: &Actor,
        token: &str,
        username: Option<&str>,
    ) -> Result<Registration, ServiceError> {
        if !actor.is_admin() {
            return Err(ServiceError::Forbidden("only platform admins can register bots".into()));
        }
        let token = BotToken::parse(token).map_err(|e| ServiceError::invalid("invalid_token", e.to_string()))?;
        let given = username
            .map(|u| BotUsername::parse(u).map_err(|e| ServiceError::invalid("invalid_username", e.to_string())))
            .transpose()?;
        let me = telegram_api::get_me(self.http(), &self.config().telegram.api_url, &token).await?;
        let me_reachable = me.is_some();
        let username = match me {
            Some(me) => {
                if me.id != token.bot_id().0 {
                    return Err(ServiceError::Telegram("getMe returned a different bot id than the token's".into()));
                }
                let name = me.username.ok_or_else(|| ServiceError::Telegram("getMe returned no username".into()))?;
                BotUsername::parse(&name).map_err(|e| ServiceError::Telegram(e.to_string()))?
            }
            None => given.ok_or_else(|| {
                ServiceError::invalid(
                    "username_required",
                    "the Telegram Bot API is unreachable from this server; pass the bot's `username`",
                )
            })?,
        };
        let id = token.bot_id();
        let label = username.host_label();
        let (shorter, pattern) = host::collisions(label.as_str());
        if let Some(other) = self.db().colliding_labels(&shorter, &pattern).await?.into_iter().next() {
            return Err(ServiceError::invalid(
                "host_collision",
                format!(
                    "@{username}'s host `{label}` would overlap the hosts of the registered bot `{other}` (`{{app}}--{{bot}}` names); it cannot be served on this platform"
                ),
            ));
        }
        let ciphertext = self.master_key().encrypt(token.expose().as_bytes(), id.0.to_string().as_bytes());
        let audit = NewAuditEvent {
            actor: &actor.label,
            action: AuditAction::BotRegister,
            bot_id: Some(id),
            app_id: None,
            deployment_id: None,
            details: json!({ "username": username.as_str() }),
        };
        let bot =
            self.db().insert_bot(id, username.as_str(), username.host_label().as_str(), &ciphertext, &audit).await?;
        let audit =
            NewAuditEvent { action: AuditAction::AppCreate, details: json!({ "slug": AppSlug::MAIN }), ..audit };
        let app = self.db().insert_app(id, &AppSlug::main(), &AppSettings::default(), &audit).await?;
        self.changed();
        tracing::info!(bot = %id, username = %username, actor = %actor.label, "bot registered");

        let url = self.app_url(&bot, &app.slug);
        let mut warnings = Vec::new();
        if me_reachable {
            // The bot is registered either way; a refused menu button (Telegram wants https)
            // is something the admin should hear about, not a failed registration.
            let (http, base) = (self.http(), &self.config().telegram.api_url);
            if let Err(e) = telegram_api::set_menu_button(http, base, &token, "Open", &url).await {
                tracing::warn!(bot = %id, error = %e, "setChatMenuButton failed");
                warnings.push(format!("the menu button was not set ({e})"));
            }
        }
        Ok(Registration { bot, app, url, warnings })
    }

    /// The bots the actor may see.
    pub async fn list_bots(&self, actor: &Actor) -> Result<Vec<Bot>, ServiceError> {
        let bots = self.db().list_bots().await?;
        Ok(bots.into_iter().filter(|b| actor.scope.allows_bot(b.bot_id())).collect())
    }

    /// Disables a bot (its apps answer with an "unavailable" page) or enables it again. Admins only.
    pub async fn set_bot_status(&self, bot: &BotRef, status: BotStatus) -> Result<Bot, ServiceError> {
        let actor = bot.actor();
        if !actor.is_admin() {
            return Err(ServiceError::Forbidden("only platform admins can enable or disable bots".into()));
        }
        let action = match status {
            BotStatus::Active => AuditAction::BotEnable,
            BotStatus::Disabled => AuditAction::BotDisable,
        };
        let audit = NewAuditEvent {
            actor: &actor.label,
            action,
            bot_id: Some(bot.bot.bot_id()),
            app_id: None,
            deployment_id: None,
            details: json!({}),
        };
        self.db().set_bot_status(bot.bot.bot_id(), status, &audit).await?;
        self.changed();
        Ok(Bot { status, updated_at: now_ms(), ..bot.bot.clone() })
    }

    /// The bot's token, decrypted, for calls made on its behalf.
    pub async fn bot_token(&self, bot: &Bot) -> Result<BotToken, ServiceError> {
        let ct = self.db().bot_token_ciphertext(bot.bot_id()).await?;
        let plain = self.master_key().decrypt(&ct, bot.id.to_string().as_bytes())?;
        let text = std::str::from_utf8(plain.expose()).map_err(ServiceError::internal)?;
        BotToken::parse(text).map_err(ServiceError::internal)
    }
}
