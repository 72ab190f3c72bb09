//! Blob rows: which contents are stored, and which pending deployments expect which.

use super::*;

/// A pending deployment that expects a blob: who may send it, and what it must be.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExpectedBlob {
    pub bot_id: i64,
    pub size: i64,
    pub content_type: String,
    pub fast_brotli: i64,
}

impl Db {
    /// Which of `hashes` the blob table does not know yet (order kept, no duplicates).
    pub async fn missing_blobs(&self, hashes: &[Sha256]) -> Result<Vec<Sha256>, StoreError> {
        self.hashes_not_found(hashes, "SELECT sha256 FROM blobs WHERE sha256 IN", None).await
    }

    /// Which of `hashes` `bot` has never sent or deployed (order kept, no duplicates): what a
    /// digest deploy of that bot must upload, whatever other tenants stored.
    pub async fn unknown_to_bot(&self, bot: BotId, hashes: &[Sha256]) -> Result<Vec<Sha256>, StoreError> {
        self.hashes_not_found(hashes, "SELECT sha256 FROM bot_blobs WHERE bot_id = $1 AND sha256 IN", Some(bot.0)).await
    }

    /// `hashes` minus those `select … IN (…)` returns, asked 500 at a time; `bot` (if any)
    /// is bound to `$1`.
    async fn hashes_not_found(
        &self,
        hashes: &[Sha256],
        select: &str,
        bot: Option<i64>,
    ) -> Result<Vec<Sha256>, StoreError> {
        let first = if bot.is_some() { 2 } else { 1 };
        let mut known = std::collections::HashSet::new();
        for chunk in hashes.chunks(500) {
            let placeholders: Vec<String> = (first..first + chunk.len()).map(|i| format!("${i}")).collect();
            let text = format!("{select} ({})", placeholders.join(", "));
            let rows: Vec<(String,)> = on_db!(self, p => {
                let mut q = sqlx::query_as(sql(text.clone()));
                if let Some(b) = bot {
                    q = q.bind(b);
                }
                for h in chunk {
                    q = q.bind(h.as_str());
                }
                q.fetch_all(p).await?
            });
            known.extend(rows.into_iter().map(|r| r.0));
        }
        let mut seen = std::collections::HashSet::new();
        Ok(hashes.iter().filter(|h| !known.contains(h.as_str()) && seen.insert(h.as_str())).cloned().collect())
    }

    /// Notes that `bot` sent (or deployed) these contents, whose blob rows exist.
    pub async fn add_bot_blobs(&self, bot: BotId, hashes: &[Sha256]) -> Result<(), StoreError> {
        for chunk in hashes.chunks(400) {
            let values: Vec<String> = (0..chunk.len()).map(|i| format!("($1, ${})", i + 2)).collect();
            let text =
                format!("INSERT INTO bot_blobs (bot_id, sha256) VALUES {} ON CONFLICT DO NOTHING", values.join(", "));
            on_db!(self, p => {
                let mut q = sqlx::query(sql(text.clone())).bind(bot.0);
                for h in chunk {
                    q = q.bind(h.as_str());
                }
                q.execute(p).await.map(|_| ())?
            });
        }
        Ok(())
    }

    /// Records a blob whose bytes (and listed variants) are already in the object store.
    pub async fn insert_blob(
        &self,
        sha: &Sha256,
        size: i64,
        br_size: Option<i64>,
        gz_size: Option<i64>,
    ) -> Result<(), StoreError> {
        on_db!(self, p => sqlx::query(
            "INSERT INTO blobs (sha256, size, br_size, gz_size, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(sha.as_str())
        .bind(size)
        .bind(br_size)
        .bind(gz_size)
        .bind(now_ms())
        .execute(p)
        .await
        .map(|_| ())?);
        Ok(())
    }

    pub async fn count_blobs(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = on_db!(self, p => sqlx::query_as("SELECT COUNT(*) FROM blobs").fetch_one(p).await?);
        Ok(n)
    }

    pub async fn count_deployments(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = on_db!(self, p => sqlx::query_as("SELECT COUNT(*) FROM deployments").fetch_one(p).await?);
        Ok(n)
    }
}
