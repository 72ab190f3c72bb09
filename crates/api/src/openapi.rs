//! The OpenAPI document, generated from the handlers' annotations.

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{dto, error, routes};

#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "tmahost API", description = "Hosting for Telegram Mini Apps: bots, apps, deployments, tokens."),
    paths(
        crate::health::healthz, crate::health::readyz,
        routes::register_bot, routes::list_bots, routes::get_bot, routes::update_bot, routes::delete_bot, routes::bot_usage,
        routes::create_app, routes::list_apps, routes::get_app, routes::delete_app, routes::update_app_settings, routes::verify_domain,
        routes::create_deployment, routes::list_deployments, routes::get_deployment, routes::list_files,
        routes::activate_deployment, routes::delete_deployment, routes::pin_deployment, routes::unpin_deployment,
        routes::put_blob, routes::finalize_deployment, routes::find_deployment, routes::promote_deployment, routes::rollback, routes::create_dev_link, routes::jwks,
        routes::list_members, routes::grant_member, routes::revoke_member, routes::erase_user,
        routes::create_token, routes::list_tokens, routes::revoke_token,
        routes::bot_audit, routes::platform_audit,
    ),
    components(schemas(
        error::ErrorBody, error::ErrorDetail, dto::RegisterBot, dto::BotDto, dto::RegisteredBotDto, dto::UpdateBot, dto::UsageDto, dto::AppUsageDto, dto::BotRemovalDto, dto::ErasureDto, dto::CreateApp, dto::AppDto,
        dto::DeploymentDto, dto::DeployResultDto, dto::FileDto, dto::CreateToken, dto::TokenDto,
        dto::CreatedTokenDto, dto::AuditDto, dto::GrantMember, dto::MemberDto,
        dto::ManifestDto, dto::ManifestEntryDto, dto::UploadPlanDto, dto::BlobDto, dto::RollbackDto, dto::CreateDevLink, dto::DevUserDto, dto::DevTheme, dto::DevLinkDto,
    )),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
