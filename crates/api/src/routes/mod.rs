//! Route table of the API role.

mod audit;
mod bots;
mod deployments;
mod members;
mod tokens;
mod uploads;

use serde_json::Value;
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
    let doc = serde_json::to_value(document()).expect("the document serializes");
    let mut out = String::from("\n| Method | Path | What | Body | Answers |\n|---|---|---|---|---|\n");
    let cell = |text: &str| text.replace('\n', " ").replace('|', "\\|");
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in ["get", "post", "put", "patch", "delete"] {
            let Some(op) = item.get(method) else { continue };
            let what = [&op["summary"], &op["description"]].into_iter().filter_map(Value::as_str).collect::<Vec<_>>();
            // JSON bodies by their shape, others by their media type.
            let body = (op["requestBody"]["content"].as_object().into_iter().flatten())
                .map(
                    |(media, c)| if media == "application/json" { type_of(&c["schema"]) } else { format!("`{media}`") },
                )
                .collect::<Vec<_>>()
                .join(" or ");
            let answers = (op["responses"].as_object().into_iter().flatten())
                .map(|(status, r)| match r["content"].as_object().and_then(|c| c.values().next()) {
                    Some(c) => format!("{status} {}", type_of(&c["schema"])),
                    None => status.clone(),
                })
                .collect::<Vec<_>>()
                .join(", ");
            let method = method.to_uppercase();
            out.push_str(&format!(
                "| {method} | `{path}` | {} | {} | {} |\n",
                cell(&what.join(" ")),
                cell(&body),
                cell(&answers)
            ));
        }
    }
    out.push_str("\n## Shapes\n\nThe bodies above, field by field (`?`: may be left out or `null`).\n");
    for (name, schema) in doc["components"]["schemas"].as_object().into_iter().flatten() {
        out.push_str(&format!("\n### {name}\n\n"));
        if let Some(text) = schema["description"].as_str() {
            out.push_str(&format!("{}\n\n", text.replace('\n', " ")));
        }
        let Some(fields) = schema["properties"].as_object() else {
            out.push_str(&format!("{}\n", type_of(schema)));
            continue;
        };
        let required: Vec<&str> =
            schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        out.push_str("| Field | Type | What |\n|---|---|---|\n");
        for (field, f) in fields {
            let optional = if required.contains(&field.as_str()) { "" } else { "?" };
            let what = f["description"].as_str().unwrap_or_default();
            out.push_str(&format!("| `{field}`{optional} | {} | {} |\n", cell(&type_of(f)), cell(what)));
        }
    }
    out
}

/// A schema as a reader names it: a link to a shape, `[T]` for a list, alternatives joined by "or".
fn type_of(schema: &Value) -> String {
    if let Some(target) = schema["$ref"].as_str() {
        let name = target.rsplit('/').next().unwrap_or(target);
        return format!("[{name}](#{})", name.to_lowercase());
    }
    for combined in ["oneOf", "anyOf", "allOf"] {
        if let Some(options) = schema[combined].as_array() {
            let named: Vec<String> = options.iter().map(type_of).filter(|t| t != "null").collect();
            let nullable = options.iter().any(|o| o["type"] == "null");
            return named.join(" or ") + if nullable { " or null" } else { "" };
        }
    }
    if let Some(values) = schema["enum"].as_array() {
        return values.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(" or ");
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let named: Vec<String> = types
        .iter()
        .map(|t| match *t {
            "array" => format!("[{}]", type_of(&schema["items"])),
            "object" if schema["additionalProperties"].is_object() => {
                format!("map of {}", type_of(&schema["additionalProperties"]))
            }
            other => other.to_owned(),
        })
        .collect();
    if named.is_empty() { "any".to_owned() } else { named.join(" or ") }
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
