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

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::header::{self, HeaderMap};
use hyper::{Method, StatusCode};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use tmahost_service::backends::ForbiddenUpstream;
use tmahost_service::model::Backend;

use crate::gate::{Caller, Gate, Via, denied, session_required};
use crate::respond::error;
use crate::routing::{AppRoute, Upstream};
use crate::state::Edge;
use crate::stats::Outcome;
use crate::upstream::{UpstreamBody, Upstreams};
use crate::wire::{Body, Payload, Reply, Req, Res, value};

mod headers;
mod tunnel;

use headers::{IDENTITY_HEADER, copy_headers, request_headers};
#[cfg(test)]
use headers::{connection_tokens, tenant_cookie, without_platform_cookies};
use tunnel::{is_websocket, tunnel};

/// Characters escaped when the (decoded, normalised) path is written into the upstream URL.
const PATH: &AsciiSet =
    &CONTROLS.add(b' ').add(b'"').add(b'#').add(b'<').add(b'>').add(b'?').add(b'`').add(b'{').add(b'}').add(b'%');

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

/// A request under a backend prefix: gated like the app (a JSON 401, never the gate page: the
/// caller is the app's script) unless the backend is public, then forwarded and the answer
/// streamed back. `backend` is [`backend_for`]'s answer for `path`.
pub(crate) async fn answer(
    edge: &Edge,
    gate: &Gate<'_>,
    payload: Payload,
    path: &str,
    (backend, upstream): (&Backend, &Upstream),
) -> Res {
    let mut who = match gate.caller() {
        Ok(who) => who,
        // A public backend serves callers whose launch data does not pass, without an identity.
        Err(_) if backend.public => None,
        Err(d) => return denied(d),
    };
    let required = !backend.public && gate.is_gated(path);
    // The session cookie counts only on requests from the app's own pages: another tenant's
    // app, framed in the same Telegram Web, holds the same partitioned cookies and must not
    // reach this backend as the user (by fetch, form or WebSocket).
    if who.is_some_and(|c| c.via == Via::Cookie) && gate.cross_site() {
        if required {
            return error(
                StatusCode::FORBIDDEN,
                "cross_origin",
                "the session cookie only counts on requests from the app's own pages; send \
                 `Authorization: tma <initData>` from elsewhere",
            );
        }
        who = None;
    }
    if who.is_none() && required {
        return session_required();
    }
    let call = Call { route: gate.route, req: gate.req, path, backend, upstream, who, now: gate.now };
    let (res, outcome) = exchange(edge, &call, payload).await;
    call.route.counters.proxied(outcome);
    res
}

/// One request to forward: to `backend`, for the caller the gate let through (`who`; `None`
/// on a public backend), `path` being the normalised request path.
struct Call<'a> {
    route: &'a AppRoute,
    req: &'a Req,
    path: &'a str,
    backend: &'a Backend,
    /// `backend`'s upstream, read with the routing table.
    upstream: &'a Upstream,
    who: Option<&'a Caller>,
    now: i64,
}

async fn exchange(edge: &Edge, call: &Call<'_>, payload: Payload) -> (Res, Outcome) {
    let Call { route, req, path, backend, upstream, who, now } = *call;
    let proxy = edge.upstreams();
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
    // A custom domain proven after the settings were saved, or another app's, is the platform.
    if let Some(host) = base.host_str()
        && edge.serves_domain(host)
    {
        tracing::warn!(app = %route.slug, bot = %route.bot_id, host, "an upstream is a custom domain the platform serves");
        return (is_platform(), Outcome::Loop);
    }
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
            let idle = Duration::from_secs(edge.platform().config().api.upload_idle_secs);
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

/// The caller's identity token: a session's is signed once and reused for half its lifetime
/// (so a backend always gets one valid for at least a minute); `Authorization: tma` callers,
/// who have no lasting session, get a fresh one.
fn identity_token(edge: &Edge, id: &Caller, now: i64) -> Option<header::HeaderValue> {
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
    if id.via != Via::Cookie {
        return sign();
    }
    let key = match id.claims.wallet_address() {
        Some(wallet) => std::borrow::Cow::Owned(format!("{sid} {wallet}")),
        None => std::borrow::Cow::Borrowed(sid),
    };
    let proxy = edge.upstreams();
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
    fn the_platforms_cookies_stay_at_the_edge() {
        let strip = |c: &str| without_platform_cookies(c.as_bytes()).map(|v| String::from_utf8(v).expect("utf-8"));
        assert_eq!(strip("__Host-tma_session=abc; theme=dark").as_deref(), Some("theme=dark"));
        assert_eq!(strip("a=1;__Host-tma_session=abc;b=2").as_deref(), Some("a=1; b=2"));
        assert_eq!(strip("__Host-tma_session=abc"), None);
        assert_eq!(strip("__Host-tma_launch=user%3D1; a=1; __Host-tma_session=abc").as_deref(), Some("a=1"));
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
