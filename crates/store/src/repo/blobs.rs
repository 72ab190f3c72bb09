//! Blob rows: which contents are stored, and which pending deployments expect which.

use super::*;

/// A pending deployment that expects a blob: who may send it, and what it must be.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExpectedBlob {
    pub bot_id: i64,
    pub size: i64,
    pub content_type: String,
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

    /// Records a blob whose bytes (and listed variants) are already in the object store;
    /// `br_pending`: its brotli variant is still to be made (by [`Db::pending_brotli`]'s reader).
    pub async fn insert_blob(
        &self,
        sha: &Sha256,
        size: i64,
        br_size: Option<i64>,
        gz_size: Option<i64>,
        br_pending: bool,
    ) -> Result<(), StoreError> {
        on_db!(self, p => sqlx::query(
            "INSERT INTO blobs (sha256, size, br_size, gz_size, br_pending, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(sha.as_str())
        .bind(size)
        .bind(br_size)
        .bind(gz_size)
        .bind(i64::from(br_pending))
        .bind(now_ms())
        .execute(p)
        .await
        .map(|_| ())?);
        Ok(())
    }

    /// Up to `limit` blobs whose brotli variant is still to be made and that no worker holds a
    /// lease on at `now` (ms), oldest first.
    pub async fn pending_brotli(&self, now: i64, limit: i64) -> Result<Vec<Sha256>, StoreError> {
        let rows: Vec<(String,)> = on_db!(self, p => sqlx::query_as(
            "SELECT sha256 FROM blobs WHERE br_pending = 1 AND br_lease < $1 ORDER BY created_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(p)
        .await?);
        rows.into_iter().map(|(h,)| Sha256::try_from(h).map_err(StoreError::Corrupt)).collect()
    }

    /// Takes the lease on making `sha`'s brotli variant until `until` (ms); `false` if it is
    /// made already or another worker's lease runs at `now`.
    pub async fn claim_brotli(&self, sha: &Sha256, now: i64, until: i64) -> Result<bool, StoreError> {
        let done = on_db!(self, p => sqlx::query(
            "UPDATE blobs SET br_lease = $1 WHERE sha256 = $2 AND br_pending = 1 AND br_lease < $3",
        )
        .bind(until)
        .bind(sha.as_str())
        .bind(now)
        .execute(p)
        .await?
        .rows_affected());
        Ok(done == 1)
    }

    /// Records that `sha`'s brotli variant is stored (`Some(size)`), or that it would not be
    /// smaller than the original (`None`): either way nothing is pending any more.
    pub async fn finish_brotli(&self, sha: &Sha256, br_size: Option<i64>) -> Result<(), StoreError> {
        on_db!(self, p => sqlx::query(
            "UPDATE blobs SET br_size = $1, br_pending = 0, br_lease = 0 WHERE sha256 = $2",
        )
        .bind(br_size)
        .bind(sha.as_str())
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
