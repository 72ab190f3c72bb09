use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use tmahost_service::model::Sha256;
use tmahost_service::{AppRef, DeclaredFile, DeployOptions, Need, Platform, ServiceError};

use super::{AppPath, DeploymentPath};

use crate::auth::Caller;
use crate::dto::{DeployQuery, DeployResultDto, DeploymentDto, FileDto, LimitQuery, ManifestDto, UploadPlanDto};
use crate::error::{ApiError, ErrorBody};

/// Upload a bundle as the app's next deployment: an archive (zip or tar.gz, raw body or
/// multipart; activated at once unless `?activate=false`), or a JSON manifest that opens a
/// digest deploy (answered with the contents to upload; see `PUT /api/v1/blobs/{sha256}` and
/// `…/finalize`).
#[utoipa::path(tag = "deployments", security(("bearer" = [])),
    params(("bot" = String, Path, description = "bot id, username or host label"), ("app" = String, Path, description = "app slug"), DeployQuery),
    request_body(description = "the archive (application/zip, application/gzip or multipart/form-data), or a digest deploy's manifest (application/json)",
        content((Vec<u8> = "application/zip"), (ManifestDto = "application/json"))),
    responses((status = 201, description = "archive: the deployment; manifest: the upload plan", content(
                  (DeployResultDto = "application/json"), (UploadPlanDto = "application/json"))),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/bots/{bot}/apps/{app}/deployments")]
pub async fn create_deployment(
    p: web::Data<Platform>,
    c: Caller,
    path: web::Path<AppPath>,
    query: web::Query<DeployQuery>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // Resolved and authorized first so an unauthorised caller cannot make us buffer an upload.
    let app = path.get(&p, &c, Need::Deploy).await?;
    let is_json = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return begin_upload(&p, &app, payload).await;
    }
    let archive = crate::upload::receive(&p, &req, payload).await?;
    let query = query.into_inner();
    let opts = DeployOptions { activate: query.activate.unwrap_or(true), message: query.message };
    let report = p.deploy_archive(&app, archive.file.path(), opts).await?;
    Ok(HttpResponse::Created().json(DeployResultDto::new(&p, &report)))
}

/// The manifest half of `create_deployment`.
async fn begin_upload(p: &Platform, app: &AppRef, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    // Room for every allowed file with its longest allowed path, and no more.
    let limits = &p.config().uploads;
    let max_body = limits.max_files.saturating_mul(limits.max_path_bytes + 128).min(64 << 20);
    let body = crate::upload::read_body(p, payload, max_body).await?;
    let manifest: ManifestDto = serde_json::from_slice(&body)
        .map_err(|e| ServiceError::BadRequest { code: "invalid_json", message: e.to_string() })?;
    let declared = manifest
        .files
        .into_iter()
        .map(|(path, f)| {
            let sha256 = Sha256::parse(&f.sha256)
                .map_err(|m| ServiceError::BadRequest { code: "invalid_sha256", message: format!("{path}: {m}") })?;
            Ok(DeclaredFile { path, sha256, size: f.size })
        })
        .collect::<Result<Vec<_>, ServiceError>>()?;
    let opts = DeployOptions { activate: !manifest.stage, message: manifest.message };
    let plan = p.begin_upload(app, declared, opts).await?;
    Ok(HttpResponse::Created().json(UploadPlanDto::new(p, &plan)))
}

/// Deployments of the app, newest first.
#[utoipa::path(tag = "deployments", security(("bearer" = [])),
    params(("bot" = String, Path, description = "bot id, username or host label"), ("app" = String, Path, description = "app slug"), LimitQuery),
    responses((status = 200, body = [DeploymentDto]), (status = 404, body = ErrorBody)))]
#[get("/bots/{bot}/apps/{app}/deployments")]
pub async fn list_deployments(
    p: web::Data<Platform>,
    c: Caller,
    path: web::Path<AppPath>,
    q: web::Query<LimitQuery>,
) -> Result<HttpResponse, ApiError> {
    let r = path.get(&p, &c, Need::See).await?;
    let list = p.list_deployments(&r, q.limit.unwrap_or(50)).await?;
    Ok(HttpResponse::Ok().json(list.iter().map(|d| DeploymentDto::new(&p, &r.bot, &r.app, d)).collect::<Vec<_>>()))
}

/// One deployment, by id or by version (`v3`).
#[utoipa::path(tag = "deployments", security(("bearer" = [])),
    params(("bot" = String, Path, description = "bot id, username or host label"), ("app" = String, Path, description = "app slug"),
           ("id" = String, Path, description = "deployment id or version such as v3")),
    responses((status = 200, body = DeploymentDto), (status = 404, body = ErrorBody)))]
#[get("/bots/{bot}/apps/{app}/deployments/{id}")]
pub async fn get_deployment(
    p: web::Data<Platform>,
    c: Caller,
    path: web::Path<DeploymentPath>,
) -> Result<HttpResponse, ApiError> {
    let d = path.get(&p, &c, Need::See).await?;
    Ok(HttpResponse::Ok().json(DeploymentDto::new(&p, &d.app.bot, &d.app.app, &d.deployment)))
}

/// The manifest of a deployment.
#[utoipa::path(tag = "deployments", security(("bearer" = [])),
    params(("bot" = String, Path, description = "bot id, username or host label"), ("app" = String, Path, description = "app slug"),
           ("id" = String, Path, description = "deployment id or version such as v3")),
    responses((status = 200, body = [FileDto]), (status = 404, body = ErrorBody)))]
#[get("/bots/{bot}/apps/{app}/deployments/{id}/files")]
pub async fn list_files(
    p: web::Data<Platform>,
    c: Caller,
    path: web::Path<DeploymentPath>,
) -> Result<HttpResponse, ApiError> {
    let files = p.deployment_files(&path.get(&p, &c, Need::See).await?).await?;
    Ok(HttpResponse::Ok().json(files.iter().map(FileDto::from).collect::<Vec<_>>()))
}

/// Make this deployment the active one (promote a staged one, or roll back).
#[utoipa::path(tag = "deployments", security(("bearer" = [])),
    params(("bot" = String, Path, description = "bot id, username or host label"), ("app" = String, Path, description = "app slug"),
           ("id" = String, Path, description = "deployment id or version such as v3")),
    responses((status = 200, body = DeploymentDto), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[post("/bots/{bot}/apps/{app}/deployments/{id}/activate")]
pub async fn activate_deployment(
    p: web::Data<Platform>,
    c: Caller,
    path: web::Path<DeploymentPath>,
) -> Result<HttpResponse, ApiError> {
    let target = path.get(&p, &c, Need::Deploy).await?;
    let d = p.activate_deployment(&target).await?;
    let (bot, app) = (&target.app.bot, &target.app.app);
    Ok(HttpResponse::Ok().json(DeploymentDto::new(&p, bot, app, &d)))
}

/// Delete a deployment that is not active.
#[utoipa::path(tag = "deployments", security(("bearer" = [])),
    params(("bot" = String, Path, description = "bot id, username or host label"), ("app" = String, Path, description = "app slug"),
           ("id" = String, Path, description = "deployment id or version such as v3")),
    responses((status = 204, description = "deleted"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[delete("/bots/{bot}/apps/{app}/deployments/{id}")]
pub async fn delete_deployment(
    p: web::Data<Platform>,
    c: Caller,
    path: web::Path<DeploymentPath>,
) -> Result<HttpResponse, ApiError> {
    p.delete_deployment(&path.get(&p, &c, Need::Deploy).await?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Pin a deployment: retention (`keep_deployments`) never removes it.
#[utoipa::path(tag = "deployments", security(("bearer" = [])),
    params(("bot" = String, Path, description = "bot id, username or host label"), ("app" = String, Path, description = "app slug"),
           ("id" = String, Path, description = "deployment id or version such as v3")),
    responses((status = 200, body = DeploymentDto), (status = 404, body = ErrorBody)))]
#[put("/bots/{bot}/apps/{app}/deployments/{id}/pin")]
pub async fn pin_deployment(
    p: web::Data<Platform>,
    c: Caller,
    path: web::Path<DeploymentPath>,
) -> Result<HttpResponse, ApiError> {
    set_pin(&p, &c, &path, true).await
}

/// Unpin a deployment: retention may remove it again once it is old enough.
#[utoipa::path(tag = "deployments", security(("bearer" = [])),
    params(("bot" = String, Path, description = "bot id, username or host label"), ("app" = String, Path, description = "app slug"),
           ("id" = String, Path, description = "deployment id or version such as v3")),
    responses((status = 200, body = DeploymentDto), (status = 404, body = ErrorBody)))]
#[delete("/bots/{bot}/apps/{app}/deployments/{id}/pin")]
pub async fn unpin_deployment(
    p: web::Data<Platform>,
    c: Caller,
    path: web::Path<DeploymentPath>,
) -> Result<HttpResponse, ApiError> {
    set_pin(&p, &c, &path, false).await
}

async fn set_pin(p: &Platform, c: &Caller, path: &DeploymentPath, pinned: bool) -> Result<HttpResponse, ApiError> {
    let target = path.get(p, c, Need::Deploy).await?;
    let d = p.pin_deployment(&target, pinned).await?;
    Ok(HttpResponse::Ok().json(DeploymentDto::new(p, &target.app.bot, &target.app.app, &d)))
}
