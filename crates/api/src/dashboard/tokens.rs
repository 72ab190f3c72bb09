//! The API tokens page: list, create (shown once), revoke.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use tera::Context;
use tmahost_service::display::when;
use tmahost_service::model::TokenScope;
use tmahost_service::{Need, Platform, ServiceError};
use tmahost_types::BotId;

use super::*;

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

pub(super) async fn tokens_page(d: web::Data<Dashboard>, p: web::Data<Platform>, v: Viewer) -> HttpResponse {
    tokens_view(&d, &p, &v, None).await.unwrap_or_else(|e| d.error_page(Some(&v), &e))
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(super) struct TokenForm {
    /// The bot's id.
    bot: String,
    name: String,
    ttl_days: String,
}

pub(super) async fn create_token(
    d: web::Data<Dashboard>,
    p: web::Data<Platform>,
    CsrfForm { viewer: v, form }: CsrfForm<TokenForm>,
) -> HttpResponse {
    let result = async {
        let bot = form.bot.parse::<i64>().map_err(|_| ServiceError::NotFound("bot"))?;
        let ttl = form.ttl_days.trim().parse::<u32>().ok();
        let (token, minted) = p.create_token(&v.actor, &form.name, TokenScope::Bots(vec![BotId(bot)]), ttl).await?;
        tokens_view(&d, &p, &v, Some((token.name, minted.jwt))).await
    }
    .await;
    result.unwrap_or_else(|e| d.error_page(Some(&v), &e))
}

pub(super) async fn revoke_token(
    d: web::Data<Dashboard>,
    p: web::Data<Platform>,
    id: web::Path<String>,
    CsrfForm { viewer: v, .. }: CsrfForm<NoFields>,
) -> HttpResponse {
    match p.revoke_token(&v.actor, &id).await {
        Ok(()) => see_other("/tokens"),
        Err(e) => d.error_page(Some(&v), &e),
    }
}
