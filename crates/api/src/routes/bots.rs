use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use tmahost_service::{Need, Platform};

use super::{AppPath, BotPath};

use crate::auth::Caller;
use crate::dto::{
    AppDto, BotDto, BotRemovalDto, CreateApp, CreateDevLink, DevLinkDto, RegisterBot, RegisteredBotDto, UpdateBot,
    UsageDto,
};
use crate::error::{ApiError, ErrorBody, OptionalJson};
use tmahost_service::model::AppSettings;

/// Register a bot (admin scope). The token is checked with `getMe`, stored encrypted, and the
/// bot's `main` app is created, and the bot's menu button is pointed at it.
#[utoipa::path(tag = "bots", request_body = RegisterBot, security(("bearer" = [])),
    responses((status = 201, body = RegisteredBotDto), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
#[post("/bots")]
pub async fn register_bot(
    p: web::Data<Platform>,
    c: Caller,
    body: web::Json<RegisterBot>,
) -> Result<HttpResponse, ApiError> {
    let r = p.register_bot(&c.0, &body.token, body.username.as_deref()).await?;
    Ok(HttpResponse::Created().json(RegisteredBotDto { bot: BotDto::new(&p, &r.bot), warnings: r.warnings }))
}

/// The bots this token may see.
#[utoipa::path(tag = "bots", security(("bearer" = [])), responses((status = 200, body = [BotDto])))]
#[get("/bots")]
pub async fn list_bots(p: web::Data<Platform>, c: Caller) -> Result<HttpResponse, ApiError> {
    let bots = p.list_bots(&c.0).await?;
    Ok(HttpResponse::Ok().json(bots.iter().map(|b| BotDto::new(&p, b)).collect::<Vec<_>>()))
}

/// One bot, by numeric id, username or host label.
#[utoipa::path(tag = "bots", security(("bearer" = [])),
    params(("bot" = String, Path, description = "bot id, username or host label")),
    responses((status = 200, body = BotDto), (status = 404, body = ErrorBody)))]
#[get("/bots/{bot}")]
pub async fn get_bot(p: web::Data<Platform>, c: Caller, path: web::Path<BotPath>) -> Result<HttpResponse, ApiError> {
    let bot = path.get(&p, &c, Need::See).await?;
    Ok(HttpResponse::Ok().json(BotDto::new(&p, &bot.bot)))
}

/// Create an app of a bot.
#[utoipa::path(tag = "apps", request_body = CreateApp, security(("bearer" = [])),
    params(("bot" = String, Path, description = "bot id, username or host label")),
    responses((status = 201, body = AppDto), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
#[post("/bots/{bot}/apps")]
pub async fn create_app(
    p: web::Data<Platform>,
    c: Caller,
    path: web::Path<BotPath>,
    body: web::Json<CreateApp>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let bot = path.get(&p, &c, Need::Manage).await?;
    let app = p.create_app(&bot, &body.slug, body.settings).await?;
    Ok(HttpResponse::Created().json(AppDto::load(&p, &bot.bot, &app).await?))
}

/// The apps of a bot.
#[utoipa::path(tag = "apps", security(("bearer" = [])),
    params(("bot" = String, Path, description = "bot id, username or host label")),
    responses((status = 200, body = [AppDto]), (status = 404, body = ErrorBody)))]
#[get("/bots/{bot}/apps")]
pub async fn list_apps(p: web::Data<Platform>, c: Caller, path: web::Path<BotPath>) -> Result<HttpResponse, ApiError> {
    let bot = path.get(&p, &c, Need::See).await?;
    let apps = p.list_apps(&bot).await?;
    let mut out = Vec::with_capacity(apps.len());
    for a in &apps {
        out.push(AppDto::load(&p, &bot.bot, a).await?);
    }
    Ok(HttpResponse::Ok().json(out))
}

/// One app.
#[utoipa::path(tag = "apps", security(("bearer" = [])),
    params(("bot" = String, Path, description = "bot id, username or host label"), ("app" = String, Path, description = "app slug")),
    responses((status = 200, body = AppDto), (status = 404, body = ErrorBody)))]
#[get("/bots/{bot}/apps/{app}")]
pub async fn get_app(p: web::Data<Platform>, c: Caller, path: web::Path<AppPath>) -> Result<HttpResponse, ApiError> {
    let app = path.get(&p, &c, Need::See).await?;
    Ok(HttpResponse::Ok().json(AppDto::load(&p, &app.bot, &app.app).await?))
}

/// Disable or enable a bot, or set its own storage limit (admin scope).
#[utoipa::path(tag = "bots", request_body = UpdateBot, security(("bearer" = [])),
    params(("bot" = String, Path, description = "bot id, username or host label")),
    responses((status = 200, body = BotDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[patch("/bots/{bot}")]
pub async fn update_bot(
    p: web::Data<Platform>,
    c: Caller,
    path: web::Path<BotPath>,
    body: web::Json<UpdateBot>,
) -> Result<HttpResponse, ApiError> {
    let mut bot = path.get(&p, &c, Need::See).await?;
    if let Some(status) = body.status {
        bot.bot = p.set_bot_status(&bot, status).await?;
    }
    if let Some(max_bytes) = body.max_bytes {
        bot.bot = p.set_bot_quota(&bot, max_bytes).await?;
    }
    Ok(HttpResponse::Ok().json(BotDto::new(&p, &bot.bot)))
}

/// Delete a bot with its apps, deployments, members, domains and analytics (owners and admins).
/// Tokens scoped to it alone are revoked; its menu button is reset at Telegram. The audit log
/// keeps its history.
#[utoipa::path(tag = "bots", security(("bearer" = [])),
    params(("bot" = String, Path, description = "bot id, username or host label")),
    responses((status = 200, body = BotRemovalDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[delete("/bots/{bot}")]
pub async fn delete_bot(p: web::Data<Platform>, c: Caller, path: web::Path<BotPath>) -> Result<HttpResponse, ApiError> {
    let removal = p.delete_bot(&path.get(&p, &c, Need::Manage).await?).await?;
    Ok(HttpResponse::Ok().json(BotRemovalDto { revoked_tokens: removal.revoked_tokens, warnings: removal.warnings }))
}

/// Delete an app with its deployments, settings, domain and analytics (owners and admins). The
/// `main` app goes only with its bot.
#[utoipa::path(tag = "apps", security(("bearer" = [])),
    params(("bot" = String, Path, description = "bot id, username or host label"), ("app" = String, Path, description = "app slug")),
    responses((status = 204, description = "deleted"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
#[delete("/bots/{bot}/apps/{app}")]
pub async fn delete_app(p: web::Data<Platform>, c: Caller, path: web::Path<AppPath>) -> Result<HttpResponse, ApiError> {
    p.delete_app(&path.get(&p, &c, Need::Manage).await?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// What the bot stores (distinct contents its deployments name) and its cap.
#[utoipa::path(tag = "bots", security(("bearer" = [])),
    params(("bot" = String, Path, description = "bot id, username or host label")),
    responses((status = 200, body = UsageDto), (status = 404, body = ErrorBody)))]
#[get("/bots/{bot}/usage")]
pub async fn bot_usage(p: web::Data<Platform>, c: Caller, path: web::Path<BotPath>) -> Result<HttpResponse, ApiError> {
    let bot = path.get(&p, &c, Need::See).await?;
    Ok(HttpResponse::Ok().json(UsageDto::from(p.usage(&bot).await?)))
}

/// Replace an app's settings (fields left out take their defaults).
#[utoipa::path(tag = "apps", security(("bearer" = [])),
    request_body(content = Object, description = "AppSettings"),
    params(("bot" = String, Path, description = "bot id, username or host label"), ("app" = String, Path, description = "app slug")),
    responses((status = 200, body = AppDto), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[put("/bots/{bot}/apps/{app}/settings")]
pub async fn update_app_settings(
    p: web::Data<Platform>,
    c: Caller,
    path: web::Path<AppPath>,
    body: web::Json<AppSettings>,
) -> Result<HttpResponse, ApiError> {
    let r = path.get(&p, &c, Need::Manage).await?;
    let app = p.update_app_settings(&r, body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(AppDto::load(&p, &r.bot, &app).await?))
}

/// Look for the app's custom-domain proof now (`_tmahost.{domain}` TXT = `txt_value`); the
/// platform also re-checks every `TMAHOST_DOMAIN_CHECK_SECS`. Owners and admin tokens.
#[utoipa::path(tag = "apps", security(("bearer" = [])),
    params(("bot" = String, Path, description = "bot id, username or host label"), ("app" = String, Path, description = "app slug")),
    responses((status = 200, description = "the domain's status (verified or pending, with the last error)"),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/bots/{bot}/apps/{app}/domain/verify")]
pub async fn verify_domain(
    p: web::Data<Platform>,
    c: Caller,
    path: web::Path<AppPath>,
) -> Result<HttpResponse, ApiError> {
    let app = path.get(&p, &c, Need::Manage).await?;
    let status = p.verify_domain(&app).await?;
    Ok(HttpResponse::Ok().json(status))
}

/// A dev link: the app's URL with launch data signed for a test user, as a current Telegram
/// client would open it. Needs the deploy right on the app (it opens the app as anyone);
/// audited as `devlink.create`.
#[utoipa::path(tag = "apps", security(("bearer" = [])),
    params(("bot" = String, Path, description = "bot id, username or host label"), ("app" = String, Path, description = "app slug")),
    request_body(content = CreateDevLink, description = "optional; `{}` signs in the default dev user"),
    responses((status = 201, body = DevLinkDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
#[post("/bots/{bot}/apps/{app}/dev-links")]
pub async fn create_dev_link(
    p: web::Data<Platform>,
    c: Caller,
    path: web::Path<AppPath>,
    OptionalJson(body): OptionalJson<CreateDevLink>,
) -> Result<HttpResponse, ApiError> {
    let app = path.get(&p, &c, Need::Deploy).await?;
    let user = body.dev_user();
    let link = p.dev_link(&app, &user, body.deployment.as_deref()).await?;
    Ok(HttpResponse::Created().json(DevLinkDto {
        url: link.url,
        emulator_url: link.emulator_url,
        user_id: user.id,
        valid_for_secs: link.valid_for_secs,
    }))
}
