//! One app's page (deployments, settings, dev link) and its forms: activation, upload,
//! settings, dev links.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use tera::Context;
use tmahost_service::display::{bytes, when};
use tmahost_service::model::{Access, AppSettings, Backend, BotStatus, DeploymentStatus, TonConnectManifest};
use tmahost_service::{AppRef, DeployOptions, Granted, Need, Platform, ServiceError};

use super::bots::bot_row;
use super::*;
use crate::paths::AppPath;

#[derive(Debug, Deserialize)]
pub(super) struct AppQuery {
    activated: Option<i64>,
    deployed: Option<i64>,
    staged: Option<i64>,
    saved: Option<u8>,
}

pub(super) async fn app_page(
    d: web::Data<Dashboard>,
    p: web::Data<Platform>,
    v: Viewer,
    path: web::Path<AppPath>,
    query: web::Query<AppQuery>,
) -> HttpResponse {
    let found = path.resolve(&p, &v.actor, Need::See).await;
    match async { app_context(&p, &v, &found?).await }.await {
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

async fn app_context(p: &Platform, v: &Viewer, r: &AppRef) -> Result<Context, ServiceError> {
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
        pinned: bool,
    }
    #[derive(Serialize)]
    struct AppInfo {
        slug: String,
        url: String,
    }
    let (bot, app) = (&r.bot, &r.app);
    let list = p.list_deployments(r, 50).await?;
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
            preview: complete.then(|| p.preview_url(bot, &app.slug, d)),
            can_activate: matches!(d.status, DeploymentStatus::Ready | DeploymentStatus::Superseded),
            pinned: d.pinned,
        });
    }
    let active_version = list.iter().find(|d| d.status == DeploymentStatus::Active).map_or(0, |d| d.version);
    let mut ctx = v.context();
    ctx.insert("bot", &bot_row(p, &v.actor, bot));
    ctx.insert("app", &AppInfo { slug: app.slug.to_string(), url: p.app_url(bot, &app.slug) });
    ctx.insert("deployments", &rows);
    ctx.insert("active_version", &active_version);
    ctx.insert("may_deploy", &(r.allows(Need::Deploy) && bot.status == BotStatus::Active));
    ctx.insert("may_manage", &r.allows(Need::Manage));
    ctx.insert("default_keep", &p.config().retention.keep_deployments);
    ctx.insert("settings", &app.settings);
    ctx.insert("domain", &p.app_domain(app).await?);
    let traffic = p.app_analytics(r, 30).await?;
    let sum = |f: fn(&tmahost_service::model::DailyStats) -> i64| traffic.iter().map(f).sum::<i64>();
    ctx.insert("chart", &chart::svg(&traffic));
    ctx.insert("totals", &serde_json::json!({
        "requests": sum(|d| d.requests), "sessions": sum(|d| d.sessions), "users_today": traffic.last().map_or(0, |d| d.users),
    }));
    ctx.insert("public_paths_text", &app.settings.public_paths.join("\n"));
    let backends: Vec<String> = app.settings.backends.iter().map(Backend::to_string).collect();
    ctx.insert("backends_text", &backends.join("\n"));
    let allowed = app.settings.allowed_user_ids.as_ref().map(|ids| ids.iter().map(i64::to_string).collect::<Vec<_>>());
    ctx.insert("allowed_text", &allowed.map(|ids| ids.join("\n")).unwrap_or_default());
    Ok(ctx)
}

pub(super) async fn activate(
    d: web::Data<Dashboard>,
    p: web::Data<Platform>,
    path: web::Path<(String, String, i64)>,
    CsrfForm { viewer: v, .. }: CsrfForm<NoFields>,
) -> HttpResponse {
    let (bot, app, version) = path.into_inner();
    let activated = async {
        let app = p.app(&v.actor, &bot, &app, Need::Deploy).await?;
        let target = p.deployment(&app, &version.to_string()).await?;
        Ok::<_, ServiceError>((p.activate_deployment(&target).await?, app))
    };
    match activated.await {
        Ok((dep, r)) => see_other(&format!("/bots/{}/apps/{}?activated={}", r.bot.host_label, r.app.slug, dep.version)),
        Err(e) => d.error_page(Some(&v), &e),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct PinForm {
    pinned: Option<String>,
}

/// `POST …/deployments/{version}/pin` with `pinned=1` (pin) or without it (unpin).
pub(super) async fn pin(
    d: web::Data<Dashboard>,
    p: web::Data<Platform>,
    path: web::Path<(String, String, i64)>,
    CsrfForm { viewer: v, form }: CsrfForm<PinForm>,
) -> HttpResponse {
    let (bot, app, version) = path.into_inner();
    let pinned = form.pinned.as_deref() == Some("1");
    let changed = async {
        let app = p.app(&v.actor, &bot, &app, Need::Deploy).await?;
        let target = p.deployment(&app, &version.to_string()).await?;
        p.pin_deployment(&target, pinned).await?;
        Ok::<_, ServiceError>(app)
    };
    match changed.await {
        Ok(r) => see_other(&format!("/bots/{}/apps/{}", r.bot.host_label, r.app.slug)),
        Err(e) => d.error_page(Some(&v), &e),
    }
}

/// `POST …/delete` with `confirm` = the app's slug (typed by the owner).
pub(super) async fn delete(
    d: web::Data<Dashboard>,
    p: web::Data<Platform>,
    path: web::Path<AppPath>,
    CsrfForm { viewer: v, form }: CsrfForm<ConfirmForm>,
) -> HttpResponse {
    let deleted = async {
        let r = path.resolve(&p, &v.actor, Need::Manage).await?;
        if form.confirm.trim() != r.app.slug.as_str() {
            return Err(ServiceError::invalid("not_confirmed", "type the app's slug to confirm; nothing was deleted"));
        }
        p.delete_app(&r).await.map(|()| r)
    };
    match deleted.await {
        Ok(r) => see_other(&format!("/bots/{}?deleted={}", r.bot.host_label, r.app.slug)),
        Err(e) => d.error_page(Some(&v), &e),
    }
}

/// `POST …/upload`: a multipart form (CSRF token, message, stage, then the archive). Answers
/// JSON to the page's script (`Accept: application/json`) and redirects a plain form post.
pub(super) async fn upload(
    d: web::Data<Dashboard>,
    p: web::Data<Platform>,
    req: HttpRequest,
    v: Viewer,
    path: web::Path<AppPath>,
    payload: web::Payload,
) -> HttpResponse {
    let json = req.headers().get(header::ACCEPT).and_then(|a| a.to_str().ok()).is_some_and(|a| a.contains("json"));
    let fail = |e: ServiceError| {
        if json {
            actix_web::ResponseError::error_response(&crate::error::ApiError(e))
        } else {
            d.error_page(Some(&v), &e)
        }
    };
    // Authorize before taking the bytes.
    let app = match path.resolve(&p, &v.actor, Need::Deploy).await {
        Ok(found) => found,
        Err(e) => return fail(e),
    };
    let received = match crate::upload::receive(&p, &req, payload).await {
        Ok(r) => r,
        Err(e) => return fail(e.0),
    };
    if let Some(refused) = csrf_refused(&d, &v, received.field("csrf").unwrap_or_default()) {
        return if json { fail(ServiceError::Forbidden("reload the page: the form is stale".into())) } else { refused };
    }
    let message = received.field("message").map(str::trim).filter(|m| !m.is_empty()).map(str::to_owned);
    let opts = DeployOptions { activate: received.field("stage").is_none(), message };
    match p.deploy_archive(&app, received.file.path(), opts).await {
        Ok(report) => {
            let d = &report.deployment;
            let what = if d.activated_at.is_some() { "deployed" } else { "staged" };
            let location = format!("/bots/{}/apps/{}?{what}={}", report.bot.host_label, report.app.slug, d.version);
            if json {
                HttpResponse::Created().json(serde_json::json!({
                    "version": d.version, "status": d.status.to_string(), "location": location,
                    "warnings": report.warnings,
                }))
            } else {
                see_other(&location)
            }
        }
        Err(e) => fail(e),
    }
}

/// The settings form: it has every setting; an unchecked box is absent.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct SettingsForm {
    access: String,
    public_paths: String,
    spa_fallback: Option<String>,
    session_ttl_secs: String,
    max_init_data_age_secs: String,
    custom_domain: String,
    allowed_user_ids: String,
    premium_only: Option<String>,
    skew_protection_deployments: String,
    /// One backend per line: `/api/ https://api.example.com [strip] [public]`.
    backends: String,
    ton_name: String,
    ton_icon_url: String,
    ton_terms_of_use_url: String,
    ton_privacy_policy_url: String,
    ton_replace_bundled: Option<String>,
    keep_deployments: String,
}

impl SettingsForm {
    fn settings(&self) -> Result<AppSettings, String> {
        let number = |value: &str, label: &str| -> Result<u32, String> {
            value.trim().parse().map_err(|_| format!("{label}: enter a whole number"))
        };
        let access = match self.access.as_str() {
            "public" => Access::Public,
            "gated" | "" => Access::Gated,
            other => return Err(format!("unknown access `{other}`")),
        };
        let public_paths =
            self.public_paths.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
        let allowed_user_ids = if self.allowed_user_ids.trim().is_empty() {
            None
        } else {
            let parsed: Result<Vec<i64>, String> = self
                .allowed_user_ids
                .split(|c: char| c.is_whitespace() || c == ',')
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().map_err(|_| format!("`{s}` is not a Telegram user id")))
                .collect();
            Some(parsed?)
        };
        let domain = self.custom_domain.trim().to_ascii_lowercase();
        let optional = |value: &str| Some(value.trim().to_owned()).filter(|v| !v.is_empty());
        let ton_connect = optional(&self.ton_name).map(|name| TonConnectManifest {
            name,
            icon_url: self.ton_icon_url.trim().to_owned(),
            terms_of_use_url: optional(&self.ton_terms_of_use_url),
            privacy_policy_url: optional(&self.ton_privacy_policy_url),
            replace_bundled: self.ton_replace_bundled.is_some(),
        });
        let backends = self
            .backends
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.parse::<Backend>().map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AppSettings {
            access,
            public_paths,
            spa_fallback: self.spa_fallback.is_some(),
            session_ttl_secs: number(&self.session_ttl_secs, "Session lifetime")?,
            max_init_data_age_secs: number(&self.max_init_data_age_secs, "Oldest launch data")?,
            custom_domain: (!domain.is_empty()).then_some(domain),
            allowed_user_ids,
            premium_only: self.premium_only.is_some(),
            skew_protection_deployments: number(&self.skew_protection_deployments, "Earlier deployments")?,
            backends,
            ton_connect,
            keep_deployments: match self.keep_deployments.trim() {
                "" => None,
                n => Some(
                    n.parse().map_err(|_| "Deployments kept: enter a whole number, or leave it empty".to_owned())?,
                ),
            },
        })
    }
}

pub(super) async fn settings(
    d: web::Data<Dashboard>,
    p: web::Data<Platform>,
    path: web::Path<AppPath>,
    CsrfForm { viewer: v, form }: CsrfForm<SettingsForm>,
) -> HttpResponse {
    // Who may change settings is decided before the form is read.
    let r = match path.resolve(&p, &v.actor, Need::Manage).await {
        Ok(found) => found,
        Err(e) => return d.error_page(Some(&v), &e),
    };
    let saved = match form.settings() {
        Ok(settings) => p.update_app_settings(&r, settings).await,
        Err(problem) => Err(ServiceError::invalid("invalid_settings", problem)),
    };
    match saved {
        Ok(app) => see_other(&format!("/bots/{}/apps/{}?saved=1", r.bot.host_label, app.slug)),
        // A rule the settings break: the same page again, with the reason above the form.
        Err(ServiceError::Invalid { message, .. }) => match app_context(&p, &v, &r).await {
            Ok(mut ctx) => {
                ctx.insert("problem", &message);
                d.render(StatusCode::UNPROCESSABLE_ENTITY, "app.html", &ctx)
            }
            Err(e) => d.error_page(Some(&v), &e),
        },
        Err(e) => d.error_page(Some(&v), &e),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct DevLinkForm {
    /// A deployment's id, for its preview host; empty for the app's own host.
    #[serde(default)]
    deployment: String,
}

/// "Open as test user": a dev link (launch data signed for a test user) for the app, or for
/// one deployment on its preview host.
pub(super) async fn dev_link(
    d: web::Data<Dashboard>,
    p: web::Data<Platform>,
    path: web::Path<AppPath>,
    CsrfForm { viewer: v, form }: CsrfForm<DevLinkForm>,
) -> HttpResponse {
    let deployment = Some(form.deployment.as_str()).filter(|s| !s.is_empty());
    let link = async {
        let app = path.resolve(&p, &v.actor, Need::Deploy).await?;
        p.dev_link(&app, &tmahost_service::DevUser::default(), deployment).await
    };
    match link.await {
        Ok(link) => see_other(&link.url),
        Err(e) => d.error_page(Some(&v), &e),
    }
}
