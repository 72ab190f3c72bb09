//! The bundle's files, the handler behind most requests: method -> gate -> deployment ->
//! resolve -> respond, each step here in that order.

use std::sync::Arc;

use hyper::{Method, StatusCode, header};
use tmahost_service::model::Access;

use crate::content::{self, Lookup, Manifest, Resolution};
use crate::gate::Gate;
use crate::respond::{self, FileReply, file_response, not_found, plain, storage_unavailable};
use crate::routing::AppRoute;
use crate::state::Edge;
use crate::wire::{Req, Res};

/// The answer for `path` (already checked by `content::request_path`) on the app's host, or
/// its preview host `preview`.
pub(crate) async fn answer(edge: &Edge, gate: &Gate<'_>, path: &str, preview: Option<&str>) -> Res {
    let (route, req) = (gate.route, gate.req);
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
                Ok(bundle) => !matches!(bundle.find(path), Lookup::File(_)),
                Err(res) => return res,
            };
        if generated {
            let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
            let origin = format!("{}://{}", edge.platform().config().server.public_scheme, host.trim_end_matches('.'));
            return respond::ton_connect_manifest(m, &origin.to_ascii_lowercase());
        }
    }

    // 2. Gate, on the path asked (step 5 checks again on the file that answers).
    let gated = gate.is_gated(path);
    if gated && let Some(refused) = gate.refusal() {
        return refused;
    }

    // 3. Deployment: the active one, or the preview host's.
    let manifest = match manifest_for(edge, route, preview).await {
        Ok(m) => m,
        Err(res) => return res,
    };

    // 4. Resolve: which file answers (or a redirect).
    let resolution = content::resolve(&manifest, path, req.query_string());
    // Skew protection: a page loaded before a deploy still asks for its old assets.
    let older = match resolution {
        Resolution::Missing if preview.is_none() && content::is_asset_path(path) => {
            Box::pin(skew_protection(edge, route, path)).await
        }
        _ => None,
    };
    let served = match (resolution, older.as_deref()) {
        (Resolution::Redirect { status, location }, _) => {
            let mut res = respond::redirect(status, &location, gated, &manifest.rules, path);
            if any_origin {
                respond::allow_any_origin(&mut res);
            }
            return res;
        }
        (Resolution::File { key, status, fallback }, _) => Served { manifest: &manifest, key, status, fallback },
        (Resolution::Missing, Some(old)) => match old.find(path) {
            Lookup::File(key) => Served { manifest: old, key, status: StatusCode::OK, fallback: false },
            _ => return not_found(),
        },
        (Resolution::Missing, None) => match content::fallback(&manifest, path, route.settings.spa_fallback) {
            Resolution::File { key, status, fallback } => Served { manifest: &manifest, key, status, fallback },
            _ => return not_found(),
        },
    };

    // 5. Respond. The gate decides on what is served, not on what was asked: a public path that
    // resolves to another file (SPA fallback, clean URL, a `_redirects` rewrite, a 404 page)
    // needs a session like that file does. (Public apps skip the check and its allocation.)
    let mut gated = gated;
    if !gated && route.settings.access == Access::Gated && gate.is_gated(&format!("/{}", served.key)) {
        if let Some(refused) = gate.refusal() {
            return refused;
        }
        gated = true;
    }
    let mut res = send_file(edge, req, &served, gated, path).await;
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
    let deployment = match edge.deployment_of(route, preview).await {
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
