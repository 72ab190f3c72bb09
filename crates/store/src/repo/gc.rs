//! What the blob collector reads and changes (the pass itself is the service's `gc.rs`), and
//! named leases for jobs that run on one node at a time.
//!
//! A content is collected in three steps, each safe to interrupt: [`Db::doom_blobs`] marks
//! unreferenced rows untouched since the cutoff as `doomed` (uploaders of that content then
//! wait, and no deployment can be recorded with it), the objects are deleted, and
//! [`Db::drop_doomed`] removes the rows. A row left doomed by a collector that died is taken
//! again by the next pass (or by a waiting uploader) once the doom is stale.

use super::*;

/// A content the collector may take: unreferenced and untouched since the cutoff, or doomed
/// by a collector that stopped.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GcCandidate {
    #[sqlx(try_from = "String")]
    pub sha256: Sha256,
    /// Bytes of the original and its variants.
    pub bytes: i64,
}

impl Db {
    /// The next `limit` candidates after `after` in hash order (keyset paging: memory stays
    /// bounded however many blobs there are). `cutoff`: touched before it; `stale`: doomed
    /// before it.
    pub async fn gc_candidates(
        &self,
        after: Option<&Sha256>,
        cutoff: i64,
        stale: i64,
        limit: i64,
    ) -> Result<Vec<GcCandidate>, StoreError> {
        Ok(on_db!(self, p => sqlx::query_as(
            "SELECT b.sha256, CAST(b.size + COALESCE(b.br_size, 0) + COALESCE(b.gz_size, 0) AS BIGINT) AS bytes \
             FROM blobs b WHERE b.sha256 > $1 \
             AND ((b.state IN ('live', 'pending') AND b.touched_at < $2) OR (b.state = 'doomed' AND b.touched_at < $3)) \
             AND NOT EXISTS (SELECT 1 FROM deployment_files f WHERE f.sha256 = b.sha256) \
             ORDER BY b.sha256 LIMIT $4",
        )
        .bind(after.map_or("", Sha256::as_str))
        .bind(cutoff)
        .bind(stale)
        .bind(limit)
        .fetch_all(p)
        .await?))
    }

    /// Dooms those of `shas` that are still candidates (see [`Db::gc_candidates`]), marking
    /// them with `mark` (ms); returns the doomed ones. A deployment recorded meanwhile keeps
    /// its contents: the references are read again, in a statement that starts after the rows
    /// are locked, and the referenced ones are left live.
    pub async fn doom_blobs(
        &self,
        shas: &[Sha256],
        cutoff: i64,
        stale: i64,
        mark: i64,
    ) -> Result<Vec<Sha256>, StoreError> {
        if shas.is_empty() {
            return Ok(Vec::new());
        }
        let list = placeholders(4, shas.len());
        let doom = sql(format!(
            "UPDATE blobs SET state = 'doomed', touched_at = $1 WHERE sha256 IN ({list}) \
             AND ((state IN ('live', 'pending') AND touched_at < $2) OR (state = 'doomed' AND touched_at < $3)) \
             RETURNING sha256"
        ));
        let list = placeholders(3, shas.len());
        let referenced = sql(format!(
            "UPDATE blobs SET state = 'live', touched_at = $1 WHERE state = 'doomed' AND touched_at = $2 \
             AND sha256 IN (SELECT sha256 FROM deployment_files WHERE sha256 IN ({list})) RETURNING sha256"
        ));
        let (doomed, kept) = in_tx!(self, tx => {
            let mut q = sqlx::query_as(doom).bind(mark).bind(cutoff).bind(stale);
            for s in shas {
                q = q.bind(s.as_str());
            }
            let doomed: Vec<(String,)> = q.fetch_all(&mut *tx).await?;
            let mut q = sqlx::query_as(referenced).bind(mark).bind(mark);
            for s in shas {
                q = q.bind(s.as_str());
            }
            let kept: Vec<(String,)> = q.fetch_all(&mut *tx).await?;
            (doomed, kept)
        });
        let kept: std::collections::HashSet<String> = kept.into_iter().map(|(s,)| s).collect();
        doomed
            .into_iter()
            .filter(|(s,)| !kept.contains(s))
            .map(|(s,)| Sha256::try_from(s).map_err(StoreError::Corrupt))
            .collect()
    }

    /// Rows for contents that have objects but no row (left by an upload that died before it
    /// claimed, or by a variant written after its content was collected), doomed with `mark`
    /// so no uploader writes them while they are deleted; returns those inserted (a content
    /// someone claimed meanwhile is left to them).
    pub async fn doom_orphans(&self, shas: &[Sha256], mark: i64) -> Result<Vec<Sha256>, StoreError> {
        let mut doomed = Vec::new();
        for s in shas {
            let row: Option<(String,)> = on_db!(self, p => sqlx::query_as(
                "INSERT INTO blobs (sha256, size, created_at, state, touched_at) VALUES ($1, 0, $2, 'doomed', $2) \
                 ON CONFLICT (sha256) DO NOTHING RETURNING sha256",
            )
            .bind(s.as_str())
            .bind(mark)
            .fetch_optional(p)
            .await?);
            if row.is_some() {
                doomed.push(s.clone());
            }
        }
        Ok(doomed)
    }

    /// Removes the rows of doomed contents whose objects are deleted (and what names them in
    /// `bot_blobs`), if still doomed with `mark`.
    pub async fn drop_doomed(&self, shas: &[Sha256], mark: i64) -> Result<u64, StoreError> {
        if shas.is_empty() {
            return Ok(0);
        }
        let list = placeholders(2, shas.len());
        let gone =
            format!("SELECT sha256 FROM blobs WHERE state = 'doomed' AND touched_at = $1 AND sha256 IN ({list})");
        let bot_rows = sql(format!("DELETE FROM bot_blobs WHERE sha256 IN ({gone})"));
        let rows = sql(format!("DELETE FROM blobs WHERE sha256 IN ({gone})"));
        let n = in_tx!(self, tx => {
            let mut q = sqlx::query(bot_rows).bind(mark);
            for s in shas {
                q = q.bind(s.as_str());
            }
            q.execute(&mut *tx).await?;
            let mut q = sqlx::query(rows).bind(mark);
            for s in shas {
                q = q.bind(s.as_str());
            }
            q.execute(&mut *tx).await?.rows_affected()
        });
        Ok(n)
    }

    /// Which of `shas` have a row, in any state.
    pub async fn blob_rows(&self, shas: &[Sha256]) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut found = std::collections::HashSet::new();
        for chunk in shas.chunks(500) {
            let text = format!("SELECT sha256 FROM blobs WHERE sha256 IN ({})", placeholders(1, chunk.len()));
            let rows: Vec<(String,)> = on_db!(self, p => {
                let mut q = sqlx::query_as(sql(text.clone()));
                for s in chunk {
                    q = q.bind(s.as_str());
                }
                q.fetch_all(p).await?
            });
            found.extend(rows.into_iter().map(|(s,)| s));
        }
        Ok(found)
    }

    /// Takes (or renews) the lease `name` for `holder` until `until` (ms); `false` while another
    /// holder's lease runs at `now`.
    pub async fn take_lease(&self, name: &str, holder: &str, now: i64, until: i64) -> Result<bool, StoreError> {
        let row: Option<(String,)> = on_db!(self, p => sqlx::query_as(
            "INSERT INTO leases (name, holder, until) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until \
             WHERE leases.holder = excluded.holder OR leases.until < $4 RETURNING holder",
        )
        .bind(name)
        .bind(holder)
        .bind(until)
        .bind(now)
        .fetch_optional(p)
        .await?);
        Ok(row.is_some())
    }

    /// Gives the lease back, if `holder` still has it.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        on_db!(self, p => sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(p)
            .await
            .map(|_| ())?);
        Ok(())
    }
}
