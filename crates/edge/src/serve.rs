//! One request, start to end. Routing turns the host into an app; then every request to an
//! app goes through the same steps, each a function here:
//! method -> gate -> deployment -> resolve -> respond.
//! The edge's own endpoints (`/_tma/*`) branch off before the method step (see `endpoints`).

use std::sync::Arc;

use hyper::{Method, StatusCode, header};
use tmahost_service::ServiceError;
use tmahost_service::model::Access;
use tracing::Instrument;

use crate::content::{self, Lookup, Manifest, Resolution};
use crate::respond::{self, FileReply, error, file_response, not_found, plain, storage_unavailable};
use crate::routing::{AppRoute, Target};
use crate::wire::{Payload, Req, Res, value};
use crate::{Edge, endpoints, session};

pub(crate) const X_REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");

/// Every edge request. The request id is made here rather than in a middleware: one layer of
/// services and boxed futures less on the hot path.
pub(crate) async fn handle(req: Req, payload: Payload, edge: &Edge) -> Res {
    // Log lines of a request carry its id: a proxy's X-Request-Id, or a fresh one.
    let id = match req.headers().get(X_REQUEST_ID) {
        Some(v) if tmahost_service::sane_request_id(v.as_bytes()) => v.clone(),
        // Hex digits and a dash: always a header value.
        _ => header::HeaderValue::from_bytes(tmahost_service::FreshRequestId::new().as_bytes()).unwrap_or(value!("-")),
    };
    let span = tracing::info_span!("request", id = id.to_str().unwrap_or_default());
    let mut res = route(&req, payload, edge).instrument(span).await;
    // One pass over the response's headers for both of the edge's own (cheaper than looking up
    // each): a file response holds a place for the request id, the rest do not. The platform's
    // CSP also lets the emulator's origin frame apps (known only from the configuration); a CSP
    // a bundle set in `_headers` is its own and left alone. `_headers` and upstreams cannot set
    // a request id.
    let mut id = Some(id);
    for (name, value) in res.headers_mut().iter_mut() {
        if name == X_REQUEST_ID {
            if let Some(id) = id.take() {
                *value = id;
            }
        } else if name == header::CONTENT_SECURITY_POLICY && value == respond::DEFAULT_CSP {
            *value = edge.emulator().csp.clone();
        }
    }
    if let Some(id) = id {
        res.headers_mut().append(X_REQUEST_ID, id);
    }
    res
}

/// Host -> app, with the few answers that name no app.
async fn route(req: &Req, payload: Payload, edge: &Edge) -> Res {
    // Load balancers probe edges by address, whatever the host; the answer names nothing.
    if req.path() == "/_tma/health" {
        return plain(StatusCode::OK, "ok\n");
    }
    let table = edge.table();
    // A TLS proxy asks before it obtains a certificate on demand (Caddy's `ask`): only for
    // names this edge serves, so nobody can make it request certificates for arbitrary names.
    if req.path() == "/_tma/tls-ask" {
        let domain = form_urlencoded::parse(req.query_string().as_bytes())
            .find(|(k, _)| k == "domain")
            .map(|(_, v)| v)
            .unwrap_or_default();
        return match table.lookup(&domain) {
            Some(_) => plain(StatusCode::OK, "ok\n"),
            None => not_found(),
        };
    }
    let Some(host) = host_of(req) else {
        return plain(StatusCode::BAD_REQUEST, "one Host, and an absolute request target only for that host\n");
    };
    let Some(target) = table.lookup(host) else {
        return not_found();
    };
    let (route, preview) = match target {
        Target::App(r) => (r, None),
        Target::Preview(r, short) => (r, Some(short)),
    };
    route.counters.request();
    let res = for_app(edge, req, payload, &route, preview.as_deref()).await;
    route.counters.response(res.status().as_u16(), res.body().len());
    res
}

/// The host a request is for: its `Host`, which must be there at most once (RFC 9112 3.2: two
/// are a 400, or a proxy in front and the edge could each route by another), and which an
/// absolute-form target (`GET http://host/path`) must agree with (case aside). `None`: refused.
fn host_of(req: &Req) -> Option<&str> {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let host = hosts.next().and_then(|h| h.to_str().ok()).unwrap_or_default();
    if hosts.next().is_some() {
        return None;
    }
    match req.authority() {
        Some(target) if !target.as_str().eq_ignore_ascii_case(host) => None,
        _ => Some(host),
    }
}

/// The answer for a request to one of the apps; `preview` is the short id of a preview host.
async fn for_app(edge: &Edge, req: &Req, payload: Payload, route: &AppRoute, preview: Option<&str>) -> Res {
    if route.disabled {
        return respond::disabled();
    }
    let path = match content::request_path(req.path()) {
        Ok(p) => p,
        Err(content::BadPath(status, why)) => return plain(status, why),
    };
    let now = now_secs();
    // The futures of the branches below are boxed: inline, their state (a proxied exchange
    // above all) would size every request's future, allocated and copied on every file served.
    if let Some(rest) = path.strip_prefix("/_tma/") {
        return Box::pin(endpoints::answer(edge, route, req, payload, rest, now, preview)).await;
    }
    // App backends: their own methods, the same gate, then the upstream instead of a file.
    if let Some((backend, upstream)) = crate::proxy::backend_for(route, &path) {
        return Box::pin(backend_request(edge, route, req, payload, &path, (backend, upstream), now)).await;
    }
    // Wallets fetch the TON Connect manifest from their own origins.
    let any_origin = path.ends_with("/tonconnect-manifest.json");

    // 1. Method: files answer GET and HEAD.
    match *req.method() {
        Method::GET | Method::HEAD => {}
        Method::OPTIONS => return respond::options(any_origin),
        _ => return respond::method_not_allowed(),
    }

    // The platform's TON Connect manifest, when the app has one set and the bundle none (or
    // the owner chose the platform's): its `url` is the host asked, and wallets need no session.
    if any_origin
        && path == tmahost_service::ton_connect::MANIFEST_PATH
        && let Some(m) = &route.settings.ton_connect
    {
        let generated = m.replace_bundled
            || match manifest_for(edge, route, preview).await {
                Ok(bundle) => !matches!(bundle.find(&path), Lookup::File(_)),
                Err(res) => return res,
            };
        if generated {
            let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
            let origin = format!("{}://{}", edge.platform().config().public_scheme, host.trim_end_matches('.'));
            return respond::ton_connect_manifest(m, &origin.to_ascii_lowercase());
        }
    }

    // 2. Gate, on the path asked (step 5 checks again on the file that answers).
    let gated = session::is_gated(route, &path);
    if gated && let Some(refused) = session_refusal(edge, route, req, now) {
        return refused;
    }

    // 3. Deployment: the active one, or the preview host's.
    let manifest = match manifest_for(edge, route, preview).await {
        Ok(m) => m,
        Err(res) => return res,
    };

    // 4. Resolve: which file answers (or a redirect).
    let resolution = content::resolve(&manifest, &path, req.query_string());
    // Skew protection: a page loaded before a deploy still asks for its old assets.
    let older = match resolution {
        Resolution::Missing if preview.is_none() && content::is_asset_path(&path) => {
            Box::pin(skew_protection(edge, route, &path)).await
        }
        _ => None,
    };
    let served = match (resolution, older.as_deref()) {
        (Resolution::Redirect { status, location }, _) => {
            let mut res = respond::redirect(status, &location, gated, &manifest.rules, &path);
            if any_origin {
                respond::allow_any_origin(&mut res);
            }
            return res;
        }
        (Resolution::File { key, status, fallback }, _) => Served { manifest: &manifest, key, status, fallback },
        (Resolution::Missing, Some(old)) => match old.find(&path) {
            Lookup::File(key) => Served { manifest: old, key, status: StatusCode::OK, fallback: false },
            _ => return not_found(),
        },
        (Resolution::Missing, None) => match content::fallback(&manifest, &path, route.settings.spa_fallback) {
            Resolution::File { key, status, fallback } => Served { manifest: &manifest, key, status, fallback },
            _ => return not_found(),
        },
    };

    // 5. Respond. The gate decides on what is served, not on what was asked: a public path that
    // resolves to another file (SPA fallback, clean URL, a `_redirects` rewrite, a 404 page)
    // needs a session like that file does. (Public apps skip the check and its allocation.)
    let mut gated = gated;
    if !gated && route.settings.access == Access::Gated && session::is_gated(route, &format!("/{}", served.key)) {
        if let Some(refused) = session_refusal(edge, route, req, now) {
            return refused;
        }
        gated = true;
    }
    let mut res = send_file(edge, req, &served, gated, &path).await;
    if any_origin {
        respond::allow_any_origin(&mut res);
    }
    res
}

/// A file chosen to answer: its manifest (the deployment's, or an older one's) and key.
struct Served<'m> {
    manifest: &'m Manifest,
    key: &'m str,
    status: StatusCode,
    /// Stands in for another path (SPA index, 404 page).
    fallback: bool,
}

/// The answer for a request that shows no valid session: the gate page for navigations, a
/// JSON 401 for the rest, or why the launch data was refused. `None`: the caller is known.
fn session_refusal(edge: &Edge, route: &AppRoute, req: &Req, now: i64) -> Option<Res> {
    match edge.sessions().identify(route, req, now) {
        Ok(Some(_)) => None,
        Ok(None) if wants_html(req) => Some(respond::gate_page()),
        Ok(None) => Some(session_required()),
        Err(denied) => Some(denied.response()),
    }
}

/// A request under a backend prefix: gated like the app (a JSON 401, never the gate page: the
/// caller is the app's script) unless the backend is public, then forwarded.
async fn backend_request(
    edge: &Edge,
    route: &AppRoute,
    req: &Req,
    payload: Payload,
    path: &str,
    (backend, upstream): (&tmahost_service::model::Backend, &crate::routing::Upstream),
    now: i64,
) -> Res {
    let mut who = match edge.sessions().identify(route, req, now) {
        Ok(who) => who,
        // A public backend serves callers whose launch data does not pass, without an identity.
        Err(_) if backend.public => None,
        Err(denied) => return denied.response(),
    };
    let required = !backend.public && session::is_gated(route, path);
    // The session cookie counts only on requests from the app's own pages: another tenant's
    // app, framed in the same Telegram Web, holds the same partitioned cookies and must not
    // reach this backend as the user (by fetch, form or WebSocket).
    if who.as_ref().is_some_and(|id| id.via == "cookie") && crate::proxy::cross_site(req) {
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
    let call = crate::proxy::Call { route, req, path, backend, upstream, who: who.as_ref(), now };
    crate::proxy::forward(edge, call, payload).await
}

/// The JSON 401 for a script or fetch without a session (files and app backends alike).
fn session_required() -> Res {
    error(
        StatusCode::UNAUTHORIZED,
        "session_required",
        "open the app from Telegram, or send `Authorization: tma <initData>`",
    )
}

/// Navigations get the gate page; scripts and fetches get a JSON 401.
fn wants_html(req: &Req) -> bool {
    let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    const SEC_FETCH_DEST: header::HeaderName = header::HeaderName::from_static("sec-fetch-dest");
    let dest = req.headers().get(SEC_FETCH_DEST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    *req.method() == Method::GET && (accept.contains("text/html") || dest == "document" || dest == "iframe")
}

/// The deployment a host serves: the app's active one, or the one a preview host names.
pub(crate) async fn deployment_of(
    edge: &Edge,
    route: &AppRoute,
    preview: Option<&str>,
) -> Result<Option<String>, ServiceError> {
    match preview {
        Some(short) => edge.preview(route, short.to_owned()).await,
        None => Ok(route.active.clone()),
    }
}

/// The manifest of the deployment this host serves. The active deployment's is kept on the
/// route itself once complete: one cache probe less on nearly every request (the route is
/// rebuilt whenever the active deployment changes).
async fn manifest_for(edge: &Edge, route: &AppRoute, preview: Option<&str>) -> Result<Arc<Manifest>, Res> {
    if preview.is_none()
        && let Some(m) = route.active_manifest.get()
    {
        return Ok(m.clone());
    }
    // Boxed: the database's futures would otherwise size every request's future.
    Box::pin(load_manifest_for(edge, route, preview)).await
}

async fn load_manifest_for(edge: &Edge, route: &AppRoute, preview: Option<&str>) -> Result<Arc<Manifest>, Res> {
    let deployment = match deployment_of(edge, route, preview).await {
        Ok(Some(d)) => d,
        Ok(None) => return Err(plain(StatusCode::NOT_FOUND, "404 Not Found: nothing is deployed here yet\n")),
        Err(e) => return Err(storage_unavailable(&e)),
    };
    let manifest = edge.manifest(&deployment).await.map_err(|e| storage_unavailable(&e))?;
    if preview.is_none() && manifest.complete() {
        let _ = route.active_manifest.set(manifest.clone());
    }
    Ok(manifest)
}

/// The newest previous deployment that has `path` as a file.
async fn skew_protection(edge: &Edge, route: &AppRoute, path: &str) -> Option<Arc<Manifest>> {
    for old in &route.previous {
        if let Ok(m) = edge.manifest(old).await
            && matches!(m.find(path), Lookup::File(_))
        {
            return Some(m);
        }
    }
    None
}

async fn send_file(edge: &Edge, req: &Req, served: &Served<'_>, gated: bool, path: &str) -> Res {
    let Some(entry) = served.manifest.files.get(served.key) else {
        return not_found();
    };
    let reply = FileReply { entry, status: served.status, fallback: served.fallback, gated };
    let enc = reply.encoding(req);
    // A matching revalidation is answered without the bytes: no blob cache probe, and no
    // object store read if they are not cached.
    let body = if reply.unchanged(req, enc) {
        None
    } else {
        match edge.blob(entry, enc).await {
            Ok(body) => Some(body),
            Err(e) => return storage_unavailable(&e),
        }
    };
    file_response(edge.file_headers(), req, &reply, enc, body, &served.manifest.rules, path)
}

pub(crate) fn now_secs() -> i64 {
    tmahost_service::now_ms() / 1000
}
