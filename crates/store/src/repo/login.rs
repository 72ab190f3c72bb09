//! One-time dashboard login links.

use super::*;

impl Db {
    pub async fn insert_login_link(&self, code_hash: &str, user_id: i64, expires_at: i64) -> Result<(), StoreError> {
        let now = now_ms();
        on_db!(self, p => {
            // Expired links are useless; clear them while we are here.
            sqlx::query("DELETE FROM login_links WHERE expires_at < $1").bind(now - 86_400_000).execute(p).await?;
            sqlx::query("INSERT INTO login_links (code_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
                .bind(code_hash)
                .bind(user_id)
                .bind(now)
                .bind(expires_at)
                .execute(p)
                .await
                .map(|_| ())?
        });
        Ok(())
    }

    /// Whether a link exists, is unused and has not expired (without using it up).
    pub async fn login_link_usable(&self, code_hash: &str) -> Result<bool, StoreError> {
        let row: Option<(i64,)> = on_db!(self, p => sqlx::query_as(
            "SELECT user_id FROM login_links WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(code_hash)
        .bind(now_ms())
        .fetch_optional(p)
        .await?);
        Ok(row.is_some())
    }

    /// Marks the link used and returns its user, if it exists, is unused and has not expired.
    /// One statement, so two concurrent redemptions cannot both succeed.
    pub async fn redeem_login_link(&self, code_hash: &str) -> Result<Option<i64>, StoreError> {
        let row: Option<(i64,)> = on_db!(self, p => sqlx::query_as(
            "UPDATE login_links SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL AND expires_at > $1 \
             RETURNING user_id",
        )
        .bind(now_ms())
        .bind(code_hash)
        .fetch_optional(p)
        .await?);
        Ok(row.map(|r| r.0))
    }
}
