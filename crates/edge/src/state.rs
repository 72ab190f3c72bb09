//! The edge's state: the routing table and how it is kept fresh, the caches of manifests,
//! blobs and preview lookups (each reading through the platform's serving calls), sessions,
//! traffic counters and metrics. Everything here is cache: if the database or the object store
//! fails, what is cached keeps being served.

use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use hyper::header::HeaderValue;
use tmahost_service::metrics::{Counter, Family};
use tmahost_service::{BlobKey, Encoding, Platform, ServiceError};

use crate::FastHash;
use crate::content::{FileEntry, Manifest};
use crate::routing::{AppRoute, RouteTable};
use crate::session::Sessions;
use crate::stats::{self, Stats};

/// The edge role; cheap to clone.
#[derive(Debug, Clone)]
pub struct Edge {
    inner: Arc<Inner>,
}

struct Inner {
    platform: Platform,
    /// The routing table and the ticket of the refresh that built it.
    table: RwLock<(u64, Arc<RouteTable>)>,
    /// Tickets of refreshes, taken before each reads the database: two refreshes may finish
    /// out of order, and the older one must not replace what the newer one read.
    tickets: std::sync::atomic::AtomicU64,
    manifests: moka::future::Cache<String, Arc<Manifest>, FastHash>,
    blobs: quick_cache::sync::Cache<BlobCacheKey, Bytes, BlobWeight, FastHash>,
    /// `(app id, short id)` -> deployment id, for preview hosts.
    previews: moka::future::Cache<(String, String), Option<String>>,
    sessions: Sessions,
    stats: Arc<Stats>,
    metrics: EdgeMetrics,
    emulator: Emulator,
    file_headers: crate::respond::FileHeaders,
    upstreams: crate::upstream::Upstreams,
}

/// The dashboard's Telegram emulator frames apps from the API's origin, which only the
/// configuration knows.
#[derive(Debug)]
pub(crate) struct Emulator {
    /// `Origin` of the emulator page.
    pub origin: HeaderValue,
    /// The platform's CSP with the emulator's origin among the frame ancestors.
    pub csp: HeaderValue,
}

impl Emulator {
    fn new(config: &tmahost_service::Config) -> Self {
        let origin = config.api_origin();
        let csp = format!("{} {origin}", crate::respond::DEFAULT_CSP);
        // The origin was validated as a URL at load; a value a header cannot carry falls back
        // to the platform's CSP without the emulator.
        match (HeaderValue::try_from(origin), HeaderValue::try_from(csp)) {
            (Ok(origin), Ok(csp)) => Self { origin, csp },
            _ => Self {
                origin: HeaderValue::from_static("null"),
                csp: HeaderValue::from_static(crate::respond::DEFAULT_CSP),
            },
        }
    }
}

type Pair = [(&'static str, &'static str); 2];

/// A representation of a file: its digest (SHA-256: uniform) and encoding.
type BlobCacheKey = (crate::UniformKey<32>, Option<Encoding>);

/// Typical blob size, to size the blob cache's table.
const BLOB_ESTIMATE: u64 = 16 * 1024;

/// Blobs weigh their bytes (at least 1: quick_cache never evicts weightless entries).
#[derive(Debug, Clone, Copy)]
struct BlobWeight;

impl quick_cache::Weighter<BlobCacheKey, Bytes> for BlobWeight {
    fn weight(&self, _: &BlobCacheKey, blob: &Bytes) -> u64 {
        (blob.len() as u64).max(1)
    }
}

/// The edge's own Prometheus counters (per-app traffic is read from `stats` at scrape time).
#[derive(Debug)]
pub(crate) struct EdgeMetrics {
    blob_hit: Counter,
    blob_miss: Counter,
    manifest_hit: Counter,
    manifest_miss: Counter,
    pub session_refusals: Family<[(&'static str, &'static str); 1], Counter>,
}

impl EdgeMetrics {
    fn register(platform: &Platform, stats: &Arc<Stats>) -> Self {
        let m = platform.metrics();
        let cache = Family::<Pair, Counter>::default();
        m.register("edge_cache", "Edge cache lookups by cache (blob, manifest) and result", cache.clone());
        let get = |c, r| cache.get_or_create(&[("cache", c), ("result", r)]).clone();
        let session_refusals = Family::default();
        m.register("edge_session_refusals", "Refused session creations by reason", session_refusals.clone());
        m.register_collector(stats.clone());
        Self {
            blob_hit: get("blob", "hit"),
            blob_miss: get("blob", "miss"),
            manifest_hit: get("manifest", "hit"),
            manifest_miss: get("manifest", "miss"),
            session_refusals,
        }
    }
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Edge").field("manifests", &self.manifests.entry_count()).finish_non_exhaustive()
    }
}

impl Edge {
    /// Loads the routing table and keeps it fresh: on every change this process makes, and
    /// every `edge_refresh_secs` for changes made elsewhere.
    pub async fn start(platform: Platform) -> Result<Self, ServiceError> {
        let config = platform.config();
        let cache_bytes = config.edge.cache_mb.saturating_mul(1024 * 1024);
        let stats = Arc::new(Stats::default());
        let emulator = Emulator::new(config);
        let inner = Arc::new(Inner {
            file_headers: crate::respond::FileHeaders::new(&emulator.csp),
            table: RwLock::new((0, Arc::new(RouteTable::load(&platform, &stats).await?))),
            tickets: std::sync::atomic::AtomicU64::new(0),
            metrics: EdgeMetrics::register(&platform, &stats),
            emulator,
            upstreams: crate::upstream::Upstreams::new(&platform)?,
            stats,
            manifests: moka::future::Cache::builder()
                .max_capacity(64 * 1024 * 1024)
                .weigher(|_, m: &Arc<Manifest>| m.weight())
                .build_with_hasher(FastHash::default()),
            blobs: quick_cache::sync::Cache::with(
                usize::try_from(cache_bytes / BLOB_ESTIMATE).unwrap_or(usize::MAX).max(1024),
                cache_bytes,
                BlobWeight,
                FastHash::default(),
                Default::default(),
            ),
            previews: moka::future::Cache::builder().max_capacity(10_000).time_to_live(Duration::from_secs(10)).build(),
            sessions: Sessions::new(
                &platform.key_for(tmahost_service::KeyPurpose::EdgeSessionSigning),
                config.edge.session_rate_per_minute,
                config.server.trusted_proxies.clone(),
            ),
            platform,
        });
        inner.sessions.set_revoked(inner.platform.revoked_edge_sessions().await?);
        tokio::spawn(refresher(Arc::downgrade(&inner)));
        tokio::spawn(stats_flusher(Arc::downgrade(&inner)));
        Ok(Self { inner })
    }

    /// Rebuilds the routing table now.
    pub async fn refresh(&self) -> Result<(), ServiceError> {
        refresh(&self.inner).await
    }

    /// Writes the traffic counted so far to the database (also done every 10 s).
    pub async fn flush_stats(&self) -> Result<(), ServiceError> {
        self.inner.stats.flush(&self.inner.platform).await
    }

    /// Number of host names routed (for the start-up log).
    pub fn routes(&self) -> usize {
        self.table().len()
    }

    pub(crate) fn table(&self) -> Arc<RouteTable> {
        self.inner.table.read().unwrap_or_else(|e| e.into_inner()).1.clone()
    }

    pub(crate) fn platform(&self) -> &Platform {
        &self.inner.platform
    }

    pub(crate) fn upstreams(&self) -> &crate::upstream::Upstreams {
        &self.inner.upstreams
    }

    pub(crate) fn emulator(&self) -> &Emulator {
        &self.inner.emulator
    }

    pub(crate) fn file_headers(&self) -> &crate::respond::FileHeaders {
        &self.inner.file_headers
    }

    pub(crate) fn sessions(&self) -> &Sessions {
        &self.inner.sessions
    }

    pub(crate) fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    pub(crate) fn metrics(&self) -> &EdgeMetrics {
        &self.inner.metrics
    }

    /// The deployment a host serves: the app's active one, or the one a preview host names.
    pub(crate) async fn deployment_of(
        &self,
        route: &AppRoute,
        preview: Option<&str>,
    ) -> Result<Option<String>, ServiceError> {
        match preview {
            Some(short) => self.preview(route, short.to_owned()).await,
            None => Ok(route.active.clone()),
        }
    }

    pub(crate) async fn manifest(&self, deployment_id: &str) -> Result<Arc<Manifest>, ServiceError> {
        let platform = &self.inner.platform;
        if let Some(m) = self.inner.manifests.get(deployment_id).await {
            self.inner.metrics.manifest_hit.inc();
            if !m.recheck_due(tmahost_service::now_ms()) {
                return Ok(m);
            }
            // Brotli variants were still being made: read it again, and keep serving the copy
            // in hand if the database cannot answer.
            return Ok(match load_manifest(platform, deployment_id).await {
                Ok(fresh) => {
                    self.inner.manifests.insert(deployment_id.to_owned(), fresh.clone()).await;
                    fresh
                }
                Err(e) => {
                    tracing::warn!(error = %e, "edge: re-reading a manifest failed; serving the one in hand");
                    m
                }
            });
        }
        self.inner.metrics.manifest_miss.inc();
        let id = deployment_id.to_owned();
        self.inner
            .manifests
            .try_get_with(id.clone(), async move { load_manifest(platform, &id).await })
            .await
            .map_err(ServiceError::internal)
    }

    pub(crate) async fn blob(&self, entry: &FileEntry, enc: Option<Encoding>) -> Result<Bytes, ServiceError> {
        let cache_key = (crate::UniformKey(entry.digest), enc);
        if let Some(b) = self.inner.blobs.get(&cache_key) {
            self.inner.metrics.blob_hit.inc();
            return Ok(b);
        }
        self.inner.metrics.blob_miss.inc();
        // Boxed: the object store's future would otherwise size every file request's future.
        Box::pin(self.load_blob(entry, enc)).await
    }

    async fn load_blob(&self, entry: &FileEntry, enc: Option<Encoding>) -> Result<Bytes, ServiceError> {
        let cache_key = (crate::UniformKey(entry.digest), enc);
        // Concurrent misses of one blob read it once: the others wait for the guard's value
        // (or, if this read fails, take their own turn).
        match self.inner.blobs.get_value_or_guard_async(&cache_key).await {
            Ok(b) => Ok(b),
            Err(guard) => {
                let key = match enc {
                    None => BlobKey::Original(entry.sha.clone()),
                    Some(e) => BlobKey::Variant(entry.sha.clone(), e),
                };
                let b = self.inner.platform.read_blob(&key).await?;
                let _ = guard.insert(b.clone());
                Ok(b)
            }
        }
    }

    pub(crate) async fn preview(&self, route: &AppRoute, short: String) -> Result<Option<String>, ServiceError> {
        let platform = &self.inner.platform;
        let app_id = route.app_id.clone();
        self.inner
            .previews
            .try_get_with(
                (app_id.clone(), short.clone()),
                async move { platform.preview_deployment(&app_id, &short).await },
            )
            .await
            .map_err(ServiceError::internal)
    }
}

/// A deployment's manifest as the database has it now.
async fn load_manifest(platform: &Platform, deployment_id: &str) -> Result<Arc<Manifest>, ServiceError> {
    let (files, rules) = platform.deployment_manifest(deployment_id).await?;
    Ok(Arc::new(Manifest::new(files, rules)))
}

async fn stats_flusher(inner: Weak<Inner>) {
    loop {
        tokio::time::sleep(stats::FLUSH_EVERY).await;
        let Some(inner) = inner.upgrade() else { return };
        if let Err(e) = inner.stats.flush(&inner.platform).await {
            tracing::warn!(error = %e, "edge: writing traffic counters failed; kept for the next try");
        }
    }
}

async fn refresh(inner: &Inner) -> Result<(), ServiceError> {
    let ticket = inner.tickets.fetch_add(1, std::sync::atomic::Ordering::AcqRel) + 1;
    let revoked = inner.platform.revoked_edge_sessions().await?;
    let table = RouteTable::load(&inner.platform, &inner.stats).await?;
    let mut slot = inner.table.write().unwrap_or_else(|e| e.into_inner());
    if ticket > slot.0 {
        *slot = (ticket, Arc::new(table));
        inner.sessions.set_revoked(revoked);
        // A deleted deployment's preview must not outlive the change for the cache's lifetime.
        inner.previews.invalidate_all();
    }
    Ok(())
}

async fn refresher(inner: Weak<Inner>) {
    let (mut changes, every) = match inner.upgrade() {
        Some(i) => (i.platform.subscribe_changes(), Duration::from_secs(i.platform.config().edge.refresh_secs)),
        None => return,
    };
    // After a failed refresh, try again soon rather than at the next tick.
    let mut wait = every;
    loop {
        let notified = tokio::select! {
            r = changes.changed() => r.is_ok(),
            () = tokio::time::sleep(wait) => true,
        };
        let Some(inner) = inner.upgrade() else { return };
        if !notified {
            // The platform is gone (shutdown); keep the timer only.
            changes = inner.platform.subscribe_changes();
        }
        match refresh(&inner).await {
            Ok(()) => wait = every,
            Err(e) => {
                // Keep serving the previous table.
                tracing::warn!(error = %e, "edge: refreshing the routing table failed; retrying");
                wait = Duration::from_secs(1).min(every);
            }
        }
    }
}
