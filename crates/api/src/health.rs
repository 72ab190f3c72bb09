//! Health and metrics handlers: on the API listener, and on the operators' listener that every
//! role runs (built by the `tmahost` application, which owns the listeners).

use actix_web::{HttpResponse, get, web};
use serde_json::json;
use tmahost_service::Platform;

/// Liveness: the process answers.
#[utoipa::path(tag = "health", responses((status = 200, description = "alive")))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Readiness: `ready` when the database, the object store and every background part (the
/// control bot) are up; `degraded` (still 200) when the stores answer but a background part is
/// retrying its outside service; `not_ready` (503) when a store does not answer. `checks` says
/// which part stands how, and why.
#[utoipa::path(tag = "health",
    responses((status = 200, description = "ready or degraded; `checks` names what is degraded"),
        (status = 503, description = "the database or the object store is down")))]
#[get("/readyz")]
pub async fn readyz(platform: web::Data<Platform>) -> HttpResponse {
    let readiness = platform.readiness().await;
    if readiness.serving() {
        HttpResponse::Ok().json(readiness)
    } else {
        tracing::warn!(checks = ?readiness.checks, "not ready");
        HttpResponse::ServiceUnavailable().json(readiness)
    }
}

/// Prometheus metrics of this process (OpenMetrics text), on the operators' listener.
pub async fn metrics(p: web::Data<Platform>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(p.metrics().render())
}
