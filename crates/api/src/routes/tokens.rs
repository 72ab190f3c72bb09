use actix_web::{HttpResponse, delete, get, post, web};
use tmahost_service::Platform;

use crate::auth::Caller;
use crate::dto::{CreateToken, CreatedTokenDto, TokenDto};
use crate::error::{ApiError, ErrorBody};

/// Create an API token within the caller's own scope. The token is returned once.
#[utoipa::path(tag = "tokens", request_body = CreateToken, security(("bearer" = [])),
    responses((status = 201, body = CreatedTokenDto), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/tokens")]
pub async fn create_token(
    p: web::Data<Platform>,
    c: Caller,
    body: web::Json<CreateToken>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let (token, minted) = p.create_token(&c.0, &body.name, body.scope, body.ttl_days).await?;
    Ok(HttpResponse::Created().json(CreatedTokenDto { info: TokenDto::from(&token), token: minted.jwt }))
}

/// Tokens within the caller's scope (never their secrets).
#[utoipa::path(tag = "tokens", security(("bearer" = [])), responses((status = 200, body = [TokenDto])))]
#[get("/tokens")]
pub async fn list_tokens(p: web::Data<Platform>, c: Caller) -> Result<HttpResponse, ApiError> {
    let tokens = p.list_tokens(&c.0).await?;
    Ok(HttpResponse::Ok().json(tokens.iter().map(TokenDto::from).collect::<Vec<_>>()))
}

/// Revoke a token; it stops working at once.
#[utoipa::path(tag = "tokens", security(("bearer" = [])),
    params(("id" = String, Path, description = "token id")),
    responses((status = 204, description = "revoked"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[delete("/tokens/{id}")]
pub async fn revoke_token(p: web::Data<Platform>, c: Caller, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    p.revoke_token(&c.0, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
