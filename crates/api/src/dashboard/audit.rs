//! A bot's audit log page.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use tmahost_service::display::when;
use tmahost_service::{Need, Platform, ServiceError};

use super::bots::bot_context;
use super::*;

pub(super) async fn audit_page(
    d: web::Data<Dashboard>,
    p: web::Data<Platform>,
    v: Viewer,
    bot: web::Path<String>,
) -> HttpResponse {
    #[derive(Serialize)]
    struct Row {
        when: String,
        who: String,
        action: String,
        details: String,
    }
    let result = async {
        let r = p.bot(&v.actor, bot.as_str(), Need::See).await?;
        let mut ctx = bot_context(&p, &v, &r).await?;
        let events = p.bot_audit_log(&r, 200).await?;
        let mut rows = Vec::with_capacity(events.len());
        for e in events {
            rows.push(Row {
                when: when(e.at),
                who: p.describe_actor(&e.actor).await,
                action: e.action.to_string(),
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
