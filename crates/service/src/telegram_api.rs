//! The few Bot API calls the service makes with tenant tokens. The base URL comes from
//! `TMAHOST_TELEGRAM_API_URL`; tokens appear only in request URLs and never in errors or logs.
//! A 429 is waited out (`parameters.retry_after`, bounded) and retried, as Telegram asks.

use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tmahost_types::BotToken;

use crate::ServiceError;

/// Retries after a 429, and the longest wait we accept before giving up.
const MAX_RETRIES: u32 = 3;
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

#[derive(Debug, Deserialize)]
struct Reply<T> {
    ok: bool,
    result: Option<T>,
    error_code: Option<i64>,
    description: Option<String>,
    parameters: Option<Parameters>,
}

#[derive(Debug, Deserialize)]
struct Parameters {
    retry_after: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Me {
    pub id: i64,
    pub username: Option<String>,
}

/// Why a call failed.
#[derive(Debug)]
pub(crate) enum CallError {
    /// No answer at all (network, DNS, timeout).
    Unreachable(String),
    /// Telegram answered `ok: false`.
    Api { code: i64, description: String },
    /// An answer we could not read.
    Malformed(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreachable(e) => write!(f, "the Bot API is unreachable: {e}"),
            Self::Api { code, description } => write!(f, "{code} {description}"),
            Self::Malformed(e) => write!(f, "unexpected reply: {e}"),
        }
    }
}

/// One Bot API method call with a JSON body.
pub(crate) async fn call<T: DeserializeOwned>(
    http: &reqwest::Client,
    base: &str,
    token: &BotToken,
    method: &str,
    body: &Value,
) -> Result<T, CallError> {
    let url = format!("{}/bot{}/{method}", base.trim_end_matches('/'), token.expose());
    let mut attempt = 0;
    loop {
        let resp =
            http.post(&url).json(body).send().await.map_err(|e| CallError::Unreachable(e.without_url().to_string()))?;
        let status = resp.status();
        let reply: Reply<T> =
            resp.json().await.map_err(|e| CallError::Malformed(format!("HTTP {status}: {}", e.without_url())))?;
        if reply.ok {
            return reply.result.ok_or_else(|| CallError::Malformed("`ok` without `result`".into()));
        }
        let code = reply.error_code.unwrap_or(i64::from(status.as_u16()));
        let retry_after = reply.parameters.and_then(|p| p.retry_after).map(Duration::from_secs);
        match retry_after {
            Some(wait) if code == 429 && attempt < MAX_RETRIES && wait <= MAX_RETRY_AFTER => {
                tracing::warn!(method, retry_after_secs = wait.as_secs(), "Bot API rate limit; waiting");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            _ => return Err(CallError::Api { code, description: reply.description.unwrap_or_default() }),
        }
    }
}

/// `getMe`. `Ok(None)` when the Bot API cannot be reached at all (offline installs pass the
/// username themselves); an error when Telegram answers that the token is bad.
pub(crate) async fn get_me(http: &reqwest::Client, base: &str, token: &BotToken) -> Result<Option<Me>, ServiceError> {
    match call::<Me>(http, base, token, "getMe", &json!({})).await {
        Ok(me) => Ok(Some(me)),
        Err(CallError::Unreachable(e)) => {
            tracing::warn!(error = %e, "Telegram Bot API unreachable; relying on the given username");
            Ok(None)
        }
        Err(CallError::Api { code: 401 | 404, .. }) => Err(ServiceError::invalid(
            "telegram_rejected_token",
            "Telegram rejected this bot token (Unauthorized); copy it again from @BotFather",
        )),
        Err(e) => Err(ServiceError::Telegram(format!("getMe failed: {e}"))),
    }
}

/// Points the bot's menu button (next to the message field) at its main app.
pub(crate) async fn set_menu_button(
    http: &reqwest::Client,
    base: &str,
    token: &BotToken,
    text: &str,
    url: &str,
) -> Result<(), CallError> {
    let body = json!({ "menu_button": { "type": "web_app", "text": text, "web_app": { "url": url } } });
    call::<bool>(http, base, token, "setChatMenuButton", &body).await.map(|_| ())
}

/// Puts the bot's menu button back to Telegram's default (the list of commands).
pub(crate) async fn reset_menu_button(http: &reqwest::Client, base: &str, token: &BotToken) -> Result<(), CallError> {
    call::<bool>(http, base, token, "setChatMenuButton", &json!({ "menu_button": { "type": "default" } }))
        .await
        .map(|_| ())
}
