//! One request, start to end: the request id, the host routed to an app, the [`Gate`] made,
//! and the request handed to the one handler for it: `/_tma/*` to `endpoints`, a backend's
//! prefix to `proxy`, the rest to `files`.

use hyper::{StatusCode, header};
use tracing::Instrument;

use crate::content;
use crate::gate::Gate;
use crate::respond::{self, not_found, plain};
use crate::routing::{AppRoute, Target};
use crate::state::Edge;
use crate::wire::{Payload, Req, Res, X_REQUEST_ID, value};
use crate::{endpoints, files, proxy};

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
    // A TLS proxy asks before it obtains a certificate on demand (Caddy's `ask`): only for
    // names this edge serves, so nobody can make it request certificates for arbitrary names.
    if req.path() == "/_tma/tls-ask" {
        let domain = form_urlencoded::parse(req.query_string().as_bytes())
            .find(|(k, _)| k == "domain")
            .map(|(_, v)| v)
            .unwrap_or_default();
        return match edge.lookup(&domain) {
            Some(_) => plain(StatusCode::OK, "ok\n"),
            None => not_found(),
        };
    }
    let Some(host) = host_of(req) else {
        return plain(StatusCode::BAD_REQUEST, "one Host, and an absolute request target only for that host\n");
    };
    let Some(target) = edge.lookup(host) else {
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
/// The gate is made here, once, and every handler asks it.
async fn for_app(edge: &Edge, req: &Req, payload: Payload, route: &AppRoute, preview: Option<&str>) -> Res {
    if route.disabled {
        return respond::disabled();
    }
    let path = match content::request_path(req.path()) {
        Ok(p) => p,
        Err(content::BadPath(status, why)) => return plain(status, why),
    };
    let gate = Gate::new(edge.sessions(), route, req, crate::now_secs());
    // The futures of the branches below are boxed: inline, their state (a proxied exchange
    // above all) would size every request's future, allocated and copied on every file served.
    let mut res = if let Some(rest) = path.strip_prefix("/_tma/") {
        Box::pin(endpoints::answer(edge, &gate, payload, rest, preview)).await
    } else if let Some(backend) = proxy::backend_for(route, &path) {
        // App backends: their own methods, the same gate, then the upstream instead of a file.
        Box::pin(proxy::answer(edge, &gate, payload, &path, backend)).await
    } else {
        files::answer(edge, &gate, &path, preview).await
    };
    gate.settle_launch(edge, &mut res);
    res
}
