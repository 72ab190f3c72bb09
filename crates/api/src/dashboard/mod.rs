//! The dashboard (web-admin): server-rendered pages on the API role. It owns login by
//! one-time link, the session cookie, CSRF checks and rendering; every read and change is a
//! service operation with the signed-in Telegram user as the [`Actor`], so a developer of one
//! bot gets the same 404 for another bot's pages as the API gives.

/// The viewer of a form post whose CSRF token (`$token`) is theirs, or the response that
/// refuses it.
macro_rules! poster {
    ($d:expr, $req:expr, $p:expr, $token:expr) => {{
        let v = viewer!($d, $req, $p);
        if let Some(refused) = csrf_refused(&$d, &v, $token) {
            return refused;
        }
        v
    }};
}

/// Unwraps a viewer or returns the login redirect.
macro_rules! viewer {
    ($d:expr, $req:expr, $p:expr) => {
        match $d.viewer(&$req, &$p).await {
            Ok(v) => v,
            Err(res) => return res,
        }
    };
}

mod chart;
mod forms;
mod session;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use tera::{Context, Tera};
use tmahost_service::display::{bytes, when};
use tmahost_service::store::model::{Bot, BotStatus, DeploymentStatus};
use tmahost_service::store::now_ms;
use tmahost_service::{Actor, Need, Platform, ServiceError};

use session::Keys;

/// Templates and styles, compiled in so the binary stays one file.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../../../web-admin/templates/base.html")),
    ("login.html", include_str!("../../../../web-admin/templates/login.html")),
    ("login_confirm.html", include_str!("../../../../web-admin/templates/login_confirm.html")),
    ("error.html", include_str!("../../../../web-admin/templates/error.html")),
    ("bots.html", include_str!("../../../../web-admin/templates/bots.html")),
    ("bot.html", include_str!("../../../../web-admin/templates/bot.html")),
    ("app.html", include_str!("../../../../web-admin/templates/app.html")),
    ("tokens.html", include_str!("../../../../web-admin/templates/tokens.html")),
    ("audit.html", include_str!("../../../../web-admin/templates/audit.html")),
];
const CSS: &str = include_str!("../../../../web-admin/static/app.css");
const UPLOAD_JS: &str = include_str!("../../../../web-admin/static/upload.js");

/// The login page may also load Telegram's Login Widget (a script that frames oauth.telegram.org).
const LOGIN_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data: https://t.me https://telegram.org; \
                         script-src 'self' https://telegram.org; frame-src https://oauth.telegram.org; \
                         form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// No inline script or style, nothing from elsewhere, never framed.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; connect-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Rendering and session state of the dashboard.
pub struct Dashboard {
    tera: Tera,
    keys: Keys,
}

impl std::fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dashboard").finish_non_exhaustive()
    }
}

impl Dashboard {
    pub fn new(platform: &Platform) -> Result<Self, tera::Error> {
        let mut tera = Tera::new();
        tera.add_raw_templates(TEMPLATES.iter().copied())?;
        tera.autoescape_on([".html"]);
        Ok(Self { tera, keys: Keys::new(platform.master_key()) })
    }

    fn render(&self, status: StatusCode, template: &str, ctx: &Context) -> HttpResponse {
        self.render_with(status, template, ctx, CSP)
    }

    fn render_with(&self, status: StatusCode, template: &str, ctx: &Context, csp: &str) -> HttpResponse {
        match self.tera.render(template, ctx) {
            Ok(html) => page(status, csp).body(html),
            Err(e) => {
                tracing::error!(template, error = %e, "dashboard template failed");
                page(StatusCode::INTERNAL_SERVER_ERROR, CSP).body("The page could not be rendered; see the server log.")
            }
        }
    }

    fn error_page(&self, viewer: Option<&Viewer>, e: &ServiceError) -> HttpResponse {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (title, message) = match e {
            ServiceError::NotFound(what) => {
                ("Not found".to_owned(), format!("There is no {what} here that you can see."))
            }
            ServiceError::Internal(inner) => {
                tracing::error!(error = %inner, "dashboard operation failed");
                ("Something went wrong".to_owned(), "The server could not do that; the details are in its log.".into())
            }
            ServiceError::Forbidden(m) => ("Not allowed".to_owned(), m.clone()),
            other => ("That did not work".to_owned(), other.to_string()),
        };
        let mut ctx = viewer.map(Viewer::context).unwrap_or_default();
        ctx.insert("title", &title);
        ctx.insert("message", &message);
        self.render(status, "error.html", &ctx)
    }

    /// The signed-in user, or the response that sends them to the login page.
    async fn viewer(&self, req: &HttpRequest, p: &Platform) -> Result<Viewer, HttpResponse> {
        let claims = req.cookie(session::COOKIE).and_then(|c| self.keys.check(c.value()));
        let Some(claims) = claims else {
            return Err(HttpResponse::SeeOther().insert_header((header::LOCATION, "/login")).finish());
        };
        let user_id: i64 = claims.sub.parse().unwrap_or_default();
        let actor = match p.telegram_actor(user_id).await {
            Ok(a) => a,
            Err(e) => return Err(self.error_page(None, &e)),
        };
        let csrf = self.keys.csrf(&claims.sid);
        Ok(Viewer { actor, user_id, sid: claims.sid, csrf })
    }
}

/// A signed-in dashboard user.
struct Viewer {
    actor: Actor,
    user_id: i64,
    sid: String,
    csrf: String,
}

impl Viewer {
    fn context(&self) -> Context {
        #[derive(Serialize)]
        struct User {
            label: String,
            admin: bool,
        }
        let mut ctx = Context::new();
        ctx.insert("user", &User { label: format!("Telegram user {}", self.user_id), admin: self.actor.is_admin() });
        ctx.insert("csrf", &self.csrf);
        ctx
    }
}

fn page(status: StatusCode, csp: &str) -> actix_web::HttpResponseBuilder {
    let mut res = HttpResponse::build(status);
    res.content_type("text/html; charset=utf-8")
        .insert_header(("Content-Security-Policy", csp.to_owned()))
        .insert_header(("X-Frame-Options", "DENY"));
    res
}

fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, to.to_owned())).finish()
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(bots_page))
        .route("/login", web::get().to(login_page))
        .route("/login/telegram", web::get().to(widget_login))
        .route("/login/{code}", web::get().to(login_confirm))
        .route("/login/{code}", web::post().to(login_redeem))
        .route("/logout", web::post().to(logout))
        .route("/bots/{bot}", web::get().to(bot_page))
        .route("/bots/{bot}/apps/{app}", web::get().to(app_page))
        .route("/bots/{bot}/apps/{app}/deployments/{version}/activate", web::post().to(activate))
        .route("/bots/{bot}/apps/{app}/upload", web::post().to(forms::upload))
        .route("/bots/{bot}/apps/{app}/settings", web::post().to(forms::settings))
        .route("/bots/{bot}/apps/{app}/dev-link", web::post().to(forms::dev_link))
        .route("/bots/{bot}/members", web::post().to(forms::grant))
        .route("/bots/{bot}/members/{user_id}/revoke", web::post().to(forms::revoke))
        .route("/bots/{bot}/audit", web::get().to(forms::audit_page))
        .route("/tokens", web::get().to(forms::tokens_page))
        .route("/tokens", web::post().to(forms::create_token))
        .route("/tokens/{id}/revoke", web::post().to(forms::revoke_token))
        .route("/static/app.css", web::get().to(|| asset("text/css; charset=utf-8", CSS)))
        .route("/static/upload.js", web::get().to(|| asset("text/javascript; charset=utf-8", UPLOAD_JS)));
}

async fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok().content_type(content_type).insert_header((header::CACHE_CONTROL, "no-cache")).body(body)
}

// ----- login ---------------------------------------------------------------------------------

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

async fn login_page(d: web::Data<Dashboard>, p: web::Data<Platform>) -> HttpResponse {
    d.render_with(StatusCode::OK, "login.html", &widget_context(&p).await, LOGIN_CSP)
}

/// The widget's redirect: `?id=…&first_name=…&auth_date=…&hash=…`.
async fn widget_login(d: web::Data<Dashboard>, p: web::Data<Platform>, req: HttpRequest) -> HttpResponse {
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
async fn login_confirm(d: web::Data<Dashboard>, p: web::Data<Platform>, code: web::Path<String>) -> HttpResponse {
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

async fn login_redeem(
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

#[derive(Debug, Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// Refuses a form post whose CSRF token does not belong to the viewer's session.
fn csrf_refused(d: &Dashboard, v: &Viewer, given: &str) -> Option<HttpResponse> {
    if d.keys.csrf_ok(&v.sid, given) {
        return None;
    }
    tracing::warn!(user_id = v.user_id, "dashboard: form post without a valid CSRF token refused");
    Some(d.error_page(
        Some(v),
        &ServiceError::Forbidden(
            "The form was stale or not sent from this dashboard; reload the page and try again.".into(),
        ),
    ))
}

async fn logout(
    d: web::Data<Dashboard>,
    p: web::Data<Platform>,
    req: HttpRequest,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    poster!(d, req, p, &form.csrf);
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/login"))
        .insert_header((header::SET_COOKIE, session::cookie("", 0)))
        .finish()
}

// ----- pages ---------------------------------------------------------------------------------

#[derive(Serialize)]
struct BotRow {
    id: i64,
    username: String,
    host_label: String,
    status: String,
    role: String,
    url: String,
}

fn bot_row(p: &Platform, actor: &Actor, b: &Bot) -> BotRow {
    let role = match actor.role(b.bot_id()) {
        Some(r) => r.to_string(),
        None if actor.is_admin() => "admin".into(),
        None => String::new(),
    };
    BotRow {
        id: b.id,
        username: b.username.clone(),
        host_label: b.host_label.clone(),
        status: b.status.to_string(),
        role,
        url: p.app_url(b, &tmahost_service::store::model::AppSlug::main()),
    }
}

async fn bots_page(d: web::Data<Dashboard>, p: web::Data<Platform>, req: HttpRequest) -> HttpResponse {
    let v = viewer!(d, req, p);
    let bots = match p.list_bots(&v.actor).await {
        Ok(b) => b,
        Err(e) => return d.error_page(Some(&v), &e),
    };
    let rows: Vec<BotRow> = bots.iter().map(|b| bot_row(&p, &v.actor, b)).collect();
    let mut ctx = v.context();
    ctx.insert("bots", &rows);
    d.render(StatusCode::OK, "bots.html", &ctx)
}

async fn bot_page(
    d: web::Data<Dashboard>,
    p: web::Data<Platform>,
    req: HttpRequest,
    bot: web::Path<String>,
) -> HttpResponse {
    let v = viewer!(d, req, p);
    match bot_context(&p, &v, &bot).await {
        Ok(ctx) => d.render(StatusCode::OK, "bot.html", &ctx),
        Err(e) => d.error_page(Some(&v), &e),
    }
}

async fn bot_context(p: &Platform, v: &Viewer, key: &str) -> Result<Context, ServiceError> {
    #[derive(Serialize)]
    struct AppRow {
        slug: String,
        active: Option<i64>,
        url: String,
    }
    #[derive(Serialize)]
    struct MemberRow {
        user_id: i64,
        role: String,
        since: String,
    }
    let (bot, apps) = p.list_apps(&v.actor, key).await?;
    let (_, members) = p.list_members(&v.actor, key).await?;
    let mut rows = Vec::with_capacity(apps.len());
    for a in &apps {
        let active = p.db().active_deployment(&a.id).await?.map(|d| d.version);
        rows.push(AppRow { slug: a.slug.to_string(), active, url: p.app_url(&bot, &a.slug) });
    }
    let members: Vec<MemberRow> = members
        .iter()
        .map(|m| MemberRow { user_id: m.user_id, role: m.role.to_string(), since: when(m.created_at) })
        .collect();
    let mut ctx = v.context();
    ctx.insert("bot", &bot_row(p, &v.actor, &bot));
    ctx.insert("role", &v.actor.role(bot.bot_id()).map(|r| r.to_string()));
    ctx.insert("apps", &rows);
    ctx.insert("members", &members);
    ctx.insert("may_manage", &v.actor.check(bot.bot_id(), Need::Manage).is_ok());
    Ok(ctx)
}

#[derive(Debug, Deserialize)]
struct AppQuery {
    activated: Option<i64>,
    deployed: Option<i64>,
    staged: Option<i64>,
    saved: Option<u8>,
}

async fn app_page(
    d: web::Data<Dashboard>,
    p: web::Data<Platform>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<AppQuery>,
) -> HttpResponse {
    let v = viewer!(d, req, p);
    match app_context(&p, &v, &path.0, &path.1).await {
        Ok(mut ctx) => {
            let notice = match (query.activated, query.deployed, query.staged, query.saved) {
                (Some(v), ..) => Some(format!("v{v} is now the active deployment.")),
                (_, Some(v), ..) => Some(format!("v{v} is uploaded and live.")),
                (_, _, Some(v), _) => Some(format!("v{v} is uploaded and staged: open it with its preview link.")),
                (.., Some(_)) => Some("Settings saved; the edge applies them within a second.".to_owned()),
                _ => None,
            };
            if let Some(n) = notice {
                ctx.insert("notice", &n);
            }
            d.render(StatusCode::OK, "app.html", &ctx)
        }
        Err(e) => d.error_page(Some(&v), &e),
    }
}

async fn app_context(p: &Platform, v: &Viewer, bot_key: &str, slug: &str) -> Result<Context, ServiceError> {
    #[derive(Serialize)]
    struct DeploymentRow {
        version: i64,
        status: String,
        when: String,
        files: i64,
        size: String,
        who: String,
        preview: Option<String>,
        can_activate: bool,
    }
    #[derive(Serialize)]
    struct AppInfo {
        slug: String,
        url: String,
    }
    let (bot, app, list) = p.list_deployments(&v.actor, bot_key, slug, 50).await?;
    let mut rows = Vec::with_capacity(list.len());
    for d in &list {
        let complete =
            matches!(d.status, DeploymentStatus::Ready | DeploymentStatus::Active | DeploymentStatus::Superseded);
        rows.push(DeploymentRow {
            version: d.version,
            status: d.status.to_string(),
            when: when(d.activated_at.unwrap_or(d.created_at)),
            files: d.file_count,
            size: bytes(d.total_bytes),
            who: p.describe_actor(&d.created_by).await,
            preview: complete.then(|| p.preview_url(&bot, &app.slug, d)),
            can_activate: matches!(d.status, DeploymentStatus::Ready | DeploymentStatus::Superseded),
        });
    }
    let active_version = list.iter().find(|d| d.status == DeploymentStatus::Active).map_or(0, |d| d.version);
    let mut ctx = v.context();
    ctx.insert("bot", &bot_row(p, &v.actor, &bot));
    ctx.insert("app", &AppInfo { slug: app.slug.to_string(), url: p.app_url(&bot, &app.slug) });
    ctx.insert("deployments", &rows);
    ctx.insert("active_version", &active_version);
    let may_deploy = v.actor.check(bot.bot_id(), Need::Deploy).is_ok() && bot.status == BotStatus::Active;
    ctx.insert("may_deploy", &may_deploy);
    ctx.insert("may_manage", &v.actor.check(bot.bot_id(), Need::Manage).is_ok());
    ctx.insert("settings", &app.settings);
    ctx.insert("domain", &p.app_domain(&app).await?);
    let traffic = p.app_analytics(&v.actor, bot_key, slug, 30).await?;
    let sum = |f: fn(&tmahost_service::store::model::DailyStats) -> i64| traffic.iter().map(f).sum::<i64>();
    ctx.insert("chart", &chart::svg(&traffic));
    ctx.insert("totals", &serde_json::json!({
        "requests": sum(|d| d.requests), "sessions": sum(|d| d.sessions), "users_today": traffic.last().map_or(0, |d| d.users),
    }));
    ctx.insert("public_paths_text", &app.settings.public_paths.join("\n"));
    let allowed = app.settings.allowed_user_ids.as_ref().map(|ids| ids.iter().map(i64::to_string).collect::<Vec<_>>());
    ctx.insert("allowed_text", &allowed.map(|ids| ids.join("\n")).unwrap_or_default());
    Ok(ctx)
}

async fn activate(
    d: web::Data<Dashboard>,
    p: web::Data<Platform>,
    req: HttpRequest,
    path: web::Path<(String, String, i64)>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let v = poster!(d, req, p, &form.csrf);
    let (bot, app, version) = path.into_inner();
    match p.activate_deployment(&v.actor, &bot, &app, &version.to_string()).await {
        Ok((bot, app, dep)) => {
            see_other(&format!("/bots/{}/apps/{}?activated={}", bot.host_label, app.slug, dep.version))
        }
        Err(e) => d.error_page(Some(&v), &e),
    }
}
