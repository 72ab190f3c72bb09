//! Sessions behind initData: verifying launch data against an app's rules, the session JWT
//! (its audience is the app; it travels in a cookie) signed and checked with a cache of those
//! already verified, sign-in attempts counted, and revocations. No HTTP answers here: `gate`
//! and `endpoints` turn these into responses.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, RwLock};

use hyper::{StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tmahost_service::JwtKey;
use tmahost_service::Revocations;
use tmahost_service::SecretBytes;
use tmahost_types::{InitData, InitDataError, VerifiedInitData};

use crate::routing::AppRoute;
use crate::wire::{Req, SEC_FETCH_MODE, SEC_FETCH_SITE};

/// `{COOKIE}=`, as a request's `Cookie` header spells the pair.
const COOKIE_PREFIX: &str = "__Host-tma_session=";
/// `{LAUNCH_COOKIE}=`, likewise.
const LAUNCH_PREFIX: &str = "__Host-tma_launch=";
/// Longest launch data read from the launch cookie (browsers keep cookies up to 4 KB).
const MAX_LAUNCH_DATA: usize = 4096;
const ISSUER: &str = "tmahost-edge";
/// Longest request body accepted by `/_tma/session` (initData is capped at 16 KiB).
pub(crate) const MAX_SESSION_BODY: usize = 32 * 1024;

/// What a session cookie holds: the verified launch data the app may ask `/_tma/me` for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SessionClaims {
    iss: String,
    /// The app id: a cookie minted for one app is rejected by every other.
    aud: String,
    /// Telegram user id.
    sub: String,
    iat: i64,
    exp: i64,
    auth_date: i64,
    user: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    chat_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    chat_instance: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start_param: Option<String>,
    /// This session's id: `POST /_tma/logout` revokes it on every edge.
    #[serde(default)]
    sid: String,
    /// Opened with a staff code from a deploy notice: valid while the user is staff of the
    /// bot, whatever the app's allow-list or premium rule say.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    staff: bool,
    /// The TON wallet the user proved they control in this session (`POST /_tma/ton/proof`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wallet: Option<tmahost_types::ton::Wallet>,
}

/// A fresh, unguessable session id.
fn new_sid() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

impl SessionClaims {
    /// A staff member's session, opened by a deploy notice's one-time code.
    pub(crate) fn for_staff(route: &AppRoute, user_id: i64, now: i64, ttl: i64) -> Self {
        Self {
            iss: ISSUER.into(),
            aud: route.app_id.clone(),
            sub: user_id.to_string(),
            iat: now,
            exp: now + ttl,
            auth_date: now,
            user: json!({ "id": user_id }),
            chat_type: None,
            chat_instance: None,
            start_param: None,
            sid: new_sid(),
            staff: true,
            wallet: None,
        }
    }

    /// The Telegram user id, as launch data and cookies carry it.
    pub(crate) fn user_id(&self) -> Option<i64> {
        self.sub.parse().ok()
    }

    pub(crate) fn sid(&self) -> &str {
        &self.sid
    }

    /// The raw address of the wallet proved in this session, if any.
    pub(crate) fn wallet_address(&self) -> Option<&str> {
        self.wallet.as_ref().map(|w| w.address.as_str())
    }

    /// What an app's backend is told about this caller (`Tma-Identity`; `iss` is set when
    /// signed).
    pub(crate) fn identity(&self, now: i64) -> tmahost_service::identity::IdentityClaims {
        tmahost_service::identity::IdentityClaims {
            iss: String::new(),
            aud: self.aud.clone(),
            sub: self.sub.clone(),
            iat: now,
            exp: now + tmahost_service::identity::IDENTITY_TTL_SECS,
            auth_date: self.auth_date,
            user: self.user.clone(),
            chat_type: self.chat_type.clone(),
            chat_instance: self.chat_instance.clone(),
            start_param: self.start_param.clone(),
            sid: self.sid.clone(),
            wallet: self.wallet.clone(),
        }
    }

    /// The same session (id, lifetime) holding the wallet the user just proved.
    pub(crate) fn with_wallet(&self, wallet: tmahost_types::ton::Wallet) -> Self {
        Self { wallet: Some(wallet), ..self.clone() }
    }

    /// Seconds until the session's cookie expires.
    pub(crate) fn remaining(&self, now: i64) -> i64 {
        (self.exp - now).max(0)
    }
    pub(crate) fn expires_at(&self) -> i64 {
        self.exp
    }

    pub(crate) fn from_launch(route: &AppRoute, data: &VerifiedInitData, now: i64, ttl: i64) -> Self {
        let user = data.user.as_ref().map(|u| serde_json::to_value(u).unwrap_or_default()).unwrap_or_default();
        Self {
            iss: ISSUER.into(),
            aud: route.app_id.clone(),
            sub: data.user.as_ref().map(|u| u.id.to_string()).unwrap_or_default(),
            iat: now,
            exp: now + ttl,
            auth_date: data.auth_date,
            user,
            chat_type: data.get("chat_type").map(str::to_owned),
            chat_instance: data.get("chat_instance").map(str::to_owned),
            start_param: data.get("start_param").map(str::to_owned),
            sid: new_sid(),
            staff: false,
            wallet: None,
        }
    }

    /// The body of `/_tma/me` and of a successful `/_tma/session`.
    pub fn me(&self, via: &str) -> serde_json::Value {
        json!({
            "user": self.user,
            "chat_type": self.chat_type,
            "chat_instance": self.chat_instance,
            "start_param": self.start_param,
            "auth_date": self.auth_date,
            "expires_at": self.exp,
            "via": via,
            "staff": self.staff,
            "wallet": self.wallet,
        })
    }
}

/// Seconds a cookie is still taken after its `exp` (clock skew between edges).
const LEEWAY: i64 = 5;

/// Session signing keys, the cookies already verified and the per-IP limiter of session
/// creation.
pub(crate) struct Sessions {
    jwt: JwtKey,
    /// Cookies whose signature was checked: every gated request carries one, and an HMAC check
    /// plus JSON decoding costs microseconds where a lookup costs nanoseconds. Audience and
    /// expiry are checked on every hit; no time-to-live, which would read the clock on every
    /// lookup (expired cookies just age out by size).
    verified: quick_cache::sync::Cache<CookieTail, Arc<Verified>, CookieWeight, crate::FastHash>,
    attempts: crate::client::Attempts,
    /// Sessions logged out before their cookie expired, and users erased (from the database,
    /// refreshed with the routing table; a logout on this edge adds its session at once).
    revoked: RwLock<Revoked>,
    any_revoked: AtomicBool,
}

#[derive(Debug, Default)]
struct Revoked {
    sessions: HashSet<String>,
    /// User id → when their data was erased (ms): their sessions issued up to then are void.
    users: HashMap<i64, i64>,
}

impl Revoked {
    fn refuses(&self, c: &SessionClaims, user: i64) -> bool {
        self.sessions.contains(&c.sid)
            || self.users.get(&user).is_some_and(|erased| c.iat.saturating_mul(1000) <= *erased)
    }
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

/// Why launch data did not open a session.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Denied {
    #[error("{0}")]
    InitData(#[from] InitDataError),
    #[error("the launch data has no user")]
    NoUser,
    #[error("this app is open to a list of Telegram users, and you are not on it")]
    NotAllowed,
    #[error("this app is for Telegram Premium users")]
    PremiumRequired,
}

impl Denied {
    pub fn code(&self) -> &'static str {
        match self {
            Self::InitData(InitDataError::Expired { .. }) => "init_data_expired",
            Self::InitData(InitDataError::FromTheFuture) => "init_data_from_the_future",
            Self::InitData(InitDataError::BadSignature | InitDataError::MissingHash) => "init_data_bad_signature",
            Self::InitData(_) => "init_data_malformed",
            Self::NoUser => "init_data_no_user",
            Self::NotAllowed => "user_not_allowed",
            Self::PremiumRequired => "premium_required",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotAllowed | Self::PremiumRequired => StatusCode::FORBIDDEN,
            _ => StatusCode::UNAUTHORIZED,
        }
    }
}

/// Memory the verified-cookie cache may hold.
const VERIFIED_BYTES: u64 = 64 * 1024 * 1024;
/// What a cached cookie costs beyond its bytes: the decoded claims, the cache's bookkeeping and
/// allocator slack (~2.7 KB measured in tests/tests/soak.rs, where every session cookie is
/// distinct since each carries its own session id). Weighed so, or the cap would hold twice
/// the memory it says.
const COOKIE_ENTRY: u64 = 2048;

/// The key of a verified cookie: its last bytes, which are its signature's (HMAC output, so
/// uniform). Hashing them instead of the whole ~300-byte cookie halves the cost of a hit; the
/// entry keeps the whole cookie, compared on every hit, so a tail alone never stands for a
/// cookie.
type CookieTail = crate::UniformKey<16>;

/// A cookie whose signature and claims were checked, and what it says.
struct Verified {
    cookie: Box<[u8]>,
    claims: Arc<SessionClaims>,
    /// `sub` as a Telegram user id, read once (`None`: not a number, never admitted).
    user: Option<i64>,
}

/// A verified cookie weighs its bytes plus [`COOKIE_ENTRY`].
#[derive(Debug, Clone, Copy)]
struct CookieWeight;

impl quick_cache::Weighter<CookieTail, Arc<Verified>> for CookieWeight {
    fn weight(&self, _: &CookieTail, v: &Arc<Verified>) -> u64 {
        v.cookie.len() as u64 + COOKIE_ENTRY
    }
}

impl Sessions {
    /// `per_minute` sign-in attempts per client and app; clients behind `trusted_proxies` are
    /// told apart by the addresses those proxies forward.
    /// `signing` is the platform's [`tmahost_service::KeyPurpose::EdgeSessionSigning`] key.
    pub fn new(signing: &SecretBytes, per_minute: u32, trusted_proxies: Vec<ipnet::IpNet>) -> Self {
        Self {
            jwt: JwtKey::new(signing, ISSUER).requiring_audience().with_leeway(LEEWAY.unsigned_abs()),
            verified: quick_cache::sync::Cache::with(
                (VERIFIED_BYTES / COOKIE_ENTRY) as usize,
                VERIFIED_BYTES,
                CookieWeight,
                crate::FastHash::default(),
                Default::default(),
            ),
            attempts: crate::client::Attempts::new(per_minute, trusted_proxies),
            revoked: RwLock::default(),
            any_revoked: AtomicBool::new(false),
        }
    }

    /// Replaces the refusal lists (read from the database).
    pub fn set_revoked(&self, r: Revocations) {
        let mut set = self.revoked.write().unwrap_or_else(|e| e.into_inner());
        *set = Revoked { sessions: r.sessions.into_iter().collect(), users: r.users.into_iter().collect() };
        self.any_revoked.store(!set.sessions.is_empty() || !set.users.is_empty(), Ordering::Release);
    }

    /// Ends a session on this edge at once (the database tells the others).
    pub fn revoke(&self, sid: &str) {
        self.revoked.write().unwrap_or_else(|e| e.into_inner()).sessions.insert(sid.to_owned());
        self.any_revoked.store(true, Ordering::Release);
    }

    /// Whether a session, still signed and unexpired, is still admitted by what the app and
    /// the platform say now: not logged out, its user still on the allow-list (and premium if
    /// required), or, for a staff session, still staff. Checked on every request, so access
    /// changes take effect on the next one, not when the cookie expires.
    /// `user`: the claims' `sub` as a number.
    fn admits(&self, route: &AppRoute, c: &SessionClaims, user: i64) -> bool {
        if c.sid.is_empty() {
            return false;
        }
        if self.any_revoked.load(Ordering::Acquire)
            && self.revoked.read().unwrap_or_else(|e| e.into_inner()).refuses(c, user)
        {
            return false;
        }
        if c.staff {
            return route.staff.contains(&user);
        }
        // The user object is read only for apps that ask for premium users.
        let premium = || c.user.get("is_premium").and_then(serde_json::Value::as_bool) == Some(true);
        admitted(route, user, route.settings.premium_only && premium()).is_ok()
    }

    pub fn mint(&self, claims: &SessionClaims) -> Option<String> {
        self.jwt.sign(claims).ok()
    }

    /// The claims of a cookie valid for this app at `now`.
    /// The cookie comes as raw header bytes: a cached one is never checked as text.
    pub fn check(&self, route: &AppRoute, jwt: &[u8], now: i64) -> Option<Arc<SessionClaims>> {
        let tail = crate::UniformKey(jwt.last_chunk().copied()?);
        let (claims, user) = match self.verified.get(&tail) {
            Some(v) if *v.cookie == *jwt => (v.claims.clone(), v.user),
            // Unknown, or another cookie with the same tail (a forgery, or a sheer accident):
            // checked in full, and kept in its place only once it passes.
            _ => {
                let claims = Arc::new(self.decode(std::str::from_utf8(jwt).ok()?)?);
                let user = claims.sub.parse().ok();
                self.verified.insert(tail, Arc::new(Verified { cookie: jwt.into(), claims: claims.clone(), user }));
                (claims, user)
            }
        };
        let user = user?;
        (claims.aud == route.app_id && now < claims.exp + LEEWAY && self.admits(route, &claims, user)).then_some(claims)
    }

    /// Verifies a cookie's signature and claims (any app: the caller checks the audience).
    pub fn decode(&self, jwt: &str) -> Option<SessionClaims> {
        self.jwt.verify(jwt).ok()
    }

    /// Whether `req`'s client may try to sign in to the app once more (a bucket per client
    /// and app).
    pub fn allow_attempt(&self, req: &Req, app_id: &str) -> bool {
        self.attempts.allow(req, app_id)
    }
}

/// Verifies launch data for this app: HMAC with its bot's token (never the control bot's:
/// launch data reaches the app's JavaScript, which could replay it at any other app where the
/// user is staff), `auth_date` age, then the app's access rules.
pub(crate) fn verify_launch(route: &AppRoute, raw: &str, now: i64) -> Result<VerifiedInitData, Denied> {
    let max_age = u64::from(route.settings.max_init_data_age_secs);
    let (data, _) = InitData::verify_raw(raw, &[&route.init_key], now, max_age)?;
    let user = data.user.as_ref().ok_or(Denied::NoUser)?;
    admitted(route, user.id, user.is_premium == Some(true))?;
    Ok(data)
}

/// The app's access rules for one Telegram user: its allow-list and its premium rule.
fn admitted(route: &AppRoute, user: i64, premium: bool) -> Result<(), Denied> {
    if let Some(allowed) = &route.allowed
        && !allowed.contains(&user)
    {
        return Err(Denied::NotAllowed);
    }
    if route.settings.premium_only && !premium {
        return Err(Denied::PremiumRequired);
    }
    Ok(())
}

/// The session cookie's value, read straight from the raw header bytes: a cookie jar
/// would copy every cookie of the request first, and checking the whole header as a string
/// and splitting it char by char cost more than the rest of a gated request's own work (the
/// header is hundreds of bytes: the JWT).
pub(crate) fn cookie(req: &Req) -> Option<&[u8]> {
    req.headers().get_all(header::COOKIE).iter().find_map(|v| session_cookie_value(v.as_bytes()))
}

/// `__Host-tma_session`'s value in a `Cookie` header: the name must start a cookie-pair (at
/// the start, or after `;` and spaces), so `x__Host-tma_session=` is another cookie.
pub(crate) fn session_cookie_value(header: &[u8]) -> Option<&[u8]> {
    static FINDER: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new(COOKIE_PREFIX));
    let name = COOKIE_PREFIX.as_bytes();
    // Most requests send the session cookie alone, or first.
    if let Some(value) = header.strip_prefix(name) {
        let end = memchr::memchr(b';', value).unwrap_or(value.len());
        return Some(value[..end].trim_ascii_end());
    }
    let finder = &*FINDER;
    let mut from = 0;
    while let Some(i) = finder.find(&header[from..]) {
        let at = from + i;
        let before = header[..at].iter().rev().find(|b| !matches!(b, b' ' | b'\t'));
        if matches!(before, None | Some(b';')) {
            let value = &header[at + name.len()..];
            let end = memchr::memchr(b';', value).unwrap_or(value.len());
            return Some(value[..end].trim_ascii_end());
        }
        from = at + name.len();
    }
    None
}

/// Launch data the gate page left in `__Host-tma_launch` (percent-encoded, as cookie values
/// must be), on a same-origin navigation only: the gate page's own reload of the app. Any other
/// request that carries it (a copy sent along by a subresource, a navigation from another
/// site) does not count.
pub(crate) fn launch_cookie(req: &Req) -> Option<String> {
    if req.headers().get_all(SEC_FETCH_SITE).iter().map(|v| v.as_bytes()).ne([b"same-origin".as_slice()]) {
        return None;
    }
    let value = carries_launch_cookie(req)?;
    let data = percent_encoding::percent_decode(value).decode_utf8().ok()?;
    (!data.is_empty() && data.len() <= MAX_LAUNCH_DATA).then(|| data.into_owned())
}

/// The raw `__Host-tma_launch` value a navigation carries, from any site (the edge clears
/// the cookie on any navigation that sends it). Other requests are not looked at.
pub(crate) fn carries_launch_cookie(req: &Req) -> Option<&[u8]> {
    if req.headers().get(SEC_FETCH_MODE).map(|v| v.as_bytes()) != Some(b"navigate") {
        return None;
    }
    let name = LAUNCH_PREFIX.as_bytes();
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .find_map(|v| v.as_bytes().split(|b| *b == b';').find_map(|pair| pair.trim_ascii().strip_prefix(name)))
}

/// The launch data of an `Authorization: tma <initData>` header.
pub(crate) fn authorization_tma(req: &Req) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("tma").then(|| rest.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_only_as_a_whole_cookie_pair() {
        assert_eq!(COOKIE_PREFIX, format!("{}=", crate::respond::COOKIE));
        fn v(h: &str) -> Option<&str> {
            session_cookie_value(h.as_bytes()).map(|b| std::str::from_utf8(b).expect("ascii"))
        }
        assert_eq!(v("__Host-tma_session=abc.def"), Some("abc.def"));
        assert_eq!(v("theme=dark; __Host-tma_session=abc ; other=1"), Some("abc"));
        assert_eq!(v("theme=dark;__Host-tma_session=abc"), Some("abc"));
        assert_eq!(v("x__Host-tma_session=evil; __Host-tma_session=good"), Some("good"));
        assert_eq!(v("a=__Host-tma_session=evil"), None);
        assert_eq!(v("__Host-tma_session="), Some(""));
        assert_eq!(v("__Host-tma_sessions=x"), None);
        assert_eq!(v("theme=dark"), None);
        assert_eq!(session_cookie_value(b"__Host-tma_session=\xff\xfe; a=b"), Some(&b"\xff\xfe"[..]));
        assert_eq!(v("__Host-tma_session=abc ; theme=dark"), Some("abc"));
    }

    #[test]
    fn the_launch_cookie_is_read_whole_and_decoded_on_same_origin_navigations_only() {
        assert_eq!(LAUNCH_PREFIX, format!("{}=", tmahost_types::cookie::LAUNCH_COOKIE));
        let read = |cookie: &str, site: &str| {
            let req = hyper::Request::builder()
                .header("cookie", cookie)
                .header("sec-fetch-mode", "navigate")
                .header("sec-fetch-site", site);
            launch_cookie(&Req::test(req))
        };
        assert_eq!(read("__Host-tma_launch=user%3D1%26hash%3Dab", "same-origin").as_deref(), Some("user=1&hash=ab"));
        assert_eq!(read("a=1;  __Host-tma_launch=x%20y ; b=2", "same-origin").as_deref(), Some("x y"));
        assert_eq!(read("x__Host-tma_launch=evil", "same-origin"), None);
        assert_eq!(read("a=__Host-tma_launch=evil", "same-origin"), None);
        assert_eq!(read("__Host-tma_launch=", "same-origin"), None);
        assert_eq!(read("__Host-tma_launch=%FF", "same-origin"), None);
        assert_eq!(read(&format!("__Host-tma_launch={}", "a".repeat(MAX_LAUNCH_DATA + 1)), "same-origin"), None);
        assert_eq!(read("__Host-tma_launch=x", "same-site"), None);
        assert_eq!(read("__Host-tma_launch=x", "none"), None);
    }

    #[test]
    fn a_cached_cookie_stands_only_for_itself() {
        let sessions = Sessions::new(
            &tmahost_service::MasterKey::generate().derive(tmahost_service::KeyPurpose::EdgeSessionSigning),
            10,
            Vec::new(),
        );
        let route = crate::routing::tests::route("main");
        let now = crate::now_secs();
        let mut claims = SessionClaims::for_staff(&route, 7, now, 3_600);
        claims.staff = false;
        let cookie = sessions.mint(&claims).expect("signed");
        let seen = sessions.check(&route, cookie.as_bytes(), now).expect("valid");
        assert_eq!(seen.sub, "7");
        // Cached now. Another payload under the same signature (so the same tail) is a forgery,
        // refused however often it is tried, and the genuine cookie still works after it.
        let mut other = SessionClaims::for_staff(&route, 8, now, 3_600);
        other.staff = false;
        let other = sessions.mint(&other).expect("signed");
        let signature = cookie.rsplit_once('.').expect("jwt").1;
        let forged = format!("{}.{signature}", other.rsplit_once('.').expect("jwt").0);
        assert_eq!(forged.as_bytes().last_chunk::<16>(), cookie.as_bytes().last_chunk::<16>());
        for _ in 0..2 {
            assert!(sessions.check(&route, forged.as_bytes(), now).is_none());
        }
        assert_eq!(sessions.check(&route, cookie.as_bytes(), now).expect("still valid").sub, "7");
        // Too short to be a cookie at all.
        assert!(sessions.check(&route, b"abc", now).is_none());
    }
}
