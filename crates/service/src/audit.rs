//! The audit log as people read it: one bot's (its members) or the whole platform's (admins).

use tmahost_store::model::AuditEvent;

use crate::auth::Actor;
use crate::{Platform, ServiceError};

impl Platform {
    /// One bot's audit log (members of the bot), or the whole log (admins only).
    pub async fn audit_log(
        &self,
        actor: &Actor,
        bot_key: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditEvent>, ServiceError> {
        let limit = limit.clamp(1, 1000);
        match bot_key {
            Some(key) => {
                let bot = self.resolve_bot(actor, key).await?;
                Ok(self.db().list_audit(Some(bot.bot_id()), limit).await?)
            }
            None if actor.is_admin() => Ok(self.db().list_audit(None, limit).await?),
            None => Err(ServiceError::Forbidden("only admins can read the platform-wide audit log".into())),
        }
    }
}
