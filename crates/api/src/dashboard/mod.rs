//! The dashboard (web-admin): server-rendered pages on the API role. It owns login by
//! one-time link, the session cookie, CSRF checks and rendering; every read and change is a
//! service operation with the signed-in Telegram user as the [`Actor`], so a developer of one
//! bot gets the same 404 for another bot's pages as the API gives.

mod apps;
mod audit;
mod bots;
mod chart;
mod emulator;
mod login;
mod session;
mod tokens;

use actix_web::http::{StatusCode, header};
use std::future::Future;
use std::pin::Pin;

use actix_web::error::InternalError;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tera::{Context, Tera};
use tmahost_service::{Actor, Platform, ServiceError};

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
    ("emulator.html", include_str!("../../../../web-admin/templates/emulator.html")),
];
const CSS: &str = include_str!("../../../../web-admin/static/app.css");
const UPLOAD_JS: &str = include_str!("../../../../web-admin/static/upload.js");
const EMULATOR_JS: &str = include_str!("../../../../web-admin/static/emulator.js");

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
        Ok(Self { tera, keys: Keys::new(|p| platform.key_for(p)) })
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

/// A signed-in dashboard user (an extractor: see its `FromRequest`).
pub(super) struct Viewer {
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
    cfg.route("/", web::get().to(bots::bots_page))
        .route("/login", web::get().to(login::login_page))
        .route("/login/telegram", web::get().to(login::widget_login))
        .route("/login/{code}", web::get().to(login::login_confirm))
        .route("/login/{code}", web::post().to(login::login_redeem))
        .route("/logout", web::post().to(login::logout))
        .route("/bots/{bot}", web::get().to(bots::bot_page))
        .route("/bots/{bot}/apps/{app}", web::get().to(apps::app_page))
        .route("/bots/{bot}/apps/{app}/deployments/{version}/activate", web::post().to(apps::activate))
        .route("/bots/{bot}/apps/{app}/deployments/{version}/pin", web::post().to(apps::pin))
        .route("/bots/{bot}/apps/{app}/upload", web::post().to(apps::upload))
        .route("/bots/{bot}/apps/{app}/settings", web::post().to(apps::settings))
        .route("/bots/{bot}/apps/{app}/delete", web::post().to(apps::delete))
        .route("/bots/{bot}/delete", web::post().to(bots::delete))
        .route("/bots/{bot}/apps/{app}/dev-link", web::post().to(apps::dev_link))
        .route("/bots/{bot}/apps/{app}/emulator", web::get().to(emulator::emulator_page))
        .route("/bots/{bot}/members", web::post().to(bots::grant))
        .route("/bots/{bot}/members/{user_id}/revoke", web::post().to(bots::revoke))
        .route("/bots/{bot}/audit", web::get().to(audit::audit_page))
        .route("/tokens", web::get().to(tokens::tokens_page))
        .route("/tokens", web::post().to(tokens::create_token))
        .route("/tokens/{id}/revoke", web::post().to(tokens::revoke_token))
        .route("/static/app.css", web::get().to(|| asset("text/css; charset=utf-8", CSS)))
        .route("/static/upload.js", web::get().to(|| asset("text/javascript; charset=utf-8", UPLOAD_JS)))
        .route("/static/emulator.js", web::get().to(|| asset("text/javascript; charset=utf-8", EMULATOR_JS)));
}

async fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok().content_type(content_type).insert_header((header::CACHE_CONTROL, "no-cache")).body(body)
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

/// The dashboard and the platform, as every extractor here reads them from the app's data.
fn handles(req: &HttpRequest) -> Result<(web::Data<Dashboard>, web::Data<Platform>), actix_web::Error> {
    let d = req.app_data::<web::Data<Dashboard>>().cloned();
    let p = req.app_data::<web::Data<Platform>>().cloned();
    d.zip(p).ok_or_else(|| actix_web::error::ErrorInternalServerError("the dashboard is not configured"))
}

/// A handler taking a [`Viewer`] runs only for a signed-in user; anyone else is sent to the
/// login page (or shown why their account could not be read).
impl FromRequest for Viewer {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (d, p) = handles(&req)?;
            d.viewer(&req, &p).await.map_err(|res| InternalError::from_response("not signed in", res).into())
        })
    }
}

/// A form a signed-in viewer posted from this dashboard: its fields as `T`, extracted only when
/// its `csrf` field belongs to the viewer's session (so another site cannot post it for them).
pub(super) struct CsrfForm<T> {
    pub viewer: Viewer,
    pub form: T,
}

#[derive(Deserialize)]
struct WithCsrf<T> {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    form: T,
}

/// A deletion's form: the name of what goes, typed by the owner.
#[derive(Debug, Deserialize)]
pub(super) struct ConfirmForm {
    #[serde(default)]
    pub confirm: String,
}

/// The fields of a form that carries nothing but its CSRF token.
#[derive(Debug, Deserialize)]
pub(super) struct NoFields {}

impl<T: DeserializeOwned + 'static> FromRequest for CsrfForm<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let viewer = Viewer::from_request(req, payload);
        let form = web::Form::<WithCsrf<T>>::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let viewer = viewer.await?;
            let (d, _) = handles(&req)?;
            let refuse =
                |e: ServiceError| InternalError::from_response("form refused", d.error_page(Some(&viewer), &e));
            let web::Form(posted) = match form.await {
                Ok(f) => f,
                Err(e) => {
                    return Err(
                        refuse(ServiceError::invalid("bad_form", format!("the form could not be read: {e}"))).into()
                    );
                }
            };
            if let Some(refused) = csrf_refused(&d, &viewer, &posted.csrf) {
                return Err(InternalError::from_response("csrf", refused).into());
            }
            Ok(CsrfForm { viewer, form: posted.form })
        })
    }
}
