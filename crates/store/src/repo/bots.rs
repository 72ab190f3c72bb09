//! Bots: registration (with its `main` app's host checked elsewhere), lookup, status, token.

use super::*;

impl Db {
    pub async fn insert_bot(
        &self,
        id: BotId,
        username: &str,
        host_label: &str,
        token_ciphertext: &[u8],
        audit: &NewAuditEvent<'_>,
    ) -> Result<Bot, StoreError> {
        let now = now_ms();
        let q = sql(format!(
            "INSERT INTO bots (id, username, host_label, token_ciphertext, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'active', $5, $5) RETURNING {BOT_COLS}"
        ));
        let bot = in_tx!(self, tx => {
            let bot: Bot = sqlx::query_as(q)
                .bind(id.0)
                .bind(username)
                .bind(host_label)
                .bind(token_ciphertext)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| StoreError::conflict_or(e, "a bot with this id or username is already registered"))?;
            insert_audit!(&mut *tx, audit);
            bot
        });
        Ok(bot)
    }

    pub async fn get_bot(&self, id: BotId) -> Result<Option<Bot>, StoreError> {
        let q = sql(format!("SELECT {BOT_COLS} FROM bots WHERE id = $1"));
        Ok(on_db!(self, p => sqlx::query_as(q).bind(id.0).fetch_optional(p).await?))
    }

    pub async fn get_bot_by_label(&self, host_label: &str) -> Result<Option<Bot>, StoreError> {
        let q = sql(format!("SELECT {BOT_COLS} FROM bots WHERE host_label = $1"));
        Ok(on_db!(self, p => sqlx::query_as(q).bind(host_label).fetch_optional(p).await?))
    }

    pub async fn list_bots(&self) -> Result<Vec<Bot>, StoreError> {
        let q = sql(format!("SELECT {BOT_COLS} FROM bots ORDER BY username"));
        Ok(on_db!(self, p => sqlx::query_as(q).fetch_all(p).await?))
    }

    pub async fn bot_token_ciphertext(&self, id: BotId) -> Result<Vec<u8>, StoreError> {
        let row: Option<(Vec<u8>,)> = on_db!(self, p => sqlx::query_as("SELECT token_ciphertext FROM bots WHERE id = $1")
            .bind(id.0)
            .fetch_optional(p)
            .await?);
        row.map(|r| r.0).ok_or(StoreError::NotFound)
    }

    pub async fn set_bot_status(
        &self,
        id: BotId,
        status: BotStatus,
        audit: &NewAuditEvent<'_>,
    ) -> Result<(), StoreError> {
        in_tx!(self, tx => {
            change_one!(
                &mut *tx,
                sqlx::query("UPDATE bots SET status = $1, updated_at = $2 WHERE id = $3")
                    .bind(status.as_str())
                    .bind(now_ms())
                    .bind(id.0)
            );
            insert_audit!(&mut *tx, audit);
        });
        Ok(())
    }
}
