//! The dashboard's forms beyond activation: uploads, app settings, members, API tokens, and
//! the audit log page. Each post is checked for the session's CSRF token before it changes
//! anything, and each change is one service operation.

use std::collections::HashMap;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use tera::Context;
use tmahost_service::display::when;
use tmahost_service::store::model::{Access, AppSettings, Role, TokenScope};
use tmahost_service::{DeployOptions, Need, Platform, ServiceError};
use tmahost_telegram::BotId;

use super::{Dashboard, Viewer, app_context, bot_context, csrf_refused, see_other};

type Form = web::Form<HashMap<String, String>>;

fn field<'a>(form: &'a HashMap<String, String>, name: &str) -> &'a str {
    form.get(name).map_or("", String::as_str)
}

/// `POST …/upload`: a multipart form (CSRF token, message, stage, then the archive). Answers
/// JSON to the page's script (`Accept: application/json`) and redirects a plain form post.
pub(super) async fn upload(
    d: web::Data<Dashboard>,
    p: web::Data<Platform>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> HttpResponse {
    let v = viewer!(d, req, p);
    let json = req.headers().get(header::ACCEPT).and_then(|a| a.to_str().ok()).is_some_and(|a| a.contains("json"));
    let fail = |e: ServiceError| {
        if json {
            actix_web::ResponseError::error_response(&crate::error::ApiError(e))
        } else {
            d.error_page(Some(&v), &e)
        }
    };
    // Authorize before taking the bytes.
    let (bot, app) = match p.resolve_app(&v.actor, &path.0, &path.1).await {
        Ok(found) => found,
        Err(e) => return fail(e),
    };
    if let Err(e) = v.actor.check(bot.bot_id(), Need::Deploy) {
        return fail(e);
    }
    let received = match crate::upload::receive(&p, &req, payload).await {
        Ok(r) => r,
        Err(e) => return fail(e.0),
    };
    if let Some(refused) = csrf_refused(&d, &v, received.field("csrf").unwrap_or_default()) {
        return if json { fail(ServiceError::Forbidden("reload the page: the form is stale".into())) } else { refused };
    }
    let message = received.field("message").map(str::trim).filter(|m| !m.is_empty()).map(str::to_owned);
    let opts = DeployOptions { activate: received.field("stage").is_none(), message };
    let id = bot.id.to_string();
    match p.deploy_archive(&v.actor, &id, app.slug.as_str(), received.file.path(), opts).await {
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

/// Reads the settings form (it has every setting; an unchecked box is absent).
fn parse_settings(form: &HashMap<String, String>) -> Result<AppSettings, String> {
    let number = |name: &str, label: &str| -> Result<u32, String> {
        field(form, name).trim().parse().map_err(|_| format!("{label}: enter a whole number"))
    };
    let access = match field(form, "access") {
        "public" => Access::Public,
        "gated" | "" => Access::Gated,
        other => return Err(format!("unknown access `{other}`")),
    };
    let public_paths =
        field(form, "public_paths").lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
    let ids = field(form, "allowed_user_ids");
    let allowed_user_ids = if ids.trim().is_empty() {
        None
    } else {
        let parsed: Result<Vec<i64>, String> = ids
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().map_err(|_| format!("`{s}` is not a Telegram user id")))
            .collect();
        Some(parsed?)
    };
    let domain = field(form, "custom_domain").trim().to_ascii_lowercase();
    Ok(AppSettings {
        access,
        public_paths,
        spa_fallback: form.contains_key("spa_fallback"),
        session_ttl_secs: number("session_ttl_secs", "Session lifetime")?,
        max_init_data_age_secs: number("max_init_data_age_secs", "Oldest launch data")?,
        custom_domain: (!domain.is_empty()).then_some(domain),
        allowed_user_ids,
        premium_only: form.contains_key("premium_only"),
        skew_protection_deployments: number("skew_protection_deployments", "Earlier deployments")?,
    })
}

pub(super) async fn settings(
    d: web::Data<Dashboard>,
    p: web::Data<Platform>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: Form,
) -> HttpResponse {
    let v = poster!(d, req, p, field(&form, "csrf"));
    let (bot_key, slug) = path.into_inner();
    // Who may change settings is decided before the form is read.
    let found = p.resolve_app(&v.actor, &bot_key, &slug).await;
    if let Err(e) = found.and_then(|(bot, _)| v.actor.check(bot.bot_id(), Need::Manage)) {
        return d.error_page(Some(&v), &e);
    }
    let saved = match parse_settings(&form) {
        Ok(settings) => p.update_app_settings(&v.actor, &bot_key, &slug, settings).await,
        Err(problem) => Err(ServiceError::invalid("invalid_settings", problem)),
    };
    match saved {
        Ok((bot, app)) => see_other(&format!("/bots/{}/apps/{}?saved=1", bot.host_label, app.slug)),
        // A rule the settings break: the same page again, with the reason above the form.
        Err(ServiceError::Invalid { message, .. }) => match app_context(&p, &v, &bot_key, &slug).await {
            Ok(mut ctx) => {
                ctx.insert("problem", &message);
                d.render(StatusCode::UNPROCESSABLE_ENTITY, "app.html", &ctx)
            }
            Err(e) => d.error_page(Some(&v), &e),
        },
        Err(e) => d.error_page(Some(&v), &e),
    }
}

pub(super) async fn grant(
    d: web::Data<Dashboard>,
    p: web::Data<Platform>,
    req: HttpRequest,
    bot: web::Path<String>,
    form: Form,
) -> HttpResponse {
    let v = poster!(d, req, p, field(&form, "csrf"));
    let user = field(&form, "user_id").trim().parse::<i64>();
    let role = field(&form, "role").parse::<Role>();
    let result = match (user, role) {
        (Ok(user), Ok(role)) => p.grant_member(&v.actor, &bot, user, role).await,
        _ => Err(ServiceError::invalid("invalid_member", "enter a numeric Telegram user id and a role")),
    };
    match result {
        Ok(bot) => see_other(&format!("/bots/{}", bot.host_label)),
        Err(e) => d.error_page(Some(&v), &e),
    }
}

pub(super) async fn revoke(
    d: web::Data<Dashboard>,
    p: web::Data<Platform>,
    req: HttpRequest,
    path: web::Path<(String, i64)>,
    form: Form,
) -> HttpResponse {
    let v = poster!(d, req, p, field(&form, "csrf"));
    match p.revoke_member(&v.actor, &path.0, path.1).await {
        Ok(bot) => see_other(&format!("/bots/{}", bot.host_label)),
        Err(e) => d.error_page(Some(&v), &e),
    }
}

pub(super) async fn audit_page(
    d: web::Data<Dashboard>,
    p: web::Data<Platform>,
    req: HttpRequest,
    bot: web::Path<String>,
) -> HttpResponse {
    #[derive(Serialize)]
    struct Row {
        when: String,
        who: String,
        action: String,
        details: String,
    }
    let v = viewer!(d, req, p);
    let result = async {
        let mut ctx = bot_context(&p, &v, &bot).await?;
        let events = p.audit_log(&v.actor, Some(&bot), 200).await?;
        let mut rows = Vec::with_capacity(events.len());
        for e in events {
            rows.push(Row {
                when: when(e.at),
                who: p.describe_actor(&e.actor).await,
                action: e.action,
                details: e.details,
            });
        }
        ctx.insert("events", &rows);
        Ok::<_, ServiceError>(ctx)
    }
    .await;
    match result {
        Ok(ctx) => d.render(StatusCode::OK, "audit.html", &ctx),
        Err(e) => d.error_page(Some(&v), &e),
    }
}

/// The tokens page; `minted` is a token just created, shown this once.
async fn tokens_view(
    d: &Dashboard,
    p: &Platform,
    v: &Viewer,
    minted: Option<(String, String)>,
) -> Result<HttpResponse, ServiceError> {
    #[derive(Serialize)]
    struct Row {
        id: String,
        name: String,
        scope: String,
        created: String,
        expires: String,
        last_used: String,
        revoked: bool,
    }
    #[derive(Serialize)]
    struct BotOption {
        id: i64,
        username: String,
    }
    let bots = p.list_bots(&v.actor).await?;
    let names: HashMap<i64, String> = bots.iter().map(|b| (b.id, format!("@{}", b.username))).collect();
    let rows: Vec<Row> = p
        .list_tokens(&v.actor)
        .await?
        .into_iter()
        .map(|t| Row {
            scope: match &t.scope {
                TokenScope::Admin => "admin".into(),
                TokenScope::Bots(ids) => ids
                    .iter()
                    .map(|b| names.get(&b.0).cloned().unwrap_or_else(|| b.0.to_string()))
                    .collect::<Vec<_>>()
                    .join(", "),
            },
            created: when(t.created_at),
            expires: when(t.expires_at),
            last_used: t.last_used_at.map(when).unwrap_or_else(|| "never".into()),
            revoked: t.revoked_at.is_some(),
            id: t.id,
            name: t.name,
        })
        .collect();
    let managed: Vec<BotOption> = bots
        .iter()
        .filter(|b| v.actor.check(b.bot_id(), Need::Manage).is_ok())
        .map(|b| BotOption { id: b.id, username: b.username.clone() })
        .collect();
    let mut ctx: Context = v.context();
    ctx.insert("tokens", &rows);
    ctx.insert("bots", &managed);
    if let Some((name, jwt)) = minted {
        ctx.insert("minted", &serde_json::json!({ "name": name, "jwt": jwt }));
    }
    let status = if ctx.contains_key("minted") { StatusCode::CREATED } else { StatusCode::OK };
    Ok(d.render(status, "tokens.html", &ctx))
}

pub(super) async fn tokens_page(d: web::Data<Dashboard>, p: web::Data<Platform>, req: HttpRequest) -> HttpResponse {
    let v = viewer!(d, req, p);
    tokens_view(&d, &p, &v, None).await.unwrap_or_else(|e| d.error_page(Some(&v), &e))
}

pub(super) async fn create_token(
    d: web::Data<Dashboard>,
    p: web::Data<Platform>,
    req: HttpRequest,
    form: Form,
) -> HttpResponse {
    let v = poster!(d, req, p, field(&form, "csrf"));
    let result = async {
        let bot = field(&form, "bot").parse::<i64>().map_err(|_| ServiceError::NotFound("bot"))?;
        let ttl = field(&form, "ttl_days").trim().parse::<u32>().ok();
        let (token, minted) =
            p.create_token(&v.actor, field(&form, "name"), TokenScope::Bots(vec![BotId(bot)]), ttl).await?;
        tokens_view(&d, &p, &v, Some((token.name, minted.jwt))).await
    }
    .await;
    result.unwrap_or_else(|e| d.error_page(Some(&v), &e))
}

pub(super) async fn revoke_token(
    d: web::Data<Dashboard>,
    p: web::Data<Platform>,
    req: HttpRequest,
    id: web::Path<String>,
    form: Form,
) -> HttpResponse {
    let v = poster!(d, req, p, field(&form, "csrf"));
    match p.revoke_token(&v.actor, &id).await {
        Ok(()) => see_other("/tokens"),
        Err(e) => d.error_page(Some(&v), &e),
    }
}

/// "Open as test user": a dev link (launch data signed for a test user) for the app, or for
/// one deployment on its preview host.
pub(super) async fn dev_link(
    d: web::Data<Dashboard>,
    p: web::Data<Platform>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: Form,
) -> HttpResponse {
    let v = poster!(d, req, p, field(&form, "csrf"));
    let deployment = Some(field(&form, "deployment")).filter(|s| !s.is_empty());
    match p.dev_link(&v.actor, &path.0, &path.1, &tmahost_service::DevUser::default(), deployment).await {
        Ok(link) => see_other(&link.url),
        Err(e) => d.error_page(Some(&v), &e),
    }
}
