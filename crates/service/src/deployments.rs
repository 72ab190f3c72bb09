//! Deployment operations: ingest an archive, store its blobs, commit its manifest; list,
//! activate (deploy or roll back) and delete deployments.
//!
//! Order of writes, so a crash at any point leaves nothing visible: validate the whole
//! archive -> open the deployment as `uploading` -> upload missing blobs (variants, then the
//! original, then the blob row) -> one transaction records the manifest and marks the
//! deployment ready or active. Stale `uploading` rows are failed at the next start.

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use serde_json::json;
use tmahost_deploy::{Bundle, Rules, gzip_variant, wants_variants};
use tmahost_store::model::{App, Bot, Deployment, DeploymentFile, DeploymentStatus, NewAuditEvent, Sha256};
use tmahost_store::{BlobKey, Encoding, NewDeploymentFile, Retention, now_ms};

use tmahost_types::{AuditAction, BotId};

use crate::auth::Need;
use crate::refs::{AppRef, DeploymentRef, Granted};
use crate::{Actor, Platform, ServiceError, blocking};

/// Blob uploads in flight at once per deployment.
const UPLOAD_CONCURRENCY: usize = 8;

#[derive(Debug, Clone, Default)]
pub struct DeployOptions {
    /// Make it the active deployment right away (default); `false` stages it for preview.
    pub activate: bool,
    pub message: Option<String>,
}

/// What a deploy did, for the uploader.
#[derive(Debug, Clone)]
pub struct DeployReport {
    pub bot: Bot,
    pub app: App,
    pub deployment: Deployment,
    /// Distinct file contents written to the blob store by this deploy.
    pub new_blobs: usize,
    /// Distinct file contents already stored by an earlier deploy (of any app).
    pub reused_blobs: usize,
    pub warnings: Vec<String>,
}

/// Distinct contents a deployment added to the store, and those it found there.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlobCounts {
    pub new: usize,
    pub reused: usize,
}

/// A blob ready for upload, in memory: its bytes and its gzip variant. At most
/// `UPLOAD_CONCURRENCY` are held at once (a file is at most `max_file_bytes`).
pub(crate) struct Prepared {
    sha: Sha256,
    original: Bytes,
    gz: Option<Bytes>,
    /// Its brotli variant is left to the background worker (`brotli.rs`).
    br_pending: bool,
}

impl Platform {
    /// Validates and stores the archive at `archive`, creating the app's next deployment.
    pub async fn deploy_archive(
        &self,
        r: &AppRef,
        archive: &Path,
        opts: DeployOptions,
    ) -> Result<DeployReport, ServiceError> {
        r.require(Need::Deploy)?;
        let (actor, bot, app) = (r.actor(), r.bot.clone(), r.app.clone());
        check_message(&opts)?;
        let (path, limits, work) = (archive.to_owned(), self.config().uploads.clone(), self.work_dir().to_owned());
        let bundle = blocking(move || tmahost_deploy::ingest(&path, &limits, &work)).await??;
        let contents: Vec<(&Sha256, u64)> = bundle.files.iter().map(|f| (&f.sha256, f.size)).collect();
        self.check_quota(&bot, &contents).await?;

        let d = self.db().create_deployment(&app.id, &actor.label, opts.message.as_deref()).await?;
        let stored = self.store_bundle(bot.bot_id(), &bundle).await;
        let (new_blobs, reused_blobs) = match stored {
            Ok(counts) => counts,
            Err(e) => {
                self.db().fail_deployment(&d.id, "storing the files failed").await?;
                return Err(e);
            }
        };
        let files: Vec<NewDeploymentFile> = bundle
            .files
            .iter()
            .map(|f| NewDeploymentFile {
                path: f.path.as_str().to_owned(),
                sha256: f.sha256.clone(),
                size: f.size as i64,
                content_type: f.content_type.clone(),
            })
            .collect();
        let counts = BlobCounts { new: new_blobs, reused: reused_blobs };
        self.commit_deployment(
            actor,
            (bot, app, d),
            files,
            &bundle.rules,
            opts.activate,
            counts,
            bundle.warnings,
            "archive",
        )
        .await
    }

    /// The last step of both ways in (archive and digest): records the manifest and, if asked,
    /// activates, in one transaction with its audit event. A failure fails the deployment.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn commit_deployment(
        &self,
        actor: &Actor,
        (bot, app, d): (Bot, App, Deployment),
        files: Vec<NewDeploymentFile>,
        rules: &Rules,
        activate: bool,
        counts: BlobCounts,
        warnings: Vec<String>,
        how: &'static str,
    ) -> Result<DeployReport, ServiceError> {
        let mut warnings = warnings;
        warnings.extend(self.ton_manifest_warning(&bot, &app, &files).await);
        let bytes: i64 = files.iter().map(|f| f.size).sum();
        let audit = NewAuditEvent {
            actor: &actor.label,
            action: AuditAction::DeploymentCreate,
            bot_id: Some(bot.bot_id()),
            app_id: Some(&app.id),
            deployment_id: Some(&d.id),
            details: json!({
                "version": d.version,
                "files": files.len(),
                "bytes": bytes,
                "activated": activate,
                "new_blobs": counts.new,
                "upload": how,
            }),
        };
        let rules = serde_json::to_string(rules).map_err(ServiceError::internal)?;
        let deployment = match self.db().complete_deployment(&d.id, &files, &rules, activate, &audit).await {
            Ok(done) => done,
            Err(e) => {
                self.db().fail_deployment(&d.id, "recording the manifest failed").await?;
                return Err(e.into());
            }
        };
        if activate {
            self.changed();
            self.apply_retention(actor, &app).await;
        }
        // Brotli for its new blobs starts once the deploy is done, not while its uploads still
        // need the cores.
        if counts.new > 0 {
            self.brotli_wanted();
        }
        self.metrics().deployed(how, (now_ms() - d.created_at).max(0) as f64 / 1000.0);
        tracing::info!(
            bot = %bot.id, app = %app.slug, version = deployment.version, files = files.len(),
            new_blobs = counts.new, reused_blobs = counts.reused, status = %deployment.status, upload = how,
            "deployment stored"
        );
        Ok(DeployReport { bot, app, deployment, new_blobs: counts.new, reused_blobs: counts.reused, warnings })
    }

    /// A warning when the bundle ships a TON Connect manifest naming a site that is not the
    /// app's (unless the app's settings generate one in its place). Reading it is best effort:
    /// a deploy never fails over a warning.
    async fn ton_manifest_warning(&self, bot: &Bot, app: &App, files: &[NewDeploymentFile]) -> Option<String> {
        use crate::ton_connect::{MANIFEST_PATH, authority};
        if app.settings.ton_connect.as_ref().is_some_and(|m| m.replace_bundled) {
            return None;
        }
        let name = MANIFEST_PATH.trim_start_matches('/');
        let file = files.iter().find(|f| f.path == name).filter(|f| f.size <= 64 * 1024)?;
        let bytes = self.blobs().get(&BlobKey::Original(file.sha256.clone())).await.ok()?;
        let mut hosts = vec![authority(&url::Url::parse(&self.app_url(bot, &app.slug)).ok()?)?];
        hosts.extend(app.settings.custom_domain.clone());
        crate::ton_connect::bundled_manifest_warning(&bytes, &hosts)
    }

    /// Uploads the blobs the store lacks; returns (new, reused) counts of distinct contents,
    /// counted against what this bot deployed before (not the whole store: the counts would
    /// tell a tenant which contents other tenants host).
    async fn store_bundle(&self, bot: BotId, bundle: &Bundle) -> Result<(usize, usize), ServiceError> {
        let mut unique: BTreeMap<&Sha256, (&Path, u64, &str)> = BTreeMap::new();
        for f in &bundle.files {
            unique.entry(&f.sha256).or_insert((&f.local, f.size, &f.content_type));
        }
        let hashes: Vec<Sha256> = unique.keys().map(|h| (*h).clone()).collect();
        let missing = self.db().missing_blobs(&hashes).await?;
        // Read, compress and store a few at a time: memory stays bounded however big the bundle.
        futures_util::stream::iter(missing.iter().map(|h| (h.clone(), unique[h])))
            .map(|(sha, (local, _, content_type))| {
                let (local, content_type) = (local.to_owned(), content_type.to_owned());
                async move {
                    let prepared = blocking(move || {
                        std::fs::read(&local).map(|data| prepare(sha, Bytes::from(data), &content_type))
                    })
                    .await?
                    .map_err(ServiceError::internal)?;
                    self.upload(prepared).await
                }
            })
            .buffer_unordered(UPLOAD_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        let new_to_bot = self.db().unknown_to_bot(bot, &hashes).await?.len();
        self.db().add_bot_blobs(bot, &hashes).await?;
        Ok((new_to_bot, hashes.len() - new_to_bot))
    }

    /// Stores one content: claims it, writes its objects (variants, then the original) and
    /// marks it live. Nothing to write when it is live already.
    pub(crate) async fn upload(&self, p: Prepared) -> Result<(), ServiceError> {
        if self.claim_upload(&p.sha, p.original.len() as i64).await? {
            self.store_claimed(p, &[]).await?;
        }
        Ok(())
    }

    /// Writes the objects of a content claimed with [`Platform::claim_upload`], then marks it
    /// live and provided by the bots in `provided_to` (one database transaction).
    pub(crate) async fn store_claimed(&self, p: Prepared, provided_to: &[BotId]) -> Result<(), ServiceError> {
        let size = p.original.len() as i64;
        let gz = p.gz.as_ref().map(|v| v.len() as i64);
        if let Some(bytes) = p.gz {
            self.blobs().put(&BlobKey::Variant(p.sha.clone(), Encoding::Gzip), bytes).await?;
        }
        self.blobs().put(&BlobKey::Original(p.sha.clone()), p.original).await?;
        if !self.db().finish_blob(&p.sha, size, gz, p.br_pending, provided_to).await? {
            // Slower than the collector's grace period: the claim was taken as abandoned.
            return Err(ServiceError::Unavailable(format!(
                "storing content {} took longer than TMAHOST_GC_GRACE_SECS; deploy again",
                p.sha
            )));
        }
        Ok(())
    }

    pub async fn list_deployments(&self, r: &AppRef, limit: i64) -> Result<Vec<Deployment>, ServiceError> {
        Ok(self.db().list_deployments(&r.app.id, limit.clamp(1, 1000)).await?)
    }

    pub async fn deployment_files(&self, d: &DeploymentRef) -> Result<Vec<DeploymentFile>, ServiceError> {
        Ok(self.db().deployment_files(&d.deployment.id).await?)
    }

    /// Makes a deployment the active one: a deploy of a staged one, or a rollback to an older
    /// one. One transaction; the previously active deployment becomes `superseded`.
    pub async fn activate_deployment(&self, target: &DeploymentRef) -> Result<Deployment, ServiceError> {
        let r = &target.app;
        r.require(Need::Deploy)?;
        let (actor, bot, app, d) = (r.actor(), &r.bot, &r.app, &target.deployment);
        let current = self.db().active_deployment(&app.id).await?;
        let action = match &current {
            Some(c) if c.version > d.version => AuditAction::DeploymentRollback,
            _ => AuditAction::DeploymentActivate,
        };
        let audit = NewAuditEvent {
            actor: &actor.label,
            action,
            bot_id: Some(bot.bot_id()),
            app_id: Some(&app.id),
            deployment_id: Some(&d.id),
            details: json!({ "version": d.version, "previous_version": current.map(|c| c.version) }),
        };
        let d = self.db().activate_deployment(&d.id, &audit).await?;
        self.changed();
        self.apply_retention(actor, app).await;
        tracing::info!(bot = %bot.id, app = %app.slug, version = d.version, %action, "deployment activated");
        Ok(d)
    }

    pub async fn delete_deployment(&self, target: &DeploymentRef) -> Result<(), ServiceError> {
        let r = &target.app;
        r.require(Need::Deploy)?;
        let (actor, bot, app, d) = (r.actor(), &r.bot, &r.app, &target.deployment);
        if d.status == DeploymentStatus::Active {
            return Err(ServiceError::Conflict(
                "the active deployment cannot be deleted; activate another one first".into(),
            ));
        }
        let audit = NewAuditEvent {
            actor: &actor.label,
            action: AuditAction::DeploymentDelete,
            bot_id: Some(bot.bot_id()),
            app_id: Some(&app.id),
            deployment_id: Some(&d.id),
            details: json!({ "version": d.version }),
        };
        self.db().delete_deployment(&d.id, &audit).await?;
        self.changed();
        Ok(())
    }

    /// Deletes the app's deployments retention no longer keeps (after an activation): all but
    /// the newest `keep_deployments`, the active one, the pinned ones and those skew protection
    /// serves. Best effort: a failure is logged and retried at the next activation.
    async fn apply_retention(&self, actor: &Actor, app: &App) {
        let keep = Retention {
            keep: i64::from(app.settings.keep_deployments.unwrap_or(self.config().retention.keep_deployments)),
            skew: i64::from(app.settings.skew_protection_deployments),
        };
        match self.db().expire_deployments(&app.id, keep, &actor.label).await {
            Ok(gone) if gone.is_empty() => {}
            Ok(gone) => {
                tracing::info!(app = %app.id, versions = ?gone, "retention removed old deployments");
                self.changed();
            }
            Err(e) => tracing::warn!(app = %app.id, error = %e, "retention failed; retried at the next activation"),
        }
    }

    /// Pins a deployment (retention keeps it whatever its age) or unpins it.
    pub async fn pin_deployment(&self, target: &DeploymentRef, pinned: bool) -> Result<Deployment, ServiceError> {
        let r = &target.app;
        r.require(Need::Deploy)?;
        let (actor, bot, app, d) = (r.actor(), &r.bot, &r.app, &target.deployment);
        let audit = NewAuditEvent {
            actor: &actor.label,
            action: if pinned { AuditAction::DeploymentPin } else { AuditAction::DeploymentUnpin },
            bot_id: Some(bot.bot_id()),
            app_id: Some(&app.id),
            deployment_id: Some(&d.id),
            details: json!({ "version": d.version }),
        };
        self.db().pin_deployment(&d.id, pinned, &audit).await?;
        Ok(Deployment { pinned, ..d.clone() })
    }

    /// Fails deployments left `uploading` by a crash. `all` is for single-process `serve`,
    /// which owns every upload; scaled-out API nodes only fail uploads older than the limit.
    /// Digest deploys survive a restart (their client resumes) and fail only when they expire.
    pub async fn fail_stale_uploads(&self, all: bool) -> Result<u64, ServiceError> {
        let now = now_ms();
        let cutoff = if all { now + 1 } else { now - (self.config().api.stale_upload_secs as i64) * 1000 };
        Ok(self.db().fail_stale_uploads(cutoff, now).await?)
    }

    /// Removes what uploads left in the scratch dir (`{data_dir}/tmp`) when their process died
    /// before cleaning up (a kill -9 mid-upload): entries untouched for `stale_upload_secs`,
    /// so another process's upload in progress is never touched. Returns how many.
    pub async fn sweep_scratch(&self) -> Result<usize, ServiceError> {
        let dir = self.work_dir().to_owned();
        let older_than = std::time::Duration::from_secs(self.config().api.stale_upload_secs);
        blocking(move || {
            let mut removed = 0;
            for entry in std::fs::read_dir(&dir)?.flatten() {
                let age = entry.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
                if age.is_none_or(|a| a < older_than) {
                    continue;
                }
                let path = entry.path();
                let gone = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
                match gone {
                    Ok(()) => removed += 1,
                    // Its owner finished with it meanwhile.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(removed)
        })
        .await?
        .map_err(ServiceError::internal)
    }
}

/// Deploy messages are shown in chats and tables; keep them short.
pub(crate) fn check_message(opts: &DeployOptions) -> Result<(), ServiceError> {
    match &opts.message {
        Some(m) if m.chars().count() > 500 => {
            Err(ServiceError::invalid("invalid_message", "the deploy message is limited to 500 characters"))
        }
        _ => Ok(()),
    }
}

/// Builds the gzip variant of one new blob (blocking: compression); brotli at maximum effort
/// is left to the background worker, so the deploy does not wait for it.
pub(crate) fn prepare(sha: Sha256, original: Bytes, content_type: &str) -> Prepared {
    let br_pending = wants_variants(original.len() as u64, content_type);
    let gz = if br_pending { gzip_variant(&original).map(Bytes::from) } else { None };
    Prepared { sha, original, gz, br_pending }
}
