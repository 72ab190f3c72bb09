//! A bot's apps: creation (the host must not be another bot's), settings (validated, custom
//! domain normalised and unclaimed), lookup, and the URLs where an app and its previews open.

use serde_json::json;
use tmahost_store::model::{App, AppSettings, AppSlug, Bot, Deployment, NewAuditEvent};
use tmahost_store::now_ms;
use tmahost_types::AuditAction;
use tmahost_types::host::{self, AppHost};

use crate::auth::Need;
use crate::refs::{AppRef, BotRef, Granted};
use crate::{Platform, ServiceError};

impl Platform {
    /// A new app of the bot (owners).
    pub async fn create_app(
        &self,
        bot: &BotRef,
        slug: &str,
        settings: Option<AppSettings>,
    ) -> Result<App, ServiceError> {
        bot.require(Need::Manage)?;
        let actor = bot.actor();
        let bot = &bot.bot;
        let slug = AppSlug::parse(slug).map_err(|e| ServiceError::invalid("invalid_slug", e))?;
        // `{slug}--{bot}` (and its previews) must not be another bot's host.
        let host = AppHost::Named { slug: &slug, bot: &bot.host_label }.to_string();
        let (shorter, pattern) = host::collisions(&host);
        let mut others = self.db().colliding_labels(&shorter, &pattern).await?;
        others.extend(self.db().get_bot_by_label(&host).await?.map(|b| b.host_label));
        if let Some(other) = others.into_iter().find(|o| *o != bot.host_label) {
            return Err(ServiceError::invalid(
                "host_collision",
                format!("app `{slug}` would be served at `{host}`, a host of the bot `{other}`"),
            ));
        }
        let settings = self.checked_settings(settings.unwrap_or_default(), None).await?;
        let audit = NewAuditEvent {
            actor: &actor.label,
            action: AuditAction::AppCreate,
            bot_id: Some(bot.bot_id()),
            app_id: None,
            deployment_id: None,
            details: json!({ "slug": slug.as_str() }),
        };
        let app = self.db().insert_app(bot.bot_id(), &slug, &settings, &audit).await?;
        self.changed();
        Ok(app)
    }

    /// Replaces an app's settings (access policy, public paths, SPA fallback, session rules,
    /// custom domain).
    pub async fn update_app_settings(&self, r: &AppRef, settings: AppSettings) -> Result<App, ServiceError> {
        r.require(Need::Manage)?;
        let (actor, bot, app) = (r.actor(), &r.bot, &r.app);
        let settings = self.checked_settings(settings, Some(&app.id)).await?;
        let new_domain = settings.custom_domain.is_some() && settings.custom_domain != app.settings.custom_domain;
        let audit = NewAuditEvent {
            actor: &actor.label,
            action: AuditAction::AppUpdate,
            bot_id: Some(bot.bot_id()),
            app_id: Some(&app.id),
            deployment_id: None,
            details: json!({ "settings": settings }),
        };
        self.db().update_app_settings(&app.id, &settings, &audit).await?;
        self.changed();
        if new_domain {
            // Look for the proof at once (the record may already be there); the periodic check
            // and `…/domain/verify` cover records published later.
            let (platform, r) = (self.clone(), r.clone());
            tokio::spawn(async move {
                if let Err(e) = platform.verify_domain(&r).await {
                    tracing::debug!(error = %e, "custom domain not verified yet");
                }
            });
        }
        Ok(App { settings, updated_at: now_ms(), ..app.clone() })
    }

    pub async fn list_apps(&self, bot: &BotRef) -> Result<Vec<App>, ServiceError> {
        Ok(self.db().list_apps(bot.bot.bot_id()).await?)
    }

    /// The bot's apps, each with its active version (`None`: nothing deployed), in one query
    /// more rather than one per app.
    pub async fn apps_with_versions(&self, bot: &BotRef) -> Result<Vec<(App, Option<i64>)>, ServiceError> {
        let apps = self.list_apps(bot).await?;
        let active: std::collections::HashMap<String, i64> =
            self.db().active_versions(bot.bot.bot_id()).await?.into_iter().collect();
        Ok(apps
            .into_iter()
            .map(|a| {
                let version = active.get(&a.id).copied();
                (a, version)
            })
            .collect())
    }

    fn host_url(&self, host: &str) -> String {
        let c = self.config();
        let port = c.public_port().map(|p| format!(":{p}")).unwrap_or_default();
        format!("{}://{host}.{}{port}/", c.server.public_scheme, c.server.base_domain)
    }

    /// Where end users open the app: `{bot}.{base}` for `main`, else `{app}--{bot}.{base}`.
    pub fn app_url(&self, bot: &Bot, slug: &AppSlug) -> String {
        self.host_url(&AppHost::App { slug, bot: &bot.host_label }.to_string())
    }

    /// Where one deployment can be opened before (or after) it is active.
    pub fn preview_url(&self, bot: &Bot, slug: &AppSlug, d: &Deployment) -> String {
        let short = host::short_id(&d.id);
        self.host_url(&AppHost::Preview { short: &short, slug, bot: &bot.host_label }.to_string())
    }

    /// Settings as stored: validated, the custom domain normalised and checked against the
    /// platform's names and other apps' verified domains.
    async fn checked_settings(&self, mut s: AppSettings, app_id: Option<&str>) -> Result<AppSettings, ServiceError> {
        if let Some(d) = &s.custom_domain {
            let d = crate::domains::normalise_domain(self.config(), d)?;
            if let Some(owner) = self.db().domain_owner(&d).await?
                && Some(owner.as_str()) != app_id
            {
                return Err(ServiceError::invalid("domain_taken", format!("`{d}` is already served by another app")));
            }
            s.custom_domain = Some(d);
        }
        validate_settings(&s)?;
        crate::backends::check(self.config(), &s.backends)?;
        self.refuse_custom_domain_upstreams(&s.backends).await?;
        crate::backends::check_names(self.config(), &s.backends).await?;
        Ok(s)
    }
}

fn validate_settings(s: &AppSettings) -> Result<(), ServiceError> {
    if s.public_paths.len() > 100 || s.public_paths.iter().any(|p| !p.starts_with('/') || p.len() > 256) {
        return Err(ServiceError::invalid(
            "invalid_settings",
            "public_paths: at most 100 paths, each starting with `/`",
        ));
    }
    if !(60..=30 * 86_400).contains(&s.session_ttl_secs) {
        return Err(ServiceError::invalid("invalid_settings", "session_ttl_secs must be between 60 and 2592000"));
    }
    if !(10..=7 * 86_400).contains(&s.max_init_data_age_secs) {
        return Err(ServiceError::invalid("invalid_settings", "max_init_data_age_secs must be between 10 and 604800"));
    }
    if s.allowed_user_ids.as_ref().is_some_and(|ids| ids.len() > 10_000) {
        return Err(ServiceError::invalid("invalid_settings", "allowed_user_ids holds at most 10000 ids"));
    }
    if s.skew_protection_deployments > 20 {
        return Err(ServiceError::invalid("invalid_settings", "skew_protection_deployments must be between 0 and 20"));
    }
    if s.keep_deployments.is_some_and(|k| !(1..=1000).contains(&k)) {
        return Err(ServiceError::invalid("invalid_settings", "keep_deployments must be between 1 and 1000"));
    }
    if let Some(m) = &s.ton_connect {
        crate::ton_connect::check(m)?;
    }
    Ok(())
}
