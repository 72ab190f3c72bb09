//! The edge: routes `Host` -> bot -> app -> deployment -> blob, lets in only users whose
//! Telegram `initData` it verified, and serves files with the HTTP semantics of the static
//! hosts developers know.
//!
//! State is all cache: a routing table rebuilt on every change notification (and on a timer,
//! for changes made by other processes), manifests kept forever (deployments are immutable),
//! and hot blobs in a size-capped cache. If the database or the object store fails, what is
//! cached keeps being served.

#[doc(hidden)]
pub mod bench;
mod client;
mod content;
mod respond;
mod routing;
mod session;
mod stats;

use std::borrow::Cow;
use std::net::TcpListener;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::http::{Method, StatusCode, header};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use bytes::Bytes;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use tmahost_deploy::Rules;
use tmahost_service::metrics::{Counter, Family};
use tmahost_service::{Platform, ServiceError, request_id};
use tmahost_store::model::Access;
use tmahost_store::{BlobKey, Encoding};
use tracing::Instrument;

use crate::content::{Lookup, Manifest, Resolution};
use crate::respond::{FileReply, apply_rules, file_response, security_headers};
use crate::routing::{AppRoute, RouteTable, Target};
use crate::session::{Sessions, error, gate_page};
use crate::stats::Stats;

const X_REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");

/// Characters escaped when a redirect destination built from the request goes into `Location`.
const LOCATION: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'<').add(b'>').add(b'`').add(b'\\');

/// Hasher of the maps probed on every request. Seeded per process; their keys are either
/// checked before insertion (verified cookies) or come from the platform's own tables.
pub(crate) type FastHash = foldhash::fast::RandomState;

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
    blobs: moka::future::Cache<([u8; 32], Option<Encoding>), Bytes, FastHash>,
    /// `(app id, short id)` -> deployment id, for preview hosts.
    previews: moka::future::Cache<(String, String), Option<String>>,
    sessions: Sessions,
    stats: Arc<Stats>,
    metrics: EdgeMetrics,
}

type Pair = [(&'static str, &'static str); 2];

/// The edge's own Prometheus counters (per-app traffic is read from `stats` at scrape time).
#[derive(Debug)]
struct EdgeMetrics {
    blob_hit: Counter,
    blob_miss: Counter,
    manifest_hit: Counter,
    manifest_miss: Counter,
    session_refusals: Family<[(&'static str, &'static str); 1], Counter>,
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
        let cache_bytes = config.edge_cache_mb.saturating_mul(1024 * 1024);
        let stats = Arc::new(Stats::default());
        let inner = Arc::new(Inner {
            table: RwLock::new((0, Arc::new(RouteTable::load(&platform, &stats).await?))),
            tickets: std::sync::atomic::AtomicU64::new(0),
            metrics: EdgeMetrics::register(&platform, &stats),
            stats,
            manifests: moka::future::Cache::builder()
                .max_capacity(64 * 1024 * 1024)
                .weigher(|_, m: &Arc<Manifest>| m.weight())
                .build_with_hasher(FastHash::default()),
            blobs: moka::future::Cache::builder()
                .max_capacity(cache_bytes)
                .weigher(|_, b: &Bytes| u32::try_from(b.len()).unwrap_or(u32::MAX))
                .build_with_hasher(FastHash::default()),
            previews: moka::future::Cache::builder().max_capacity(10_000).time_to_live(Duration::from_secs(10)).build(),
            sessions: Sessions::new(
                platform.master_key(),
                config.session_rate_per_minute,
                config.trusted_proxies.clone(),
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
        Ok(self.inner.stats.flush(self.inner.platform.db()).await?)
    }

    /// Number of host names routed (for the start-up log).
    pub fn routes(&self) -> usize {
        self.table().len()
    }

    fn table(&self) -> Arc<RouteTable> {
        self.inner.table.read().unwrap_or_else(|e| e.into_inner()).1.clone()
    }

    /// Runs the edge on `listener`. Signals are left to the caller.
    pub fn server(self, listener: TcpListener) -> std::io::Result<Server> {
        let workers = self.inner.platform.config().edge_workers;
        let server =
            HttpServer::new(move || App::new().app_data(web::Data::new(self.clone())).default_service(web::to(handle)))
                .disable_signals()
                // Responses go out in more than one write when large; Nagle's algorithm would hold the
                // last segment back until the client's (delayed) ACK.
                .tcp_nodelay(true);
        let server = match workers {
            Some(n) => server.workers(n),
            None => server,
        };
        Ok(server.listen(listener)?.run())
    }

    async fn manifest(&self, deployment_id: &str) -> Result<Arc<Manifest>, ServiceError> {
        let platform = &self.inner.platform;
        if let Some(m) = self.inner.manifests.get(deployment_id).await {
            self.inner.metrics.manifest_hit.inc();
            return Ok(m);
        }
        self.inner.metrics.manifest_miss.inc();
        let id = deployment_id.to_owned();
        self.inner
            .manifests
            .try_get_with(id.clone(), async move {
                let files = platform.db().deployment_files(&id).await?;
                let rules = match platform.db().deployment_rules(&id).await? {
                    Some(json) => serde_json::from_str::<Rules>(&json).map_err(ServiceError::internal)?,
                    None => Rules::default(),
                };
                Ok::<_, ServiceError>(Arc::new(Manifest::new(files, rules)))
            })
            .await
            .map_err(ServiceError::internal)
    }

    async fn blob(&self, entry: &content::FileEntry, enc: Option<Encoding>) -> Result<Bytes, ServiceError> {
        let cache_key = (entry.digest, enc);
        if let Some(b) = self.inner.blobs.get(&cache_key).await {
            self.inner.metrics.blob_hit.inc();
            return Ok(b);
        }
        self.inner.metrics.blob_miss.inc();
        let key = match enc {
            None => BlobKey::Original(entry.sha.clone()),
            Some(e) => BlobKey::Variant(entry.sha.clone(), e),
        };
        let blobs = self.inner.platform.blobs();
        self.inner
            .blobs
            .try_get_with(cache_key, async move { blobs.get(&key).await })
            .await
            .map_err(ServiceError::internal)
    }

    async fn preview(&self, route: &AppRoute, short: String) -> Result<Option<String>, ServiceError> {
        let db = self.inner.platform.db();
        let app_id = route.app_id.clone();
        self.inner
            .previews
            .try_get_with((app_id.clone(), short.clone()), async move {
                db.deployment_by_short_id(&app_id, &short).await.map_err(ServiceError::from)
            })
            .await
            .map_err(ServiceError::internal)
    }
}

async fn stats_flusher(inner: Weak<Inner>) {
    loop {
        tokio::time::sleep(stats::FLUSH_EVERY).await;
        let Some(inner) = inner.upgrade() else { return };
        if let Err(e) = inner.stats.flush(inner.platform.db()).await {
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
    }
    Ok(())
}

async fn refresher(inner: Weak<Inner>) {
    let (mut changes, every) = match inner.upgrade() {
        Some(i) => (i.platform.subscribe_changes(), Duration::from_secs(i.platform.config().edge_refresh_secs)),
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

fn now_secs() -> i64 {
    tmahost_store::now_ms() / 1000
}

fn plain(status: StatusCode, text: &'static str) -> HttpResponse {
    let mut res = HttpResponse::build(status);
    res.insert_header((header::CACHE_CONTROL, "no-store")).content_type("text/plain; charset=utf-8");
    security_headers(&mut res);
    res.body(text)
}

fn unavailable() -> HttpResponse {
    let mut res = HttpResponse::Forbidden();
    res.insert_header((header::CACHE_CONTROL, "no-store")).content_type("text/html; charset=utf-8");
    security_headers(&mut res);
    res.body(
        "<!doctype html><meta charset=utf-8><meta name=viewport content=\"width=device-width\">\
         <title>Unavailable</title><h1>This Mini App is unavailable</h1>\
         <p>Its bot has been disabled on this platform.</p>",
    )
}

/// Navigations get the gate page; scripts and fetches get a JSON 401.
fn wants_html(req: &HttpRequest) -> bool {
    let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let dest = req.headers().get("sec-fetch-dest").and_then(|v| v.to_str().ok()).unwrap_or_default();
    *req.method() == Method::GET && (accept.contains("text/html") || dest == "document" || dest == "iframe")
}

/// Every edge request. The request id is made here rather than in a middleware: one layer of
/// services and boxed futures less on the hot path.
async fn handle(req: HttpRequest, payload: web::Payload, edge: web::Data<Edge>) -> HttpResponse {
    // Log lines of a request carry its id (a proxy's X-Request-Id, or a fresh one).
    let id = request_id(req.headers().get(X_REQUEST_ID).and_then(|v| v.to_str().ok()));
    let span = tracing::info_span!("request", id = %id);
    let mut res = answer(&req, payload, &edge).instrument(span).await;
    if let Ok(v) = header::HeaderValue::from_maybe_shared(Bytes::from(id)) {
        res.headers_mut().insert(X_REQUEST_ID, v);
    }
    res
}

async fn answer(req: &HttpRequest, payload: web::Payload, edge: &Edge) -> HttpResponse {
    // Load balancers probe edges by address, whatever the host; the answer names nothing.
    if req.path() == "/_tma/health" {
        return plain(StatusCode::OK, "ok\n");
    }
    let table = edge.table();
    // A TLS proxy asks before it obtains a certificate on demand (Caddy's `ask`): only for
    // names this edge serves, so nobody can make it request certificates for arbitrary names.
    if req.path() == "/_tma/tls-ask" {
        let domain = web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .ok()
            .and_then(|q| q.get("domain").cloned())
            .unwrap_or_default();
        return match table.lookup(&domain) {
            Some(_) => plain(StatusCode::OK, "ok\n"),
            None => plain(StatusCode::NOT_FOUND, "404 Not Found\n"),
        };
    }
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    let Some(target) = table.lookup(host) else {
        return plain(StatusCode::NOT_FOUND, "404 Not Found\n");
    };
    let (route, preview) = match target {
        Target::App(r) => (r, None),
        Target::Preview(r, short) => (r, Some(short)),
    };
    route.counters.request();
    let res = for_app(edge, req, payload, &route, preview).await;
    let bytes = match actix_web::body::MessageBody::size(res.body()) {
        actix_web::body::BodySize::Sized(n) => Some(n),
        _ => None,
    };
    route.counters.response(res.status().as_u16(), bytes);
    res
}

/// A request body of at most `limit` bytes, each chunk within `idle` of the last. Only the
/// edge's own POST endpoints read one, so file requests never wait for a body.
async fn read_body(mut payload: web::Payload, limit: usize, idle: Duration) -> Result<Bytes, HttpResponse> {
    use futures_util::StreamExt;
    let mut body = bytes::BytesMut::new();
    loop {
        let chunk = match tokio::time::timeout(idle, payload.next()).await {
            Err(_) => {
                return Err(error(
                    StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    "the request body stalled; send it again",
                ));
            }
            Ok(None) => return Ok(body.freeze()),
            Ok(Some(Err(_))) => {
                return Err(error(StatusCode::BAD_REQUEST, "bad_request", "the request body is malformed"));
            }
            Ok(Some(Ok(chunk))) => chunk,
        };
        if body.len() + chunk.len() > limit {
            return Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                &format!("the request body is over {limit} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
}

/// The answer for a request to one of the apps.
async fn for_app(
    edge: &Edge,
    req: &HttpRequest,
    payload: web::Payload,
    route: &AppRoute,
    preview: Option<String>,
) -> HttpResponse {
    if route.disabled {
        return unavailable();
    }
    let path = match content::request_path(req.path()) {
        Ok(p) => p,
        Err(content::BadPath(status, why)) => return plain(status, why),
    };
    let now = now_secs();
    if let Some(rest) = path.strip_prefix("/_tma/") {
        let body = if *req.method() == Method::POST && rest == "session" {
            let idle = Duration::from_secs(edge.inner.platform.config().upload_idle_secs);
            match read_body(payload, session::MAX_SESSION_BODY, idle).await {
                Ok(b) => b,
                Err(res) => return res,
            }
        } else {
            Bytes::new()
        };
        return reserved(edge, route, req, rest, &body, now, preview.as_deref()).await;
    }

    let cors = path.ends_with("/tonconnect-manifest.json");
    match *req.method() {
        Method::GET | Method::HEAD => {}
        Method::OPTIONS => {
            let mut res = HttpResponse::NoContent();
            res.insert_header((header::ALLOW, "GET, HEAD, OPTIONS"));
            if cors {
                res.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
                    .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, HEAD, OPTIONS"))
                    .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, "*"))
                    .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"));
            }
            return res.finish();
        }
        _ => {
            let mut res = plain(StatusCode::METHOD_NOT_ALLOWED, "405 Method Not Allowed\n");
            res.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD, OPTIONS"));
            return res;
        }
    }

    let gated = session::is_gated(route, &path);
    if gated && let Some(refused) = session_refusal(edge, route, req, now) {
        return refused;
    }

    let deployment = match &preview {
        Some(short) => edge.preview(route, short.clone()).await,
        None => Ok(route.active.clone()),
    };
    let deployment = match deployment {
        Ok(Some(d)) => d,
        Ok(None) => return plain(StatusCode::NOT_FOUND, "404 Not Found: nothing is deployed here yet\n"),
        Err(e) => return unavailable_storage(&e),
    };
    // The active deployment's manifest is kept on the route itself: one cache probe less on
    // nearly every request (the route is rebuilt whenever the active deployment changes).
    let manifest = match route.active_manifest.get() {
        Some(m) if preview.is_none() => m.clone(),
        _ => match edge.manifest(&deployment).await {
            Ok(m) => {
                if preview.is_none() {
                    let _ = route.active_manifest.set(m.clone());
                }
                m
            }
            Err(e) => return unavailable_storage(&e),
        },
    };

    // The file that answers, from the active (or preview) manifest or, for skew protection,
    // an older one (kept here so the answer can borrow its key).
    let mut older: Option<Arc<Manifest>> = None;
    let answer: Option<(&Manifest, &str, StatusCode, bool)> =
        match content::resolve(&manifest, &path, req.query_string()) {
            Resolution::Missing => {
                // Skew protection: a page loaded before a deploy still asks for its old assets.
                if preview.is_none() && content::is_asset_path(&path) {
                    for old in &route.previous {
                        if let Ok(m) = edge.manifest(old).await
                            && matches!(m.find(&path), Lookup::File(_))
                        {
                            older = Some(m);
                            break;
                        }
                    }
                }
                match older.as_deref() {
                    Some(m) => match m.find(&path) {
                        Lookup::File(key) => Some((m, key, StatusCode::OK, false)),
                        _ => None,
                    },
                    None => match content::fallback(&manifest, &path, route.settings.spa_fallback) {
                        Resolution::File { key, status, fallback } => Some((&*manifest, key, status, fallback)),
                        _ => None,
                    },
                }
            }
            Resolution::File { key, status, fallback } => Some((&*manifest, key, status, fallback)),
            Resolution::Redirect { status, location } => {
                return redirect(status, &location, gated, &manifest, &path, cors);
            }
        };
    let Some((m, key, status, fallback)) = answer else {
        return plain(StatusCode::NOT_FOUND, "404 Not Found\n");
    };
    // The gate decides on what is served, not on what was asked: a public path that resolves
    // to another file (SPA fallback, clean URL, a `_redirects` rewrite, a 404 page) needs a
    // session like that file does. (Public apps skip the check and its allocation.)
    let mut gated = gated;
    if !gated && route.settings.access == Access::Gated && session::is_gated(route, &format!("/{key}")) {
        if let Some(refused) = session_refusal(edge, route, req, now) {
            return refused;
        }
        gated = true;
    }
    let mut res = serve(edge, req, m, key, status, fallback, gated, &path).await;
    if cors {
        res.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, header::HeaderValue::from_static("*"));
    }
    res
}

/// The answer for a request that shows no valid session: the gate page for navigations, a
/// JSON 401 for the rest, or why the launch data was refused. `None`: the caller is known.
fn session_refusal(edge: &Edge, route: &AppRoute, req: &HttpRequest, now: i64) -> Option<HttpResponse> {
    match edge.inner.sessions.identify(route, req, now) {
        Ok(Some(_)) => None,
        Ok(None) if wants_html(req) => Some(gate_page()),
        Ok(None) => Some(error(
            StatusCode::UNAUTHORIZED,
            "session_required",
            "open the app from Telegram, or send `Authorization: tma <initData>`",
        )),
        Err(denied) => Some(denied.response()),
    }
}

/// A `_redirects` answer. `Location` never starts with `//` or `/\\` (or `\\`): browsers read
/// those as another site, and a splat or placeholder can put request text there.
fn redirect(
    status: StatusCode,
    location: &str,
    gated: bool,
    manifest: &Manifest,
    path: &str,
    cors: bool,
) -> HttpResponse {
    let location = same_origin_location(location);
    let mut res = HttpResponse::build(status);
    res.insert_header((header::LOCATION, utf8_percent_encode(&location, LOCATION).to_string()))
        .insert_header((header::CACHE_CONTROL, if gated { "private, no-cache" } else { "public, no-cache" }));
    security_headers(&mut res);
    let mut res = res.finish();
    apply_rules(res.headers_mut(), &manifest.rules, path);
    if cors {
        res.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, header::HeaderValue::from_static("*"));
    }
    res
}

/// A relative `Location` kept on this origin: leading slashes and backslashes collapse into one
/// slash. Absolute URLs (`https://…`, written by the bundle's author) are left alone.
pub(crate) fn same_origin_location(location: &str) -> Cow<'_, str> {
    let rest = location.trim_start_matches(['/', '\\']);
    if rest.len() + 1 < location.len() || location.starts_with('\\') {
        Cow::Owned(format!("/{rest}"))
    } else {
        Cow::Borrowed(location)
    }
}

#[allow(clippy::too_many_arguments)]
async fn serve(
    edge: &Edge,
    req: &HttpRequest,
    manifest: &Manifest,
    key: &str,
    status: StatusCode,
    fallback: bool,
    gated: bool,
    path: &str,
) -> HttpResponse {
    let Some(entry) = manifest.files.get(key) else {
        return plain(StatusCode::NOT_FOUND, "404 Not Found\n");
    };
    let reply = FileReply { entry, status, fallback, gated };
    let enc = reply.encoding(req);
    match edge.blob(entry, enc).await {
        Ok(body) => file_response(req, &reply, enc, body, &manifest.rules, path),
        Err(e) => unavailable_storage(&e),
    }
}

fn unavailable_storage(e: &ServiceError) -> HttpResponse {
    tracing::error!(error = %e, "edge: storage unavailable");
    let mut res = plain(StatusCode::SERVICE_UNAVAILABLE, "503 Service Unavailable: try again shortly\n");
    res.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
    res
}

/// `/_tma/*`: the edge's own endpoints, on every app's origin.
async fn reserved(
    edge: &Edge,
    route: &AppRoute,
    req: &HttpRequest,
    rest: &str,
    body: &[u8],
    now: i64,
    preview: Option<&str>,
) -> HttpResponse {
    let sessions = &edge.inner.sessions;
    match (req.method().clone(), rest) {
        (Method::POST, "session") => {
            let (res, outcome) = sessions.create(route, req, body, now);
            match outcome {
                Ok(Some(user)) => edge.inner.stats.session_created(&route.app_id, &route.counters, user),
                Ok(None) => {}
                Err(reason) => {
                    edge.inner.metrics.session_refusals.get_or_create(&[("reason", reason)]).inc();
                }
            }
            res
        }
        (Method::GET, "me") => match sessions.identify(route, req, now) {
            Ok(Some(id)) => {
                let mut res = HttpResponse::Ok();
                res.insert_header((header::CACHE_CONTROL, "no-store"));
                security_headers(&mut res);
                res.json(id.claims.me(id.via))
            }
            Ok(None) => error(StatusCode::UNAUTHORIZED, "session_required", "no session: open the app from Telegram"),
            Err(denied) => denied.response(),
        },
        (Method::POST, "logout") => {
            // The cookie is cleared either way; a live session is also revoked on every edge,
            // so a copy of the cookie stops working too.
            if let Ok(Some(id)) = sessions.identify(route, req, now)
                && id.via == "cookie"
            {
                sessions.revoke(id.claims.sid());
                if let Err(e) = edge.inner.platform.revoke_edge_session(id.claims.sid(), id.claims.expires_at()).await {
                    tracing::warn!(error = %e, "logout: could not record the revocation for other edges");
                    return unavailable_storage(&e);
                }
            }
            session::logout()
        }
        (Method::GET, "staff") => staff_session(edge, route, req, now, preview).await,
        (_, "session" | "me" | "logout" | "staff") => {
            error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "wrong method")
        }
        _ => error(StatusCode::NOT_FOUND, "not_found", "no such edge endpoint"),
    }
}

/// `GET /_tma/staff?code=…`: a deploy notice's button. The one-time code must be for this app
/// and for the deployment this host serves (the preview's, or the active one on the app's
/// host), and its recipient must still be staff; the answer is a session cookie for this app
/// and a redirect to `/` (browsers keep the URL's fragment, so the app's SDK still finds its
/// launch parameters).
async fn staff_session(
    edge: &Edge,
    route: &AppRoute,
    req: &HttpRequest,
    now: i64,
    preview: Option<&str>,
) -> HttpResponse {
    let refused = || {
        error(
            StatusCode::FORBIDDEN,
            "staff_code_refused",
            "this link was used already, has expired, or is for another app or version; open the newest notice again",
        )
    };
    let code = form_urlencoded::parse(req.query_string().as_bytes()).find(|(k, _)| k == "code").map(|(_, v)| v);
    let Some(code) = code.filter(|c| (20..=100).contains(&c.len())) else { return refused() };
    let deployment = match preview {
        Some(short) => edge.preview(route, short.to_owned()).await,
        None => Ok(route.active.clone()),
    };
    let deployment = match deployment {
        Ok(Some(d)) => d,
        Ok(None) => return refused(),
        Err(e) => return unavailable_storage(&e),
    };
    let redeemed = match edge.inner.platform.redeem_staff_code(&code, &route.app_id, &deployment).await {
        Ok(Some(r)) => r,
        Ok(None) => return refused(),
        Err(e) => return unavailable_storage(&e),
    };
    if !route.staff.contains(&redeemed.user_id) {
        return refused();
    }
    let ttl = i64::from(route.settings.session_ttl_secs);
    let claims = session::SessionClaims::for_staff(route, redeemed.user_id, now, ttl);
    let Some(jwt) = edge.inner.sessions.mint(&claims) else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "could not create the session");
    };
    let mut res = HttpResponse::SeeOther();
    res.insert_header((header::SET_COOKIE, session::session_cookie(&jwt, ttl)))
        .insert_header((header::LOCATION, "/"))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    security_headers(&mut res);
    res.finish()
}
