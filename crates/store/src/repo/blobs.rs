//! Blob rows: which contents are stored, who is uploading which, and which pending
//! deployments expect which. A row's state says what its objects are: `pending` (being
//! written; nothing may reference it), `live` (all stored) or `doomed` (being deleted by the
//! collector, `gc.rs`). Every "exists" answer touches the row (`touched_at`), which holds it for
//! the collector's grace period.

use super::*;

/// A pending deployment that expects a blob: who may send it, and what it must be.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExpectedBlob {
    pub bot_id: i64,
    pub size: i64,
    pub content_type: String,
    /// The bot has provided the content since it declared it.
    pub provided: bool,
}

/// What [`Db::claim_blob`] found for a content about to be uploaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobClaim {
    /// The caller writes the objects, then calls [`Db::finish_blob`] (another uploader of the
    /// same content may be writing the same bytes: keys are content addresses).
    Upload,
    /// Stored already: nothing to write.
    Live,
    /// A collector is deleting its objects since `since` (ms): wait, then claim again.
    Doomed { since: i64 },
}

impl Db {
    /// Which of `hashes` are not stored (order kept, no duplicates). The stored ones are
    /// touched: this "exists" answer holds them for the collector's grace period.
    pub async fn missing_blobs(&self, hashes: &[Sha256]) -> Result<Vec<Sha256>, StoreError> {
        self.touch_found(hashes, "UPDATE blobs SET touched_at = $1 WHERE state = 'live' AND sha256 IN", None).await
    }

    /// Which of `hashes` `bot` has never sent or deployed, or are no longer stored (order kept,
    /// no duplicates): what a digest deploy of that bot must upload, whatever other tenants
    /// stored. The others are touched, as by [`Db::missing_blobs`].
    pub async fn unknown_to_bot(&self, bot: BotId, hashes: &[Sha256]) -> Result<Vec<Sha256>, StoreError> {
        let touch = "UPDATE blobs SET touched_at = $1 WHERE state = 'live' AND sha256 IN \
                     (SELECT sha256 FROM bot_blobs WHERE bot_id = $2 AND sha256 IN";
        self.touch_found(hashes, touch, Some(bot.0)).await
    }

    /// `hashes` minus those `update … IN (…) RETURNING sha256` touches, asked 500 at a time;
    /// `$1` is the time, `bot` (if any) is bound to `$2` and closes a sub-select.
    async fn touch_found(&self, hashes: &[Sha256], update: &str, bot: Option<i64>) -> Result<Vec<Sha256>, StoreError> {
        let first = if bot.is_some() { 3 } else { 2 };
        let close = if bot.is_some() { ")" } else { "" };
        let now = now_ms();
        let mut known = std::collections::HashSet::new();
        for chunk in hashes.chunks(500) {
            let text = format!("{update} ({}){close} RETURNING sha256", placeholders(first, chunk.len()));
            let rows: Vec<(String,)> = on_db!(self, p => {
                let mut q = sqlx::query_as(sql(text.clone())).bind(now);
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

    /// Claims the upload of a content (`size` bytes): a `pending` row that nothing may
    /// reference, so no collector deletes what the caller is about to write.
    pub async fn claim_blob(&self, sha: &Sha256, size: i64) -> Result<BlobClaim, StoreError> {
        let now = now_ms();
        let row: Option<(String,)> = on_db!(self, p => sqlx::query_as(
            "INSERT INTO blobs (sha256, size, created_at, state, touched_at) VALUES ($1, $2, $3, 'pending', $3) \
             ON CONFLICT (sha256) DO UPDATE SET touched_at = excluded.touched_at WHERE blobs.state <> 'doomed' \
             RETURNING state",
        )
        .bind(sha.as_str())
        .bind(size)
        .bind(now)
        .fetch_optional(p)
        .await?);
        match row.as_ref().map(|(s,)| s.as_str()) {
            Some("pending") => Ok(BlobClaim::Upload),
            Some("live") => Ok(BlobClaim::Live),
            _ => {
                let since: Option<(i64,)> = on_db!(self, p => sqlx::query_as(
                    "SELECT touched_at FROM blobs WHERE sha256 = $1 AND state = 'doomed'",
                )
                .bind(sha.as_str())
                .fetch_optional(p)
                .await?);
                // Gone meanwhile: the next claim inserts it.
                Ok(BlobClaim::Doomed { since: since.map_or(now, |(t,)| t) })
            }
        }
    }

    /// Records that a claimed content's objects (the original and the listed variants) are all
    /// stored, and that the bots in `provided_to` sent it, in one transaction; `br_pending`:
    /// its brotli variant is still to be made (by [`Db::pending_brotli`]'s reader). `false`
    /// when the claim was lost (a collector took the row as abandoned) and the content is not
    /// live: the objects may be gone, upload again.
    pub async fn finish_blob(
        &self,
        sha: &Sha256,
        size: i64,
        gz_size: Option<i64>,
        br_pending: bool,
        provided_to: &[BotId],
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let live = in_tx!(self, tx => {
            let done = sqlx::query(
                "UPDATE blobs SET state = 'live', size = $1, gz_size = $2, br_size = NULL, br_pending = $3, \
                 touched_at = $4 WHERE sha256 = $5 AND state = 'pending'",
            )
            .bind(size)
            .bind(gz_size)
            .bind(i64::from(br_pending))
            .bind(now)
            .bind(sha.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            // Otherwise another uploader of the same content may have finished first.
            let live = done == 1 || {
                let state: Option<(String,)> = sqlx::query_as("SELECT state FROM blobs WHERE sha256 = $1")
                    .bind(sha.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                state.is_some_and(|(s,)| s == "live")
            };
            if live {
                for bot in provided_to {
                    sqlx::query("INSERT INTO bot_blobs (bot_id, sha256) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                        .bind(bot.0)
                        .bind(sha.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
            }
            live
        });
        Ok(live)
    }

    /// Notes that `bot` sent (or deployed) these contents, those of them that are stored (one
    /// collected meanwhile is left out: the bot must send it again).
    pub async fn add_bot_blobs(&self, bot: BotId, hashes: &[Sha256]) -> Result<(), StoreError> {
        for chunk in hashes.chunks(400) {
            let text = format!(
                "INSERT INTO bot_blobs (bot_id, sha256) SELECT $1, sha256 FROM blobs \
                 WHERE state = 'live' AND sha256 IN ({}) ON CONFLICT DO NOTHING",
                placeholders(2, chunk.len())
            );
            // A row the collector dropped after this statement's snapshot fails the foreign key
            // check; the next attempt no longer sees it.
            let mut attempts = 0;
            loop {
                let done: Result<(), sqlx::Error> = on_db!(self, p => {
                    let mut q = sqlx::query(sql(text.clone())).bind(bot.0);
                    for h in chunk {
                        q = q.bind(h.as_str());
                    }
                    q.execute(p).await.map(|_| ())
                });
                match done {
                    Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() && attempts < 3 => attempts += 1,
                    other => break other?,
                }
            }
        }
        Ok(())
    }

    /// Up to `limit` blobs whose brotli variant is still to be made and that no worker holds a
    /// lease on at `now` (ms), oldest first.
    pub async fn pending_brotli(&self, now: i64, limit: i64) -> Result<Vec<Sha256>, StoreError> {
        let rows: Vec<(String,)> = on_db!(self, p => sqlx::query_as(
            "SELECT sha256 FROM blobs WHERE br_pending = 1 AND br_lease < $1 AND state = 'live' ORDER BY created_at LIMIT $2",
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
            "UPDATE blobs SET br_lease = $1 WHERE sha256 = $2 AND br_pending = 1 AND br_lease < $3 AND state = 'live'",
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
    /// smaller than the original (`None`): either way nothing is pending any more. `false` when
    /// the content is no longer live (collected meanwhile): the variant just written is garbage.
    pub async fn finish_brotli(&self, sha: &Sha256, br_size: Option<i64>) -> Result<bool, StoreError> {
        let done = on_db!(self, p => sqlx::query(
            "UPDATE blobs SET br_size = $1, br_pending = 0, br_lease = 0 WHERE sha256 = $2 AND state = 'live'",
        )
        .bind(br_size)
        .bind(sha.as_str())
        .execute(p)
        .await?
        .rows_affected());
        Ok(done == 1)
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
