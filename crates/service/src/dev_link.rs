//! Dev links: an app URL with freshly signed launch parameters in the fragment, exactly where
//! Telegram puts them, so a developer can open a gated app in an ordinary browser.

use serde_json::json;
use tmahost_store::model::{App, Bot};

use crate::refs::{AppRef, Granted};
use crate::{Platform, ServiceError};

/// The Telegram user a dev link signs in as.
#[derive(Debug, Clone)]
pub struct DevUser {
    pub id: i64,
    pub first_name: String,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub language_code: Option<String>,
    pub is_premium: bool,
    pub start_param: Option<String>,
}

impl Default for DevUser {
    fn default() -> Self {
        Self {
            id: 1_000_000_001,
            first_name: "Dev".into(),
            last_name: None,
            username: None,
            language_code: Some("en".into()),
            is_premium: false,
            start_param: None,
        }
    }
}

/// A signed link and how long it opens sessions.
#[derive(Debug, Clone)]
pub struct DevLink {
    pub bot: Bot,
    pub app: App,
    pub url: String,
    pub valid_for_secs: u32,
}

impl Platform {
    /// Signs launch parameters for `user` with the bot's token and appends them to the app's
    /// URL (or a preview URL of `deployment`) as Telegram clients do.
    pub async fn dev_link(
        &self,
        r: &AppRef,
        user: &DevUser,
        deployment: Option<&str>,
    ) -> Result<DevLink, ServiceError> {
        // A dev link opens the app as any user: as powerful as deploying code to it.
        r.require(crate::auth::Need::Deploy)?;
        let (bot, app) = (&r.bot, &r.app);
        if user.id <= 0 || user.first_name.trim().is_empty() {
            return Err(ServiceError::invalid("invalid_user", "a dev user needs a positive id and a first name"));
        }
        let base = match deployment {
            Some(key) => {
                let d = self.deployment(r, key).await?.deployment;
                self.preview_url(bot, &app.slug, &d)
            }
            None => self.app_url(bot, &app.slug),
        };
        let token = self.bot_token(bot).await?;
        let mut profile = json!({ "id": user.id, "first_name": user.first_name, "allows_write_to_pm": true });
        for (key, value) in
            [("last_name", &user.last_name), ("username", &user.username), ("language_code", &user.language_code)]
        {
            if let Some(v) = value {
                profile[key] = json!(v);
            }
        }
        if user.is_premium {
            profile["is_premium"] = json!(true);
        }
        let profile = profile.to_string();
        let chat_instance = (uuid::Uuid::new_v4().as_u128() as i64).abs().to_string();
        let mut fields =
            vec![("user", profile.as_str()), ("chat_type", "sender"), ("chat_instance", chat_instance.as_str())];
        if let Some(p) = &user.start_param {
            fields.push(("start_param", p.as_str()));
        }
        let init_data = tmahost_types::init_data::sign(&fields, &token, tmahost_store::now_ms() / 1000);
        let theme = r##"{"bg_color":"#ffffff","text_color":"#000000","hint_color":"#707579","link_color":"#3390ec","button_color":"#3390ec","button_text_color":"#ffffff"}"##;
        let fragment = form_urlencoded::Serializer::new(String::new())
            .append_pair("tgWebAppData", &init_data)
            .append_pair("tgWebAppVersion", "8.0")
            .append_pair("tgWebAppPlatform", "web")
            .append_pair("tgWebAppThemeParams", theme)
            .finish();
        Ok(DevLink {
            url: format!("{base}#{fragment}"),
            valid_for_secs: app.settings.max_init_data_age_secs,
            bot: bot.clone(),
            app: app.clone(),
        })
    }
}
