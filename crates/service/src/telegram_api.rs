//! The few Bot API calls the service makes with tenant tokens. The base URL comes from
//! `TMAHOST_TELEGRAM_API_URL`; tokens appear only in request URLs and never in errors or logs.

use serde::Deserialize;
use tmahost_telegram::BotToken;

use crate::ServiceError;

#[derive(Debug, Deserialize)]
struct Reply<T> {
    ok: bool,
    result: Option<T>,
    error_code: Option<i64>,
    description: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Me {
    pub id: i64,
    pub username: Option<String>,
}

/// `getMe`. `Ok(None)` when the Bot API cannot be reached at all (offline installs pass the
/// username themselves); an error when Telegram answers that the token is bad.
pub(crate) async fn get_me(http: &reqwest::Client, base: &str, token: &BotToken) -> Result<Option<Me>, ServiceError> {
    let url = format!("{}/bot{}/getMe", base.trim_end_matches('/'), token.expose());
    let resp = match http.post(url).send().await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e.without_url(), "Telegram Bot API unreachable; relying on the given username");
            return Ok(None);
        }
    };
    let status = resp.status();
    let reply: Reply<Me> = resp.json().await.map_err(|e| {
        ServiceError::Telegram(format!("unexpected reply to getMe (HTTP {status}): {}", e.without_url()))
    })?;
    match (reply.ok, reply.result) {
        (true, Some(me)) => Ok(Some(me)),
        _ if matches!(reply.error_code, Some(401 | 404)) => Err(ServiceError::invalid(
            "telegram_rejected_token",
            "Telegram rejected this bot token (Unauthorized); copy it again from @BotFather",
        )),
        _ => Err(ServiceError::Telegram(format!(
            "getMe failed: {} {}",
            reply.error_code.unwrap_or(status.as_u16().into()),
            reply.description.unwrap_or_default()
        ))),
    }
}
