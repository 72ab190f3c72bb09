//! The Telegram emulator: a dashboard page that frames an app (live or a preview) with launch
//! data freshly signed for a test user and answers the Mini App bridge as Telegram Web does
//! (`web-admin/static/emulator.js`). The page owns the options form; signing and auditing are
//! the service's dev links.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use tmahost_service::{DARK_THEME, DevUser, LIGHT_THEME, Need, PLATFORMS, Platform, ServiceError};

use super::*;
use crate::paths::AppPath;

type Query = web::Query<HashMap<String, String>>;

/// `GET /bots/{bot}/apps/{app}/emulator?user_id=…&first_name=…&premium=1&platform=…&theme=dark…`
pub(super) async fn emulator_page(
    d: web::Data<Dashboard>,
    p: web::Data<Platform>,
    v: Viewer,
    path: web::Path<AppPath>,
    query: Query,
) -> HttpResponse {
    let page = async {
        let app = path.resolve(&p, &v.actor, Need::Deploy).await?;
        let user = dev_user(&query)?;
        let deployment = query.get("deployment").map(String::as_str).filter(|s| !s.is_empty());
        let link = p.dev_link(&app, &user, deployment).await?;
        let origin = url::Url::parse(&link.url).map_err(ServiceError::internal)?.origin().ascii_serialization();
        Ok::<_, ServiceError>((link, origin, user, deployment.map(str::to_owned)))
    };
    let (link, origin, user, deployment) = match page.await {
        Ok(x) => x,
        Err(e) => return d.error_page(Some(&v), &e),
    };
    #[derive(Serialize)]
    struct Options<'a> {
        user_id: i64,
        first_name: &'a str,
        last_name: &'a str,
        username: &'a str,
        language_code: &'a str,
        start_param: &'a str,
        premium: bool,
        platform: &'a str,
        theme: &'a str,
        deployment: &'a str,
    }
    let mut ctx = v.context();
    ctx.insert("bot", &serde_json::json!({ "id": link.bot.bot_id(), "username": link.bot.username, "host_label": link.bot.host_label }));
    ctx.insert("app", &serde_json::json!({ "slug": link.app.slug.as_str() }));
    ctx.insert("link", &link.url);
    ctx.insert("origin", &origin);
    ctx.insert("valid_for_secs", &link.valid_for_secs);
    ctx.insert("light_theme", LIGHT_THEME);
    ctx.insert("dark_theme", DARK_THEME);
    ctx.insert("platforms", PLATFORMS);
    ctx.insert(
        "options",
        &Options {
            user_id: user.id,
            first_name: &user.first_name,
            last_name: user.last_name.as_deref().unwrap_or_default(),
            username: user.username.as_deref().unwrap_or_default(),
            language_code: user.language_code.as_deref().unwrap_or_default(),
            start_param: user.start_param.as_deref().unwrap_or_default(),
            premium: user.is_premium,
            platform: &user.platform,
            theme: if user.dark { "dark" } else { "light" },
            deployment: deployment.as_deref().unwrap_or_default(),
        },
    );
    // The page frames the app's origin and clears its session there before each launch
    // (the edge answers the emulator's origin with credentials on `/_tma/logout`).
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; connect-src 'self' {origin}; \
         frame-src {origin}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    d.render_with(StatusCode::OK, "emulator.html", &ctx, &csp)
}

/// The form's options; blank fields take the dev link defaults.
fn dev_user(q: &HashMap<String, String>) -> Result<DevUser, ServiceError> {
    let get = |k: &str| q.get(k).map(|s| s.trim()).filter(|s| !s.is_empty());
    let mut user = DevUser::default();
    if let Some(id) = get("user_id") {
        user.id =
            id.parse().map_err(|_| ServiceError::invalid("invalid_user", "the user id is a positive whole number"))?;
    }
    if let Some(name) = get("first_name") {
        user.first_name = name.to_owned();
    }
    user.last_name = get("last_name").map(str::to_owned);
    user.username = get("username").map(str::to_owned);
    if let Some(lang) = get("language_code") {
        user.language_code = Some(lang.to_owned());
    }
    user.start_param = get("start_param").map(str::to_owned);
    user.is_premium = get("premium").is_some_and(|v| v == "1" || v == "on" || v == "true");
    if let Some(platform) = get("platform") {
        user.platform = platform.to_owned();
    }
    user.dark = get("theme") == Some("dark");
    Ok(user)
}
