//! Digest deploys, the protocol behind `tmahost deploy`: the client declares a manifest
//! `{path: {sha256, size}}` ([`Platform::begin_upload`]), sends only the contents the store
//! lacks ([`Platform::put_blob`]), then asks for the deployment to be recorded
//! ([`Platform::finalize_upload`]).
//!
//! The store only ever holds verified content: a blob is accepted when a pending deployment
//! the caller may deploy to expects exactly that hash and size, and it is hashed again on
//! arrival. Nothing is visible before finalize, which checks that every blob is present and
//! commits the manifest in one transaction, as an archive upload does. Unfinished deployments
//! expire after `TMAHOST_STALE_UPLOAD_SECS`.

use std::collections::BTreeMap;

use bytes::Bytes;

use serde::{Deserialize, Serialize};
use tmahost_deploy::{CheckedManifest, DeclaredFile, FinalInputs, ManifestFile};
use tmahost_store::model::{App, Bot, Deployment, DeploymentStatus, Sha256};
use tmahost_store::{BlobKey, ExpectedBlob, NewDeploymentFile, NewUpload, now_ms};
use tmahost_types::BotId;

use crate::auth::Need;
use crate::deployments::{BlobCounts, check_message, prepare};
use crate::metrics::BlobUpload;
use crate::refs::{AppRef, DeploymentRef, Granted};
use crate::{Actor, DeployOptions, DeployReport, Platform, ServiceError, blocking};

/// Hashes listed in a 409 for blobs still missing at finalize (the count is always given).
const MISSING_SHOWN: usize = 20;

/// What the client must do next after declaring its manifest.
#[derive(Debug, Clone)]
pub struct UploadPlan {
    pub bot: Bot,
    pub app: App,
    pub deployment: Deployment,
    /// Distinct contents to send with `PUT /api/v1/blobs/{sha256}`.
    pub missing: Vec<Sha256>,
    /// Distinct contents of the manifest in all.
    pub unique_blobs: usize,
    pub expires_at: i64,
}

/// How a blob upload ended for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobPut {
    Stored,
    /// Already stored (by a concurrent or earlier upload): nothing to do.
    AlreadyStored,
}

/// The manifest as recorded between declaration and finalize.
#[derive(Debug, Serialize, Deserialize)]
struct Recorded {
    path: String,
    sha256: Sha256,
    size: u64,
}

impl Platform {
    /// Opens a digest deploy: checks the manifest against the same rules as an archive,
    /// records it, and answers which contents the store lacks.
    pub async fn begin_upload(
        &self,
        r: &AppRef,
        declared: Vec<DeclaredFile>,
        opts: DeployOptions,
    ) -> Result<UploadPlan, ServiceError> {
        r.require(Need::Deploy)?;
        let (actor, bot, app) = (r.actor(), r.bot.clone(), r.app.clone());
        check_message(&opts)?;
        let manifest = tmahost_deploy::check_manifest(declared, &self.config().uploads)?;

        let mut unique: BTreeMap<&Sha256, &ManifestFile> = BTreeMap::new();
        for f in manifest.all_files() {
            let first = unique.entry(&f.sha256).or_insert(f);
            if first.size != f.size {
                return Err(ServiceError::invalid(
                    "size_mismatch",
                    format!("`{}` and `{}` have the same SHA-256 but different sizes", first.path, f.path),
                ));
            }
        }
        let contents: Vec<(&Sha256, u64)> = unique.iter().map(|(h, f)| (*h, f.size)).collect();
        self.check_quota(&bot, &contents).await?;
        let hashes: Vec<Sha256> = unique.keys().map(|h| (*h).clone()).collect();
        // What this bot has not deployed before, even if the store holds it for another tenant:
        // otherwise the answer would tell which contents other tenants host.
        let missing = self.db().unknown_to_bot(bot.bot_id(), &hashes).await?;
        let recorded: Vec<Recorded> = manifest
            .all_files()
            .map(|f| Recorded { path: f.path.to_string(), sha256: f.sha256.clone(), size: f.size })
            .collect();
        let expires_at = now_ms() + (self.config().api.stale_upload_secs as i64) * 1000;
        let upload = NewUpload {
            manifest_json: serde_json::to_string(&recorded).map_err(ServiceError::internal)?,
            activate: opts.activate,
            expires_at,
            expected: missing
                .iter()
                .map(|h| (h.clone(), unique[h].size as i64, unique[h].content_type.clone()))
                .collect(),
        };
        let deployment = self.db().create_upload(&app.id, &actor.label, opts.message.as_deref(), &upload).await?;
        tracing::info!(
            bot = %bot.id, app = %app.slug, version = deployment.version, files = recorded.len(),
            missing = missing.len(), "digest deploy opened"
        );
        Ok(UploadPlan { bot, app, deployment, missing, unique_blobs: hashes.len(), expires_at })
    }

    /// The size a blob upload must have, if a pending deployment the caller may deploy to
    /// expects it; `None` when the caller's bot provided it already. Call before reading the body.
    pub async fn expected_blob_size(&self, actor: &Actor, sha: &Sha256) -> Result<Option<u64>, ServiceError> {
        Ok(self.expected_by(actor, sha).await?.first().map(|e| e.size as u64))
    }

    /// The declarations, by the caller's open deployments, of a content their bots have not
    /// provided yet (whether or not another tenant stored it); empty when every such bot has.
    /// A caller who may deploy to several bots (an admin token, an owner of two) can have
    /// deploys of the same content open on several at once: one upload provides it to each.
    async fn expected_by(&self, actor: &Actor, sha: &Sha256) -> Result<Vec<ExpectedBlob>, ServiceError> {
        let expected = self.db().expected_blob(sha, now_ms()).await?;
        let mut mine: Vec<ExpectedBlob> =
            expected.into_iter().filter(|e| actor.check(BotId(e.bot_id), Need::Deploy).is_ok()).collect();
        if mine.is_empty() {
            self.metrics().blob_upload(BlobUpload::Rejected, 0);
            return Err(ServiceError::NotFound("pending upload of this blob"));
        }
        mine.sort_by_key(|e| e.bot_id);
        mine.dedup_by_key(|e| e.bot_id);
        // Only a bot's own upload counts: another tenant's copy of the same bytes does not
        // spare the bytes (the answer would reveal what other tenants host). A `bot_blobs` row
        // references its `blobs` row, so a provided content is also stored.
        mine.retain(|e| !e.provided);
        if mine.is_empty() {
            self.metrics().blob_upload(BlobUpload::AlreadyStored, 0);
        }
        Ok(mine)
    }

    /// Stores the received blob `data` after checking its hash and size, with its gzip variant
    /// (brotli follows in the background). Idempotent and safe to race: the object keys are
    /// content addresses and the row is written last.
    pub async fn put_blob(&self, actor: &Actor, sha: &Sha256, data: Bytes) -> Result<BlobPut, ServiceError> {
        let expected = self.expected_by(actor, sha).await?;
        let Some(first) = expected.first() else {
            return Ok(BlobPut::AlreadyStored);
        };
        let size = first.size as u64;
        let content_type = first.content_type.clone();
        let rejected = |code: &'static str, message: String| {
            self.metrics().blob_upload(BlobUpload::Rejected, 0);
            Err(ServiceError::BadRequest { code, message })
        };
        let hashed = data.clone();
        let (got_sha, got_size) = blocking(move || {
            use sha2::Digest;
            (Sha256::from_digest(&sha2::Sha256::digest(&hashed)), hashed.len() as u64)
        })
        .await?;
        if got_size != size {
            return rejected("size_mismatch", format!("the body has {got_size} bytes; the manifest declared {size}"));
        }
        if got_sha != *sha {
            return rejected("digest_mismatch", format!("the body's SHA-256 is {got_sha}, not {sha}"));
        }
        // Verified bytes another tenant already stored: nothing to write (the store stays
        // deduplicated), and the answer is the same as for new content. Claimed before
        // compressing, so bytes already stored are not compressed again.
        let one = std::slice::from_ref(sha);
        // Provided to every bot of the caller's that declared these bytes with this size (a
        // declaration of another size fails at its own finalize).
        let bots: Vec<BotId> = expected.iter().filter(|e| e.size as u64 == size).map(|e| BotId(e.bot_id)).collect();
        if self.claim_upload(sha, size as i64).await? {
            let job = sha.clone();
            let prepared = blocking(move || prepare(job, data, &content_type)).await?;
            self.store_claimed(prepared, &bots).await?;
        } else {
            for bot in &bots {
                self.db().add_bot_blobs(*bot, one).await?;
            }
        }
        self.metrics().blob_upload(BlobUpload::Stored, size);
        Ok(BlobPut::Stored)
    }

    /// Records a digest deploy once every blob is stored: parses `_headers`/`_redirects`,
    /// computes the warnings, and commits (activating unless it was staged).
    pub async fn finalize_upload(&self, r: &AppRef, key: &str) -> Result<DeployReport, ServiceError> {
        r.require(Need::Deploy)?;
        let d = self.deployment(r, key).await?.deployment;
        let (actor, bot, app) = (r.actor(), r.bot.clone(), r.app.clone());
        if d.status != DeploymentStatus::Uploading {
            return Err(ServiceError::Conflict(format!(
                "deployment v{} is {}, not waiting to be finalized",
                d.version, d.status
            )));
        }
        let Some(upload) = self.db().upload(&d.id).await? else {
            return Err(ServiceError::Conflict(format!("deployment v{} was uploaded as an archive", d.version)));
        };
        if upload.expires_at <= now_ms() {
            self.db().fail_deployment(&d.id, "the upload expired before it was finalized").await?;
            return Err(ServiceError::Conflict(format!(
                "deployment v{} expired before it was finalized; deploy again (stored files are reused)",
                d.version
            )));
        }
        let recorded: Vec<Recorded> = serde_json::from_str(&upload.manifest).map_err(ServiceError::internal)?;
        let declared =
            recorded.into_iter().map(|r| DeclaredFile { path: r.path, sha256: r.sha256, size: r.size }).collect();
        // Checked at creation; checking again costs little and rebuilds the typed manifest.
        let manifest = tmahost_deploy::check_manifest(declared, &self.config().uploads)?;

        let mut hashes: Vec<Sha256> = manifest.all_files().map(|f| f.sha256.clone()).collect();
        hashes.sort();
        hashes.dedup();
        // Every content must be in the store and sent (or deployed) by this bot: another
        // tenant's copy does not count.
        let mut missing = self.db().missing_blobs(&hashes).await?;
        for sha in self.db().unknown_to_bot(bot.bot_id(), &hashes).await? {
            if !missing.contains(&sha) {
                missing.push(sha);
            }
        }
        if !missing.is_empty() {
            let shown: Vec<&str> = missing.iter().take(MISSING_SHOWN).map(Sha256::as_str).collect();
            return Err(ServiceError::invalid(
                "missing_blobs",
                format!("{} file contents are not uploaded yet: {}", missing.len(), shown.join(", ")),
            ));
        }
        let inputs = FinalInputs {
            headers: self.blob_of(&manifest, tmahost_deploy::rules::HEADERS_FILE).await?,
            redirects: self.blob_of(&manifest, tmahost_deploy::rules::REDIRECTS_FILE).await?,
            index_html: self.blob_of(&manifest, "index.html").await?,
        };
        let (rules, warnings) = match tmahost_deploy::finish_manifest(&manifest, inputs) {
            Ok(done) => done,
            Err(e) => {
                self.db().fail_deployment(&d.id, &e.to_string()).await?;
                return Err(e.into());
            }
        };
        let files: Vec<NewDeploymentFile> = manifest
            .files
            .iter()
            .map(|f| NewDeploymentFile {
                path: f.path.to_string(),
                sha256: f.sha256.clone(),
                size: f.size as i64,
                content_type: f.content_type.clone(),
            })
            .collect();
        let new = upload.new_blobs as usize;
        let counts = BlobCounts { new, reused: hashes.len().saturating_sub(new) };
        self.commit_deployment(actor, (bot, app, d), files, &rules, upload.activate != 0, counts, warnings, "digest")
            .await
    }

    /// The bytes of one manifest file, read back from the blob store (rule files, index.html).
    async fn blob_of(&self, m: &CheckedManifest, path: &str) -> Result<Option<Vec<u8>>, ServiceError> {
        match m.file(path) {
            Some(f) => Ok(Some(self.blobs().get(&BlobKey::Original(f.sha256.clone())).await?.to_vec())),
            None => Ok(None),
        }
    }

    /// A deployment by its id alone (`tmahost promote <id>`), with its bot and app; callers
    /// who cannot see the bot get "not found".
    pub async fn find_deployment(&self, actor: &Actor, id: &str) -> Result<DeploymentRef, ServiceError> {
        // Someone who cannot see the bot learns nothing, not even that the id exists.
        let missing = |e| match e {
            ServiceError::NotFound(_) | ServiceError::Forbidden(_) => ServiceError::NotFound("deployment"),
            e => e,
        };
        let deployment = self.db().get_deployment(id).await?.ok_or(ServiceError::NotFound("deployment"))?;
        let app = self.db().get_app_by_id(&deployment.app_id).await?.ok_or(ServiceError::NotFound("deployment"))?;
        let app = self.app(actor, BotId(app.bot_id), app.slug.as_str(), Need::See).await.map_err(missing)?;
        Ok(DeploymentRef { app, deployment })
    }

    /// Rolls the app back to `to` (a version), or by default to the deployment that was live
    /// before the current one.
    pub async fn rollback(&self, r: &AppRef, to: Option<i64>) -> Result<Deployment, ServiceError> {
        r.require(Need::Deploy)?;
        let app = &r.app;
        let key = match to {
            Some(v) => v.to_string(),
            None => {
                let list = self.db().list_deployments(&app.id, 1000).await?;
                let previous = list
                    .iter()
                    .filter(|d| d.status == DeploymentStatus::Superseded)
                    .max_by_key(|d| d.activated_at)
                    .ok_or_else(|| ServiceError::Conflict("there is no earlier deployment to roll back to".into()))?;
                previous.id.clone()
            }
        };
        let target = self.deployment(r, &key).await?;
        let d = &target.deployment;
        if d.status == DeploymentStatus::Active {
            return Err(ServiceError::Conflict(format!("v{} is already the active deployment", d.version)));
        }
        if !matches!(d.status, DeploymentStatus::Ready | DeploymentStatus::Superseded) {
            return Err(ServiceError::Conflict(format!("v{} is {} and cannot be served", d.version, d.status)));
        }
        self.activate_deployment(&target).await
    }
}
