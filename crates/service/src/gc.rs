//! Blob garbage collection: deletes stored contents no deployment references, never one that
//! is referenced or about to be.
//!
//! The race that matters is a deploy told a content exists (so it does not upload it) while a
//! collector deletes it. Two rules design it out. Every "exists" answer touches the content's
//! row, and a pass only takes rows untouched for `TMAHOST_GC_GRACE_SECS`; and recording a
//! deployment touches every content it names in the same transaction, failing if one is not
//! live, while dooming re-reads the references after locking the rows (`store`'s `gc.rs`), so a
//! recorded deployment never names a doomed content. An uploader of a doomed content waits for
//! its deletion to finish before writing it again.
//!
//! A pass pages through the rows in hash order (memory stays bounded), then lists the object
//! store for objects with no row at all. One node at a time runs it (the `gc` lease).

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tmahost_store::{BlobClaim, BlobKey, ListedBlob, now_ms};
use tmahost_types::Sha256;

use crate::{Platform, ServiceError};

/// Rows examined per query.
const PAGE: i64 = 500;
/// Listed objects examined at once.
const LIST_PAGE: usize = 1000;
/// Contents whose objects are deleted per request batch (three keys each).
const DELETE_BATCH: usize = 100;
/// A collector deletes a doomed content's objects only this soon after dooming it...
const DOOM_HOLD_MS: i64 = 60_000;
/// ...so once this much has passed, the doom is stale: the next pass or a waiting uploader
/// finishes it.
const DOOM_STALE_MS: i64 = 2 * DOOM_HOLD_MS;
/// How long the `gc` lease is taken for (renewed every page, which takes far less): a pass
/// killed mid-way holds up the next one this long at most.
const LEASE_MS: i64 = 30_000;
const LEASE: &str = "gc";

/// What a pass deleted (or, dry, would delete).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Contents with a row no deployment references.
    pub blobs: u64,
    /// Contents with objects but no row (left by interrupted uploads).
    pub orphans: u64,
    /// Bytes of their objects (originals and variants).
    pub bytes: u64,
}

/// One content a pass takes, for the operator's listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collected<'a> {
    Blob(&'a Sha256, u64),
    Orphan(&'a Sha256, u64),
}

impl Platform {
    /// Runs one pass. `dry_run`: deletes nothing and reports what would go. `each` is told of
    /// every content taken. Fails with `Conflict` while another node's pass holds the lease.
    pub async fn collect_garbage(
        &self,
        dry_run: bool,
        mut each: impl FnMut(Collected<'_>) + Send,
    ) -> Result<GcReport, ServiceError> {
        let holder = uuid::Uuid::new_v4().to_string();
        let lease = |now: i64| self.db().take_lease(LEASE, &holder, now, now + LEASE_MS);
        if !dry_run && !lease(now_ms()).await? {
            return Err(ServiceError::Conflict("another node is collecting garbage now".into()));
        }
        let started = now_ms();
        let cutoff = started - (self.config().retention.gc_grace_secs as i64) * 1000;
        let result = self.collect(dry_run, cutoff, &mut each, &lease).await;
        if !dry_run {
            self.db().release_lease(LEASE, &holder).await?;
        }
        let report = result?;
        tracing::info!(
            dry_run,
            blobs = report.blobs,
            orphans = report.orphans,
            bytes = report.bytes,
            ms = now_ms() - started,
            "garbage collection pass"
        );
        Ok(report)
    }

    async fn collect<F, L>(
        &self,
        dry_run: bool,
        cutoff: i64,
        each: &mut (impl FnMut(Collected<'_>) + Send),
        lease: &L,
    ) -> Result<GcReport, ServiceError>
    where
        L: Fn(i64) -> F + Sync,
        F: Future<Output = Result<bool, tmahost_store::StoreError>> + Send,
    {
        let mut report = GcReport::default();
        let mut after: Option<Sha256> = None;
        loop {
            let stale = now_ms() - DOOM_STALE_MS;
            let page = self.db().gc_candidates(after.as_ref(), cutoff, stale, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.sha256.clone());
            let shas: Vec<Sha256> = page.iter().map(|c| c.sha256.clone()).collect();
            let taken = if dry_run {
                shas
            } else {
                if !lease(now_ms()).await? {
                    return Err(ServiceError::Conflict("the garbage-collection lease was lost".into()));
                }
                let mark = now_ms();
                let doomed = self.db().doom_blobs(&shas, cutoff, stale, mark).await?;
                self.delete_doomed(&doomed, mark).await?
            };
            for c in page.iter().filter(|c| taken.contains(&c.sha256)) {
                each(Collected::Blob(&c.sha256, c.bytes as u64));
                report.blobs += 1;
                report.bytes += c.bytes as u64;
            }
        }
        let mut listing = self.blobs().list_blobs().chunks(LIST_PAGE);
        while let Some(objects) = listing.next().await {
            let objects = objects.into_iter().collect::<Result<Vec<ListedBlob>, _>>()?;
            let orphans = self.orphans(&objects, cutoff).await?;
            let taken = if dry_run || orphans.is_empty() {
                orphans.iter().map(|(s, _)| s.clone()).collect()
            } else {
                if !lease(now_ms()).await? {
                    return Err(ServiceError::Conflict("the garbage-collection lease was lost".into()));
                }
                let mark = now_ms();
                let shas: Vec<Sha256> = orphans.iter().map(|(s, _)| s.clone()).collect();
                let doomed = self.db().doom_orphans(&shas, mark).await?;
                self.delete_doomed(&doomed, mark).await?
            };
            for (sha, bytes) in orphans.iter().filter(|(s, _)| taken.contains(s)) {
                each(Collected::Orphan(sha, *bytes));
                report.orphans += 1;
                report.bytes += bytes;
            }
        }
        Ok(report)
    }

    /// The contents among `objects` that have no row and no object newer than `cutoff`, with
    /// the bytes of their listed objects.
    async fn orphans(&self, objects: &[ListedBlob], cutoff: i64) -> Result<Vec<(Sha256, u64)>, ServiceError> {
        let mut by_sha: std::collections::BTreeMap<&Sha256, (u64, bool)> = std::collections::BTreeMap::new();
        for o in objects {
            let e = by_sha.entry(o.key.sha()).or_insert((0, true));
            e.0 += o.size;
            e.1 &= o.modified_ms < cutoff;
        }
        let old: Vec<Sha256> = by_sha.iter().filter(|(_, (_, old))| *old).map(|(s, _)| (*s).clone()).collect();
        let rows = self.db().blob_rows(&old).await?;
        Ok(old.into_iter().filter(|s| !rows.contains(s.as_str())).map(|s| (s.clone(), by_sha[&s].0)).collect())
    }

    /// Deletes the objects of contents doomed with `mark`, then their rows; returns those
    /// finished. Stops (leaving the rest doomed for the next pass) once the doom is no longer
    /// fresh enough that no uploader could have taken it over.
    async fn delete_doomed(&self, doomed: &[Sha256], mark: i64) -> Result<Vec<Sha256>, ServiceError> {
        let mut done = Vec::with_capacity(doomed.len());
        for batch in doomed.chunks(DELETE_BATCH) {
            if now_ms() > mark + DOOM_HOLD_MS {
                tracing::warn!(
                    left = doomed.len() - done.len(),
                    "garbage collection paused too long; the next pass finishes it"
                );
                break;
            }
            let keys: Vec<BlobKey> = batch.iter().flat_map(BlobKey::all_of).collect();
            self.blobs().delete_many(&keys).await?;
            self.db().drop_doomed(batch, mark).await?;
            done.extend_from_slice(batch);
        }
        Ok(done)
    }

    /// Claims the upload of a content: `true` when the caller must write it, `false` when it is
    /// stored already. A content being collected is waited for (its collector is quick, and one
    /// that stopped is finished here once its doom is stale).
    pub(crate) async fn claim_upload(&self, sha: &Sha256, size: i64) -> Result<bool, ServiceError> {
        let give_up = Instant::now() + Duration::from_millis((DOOM_STALE_MS + 10_000) as u64);
        loop {
            match self.db().claim_blob(sha, size).await? {
                BlobClaim::Upload => return Ok(true),
                BlobClaim::Live => return Ok(false),
                BlobClaim::Doomed { since } if now_ms() - since > DOOM_STALE_MS => {
                    // Its collector stopped: finish the deletion of this one content.
                    self.blobs().delete_many(&BlobKey::all_of(sha)).await?;
                    self.db().drop_doomed(std::slice::from_ref(sha), since).await?;
                }
                BlobClaim::Doomed { .. } if Instant::now() > give_up => {
                    return Err(ServiceError::Unavailable(format!(
                        "content {sha} is being garbage-collected; try again in a minute"
                    )));
                }
                BlobClaim::Doomed { .. } => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

/// Runs a pass every `TMAHOST_GC_EVERY_SECS` (if not 0) until the platform is dropped; on
/// several nodes, the lease lets one of them run each pass. Failures (a database or object
/// store that is down) are logged; the next pass tries again.
pub fn spawn_collector(platform: &Platform) {
    let every = platform.config().retention.gc_every_secs;
    if every == 0 {
        return;
    }
    let weak = platform.downgrade();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(every));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(platform) = Platform::upgrade(&weak) else { return };
            match platform.collect_garbage(false, |_| {}).await {
                Ok(_) => {}
                Err(ServiceError::Conflict(why)) => tracing::debug!(%why, "garbage collection skipped"),
                Err(e) => tracing::warn!(error = %e, "garbage collection failed; the next pass tries again"),
            }
        }
    });
}
