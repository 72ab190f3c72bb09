//! `/_tma/*`: the edge's own endpoints, on every app's origin: `POST session` (launch data in,
//! cookie out), `GET me`, `POST logout`, `GET staff` (a deploy notice's button) and
//! `GET jwks.json` (the keys that verify `Tma-Identity`), and TON Connect proofs under `ton/`
//! (see [`crate::ton`]).

use std::time::Duration;

use bytes::Bytes;
use hyper::{Method, StatusCode};

use crate::respond::{self, error, storage_unavailable};
use crate::routing::AppRoute;
use crate::serve::deployment_of;
use crate::wire::{Payload, Req, Res};
use crate::{Edge, session};

/// Answers `/_tma/{rest}` for `route`.
pub(crate) async fn answer(
    edge: &Edge,
    route: &AppRoute,
    req: &Req,
    payload: Payload,
    rest: &str,
    now: i64,
    preview: Option<&str>,
) -> Res {
    let sessions = edge.sessions();
    match (req.method().clone(), rest) {
        (Method::POST, "session") => {
            let idle = Duration::from_secs(edge.platform().config().upload_idle_secs);
            let body = match read_body(payload, session::MAX_SESSION_BODY, idle).await {
                Ok(b) => b,
                Err(res) => return res,
            };
            let (res, outcome) = sessions.create(route, req, &body, now);
            match outcome {
                Ok(Some(user)) => edge.stats().session_created(&route.app_id, &route.counters, user),
                Ok(None) => {}
                Err(reason) => {
                    edge.metrics().session_refusals.get_or_create(&[("reason", reason)]).inc();
                }
            }
            res
        }
        (Method::GET, "me") => match sessions.identify(route, req, now) {
            Ok(Some(id)) => respond::private_json(id.claims.me(id.via)),
            Ok(None) => error(StatusCode::UNAUTHORIZED, "session_required", "no session: open the app from Telegram"),
            Err(denied) => denied.response(),
        },
        (Method::POST, "logout") => {
            // Only the app's own pages, and the platform's emulator (which clears the app it
            // frames), close its sessions: in Telegram Web every app's partitioned cookies share
            // one top-level site, so another app's page could otherwise log its users out.
            let origin = req.headers().get(hyper::header::ORIGIN);
            let emulator = origin.filter(|o| *o == edge.emulator().origin);
            if emulator.is_none() && crate::proxy::cross_site(req) {
                return error(
                    StatusCode::FORBIDDEN,
                    "cross_origin",
                    "sessions are only closed from the app's own pages",
                );
            }
            // The cookie is cleared either way; a live session is also revoked on every edge,
            // so a copy of the cookie stops working too.
            if let Ok(Some(id)) = sessions.identify(route, req, now)
                && id.via == "cookie"
            {
                sessions.revoke(id.claims.sid());
                if let Err(e) = edge.platform().revoke_edge_session(id.claims.sid(), id.claims.expires_at()).await {
                    tracing::warn!(error = %e, "logout: could not record the revocation for other edges");
                    return storage_unavailable(&e);
                }
            }
            respond::logged_out(emulator)
        }
        (Method::GET, "staff") => staff_session(edge, route, req, now, preview).await,
        (Method::GET | Method::HEAD, "jwks.json") => respond::jwks(edge.platform().identity().jwks()),
        (Method::GET, "ton/proof-payload") => crate::ton::proof_payload(edge, route, req, now),
        (Method::POST, "ton/proof") => crate::ton::proof(edge, route, req, payload, now).await,
        (_, "session" | "me" | "logout" | "staff" | "jwks.json" | "ton/proof-payload" | "ton/proof") => {
            error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "wrong method")
        }
        _ => error(StatusCode::NOT_FOUND, "not_found", "no such edge endpoint"),
    }
}

/// A request body of at most `limit` bytes, each chunk within `idle` of the last. Only the
/// edge's own POST endpoints read one, so file requests never wait for a body.
pub(crate) async fn read_body(mut payload: Payload, limit: usize, idle: Duration) -> Result<Bytes, Res> {
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

/// `GET /_tma/staff?code=…`: a deploy notice's button. The one-time code must be for this app
/// and for the deployment this host serves (the preview's, or the active one on the app's
/// host), and its recipient must still be staff; the answer is a session cookie for this app
/// and a redirect to `/`.
async fn staff_session(edge: &Edge, route: &AppRoute, req: &Req, now: i64, preview: Option<&str>) -> Res {
    let refused = || {
        error(
            StatusCode::FORBIDDEN,
            "staff_code_refused",
            "this link was used already, has expired, or is for another app or version; open the newest notice again",
        )
    };
    let code = form_urlencoded::parse(req.query_string().as_bytes()).find(|(k, _)| k == "code").map(|(_, v)| v);
    let Some(code) = code.filter(|c| (20..=100).contains(&c.len())) else { return refused() };
    let deployment = match deployment_of(edge, route, preview).await {
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
    let claims = session::SessionClaims::for_staff(route, redeemed.user_id, now, ttl);
    let Some(jwt) = edge.sessions().mint(&claims) else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "could not create the session");
    };
    respond::staff_session_opened(&jwt, ttl)
}
