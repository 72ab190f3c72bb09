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

    /// Sets (or, with `None`, clears) an admin's cap on the bytes the bot stores.
    pub async fn set_bot_max_bytes(
        &self,
        id: BotId,
        max_bytes: Option<i64>,
        audit: &NewAuditEvent<'_>,
    ) -> Result<(), StoreError> {
        in_tx!(self, tx => {
            change_one!(
                &mut *tx,
                sqlx::query("UPDATE bots SET max_bytes = $1, updated_at = $2 WHERE id = $3")
                    .bind(max_bytes)
                    .bind(now_ms())
                    .bind(id.0)
            );
            insert_audit!(&mut *tx, audit);
        });
        Ok(())
    }

    /// Bytes of the distinct contents the bot's deployments name (originals), in all and per
    /// app (slug, bytes).
    pub async fn bot_usage(&self, id: BotId) -> Result<(i64, Vec<(String, i64)>), StoreError> {
        let (total,): (i64,) = on_db!(self, p => sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(b.size), 0) AS BIGINT) FROM blobs b WHERE b.sha256 IN ( \
               SELECT f.sha256 FROM deployment_files f JOIN deployments d ON d.id = f.deployment_id \
               JOIN apps a ON a.id = d.app_id WHERE a.bot_id = $1)",
        )
        .bind(id.0)
        .fetch_one(p)
        .await?);
        let apps: Vec<(String, i64)> = on_db!(self, p => sqlx::query_as(
            "SELECT a.slug, CAST(COALESCE((SELECT SUM(b.size) FROM blobs b WHERE b.sha256 IN ( \
               SELECT f.sha256 FROM deployment_files f JOIN deployments d ON d.id = f.deployment_id \
               WHERE d.app_id = a.id)), 0) AS BIGINT) FROM apps a WHERE a.bot_id = $1 ORDER BY a.slug",
        )
        .bind(id.0)
        .fetch_all(p)
        .await?);
        Ok((total, apps))
    }

    /// Which of `hashes` a deployment of the bot names already.
    pub async fn named_by_bot(
        &self,
        id: BotId,
        hashes: &[Sha256],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut found = std::collections::HashSet::new();
        for chunk in hashes.chunks(500) {
            let text = format!(
                "SELECT DISTINCT f.sha256 FROM deployment_files f JOIN deployments d ON d.id = f.deployment_id \
                 JOIN apps a ON a.id = d.app_id WHERE a.bot_id = $1 AND f.sha256 IN ({})",
                placeholders(2, chunk.len())
            );
            let rows: Vec<(String,)> = on_db!(self, p => {
                let mut q = sqlx::query_as(sql(text.clone())).bind(id.0);
                for h in chunk {
                    q = q.bind(h.as_str());
                }
                q.fetch_all(p).await?
            });
            found.extend(rows.into_iter().map(|(s,)| s));
        }
        Ok(found)
    }
}
