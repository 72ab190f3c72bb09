//! The brotli variants deploys leave to be made. A deploy stores the original and its gzip
//! variant and activates at once; brotli at maximum effort (about 1 MB/s per core) is made
//! here afterwards, one blob at a time so it never takes more than one core from the edge.
//! Each blob is claimed with a lease, so API nodes sharing a database do not make the same
//! variant twice and a node that dies mid-way leaves it to the next. Edges pick the variant up
//! by themselves: a manifest read while variants were pending is read again (see the edge's
//! `Edge::manifest`).

use std::time::Duration;

use bytes::Bytes;
use tmahost_store::{BlobKey, now_ms};
use tmahost_types::Sha256;

use crate::{Encoding, Platform, ServiceError, blocking};

/// How long a claim holds; a 25 MB file takes about 25 s at maximum effort.
const LEASE: Duration = Duration::from_secs(600);
/// Pending blobs read per query.
const BATCH: i64 = 32;
/// How often the worker looks for work it was not told about (other nodes' deploys, leases
/// that ran out, a database that was down).
const POLL: Duration = Duration::from_secs(30);

impl Platform {
    /// Makes every pending brotli variant no other worker holds; returns how many blobs it
    /// finished. Tests call it to wait for the variants; the worker calls it when woken.
    pub async fn make_pending_brotli(&self) -> Result<usize, ServiceError> {
        let mut made = 0;
        loop {
            let batch = self.db().pending_brotli(now_ms(), BATCH).await?;
            let mut claimed = false;
            for sha in batch {
                let now = now_ms();
                if !self.db().claim_brotli(&sha, now, now + LEASE.as_millis() as i64).await? {
                    continue;
                }
                claimed = true;
                self.make_brotli(&sha).await?;
                made += 1;
            }
            if !claimed {
                return Ok(made);
            }
        }
    }

    async fn make_brotli(&self, sha: &Sha256) -> Result<(), ServiceError> {
        let original = self.blobs().get(&BlobKey::Original(sha.clone())).await?;
        let variant = blocking(move || tmahost_deploy::brotli_variant(&original)).await?;
        let size = match variant {
            Some(bytes) => {
                let size = bytes.len() as i64;
                // The object first, then the row: a row never names a missing object.
                self.blobs().put(&BlobKey::Variant(sha.clone(), Encoding::Br), Bytes::from(bytes)).await?;
                Some(size)
            }
            None => None,
        };
        if !self.db().finish_brotli(sha, size).await? {
            // The content was collected while its variant was made: the collector may have
            // deleted its objects before this one was written, so delete it here.
            self.blobs().delete(&BlobKey::Variant(sha.clone(), Encoding::Br)).await?;
            return Ok(());
        }
        self.metrics().brotli_made(size.is_some());
        Ok(())
    }
}

/// Runs the brotli worker of this process until the platform is dropped: woken by deploys,
/// and every [`POLL`] for work from elsewhere. Failures (a database or object store that is
/// down) are logged and retried at the next poll; nothing waits on this worker.
pub fn spawn_brotli_worker(platform: &Platform) {
    let weak = platform.downgrade();
    let wanted = platform.brotli_signal();
    tokio::spawn(async move {
        loop {
            // A strong handle only while working, so the platform can shut down meanwhile.
            let Some(platform) = Platform::upgrade(&weak) else { return };
            match platform.make_pending_brotli().await {
                Ok(0) => {}
                Ok(made) => tracing::info!(made, "brotli variants made"),
                Err(e) => tracing::warn!(error = %e, "making brotli variants failed; retrying later"),
            }
            drop(platform);
            tokio::select! {
                () = wanted.notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    });
}
