//! What the edge's routing table is built from: one row per servable app, previous
//! deployments for skew protection, members for staff sessions.

use super::*;

/// Which apps an edge reads: all (at start and after a gap in the change log), one bot's, or
/// one app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeScope<'a> {
    All,
    Bot(i64),
    App(&'a str),
}

impl EdgeScope<'_> {
    /// `WHERE`/`AND` (`joiner`) a condition that `app_col` is an app in scope, with `$n` bound
    /// by `bind_scope!`; nothing for `All`.
    fn apps(&self, joiner: &str, app_col: &str, n: usize) -> String {
        match self {
            Self::All => String::new(),
            Self::Bot(_) => format!(" {joiner} {app_col} IN (SELECT id FROM apps WHERE bot_id = ${n})"),
            Self::App(_) => format!(" {joiner} {app_col} = ${n}"),
        }
    }
}

/// Binds the scope's parameter, if it has one.
macro_rules! bind_scope {
    ($q:expr, $scope:expr) => {
        match $scope {
            EdgeScope::All => $q,
            EdgeScope::Bot(bot) => $q.bind(bot),
            EdgeScope::App(app) => $q.bind(app),
        }
    };
}

impl Db {
    /// The apps in `scope` with their bot's label, status and token, and their active
    /// deployment: the edge's routes in one query.
    pub async fn edge_apps(&self, scope: EdgeScope<'_>) -> Result<Vec<EdgeApp>, StoreError> {
        let query = format!(
            "SELECT a.id AS app_id, a.bot_id, a.slug, a.settings, b.host_label, b.status AS bot_status, \
                    b.token_ciphertext, d.id AS active_deployment \
             FROM apps a JOIN bots b ON b.id = a.bot_id \
             LEFT JOIN deployments d ON d.app_id = a.id AND d.status = 'active'{}",
            scope.apps("WHERE", "a.id", 1)
        );
        Ok(on_db!(self, p => bind_scope!(sqlx::query_as(sql(query)), scope).fetch_all(p).await?))
    }

    /// `(app_id, deployment_id)` of the deployments each app in `scope` had active before the
    /// current one, most recently active first, at most `per_app` per app (skew protection).
    pub async fn previous_deployments(
        &self,
        per_app: i64,
        scope: EdgeScope<'_>,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let query = format!(
            "SELECT app_id, id FROM ( \
                SELECT app_id, id, activated_at, \
                       ROW_NUMBER() OVER (PARTITION BY app_id ORDER BY activated_at DESC, version DESC) AS n \
                FROM deployments WHERE status = 'superseded' AND activated_at IS NOT NULL{} \
             ) ranked WHERE n <= $1 ORDER BY app_id, n",
            scope.apps("AND", "app_id", 2)
        );
        Ok(on_db!(self, p => bind_scope!(sqlx::query_as(sql(query)).bind(per_app), scope).fetch_all(p).await?))
    }

    /// `(app_id, domain)` of the verified custom domains of the apps in `scope`.
    pub async fn verified_domains(&self, scope: EdgeScope<'_>) -> Result<Vec<(String, String)>, StoreError> {
        let query = format!(
            "SELECT app_id, domain FROM app_domains WHERE verified_at IS NOT NULL{}",
            scope.apps("AND", "app_id", 1)
        );
        Ok(on_db!(self, p => bind_scope!(sqlx::query_as(sql(query)), scope).fetch_all(p).await?))
    }

    /// `(bot id, user id)` of the members of the bots of the apps in `scope`: staff lists.
    pub async fn edge_members(&self, scope: EdgeScope<'_>) -> Result<Vec<(i64, i64)>, StoreError> {
        let filter = match scope {
            EdgeScope::All => "",
            EdgeScope::Bot(_) => " WHERE bot_id = $1",
            EdgeScope::App(_) => " WHERE bot_id = (SELECT bot_id FROM apps WHERE id = $1)",
        };
        let query = format!("SELECT bot_id, user_id FROM members{filter}");
        Ok(on_db!(self, p => bind_scope!(sqlx::query_as(sql(query)), scope).fetch_all(p).await?))
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
