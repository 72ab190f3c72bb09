//! Route table of the API role.

mod audit;
mod bots;
mod deployments;
mod members;
mod tokens;
mod uploads;

use actix_web::web;

pub(crate) use crate::health::*;
pub(crate) use crate::paths::{AppPath, BotPath, DeploymentPath, MemberPath};
pub(crate) use {audit::*, bots::*, deployments::*, members::*, tokens::*, uploads::*};

/// The public keys that verify `Tma-Identity` (the same set as every app host's
/// `/_tma/jwks.json`); no token needed.
#[utoipa::path(get, path = "/api/v1/jwks.json", tag = "identity",
    responses((status = 200, description = "a JSON Web Key Set of Ed25519 (EdDSA) keys")))]
pub async fn jwks(p: web::Data<tmahost_service::Platform>) -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((actix_web::http::header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .json(p.identity().jwks())
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics_for_admins))
        .service(
            web::scope("/api/v1")
                .route("/openapi.json", web::get().to(crate::openapi::document))
                .route("/jwks.json", web::get().to(jwks))
                .route("/bots", web::post().to(register_bot))
                .route("/bots", web::get().to(list_bots))
                .route("/bots/{bot}", web::get().to(get_bot))
                .route("/bots/{bot}", web::patch().to(update_bot))
                .route("/bots/{bot}", web::delete().to(delete_bot))
                .route("/bots/{bot}/usage", web::get().to(bot_usage))
                .route("/bots/{bot}/apps", web::post().to(create_app))
                .route("/bots/{bot}/apps", web::get().to(list_apps))
                .route("/bots/{bot}/apps/{app}", web::get().to(get_app))
                .route("/bots/{bot}/apps/{app}", web::delete().to(delete_app))
                .route("/bots/{bot}/apps/{app}/settings", web::put().to(update_app_settings))
                .route("/bots/{bot}/apps/{app}/domain/verify", web::post().to(verify_domain))
                .route("/bots/{bot}/apps/{app}/deployments", web::post().to(create_deployment))
                .route("/bots/{bot}/apps/{app}/deployments", web::get().to(list_deployments))
                .route("/bots/{bot}/apps/{app}/deployments/{id}", web::get().to(get_deployment))
                .route("/bots/{bot}/apps/{app}/deployments/{id}", web::delete().to(delete_deployment))
                .route("/bots/{bot}/apps/{app}/deployments/{id}/files", web::get().to(list_files))
                .route("/bots/{bot}/apps/{app}/deployments/{id}/activate", web::post().to(activate_deployment))
                .route("/bots/{bot}/apps/{app}/deployments/{id}/finalize", web::post().to(finalize_deployment))
                .route("/bots/{bot}/apps/{app}/deployments/{id}/pin", web::put().to(pin_deployment))
                .route("/bots/{bot}/apps/{app}/deployments/{id}/pin", web::delete().to(unpin_deployment))
                .route("/bots/{bot}/apps/{app}/rollback", web::post().to(rollback))
                .route("/bots/{bot}/apps/{app}/dev-links", web::post().to(create_dev_link))
                .route("/deployments/{id}", web::get().to(find_deployment))
                .route("/deployments/{id}/activate", web::post().to(promote_deployment))
                .route("/blobs/{sha256}", web::put().to(put_blob))
                .route("/bots/{bot}/members", web::get().to(list_members))
                .route("/bots/{bot}/members/{user_id}", web::put().to(grant_member))
                .route("/bots/{bot}/members/{user_id}", web::delete().to(revoke_member))
                .route("/users/{user_id}/erase", web::post().to(erase_user))
                .route("/bots/{bot}/audit", web::get().to(bot_audit))
                .route("/audit", web::get().to(platform_audit))
                .route("/tokens", web::post().to(create_token))
                .route("/tokens", web::get().to(list_tokens))
                .route("/tokens/{id}", web::delete().to(revoke_token)),
        );
}
