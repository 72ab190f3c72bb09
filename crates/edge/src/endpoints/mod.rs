//! `/_tma/*`: the edge's own endpoints, on every app's origin: `POST session` (launch data in,
//! cookie out), `GET me`, `POST logout`, `GET staff` (a deploy notice's button) and
//! `GET jwks.json` (the keys that verify `Tma-Identity`), and TON Connect proofs under `ton/`
//! (see [`ton`]).

mod ton;

use std::time::Duration;

use hyper::{Method, StatusCode, header};
use serde::Deserialize;

use crate::gate::{Gate, Via, denied};
use crate::respond::{self, body_refused, error, storage_unavailable};
use crate::session::{self, SessionClaims, verify_launch};
use crate::state::Edge;
use crate::wire::{Payload, Res, read_body, value};

/// Answers `/_tma/{rest}`; `preview` is the short id of a preview host.
pub(crate) async fn answer(edge: &Edge, gate: &Gate<'_>, payload: Payload, rest: &str, preview: Option<&str>) -> Res {
    let (route, req) = (gate.route, gate.req);
    match (req.method().clone(), rest) {
        (Method::POST, "session") => {
            let idle = Duration::from_secs(edge.platform().config().api.upload_idle_secs);
            let body = match read_body(payload, session::MAX_SESSION_BODY, idle).await {
                Ok(b) => b,
                Err(e) => return body_refused(e),
            };
            let (res, outcome) = open_session(edge, gate, &body);
            match outcome {
                Ok(user) => {
                    edge.metrics().sessions_opened.get_or_create(&[("via", "post")]).inc();
                    if let Some(user) = user {
                        edge.stats().session_created(&route.app_id, &route.counters, user);
                    }
                }
                Err(reason) => {
                    edge.metrics().session_refusals.get_or_create(&[("reason", reason)]).inc();
                }
            }
            res
        }
        (Method::GET, "me") => match gate.caller() {
            Ok(Some(c)) => respond::private_json(c.claims.me(c.via.as_str())),
            Ok(None) => error(StatusCode::UNAUTHORIZED, "session_required", "no session: open the app from Telegram"),
            Err(d) => denied(d),
        },
        (Method::POST, "logout") => {
            // Only the app's own pages, and the platform's emulator (which clears the app it
            // frames), close its sessions: in Telegram Web every app's partitioned cookies share
            // one top-level site, so another app's page could otherwise log its users out.
            let origin = req.headers().get(header::ORIGIN);
            let emulator = origin.filter(|o| *o == edge.emulator().origin);
            if emulator.is_none() && gate.cross_site() {
                return error(
                    StatusCode::FORBIDDEN,
                    "cross_origin",
                    "sessions are only closed from the app's own pages",
                );
            }
            // The cookie is cleared either way; a live session is also revoked on every edge,
            // so a copy of the cookie stops working too.
            if let Ok(Some(c)) = gate.caller()
                && c.via == Via::Cookie
            {
                edge.sessions().revoke(c.claims.sid());
                if let Err(e) = edge.platform().revoke_edge_session(c.claims.sid(), c.claims.expires_at()).await {
                    tracing::warn!(error = %e, "logout: could not record the revocation for other edges");
                    return storage_unavailable(&e);
                }
            }
            respond::logged_out(emulator)
        }
        (Method::GET, "staff") => staff_session(edge, gate, preview).await,
        (Method::GET | Method::HEAD, "jwks.json") => respond::jwks(edge.platform().identity().jwks()),
        (Method::GET, "ton/proof-payload") => ton::proof_payload(edge, gate),
        (Method::POST, "ton/proof") => ton::proof(edge, gate, payload).await,
        (_, "session" | "me" | "logout" | "staff" | "jwks.json" | "ton/proof-payload" | "ton/proof") => {
            error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "wrong method")
        }
        _ => error(StatusCode::NOT_FOUND, "not_found", "no such edge endpoint"),
    }
}

/// `POST /_tma/session`: launch data in, session cookie out. Says how it went: `Ok` with the
/// user (if the launch data had one) when a session was created, `Err` with the refusal's code.
fn open_session(edge: &Edge, gate: &Gate<'_>, body: &[u8]) -> (Res, Result<Option<i64>, &'static str>) {
    let (route, req, now) = (gate.route, gate.req, gate.now);
    if !edge.sessions().allow_attempt(req, &route.app_id) {
        let mut res = error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many sign-in attempts to this app from your address; wait a minute",
        );
        res.headers_mut().insert(header::RETRY_AFTER, value!("60"));
        return (res, Err("rate_limited"));
    }
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim_start().starts_with("application/json"));
    // JSON only: a cross-site form cannot send it without a CORS preflight, which fails.
    if !json {
        return (
            error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "json_required", "send {\"init_data\": \"…\"} as JSON"),
            Err("json_required"),
        );
    }
    #[derive(Deserialize)]
    struct Body {
        init_data: String,
    }
    let Ok(body) = serde_json::from_slice::<Body>(body) else {
        return (
            error(StatusCode::BAD_REQUEST, "bad_request", "send {\"init_data\": \"…\"} as JSON"),
            Err("bad_request"),
        );
    };
    let data = match verify_launch(route, &body.init_data, now) {
        Ok(d) => d,
        Err(d) => {
            tracing::info!(bot = %route.bot_id, app = %route.slug, reason = d.code(), "session refused");
            return (denied(&d), Err(d.code()));
        }
    };
    let ttl = i64::from(route.settings.session_ttl_secs);
    let claims = SessionClaims::from_launch(route, &data, now, ttl);
    let Some(jwt) = edge.sessions().mint(&claims) else {
        return (error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "could not create the session"), Err("internal"));
    };
    let user = data.user.as_ref().map(|u| u.id);
    (respond::session_opened(&jwt, ttl, claims.me(Via::Cookie.as_str())), Ok(user))
}

/// `GET /_tma/staff?code=…`: a deploy notice's button. The one-time code must be for this app
/// and for the deployment this host serves (the preview's, or the active one on the app's
/// host), and its recipient must still be staff; the answer is a session cookie for this app
/// and a redirect to `/`.
async fn staff_session(edge: &Edge, gate: &Gate<'_>, preview: Option<&str>) -> Res {
    let (route, req, now) = (gate.route, gate.req, gate.now);
    let refused = || {
        error(
            StatusCode::FORBIDDEN,
            "staff_code_refused",
            "this link was used already, has expired, or is for another app or version; open the newest notice again",
        )
    };
    let code = form_urlencoded::parse(req.query_string().as_bytes()).find(|(k, _)| k == "code").map(|(_, v)| v);
    let Some(code) = code.filter(|c| (20..=100).contains(&c.len())) else { return refused() };
    let deployment = match edge.deployment_of(route, preview).await {
        Ok(Some(d)) => d,
        Ok(None) => return refused(),
        Err(e) => return storage_unavailable(&e),
    };
    let redeemed = match edge.platform().redeem_staff_code(&code, &route.app_id, &deployment).await {
        Ok(Some(r)) => r,
        Ok(None) => return refused(),
        Err(e) => return storage_unavailable(&e),
    };
    if !route.staff.contains(&redeemed.user_id) {
        return refused();
    }
    let ttl = i64::from(route.settings.session_ttl_secs);
    let claims = SessionClaims::for_staff(route, redeemed.user_id, now, ttl);
    let Some(jwt) = edge.sessions().mint(&claims) else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "could not create the session");
    };
    respond::staff_session_opened(&jwt, ttl)
}
