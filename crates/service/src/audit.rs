//! The audit log as people read it: one bot's (its members) or the whole platform's (admins).

use tmahost_store::model::AuditEvent;

use crate::auth::Actor;
use crate::refs::BotRef;
use crate::{Platform, ServiceError};

impl Platform {
    /// One bot's audit log, newest first (any member).
    pub async fn bot_audit_log(&self, bot: &BotRef, limit: i64) -> Result<Vec<AuditEvent>, ServiceError> {
        Ok(self.db().list_audit(Some(bot.bot.bot_id()), limit.clamp(1, 1000)).await?)
    }

    /// The whole platform's audit log, newest first (admins only).
    pub async fn audit_log(&self, actor: &Actor, limit: i64) -> Result<Vec<AuditEvent>, ServiceError> {
        if !actor.is_admin() {
            return Err(ServiceError::Forbidden("only admins can read the platform-wide audit log".into()));
        }
        Ok(self.db().list_audit(None, limit.clamp(1, 1000)).await?)
    }
}
