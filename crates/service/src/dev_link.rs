//! Dev links: an app URL with freshly signed launch parameters in the fragment, exactly where
//! and as a current Telegram client puts them (`signature` beside `hash`, `chat_type`,
//! `chat_instance`, a current version, a real platform name, a full theme), so a developer can
//! open a gated app in an ordinary browser and an SDK that checks those fields accepts them.
//! The HMAC is the bot token's, as Telegram's; the Ed25519 `signature` is made with a key of
//! this platform, so third-party validation against Telegram's public key refuses dev data.
//! Each link also names its emulator page (the dashboard's frame that answers the Mini App
//! bridge as Telegram Web does) with the same options.

use serde_json::json;
use tmahost_store::model::{App, Bot, NewAuditEvent};
use tmahost_types::AuditAction;

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
    /// `tgWebAppPlatform`: one of [`PLATFORMS`].
    pub platform: String,
    /// Launch with Telegram Web A's dark theme instead of its light one.
    pub dark: bool,
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
            platform: WEB_APP_PLATFORM.into(),
            dark: false,
        }
    }
}

impl DevUser {
    /// Telegram's own bounds: names of at most 64 characters, usernames of 32, and a
    /// `start_param` of at most 512 characters from `A-Z a-z 0-9 _ -` (what `startapp` allows).
    fn check(&self) -> Result<(), ServiceError> {
        if self.id <= 0 || self.first_name.trim().is_empty() {
            return Err(ServiceError::invalid("invalid_user", "a dev user needs a positive id and a first name"));
        }
        let fields = [
            ("first_name", Some(&self.first_name), 64),
            ("last_name", self.last_name.as_ref(), 64),
            ("username", self.username.as_ref(), 32),
            ("language_code", self.language_code.as_ref(), 16),
        ];
        for (name, value, max) in fields {
            if value.is_some_and(|v| v.chars().count() > max) {
                return Err(ServiceError::invalid("invalid_user", format!("{name} is longer than {max} characters")));
            }
        }
        if let Some(p) = &self.start_param
            && (p.len() > 512 || !p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
        {
            return Err(ServiceError::invalid(
                "invalid_start_param",
                "start_param is at most 512 characters of A-Z, a-z, 0-9, _ and - (as Telegram allows)",
            ));
        }
        if !PLATFORMS.contains(&self.platform.as_str()) {
            return Err(ServiceError::invalid(
                "invalid_platform",
                format!("platform is one of {} (what Telegram clients send)", PLATFORMS.join(", ")),
            ));
        }
        Ok(())
    }

    /// The options as an emulator page's query string (what its form sends).
    fn query(&self, deployment: Option<&str>) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("user_id", &self.id.to_string()).append_pair("first_name", &self.first_name);
        for (key, value) in [
            ("last_name", &self.last_name),
            ("username", &self.username),
            ("language_code", &self.language_code),
            ("start_param", &self.start_param),
        ] {
            if let Some(v) = value {
                q.append_pair(key, v);
            }
        }
        if self.is_premium {
            q.append_pair("premium", "1");
        }
        q.append_pair("platform", &self.platform).append_pair("theme", if self.dark { "dark" } else { "light" });
        if let Some(d) = deployment {
            q.append_pair("deployment", d);
        }
        q.finish()
    }
}

/// A signed link and how long it opens sessions.
#[derive(Debug, Clone)]
pub struct DevLink {
    pub bot: Bot,
    pub app: App,
    pub url: String,
    /// The dashboard's emulator page for the same user and options (it signs its own data).
    pub emulator_url: String,
    pub valid_for_secs: u32,
}

/// The Mini App API version dev links announce; SDKs enable methods by it.
pub const WEB_APP_VERSION: &str = "9.1";
/// The client a browser tab stands in for: Telegram Web A.
pub const WEB_APP_PLATFORM: &str = "weba";
/// The `tgWebAppPlatform` values Telegram's clients send.
pub const PLATFORMS: &[&str] = &["android", "ios", "macos", "tdesktop", "weba", "webk", "unigram"];
/// Telegram Web A's light theme, with every key a current client sends.
pub const LIGHT_THEME: &str = concat!(
    r##"{"accent_text_color":"#3390ec","bg_color":"#ffffff","bottom_bar_bg_color":"#ffffff","##,
    r##""button_color":"#3390ec","button_text_color":"#ffffff","destructive_text_color":"#e53935","##,
    r##""header_bg_color":"#ffffff","hint_color":"#707579","link_color":"#3390ec","##,
    r##""secondary_bg_color":"#f4f4f5","section_bg_color":"#ffffff","section_header_text_color":"#3390ec","##,
    r##""section_separator_color":"#e7e7e7","subtitle_text_color":"#707579","text_color":"#000000"}"##
);
/// Telegram Web A's dark theme, the same keys.
pub const DARK_THEME: &str = concat!(
    r##"{"accent_text_color":"#8774e1","bg_color":"#212121","bottom_bar_bg_color":"#212121","##,
    r##""button_color":"#8774e1","button_text_color":"#ffffff","destructive_text_color":"#ff595a","##,
    r##""header_bg_color":"#212121","hint_color":"#aaaaaa","link_color":"#8774e1","##,
    r##""secondary_bg_color":"#0f0f0f","section_bg_color":"#212121","section_header_text_color":"#aaaaaa","##,
    r##""section_separator_color":"#0f0f0f","subtitle_text_color":"#aaaaaa","text_color":"#ffffff"}"##
);

impl Platform {
    /// Signs launch parameters for `user` with the bot's token and appends them to the app's
    /// URL (or a preview URL of `deployment`) as Telegram clients do. Audited: a dev link opens
    /// the app as any user the caller names.
    pub async fn dev_link(
        &self,
        r: &AppRef,
        user: &DevUser,
        deployment: Option<&str>,
    ) -> Result<DevLink, ServiceError> {
        // A dev link opens the app as any user: as powerful as deploying code to it.
        r.require(crate::auth::Need::Deploy)?;
        let (bot, app) = (&r.bot, &r.app);
        user.check()?;
        let (base, deployment) = match deployment {
            Some(key) => {
                let d = self.deployment(r, key).await?.deployment;
                (self.preview_url(bot, &app.slug, &d), Some(d))
            }
            None => (self.app_url(bot, &app.slug), None),
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
        let derived = self.key_for(crate::KeyPurpose::DevLinkSigning);
        let signing_key =
            zeroize::Zeroizing::new(<[u8; 32]>::try_from(derived.expose()).map_err(ServiceError::internal)?);
        let now = tmahost_store::now_ms() / 1000;
        let init_data = tmahost_types::init_data::sign_with_signature(&fields, &token, now, &signing_key);
        let fragment = form_urlencoded::Serializer::new(String::new())
            .append_pair("tgWebAppData", &init_data)
            .append_pair("tgWebAppVersion", WEB_APP_VERSION)
            .append_pair("tgWebAppPlatform", &user.platform)
            .append_pair("tgWebAppThemeParams", if user.dark { DARK_THEME } else { LIGHT_THEME })
            .finish();
        let actor = r.actor();
        self.db()
            .record_audit(&NewAuditEvent {
                actor: &actor.label,
                action: AuditAction::DevLinkCreate,
                bot_id: Some(bot.bot_id()),
                app_id: Some(&app.id),
                deployment_id: deployment.as_ref().map(|d| d.id.as_str()),
                details: json!({
                    "user_id": user.id,
                    "premium": user.is_premium,
                    "start_param": user.start_param,
                    "platform": user.platform,
                    "version": deployment.as_ref().map(|d| d.version),
                }),
            })
            .await?;
        let emulator_url = format!(
            "{}/bots/{}/apps/{}/emulator?{}",
            self.config().api_url(),
            bot.host_label,
            app.slug,
            user.query(deployment.as_ref().map(|d| format!("v{}", d.version)).as_deref())
        );
        Ok(DevLink {
            url: format!("{base}#{fragment}"),
            emulator_url,
            valid_for_secs: app.settings.max_init_data_age_secs,
            bot: bot.clone(),
            app: app.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::DevUser;

    #[test]
    fn dev_users_are_bounded_as_telegram_bounds_its_users() {
        let ok = DevUser { start_param: Some("promo_2026-A".into()), ..DevUser::default() };
        ok.check().expect("a plain start_param");
        let refused = |u: DevUser| u.check().expect_err("refused").code();
        assert_eq!(refused(DevUser { id: 0, ..DevUser::default() }), "invalid_user");
        assert_eq!(refused(DevUser { first_name: " ".into(), ..DevUser::default() }), "invalid_user");
        assert_eq!(refused(DevUser { first_name: "x".repeat(65), ..DevUser::default() }), "invalid_user");
        assert_eq!(refused(DevUser { username: Some("u".repeat(33)), ..DevUser::default() }), "invalid_user");
        for p in ["a b", "a&b=c", "ü", &"p".repeat(513)] {
            assert_eq!(
                refused(DevUser { start_param: Some(p.to_owned()), ..DevUser::default() }),
                "invalid_start_param",
                "{p}"
            );
        }
        DevUser { start_param: Some("p".repeat(512)), first_name: "x".repeat(64), ..DevUser::default() }
            .check()
            .expect("at the bounds");
        assert_eq!(refused(DevUser { platform: "web".into(), ..DevUser::default() }), "invalid_platform");
        DevUser { platform: "android".into(), ..DevUser::default() }.check().expect("a client's platform");
    }

    #[test]
    fn an_emulator_query_carries_every_option() {
        let user = DevUser {
            first_name: "Ann Lee".into(),
            username: Some("ann".into()),
            start_param: Some("promo".into()),
            is_premium: true,
            platform: "ios".into(),
            dark: true,
            ..DevUser::default()
        };
        assert_eq!(
            user.query(Some("v3")),
            "user_id=1000000001&first_name=Ann+Lee&username=ann&language_code=en&start_param=promo&premium=1\
             &platform=ios&theme=dark&deployment=v3"
        );
    }
}
