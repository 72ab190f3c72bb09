//! Repository operations. Each mutation takes the audit event that describes it and writes
//! both in one transaction, so the audit log never misses or invents a change.

use sqlx::AssertSqlSafe;
use tmahost_telegram::BotId;

use crate::model::{
    ApiToken, App, AppSettings, AppSlug, AuditEvent, Bot, BotStats, BotStatus, DailyStats, Deployment, DeploymentFile,
    DeploymentStatus, EdgeApp, Member, NewAuditEvent, Role, Sha256, TokenScope,
};
use crate::{Db, StoreError, in_tx, now_ms, on_db};

/// Appends an audit event on the given executor (a transaction, usually).
macro_rules! insert_audit {
    ($conn:expr, $ev:expr) => {{
        let ev: &NewAuditEvent<'_> = $ev;
        sqlx::query(
            "INSERT INTO audit_events (at, actor, action, bot_id, app_id, deployment_id, details) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(now_ms())
        .bind(ev.actor)
        .bind(ev.action)
        .bind(ev.bot_id.map(|b| b.0))
        .bind(ev.app_id)
        .bind(ev.deployment_id)
        .bind(ev.details.to_string())
        .execute($conn)
        .await?;
    }};
}

/// Takes the app's row lock (serialising activations of one app) and supersedes its active
/// deployment unless that is `$keep`.
macro_rules! lock_app_and_supersede {
    ($conn:expr, $app_id:expr, $keep:expr, $now:expr) => {{
        sqlx::query("UPDATE apps SET updated_at = $1 WHERE id = $2").bind($now).bind($app_id).execute($conn).await?;
        sqlx::query(
            "UPDATE deployments SET status = 'superseded' WHERE app_id = $1 AND status = 'active' AND id <> $2",
        )
        .bind($app_id)
        .bind($keep)
        .execute($conn)
        .await?;
    }};
}

/// Drops what a digest deploy declared, once its deployment is complete or failed.
macro_rules! forget_upload {
    ($conn:expr, $id:expr) => {{
        sqlx::query("DELETE FROM upload_blobs WHERE deployment_id = $1").bind($id).execute(&mut *$conn).await?;
        sqlx::query("DELETE FROM uploads WHERE deployment_id = $1").bind($id).execute(&mut *$conn).await?;
    }};
}

/// Makes the app's custom-domain claim `$domain` (normalised), keeping its proof when the
/// name is unchanged; `None` drops the claim (and its route).
macro_rules! set_domain_claim {
    ($conn:expr, $app_id:expr, $domain:expr, $now:expr) => {{
        let domain: Option<&str> = $domain;
        sqlx::query("DELETE FROM app_domains WHERE app_id = $1 AND domain IS DISTINCT FROM $2")
            .bind($app_id)
            .bind(domain)
            .execute(&mut *$conn)
            .await?;
        if let Some(d) = domain {
            sqlx::query(
                "INSERT INTO app_domains (app_id, domain, created_at) VALUES ($1, $2, $3) ON CONFLICT (app_id) DO NOTHING",
            )
            .bind($app_id)
            .bind(d)
            .bind($now)
            .execute(&mut *$conn)
            .await?;
        }
    }};
}

const BOT_COLS: &str = "id, username, host_label, status, created_at, updated_at";
const APP_COLS: &str = "id, bot_id, slug, settings, created_at, updated_at";
const DEPLOYMENT_COLS: &str = "id, app_id, version, status, message, created_by, created_at, activated_at, \
                               file_count, total_bytes, error";
const TOKEN_COLS: &str =
    "id, name, scope, created_by, minted_by_admin, created_at, expires_at, revoked_at, last_used_at";

/// A manifest entry to record when a deployment's upload completes.
#[derive(Debug, Clone)]
pub struct NewDeploymentFile {
    pub path: String,
    pub sha256: Sha256,
    pub size: i64,
    pub content_type: String,
}

/// What a digest deploy declares when it opens its deployment (see `uploads` in migration 0005).
#[derive(Debug, Clone)]
pub struct NewUpload {
    /// The checked manifest as JSON; read back by [`Db::upload`] when the client finalizes.
    pub manifest_json: String,
    pub activate: bool,
    /// Compress its blobs at the fast brotli level (a big deploy), not the maximum.
    pub fast_brotli: bool,
    pub expires_at: i64,
    /// Contents the store lacks: (sha256, size, content type).
    pub expected: Vec<(Sha256, i64, String)>,
}

/// An unfinished digest deploy, as recorded.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Upload {
    pub manifest: String,
    pub activate: i64,
    pub new_blobs: i64,
    pub expires_at: i64,
}

/// A pending deployment that expects a blob: who may send it, and what it must be.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExpectedBlob {
    pub bot_id: i64,
    pub size: i64,
    pub content_type: String,
    pub fast_brotli: i64,
}

fn sql(s: String) -> AssertSqlSafe<String> {
    // Only ever called with column lists and placeholders built from constants in this module.
    AssertSqlSafe(s)
}

impl Db {
    // ----- bots -------------------------------------------------------------------------

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
            let n = sqlx::query("UPDATE bots SET status = $1, updated_at = $2 WHERE id = $3")
                .bind(status.as_str())
                .bind(now_ms())
                .bind(id.0)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            insert_audit!(&mut *tx, audit);
        });
        Ok(())
    }

    // ----- apps -------------------------------------------------------------------------

    pub async fn insert_app(
        &self,
        bot: BotId,
        slug: &AppSlug,
        settings: &AppSettings,
        audit: &NewAuditEvent<'_>,
    ) -> Result<App, StoreError> {
        let now = now_ms();
        let id = uuid::Uuid::now_v7().to_string();
        let settings = serde_json::to_string(settings).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let q = sql(format!(
            "INSERT INTO apps (id, bot_id, slug, settings, next_version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 1, $5, $5) RETURNING {APP_COLS}"
        ));
        let app = in_tx!(self, tx => {
            let app: App = sqlx::query_as(q)
                .bind(&id)
                .bind(bot.0)
                .bind(slug.as_str())
                .bind(&settings)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| StoreError::conflict_or(e, "this bot already has an app with that slug"))?;
            set_domain_claim!(tx, &app.id, app.settings.custom_domain.as_deref(), now);
            let ev = NewAuditEvent { app_id: Some(&app.id), ..audit.clone() };
            insert_audit!(&mut *tx, &ev);
            app
        });
        Ok(app)
    }

    pub async fn get_app(&self, bot: BotId, slug: &AppSlug) -> Result<Option<App>, StoreError> {
        let q = sql(format!("SELECT {APP_COLS} FROM apps WHERE bot_id = $1 AND slug = $2"));
        Ok(on_db!(self, p => sqlx::query_as(q).bind(bot.0).bind(slug.as_str()).fetch_optional(p).await?))
    }

    pub async fn get_app_by_id(&self, id: &str) -> Result<Option<App>, StoreError> {
        let q = sql(format!("SELECT {APP_COLS} FROM apps WHERE id = $1"));
        Ok(on_db!(self, p => sqlx::query_as(q).bind(id).fetch_optional(p).await?))
    }

    pub async fn list_apps(&self, bot: BotId) -> Result<Vec<App>, StoreError> {
        let q = sql(format!("SELECT {APP_COLS} FROM apps WHERE bot_id = $1 ORDER BY slug"));
        Ok(on_db!(self, p => sqlx::query_as(q).bind(bot.0).fetch_all(p).await?))
    }

    pub async fn update_app_settings(
        &self,
        app_id: &str,
        settings: &AppSettings,
        audit: &NewAuditEvent<'_>,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(settings).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let now = now_ms();
        in_tx!(self, tx => {
            let n = sqlx::query("UPDATE apps SET settings = $1, updated_at = $2 WHERE id = $3")
                .bind(&json)
                .bind(now)
                .bind(app_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            set_domain_claim!(tx, app_id, settings.custom_domain.as_deref(), now);
            insert_audit!(&mut *tx, audit);
        });
        Ok(())
    }

    // ----- deployments ------------------------------------------------------------------

    /// Opens a deployment in status `uploading` with the app's next version number. It is
    /// invisible to the edge until [`Db::complete_deployment`] marks it ready or active.
    pub async fn create_deployment(
        &self,
        app_id: &str,
        created_by: &str,
        message: Option<&str>,
    ) -> Result<Deployment, StoreError> {
        self.open_deployment(app_id, created_by, message, None).await
    }

    /// Opens a digest deploy: the deployment (`uploading`) and what it expects, in one
    /// transaction.
    pub async fn create_upload(
        &self,
        app_id: &str,
        created_by: &str,
        message: Option<&str>,
        upload: &NewUpload,
    ) -> Result<Deployment, StoreError> {
        self.open_deployment(app_id, created_by, message, Some(upload)).await
    }

    async fn open_deployment(
        &self,
        app_id: &str,
        created_by: &str,
        message: Option<&str>,
        upload: Option<&NewUpload>,
    ) -> Result<Deployment, StoreError> {
        let id = uuid::Uuid::now_v7().to_string();
        let now = now_ms();
        let q = sql(format!(
            "INSERT INTO deployments (id, app_id, version, status, message, created_by, created_at) \
             VALUES ($1, $2, $3, 'uploading', $4, $5, $6) RETURNING {DEPLOYMENT_COLS}"
        ));
        let d = in_tx!(self, tx => {
            // The counter row doubles as the per-app lock that serialises version numbers.
            let (version,): (i64,) = sqlx::query_as(
                "UPDATE apps SET next_version = next_version + 1 WHERE id = $1 RETURNING next_version - 1",
            )
            .bind(app_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
            let d: Deployment = sqlx::query_as(q)
                .bind(&id)
                .bind(app_id)
                .bind(version)
                .bind(message)
                .bind(created_by)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            if let Some(u) = upload {
                sqlx::query(
                    "INSERT INTO uploads (deployment_id, manifest, activate, new_blobs, fast_brotli, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&id)
                .bind(&u.manifest_json)
                .bind(i64::from(u.activate))
                .bind(u.expected.len() as i64)
                .bind(i64::from(u.fast_brotli))
                .bind(u.expires_at)
                .execute(&mut *tx)
                .await?;
                for (sha, size, content_type) in &u.expected {
                    sqlx::query(
                        "INSERT INTO upload_blobs (deployment_id, sha256, size, content_type) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(&id)
                    .bind(sha.as_str())
                    .bind(size)
                    .bind(content_type)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            d
        });
        Ok(d)
    }

    /// The declaration of an unfinished digest deploy.
    pub async fn upload(&self, deployment_id: &str) -> Result<Option<Upload>, StoreError> {
        Ok(on_db!(self, p => sqlx::query_as(
            "SELECT manifest, activate, new_blobs, expires_at FROM uploads WHERE deployment_id = $1",
        )
        .bind(deployment_id)
        .fetch_optional(p)
        .await?))
    }

    /// Unfinished, unexpired deployments that expect this content.
    pub async fn expected_blob(&self, sha: &Sha256, now: i64) -> Result<Vec<ExpectedBlob>, StoreError> {
        Ok(on_db!(self, p => sqlx::query_as(
            "SELECT a.bot_id, ub.size, ub.content_type, u.fast_brotli FROM upload_blobs ub \
             JOIN uploads u ON u.deployment_id = ub.deployment_id \
             JOIN deployments d ON d.id = ub.deployment_id \
             JOIN apps a ON a.id = d.app_id \
             WHERE ub.sha256 = $1 AND d.status = 'uploading' AND u.expires_at > $2",
        )
        .bind(sha.as_str())
        .bind(now)
        .fetch_all(p)
        .await?))
    }

    pub async fn get_deployment(&self, id: &str) -> Result<Option<Deployment>, StoreError> {
        let q = sql(format!("SELECT {DEPLOYMENT_COLS} FROM deployments WHERE id = $1"));
        Ok(on_db!(self, p => sqlx::query_as(q).bind(id).fetch_optional(p).await?))
    }

    pub async fn get_deployment_by_version(
        &self,
        app_id: &str,
        version: i64,
    ) -> Result<Option<Deployment>, StoreError> {
        let q = sql(format!("SELECT {DEPLOYMENT_COLS} FROM deployments WHERE app_id = $1 AND version = $2"));
        Ok(on_db!(self, p => sqlx::query_as(q).bind(app_id).bind(version).fetch_optional(p).await?))
    }

    /// Newest first.
    pub async fn list_deployments(&self, app_id: &str, limit: i64) -> Result<Vec<Deployment>, StoreError> {
        let q =
            sql(format!("SELECT {DEPLOYMENT_COLS} FROM deployments WHERE app_id = $1 ORDER BY version DESC LIMIT $2"));
        Ok(on_db!(self, p => sqlx::query_as(q).bind(app_id).bind(limit).fetch_all(p).await?))
    }

    pub async fn active_deployment(&self, app_id: &str) -> Result<Option<Deployment>, StoreError> {
        let q = sql(format!("SELECT {DEPLOYMENT_COLS} FROM deployments WHERE app_id = $1 AND status = 'active'"));
        Ok(on_db!(self, p => sqlx::query_as(q).bind(app_id).fetch_optional(p).await?))
    }

    /// The manifest of a deployment, with the encodings its blobs have.
    pub async fn deployment_files(&self, deployment_id: &str) -> Result<Vec<DeploymentFile>, StoreError> {
        Ok(on_db!(self, p => sqlx::query_as(
            "SELECT f.path, f.sha256, f.size, f.content_type, b.br_size, b.gz_size \
             FROM deployment_files f JOIN blobs b ON b.sha256 = f.sha256 \
             WHERE f.deployment_id = $1 ORDER BY f.path",
        )
        .bind(deployment_id)
        .fetch_all(p)
        .await?))
    }

    /// Records the manifest, marks the deployment ready and, if asked, activates it, all in
    /// one transaction: either the whole deployment becomes visible or none of it does.
    pub async fn complete_deployment(
        &self,
        deployment_id: &str,
        files: &[NewDeploymentFile],
        rules_json: &str,
        activate: bool,
        audit: &NewAuditEvent<'_>,
    ) -> Result<Deployment, StoreError> {
        let total: i64 = files.iter().map(|f| f.size).sum();
        let now = now_ms();
        let q = sql(format!(
            "UPDATE deployments SET status = $1, file_count = $2, total_bytes = $3, activated_at = $4, rules = $5 \
             WHERE id = $6 AND status = 'uploading' RETURNING {DEPLOYMENT_COLS}"
        ));
        let status = if activate { DeploymentStatus::Active } else { DeploymentStatus::Ready };
        let d = in_tx!(self, tx => {
            let app_id: Option<(String,)> = sqlx::query_as("SELECT app_id FROM deployments WHERE id = $1")
                .bind(deployment_id)
                .fetch_optional(&mut *tx)
                .await?;
            let (app_id,) = app_id.ok_or(StoreError::NotFound)?;
            if activate {
                lock_app_and_supersede!(&mut *tx, &app_id, deployment_id, now);
            }
            for f in files {
                sqlx::query(
                    "INSERT INTO deployment_files (deployment_id, path, sha256, size, content_type) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(deployment_id)
                .bind(&f.path)
                .bind(f.sha256.as_str())
                .bind(f.size)
                .bind(&f.content_type)
                .execute(&mut *tx)
                .await?;
            }
            let d: Option<Deployment> = sqlx::query_as(q)
                .bind(status.as_str())
                .bind(files.len() as i64)
                .bind(total)
                .bind(activate.then_some(now))
                .bind(rules_json)
                .bind(deployment_id)
                .fetch_optional(&mut *tx)
                .await?;
            let d = d.ok_or_else(|| StoreError::InvalidState("the deployment is no longer uploading".into()))?;
            forget_upload!(&mut *tx, deployment_id);
            let ev = NewAuditEvent { deployment_id: Some(deployment_id), app_id: Some(&app_id), ..audit.clone() };
            insert_audit!(&mut *tx, &ev);
            d
        });
        Ok(d)
    }

    /// Makes a ready or superseded deployment the active one (deploy or rollback), in one
    /// transaction that supersedes the previously active deployment.
    pub async fn activate_deployment(
        &self,
        deployment_id: &str,
        audit: &NewAuditEvent<'_>,
    ) -> Result<Deployment, StoreError> {
        let now = now_ms();
        let q = sql(format!(
            "UPDATE deployments SET status = 'active', activated_at = $1 \
             WHERE id = $2 AND status IN ('ready', 'superseded', 'active') RETURNING {DEPLOYMENT_COLS}"
        ));
        let d = in_tx!(self, tx => {
            let current: Option<(String, String)> = sqlx::query_as("SELECT app_id, status FROM deployments WHERE id = $1")
                .bind(deployment_id)
                .fetch_optional(&mut *tx)
                .await?;
            let (app_id, status) = current.ok_or(StoreError::NotFound)?;
            if !matches!(status.as_str(), "ready" | "superseded" | "active") {
                return Err(StoreError::InvalidState(format!("a deployment in status `{status}` cannot be activated")));
            }
            lock_app_and_supersede!(&mut *tx, &app_id, deployment_id, now);
            let d: Deployment = sqlx::query_as(q)
                .bind(now)
                .bind(deployment_id)
                .fetch_one(&mut *tx)
                .await?;
            let ev = NewAuditEvent { deployment_id: Some(deployment_id), app_id: Some(&app_id), ..audit.clone() };
            insert_audit!(&mut *tx, &ev);
            d
        });
        Ok(d)
    }

    pub async fn fail_deployment(&self, deployment_id: &str, error: &str) -> Result<(), StoreError> {
        in_tx!(self, tx => {
            sqlx::query("UPDATE deployments SET status = 'failed', error = $1 WHERE id = $2 AND status = 'uploading'")
                .bind(error)
                .bind(deployment_id)
                .execute(&mut *tx)
                .await?;
            forget_upload!(&mut *tx, deployment_id);
        });
        Ok(())
    }

    /// Marks as failed the deployments whose upload will never finish: archive uploads still
    /// `uploading` since before `archive_before` (their uploader crashed or gave up) and digest
    /// deploys past their expiry at `now`. Returns how many were marked.
    pub async fn fail_stale_uploads(&self, archive_before: i64, now: i64) -> Result<u64, StoreError> {
        let n = in_tx!(self, tx => {
            let n = sqlx::query(
                "UPDATE deployments SET status = 'failed', error = 'upload did not finish (interrupted or expired)' \
                 WHERE status = 'uploading' AND ( \
                   (created_at < $1 AND id NOT IN (SELECT deployment_id FROM uploads)) \
                   OR id IN (SELECT deployment_id FROM uploads WHERE expires_at <= $2))",
            )
            .bind(archive_before)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let gone = "(SELECT id FROM deployments WHERE status = 'failed')";
            sqlx::query(sql(format!("DELETE FROM upload_blobs WHERE deployment_id IN {gone}"))).execute(&mut *tx).await?;
            sqlx::query(sql(format!("DELETE FROM uploads WHERE deployment_id IN {gone}"))).execute(&mut *tx).await?;
            n
        });
        Ok(n)
    }

    /// Deletes a deployment that is not active. Its blobs stay until garbage collection.
    pub async fn delete_deployment(&self, deployment_id: &str, audit: &NewAuditEvent<'_>) -> Result<(), StoreError> {
        in_tx!(self, tx => {
            let n = sqlx::query("DELETE FROM deployments WHERE id = $1 AND status <> 'active'")
                .bind(deployment_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Err(StoreError::InvalidState("the active deployment cannot be deleted; activate another one first".into()));
            }
            insert_audit!(&mut *tx, audit);
        });
        Ok(())
    }

    // ----- edge ---------------------------------------------------------------------------

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
                       ROW_NUMBER() OVER (PARTITION BY app_id ORDER BY activated_at DESC) AS n \
                FROM deployments WHERE status = 'superseded' AND activated_at IS NOT NULL \
             ) ranked WHERE n <= $1 ORDER BY app_id, activated_at DESC",
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

    // ----- blobs ------------------------------------------------------------------------

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

    // ----- members ----------------------------------------------------------------------

    pub async fn upsert_member(
        &self,
        bot: BotId,
        user_id: i64,
        role: Role,
        audit: &NewAuditEvent<'_>,
    ) -> Result<(), StoreError> {
        in_tx!(self, tx => {
            sqlx::query(
                "INSERT INTO members (bot_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (bot_id, user_id) DO UPDATE SET role = excluded.role",
            )
            .bind(bot.0)
            .bind(user_id)
            .bind(role.as_str())
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
            insert_audit!(&mut *tx, audit);
        });
        Ok(())
    }

    pub async fn remove_member(&self, bot: BotId, user_id: i64, audit: &NewAuditEvent<'_>) -> Result<(), StoreError> {
        in_tx!(self, tx => {
            let n = sqlx::query("DELETE FROM members WHERE bot_id = $1 AND user_id = $2")
                .bind(bot.0)
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            insert_audit!(&mut *tx, audit);
        });
        Ok(())
    }

    /// `(bot id, role)` of every bot the Telegram user is a member of.
    pub async fn member_roles(&self, user_id: i64) -> Result<Vec<(i64, Role)>, StoreError> {
        let rows: Vec<(i64, String)> = on_db!(self, p => sqlx::query_as(
            "SELECT bot_id, role FROM members WHERE user_id = $1 ORDER BY bot_id",
        )
        .bind(user_id)
        .fetch_all(p)
        .await?);
        rows.into_iter().map(|(bot, role)| role.parse().map(|r| (bot, r)).map_err(StoreError::Corrupt)).collect()
    }

    /// `(bot id, user id)` of every membership, for the edge's staff lists.
    pub async fn all_members(&self) -> Result<Vec<(i64, i64)>, StoreError> {
        Ok(on_db!(self, p => sqlx::query_as("SELECT bot_id, user_id FROM members").fetch_all(p).await?))
    }

    pub async fn list_members(&self, bot: BotId) -> Result<Vec<Member>, StoreError> {
        Ok(on_db!(self, p => sqlx::query_as(
            "SELECT bot_id, user_id, role, created_at FROM members WHERE bot_id = $1 ORDER BY user_id",
        )
        .bind(bot.0)
        .fetch_all(p)
        .await?))
    }

    // ----- api tokens -------------------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    pub async fn insert_token(
        &self,
        id: &str,
        name: &str,
        jti_hash: &str,
        scope: &TokenScope,
        created_by: &str,
        minted_by_admin: bool,
        expires_at: i64,
        audit: &NewAuditEvent<'_>,
    ) -> Result<ApiToken, StoreError> {
        let scope = serde_json::to_string(scope).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let q = sql(format!(
            "INSERT INTO api_tokens (id, name, jti_hash, scope, created_by, minted_by_admin, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {TOKEN_COLS}"
        ));
        let t = in_tx!(self, tx => {
            let t: ApiToken = sqlx::query_as(q)
                .bind(id)
                .bind(name)
                .bind(jti_hash)
                .bind(&scope)
                .bind(created_by)
                .bind(i64::from(minted_by_admin))
                .bind(now_ms())
                .bind(expires_at)
                .fetch_one(&mut *tx)
                .await?;
            insert_audit!(&mut *tx, audit);
            t
        });
        Ok(t)
    }

    pub async fn token_by_jti_hash(&self, jti_hash: &str) -> Result<Option<ApiToken>, StoreError> {
        let q = sql(format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE jti_hash = $1"));
        Ok(on_db!(self, p => sqlx::query_as(q).bind(jti_hash).fetch_optional(p).await?))
    }

    pub async fn get_token(&self, id: &str) -> Result<Option<ApiToken>, StoreError> {
        let q = sql(format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE id = $1"));
        Ok(on_db!(self, p => sqlx::query_as(q).bind(id).fetch_optional(p).await?))
    }

    pub async fn list_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        let q = sql(format!("SELECT {TOKEN_COLS} FROM api_tokens ORDER BY created_at DESC, id"));
        Ok(on_db!(self, p => sqlx::query_as(q).fetch_all(p).await?))
    }

    pub async fn count_live_tokens(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = on_db!(self, p => sqlx::query_as(
            "SELECT COUNT(*) FROM api_tokens WHERE revoked_at IS NULL AND expires_at > $1",
        )
        .bind(now_ms())
        .fetch_one(p)
        .await?);
        Ok(n)
    }

    pub async fn revoke_token(&self, id: &str, audit: &NewAuditEvent<'_>) -> Result<(), StoreError> {
        in_tx!(self, tx => {
            let n = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now_ms())
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            insert_audit!(&mut *tx, audit);
        });
        Ok(())
    }

    pub async fn touch_token(&self, id: &str) -> Result<(), StoreError> {
        on_db!(self, p => sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(id)
            .execute(p)
            .await
            .map(|_| ())?);
        Ok(())
    }

    // ----- audit ------------------------------------------------------------------------

    /// Records an event that accompanies no other write (e.g. a refused attempt).
    pub async fn record_audit(&self, ev: &NewAuditEvent<'_>) -> Result<(), StoreError> {
        on_db!(self, p => insert_audit!(p, ev));
        Ok(())
    }

    /// Newest first; `bot` filters to one bot's events.
    pub async fn list_audit(&self, bot: Option<BotId>, limit: i64) -> Result<Vec<AuditEvent>, StoreError> {
        Ok(on_db!(self, p => sqlx::query_as(
            "SELECT id, at, actor, action, bot_id, app_id, deployment_id, details FROM audit_events \
             WHERE ($1 IS NULL OR bot_id = $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(bot.map(|b| b.0))
        .bind(limit)
        .fetch_all(p)
        .await?))
    }

    /// Events with an id above `after`, oldest first, limited to `actions`.
    pub async fn audit_after(&self, after: i64, actions: &[&str], limit: i64) -> Result<Vec<AuditEvent>, StoreError> {
        // Action names are constants of the service layer; anything else is dropped, never quoted.
        let list = actions
            .iter()
            .filter(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_'))
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(", ");
        if list.is_empty() {
            return Ok(Vec::new());
        }
        let q = sql(format!(
            "SELECT id, at, actor, action, bot_id, app_id, deployment_id, details FROM audit_events \
             WHERE id > $1 AND action IN ({list}) ORDER BY id LIMIT $2"
        ));
        Ok(on_db!(self, p => sqlx::query_as(q).bind(after).bind(limit).fetch_all(p).await?))
    }

    pub async fn max_audit_id(&self) -> Result<i64, StoreError> {
        let (n,): (Option<i64>,) =
            on_db!(self, p => sqlx::query_as("SELECT MAX(id) FROM audit_events").fetch_one(p).await?);
        Ok(n.unwrap_or(0))
    }

    // ----- stats ------------------------------------------------------------------------

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
            "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM blobs",
        )
        .fetch_one(p)
        .await?))
    }

    // ----- analytics --------------------------------------------------------------------

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

    /// Records `(app id, day, user id)` sightings; repeats are ignored.
    pub async fn add_daily_users(&self, rows: &[(String, i64, i64)]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        in_tx!(self, tx => {
            for (app, day, user) in rows {
                sqlx::query(
                    "INSERT INTO app_daily_users (app_id, day, user_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(app)
                .bind(day)
                .bind(user)
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

    // ----- login links ------------------------------------------------------------------

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
