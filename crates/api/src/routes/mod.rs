//! Route table of the API role.

mod audit;
mod bots;
mod deployments;
mod members;
mod tokens;
mod uploads;

use std::sync::LazyLock;

use actix_web::{HttpResponse, get, web};
use utoipa::OpenApi;
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::{AppExt, scope};

use crate::openapi::ApiDoc;

pub(crate) use crate::health::*;
pub(crate) use crate::paths::{AppPath, BotPath, DeploymentPath, MemberPath};
pub(crate) use {audit::*, bots::*, deployments::*, members::*, tokens::*, uploads::*};

/// The public keys that verify `Tma-Identity` (the same set as every app host's
/// `/_tma/jwks.json`); no token needed.
#[utoipa::path(tag = "identity",
    responses((status = 200, description = "a JSON Web Key Set of Ed25519 (EdDSA) keys")))]
#[get("/jwks.json")]
pub async fn jwks(p: web::Data<tmahost_service::Platform>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((actix_web::http::header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .json(p.identity().jwks())
}

/// Every route of the API role. Each handler's attributes declare its method and path once
/// (`#[get("/bots")]`) with its OpenAPI operation (`#[utoipa::path]`); registering it here
/// puts it both in the router and in the document ([`document`]).
pub fn register(cfg: &mut ServiceConfig) {
    cfg.service(healthz).service(readyz).route("/metrics", web::get().to(metrics_for_admins)).service(
        scope("/api/v1")
            .route("/openapi.json", web::get().to(openapi_json))
            .service(jwks)
            .service(register_bot)
            .service(list_bots)
            .service(get_bot)
            .service(update_bot)
            .service(delete_bot)
            .service(bot_usage)
            .service(create_app)
            .service(list_apps)
            .service(get_app)
            .service(delete_app)
            .service(update_app_settings)
            .service(verify_domain)
            .service(create_deployment)
            .service(list_deployments)
            .service(get_deployment)
            .service(delete_deployment)
            .service(list_files)
            .service(activate_deployment)
            .service(finalize_deployment)
            .service(pin_deployment)
            .service(unpin_deployment)
            .service(rollback)
            .service(create_dev_link)
            .service(find_deployment)
            .service(promote_deployment)
            .service(put_blob)
            .service(list_members)
            .service(grant_member)
            .service(revoke_member)
            .service(erase_user)
            .service(bot_audit)
            .service(platform_audit)
            .service(create_token)
            .service(list_tokens)
            .service(revoke_token),
    );
}

/// The OpenAPI document: [`ApiDoc`]'s header with every path and schema [`register`] declares.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(|| {
        let app = actix_web::App::new().into_utoipa_app().openapi(ApiDoc::openapi()).configure(register);
        app.split_for_parts().1
    });
    &DOCUMENT
}

/// The book's API reference (Markdown), generated from [`document`]: one row per operation with
/// its summary and the statuses it answers. `docs/src/api.md` holds it between markers;
/// `tests/tests/book.rs` keeps the two equal.
pub fn reference() -> String {
    let doc = document();
    let mut out = String::from("\n| Method | Path | What | Answers |\n|---|---|---|---|\n");
    for (path, item) in &doc.paths.paths {
        let operations = [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("PATCH", &item.patch),
            ("DELETE", &item.delete),
        ];
        for (method, operation) in operations {
            let Some(op) = operation else { continue };
            let what = [op.summary.as_deref(), op.description.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ")
                .replace('\n', " ")
                .replace('|', "\\|");
            let answers = op.responses.responses.keys().cloned().collect::<Vec<_>>().join(", ");
            out.push_str(&format!("| {method} | `{path}` | {what} | {answers} |\n"));
        }
    }
    out
}

async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(document())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_holds_every_registered_route_and_its_schemas() {
        let doc = document();
        let paths = &doc.paths.paths;
        assert!(paths["/healthz"].get.is_some());
        assert!(paths["/api/v1/bots/{bot}/apps/{app}/deployments"].post.is_some());
        assert!(paths["/api/v1/bots/{bot}/apps/{app}/deployments/{id}/pin"].delete.is_some());
        let operations: usize = paths
            .values()
            .map(|p| [&p.get, &p.post, &p.put, &p.patch, &p.delete].iter().filter(|o| o.is_some()).count())
            .sum();
        assert_eq!(operations, 38, "every handler registered in `register` is documented");
        let schemas = &doc.components.as_ref().expect("components").schemas;
        for name in ["ErrorBody", "ErrorDetail", "DeploymentDto", "DeployResultDto", "DevLinkDto"] {
            assert!(schemas.contains_key(name), "{name} is missing");
        }
        assert!(doc.components.as_ref().expect("components").security_schemes.contains_key("bearer"));
    }
}
