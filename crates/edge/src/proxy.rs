//! App backends: requests under one of an app's backend prefixes go to its upstream instead of
//! the bundle, after the same gate, with the verified user as a signed `Tma-Identity` JWT and
//! nothing the client sent that could pass for one. Bodies stream both ways (never held whole),
//! within `TMAHOST_PROXY_MAX_BODY_BYTES` and `TMAHOST_PROXY_TIMEOUT_SECS`; failures answer in
//! the edge's error shape and are counted per app. Which upstreams are allowed (no SSRF) is
//! the service's `backends` rule, applied again by the client's resolver at every connection.
//! WebSocket upgrades become a byte tunnel once the upstream agrees to switch.
//!
//! No loops: an upstream that names the platform is refused before connecting (the routing
//! table marks it, see `routing::Upstream`), and every forwarded request
//! carries the platform's hop mark in `Via` (a name browsers cannot set): a request that comes
//! back with it, through a CNAME to an edge or an outside proxy, is answered 508 rather than
//! forwarded again.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::header::{self, HeaderMap, HeaderName};
use hyper::{Method, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use tmahost_service::backends::{ForbiddenUpstream, UpstreamResolver};
use tmahost_service::model::Backend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::respond::{COOKIE, error};
use crate::routing::{AppRoute, Upstream};
use crate::session::Identity;
use crate::stats::WebSocketSlot;
use crate::wire::{Body, Payload, Reply, Req, Res, value};
use crate::{Edge, FastHash};

/// The header carrying the identity token.
pub(crate) const IDENTITY_HEADER: &str = "tma-identity";

/// Headers of one hop only (RFC 9110 7.6.1), never forwarded either way.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Request headers the edge sets itself: whatever the client sent under these names is
/// dropped (`tma-identity` above all: only the edge vouches for a user).
const REPLACED: [&str; 7] =
    ["host", IDENTITY_HEADER, "forwarded", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-real-ip"];

/// Characters escaped when the (decoded, normalised) path is written into the upstream URL.
const PATH: &AsciiSet =
    &CONTROLS.add(b' ').add(b'"').add(b'#').add(b'<').add(b'>').add(b'?').add(b'`').add(b'{').add(b'}').add(b'%');

/// How a proxied request ended, for `edge_proxy_requests{outcome}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The upstream answered (any status).
    Answered,
    /// No connection, or the upstream broke it.
    Unreachable,
    /// The upstream's address is one upstreams may not use.
    Forbidden,
    /// No answer within the timeout.
    Timeout,
    /// The request body was over the limit.
    TooLarge,
    /// A WebSocket over the app's limit of open ones.
    TooManyWebSockets,
    /// The request came back to the platform: it carried the hop mark, or the upstream is the
    /// platform itself.
    Loop,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::Answered,
        Outcome::Unreachable,
        Outcome::Forbidden,
        Outcome::Timeout,
        Outcome::TooLarge,
        Outcome::TooManyWebSockets,
        Outcome::Loop,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Unreachable => "unreachable",
            Outcome::Forbidden => "forbidden",
            Outcome::Timeout => "timeout",
            Outcome::TooLarge => "too_large",
            Outcome::TooManyWebSockets => "too_many_websockets",
            Outcome::Loop => "loop",
        }
    }
}

/// What the upstream client sends: a client's streamed body, or nothing.
type UpstreamBody = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

/// hyper's pooled client, straight: reqwest's layers on top of it (redirects off, still
/// re-parsing every URL through IDNA) cost more than the edge's own work per proxied request.
type Client = hyper_util::client::legacy::Client<hyper_rustls::HttpsConnector<HttpConnector<Resolver>>, UpstreamBody>;

/// The upstream client, shared by the edge's workers.
#[derive(Debug)]
pub(crate) struct Proxy {
    client: Client,
    /// Identity tokens by session id, reused for half their lifetime: signing one per request
    /// would cost an Ed25519 signature each time. A session's claims change only when a wallet
    /// is proved, and the cookie from before the proof stays valid: the wallet is part of the
    /// key, so neither cookie is answered with the other's token.
    /// Each with the second it was signed; a lookup costs a probe (moka's cost a
    /// microsecond on a path nginx crosses in a few).
    /// Kept as header values: a clone shares the bytes, where building one checks and copies
    /// the token's hundreds of bytes.
    tokens: quick_cache::sync::Cache<String, (header::HeaderValue, i64), quick_cache::UnitWeighter, FastHash>,
    /// Seconds a token is reused.
    token_reuse: i64,
    resolver: UpstreamResolver,
    timeout: Duration,
    max_body: u64,
    websocket_idle: Duration,
    max_websockets: u64,
    /// `X-Forwarded-Proto`: the platform's public scheme, made a header value once.
    scheme: Option<header::HeaderValue>,
    /// The `Via` entry every forwarded request gets: `1.1 {hop_mark}`.
    via: header::HeaderValue,
    /// `tmahost-` and 16 hex digits derived from the master key: the same on every edge of this
    /// platform, and another platform's edges (one tenant's backend may be an app on another
    /// tmahost) do not take it for theirs.
    hop_mark: String,
}

impl Proxy {
    pub fn new(platform: &tmahost_service::Platform) -> Result<Self, tmahost_service::ServiceError> {
        let config = platform.config();
        let resolver = UpstreamResolver::new(config);
        let hop_mark = format!(
            "tmahost-{}",
            hex::encode(&platform.key_for(tmahost_service::KeyPurpose::EdgeHopMark).expose()[..8])
        );
        const TOKENS: usize = 100_000;
        Ok(Self {
            client: upstream_client(&resolver)?,
            tokens: quick_cache::sync::Cache::with(
                TOKENS,
                TOKENS as u64,
                quick_cache::UnitWeighter,
                FastHash::default(),
                Default::default(),
            ),
            token_reuse: tmahost_service::identity::IDENTITY_TTL_SECS / 2,
            resolver,
            timeout: Duration::from_secs(config.proxy_timeout_secs),
            max_body: config.proxy_max_body_bytes,
            websocket_idle: Duration::from_secs(config.proxy_websocket_idle_secs),
            max_websockets: config.proxy_max_websockets_per_app,
            scheme: header::HeaderValue::try_from(config.public_scheme.as_str()).ok(),
            via: header::HeaderValue::try_from(format!("1.1 {hop_mark}"))
                .map_err(tmahost_service::ServiceError::internal)?,
            hop_mark,
        })
    }
}

/// The client the edge forwards with: names resolved by [`UpstreamResolver`] (which refuses
/// forbidden addresses at every connection), redirects passed to the browser rather than
/// followed, no environment proxy, bounded connect time; TLS with the Mozilla roots.
fn upstream_client(resolver: &UpstreamResolver) -> Result<Client, tmahost_service::ServiceError> {
    let mut http = HttpConnector::new_with_resolver(Resolver(resolver.clone()));
    http.enforce_http(false);
    http.set_connect_timeout(Some(Duration::from_secs(5)));
    http.set_nodelay(true);
    // The provider named, not the process default: the tree builds rustls with two of them.
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(tmahost_service::ServiceError::internal)?
        .with_root_certificates(rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() })
        .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_timer(hyper_util::rt::TokioTimer::new())
        .build(connector))
}

/// [`UpstreamResolver`] as hyper's connector asks names.
#[derive(Debug, Clone)]
struct Resolver(UpstreamResolver);

impl tower_service::Service<hyper_util::client::legacy::connect::dns::Name> for Resolver {
    type Response = std::vec::IntoIter<std::net::SocketAddr>;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: hyper_util::client::legacy::connect::dns::Name) -> Self::Future {
        let resolver = self.0.clone();
        Box::pin(async move {
            let ips = resolver.resolve(name.as_str()).await?;
            Ok(ips.into_iter().map(|ip| std::net::SocketAddr::new(ip, 0)).collect::<Vec<_>>().into_iter())
        })
    }
}

/// The backend whose prefix `path` is under (the longest one), if any.
pub(crate) fn backend_for<'a>(route: &'a AppRoute, path: &str) -> Option<(&'a Backend, &'a Upstream)> {
    let i = longest_prefix(&route.settings.backends, path)?;
    Some((&route.settings.backends[i], route.upstreams.get(i).unwrap_or(&Upstream::Invalid)))
}

/// The index of the backend with the longest prefix of `path`.
fn longest_prefix(backends: &[Backend], path: &str) -> Option<usize> {
    backends
        .iter()
        .enumerate()
        .filter(|(_, b)| path.starts_with(b.prefix.as_str()))
        .max_by_key(|(_, b)| b.prefix.len())
        .map(|(i, _)| i)
}

/// One request to forward: to `backend`, for the caller the gate let through (`who`; `None`
/// on a public backend), `path` being the normalised request path.
pub(crate) struct Call<'a> {
    pub route: &'a AppRoute,
    pub req: &'a Req,
    pub path: &'a str,
    pub backend: &'a Backend,
    /// `backend`'s upstream, read with the routing table.
    pub upstream: &'a Upstream,
    pub who: Option<&'a Identity>,
    pub now: i64,
}

/// Forwards the request and streams the answer back.
pub(crate) async fn forward(edge: &Edge, call: Call<'_>, payload: Payload) -> Res {
    let (res, outcome) = exchange(edge, &call, payload).await;
    call.route.counters.proxied(outcome);
    res
}

async fn exchange(edge: &Edge, call: &Call<'_>, payload: Payload) -> (Res, Outcome) {
    let Call { route, req, path, backend, upstream, who, now } = *call;
    let proxy = edge.proxy();
    if proxy.came_back(req) {
        tracing::warn!(app = %route.slug, bot = %route.bot_id, "a forwarded request came back to the platform");
        return (loop_detected(), Outcome::Loop);
    }
    let base = match upstream {
        Upstream::Url(url) => url,
        Upstream::Invalid => return (invalid_upstream(), Outcome::Unreachable),
        Upstream::Platform(why) => {
            tracing::warn!(app = %route.slug, bot = %route.bot_id, why, "an upstream is the platform itself");
            return (is_platform(), Outcome::Loop);
        }
    };
    // Address literals skip the resolver; the same rule applies to them here.
    let literal = match base.host() {
        Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
        _ => None,
    };
    if literal.is_some_and(|ip| !proxy.resolver.allows(ip)) {
        return (forbidden(), Outcome::Forbidden);
    }
    let Ok(uri) = upstream_uri(base, backend, path, req.query_string()) else {
        return (invalid_upstream(), Outcome::Unreachable);
    };
    if content_length(req.headers()).is_some_and(|n| n > proxy.max_body) {
        return (too_large(proxy.max_body), Outcome::TooLarge);
    }

    // A WebSocket holds a slot of the app's from the handshake to the close.
    let websocket = match is_websocket(req) {
        false => None,
        true => match route.counters.open_websocket(proxy.max_websockets) {
            Some(slot) => Some(slot),
            None => return (too_many_websockets(proxy.max_websockets), Outcome::TooManyWebSockets),
        },
    };
    let mut headers = request_headers(req, edge, proxy);
    if websocket.is_some() {
        // Hop-by-hop, so dropped with the rest; this hop asks for the same switch.
        headers.insert(header::CONNECTION, value!("upgrade"));
        headers.insert(header::UPGRADE, value!("websocket"));
    }
    if let Some(id) = who {
        match identity_token(edge, id, now) {
            Some(token) => {
                headers.insert(IDENTITY_HEADER, token);
            }
            None => {
                return (
                    error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "could not sign the identity"),
                    Outcome::Unreachable,
                );
            }
        }
    }
    let over_limit = Arc::new(AtomicBool::new(false));
    let mut payload = Some(payload);
    let body = match payload.take_if(|_| websocket.is_none() && has_body(req)) {
        Some(payload) => {
            let idle = Duration::from_secs(edge.platform().config().upload_idle_secs);
            request_body(payload, proxy.max_body, idle, over_limit.clone())
        }
        None => http_body_util::Empty::new().map_err(|never| match never {}).boxed_unsync(),
    };
    let mut upstream = hyper::Request::new(body);
    *upstream.method_mut() = req.method().clone();
    *upstream.uri_mut() = uri;
    *upstream.headers_mut() = headers;

    let answer = match tokio::time::timeout(proxy.timeout, proxy.client.request(upstream)).await {
        Err(_) => return (timeout(), Outcome::Timeout),
        Ok(Err(_)) if over_limit.load(Ordering::Relaxed) => return (too_large(proxy.max_body), Outcome::TooLarge),
        Ok(Err(e)) => {
            let refused = std::error::Error::source(&e)
                .into_iter()
                .flat_map(|s| std::iter::successors(Some(s), |e| e.source()))
                .any(|s| s.is::<ForbiddenUpstream>());
            if refused {
                return (forbidden(), Outcome::Forbidden);
            }
            tracing::info!(app = %route.slug, bot = %route.bot_id, error = %e, "upstream unreachable");
            return (unreachable(), Outcome::Unreachable);
        }
        Ok(Ok(a)) => a,
    };
    if answer.status() == hyper::StatusCode::SWITCHING_PROTOCOLS {
        return match (websocket, payload) {
            (Some(slot), Some(payload)) => {
                (tunnel(answer, payload, proxy.websocket_idle, slot).await, Outcome::Answered)
            }
            // A switch nobody asked for would leave the client's connection in the upstream's hands.
            _ => (unreachable(), Outcome::Unreachable),
        };
    }
    (response(answer, req.method() == Method::HEAD, proxy.timeout), Outcome::Answered)
}

impl Proxy {
    /// Whether the request carries this platform's hop mark: an edge forwarded it already.
    fn came_back(&self, req: &Req) -> bool {
        let mark = self.hop_mark.as_bytes();
        req.headers().get_all(header::VIA).iter().any(|v| memchr::memmem::find(v.as_bytes(), mark).is_some())
    }
}

/// Whether a browser sent this request from another origin than the one it goes to, other
/// than a top-level navigation (what `SameSite=Lax` would let through). `Sec-Fetch-Site` says
/// so where browsers send it; otherwise `Origin` is compared with `Host`. Requests with
/// neither come from outside browsers, whose holder of the cookie is the user.
pub(crate) fn cross_site(req: &Req) -> bool {
    const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");
    const SEC_FETCH_MODE: HeaderName = HeaderName::from_static("sec-fetch-mode");
    const SEC_FETCH_DEST: HeaderName = HeaderName::from_static("sec-fetch-dest");
    let headers = req.headers();
    // Browsers send each of these once; two of either is not a browser's word to go by.
    if headers.get_all(SEC_FETCH_SITE).iter().nth(1).is_some()
        || headers.get_all(header::ORIGIN).iter().nth(1).is_some()
    {
        return true;
    }
    let get = |name: HeaderName| headers.get(name).map(|v| v.as_bytes());
    let cross = match (get(SEC_FETCH_SITE), get(header::ORIGIN)) {
        (Some(site), _) => !matches!(site, b"same-origin" | b"none"),
        (None, Some(origin)) => {
            let authority = origin.iter().position(|&b| b == b':').and_then(|i| origin.get(i + 3..));
            authority.is_none_or(|a| Some(a) != headers.get(header::HOST).map(|h| h.as_bytes()))
        }
        (None, None) => false,
    };
    let navigation = matches!(*req.method(), Method::GET | Method::HEAD)
        && get(SEC_FETCH_MODE) == Some(b"navigate")
        && get(SEC_FETCH_DEST) == Some(b"document");
    cross && !navigation
}

/// Whether the client asks to turn this request into a WebSocket (RFC 6455 4.1).
fn is_websocket(req: &Req) -> bool {
    let lists = |name| connection_tokens(req.headers().get_all(name).iter().map(|v| v.as_bytes()));
    req.method() == Method::GET
        && lists(header::UPGRADE).iter().any(|t| t == "websocket")
        && lists(header::CONNECTION).iter().any(|t| t == "upgrade")
}

/// A WebSocket the upstream agreed to: its 101 goes to the client, then the bytes after each
/// side's handshake go to the other untouched (frames, masking and extensions are the two ends'
/// business), until either side closes or neither sends anything for `idle`.
async fn tunnel(
    answer: hyper::Response<hyper::body::Incoming>,
    mut payload: Payload,
    idle: Duration,
    slot: WebSocketSlot,
) -> Res {
    let mut res = Reply::build(StatusCode::SWITCHING_PROTOCOLS);
    copy_headers(res.headers_mut(), answer.headers());
    res.insert_header((header::CONNECTION, value!("upgrade"))).insert_header((header::UPGRADE, value!("websocket")));
    let (Some(client), Ok(upstream)) = (payload.take_upgrade(), hyper::upgrade::on(answer).await) else {
        tracing::info!("a WebSocket could not be taken over");
        return unreachable();
    };
    // The client's side switches once the 101 has been written; the tunnel (and the slot)
    // lives on this worker until either side ends.
    tokio::task::spawn_local(async move {
        let client = match client.await {
            Ok(c) => hyper_util::rt::TokioIo::new(c),
            Err(e) => {
                tracing::info!(error = %e, "the client's WebSocket could not be taken over");
                return;
            }
        };
        let upstream = hyper_util::rt::TokioIo::new(upstream);
        let last = Cell::new(Instant::now());
        let (from_client, to_client) = tokio::io::split(client);
        let (from_upstream, to_upstream) = tokio::io::split(upstream);
        // Either direction ending ends the tunnel: each side sees the other's close.
        tokio::select! {
            _ = pipe(from_client, to_upstream, &last, idle) => {}
            _ = pipe(from_upstream, to_client, &last, idle) => {}
        }
        drop(slot);
    });
    res.finish()
}

/// Copies `from` to `to` until `from` ends, a write fails or the tunnel idles; then shuts `to`.
async fn pipe(
    mut from: impl tokio::io::AsyncRead + Unpin,
    mut to: impl tokio::io::AsyncWrite + Unpin,
    last: &Cell<Instant>,
    idle: Duration,
) {
    let mut buf = BytesMut::with_capacity(16 * 1024);
    loop {
        buf.clear();
        match until_idle(last, idle, from.read_buf(&mut buf)).await {
            Some(Ok(n)) if n > 0 => {
                last.set(Instant::now());
                if to.write_all(&buf).await.is_err() {
                    break;
                }
            }
            _ => break,
        }
    }
    let _ = to.shutdown().await;
}

/// Runs `next` (cancel-safe) until it is ready, or `None` once `idle` has passed since the
/// tunnel's last traffic either way (what the other direction carried keeps this one open).
async fn until_idle<F: std::future::Future>(last: &Cell<Instant>, idle: Duration, next: F) -> Option<F::Output> {
    let mut next = std::pin::pin!(next);
    loop {
        let deadline = tokio::time::Instant::from_std(last.get() + idle);
        match tokio::time::timeout_at(deadline, next.as_mut()).await {
            Ok(out) => return Some(out),
            Err(_) if last.get().elapsed() < idle => continue,
            Err(_) => return None,
        }
    }
}

/// The caller's identity token: a session's is signed once and reused for half its lifetime
/// (so a backend always gets one valid for at least a minute); `Authorization: tma` callers,
/// who have no lasting session, get a fresh one.
fn identity_token(edge: &Edge, id: &Identity, now: i64) -> Option<header::HeaderValue> {
    let sign = || {
        let mut claims = id.claims.identity(now);
        match edge.platform().identity().mint(&mut claims) {
            Ok(token) => match header::HeaderValue::try_from(token) {
                Ok(mut value) => {
                    value.set_sensitive(true);
                    Some(value)
                }
                Err(e) => {
                    tracing::error!(error = %e, "an identity token is not a header value");
                    None
                }
            },
            Err(e) => {
                tracing::error!(error = %e, "could not sign an identity token");
                None
            }
        }
    };
    // `Authorization: tma` callers get a new session id with every request: nothing to reuse.
    let sid = id.claims.sid();
    if id.via != "cookie" {
        return sign();
    }
    let key = match id.claims.wallet_address() {
        Some(wallet) => std::borrow::Cow::Owned(format!("{sid} {wallet}")),
        None => std::borrow::Cow::Borrowed(sid),
    };
    let proxy = edge.proxy();
    if let Some((token, signed)) = proxy.tokens.get(key.as_ref())
        && now - signed < proxy.token_reuse
    {
        return Some(token);
    }
    let token = sign()?;
    proxy.tokens.insert(key.into_owned(), (token.clone(), now));
    Some(token)
}

/// `upstream` + the path (without the prefix when the backend strips it) + the query, as the
/// URI hyper sends: written out from the upstream already parsed (a whole URL parse per request
/// goes through IDNA even for addresses).
fn upstream_uri(
    upstream: &url::Url,
    backend: &Backend,
    path: &str,
    query: &str,
) -> Result<hyper::Uri, hyper::http::uri::InvalidUri> {
    let rest = if backend.strip_prefix { &path[backend.prefix.len() - 1..] } else { path };
    // The upstream has no query or fragment (checked when settings are saved): its text ends
    // with its path.
    let mut uri = upstream.as_str().trim_end_matches('/').to_owned();
    uri.extend(utf8_percent_encode(rest, PATH));
    if !query.is_empty() {
        uri.push('?');
        uri.push_str(query);
    }
    hyper::Uri::try_from(uri)
}

/// The client's headers minus hop-by-hop ones, anything that could pass for an identity, and
/// the session cookie (the backend gets `Tma-Identity` instead); plus `X-Forwarded-*`.
fn request_headers(req: &Req, edge: &Edge, proxy: &Proxy) -> header::HeaderMap {
    let headers = req.headers();
    let named_hops = connection_tokens(headers.get_all(header::CONNECTION).iter().map(|v| v.as_bytes()));
    let mut out = header::HeaderMap::with_capacity(headers.len() + 4);
    for (name, value) in headers {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n) || REPLACED.contains(&n) || named_hops.iter().any(|h| h == n) {
            continue;
        }
        if n == "authorization" && value.as_bytes().get(..4).is_some_and(|p| p.eq_ignore_ascii_case(b"tma ")) {
            continue;
        }
        let value = match n {
            "cookie" => match without_session_cookie(value.as_bytes()).map(header::HeaderValue::try_from) {
                Some(Ok(v)) => v,
                _ => continue,
            },
            _ => value.clone(),
        };
        out.append(name.clone(), value);
    }
    let peer = req.peer().ip();
    let client = crate::client::client_ip(peer, headers, &edge.platform().config().trusted_proxies);
    for (name, value) in [
        ("x-forwarded-for", header::HeaderValue::try_from(client.to_string()).ok()),
        ("x-forwarded-proto", proxy.scheme.clone()),
        ("x-forwarded-host", headers.get(header::HOST).cloned()),
    ] {
        if let Some(v) = value {
            out.insert(name, v);
        }
    }
    out.entry(header::USER_AGENT).or_insert(value!(concat!("tmahost-edge/", env!("CARGO_PKG_VERSION"))));
    // After what earlier hops wrote (RFC 9110 7.6.3), so the mark survives any proxy on the way.
    out.append(header::VIA, proxy.via.clone());
    out
}

/// Header names listed in `Connection` values (either side's header map), lowercased.
fn connection_tokens<'a>(values: impl Iterator<Item = &'a [u8]>) -> Vec<String> {
    values
        .filter_map(|v| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// A `Cookie` header without the edge's session cookie; `None` when nothing else is left.
fn without_session_cookie(cookie: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(cookie).ok()?;
    let kept: Vec<&str> = text
        .split(';')
        .map(str::trim)
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some(COOKIE))
        .collect();
    (!kept.is_empty()).then(|| kept.join("; ").into_bytes())
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

fn has_body(req: &Req) -> bool {
    content_length(req.headers()).is_some_and(|n| n > 0) || req.headers().contains_key(header::TRANSFER_ENCODING)
}

/// The client's body for the upstream client, chunk by chunk as the upstream takes them (a
/// slow upstream slows the client rather than filling memory); cut off past `max` bytes
/// (`over_limit` says so) or when a chunk takes longer than `idle`.
fn request_body(payload: Payload, max: u64, idle: Duration, over_limit: Arc<AtomicBool>) -> UpstreamBody {
    // The state is `None` once an error was sent: the body ends there.
    let chunks = futures_util::stream::unfold(Some((payload, 0u64)), move |state| {
        let over_limit = over_limit.clone();
        async move {
            let (mut payload, sent) = state?;
            let chunk = match tokio::time::timeout(idle, payload.next()).await {
                Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "the request body stalled")),
                Ok(None) => return None,
                Ok(Some(Err(e))) => Err(std::io::Error::other(e)),
                Ok(Some(Ok(chunk))) if sent + chunk.len() as u64 > max => {
                    over_limit.store(true, Ordering::Relaxed);
                    Err(std::io::Error::other("the request body is over the limit"))
                }
                Ok(Some(Ok(chunk))) => Ok(chunk),
            };
            let next = match &chunk {
                Ok(c) => Some((payload, sent + c.len() as u64)),
                Err(_) => None,
            };
            Some((chunk.map(hyper::body::Frame::data), next))
        }
    });
    http_body_util::StreamBody::new(chunks).boxed_unsync()
}

/// The upstream's answer, streamed: its status and headers (minus hop-by-hop ones), its body
/// chunk by chunk, cut off when it stays silent for the proxy timeout.
fn response(answer: hyper::Response<hyper::body::Incoming>, head: bool, idle: Duration) -> Res {
    let (answer, body) = answer.into_parts();
    let mut res = Reply::build(answer.status);
    copy_headers(res.headers_mut(), &answer.headers);
    // A HEAD's answer has no body; its length is the upstream's.
    if head {
        if let Some(n) = answer.headers.get(header::CONTENT_LENGTH) {
            res.insert_header((header::CONTENT_LENGTH, n.clone()));
        }
        return res.finish();
    }
    // The edge frames the body itself, with its length when the upstream gave one.
    let length = hyper::body::Body::size_hint(&body).exact();
    let frames = futures_util::stream::unfold(body, move |mut body| async move {
        loop {
            return match tokio::time::timeout(idle, body.frame()).await {
                Err(_) => Some((Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "the upstream stalled")), body)),
                Ok(None) => None,
                Ok(Some(Err(e))) => Some((Err(std::io::Error::other(e)), body)),
                Ok(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => Some((Ok(hyper::body::Frame::data(data)), body)),
                    // Trailers: HTTP/1 responses to the client carry none.
                    Err(_) => continue,
                },
            };
        }
    });
    res.with(Body::stream(http_body_util::StreamBody::new(frames), length))
}

/// The upstream's answer headers, minus hop-by-hop ones, its length (the edge frames the
/// body itself) and its request id (the edge's goes back to the client); its cookies held to
/// the rule `_headers` follows ([`tenant_cookie`]).
fn copy_headers(out: &mut HeaderMap, headers: &HeaderMap) {
    let named_hops = connection_tokens(headers.get_all(header::CONNECTION).iter().map(|v| v.as_bytes()));
    for (name, value) in headers {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n)
            || n == "content-length"
            || n == crate::serve::X_REQUEST_ID
            || named_hops.iter().any(|h| h == n)
        {
            continue;
        }
        if *name == header::SET_COOKIE {
            if let Some(value) = tenant_cookie(value) {
                out.append(header::SET_COOKIE, value);
            }
            continue;
        }
        out.append(name.clone(), value.clone());
    }
}

/// A backend's `Set-Cookie` as the browser may get it: never one named like the platform's
/// session cookie (dropped), and only for the app's own host (a `Domain` attribute, which would
/// hand the cookie to every app under that domain, is removed). Either is logged.
fn tenant_cookie(value: &header::HeaderValue) -> Option<header::HeaderValue> {
    use tmahost_types::cookie;
    // Not text: not a cookie any rule could read, so none a browser should keep.
    let Ok(text) = value.to_str() else {
        tracing::warn!("dropped a backend's Set-Cookie that is not ASCII text");
        return None;
    };
    if cookie::is_session_cookie(text) {
        tracing::warn!(cookie = cookie::name(text), "dropped a backend's cookie named like the platform's session");
        return None;
    }
    if !cookie::has_domain(text) {
        return Some(value.clone());
    }
    tracing::warn!(cookie = cookie::name(text), "a backend's cookie had a Domain attribute: made host-only");
    header::HeaderValue::try_from(cookie::without_domain(text)).ok()
}

fn too_many_websockets(max: u64) -> Res {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "too_many_websockets",
        &format!("this app has {max} WebSockets open on this edge already; try again shortly"),
    )
}

fn invalid_upstream() -> Res {
    error(StatusCode::BAD_GATEWAY, "upstream_invalid", "the backend's URL is invalid")
}

fn unreachable() -> Res {
    error(StatusCode::BAD_GATEWAY, "upstream_unreachable", "the app's backend did not answer; try again shortly")
}

fn forbidden() -> Res {
    error(
        StatusCode::BAD_GATEWAY,
        "upstream_forbidden",
        "the app's backend is at an address the platform does not connect to",
    )
}

fn loop_detected() -> Res {
    error(
        StatusCode::LOOP_DETECTED,
        "loop_detected",
        "this request was forwarded by the platform already: the app's backend leads back to the platform",
    )
}

fn is_platform() -> Res {
    error(
        StatusCode::LOOP_DETECTED,
        "upstream_is_platform",
        "the app's backend is the platform itself; point it at the app's own server",
    )
}

fn timeout() -> Res {
    error(StatusCode::GATEWAY_TIMEOUT, "upstream_timeout", "the app's backend did not answer in time")
}

fn too_large(max: u64) -> Res {
    error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", &format!("the request body is over {max} bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(prefix: &str, upstream: &str, strip: bool) -> Backend {
        Backend { prefix: prefix.into(), upstream: upstream.into(), strip_prefix: strip, public: false }
    }

    #[test]
    fn upstream_urls_keep_or_strip_the_prefix() {
        let url = |b: &Backend, p: &str, q: &str| {
            upstream_uri(&url::Url::parse(&b.upstream).expect("upstream"), b, p, q).ok().map(|u| u.to_string())
        };
        let keep = backend("/api/", "https://api.example.com", false);
        assert_eq!(url(&keep, "/api/users/7", "a=1").as_deref(), Some("https://api.example.com/api/users/7?a=1"));
        let strip = backend("/api/", "https://api.example.com/v1/", true);
        assert_eq!(url(&strip, "/api/users/7", "").as_deref(), Some("https://api.example.com/v1/users/7"));
        assert_eq!(url(&strip, "/api/", "").as_deref(), Some("https://api.example.com/v1/"));
        // A decoded path cannot smuggle a query, a fragment or another host.
        assert_eq!(url(&keep, "/api/a?b#c", "").as_deref(), Some("https://api.example.com/api/a%3Fb%23c"));
        // Nothing is normalised on the way: a path cannot climb out of the upstream's base path
        // (a URL library would read `\\` as `/` and resolve the `..`).
        assert_eq!(url(&strip, "/api/..\\admin", "").as_deref(), Some("https://api.example.com/v1/..\\admin"));
        assert_eq!(url(&keep, "/api/é", "q=%20").as_deref(), Some("https://api.example.com/api/%C3%A9?q=%20"));
        let odd = backend("/x/", "https://api.example.com", true);
        assert_eq!(url(&odd, "/x//evil.example/", "").as_deref(), Some("https://api.example.com//evil.example/"));
    }

    #[test]
    fn headers_named_in_connection_are_hop_by_hop() {
        let values: [&[u8]; 2] = [b"keep-alive, X-Secret", b" Upgrade ,"];
        assert_eq!(connection_tokens(values.into_iter()), ["keep-alive", "x-secret", "upgrade"]);
    }

    #[test]
    fn the_session_cookie_stays_at_the_edge() {
        let strip = |c: &str| without_session_cookie(c.as_bytes()).map(|v| String::from_utf8(v).expect("utf-8"));
        assert_eq!(strip("__Host-tma_session=abc; theme=dark").as_deref(), Some("theme=dark"));
        assert_eq!(strip("a=1;__Host-tma_session=abc;b=2").as_deref(), Some("a=1; b=2"));
        assert_eq!(strip("__Host-tma_session=abc"), None);
    }

    #[test]
    fn cookies_count_on_the_apps_own_pages_and_top_level_navigations() {
        let req = |method: Method, headers: &[(&str, &str)]| {
            let mut r = hyper::Request::builder().method(method).header("host", "shop--a_bot.apps.test");
            for (name, value) in headers {
                r = r.header(*name, *value);
            }
            cross_site(&Req::test(r))
        };
        assert!(!req(Method::POST, &[("sec-fetch-site", "same-origin"), ("origin", "https://shop--a_bot.apps.test")]));
        assert!(req(Method::POST, &[("sec-fetch-site", "same-site"), ("origin", "https://evil--b_bot.apps.test")]));
        assert!(req(Method::GET, &[("sec-fetch-site", "cross-site"), ("sec-fetch-mode", "websocket")]));
        assert!(req(Method::GET, &[("sec-fetch-site", "cross-site"), ("sec-fetch-dest", "iframe")]));
        let top = [("sec-fetch-site", "cross-site"), ("sec-fetch-mode", "navigate"), ("sec-fetch-dest", "document")];
        assert!(!req(Method::GET, &top));
        assert!(req(Method::POST, &top));
        // Without Fetch Metadata: Origin against Host.
        assert!(!req(Method::GET, &[("origin", "https://shop--a_bot.apps.test")]));
        assert!(req(Method::GET, &[("origin", "https://evil--b_bot.apps.test")]));
        assert!(req(Method::GET, &[("origin", "https://shop--a_bot.apps.test.evil.example")]));
        assert!(req(Method::GET, &[("origin", "null")]));
        assert!(!req(Method::GET, &[]));
        // Two values where browsers send one: not trusted either way.
        let twice = Req::test(
            hyper::Request::builder()
                .header("host", "shop--a_bot.apps.test")
                .header("sec-fetch-site", "same-origin")
                .header("sec-fetch-site", "same-site"),
        );
        assert!(cross_site(&twice));
    }

    #[test]
    fn a_backends_cookies_stay_on_the_apps_host_and_off_the_session_cookie() {
        let pass = |v: &str| {
            tenant_cookie(&header::HeaderValue::from_str(v).expect("value"))
                .map(|v| v.to_str().expect("text").to_owned())
        };
        assert_eq!(pass("theme=dark; Path=/; Secure").as_deref(), Some("theme=dark; Path=/; Secure"));
        assert_eq!(pass("theme=dark; Domain=localhost; Path=/").as_deref(), Some("theme=dark; Path=/"));
        assert_eq!(pass("theme=dark;domain=.apps.example").as_deref(), Some("theme=dark"));
        assert_eq!(pass("__Host-tma_session=forged; Path=/; Secure"), None);
        assert_eq!(pass("__secure-TMA_session=forged"), None);
        let latin1 = header::HeaderValue::from_bytes(b"a=\xe9").expect("value");
        assert_eq!(tenant_cookie(&latin1), None);
    }

    #[test]
    fn the_longest_prefix_wins() {
        let backends = [backend("/api/", "https://a.example", false), backend("/api/v2/", "https://b.example", false)];
        let pick = |path: &str| longest_prefix(&backends, path).map(|i| backends[i].upstream.as_str());
        assert_eq!(pick("/api/v2/x"), Some("https://b.example"));
        assert_eq!(pick("/api/v1/x"), Some("https://a.example"));
        assert_eq!(pick("/apix"), None);
    }
}
