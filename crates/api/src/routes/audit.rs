use actix_web::{HttpResponse, get, web};
use tmahost_service::{Need, Platform};

use super::BotPath;

use crate::auth::Caller;
use crate::dto::{AuditDto, LimitQuery};
use crate::error::{ApiError, ErrorBody};

/// A bot's audit log, newest first.
#[utoipa::path(tag = "audit", security(("bearer" = [])),
    params(("bot" = String, Path, description = "bot id, username or host label"), LimitQuery),
    responses((status = 200, body = [AuditDto]), (status = 404, body = ErrorBody)))]
#[get("/bots/{bot}/audit")]
pub async fn bot_audit(
    p: web::Data<Platform>,
    c: Caller,
    path: web::Path<BotPath>,
    q: web::Query<LimitQuery>,
) -> Result<HttpResponse, ApiError> {
    let events = p.bot_audit_log(&path.get(&p, &c, Need::See).await?, q.limit.unwrap_or(100)).await?;
    Ok(HttpResponse::Ok().json(events.iter().map(AuditDto::from).collect::<Vec<_>>()))
}

/// The platform-wide audit log (admin scope).
#[utoipa::path(tag = "audit", security(("bearer" = [])), params(LimitQuery),
    responses((status = 200, body = [AuditDto]), (status = 403, body = ErrorBody)))]
#[get("/audit")]
pub async fn platform_audit(
    p: web::Data<Platform>,
    c: Caller,
    q: web::Query<LimitQuery>,
) -> Result<HttpResponse, ApiError> {
    let events = p.audit_log(&c.0, q.limit.unwrap_or(100)).await?;
    Ok(HttpResponse::Ok().json(events.iter().map(AuditDto::from).collect::<Vec<_>>()))
}
