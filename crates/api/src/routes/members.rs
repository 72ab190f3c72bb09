use actix_web::{HttpResponse, delete, get, post, put, web};
use tmahost_service::{Need, Platform};

use super::{BotPath, MemberPath};

use crate::auth::Caller;
use crate::dto::{ErasureDto, GrantMember, MemberDto};
use crate::error::{ApiError, ErrorBody};

/// The Telegram users with a role on a bot.
#[utoipa::path(tag = "members", security(("bearer" = [])),
    params(("bot" = String, Path, description = "bot id, username or host label")),
    responses((status = 200, body = [MemberDto]), (status = 404, body = ErrorBody)))]
#[get("/bots/{bot}/members")]
pub async fn list_members(
    p: web::Data<Platform>,
    c: Caller,
    path: web::Path<BotPath>,
) -> Result<HttpResponse, ApiError> {
    let members = p.list_members(&path.get(&p, &c, Need::See).await?).await?;
    Ok(HttpResponse::Ok().json(members.iter().map(MemberDto::from).collect::<Vec<_>>()))
}

/// Give a Telegram user a role on a bot, or change it (owners and admins).
#[utoipa::path(tag = "members", request_body = GrantMember,
    security(("bearer" = [])),
    params(("bot" = String, Path, description = "bot id, username or host label"), ("user_id" = i64, Path, description = "Telegram user id")),
    responses((status = 204, description = "granted"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
#[put("/bots/{bot}/members/{user_id}")]
pub async fn grant_member(
    p: web::Data<Platform>,
    c: Caller,
    path: web::Path<MemberPath>,
    body: web::Json<GrantMember>,
) -> Result<HttpResponse, ApiError> {
    let bot = path.bot(&p, &c.0, Need::Manage).await?;
    p.grant_member(&bot, path.user_id, body.role).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Remove a Telegram user's role on a bot (owners and admins).
#[utoipa::path(tag = "members", security(("bearer" = [])),
    params(("bot" = String, Path, description = "bot id, username or host label"), ("user_id" = i64, Path, description = "Telegram user id")),
    responses((status = 204, description = "revoked"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[delete("/bots/{bot}/members/{user_id}")]
pub async fn revoke_member(
    p: web::Data<Platform>,
    c: Caller,
    path: web::Path<MemberPath>,
) -> Result<HttpResponse, ApiError> {
    let bot = path.bot(&p, &c.0, Need::Manage).await?;
    p.revoke_member(&bot, path.user_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Erase a Telegram user's data (admin scope): memberships, analytics, one-time codes and
/// allow-list entries go, their open sessions stop working, and the audit log, which is kept,
/// names a pseudonym instead.
#[utoipa::path(tag = "members", security(("bearer" = [])),
    params(("user_id" = i64, Path, description = "Telegram user id")),
    responses((status = 200, body = ErasureDto), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/users/{user_id}/erase")]
pub async fn erase_user(p: web::Data<Platform>, c: Caller, path: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let e = p.erase_user(&c.0, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(ErasureDto::from(e)))
}
