use actix_web::{HttpResponse, web};
use tmahost_service::{Need, Platform};

use super::BotPath;

use crate::auth::Caller;
use crate::dto::{AuditDto, LimitQuery};
use crate::error::{ApiError, ErrorBody};

/// A bot's audit log, newest first.
#[utoipa::path(get, path = "/api/v1/bots/{bot}/audit", tag = "audit", security(("bearer" = [])),
    params(("bot" = String, Path, description = "bot id, username or host label"), LimitQuery),
    responses((status = 200, body = [AuditDto]), (status = 404, body = ErrorBody)))]
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
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("bearer" = [])), params(LimitQuery),
    responses((status = 200, body = [AuditDto]), (status = 403, body = ErrorBody)))]
pub async fn platform_audit(
    p: web::Data<Platform>,
    c: Caller,
    q: web::Query<LimitQuery>,
) -> Result<HttpResponse, ApiError> {
    let events = p.audit_log(&c.0, q.limit.unwrap_or(100)).await?;
    Ok(HttpResponse::Ok().json(events.iter().map(AuditDto::from).collect::<Vec<_>>()))
}
