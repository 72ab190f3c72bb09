//! The audit log: reading it, and events that accompany no other write.

use super::*;

impl Db {
    /// Records an event that accompanies no other write (e.g. a refused attempt).
    pub async fn record_audit(&self, ev: &NewAuditEvent<'_>) -> Result<(), StoreError> {
        on_db!(self, p => insert_audit!(p, ev));
        Ok(())
    }

    /// Newest first; `bot` filters to one bot's events.
    pub async fn list_audit(&self, bot: Option<BotId>, limit: i64) -> Result<Vec<AuditEvent>, StoreError> {
        Ok(on_db!(self, p => sqlx::query_as(
            "SELECT id, at, actor, action, bot_id, app_id, deployment_id, details FROM audit_events \
             WHERE ($1 IS NULL OR bot_id = $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(bot.map(|b| b.0))
        .bind(limit)
        .fetch_all(p)
        .await?))
    }

    /// Events with an id above `after`, oldest first, limited to `actions`.
    pub async fn audit_after(
        &self,
        after: i64,
        actions: &[AuditAction],
        limit: i64,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        // Action names are the enum's constants (`a-z` and dots), so they are safe to inline.
        let list = actions.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(", ");
        if list.is_empty() {
            return Ok(Vec::new());
        }
        let q = sql(format!(
            "SELECT id, at, actor, action, bot_id, app_id, deployment_id, details FROM audit_events \
             WHERE id > $1 AND action IN ({list}) ORDER BY id LIMIT $2"
        ));
        Ok(on_db!(self, p => sqlx::query_as(q).bind(after).bind(limit).fetch_all(p).await?))
    }

    pub async fn max_audit_id(&self) -> Result<i64, StoreError> {
        let (n,): (Option<i64>,) =
            on_db!(self, p => sqlx::query_as("SELECT MAX(id) FROM audit_events").fetch_one(p).await?);
        Ok(n.unwrap_or(0))
    }
}
