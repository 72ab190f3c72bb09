//! Content-addressed blob storage over object_store.
//!
//! Layout (owned by [`BlobKey`]): `blobs/ab/cdef…` for the original bytes of the file whose
//! SHA-256 is `abcdef…`, plus `blobs/ab/cdef….br` and `.gz` for precompressed variants.
//! Content types live in the database, not here: `LocalFileSystem` keeps no attributes.

use std::path::Path as FsPath;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::StoreError;
use crate::model::Sha256;

/// A precompressed representation served for `Accept-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Br,
    Gzip,
}

impl Encoding {
    /// The `Content-Encoding` token (and the serde name).
    pub fn name(self) -> &'static str {
        match self {
            Self::Br => "br",
            Self::Gzip => "gzip",
        }
    }

    /// The object-key suffix of the variant.
    pub fn suffix(self) -> &'static str {
        match self {
            Self::Br => "br",
            Self::Gzip => "gz",
        }
    }
}

/// Where a blob lives in the object store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobKey {
    Original(Sha256),
    Variant(Sha256, Encoding),
}

impl BlobKey {
    pub fn path(&self) -> Path {
        let (sha, suffix) = match self {
            Self::Original(s) => (s, None),
            Self::Variant(s, e) => (s, Some(e.suffix())),
        };
        let hex = sha.as_str();
        let mut p = format!("blobs/{}/{}", &hex[..2], &hex[2..]);
        if let Some(sfx) = suffix {
            p.push('.');
            p.push_str(sfx);
        }
        // Hex digits and fixed words only: always a valid object path.
        Path::from(p)
    }
}

impl BlobKey {
    /// The key an object path names, if it is one of ours (`blobs/ab/cdef…[.br|.gz]`).
    pub fn from_path(path: &Path) -> Option<Self> {
        let rest = path.as_ref().strip_prefix("blobs/")?;
        let (dir, name) = rest.split_once('/')?;
        let (hex, suffix) = match name.split_once('.') {
            Some((h, s)) => (h, Some(s)),
            None => (name, None),
        };
        let sha = Sha256::parse(&format!("{dir}{hex}")).ok()?;
        if dir.len() != 2 {
            return None;
        }
        match suffix {
            None => Some(Self::Original(sha)),
            Some("br") => Some(Self::Variant(sha, Encoding::Br)),
            Some("gz") => Some(Self::Variant(sha, Encoding::Gzip)),
            Some(_) => None,
        }
    }

    pub fn sha(&self) -> &Sha256 {
        match self {
            Self::Original(s) | Self::Variant(s, _) => s,
        }
    }

    /// The original and every variant a content may have.
    pub fn all_of(sha: &Sha256) -> [Self; 3] {
        [
            Self::Original(sha.clone()),
            Self::Variant(sha.clone(), Encoding::Br),
            Self::Variant(sha.clone(), Encoding::Gzip),
        ]
    }
}

/// One object of the blob store, as listed.
#[derive(Debug, Clone)]
pub struct ListedBlob {
    pub key: BlobKey,
    pub size: u64,
    /// Last modification, ms since the epoch.
    pub modified_ms: i64,
}

/// Shared handle to the blob store; cheap to clone.
#[derive(Debug, Clone)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
    description: String,
}

impl BlobStore {
    /// `file:///abs/dir` (created if missing), `memory://` (tests) or `s3://bucket[/prefix]`
    /// with endpoint, region and credentials from the standard `AWS_*` variables.
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        Self::from_url_with(url, &std::env::vars().collect::<Vec<_>>())
    }

    /// [`BlobStore::from_url`] with the `AWS_*` settings taken from `vars` instead of the
    /// process environment (tests, and processes that serve several stores).
    pub fn from_url_with(url: &str, vars: &[(String, String)]) -> Result<Self, StoreError> {
        let parsed = url::Url::parse(url).map_err(|e| StoreError::BadUrl(url.into(), e.to_string()))?;
        let inner: Arc<dyn ObjectStore> = match parsed.scheme() {
            "file" => {
                let dir = parsed
                    .to_file_path()
                    .map_err(|_| StoreError::BadUrl(url.into(), "file:// needs an absolute path".into()))?;
                std::fs::create_dir_all(&dir)
                    .map_err(|e| StoreError::BadUrl(url.into(), format!("cannot create {}: {e}", dir.display())))?;
                Arc::new(LocalFileSystem::new_with_prefix(&dir)?)
            }
            "memory" => Arc::new(InMemory::new()),
            "s3" => {
                let bucket = parsed
                    .host_str()
                    .ok_or_else(|| StoreError::BadUrl(url.into(), "s3:// needs a bucket name".into()))?;
                // Fail within seconds when S3 is down (the default retries for 3 minutes): an
                // edge answers 503 and serves its cache instead of holding requests.
                let client = object_store::ClientOptions::new()
                    .with_timeout(Duration::from_secs(30))
                    .with_connect_timeout(Duration::from_secs(5));
                let retry = object_store::RetryConfig {
                    max_retries: 3,
                    retry_timeout: Duration::from_secs(10),
                    ..Default::default()
                };
                let mut b = object_store::aws::AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_client_options(client)
                    .with_retry(retry);
                for (k, v) in vars.iter().filter(|(k, _)| k.starts_with("AWS_")) {
                    if let Ok(key) = k.to_ascii_lowercase().parse::<object_store::aws::AmazonS3ConfigKey>() {
                        b = b.with_config(key, v);
                    }
                    // A plain-HTTP endpoint is a local emulator (MinIO, moto): allow it.
                    if (k == "AWS_ENDPOINT" || k == "AWS_ENDPOINT_URL") && v.starts_with("http://") {
                        b = b.with_allow_http(true);
                    }
                }
                let store: Arc<dyn ObjectStore> = Arc::new(b.build()?);
                let prefix = parsed.path().trim_matches('/');
                if prefix.is_empty() {
                    store
                } else {
                    let prefix = Path::parse(prefix).map_err(|e| StoreError::BadUrl(url.into(), e.to_string()))?;
                    Arc::new(object_store::prefix::PrefixStore::new(store, prefix))
                }
            }
            other => {
                return Err(StoreError::BadUrl(
                    url.into(),
                    format!("unknown scheme `{other}`; use file://, s3:// or memory://"),
                ));
            }
        };
        Ok(Self { inner, description: redact(url) })
    }

    /// A `file://` store rooted at a local directory.
    pub fn local(dir: &FsPath) -> Result<Self, StoreError> {
        let abs = std::path::absolute(dir).map_err(|e| StoreError::BadUrl(dir.display().to_string(), e.to_string()))?;
        let url = url::Url::from_directory_path(&abs)
            .map_err(|_| StoreError::BadUrl(abs.display().to_string(), "not an absolute path".into()))?;
        Self::from_url(url.as_str())
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    /// Writes a blob. Idempotent: the key is the content hash, so a concurrent or repeated
    /// write of the same key writes the same bytes.
    pub async fn put(&self, key: &BlobKey, data: Bytes) -> Result<(), StoreError> {
        self.inner.put(&key.path(), PutPayload::from_bytes(data)).await?;
        Ok(())
    }

    pub async fn get(&self, key: &BlobKey) -> Result<Bytes, StoreError> {
        match self.inner.get(&key.path()).await {
            Ok(r) => Ok(r.bytes().await?),
            Err(object_store::Error::NotFound { .. }) => Err(StoreError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn exists(&self, key: &BlobKey) -> Result<bool, StoreError> {
        match self.inner.head(&key.path()).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn delete(&self, key: &BlobKey) -> Result<(), StoreError> {
        match self.inner.delete(&key.path()).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes these objects (S3: in batches of up to 1,000 per request); absent ones count
    /// as deleted. Returns how many were asked.
    pub async fn delete_many(&self, keys: &[BlobKey]) -> Result<usize, StoreError> {
        let paths: Vec<object_store::Result<Path>> = keys.iter().map(|k| Ok(k.path())).collect();
        let mut results = self.inner.delete_stream(futures_util::stream::iter(paths).boxed());
        while let Some(r) = results.next().await {
            match r {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(keys.len())
    }

    /// Every object under `blobs/`, streamed (a listing page at a time, whatever the count);
    /// objects that are not ours (other names in a shared bucket) are left out.
    pub fn list_blobs(&self) -> futures_util::stream::BoxStream<'static, Result<ListedBlob, StoreError>> {
        let prefix = Path::from("blobs");
        self.inner
            .list(Some(&prefix))
            .filter_map(|r| {
                futures_util::future::ready(match r {
                    Ok(meta) => BlobKey::from_path(&meta.location).map(|key| {
                        Ok(ListedBlob { key, size: meta.size, modified_ms: meta.last_modified.timestamp_millis() })
                    }),
                    // Deleted between the directory read and its metadata (local files).
                    Err(object_store::Error::NotFound { .. }) => None,
                    Err(e) => Some(Err(e.into())),
                })
            })
            .boxed()
    }

    /// Number of objects under `blobs/` (originals and variants); for tests and stats.
    pub async fn count_objects(&self) -> Result<usize, StoreError> {
        let prefix = Path::from("blobs");
        let n = self.inner.list(Some(&prefix)).try_fold(0usize, |n, _| async move { Ok(n + 1) }).await?;
        Ok(n)
    }

    /// Verifies the store answers (for `/readyz`): a listing of one page.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let prefix = Path::from("blobs");
        let mut s = self.inner.list(Some(&prefix));
        s.try_next().await?;
        Ok(())
    }
}

fn redact(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(c: char) -> Sha256 {
        Sha256::parse(&c.to_string().repeat(64)).expect("valid")
    }

    #[test]
    fn keys_follow_the_documented_layout() {
        let s = Sha256::parse(&format!("ab{}", "c".repeat(62))).expect("valid");
        assert_eq!(BlobKey::Original(s.clone()).path().as_ref(), format!("blobs/ab/{}", "c".repeat(62)));
        assert_eq!(BlobKey::Variant(s, Encoding::Br).path().as_ref(), format!("blobs/ab/{}.br", "c".repeat(62)));
    }

    #[tokio::test]
    async fn local_store_round_trips_and_counts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = BlobStore::local(dir.path()).expect("store");
        let k = BlobKey::Original(sha('a'));
        assert!(!store.exists(&k).await.expect("head"));
        store.put(&k, Bytes::from_static(b"hi")).await.expect("put");
        store.put(&k, Bytes::from_static(b"hi")).await.expect("second put is fine");
        assert_eq!(store.get(&k).await.expect("get"), Bytes::from_static(b"hi"));
        assert_eq!(store.count_objects().await.expect("list"), 1);
        assert!(matches!(store.get(&BlobKey::Original(sha('b'))).await, Err(StoreError::NotFound)));
    }

    #[test]
    fn unknown_schemes_are_rejected_with_the_supported_list() {
        let e = BlobStore::from_url("ftp://x").expect_err("rejected");
        assert!(e.to_string().contains("file://"), "{e}");
    }
}
