//! The headers that cross the edge to and from an app backend: hop-by-hop ones dropped, the
//! ones the edge vouches for (`Tma-Identity`, `X-Forwarded-*`, `Via`) replaced, the
//! platform's cookies kept at the edge, a backend's cookies held to the app's own host.

use hyper::header::{self, HeaderMap};

use super::Upstreams;
use crate::respond::COOKIE;
use crate::state::Edge;
use crate::wire::{Req, value};

/// The header carrying the identity token.
pub(crate) const IDENTITY_HEADER: &str = "tma-identity";

/// Headers of one hop only (RFC 9110 7.6.1), never forwarded either way.
pub(super) const HOP_BY_HOP: [&str; 9] = [
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

/// The client's headers minus hop-by-hop ones, anything that could pass for an identity, and
/// the edge's own cookies (the backend gets `Tma-Identity` instead); plus `X-Forwarded-*`.
pub(super) fn request_headers(req: &Req, edge: &Edge, proxy: &Upstreams) -> header::HeaderMap {
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
            "cookie" => match without_platform_cookies(value.as_bytes()).map(header::HeaderValue::try_from) {
                Some(Ok(v)) => v,
                _ => continue,
            },
            _ => value.clone(),
        };
        out.append(name.clone(), value);
    }
    let peer = req.peer().ip();
    let client = crate::client::client_ip(peer, headers, &edge.platform().config().server.trusted_proxies);
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
pub(super) fn connection_tokens<'a>(values: impl Iterator<Item = &'a [u8]>) -> Vec<String> {
    values
        .filter_map(|v| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// A `Cookie` header without the edge's own cookies (the session, and the gate page's launch
/// data while it lives); `None` when nothing else is left.
pub(super) fn without_platform_cookies(cookie: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(cookie).ok()?;
    let ours = [COOKIE, tmahost_types::cookie::LAUNCH_COOKIE];
    let kept: Vec<&str> = text
        .split(';')
        .map(str::trim)
        .filter(|pair| !pair.is_empty() && !ours.contains(&pair.split('=').next().unwrap_or_default()))
        .collect();
    (!kept.is_empty()).then(|| kept.join("; ").into_bytes())
}

/// The upstream's answer headers, minus hop-by-hop ones, its length (the edge frames the
/// body itself) and its request id (the edge's goes back to the client); its cookies held to
/// the rule `_headers` follows ([`tenant_cookie`]).
pub(super) fn copy_headers(out: &mut HeaderMap, headers: &HeaderMap) {
    let named_hops = connection_tokens(headers.get_all(header::CONNECTION).iter().map(|v| v.as_bytes()));
    for (name, value) in headers {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n)
            || n == "content-length"
            || n == crate::wire::X_REQUEST_ID
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
pub(super) fn tenant_cookie(value: &header::HeaderValue) -> Option<header::HeaderValue> {
    use tmahost_types::cookie;
    // Not text: not a cookie any rule could read, so none a browser should keep.
    let Ok(text) = value.to_str() else {
        tracing::warn!("dropped a backend's Set-Cookie that is not ASCII text");
        return None;
    };
    if cookie::is_platform_cookie(text) {
        tracing::warn!(
            cookie = cookie::name(text),
            "dropped a backend's cookie named like the platform's session cookies"
        );
        return None;
    }
    if !cookie::has_domain(text) {
        return Some(value.clone());
    }
    tracing::warn!(cookie = cookie::name(text), "a backend's cookie had a Domain attribute: made host-only");
    header::HeaderValue::try_from(cookie::without_domain(text)).ok()
}
