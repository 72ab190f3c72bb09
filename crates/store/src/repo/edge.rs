//! What the edge's routing table is built from: one row per servable app, previous
//! deployments for skew protection, members for staff sessions.

use super::*;

impl Db {
    /// Every app with its bot's label, status and token, and its active deployment: the edge's
    /// routing table in one query.
    pub async fn edge_apps(&self) -> Result<Vec<EdgeApp>, StoreError> {
        Ok(on_db!(self, p => sqlx::query_as(
            "SELECT a.id AS app_id, a.bot_id, a.slug, a.settings, b.host_label, b.status AS bot_status, \
                    b.token_ciphertext, d.id AS active_deployment \
             FROM apps a JOIN bots b ON b.id = a.bot_id \
             LEFT JOIN deployments d ON d.app_id = a.id AND d.status = 'active'",
        )
        .fetch_all(p)
        .await?))
    }

    /// `(app_id, deployment_id)` of the deployments each app had active before the current one,
    /// most recently active first, at most `per_app` per app (skew protection).
    pub async fn previous_deployments(&self, per_app: i64) -> Result<Vec<(String, String)>, StoreError> {
        Ok(on_db!(self, p => sqlx::query_as(
            "SELECT app_id, id FROM ( \
                SELECT app_id, id, activated_at, \
                       ROW_NUMBER() OVER (PARTITION BY app_id ORDER BY activated_at DESC, version DESC) AS n \
                FROM deployments WHERE status = 'superseded' AND activated_at IS NOT NULL \
             ) ranked WHERE n <= $1 ORDER BY app_id, n",
        )
        .bind(per_app)
        .fetch_all(p)
        .await?))
    }

    /// A servable deployment of `app_id` whose id ends with the preview `short_id`.
    pub async fn deployment_by_short_id(&self, app_id: &str, short_id: &str) -> Result<Option<String>, StoreError> {
        let pattern = format!("%-{short_id}");
        let row: Option<(String,)> = on_db!(self, p => sqlx::query_as(
            "SELECT id FROM deployments WHERE app_id = $1 AND id LIKE $2 \
             AND status IN ('ready', 'active', 'superseded')",
        )
        .bind(app_id)
        .bind(&pattern)
        .fetch_optional(p)
        .await?);
        Ok(row.map(|(id,)| id))
    }

    /// The parsed `_headers`/`_redirects` of a deployment, as stored (JSON).
    pub async fn deployment_rules(&self, deployment_id: &str) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = on_db!(self, p => sqlx::query_as("SELECT rules FROM deployments WHERE id = $1")
            .bind(deployment_id)
            .fetch_optional(p)
            .await?);
        Ok(row.map(|(r,)| r))
    }
}
