//! What a backup reads: an online snapshot of an SQLite database, and the stored contents in
//! hash order (keyset pages, so a copy of any size runs in bounded memory).

use super::*;

/// A content's row: its hash and which objects it has.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredBlob {
    #[sqlx(try_from = "String")]
    pub sha256: Sha256,
    pub size: i64,
    pub br_size: Option<i64>,
    pub gz_size: Option<i64>,
}

impl Db {
    /// Writes a consistent copy of the SQLite database to `path` (`VACUUM INTO`: one read
    /// transaction, so writers go on meanwhile). PostgreSQL has `pg_dump` for this.
    pub async fn snapshot_into(&self, path: &std::path::Path) -> Result<(), StoreError> {
        let Self::Sqlite(pool) = self else {
            return Err(StoreError::InvalidState("a PostgreSQL database is copied with pg_dump".into()));
        };
        let path = path.to_str().ok_or_else(|| StoreError::InvalidState("the backup path is not UTF-8".into()))?;
        sqlx::query("VACUUM INTO $1").bind(path).execute(pool).await?;
        Ok(())
    }

    /// Live contents after `after` in hash order, `limit` at most.
    pub async fn live_blobs_after(&self, after: Option<&Sha256>, limit: i64) -> Result<Vec<StoredBlob>, StoreError> {
        Ok(on_db!(self, p => sqlx::query_as(
            "SELECT sha256, size, br_size, gz_size FROM blobs WHERE state = 'live' AND sha256 > $1 ORDER BY sha256 LIMIT $2",
        )
        .bind(after.map_or("", Sha256::as_str))
        .bind(limit)
        .fetch_all(p)
        .await?))
    }

    /// Contents some deployment names, after `after` in hash order, with their row (`None`:
    /// a deployment names a content with no live row, which must never happen).
    pub async fn referenced_blobs_after(
        &self,
        after: Option<&Sha256>,
        limit: i64,
    ) -> Result<Vec<(Sha256, Option<StoredBlob>)>, StoreError> {
        /// A named content and its live row's columns, if it has one.
        #[derive(sqlx::FromRow)]
        struct Named {
            sha256: String,
            size: Option<i64>,
            br_size: Option<i64>,
            gz_size: Option<i64>,
        }
        let rows: Vec<Named> = on_db!(self, p => sqlx::query_as(
            "SELECT r.sha256, b.size, b.br_size, b.gz_size FROM \
               (SELECT DISTINCT sha256 FROM deployment_files WHERE sha256 > $1 ORDER BY sha256 LIMIT $2) r \
             LEFT JOIN blobs b ON b.sha256 = r.sha256 AND b.state = 'live' ORDER BY r.sha256",
        )
        .bind(after.map_or("", Sha256::as_str))
        .bind(limit)
        .fetch_all(p)
        .await?);
        rows.into_iter()
            .map(|n| {
                let sha = Sha256::parse(&n.sha256).map_err(StoreError::Corrupt)?;
                let row =
                    n.size.map(|size| StoredBlob { sha256: sha.clone(), size, br_size: n.br_size, gz_size: n.gz_size });
                Ok((sha, row))
            })
            .collect()
    }

    /// The newest migration applied (the schema version a backup holds).
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let (v,): (Option<i64>,) =
            on_db!(self, p => sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations").fetch_one(p).await?);
        Ok(v.unwrap_or(0))
    }
}
