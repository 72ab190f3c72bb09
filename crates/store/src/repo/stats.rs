//! Traffic and deploy statistics per bot and per day.

use super::*;

impl Db {
    /// Per-bot counters; `since` (ms) bounds `recent_deploys`.
    pub async fn bot_stats(&self, since: i64) -> Result<Vec<BotStats>, StoreError> {
        Ok(on_db!(self, p => sqlx::query_as(
            "SELECT b.id AS bot_id, b.status, \
               (SELECT COUNT(*) FROM apps a WHERE a.bot_id = b.id) AS apps, \
               (SELECT COUNT(*) FROM deployments d JOIN apps a ON a.id = d.app_id \
                  WHERE a.bot_id = b.id AND d.status IN ('ready', 'active', 'superseded')) AS deployments, \
               (SELECT COUNT(*) FROM deployments d JOIN apps a ON a.id = d.app_id \
                  WHERE a.bot_id = b.id AND d.created_at >= $1 AND d.status <> 'failed') AS recent_deploys, \
               (SELECT CAST(COALESCE(SUM(d.total_bytes), 0) AS BIGINT) FROM deployments d JOIN apps a ON a.id = d.app_id \
                  WHERE a.bot_id = b.id AND d.status = 'active') AS active_bytes, \
               (SELECT COUNT(*) FROM members m WHERE m.bot_id = b.id) AS members \
             FROM bots b ORDER BY b.id",
        )
        .bind(since)
        .fetch_all(p)
        .await?))
    }

    /// Distinct stored contents and their bytes (originals only).
    pub async fn blob_totals(&self) -> Result<(i64, i64), StoreError> {
        Ok(on_db!(self, p => sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM blobs WHERE state = 'live'",
        )
        .fetch_one(p)
        .await?))
    }

    /// Adds an edge's counts for one app and day.
    pub async fn add_daily_stats(
        &self,
        app_id: &str,
        day: i64,
        requests: i64,
        sessions: i64,
    ) -> Result<(), StoreError> {
        on_db!(self, p => sqlx::query(
            "INSERT INTO app_daily_stats (app_id, day, requests, sessions) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (app_id, day) DO UPDATE SET requests = app_daily_stats.requests + excluded.requests, \
             sessions = app_daily_stats.sessions + excluded.sessions",
        )
        .bind(app_id)
        .bind(day)
        .bind(requests)
        .bind(sessions)
        .execute(p)
        .await
        .map(|_| ())?);
        Ok(())
    }

    /// Records `(app id, day, user id)` sightings made at the given time (ms); repeats are
    /// ignored, and so is a sighting made before the user's data was erased (an edge's buffer
    /// flushed after the erasure must not bring it back).
    pub async fn add_daily_users(&self, rows: &[((String, i64, i64), i64)]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        in_tx!(self, tx => {
            for ((app, day, user), seen) in rows {
                sqlx::query(
                    "INSERT INTO app_daily_users (app_id, day, user_id) SELECT $1, $2, $3 WHERE NOT EXISTS \
                     (SELECT 1 FROM revoked_users WHERE user_id = $3 AND erased_at >= $4) ON CONFLICT DO NOTHING",
                )
                .bind(app)
                .bind(day)
                .bind(user)
                .bind(seen)
                .execute(&mut *tx)
                .await?;
            }
        });
        Ok(())
    }

    /// The app's days from `from_day` on that saw traffic, oldest first.
    pub async fn daily_stats(&self, app_id: &str, from_day: i64) -> Result<Vec<DailyStats>, StoreError> {
        Ok(on_db!(self, p => sqlx::query_as(
            "SELECT s.day, s.requests, s.sessions, \
               (SELECT COUNT(*) FROM app_daily_users u WHERE u.app_id = s.app_id AND u.day = s.day) AS users \
             FROM app_daily_stats s WHERE s.app_id = $1 AND s.day >= $2 ORDER BY s.day",
        )
        .bind(app_id)
        .bind(from_day)
        .fetch_all(p)
        .await?))
    }
}
