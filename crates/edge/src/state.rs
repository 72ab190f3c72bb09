//! The edge's state: the routing table and how it is kept fresh (read whole at start, then
//! changed one app or bot at a time as the platform's change log names them), the caches of
//! manifests, blobs and preview lookups (each reading through the platform's serving calls),
//! sessions, traffic counters and metrics. Everything here is cache: if the database or the
//! object store fails, what is cached keeps being served.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::header::HeaderValue;
use tmahost_service::metrics::{Counter, Family};
use tmahost_service::{BlobKey, EdgeChange, EdgeScope, Encoding, Platform, ServiceError};
use tmahost_types::BotId;

use crate::FastHash;
use crate::content::{FileEntry, Manifest};
use crate::routing::{AppRoute, RouteTable, Target};
use crate::session::Sessions;
use crate::stats::{self, Stats};

/// The edge role; cheap to clone.
#[derive(Debug, Clone)]
pub struct Edge {
    inner: Arc<Inner>,
}

struct Inner {
    platform: Platform,
    /// The routing table, changed in place: a change locks it for a few map updates.
    table: RwLock<RouteTable>,
    /// Where this edge is in the change log. Held while reading and applying, so one load or
    /// one round of changes runs at a time.
    follower: tokio::sync::Mutex<Follower>,
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
    /// Sessions opened, by the way launch data came: `launch` (the gate page's cookie, one
    /// round trip), `post` (`POST /_tma/session`).
    pub sessions_opened: Family<[(&'static str, &'static str); 1], Counter>,
    table_loads: Counter,
    changes_applied: Family<[(&'static str, &'static str); 1], Counter>,
}

impl EdgeMetrics {
    fn register(platform: &Platform, stats: &Arc<Stats>) -> Self {
        let m = platform.metrics();
        let cache = Family::<Pair, Counter>::default();
        m.register("edge_cache", "Edge cache lookups by cache (blob, manifest) and result", cache.clone());
        let get = |c, r| cache.get_or_create(&[("cache", c), ("result", r)]).clone();
        let session_refusals = Family::default();
        m.register("edge_session_refusals", "Refused session creations by reason", session_refusals.clone());
        let sessions_opened = Family::default();
        m.register(
            "edge_sessions_opened",
            "Sessions opened from launch data, by how it came (launch cookie, post)",
            sessions_opened.clone(),
        );
        m.register_collector(stats.clone());
        let table_loads = Counter::default();
        m.register("edge_table_loads", "Times the routing table was read whole", table_loads.clone());
        let changes_applied = Family::default();
        m.register(
            "edge_changes_applied",
            "Logged changes applied to the routing table, by kind",
            changes_applied.clone(),
        );
        Self {
            table_loads,
            changes_applied,
            blob_hit: get("blob", "hit"),
            blob_miss: get("blob", "miss"),
            manifest_hit: get("manifest", "hit"),
            manifest_miss: get("manifest", "miss"),
            session_refusals,
            sessions_opened,
        }
    }
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Edge").field("manifests", &self.manifests.entry_count()).finish_non_exhaustive()
    }
}

impl Edge {
    /// Loads the routing table and keeps it fresh: it follows the change log when this process
    /// or (by `NOTIFY`) another one makes a change, every `TMAHOST_EDGE_REFRESH_SECS` in case a
    /// notification was lost, and reads it whole every `TMAHOST_EDGE_FULL_RELOAD_SECS`.
    pub async fn start(platform: Platform) -> Result<Self, ServiceError> {
        let config = platform.config();
        let cache_bytes = config.edge.cache_mb.saturating_mul(1024 * 1024);
        let stats = Arc::new(Stats::default());
        let emulator = Emulator::new(config);
        let inner = Arc::new(Inner {
            file_headers: crate::respond::FileHeaders::new(&emulator.csp),
            table: RwLock::new(RouteTable::with_suffix(&format!(".{}", config.server.base_domain))),
            follower: tokio::sync::Mutex::new(Follower::default()),
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
        load_all(&inner, &mut *inner.follower.lock().await).await?;
        tokio::spawn(refresher(Arc::downgrade(&inner)));
        tokio::spawn(stats_flusher(Arc::downgrade(&inner)));
        Ok(Self { inner })
    }

    /// Reads the routing table whole now.
    pub async fn refresh(&self) -> Result<(), ServiceError> {
        load_all(&self.inner, &mut *self.inner.follower.lock().await).await
    }

    /// Applies the changes logged since the last ones applied, now.
    pub async fn catch_up(&self) -> Result<(), ServiceError> {
        follow(&self.inner, &mut *self.inner.follower.lock().await).await
    }

    /// The routing table as [`RouteTable::describe`] lists it (tests compare a followed table
    /// with one read whole).
    #[doc(hidden)]
    pub fn describe_table(&self) -> Vec<String> {
        self.table().describe()
    }

    /// Writes the traffic counted so far to the database (also done every 10 s).
    pub async fn flush_stats(&self) -> Result<(), ServiceError> {
        self.inner.stats.flush(&self.inner.platform).await
    }

    /// Number of host names routed (for the start-up log).
    pub fn routes(&self) -> usize {
        self.table().len()
    }

    fn table(&self) -> std::sync::RwLockReadGuard<'_, RouteTable> {
        self.inner.table.read().unwrap_or_else(|e| e.into_inner())
    }

    /// What a `Host` value names (see [`RouteTable::lookup`]).
    pub(crate) fn lookup(&self, host: &str) -> Option<Target> {
        self.table().lookup(host)
    }

    /// Whether `name` is a custom domain the platform serves.
    pub(crate) fn serves_domain(&self, name: &str) -> bool {
        self.table().serves_domain(name)
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

/// Where an edge is in the change log.
#[derive(Debug)]
struct Follower {
    /// Every change before this one is applied, or was read with the whole table.
    next: i64,
    /// Changes from `next` on that are applied already: on PostgreSQL a change can show
    /// before an earlier one's transaction commits, leaving `next` missing for a moment.
    applied: BTreeSet<i64>,
    /// Since when `next` has been missing while later changes were there.
    gap_since: Option<Instant>,
    /// When the table was last read whole.
    loaded_at: Instant,
}

impl Default for Follower {
    fn default() -> Self {
        Self { next: 0, applied: BTreeSet::new(), gap_since: None, loaded_at: Instant::now() }
    }
}

/// A change missing this long while later ones are there is taken as lost (its transaction
/// rolled back, or the log pruned past it): the table is read whole.
const GAP_GRACE: Duration = Duration::from_secs(10);
/// After reading the whole table, the changes of this last while are applied again: one made
/// in a transaction still open during the read shows in the log after it.
const REPLAY_WINDOW_MS: i64 = 10_000;
/// Changes read from the log at a time.
const BATCH: i64 = 500;

/// Reads every app and the revocations (at start, after a gap in the log, on `All`, and every
/// `TMAHOST_EDGE_FULL_RELOAD_SECS`), and follows the log from there.
async fn load_all(inner: &Inner, f: &mut Follower) -> Result<(), ServiceError> {
    let platform = &inner.platform;
    let next = platform.change_log_start(REPLAY_WINDOW_MS).await?;
    let revoked = platform.revoked_edge_sessions().await?;
    let apps = platform.served_apps(EdgeScope::All).await?;
    let config = platform.config();
    let routes = apps.into_iter().map(|a| AppRoute::new(config, &inner.stats, a));
    let table = RouteTable::build(&format!(".{}", config.server.base_domain), routes);
    *inner.table.write().unwrap_or_else(|e| e.into_inner()) = table;
    inner.sessions.set_revoked(revoked);
    // A deleted deployment's preview must not outlive the change for the cache's lifetime.
    inner.previews.invalidate_all();
    *f = Follower { next, ..Follower::default() };
    inner.metrics.table_loads.inc();
    Ok(())
}

/// Applies the changes logged since the last ones applied: each app or bot named is read
/// again (once per round however often it is named), each logout added to the revocations.
async fn follow(inner: &Inner, f: &mut Follower) -> Result<(), ServiceError> {
    let platform = &inner.platform;
    let config = platform.config();
    let mut applied_any = false;
    loop {
        let batch = platform.changes_from(f.next, BATCH).await?;
        let full = batch.len() as i64 == BATCH;
        let fresh: Vec<_> = batch.into_iter().filter(|c| !f.applied.contains(&c.seq)).collect();
        if fresh.is_empty() {
            break;
        }
        let (mut apps, mut bots) = (BTreeSet::new(), BTreeSet::new());
        for logged in &fresh {
            let kind = match &logged.change {
                EdgeChange::All => return load_all(inner, f).await,
                EdgeChange::App(id) => {
                    apps.insert(id.as_str());
                    "app"
                }
                EdgeChange::Bot(id) => {
                    bots.insert(*id);
                    "bot"
                }
                EdgeChange::Session(sid) => {
                    inner.sessions.revoke(sid);
                    "session"
                }
            };
            inner.metrics.changes_applied.get_or_create(&[("kind", kind)]).inc();
        }
        for bot in bots {
            let routes = platform.served_apps(EdgeScope::Bot(bot)).await?;
            let routes = routes.into_iter().map(|a| AppRoute::new(config, &inner.stats, a)).collect();
            inner.table.write().unwrap_or_else(|e| e.into_inner()).replace_bot(BotId(bot), routes);
        }
        for app in apps {
            let route = platform.served_apps(EdgeScope::App(app)).await?.pop();
            let route = route.map(|a| AppRoute::new(config, &inner.stats, a));
            inner.table.write().unwrap_or_else(|e| e.into_inner()).replace_app(app, route);
        }
        applied_any = true;
        f.applied.extend(fresh.iter().map(|c| c.seq));
        while f.applied.remove(&f.next) {
            f.next += 1;
        }
        if !full {
            break;
        }
    }
    if applied_any {
        inner.previews.invalidate_all();
    }
    if f.applied.is_empty() {
        f.gap_since = None;
    } else if f.gap_since.get_or_insert_with(Instant::now).elapsed() >= GAP_GRACE {
        tracing::info!(missing = f.next, "edge: a change is missing from the log; reading the routing table whole");
        return load_all(inner, f).await;
    }
    Ok(())
}

async fn refresher(inner: Weak<Inner>) {
    let (mut changes, every, whole_every) = match inner.upgrade() {
        Some(i) => {
            let edge = &i.platform.config().edge;
            (
                i.platform.subscribe_changes(),
                Duration::from_secs(edge.refresh_secs),
                Duration::from_secs(edge.full_reload_secs),
            )
        }
        None => return,
    };
    // After a failed round, try again soon rather than at the next tick.
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
        let mut f = inner.follower.lock().await;
        let round = if f.loaded_at.elapsed() >= whole_every {
            load_all(&inner, &mut f).await
        } else {
            follow(&inner, &mut f).await
        };
        match round {
            Ok(()) => wait = every,
            Err(e) => {
                // Keep serving the table in hand.
                tracing::warn!(error = %e, "edge: following the change log failed; retrying");
                wait = Duration::from_secs(1).min(every);
            }
        }
    }
}
