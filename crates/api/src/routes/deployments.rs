use actix_web::{HttpRequest, HttpResponse, web};
use tmahost_service::{DeployOptions, Platform};

use crate::auth::Caller;
use crate::dto::{DeployQuery, DeployResultDto, DeploymentDto, FileDto, LimitQuery};
use crate::error::{ApiError, ErrorBody};

/// Upload a bundle (zip or tar.gz, raw body or multipart) as the app's next deployment.
/// Activated at once unless `?activate=false`.
#[utoipa::path(post, path = "/api/v1/bots/{bot}/apps/{app}/deployments", tag = "deployments", security(("bearer" = [])),
    params(("bot" = String, Path, description = "bot id, username or host label"), ("app" = String, Path, description = "app slug"), DeployQuery),
    request_body(content = Vec<u8>, content_type = "application/zip", description = "the archive (application/zip, application/gzip or multipart/form-data)"),
    responses((status = 201, body = DeployResultDto), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_deployment(
    p: web::Data<Platform>,
    c: Caller,
    path: web::Path<(String, String)>,
    query: web::Query<DeployQuery>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // Resolve first so an unauthorised caller cannot make us buffer an upload.
    p.resolve_app(&c.0, &path.0, &path.1).await?;
    let archive = crate::upload::receive(&p, &req, payload).await?;
    let query = query.into_inner();
    let opts = DeployOptions { activate: query.activate.unwrap_or(true), message: query.message };
    let report = p.deploy_archive(&c.0, &path.0, &path.1, archive.file.path(), opts).await?;
    Ok(HttpResponse::Created().json(DeployResultDto::new(&p, &report)))
}

/// Deployments of the app, newest first.
#[utoipa::path(get, path = "/api/v1/bots/{bot}/apps/{app}/deployments", tag = "deployments", security(("bearer" = [])),
    params(("bot" = String, Path, description = "bot id, username or host label"), ("app" = String, Path, description = "app slug"), LimitQuery),
    responses((status = 200, body = [DeploymentDto]), (status = 404, body = ErrorBody)))]
pub async fn list_deployments(
    p: web::Data<Platform>,
    c: Caller,
    path: web::Path<(String, String)>,
    q: web::Query<LimitQuery>,
) -> Result<HttpResponse, ApiError> {
    let (bot, app, list) = p.list_deployments(&c.0, &path.0, &path.1, q.limit.unwrap_or(50)).await?;
    Ok(HttpResponse::Ok().json(list.iter().map(|d| DeploymentDto::new(&p, &bot, &app, d)).collect::<Vec<_>>()))
}

/// One deployment, by id or by version (`v3`).
#[utoipa::path(get, path = "/api/v1/bots/{bot}/apps/{app}/deployments/{id}", tag = "deployments", security(("bearer" = [])),
    params(("bot" = String, Path, description = "bot id, username or host label"), ("app" = String, Path, description = "app slug"),
           ("id" = String, Path, description = "deployment id or version such as v3")),
    responses((status = 200, body = DeploymentDto), (status = 404, body = ErrorBody)))]
pub async fn get_deployment(
    p: web::Data<Platform>,
    c: Caller,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (bot, app, d) = p.get_deployment(&c.0, &path.0, &path.1, &path.2).await?;
    Ok(HttpResponse::Ok().json(DeploymentDto::new(&p, &bot, &app, &d)))
}

/// The manifest of a deployment.
#[utoipa::path(get, path = "/api/v1/bots/{bot}/apps/{app}/deployments/{id}/files", tag = "deployments", security(("bearer" = [])),
    params(("bot" = String, Path, description = "bot id, username or host label"), ("app" = String, Path, description = "app slug"),
           ("id" = String, Path, description = "deployment id or version such as v3")),
    responses((status = 200, body = [FileDto]), (status = 404, body = ErrorBody)))]
pub async fn list_files(
    p: web::Data<Platform>,
    c: Caller,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let files = p.deployment_files(&c.0, &path.0, &path.1, &path.2).await?;
    Ok(HttpResponse::Ok().json(files.iter().map(FileDto::from).collect::<Vec<_>>()))
}

/// Make this deployment the active one (promote a staged one, or roll back).
#[utoipa::path(post, path = "/api/v1/bots/{bot}/apps/{app}/deployments/{id}/activate", tag = "deployments", security(("bearer" = [])),
    params(("bot" = String, Path, description = "bot id, username or host label"), ("app" = String, Path, description = "app slug"),
           ("id" = String, Path, description = "deployment id or version such as v3")),
    responses((status = 200, body = DeploymentDto), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn activate_deployment(
    p: web::Data<Platform>,
    c: Caller,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (bot, app, d) = p.activate_deployment(&c.0, &path.0, &path.1, &path.2).await?;
    Ok(HttpResponse::Ok().json(DeploymentDto::new(&p, &bot, &app, &d)))
}

/// Delete a deployment that is not active.
#[utoipa::path(delete, path = "/api/v1/bots/{bot}/apps/{app}/deployments/{id}", tag = "deployments", security(("bearer" = [])),
    params(("bot" = String, Path, description = "bot id, username or host label"), ("app" = String, Path, description = "app slug"),
           ("id" = String, Path, description = "deployment id or version such as v3")),
    responses((status = 204, description = "deleted"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_deployment(
    p: web::Data<Platform>,
    c: Caller,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    p.delete_deployment(&c.0, &path.0, &path.1, &path.2).await?;
    Ok(HttpResponse::NoContent().finish())
}
