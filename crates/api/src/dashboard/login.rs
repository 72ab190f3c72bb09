//! Signing in and out: the Login Widget (when Telegram can redirect back), one-time links sent
//! by the control bot (confirmed by a same-origin POST), and the session cookie.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use tera::Context;
use tmahost_service::now_ms;
use tmahost_service::{Actor, Platform, ServiceError};

use super::*;

/// The Login Widget is offered where Telegram can redirect back: an https public URL (the
/// domain set for the control bot with @BotFather's /setdomain).
async fn widget_context(p: &Platform) -> Context {
    let mut ctx = Context::new();
    if p.config().api_url().starts_with("https://")
        && let Some(name) = p.control_bot_username().await
    {
        ctx.insert("widget_bot", &name);
        ctx.insert("widget_auth_url", &format!("{}/login/telegram", p.config().api_url()));
    }
    ctx
}

pub(super) async fn login_page(d: web::Data<Dashboard>, p: web::Data<Platform>) -> HttpResponse {
    d.render_with(StatusCode::OK, "login.html", &widget_context(&p).await, LOGIN_CSP)
}

/// The widget's redirect: `?id=…&first_name=…&auth_date=…&hash=…`.
pub(super) async fn widget_login(d: web::Data<Dashboard>, p: web::Data<Platform>, req: HttpRequest) -> HttpResponse {
    let fields: Vec<(String, String)> = form_urlencoded::parse(req.query_string().as_bytes()).into_owned().collect();
    match p.widget_login(&fields).await {
        Ok(actor) => start_session(&d, &actor),
        Err(e @ (ServiceError::Unauthorized(_) | ServiceError::Forbidden(_))) => {
            let mut ctx = widget_context(&p).await;
            ctx.insert("problem", &format!("Telegram login refused: {e}."));
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNAUTHORIZED);
            d.render_with(status, "login.html", &ctx, LOGIN_CSP)
        }
        Err(e) => d.error_page(None, &e),
    }
}

/// Signs the actor in: the session cookie, then the bots page.
fn start_session(d: &Dashboard, actor: &Actor) -> HttpResponse {
    let Some(user_id) = actor.telegram_user() else { return login_refused(d) };
    let Some((jwt, _)) = d.keys.mint(user_id, now_ms() / 1000) else {
        return d.error_page(None, &ServiceError::Internal("could not sign the session".into()));
    };
    tracing::info!(user_id, "dashboard login");
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/"))
        .insert_header((header::SET_COOKIE, session::cookie(&jwt, session::TTL_SECS)))
        .finish()
}

/// The page behind a login link: checks the link without using it, and asks for a click
/// (link previews and scanners fetch URLs; only a person presses the button).
pub(super) async fn login_confirm(
    d: web::Data<Dashboard>,
    p: web::Data<Platform>,
    code: web::Path<String>,
) -> HttpResponse {
    match p.login_link_usable(&code).await {
        Ok(true) => {
            let mut ctx = Context::new();
            ctx.insert("code", code.as_str());
            d.render(StatusCode::OK, "login_confirm.html", &ctx)
        }
        Ok(false) => login_refused(&d),
        Err(e) => d.error_page(None, &e),
    }
}

fn login_refused(d: &Dashboard) -> HttpResponse {
    let mut ctx = Context::new();
    ctx.insert(
        "problem",
        "This login link is invalid, expired or already used. Send /login to the control bot for a new one.",
    );
    d.render(StatusCode::UNAUTHORIZED, "login.html", &ctx)
}

pub(super) async fn login_redeem(
    d: web::Data<Dashboard>,
    p: web::Data<Platform>,
    code: web::Path<String>,
    req: HttpRequest,
) -> HttpResponse {
    // Only the dashboard's own confirm page may sign a browser in: a cross-site form would log
    // the victim into the attacker's account (login CSRF).
    if !same_origin_post(&req, &p.config().api_url()) {
        tracing::warn!("dashboard: cross-site login post refused");
        return d.error_page(None, &ServiceError::Forbidden("This login form was not sent from the dashboard.".into()));
    }
    let actor = match p.redeem_login_link(&code).await {
        Ok(a) => a,
        Err(ServiceError::Unauthorized(_)) => return login_refused(&d),
        Err(e) => return d.error_page(None, &e),
    };
    start_session(&d, &actor)
}

/// Whether a POST comes from a page of `origin`. Current browsers say where a request comes
/// from in `Sec-Fetch-Site`; older ones only in `Origin` (`null` from sandboxed or opaque
/// pages). Clients that send neither are not browsers, and have no session to be tricked.
fn same_origin_post(req: &HttpRequest, origin: &str) -> bool {
    let h = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = h("sec-fetch-site") {
        return site == "same-origin" || site == "none";
    }
    match h("origin") {
        None => true,
        Some(o) => o.trim_end_matches('/').eq_ignore_ascii_case(origin.trim_end_matches('/')),
    }
}

/// Signs out: only a form from this dashboard's own page (CSRF token) ends the session.
pub(super) async fn logout(_: CsrfForm<NoFields>) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/login"))
        .insert_header((header::SET_COOKIE, session::cookie("", 0)))
        .finish()
}
