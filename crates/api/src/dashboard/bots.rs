//! The bots list, one bot's page (apps, members, stats) and its member forms.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use tera::Context;
use tmahost_service::display::when;
use tmahost_service::store::model::{Bot, Role};
use tmahost_service::{Actor, Need, Platform, ServiceError};

use super::*;

#[derive(Serialize)]
pub(super) struct BotRow {
    id: i64,
    username: String,
    host_label: String,
    status: String,
    role: String,
    url: String,
}

pub(super) fn bot_row(p: &Platform, actor: &Actor, b: &Bot) -> BotRow {
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

pub(super) async fn bots_page(d: web::Data<Dashboard>, p: web::Data<Platform>, req: HttpRequest) -> HttpResponse {
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

pub(super) async fn bot_page(
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

pub(super) async fn bot_context(p: &Platform, v: &Viewer, key: &str) -> Result<Context, ServiceError> {
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
