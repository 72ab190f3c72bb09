//! Members of bots and their roles.

use super::*;

impl Db {
    pub async fn upsert_member(
        &self,
        bot: BotId,
        user_id: i64,
        role: Role,
        audit: &NewAuditEvent<'_>,
    ) -> Result<(), StoreError> {
        in_tx!(self, tx => {
            sqlx::query(
                "INSERT INTO members (bot_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (bot_id, user_id) DO UPDATE SET role = excluded.role",
            )
            .bind(bot.0)
            .bind(user_id)
            .bind(role.as_str())
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
            insert_audit!(&mut *tx, audit);
        });
        Ok(())
    }

    pub async fn remove_member(&self, bot: BotId, user_id: i64, audit: &NewAuditEvent<'_>) -> Result<(), StoreError> {
        in_tx!(self, tx => {
            change_one!(
                &mut *tx,
                sqlx::query("DELETE FROM members WHERE bot_id = $1 AND user_id = $2")
                    .bind(bot.0)
                    .bind(user_id)
            );
            insert_audit!(&mut *tx, audit);
        });
        Ok(())
    }

    /// `(bot id, role)` of every bot the Telegram user is a member of.
    pub async fn member_roles(&self, user_id: i64) -> Result<Vec<(i64, Role)>, StoreError> {
        let rows: Vec<(i64, String)> = on_db!(self, p => sqlx::query_as(
            "SELECT bot_id, role FROM members WHERE user_id = $1 ORDER BY bot_id",
        )
        .bind(user_id)
        .fetch_all(p)
        .await?);
        rows.into_iter().map(|(bot, role)| role.parse().map(|r| (bot, r)).map_err(StoreError::Corrupt)).collect()
    }

    pub async fn list_members(&self, bot: BotId) -> Result<Vec<Member>, StoreError> {
        Ok(on_db!(self, p => sqlx::query_as(
            "SELECT bot_id, user_id, role, created_at FROM members WHERE bot_id = $1 ORDER BY user_id",
        )
        .bind(bot.0)
        .fetch_all(p)
        .await?))
    }
}
