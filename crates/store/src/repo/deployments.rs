//! Deployments: opening, completing (manifest, status and audit event in one transaction),
//! activation under the app's row lock, failure, deletion; digest deploys' `uploads` rows.

use super::*;

/// A manifest entry to record when a deployment's upload completes.
#[derive(Debug, Clone)]
pub struct NewDeploymentFile {
    pub path: String,
    pub sha256: Sha256,
    pub size: i64,
    pub content_type: String,
}

/// What retention keeps of an app's deployments, besides the active, pinned and uploading ones.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// The newest deployments by version, whatever their status.
    pub keep: i64,
    /// The most recently active superseded ones (those skew protection serves).
    pub skew: i64,
}

/// What a digest deploy declares when it opens its deployment (see `uploads` in migration 0005).
#[derive(Debug, Clone)]
pub struct NewUpload {
    /// The checked manifest as JSON; read back by [`Db::upload`] when the client finalizes.
    pub manifest_json: String,
    pub activate: bool,
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

impl Db {
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
                    // fast_brotli: unused since brotli is made after every deploy (migration 0008).
                    "INSERT INTO uploads (deployment_id, manifest, activate, new_blobs, fast_brotli, expires_at) \
                     VALUES ($1, $2, $3, $4, 0, $5)",
                )
                .bind(&id)
                .bind(&u.manifest_json)
                .bind(i64::from(u.activate))
                .bind(u.expected.len() as i64)
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

    /// Unfinished, unexpired deployments that expect this content, each with whether its bot
    /// has provided it since (by an earlier upload or deploy).
    pub async fn expected_blob(&self, sha: &Sha256, now: i64) -> Result<Vec<ExpectedBlob>, StoreError> {
        Ok(on_db!(self, p => sqlx::query_as(
            "SELECT a.bot_id, ub.size, ub.content_type, \
             EXISTS (SELECT 1 FROM bot_blobs bb WHERE bb.bot_id = a.bot_id AND bb.sha256 = ub.sha256) AS provided \
             FROM upload_blobs ub \
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

    /// The active version of each of the bot's apps that has one: `(app id, version)`.
    pub async fn active_versions(&self, bot: BotId) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(on_db!(self, p => sqlx::query_as(
            "SELECT d.app_id, d.version FROM deployments d JOIN apps a ON a.id = d.app_id \
             WHERE a.bot_id = $1 AND d.status = 'active'",
        )
        .bind(bot.0)
        .fetch_all(p)
        .await?))
    }

    /// The manifest of a deployment, with the encodings its blobs have.
    pub async fn deployment_files(&self, deployment_id: &str) -> Result<Vec<DeploymentFile>, StoreError> {
        Ok(on_db!(self, p => sqlx::query_as(
            "SELECT f.path, f.sha256, f.size, f.content_type, b.br_size, b.gz_size, b.br_pending \
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
            // Every content must be live now, and is touched while its row is locked: a
            // collector that doomed one first makes this fail; one that comes after finds the
            // reference (see `gc.rs`).
            let mut contents: Vec<&str> = files.iter().map(|f| f.sha256.as_str()).collect();
            contents.sort_unstable();
            contents.dedup();
            let mut live = 0;
            for chunk in contents.chunks(500) {
                let text = sql(format!(
                    "UPDATE blobs SET touched_at = $1 WHERE state = 'live' AND sha256 IN ({})",
                    placeholders(2, chunk.len())
                ));
                let mut q = sqlx::query(text).bind(now);
                for h in chunk {
                    q = q.bind(*h);
                }
                live += q.execute(&mut *tx).await?.rows_affected() as usize;
            }
            if live != contents.len() {
                return Err(StoreError::InvalidState(format!(
                    "{} of the deployment's file contents are no longer stored (collected while it was uploading); \
                     deploy again",
                    contents.len() - live
                )));
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
        let now = now_ms();
        in_tx!(self, tx => {
            release_blobs!(tx, now, "d.id = $2", deployment_id);
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

    /// Deletes the app's deployments that `keep` does not keep (oldest first), each with its
    /// audit event (`deployment.expire`); returns their versions. Never the active one, a
    /// pinned one, or one still uploading.
    pub async fn expire_deployments(&self, app_id: &str, keep: Retention, actor: &str) -> Result<Vec<i64>, StoreError> {
        let now = now_ms();
        let expired = in_tx!(self, tx => {
            let bot: Option<(i64,)> = sqlx::query_as("SELECT bot_id FROM apps WHERE id = $1")
                .bind(app_id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some((bot,)) = bot else { return Ok(Vec::new()) };
            let doomed: Vec<(String, i64)> = sqlx::query_as(
                "SELECT id, version FROM deployments WHERE app_id = $1 \
                 AND status IN ('ready', 'superseded', 'failed') AND pinned = 0 \
                 AND id NOT IN (SELECT id FROM deployments WHERE app_id = $1 AND status <> 'uploading' \
                                ORDER BY version DESC LIMIT $2) \
                 AND id NOT IN (SELECT id FROM deployments WHERE app_id = $1 AND status = 'superseded' \
                                AND activated_at IS NOT NULL ORDER BY activated_at DESC, version DESC LIMIT $3) \
                 ORDER BY version",
            )
            .bind(app_id)
            .bind(keep.keep)
            .bind(keep.skew)
            .fetch_all(&mut *tx)
            .await?;
            for (id, version) in &doomed {
                release_blobs!(tx, now, "d.id = $2", id);
                sqlx::query("DELETE FROM deployments WHERE id = $1").bind(id).execute(&mut *tx).await?;
                let ev = NewAuditEvent {
                    actor,
                    action: AuditAction::DeploymentExpire,
                    bot_id: Some(BotId(bot)),
                    app_id: Some(app_id),
                    deployment_id: Some(id),
                    details: serde_json::json!({ "version": version, "keep_deployments": keep.keep }),
                };
                insert_audit!(&mut *tx, &ev);
            }
            doomed.into_iter().map(|(_, v)| v).collect()
        });
        Ok(expired)
    }

    /// Pins or unpins a deployment (retention never removes a pinned one).
    pub async fn pin_deployment(
        &self,
        deployment_id: &str,
        pinned: bool,
        audit: &NewAuditEvent<'_>,
    ) -> Result<(), StoreError> {
        in_tx!(self, tx => {
            change_one!(&mut *tx, sqlx::query("UPDATE deployments SET pinned = $1 WHERE id = $2")
                .bind(i64::from(pinned))
                .bind(deployment_id));
            insert_audit!(&mut *tx, audit);
        });
        Ok(())
    }
}
