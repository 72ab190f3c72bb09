//! The rest of the digest deploy protocol (blob uploads, finalize) and the deployment
//! operations the CLI addresses without a bot and app (promote by id, rollback).

use actix_web::{HttpResponse, get, post, put, web};
use tmahost_service::model::Sha256;
use tmahost_service::{BlobPut, Need, Platform, ServiceError};

use super::{AppPath, DeploymentPath};

use crate::auth::Caller;
use crate::dto::{BlobDto, DeployResultDto, DeploymentDto, RollbackDto};
use crate::error::{ApiError, ErrorBody, OptionalJson};

/// Upload one content of an open digest deploy. The body must have the SHA-256 in the path
/// and the size the manifest declared; the server hashes it again. Idempotent: a content
/// already stored answers 200 without reading the body.
#[utoipa::path(tag = "deployments", security(("bearer" = [])),
    params(("sha256" = String, Path, description = "lowercase hex SHA-256 of the body")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = BlobDto, description = "stored"), (status = 200, body = BlobDto, description = "already stored"),
              (status = 400, body = ErrorBody, description = "hash or size differ from the path and manifest"),
              (status = 404, body = ErrorBody, description = "no open deployment of yours expects this content")))]
#[put("/blobs/{sha256}")]
pub async fn put_blob(
    p: web::Data<Platform>,
    c: Caller,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let sha = Sha256::parse(&path).map_err(|message| ServiceError::BadRequest { code: "invalid_sha256", message })?;
    let answer = |status: BlobPut| {
        let (mut res, label) = match status {
            BlobPut::Stored => (HttpResponse::Created(), "stored"),
            BlobPut::AlreadyStored => (HttpResponse::Ok(), "already_stored"),
        };
        res.json(BlobDto { sha256: sha.to_string(), status: label.into() })
    };
    let Some(size) = p.expected_blob_size(&c.0, &sha).await? else {
        return Ok(answer(BlobPut::AlreadyStored));
    };
    let body = crate::upload::receive_blob(&p, payload, size).await.inspect_err(|_| {
        p.metrics().blob_upload(tmahost_service::metrics::BlobUpload::Rejected, 0);
    })?;
    let status = p.put_blob(&c.0, &sha, body).await?;
    Ok(answer(status))
}

/// Record an open digest deploy once all its contents are uploaded; it becomes active unless
/// it was staged. 422 `missing_blobs` lists what is still missing.
#[utoipa::path(tag = "deployments", security(("bearer" = [])),
    params(("bot" = String, Path, description = "bot id, username or host label"), ("app" = String, Path, description = "app slug"),
           ("id" = String, Path, description = "deployment id or version such as v3")),
    responses((status = 200, body = DeployResultDto), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
#[post("/bots/{bot}/apps/{app}/deployments/{id}/finalize")]
pub async fn finalize_deployment(
    p: web::Data<Platform>,
    c: Caller,
    path: web::Path<DeploymentPath>,
) -> Result<HttpResponse, ApiError> {
    let app = path.app(&p, &c, Need::Deploy).await?;
    let report = p.finalize_upload(&app, &path.id).await?;
    Ok(HttpResponse::Ok().json(DeployResultDto::new(&p, &report)))
}

/// One deployment by its id alone.
#[utoipa::path(tag = "deployments", security(("bearer" = [])),
    params(("id" = String, Path, description = "deployment id")),
    responses((status = 200, body = DeploymentDto), (status = 404, body = ErrorBody)))]
#[get("/deployments/{id}")]
pub async fn find_deployment(
    p: web::Data<Platform>,
    c: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let d = p.find_deployment(&c.0, &path).await?;
    Ok(HttpResponse::Ok().json(DeploymentDto::new(&p, &d.app.bot, &d.app.app, &d.deployment)))
}

/// Promote a deployment (usually a staged one) by its id: it becomes the active one without
/// uploading anything again.
#[utoipa::path(tag = "deployments", security(("bearer" = [])),
    params(("id" = String, Path, description = "deployment id")),
    responses((status = 200, body = DeploymentDto), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[post("/deployments/{id}/activate")]
pub async fn promote_deployment(
    p: web::Data<Platform>,
    c: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let target = p.find_deployment(&c.0, &path).await?;
    let d = p.activate_deployment(&target).await?;
    Ok(HttpResponse::Ok().json(DeploymentDto::new(&p, &target.app.bot, &target.app.app, &d)))
}

/// Roll the app back to a version, or by default to the deployment that was live before.
#[utoipa::path(tag = "deployments", security(("bearer" = [])),
    params(("bot" = String, Path, description = "bot id, username or host label"), ("app" = String, Path, description = "app slug")),
    request_body(content = RollbackDto, description = "optional; `{}` rolls back one step"),
    responses((status = 200, body = DeploymentDto), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[post("/bots/{bot}/apps/{app}/rollback")]
pub async fn rollback(
    p: web::Data<Platform>,
    c: Caller,
    path: web::Path<AppPath>,
    OptionalJson(body): OptionalJson<RollbackDto>,
) -> Result<HttpResponse, ApiError> {
    let to = body.to;
    let app = path.get(&p, &c, Need::Deploy).await?;
    let d = p.rollback(&app, to).await?;
    Ok(HttpResponse::Ok().json(DeploymentDto::new(&p, &app.bot, &app.app, &d)))
}

/// The same metrics on the public API listener, for admin tokens only: they name every
/// tenant's apps and traffic.
pub async fn metrics_for_admins(p: web::Data<Platform>, c: Caller) -> Result<HttpResponse, ApiError> {
    if !c.0.is_admin() {
        return Err(tmahost_service::ServiceError::Forbidden(
            "metrics are for platform admins (or scrape TMAHOST_OPS_ADDR)".into(),
        )
        .into());
    }
    Ok(crate::health::metrics(p).await)
}
