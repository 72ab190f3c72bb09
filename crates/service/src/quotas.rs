//! Stored bytes per bot and per app, and the cap on them: `TMAHOST_MAX_BYTES_PER_BOT`, or an
//! admin's cap for one bot. Usage counts each distinct content a bot's deployments name once
//! (originals; the compressed variants are not counted), so a redeploy of unchanged files adds
//! nothing. A deploy is refused before anything is stored when it would pass the cap.

use serde_json::json;
use tmahost_store::model::{Bot, NewAuditEvent, Sha256};
use tmahost_types::AuditAction;

use crate::refs::{BotRef, Granted};
use crate::{Platform, ServiceError};

/// What a bot stores, and its cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub stored_bytes: i64,
    /// `None`: no cap.
    pub max_bytes: Option<i64>,
    /// Whether the cap is the bot's own (set by an admin) rather than the platform's.
    pub own_cap: bool,
    /// Per app: (slug, bytes). A content two apps share counts for each.
    pub apps: Vec<(String, i64)>,
}

impl Platform {
    /// The bot's cap: its own if an admin set one (0: none), else the platform's.
    fn cap(&self, bot: &Bot) -> Option<i64> {
        let cap = bot.max_bytes.unwrap_or(self.config().retention.max_bytes_per_bot as i64);
        (cap > 0).then_some(cap)
    }

    pub async fn usage(&self, bot: &BotRef) -> Result<Usage, ServiceError> {
        let (stored_bytes, apps) = self.db().bot_usage(bot.bot.bot_id()).await?;
        Ok(Usage { stored_bytes, max_bytes: self.cap(&bot.bot), own_cap: bot.bot.max_bytes.is_some(), apps })
    }

    /// Refuses a deploy of these contents (hash, size) if the ones the bot's deployments do not
    /// name yet would take it past its cap.
    pub(crate) async fn check_quota(&self, bot: &Bot, contents: &[(&Sha256, u64)]) -> Result<(), ServiceError> {
        let Some(limit) = self.cap(bot) else { return Ok(()) };
        let distinct: std::collections::BTreeMap<&Sha256, u64> = contents.iter().copied().collect();
        let hashes: Vec<Sha256> = distinct.keys().map(|h| (*h).clone()).collect();
        let named = self.db().named_by_bot(bot.bot_id(), &hashes).await?;
        let adds: i64 = distinct.iter().filter(|(h, _)| !named.contains(h.as_str())).map(|(_, s)| *s as i64).sum();
        if adds == 0 {
            return Ok(());
        }
        let (used, _) = self.db().bot_usage(bot.bot_id()).await?;
        if used + adds > limit {
            return Err(ServiceError::QuotaExceeded { used, adds, limit });
        }
        Ok(())
    }

    /// Sets the bot's own cap (`Some(0)`: none), or with `None` goes back to the platform's.
    /// Admins only.
    pub async fn set_bot_quota(&self, bot: &BotRef, max_bytes: Option<i64>) -> Result<Bot, ServiceError> {
        let actor = bot.actor();
        if !actor.is_admin() {
            return Err(ServiceError::Forbidden("only platform admins can change a bot's storage limit".into()));
        }
        if max_bytes.is_some_and(|m| m < 0) {
            return Err(ServiceError::invalid("invalid_max_bytes", "max_bytes is a number of bytes (0: no limit)"));
        }
        let audit = NewAuditEvent {
            actor: &actor.label,
            action: AuditAction::BotQuota,
            bot_id: Some(bot.bot.bot_id()),
            app_id: None,
            deployment_id: None,
            details: json!({ "max_bytes": max_bytes }),
        };
        self.db().set_bot_max_bytes(bot.bot.bot_id(), max_bytes, &audit).await?;
        Ok(Bot { max_bytes, ..bot.bot.clone() })
    }
}
