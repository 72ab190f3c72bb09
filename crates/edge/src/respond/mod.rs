//! Every response the edge sends: served files (`file`), and here the rest: errors (the API's
//! JSON shape), plain-text statuses, the gate page, redirects, session cookies, and the headers
//! every response carries before the bundle's `_headers` apply.

mod file;

use std::borrow::Cow;

use hyper::StatusCode;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde::Serialize;
use tmahost_deploy::{Rules, rules::HeaderChange};
use tmahost_service::ServiceError;
use tmahost_types::ErrorBody;

use crate::wire::{BodyError, Reply, Res, X_REQUEST_ID, value};

pub(crate) use file::{FileHeaders, FileReply, file_response};

/// Telegram shows Mini Apps in an iframe on its web clients; nothing else may frame them but
/// the platform's emulator, whose origin the edge appends (see `serve::handle`).
pub(crate) const DEFAULT_CSP: &str = "frame-ancestors 'self' https://web.telegram.org";

/// The session cookie's name; `__Host-`: no Domain, Path=/, Secure.
pub(crate) const COOKIE: &str = tmahost_types::cookie::SESSION_COOKIE;

const GATE_PAGE: &str = include_str!("../gate.html");

/// Characters escaped when a redirect destination built from the request goes into `Location`.
const LOCATION: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'<').add(b'>').add(b'`').add(b'\\');

/// Methods a file path answers.
const FILE_METHODS: &str = "GET, HEAD, OPTIONS";

/// Headers on every edge response, before the bundle's `_headers` may change them. Appended:
/// every caller builds a fresh response that sets none of them (files start from a
/// [`FileHeaders`] shape, which holds them).
pub(crate) fn security_headers(res: &mut Reply) {
    res.append_header((header::X_CONTENT_TYPE_OPTIONS, value!(NOSNIFF)))
        .append_header((header::CONTENT_SECURITY_POLICY, value!(DEFAULT_CSP)))
        .append_header((header::REFERRER_POLICY, value!(REFERRER_POLICY)));
}

const NOSNIFF: &str = "nosniff";
const REFERRER_POLICY: &str = "strict-origin-when-cross-origin";

/// The bundle's `_headers` for `path`: a set header replaces the platform's, `! Name` removes it.
/// `X-Request-Id` stays the edge's (it names the request in the platform's logs).
pub(crate) fn apply_rules(headers: &mut HeaderMap, rules: &Rules, path: &str) {
    if rules.headers.is_empty() {
        return;
    }
    for change in rules.headers_for(path) {
        let (HeaderChange::Set(name, _) | HeaderChange::Unset(name)) = &change;
        let Ok(n) = HeaderName::try_from(name) else { continue };
        if n == X_REQUEST_ID {
            continue;
        }
        match change {
            HeaderChange::Set(_, value) => {
                if let Ok(v) = HeaderValue::try_from(value) {
                    headers.insert(n, v);
                }
            }
            HeaderChange::Unset(_) => {
                headers.remove(n);
            }
        }
    }
}

/// A short plain-text answer (`404 Not Found`, health checks), never cached.
pub(crate) fn plain(status: StatusCode, text: &'static str) -> Res {
    let mut res = Reply::build(status);
    res.insert_header((header::CACHE_CONTROL, value!("no-store"))).content_type(value!("text/plain; charset=utf-8"));
    security_headers(&mut res);
    res.body(text)
}

pub(crate) fn not_found() -> Res {
    plain(StatusCode::NOT_FOUND, "404 Not Found\n")
}

/// The edge's error shape, the same as the API's.
pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Res {
    let mut res = Reply::build(status);
    res.insert_header((header::CACHE_CONTROL, value!("no-store")));
    security_headers(&mut res);
    res.json(ErrorBody::new(code, message))
}

/// A JSON answer meant for one user (their session), never cached.
/// A request body the edge could not read (see [`crate::wire::read_body`]).
pub(crate) fn body_refused(e: BodyError) -> Res {
    match e {
        BodyError::Stalled => {
            error(StatusCode::REQUEST_TIMEOUT, "request_timeout", "the request body stalled; send it again")
        }
        BodyError::Malformed => error(StatusCode::BAD_REQUEST, "bad_request", "the request body is malformed"),
        BodyError::TooLarge(limit) => error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            &format!("the request body is over {limit} bytes"),
        ),
    }
}

pub(crate) fn private_json(body: impl Serialize) -> Res {
    let mut res = Reply::build(StatusCode::OK);
    res.insert_header((header::CACHE_CONTROL, value!("no-store")));
    security_headers(&mut res);
    res.json(body)
}

/// The identity keys: public, the same for every app, readable from anywhere (backends fetch
/// them), cached briefly so a rotation reaches verifiers within minutes.
pub(crate) fn jwks(keys: serde_json::Value) -> Res {
    let mut res = Reply::build(StatusCode::OK);
    res.insert_header((header::CACHE_CONTROL, value!("public, max-age=300")))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, value!("*")));
    security_headers(&mut res);
    res.json(keys)
}

/// A page of a disabled bot's app.
pub(crate) fn disabled() -> Res {
    let mut res = Reply::build(StatusCode::FORBIDDEN);
    res.insert_header((header::CACHE_CONTROL, value!("no-store"))).content_type(value!("text/html; charset=utf-8"));
    security_headers(&mut res);
    res.body(
        "<!doctype html><meta charset=utf-8><meta name=viewport content=\"width=device-width\">\
         <title>Unavailable</title><h1>This Mini App is unavailable</h1>\
         <p>Its bot has been disabled on this platform.</p>",
    )
}

/// What was needed is neither cached nor readable now (database or object store down).
pub(crate) fn storage_unavailable(e: &ServiceError) -> Res {
    tracing::error!(error = %e, "edge: storage unavailable");
    let mut res = plain(StatusCode::SERVICE_UNAVAILABLE, "503 Service Unavailable: try again shortly\n");
    res.headers_mut().insert(header::RETRY_AFTER, value!("5"));
    res
}

/// The gate: for page requests without a session. Never cached.
pub(crate) fn gate_page() -> Res {
    let mut res = Reply::build(StatusCode::UNAUTHORIZED);
    res.insert_header((header::CACHE_CONTROL, value!("no-store"))).content_type(value!("text/html; charset=utf-8"));
    security_headers(&mut res);
    res.body(GATE_PAGE)
}

/// A file path asked with a method other than GET, HEAD and OPTIONS.
pub(crate) fn method_not_allowed() -> Res {
    let mut res = plain(StatusCode::METHOD_NOT_ALLOWED, "405 Method Not Allowed\n");
    res.headers_mut().insert(header::ALLOW, value!(FILE_METHODS));
    res
}

/// `OPTIONS` on a file path; a preflight is answered only where any origin may read.
pub(crate) fn options(any_origin: bool) -> Res {
    let mut res = Reply::build(StatusCode::NO_CONTENT);
    res.insert_header((header::ALLOW, value!(FILE_METHODS)));
    if any_origin {
        res.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, value!("*")))
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, value!(FILE_METHODS)))
            .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, value!("*")))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, value!("86400")));
    }
    res.finish()
}

/// The app's TON Connect manifest for the host a wallet asked (`origin`): public, readable
/// from any origin (wallets fetch it from theirs), cached briefly.
pub(crate) fn ton_connect_manifest(m: &tmahost_service::model::TonConnectManifest, origin: &str) -> Res {
    let mut res = Reply::build(StatusCode::OK);
    res.insert_header((header::CACHE_CONTROL, value!("public, max-age=60")))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, value!("*")));
    security_headers(&mut res);
    res.json(tmahost_service::ton_connect::manifest(m, origin))
}

/// Lets any origin read the response (wallets fetch `tonconnect-manifest.json`).
pub(crate) fn allow_any_origin(res: &mut Res) {
    res.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value!("*"));
}

/// A `_redirects` answer. `Location` never starts with `//` or `/\\` (or `\\`): browsers read
/// those as another site, and a splat or placeholder can put request text there.
pub(crate) fn redirect(status: StatusCode, location: &str, gated: bool, rules: &Rules, path: &str) -> Res {
    let location = same_origin_location(location);
    let mut res = Reply::build(status);
    let cache = if gated { value!("private, no-cache") } else { value!("public, no-cache") };
    res.insert_header((header::LOCATION, utf8_percent_encode(&location, LOCATION).to_string()))
        .insert_header((header::CACHE_CONTROL, cache));
    security_headers(&mut res);
    let mut res = res.finish();
    apply_rules(res.headers_mut(), rules, path);
    res
}

/// A relative `Location` kept on this origin: leading slashes and backslashes collapse into one
/// slash. Absolute URLs (`https://…`, written by the bundle's author) are left alone.
fn same_origin_location(location: &str) -> Cow<'_, str> {
    let rest = location.trim_start_matches(['/', '\\']);
    if rest.len() + 1 < location.len() || location.starts_with('\\') {
        Cow::Owned(format!("/{rest}"))
    } else {
        Cow::Borrowed(location)
    }
}

fn session_cookie(jwt: &str, max_age: i64) -> String {
    // Partitioned: Telegram Web frames the app, and only partitioned cookies survive in
    // third-party iframes.
    format!("{COOKIE}={jwt}; Path=/; Max-Age={max_age}; Secure; HttpOnly; SameSite=None; Partitioned")
}

/// Adds the session cookie to an answer (a navigation that opened a session on its way).
pub(crate) fn set_session_cookie(res: &mut Res, jwt: &str, ttl: i64) {
    if let Ok(v) = HeaderValue::from_str(&session_cookie(jwt, ttl)) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Clears the gate page's launch cookie, with the attributes it was set with.
pub(crate) fn clear_launch_cookie(res: &mut Res) {
    const CLEARED: HeaderValue =
        HeaderValue::from_static("__Host-tma_launch=; Path=/; Max-Age=0; Secure; SameSite=None; Partitioned");
    res.headers_mut().append(header::SET_COOKIE, CLEARED);
}

/// A session opened from launch data: the cookie, and who it is for.
pub(crate) fn session_opened(jwt: &str, ttl: i64, me: impl Serialize) -> Res {
    let mut res = Reply::build(StatusCode::OK);
    res.insert_header((header::SET_COOKIE, session_cookie(jwt, ttl)))
        .insert_header((header::CACHE_CONTROL, value!("no-store")));
    security_headers(&mut res);
    res.json(me)
}

/// A staff session opened with a deploy notice's code: the cookie, and on to the app. Browsers
/// keep the URL's fragment across the redirect, so the app's SDK still finds its launch data.
pub(crate) fn staff_session_opened(jwt: &str, ttl: i64) -> Res {
    let mut res = Reply::build(StatusCode::SEE_OTHER);
    res.insert_header((header::SET_COOKIE, session_cookie(jwt, ttl)))
        .insert_header((header::LOCATION, value!("/")))
        .insert_header((header::CACHE_CONTROL, value!("no-store")));
    security_headers(&mut res);
    res.finish()
}

/// `/_tma/logout`: the cookie cleared. `emulator` is the emulator's origin when it asked: it
/// clears the framed app's session before launching it as another user, and must read the
/// answer with credentials.
pub(crate) fn logged_out(emulator: Option<&HeaderValue>) -> Res {
    let mut res = Reply::build(StatusCode::NO_CONTENT);
    res.insert_header((header::SET_COOKIE, session_cookie("", 0)))
        .insert_header((header::CACHE_CONTROL, value!("no-store")));
    if let Some(origin) = emulator {
        res.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone()))
            .insert_header((header::ACCESS_CONTROL_ALLOW_CREDENTIALS, value!("true")))
            .insert_header((header::VARY, value!("Origin")));
    }
    security_headers(&mut res);
    res.finish()
}

#[cfg(test)]
mod tests {
    use super::same_origin_location;

    #[test]
    fn relative_locations_stay_on_this_origin() {
        for (given, sent) in [
            ("/a", "/a"),
            ("//evil.example/x", "/evil.example/x"),
            ("/\\evil.example", "/evil.example"),
            ("\\\\evil.example", "/evil.example"),
            ("\\x", "/x"),
            ("https://example.com/", "https://example.com/"),
            ("relative", "relative"),
        ] {
            assert_eq!(same_origin_location(given), sent, "{given}");
        }
    }
}
