//! The gate: who the caller is (a session cookie, else `Authorization: tma <initData>`),
//! worked out at most once per request into a [`Caller`]; whether a path needs one; whether a
//! browser sent the request from another site; and the answers for those refused. Every
//! handler (files, app backends, `/_tma/*`) asks the same [`Gate`].

use std::sync::{Arc, OnceLock};

use hyper::header::{self, HeaderName};
use hyper::{Method, StatusCode};
use tmahost_service::model::Access;

use crate::respond::{self, error};
use crate::routing::AppRoute;
use crate::session::{
    Denied, SessionClaims, Sessions, authorization_tma, carries_launch_cookie, cookie, launch_cookie, verify_launch,
};
use crate::state::Edge;
use crate::wire::{Req, Res, SEC_FETCH_DEST, SEC_FETCH_MODE, SEC_FETCH_SITE};

/// How the caller showed who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    /// The app's session cookie: sent by the browser on its own, so it counts only on requests
    /// from the app's own pages (see [`cross_site`]).
    Cookie,
    /// `Authorization: tma <initData>`: launch data the caller's script sent on purpose.
    Authorization,
    /// The gate page's launch cookie, on its navigation back to the app: the answer sets the
    /// session cookie (see [`Gate::settle_launch`]).
    Launch,
}

impl Via {
    /// As `/_tma/me` reports it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cookie => "cookie",
            Self::Authorization => "authorization",
            Self::Launch => "launch",
        }
    }
}

/// A caller the edge recognised.
#[derive(Debug)]
pub(crate) struct Caller {
    pub claims: Arc<SessionClaims>,
    pub via: Via,
}

/// One request to one app, before a handler answers it.
pub(crate) struct Gate<'r> {
    pub route: &'r AppRoute,
    pub req: &'r Req,
    /// Seconds since the epoch, read once per request.
    pub now: i64,
    sessions: &'r Sessions,
    caller: OnceLock<Result<Option<Caller>, Denied>>,
    /// Why a launch cookie was refused, for the refusal counter.
    launch_refused: OnceLock<&'static str>,
}

impl<'r> Gate<'r> {
    pub fn new(sessions: &'r Sessions, route: &'r AppRoute, req: &'r Req, now: i64) -> Self {
        Self { route, req, now, sessions, caller: OnceLock::new(), launch_refused: OnceLock::new() }
    }

    /// Who the request is: a valid session cookie, else valid `Authorization: tma` launch
    /// data, else nobody. `Err` only when an `Authorization: tma` header was sent and is
    /// refused. Worked out on the first call; later calls read the answer.
    pub fn caller(&self) -> Result<Option<&Caller>, &Denied> {
        self.caller.get_or_init(|| self.identify()).as_ref().map(Option::as_ref)
    }

    fn identify(&self) -> Result<Option<Caller>, Denied> {
        let (route, now) = (self.route, self.now);
        if let Some(claims) = cookie(self.req).and_then(|c| self.sessions.check(route, c, now)) {
            return Ok(Some(Caller { claims, via: Via::Cookie }));
        }
        let Some(raw) = authorization_tma(self.req) else { return Ok(self.launch()) };
        let data = verify_launch(route, raw, now)?;
        let claims = SessionClaims::from_launch(route, &data, now, i64::from(route.settings.session_ttl_secs));
        Ok(Some(Caller { claims: Arc::new(claims), via: Via::Authorization }))
    }

    /// A session from the gate page's launch cookie, under the same rules and attempt limit
    /// as `POST /_tma/session`. A refusal leaves the caller unknown: the gate page answers
    /// again, and its `POST /_tma/session` shows the user why.
    fn launch(&self) -> Option<Caller> {
        let (route, now) = (self.route, self.now);
        let raw = launch_cookie(self.req)?;
        let verified = if self.sessions.allow_attempt(self.req, &route.app_id) {
            verify_launch(route, &raw, now).map_err(|d| d.code())
        } else {
            Err("rate_limited")
        };
        match verified {
            Ok(data) => {
                let ttl = i64::from(route.settings.session_ttl_secs);
                let claims = SessionClaims::from_launch(route, &data, now, ttl);
                Some(Caller { claims: Arc::new(claims), via: Via::Launch })
            }
            Err(reason) => {
                tracing::info!(bot = %route.bot_id, app = %route.slug, reason, "launch cookie refused");
                let _ = self.launch_refused.set(reason);
                None
            }
        }
    }

    /// Finishes the answer to a navigation that carried the launch cookie: the cookie is
    /// cleared (it is for one navigation), and a session it opened becomes the session cookie,
    /// counted as `POST /_tma/session` counts its own.
    pub fn settle_launch(&self, edge: &Edge, res: &mut Res) {
        if carries_launch_cookie(self.req).is_none() {
            return;
        }
        respond::clear_launch_cookie(res);
        let route = self.route;
        if let Some(Ok(Some(c))) = self.caller.get()
            && c.via == Via::Launch
        {
            let Some(jwt) = edge.sessions().mint(&c.claims) else {
                tracing::warn!(bot = %route.bot_id, app = %route.slug, "could not sign a session from a launch cookie");
                return;
            };
            respond::set_session_cookie(res, &jwt, i64::from(route.settings.session_ttl_secs));
            edge.metrics().sessions_opened.get_or_create(&[("via", "launch")]).inc();
            if let Some(user) = c.claims.user_id() {
                edge.stats().session_created(&route.app_id, &route.counters, user);
            }
        } else if let Some(reason) = self.launch_refused.get() {
            edge.metrics().session_refusals.get_or_create(&[("reason", reason)]).inc();
        }
    }

    /// Whether `path` needs a session on this app.
    pub fn is_gated(&self, path: &str) -> bool {
        is_gated(self.route, path)
    }

    /// Whether a browser sent this request from another site (see [`cross_site`]).
    pub fn cross_site(&self) -> bool {
        cross_site(self.req)
    }

    /// The answer for a request that shows no valid session: the gate page for navigations, a
    /// JSON 401 for the rest, or why the launch data was refused. `None`: the caller is known.
    pub fn refusal(&self) -> Option<Res> {
        match self.caller() {
            Ok(Some(_)) => None,
            Ok(None) if wants_html(self.req) => Some(respond::gate_page()),
            Ok(None) => Some(session_required()),
            Err(d) => Some(denied(d)),
        }
    }
}

/// Whether a request must show a session: gated app and not a public path.
fn is_gated(route: &AppRoute, path: &str) -> bool {
    route.settings.access == Access::Gated && !is_public_path(&route.settings.public_paths, path)
}

/// `public_paths` entries match exactly, or as a prefix when they end with `*`.
fn is_public_path(public: &[String], path: &str) -> bool {
    public.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => p == path,
    })
}

/// Whether a browser sent this request from another origin than the one it goes to, other
/// than a top-level navigation (what `SameSite=Lax` would let through). `Sec-Fetch-Site` says
/// so where browsers send it; otherwise `Origin` is compared with `Host`. Requests with
/// neither come from outside browsers, whose holder of the cookie is the user.
pub(crate) fn cross_site(req: &Req) -> bool {
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

/// Navigations get the gate page; scripts and fetches get a JSON 401.
fn wants_html(req: &Req) -> bool {
    let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let dest = req.headers().get(SEC_FETCH_DEST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    *req.method() == Method::GET && (accept.contains("text/html") || dest == "document" || dest == "iframe")
}

/// The JSON 401 for a script or fetch without a session (files and app backends alike).
pub(crate) fn session_required() -> Res {
    error(
        StatusCode::UNAUTHORIZED,
        "session_required",
        "open the app from Telegram, or send `Authorization: tma <initData>`",
    )
}

/// Why launch data was refused, in the edge's error shape.
pub(crate) fn denied(d: &Denied) -> Res {
    error(d.status(), d.code(), &d.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
