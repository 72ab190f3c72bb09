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
use teloxide::dispatching::{Dispatcher, UpdateFilterExt};
use teloxide::error_handlers::LoggingErrorHandler;
use teloxide::prelude::*;
use teloxide::requests::Request;
use teloxide::types::{AllowedUpdate, BotCommandScope, Recipient};
use teloxide::update_listeners::Polling;
use teloxide::{ApiError, RequestError};
use tmahost_service::Platform;
use tmahost_service::config::Telegram;
use tmahost_service::health::PartState;

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
    #[error("{var} is not set", var = Telegram::CONTROL_BOT_TOKEN)]
    NoToken,
    #[error("{var}: Telegram rejected the token ({0})", var = Telegram::CONTROL_BOT_TOKEN)]
    Rejected(String),
    #[error("{var}: {0}", var = Telegram::TELEGRAM_API_URL)]
    ApiUrl(String),
    #[error("{var}: {0}", var = Telegram::CONTROL_BOT_WEBHOOK_URL)]
    Webhook(String),
    #[error("the control bot stopped unexpectedly: {0}")]
    Crashed(String),
}

/// Long polling waits this long for updates per request.
const POLL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stopping bot may take to finish the updates in hand.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Longest wait between two tries to reach Telegram at start.
const MAX_RETRY: Duration = Duration::from_secs(60);
/// The part's name in `/readyz`.
const PART: &str = "control_bot";

/// The running control bot. It starts in the background: Telegram being unreachable must not
/// hold up the API and the edge of the same process, so `getMe` and `setWebhook` are retried
/// there while `/readyz` reports the bot as degraded.
pub struct ControlBot {
    stop: tokio::sync::watch::Sender<bool>,
    /// `None` once [`ControlBot::stopped`] has seen it end.
    task: Option<tokio::task::JoinHandle<Result<(), BotError>>>,
}

impl std::fmt::Debug for ControlBot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlBot").finish_non_exhaustive()
    }
}

impl ControlBot {
    /// Checks the configuration and starts the bot in the background: it asks `getMe` until
    /// Telegram answers, registers the command menus and receives updates. `webhook` is the
    /// listener for webhook mode (bound by the caller, so port 0 works in tests); it must be
    /// given exactly when `TMAHOST_CONTROL_BOT_WEBHOOK_URL` is set. Only configuration errors
    /// are returned here; a token Telegram rejects ends the bot later (see [`ControlBot::stopped`]).
    pub fn spawn(platform: Platform, webhook: Option<TcpListener>) -> Result<Self, BotError> {
        let config = platform.config();
        let token = config.telegram.control_bot_token.as_ref().ok_or(BotError::NoToken)?;
        let api_url = url::Url::parse(&config.telegram.api_url).map_err(|e| BotError::ApiUrl(e.to_string()))?;
        let bot = Bot::new(token.expose()).set_api_url(api_url).throttle(Limits::default());
        let receive = match (&config.telegram.control_bot_webhook_url, webhook) {
            (Some(url), Some(listener)) => {
                let url = url::Url::parse(url).map_err(|e| BotError::Webhook(e.to_string()))?;
                let secret = hex::encode(platform.key_for(tmahost_service::KeyPurpose::ControlBotWebhook).expose());
                // The webhook listener answers at once; updates wait in its queue for the
                // dispatcher, which starts once Telegram has been reached.
                let (updates, server) = webhook::listen(listener, url.path().to_owned(), secret.clone())
                    .map_err(|e| BotError::Webhook(format!("cannot serve the webhook: {e}")))?;
                let handle = server.handle();
                tokio::spawn(server);
                Receive::Webhook { url, secret, updates, handle }
            }
            (None, None) => Receive::Polling,
            _ => return Err(BotError::Webhook("the webhook URL and its listener go together".into())),
        };
        platform.report(PART, PartState::Degraded("connecting to Telegram".into()));
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(run(platform, bot, receive, stopping));
        Ok(Self { stop, task: Some(task) })
    }

    /// Resolves when the bot has given up by itself (Telegram rejected the token), with why.
    pub async fn stopped(&mut self) -> Result<(), BotError> {
        let Some(task) = self.task.as_mut() else { return Ok(()) };
        let ended = task.await;
        self.task = None;
        ended.unwrap_or_else(|e| Err(BotError::Crashed(e.to_string())))
    }

    /// Stops receiving updates, lets the ones in hand finish (bounded), stops notifications.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task
            && let Err(e) = task.await
        {
            tracing::warn!(error = %e, "control bot: task ended abnormally");
        }
    }
}

/// How updates arrive.
enum Receive<W> {
    Polling,
    Webhook { url: url::Url, secret: String, updates: W, handle: actix_web::dev::ServerHandle },
}

/// The bot's life, and what follows it however it ends: a bot that gave up says why in
/// `/readyz`, and the webhook listener stops with it.
async fn run<W>(
    platform: Platform,
    bot: TgBot,
    receive: Receive<W>,
    stopping: tokio::sync::watch::Receiver<bool>,
) -> Result<(), BotError>
where
    W: teloxide::update_listeners::UpdateListener<Err = std::convert::Infallible> + Send + 'static,
{
    let webhook = match &receive {
        Receive::Webhook { handle, .. } => Some(handle.clone()),
        Receive::Polling => None,
    };
    let outcome = live(&platform, bot, receive, stopping).await;
    if let Err(e) = &outcome {
        platform.report(PART, PartState::Failed(e.to_string()));
        tracing::error!(error = %e, "control bot: giving up");
    }
    if let Some(h) = webhook {
        h.stop(true).await;
    }
    outcome
}

/// Reaches Telegram (retrying), receives updates until told to stop, then lets the updates in
/// hand finish (bounded) and stops notifications.
async fn live<W>(
    platform: &Platform,
    bot: TgBot,
    receive: Receive<W>,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) -> Result<(), BotError>
where
    W: teloxide::update_listeners::UpdateListener<Err = std::convert::Infallible> + Send + 'static,
{
    let Some(me) = unless_stopped(get_me(platform, &bot), &mut stopping).await else { return Ok(()) };
    let me = me?;
    platform.remember_control_bot_username(me.username.clone());
    let username = me.username.clone().unwrap_or_default();
    set_commands(&bot, &platform.config().telegram.admin_ids).await;

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

    let webhook = matches!(receive, Receive::Webhook { .. });
    let dispatch = match receive {
        Receive::Webhook { url, secret, updates, .. } => {
            let set = retry(platform, "setWebhook", || {
                bot.set_webhook(url.clone()).secret_token(secret.clone()).allowed_updates(allowed.clone()).send()
            });
            let Some(set) = unless_stopped(set, &mut stopping).await else { return Ok(()) };
            set?;
            tokio::spawn(async move {
                dispatcher
                    .dispatch_with_listener(updates, LoggingErrorHandler::with_custom_text("control bot webhook"))
                    .await;
            })
        }
        Receive::Polling => {
            let polling = Polling::builder(bot.clone())
                .timeout(POLL_TIMEOUT)
                .allowed_updates(allowed)
                .delete_webhook()
                .await
                .build();
            tokio::spawn(async move {
                dispatcher
                    .dispatch_with_listener(polling, LoggingErrorHandler::with_custom_text("control bot polling"))
                    .await;
            })
        }
    };
    let (stop_notifier, stop_rx) = tokio::sync::watch::channel(false);
    let notifier = tokio::spawn(notify::follow(platform.clone(), bot, stop_rx));
    platform.report(PART, PartState::Up);
    tracing::info!(bot = %username, webhook, "control bot started");

    stop_requested(&mut stopping).await;
    let _ = stop_notifier.send(true);
    if let Ok(done) = shutdown.shutdown()
        && tokio::time::timeout(STOP_GRACE, done).await.is_err()
    {
        tracing::warn!("control bot: updates still in hand after the grace period");
    }
    dispatch.abort();
    let _ = notifier.await;
    Ok(())
}

/// `work`'s result, or `None` if the bot is told to stop first.
async fn unless_stopped<T>(
    work: impl std::future::Future<Output = T>,
    stopping: &mut tokio::sync::watch::Receiver<bool>,
) -> Option<T> {
    tokio::select! {
        done = work => Some(done),
        () = stop_requested(stopping) => None,
    }
}

/// Resolves once the bot is told to stop (the watch's guard is not held across awaits).
async fn stop_requested(stopping: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stopping.wait_for(|s| *s).await;
}

/// `getMe`, retried while Telegram is unreachable; a rejected token is fatal.
async fn get_me(platform: &Platform, bot: &TgBot) -> Result<teloxide::types::Me, BotError> {
    retry(platform, "getMe", || bot.get_me().send()).await
}

/// Calls Telegram until it answers, backing off up to [`MAX_RETRY`] and reporting the bot as
/// degraded meanwhile; a rejected token is fatal.
async fn retry<T, F: std::future::Future<Output = Result<T, RequestError>>>(
    platform: &Platform,
    method: &str,
    call: impl Fn() -> F,
) -> Result<T, BotError> {
    let mut wait = Duration::from_secs(1);
    loop {
        match call().await {
            Ok(answer) => return Ok(answer),
            Err(RequestError::Api(e @ ApiError::InvalidToken)) => return Err(BotError::Rejected(e.to_string())),
            Err(e) => {
                tracing::warn!(error = %e, retry_in_secs = wait.as_secs(), "control bot: {method} failed");
                let why = format!("{method} failed, retrying every {} s at most: {e}", MAX_RETRY.as_secs());
                platform.report(PART, PartState::Degraded(why));
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_RETRY);
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
