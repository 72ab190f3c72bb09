//! Backups of an installation on the embedded defaults, their restore, and a check of any copy.
//!
//! A backup is a directory: `tmahost.db` (an online `VACUUM INTO` snapshot), `objects/` (every
//! live content of that snapshot with its variants, in the blob store's layout), `master.key`
//! and `backup.json` (what it holds). The database is copied first and the contents after, while
//! the backup holds the collector's lease, so every content the snapshot names is still there to
//! copy. It is written under a temporary name and renamed when complete: a directory named as
//! asked is always whole. PostgreSQL + S3 installations are copied with their own tools
//! (the book, Operations: "Backup and restore"); [`check`] verifies either kind of copy.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use tmahost_store::{BlobKey, BlobStore, Db, Encoding, MasterKey, StoredBlob, now_ms};

use crate::{Config, Platform, ServiceError};

const FORMAT: u32 = 1;
const MANIFEST: &str = "backup.json";
const DATABASE: &str = "tmahost.db";
const OBJECTS: &str = "objects";
const KEY: &str = "master.key";
/// Contents read per page, and copied or checked at once.
const PAGE: i64 = 256;
const PARALLEL: usize = 8;
/// The collector's lease while a backup copies contents (renewed every page); a backup killed
/// mid-way holds collection up this long at most.
const LEASE: &str = "gc";
const LEASE_MS: i64 = 5 * 60_000;
/// How long a backup waits for a collection pass in progress to finish.
const LEASE_WAIT: Duration = Duration::from_secs(600);

/// What `backup.json` records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupInfo {
    pub format: u32,
    pub created_at_ms: i64,
    pub tmahost_version: String,
    /// The newest migration the database had.
    pub schema_version: i64,
    pub contents: u64,
    pub objects: u64,
    pub bytes: u64,
    pub master_key: bool,
}

/// What a check of a copy found.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// Contents some deployment names, all checked.
    pub contents: u64,
    pub bytes: u64,
    /// `sha256: what is wrong`, for each content that is not as its row says.
    pub problems: Vec<String>,
}

fn io(what: impl std::fmt::Display, e: std::io::Error) -> ServiceError {
    ServiceError::invalid("backup_io", format!("{what}: {e}"))
}

/// The objects a content has, by its row.
fn objects_of(b: &StoredBlob) -> Vec<BlobKey> {
    let mut keys = vec![BlobKey::Original(b.sha256.clone())];
    if b.br_size.is_some() {
        keys.push(BlobKey::Variant(b.sha256.clone(), Encoding::Br));
    }
    if b.gz_size.is_some() {
        keys.push(BlobKey::Variant(b.sha256.clone(), Encoding::Gzip));
    }
    keys
}

impl Platform {
    /// Copies this installation (SQLite + any blob store) to `dest`, a path that must not exist
    /// yet, while it serves and deploys. Fails for PostgreSQL (use `pg_dump`).
    pub async fn backup(&self, dest: &Path) -> Result<BackupInfo, ServiceError> {
        if self.db().kind() != tmahost_store::DbKind::Sqlite {
            return Err(ServiceError::invalid(
                "backup_postgres",
                "`tmahost backup` copies SQLite installations; for PostgreSQL run pg_dump, then copy the bucket, then `tmahost backup --check` a restored copy (the book, Operations: Backup and restore)",
            ));
        }
        if dest.exists() {
            return Err(ServiceError::invalid(
                "backup_exists",
                format!("{} exists already; name a new path", dest.display()),
            ));
        }
        let name = dest.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
            ServiceError::invalid("backup_path", format!("{} does not name a directory to create", dest.display()))
        })?;
        let work = dest.with_file_name(format!(".{name}.partial-{}", hex::encode(rand::random::<[u8; 4]>())));
        std::fs::create_dir(&work).map_err(|e| io(format!("cannot create {}", work.display()), e))?;
        let holder = format!("backup-{}", uuid::Uuid::new_v4());
        let result = async {
            self.wait_for_lease(&holder).await?;
            self.write_backup(&work, &holder).await
        }
        .await;
        let released = self.db().release_lease(LEASE, &holder).await;
        let finished = result.and_then(|info| {
            released?;
            std::fs::rename(&work, dest)
                .map_err(|e| io(format!("cannot rename {} to {}", work.display(), dest.display()), e))?;
            Ok(info)
        });
        if finished.is_err() {
            // No half backup is left behind to be mistaken for a whole one.
            let _ = std::fs::remove_dir_all(&work);
        }
        finished
    }

    /// Checks this installation as [`check`] does (e.g. a PostgreSQL + S3 copy restored next
    /// to production, named by its own configuration).
    pub async fn check_copy(&self) -> Result<CheckReport, ServiceError> {
        check(self.db(), self.blobs()).await
    }

    async fn wait_for_lease(&self, holder: &str) -> Result<(), ServiceError> {
        let deadline = tokio::time::Instant::now() + LEASE_WAIT;
        loop {
            let now = now_ms();
            if self.db().take_lease(LEASE, holder, now, now + LEASE_MS).await? {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(ServiceError::Conflict(
                    "a garbage collection pass has held its lease for 10 minutes".into(),
                ));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn write_backup(&self, work: &Path, holder: &str) -> Result<BackupInfo, ServiceError> {
        let db_path = work.join(DATABASE);
        self.db().snapshot_into(&db_path).await.map_err(|e| {
            // SQLite names no errno ("disk I/O error"); a full or read-only destination is the
            // usual cause.
            ServiceError::invalid(
                "backup_write",
                format!(
                    "cannot write the database copy to {}: {e}; is there room at the destination?",
                    db_path.display()
                ),
            )
        })?;
        let snapshot = Db::open_read_only(&db_path).await?;
        let schema_version = snapshot.schema_version().await?;
        let target = BlobStore::local(&work.join(OBJECTS))?;
        let mut info = BackupInfo {
            format: FORMAT,
            created_at_ms: now_ms(),
            tmahost_version: env!("CARGO_PKG_VERSION").to_owned(),
            schema_version,
            contents: 0,
            objects: 0,
            bytes: 0,
            master_key: true,
        };
        let mut after = None;
        loop {
            let page = snapshot.live_blobs_after(after.as_ref(), PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.sha256.clone());
            let now = now_ms();
            if !self.db().take_lease(LEASE, holder, now, now + LEASE_MS).await? {
                return Err(ServiceError::Conflict("the backup lost the collector's lease".into()));
            }
            let keys: Vec<BlobKey> = page.iter().flat_map(objects_of).collect();
            let copied: Vec<u64> = futures_util::stream::iter(keys)
                .map(|key| {
                    let target = &target;
                    async move {
                        let data = self.blobs().get(&key).await.map_err(|e| {
                            ServiceError::invalid("backup_source", format!("reading {}: {e}", key.path()))
                        })?;
                        let n = data.len() as u64;
                        target.put(&key, data).await.map_err(|e| {
                            ServiceError::invalid("backup_write", format!("writing {}: {e}", key.path()))
                        })?;
                        Ok::<_, ServiceError>(n)
                    }
                })
                .buffer_unordered(PARALLEL)
                .try_collect()
                .await?;
            info.contents += page.len() as u64;
            info.objects += copied.len() as u64;
            info.bytes += copied.iter().sum::<u64>();
        }
        snapshot.close().await;
        self.master_key().save_new(&work.join(KEY))?;
        let text = serde_json::to_vec_pretty(&info).map_err(ServiceError::internal)?;
        write_synced(&work.join(MANIFEST), &text)?;
        Ok(info)
    }
}

fn write_synced(path: &Path, data: &[u8]) -> Result<(), ServiceError> {
    use std::io::Write;
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(data).and_then(|_| f.sync_all()))
        .map_err(|e| io(format!("cannot write {}", path.display()), e))
}

/// Reads a backup's `backup.json`: a directory without it is not a (complete) backup.
pub fn read_info(src: &Path) -> Result<BackupInfo, ServiceError> {
    let path = src.join(MANIFEST);
    let text = std::fs::read(&path)
        .map_err(|e| io(format!("{} is not a complete tmahost backup (no {MANIFEST})", src.display()), e))?;
    let info: BackupInfo = serde_json::from_slice(&text)
        .map_err(|e| ServiceError::invalid("backup_corrupt", format!("{}: {e}", path.display())))?;
    if info.format != FORMAT {
        return Err(ServiceError::invalid("backup_format", format!("backup format {} is not {FORMAT}", info.format)));
    }
    Ok(info)
}

/// Restores the backup at `src` into the data dir `config` names, which must be empty (or
/// not exist), on the embedded layout (SQLite + files there).
pub async fn restore(config: &Config, src: &Path) -> Result<BackupInfo, ServiceError> {
    if config.storage.database_url.is_some() || config.storage_url().is_some() {
        return Err(ServiceError::invalid(
            "restore_layout",
            "`tmahost restore` writes the embedded layout (TMAHOST_DATA_DIR, without TMAHOST_DATABASE_URL or TMAHOST_STORAGE_URL); restore PostgreSQL with pg_restore and the bucket with its own tools (the book, Operations: Backup and restore)",
        ));
    }
    let info = read_info(src)?;
    let dir = &config.storage.data_dir;
    let occupied = match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_some(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(io(format!("cannot read {}", dir.display()), e)),
    };
    if occupied {
        return Err(ServiceError::invalid(
            "restore_not_empty",
            format!("{} is not empty; restore into an empty data dir (nothing was changed)", dir.display()),
        ));
    }
    let key_text =
        std::fs::read_to_string(src.join(KEY)).map_err(|e| io(format!("{} holds no master key", src.display()), e))?;
    let backup_key = MasterKey::parse(&zeroize::Zeroizing::new(key_text))?;
    if let Some(given) = &config.storage.master_key
        && !MasterKey::parse(given.expose())?.same_as(&backup_key)
    {
        return Err(ServiceError::invalid(
            "restore_key",
            "TMAHOST_MASTER_KEY is not the key of this backup; the bot tokens it holds could not be read",
        ));
    }
    let (src, dir) = (src.to_owned(), dir.clone());
    // The key file is restored even with TMAHOST_MASTER_KEY set: it is the same key.
    tokio::task::spawn_blocking(move || copy_in(&src, &dir)).await.map_err(ServiceError::internal)??;
    Ok(info)
}

fn copy_in(src: &Path, dir: &Path) -> Result<(), ServiceError> {
    std::fs::create_dir_all(dir).map_err(|e| io(format!("cannot create {}", dir.display()), e))?;
    let result = (|| {
        std::fs::copy(src.join(DATABASE), dir.join(DATABASE)).map_err(|e| io("copying the database", e))?;
        copy_tree(&src.join(OBJECTS), &dir.join(OBJECTS))?;
        std::fs::copy(src.join(KEY), dir.join(KEY)).map_err(|e| io("copying the master key", e))?;
        Ok(())
    })();
    if result.is_err() {
        // Back to empty, so the restore can simply be run again.
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let p = e.path();
                let _ = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
            }
        }
    }
    result
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), ServiceError> {
    std::fs::create_dir_all(to).map_err(|e| io(format!("cannot create {}", to.display()), e))?;
    let entries = std::fs::read_dir(from).map_err(|e| io(format!("cannot read {}", from.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io(format!("cannot read {}", from.display()), e))?;
        let (path, dest): (PathBuf, PathBuf) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().map_err(|e| io(format!("cannot read {}", path.display()), e))?;
        if kind.is_dir() {
            copy_tree(&path, &dest)?;
        } else if kind.is_file() {
            std::fs::copy(&path, &dest).map_err(|e| io(format!("cannot copy {}", path.display()), e))?;
        }
    }
    Ok(())
}

/// Checks a copy: every content a deployment names has a live row, its original is there with
/// the row's size and its hash, and its variants are there. `db` and `blobs` are the copy's:
/// a backup directory's (see [`open_backup`]) or a restored PostgreSQL + S3 installation's.
pub async fn check(db: &Db, blobs: &BlobStore) -> Result<CheckReport, ServiceError> {
    let mut report = CheckReport::default();
    let mut after = None;
    loop {
        let page = db.referenced_blobs_after(after.as_ref(), PAGE).await?;
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        report.contents += page.len() as u64;
        let found: Vec<(u64, Vec<String>)> = futures_util::stream::iter(page)
            .map(|(sha, row)| async move {
                let Some(row) = row else {
                    return (0, vec![format!("{sha}: named by a deployment but has no live row")]);
                };
                let mut problems = Vec::new();
                let mut bytes = 0;
                match blobs.get(&BlobKey::Original(sha.clone())).await {
                    Ok(data) => {
                        bytes = data.len() as u64;
                        if data.len() as i64 != row.size {
                            problems.push(format!("{sha}: {} bytes, its row says {}", data.len(), row.size));
                        } else if hex::encode(sha2::Sha256::digest(&data)) != sha.as_str() {
                            problems.push(format!("{sha}: its bytes do not hash to its name"));
                        }
                    }
                    Err(e) => problems.push(format!("{sha}: the original cannot be read ({e})")),
                }
                for key in objects_of(&row).into_iter().skip(1) {
                    if !blobs.exists(&key).await.unwrap_or(false) {
                        problems.push(format!("{sha}: its variant {} is missing", key.path()));
                    }
                }
                (bytes, problems)
            })
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        for (bytes, problems) in found {
            report.bytes += bytes;
            report.problems.extend(problems);
        }
    }
    Ok(report)
}

/// The database and contents of a backup directory, opened read-only.
pub async fn open_backup(src: &Path) -> Result<(Db, BlobStore), ServiceError> {
    read_info(src)?;
    let db = Db::open_read_only(&src.join(DATABASE)).await?;
    let blobs = BlobStore::local(&src.join(OBJECTS))?;
    Ok((db, blobs))
}
