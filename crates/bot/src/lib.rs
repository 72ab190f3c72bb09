//! The control bot: admins and bot members run the platform from Telegram. It owns the
//! chat front door only — commands and buttons become calls into the service layer, which
//! authorizes them — plus deploy notifications to members.
//!
//! Updates arrive by long polling (default, works without a public URL) or by webhook
//! (`TMAHOST_CONTROL_BOT_WEBHOOK_URL`). Every Bot API call goes to `TMAHOST_TELEGRAM_API_URL`
//! through teloxide's `Throttle`, which keeps to Telegram's rate limits and retries after a
//! 429's `retry_after`.

mod commands;
mod handlers;
mod notify;
mod text;
mod webhook;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use teloxide::adaptors::Throttle;
use teloxide::adaptors::throttle::Limits;
use teloxide::dispatching::{Dispatcher, ShutdownToken, UpdateFilterExt};
use teloxide::error_handlers::LoggingErrorHandler;
use teloxide::prelude::*;
use teloxide::types::{AllowedUpdate, BotCommandScope, Recipient};
use teloxide::update_listeners::Polling;
use teloxide::{ApiError, RequestError};
use tmahost_service::Platform;

use crate::commands::{Audience, commands_for};

pub(crate) type TgBot = Throttle<Bot>;

/// What every handler needs.
pub(crate) struct Ctx {
    platform: Platform,
    /// The control bot's own username, for `/cmd@username` in group-style mentions.
    username: String,
}

/// Why the control bot did not start.
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    #[error("TMAHOST_CONTROL_BOT_TOKEN is not set")]
    NoToken,
    #[error("TMAHOST_CONTROL_BOT_TOKEN: Telegram rejected the token ({0})")]
    Rejected(String),
    #[error("TMAHOST_TELEGRAM_API_URL: {0}")]
    ApiUrl(String),
    #[error("TMAHOST_CONTROL_BOT_WEBHOOK_URL: {0}")]
    Webhook(String),
}

/// Long polling waits this long for updates per request.
const POLL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stopping bot may take to finish the updates in hand.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The running control bot.
pub struct ControlBot {
    shutdown: ShutdownToken,
    dispatcher: tokio::task::JoinHandle<()>,
    notifier: tokio::task::JoinHandle<()>,
    stop_notifier: tokio::sync::watch::Sender<bool>,
    webhook: Option<actix_web::dev::ServerHandle>,
}

impl std::fmt::Debug for ControlBot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlBot").field("webhook", &self.webhook.is_some()).finish_non_exhaustive()
    }
}

impl ControlBot {
    /// Checks the token with `getMe`, registers the command menus and starts receiving
    /// updates. `webhook` is the listener for webhook mode (bound by the caller, so port 0
    /// works in tests); it must be given exactly when `TMAHOST_CONTROL_BOT_WEBHOOK_URL` is set.
    pub async fn start(platform: Platform, webhook: Option<TcpListener>) -> Result<Self, BotError> {
        let config = platform.config();
        let token = config.control_bot_token.as_ref().ok_or(BotError::NoToken)?;
        let api_url = url::Url::parse(&config.telegram_api_url).map_err(|e| BotError::ApiUrl(e.to_string()))?;
        let bot = Bot::new(token.expose()).set_api_url(api_url).throttle(Limits::default());

        let me = get_me(&bot).await?;
        let username = me.username.clone().unwrap_or_default();
        set_commands(&bot, &config.admin_ids).await;

        let ctx = Arc::new(Ctx { platform: platform.clone(), username: username.clone() });
        let handler = dptree::entry()
            .branch(Update::filter_message().endpoint(handlers::on_message))
            .branch(Update::filter_callback_query().endpoint(handlers::on_callback));
        let mut dispatcher = Dispatcher::builder(bot.clone(), handler)
            .dependencies(dptree::deps![ctx])
            .default_handler(|_| async {})
            .error_handler(LoggingErrorHandler::with_custom_text("control bot: a reply failed"))
            .build();
        let shutdown = dispatcher.shutdown_token();
        let allowed = vec![AllowedUpdate::Message, AllowedUpdate::CallbackQuery];

        let (dispatch, webhook_handle) = match (&config.control_bot_webhook_url, webhook) {
            (Some(url), Some(listener)) => {
                let parsed = url::Url::parse(url).map_err(|e| BotError::Webhook(e.to_string()))?;
                let secret = hex::encode(platform.master_key().derive("control-bot-webhook").expose());
                let (updates, server) = webhook::listen(listener, parsed.path().to_owned(), secret.clone())
                    .map_err(|e| BotError::Webhook(format!("cannot serve the webhook: {e}")))?;
                bot.set_webhook(parsed)
                    .secret_token(secret)
                    .allowed_updates(allowed)
                    .await
                    .map_err(|e| BotError::Webhook(format!("setWebhook failed: {e}")))?;
                let handle = server.handle();
                tokio::spawn(server);
                let task = tokio::spawn(async move {
                    dispatcher
                        .dispatch_with_listener(updates, LoggingErrorHandler::with_custom_text("control bot webhook"))
                        .await;
                });
                (task, Some(handle))
            }
            (None, None) => {
                let polling = Polling::builder(bot.clone())
                    .timeout(POLL_TIMEOUT)
                    .allowed_updates(allowed)
                    .delete_webhook()
                    .await
                    .build();
                let task = tokio::spawn(async move {
                    dispatcher
                        .dispatch_with_listener(polling, LoggingErrorHandler::with_custom_text("control bot polling"))
                        .await;
                });
                (task, None)
            }
            _ => return Err(BotError::Webhook("the webhook URL and its listener go together".into())),
        };

        let (stop_notifier, stop_rx) = tokio::sync::watch::channel(false);
        let notifier = tokio::spawn(notify::follow(platform, bot, stop_rx));
        tracing::info!(bot = %username, webhook = webhook_handle.is_some(), "control bot started");
        Ok(Self { shutdown, dispatcher: dispatch, notifier, stop_notifier, webhook: webhook_handle })
    }

    /// Stops receiving updates, lets the ones in hand finish (bounded), stops notifications.
    pub async fn stop(self) {
        let _ = self.stop_notifier.send(true);
        if let Ok(done) = self.shutdown.shutdown()
            && tokio::time::timeout(STOP_GRACE, done).await.is_err()
        {
            tracing::warn!("control bot: updates still in hand after the grace period");
        }
        if let Some(h) = &self.webhook {
            h.stop(true).await;
        }
        self.dispatcher.abort();
        let _ = self.notifier.await;
    }
}

/// `getMe`, retried while Telegram is unreachable; a rejected token is fatal.
async fn get_me(bot: &TgBot) -> Result<teloxide::types::Me, BotError> {
    let mut wait = Duration::from_secs(1);
    loop {
        match bot.get_me().await {
            Ok(me) => return Ok(me),
            Err(RequestError::Api(e @ ApiError::InvalidToken)) => {
                return Err(BotError::Rejected(e.to_string()));
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_secs = wait.as_secs(), "control bot: getMe failed");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(60));
            }
        }
    }
}

/// The menu everyone sees lists the member commands; admins get the full list in their chat.
async fn set_commands(bot: &TgBot, admins: &[i64]) {
    if let Err(e) = bot.set_my_commands(commands_for(Audience::Member)).await {
        tracing::warn!(error = %e, "control bot: setMyCommands failed");
    }
    for admin in admins {
        let scope = BotCommandScope::Chat { chat_id: Recipient::Id(ChatId(*admin)) };
        // Fails with "chat not found" until the admin has pressed Start once.
        if let Err(e) = bot.set_my_commands(commands_for(Audience::Admin)).scope(scope).await {
            tracing::info!(admin, error = %e, "control bot: admin command menu not set");
        }
    }
}
