//! The bots list, one bot's page (apps, members, stats) and its member forms.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use tera::Context;
use tmahost_service::display::{bytes, when};
use tmahost_service::model::{Bot, Role};
use tmahost_service::{Actor, BotRef, Granted, Need, Platform, ServiceError};

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
        url: p.app_url(b, &tmahost_service::model::AppSlug::main()),
    }
}

/// `?deleted=…`: what the page just deleted (a bot's username, an app's slug).
#[derive(Debug, serde::Deserialize)]
pub(super) struct BotsQuery {
    deleted: Option<String>,
}

pub(super) async fn bots_page(
    d: web::Data<Dashboard>,
    p: web::Data<Platform>,
    v: Viewer,
    query: web::Query<BotsQuery>,
) -> HttpResponse {
    let bots = match p.list_bots(&v.actor).await {
        Ok(b) => b,
        Err(e) => return d.error_page(Some(&v), &e),
    };
    let rows: Vec<BotRow> = bots.iter().map(|b| bot_row(&p, &v.actor, b)).collect();
    let mut ctx = v.context();
    ctx.insert("bots", &rows);
    if let Some(name) = &query.deleted {
        ctx.insert("notice", &format!("@{name} and its apps are deleted."));
    }
    d.render(StatusCode::OK, "bots.html", &ctx)
}

pub(super) async fn bot_page(
    d: web::Data<Dashboard>,
    p: web::Data<Platform>,
    v: Viewer,
    bot: web::Path<String>,
    query: web::Query<BotsQuery>,
) -> HttpResponse {
    let found = p.bot(&v.actor, bot.as_str(), Need::See).await;
    match async { bot_context(&p, &v, &found?).await }.await {
        Ok(mut ctx) => {
            if let Some(slug) = &query.deleted {
                ctx.insert("notice", &format!("The app `{slug}` is deleted."));
            }
            d.render(StatusCode::OK, "bot.html", &ctx)
        }
        Err(e) => d.error_page(Some(&v), &e),
    }
}

pub(super) async fn bot_context(p: &Platform, v: &Viewer, r: &BotRef) -> Result<Context, ServiceError> {
    #[derive(Serialize)]
    struct AppRow {
        slug: String,
        active: Option<i64>,
        url: String,
        stored: String,
    }
    #[derive(Serialize)]
    struct MemberRow {
        user_id: i64,
        role: String,
        since: String,
    }
    let bot = &r.bot;
    let members = p.list_members(r).await?;
    let usage = p.usage(r).await?;
    let stored_by = |slug: &str| usage.apps.iter().find(|(s, _)| s == slug).map_or(0, |(_, b)| *b);
    let rows: Vec<AppRow> = p
        .apps_with_versions(r)
        .await?
        .into_iter()
        .map(|(a, active)| AppRow {
            slug: a.slug.to_string(),
            active,
            url: p.app_url(bot, &a.slug),
            stored: bytes(stored_by(a.slug.as_str())),
        })
        .collect();
    let members: Vec<MemberRow> = members
        .iter()
        .map(|m| MemberRow { user_id: m.user_id, role: m.role.to_string(), since: when(m.created_at) })
        .collect();
    let mut ctx = v.context();
    ctx.insert("bot", &bot_row(p, &v.actor, bot));
    ctx.insert("role", &v.actor.role(bot.bot_id()).map(|r| r.to_string()));
    ctx.insert("apps", &rows);
    ctx.insert("stored", &bytes(usage.stored_bytes));
    ctx.insert("max_stored", &usage.max_bytes.map(bytes));
    ctx.insert("members", &members);
    ctx.insert("may_manage", &r.allows(Need::Manage));
    Ok(ctx)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct MemberForm {
    user_id: String,
    role: String,
}

pub(super) async fn grant(
    d: web::Data<Dashboard>,
    p: web::Data<Platform>,
    bot: web::Path<String>,
    CsrfForm { viewer: v, form }: CsrfForm<MemberForm>,
) -> HttpResponse {
    let user = form.user_id.trim().parse::<i64>();
    let role = form.role.parse::<Role>();
    let result = match (user, role) {
        (Ok(user), Ok(role)) => match p.bot(&v.actor, bot.as_str(), Need::Manage).await {
            Ok(r) => p.grant_member(&r, user, role).await.map(|()| r),
            Err(e) => Err(e),
        },
        _ => Err(ServiceError::invalid("invalid_member", "enter a numeric Telegram user id and a role")),
    };
    match result {
        Ok(r) => see_other(&format!("/bots/{}", r.bot.host_label)),
        Err(e) => d.error_page(Some(&v), &e),
    }
}

pub(super) async fn revoke(
    d: web::Data<Dashboard>,
    p: web::Data<Platform>,
    path: web::Path<crate::paths::MemberPath>,
    CsrfForm { viewer: v, .. }: CsrfForm<NoFields>,
) -> HttpResponse {
    let revoked = async {
        let r = path.bot(&p, &v.actor, Need::Manage).await?;
        p.revoke_member(&r, path.user_id).await.map(|()| r)
    };
    match revoked.await {
        Ok(r) => see_other(&format!("/bots/{}", r.bot.host_label)),
        Err(e) => d.error_page(Some(&v), &e),
    }
}

/// `POST /bots/{bot}/delete` with `confirm` = the bot's username (typed by the owner).
pub(super) async fn delete(
    d: web::Data<Dashboard>,
    p: web::Data<Platform>,
    bot: web::Path<String>,
    CsrfForm { viewer: v, form }: CsrfForm<ConfirmForm>,
) -> HttpResponse {
    let deleted = async {
        let r = p.bot(&v.actor, bot.as_str(), Need::Manage).await?;
        if form.confirm.trim().trim_start_matches('@') != r.bot.username {
            return Err(ServiceError::invalid(
                "not_confirmed",
                "type the bot's username to confirm; nothing was deleted",
            ));
        }
        p.delete_bot(&r).await.map(|removal| (r.bot.username, removal))
    };
    match deleted.await {
        Ok((name, removal)) => {
            for w in &removal.warnings {
                tracing::warn!(bot = %name, warning = %w, "bot deleted with a warning");
            }
            see_other(&format!("/?deleted={name}"))
        }
        Err(e) => d.error_page(Some(&v), &e),
    }
}
