//! Tells a bot's members about each deploy and rollback: follows the service's notice feed
//! (the audit log, so deploys made by any process count) and sends each member a message with
//! a `web_app` button that opens the new version inside Telegram.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use teloxide::prelude::*;
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup, ParseMode, WebAppInfo};
use tmahost_service::{DeployNotice, NoticeKind, Platform};

use crate::TgBot;
use crate::text::{self, escape};

/// Backstop poll for deploys made by other processes (API nodes).
const POLL: Duration = Duration::from_secs(2);
/// PostgreSQL identity values can commit out of order; re-reading a few ids below the newest
/// one seen catches a late commit, and `seen` keeps it from being sent twice.
const LOOKBACK: i64 = 64;
const SEEN_KEPT: usize = 1024;

/// Runs until `stop` fires.
pub(crate) async fn follow(platform: Platform, bot: TgBot, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut cursor = loop {
        match platform.notice_cursor().await {
            Ok(c) => break c,
            Err(e) => {
                tracing::warn!(error = %e, "notices: cannot read the audit log yet");
                tokio::select! {
                    _ = tokio::time::sleep(POLL) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    };
    let mut changes = platform.subscribe_changes();
    let mut seen: (HashSet<i64>, VecDeque<i64>) = Default::default();
    loop {
        match platform.deploy_notices_after(cursor - LOOKBACK, 200).await {
            Ok(notices) => {
                for n in notices {
                    cursor = cursor.max(n.event_id);
                    if !seen.0.insert(n.event_id) {
                        continue;
                    }
                    seen.1.push_back(n.event_id);
                    if seen.1.len() > SEEN_KEPT
                        && let Some(old) = seen.1.pop_front()
                    {
                        seen.0.remove(&old);
                    }
                    deliver(&platform, &bot, &n).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "notices: reading the audit log failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = changes.changed() => {}
            _ = stop.changed() => return,
        }
    }
}

async fn deliver(platform: &Platform, bot: &TgBot, n: &DeployNotice) {
    for user in &n.recipients {
        // Each recipient's button carries a one-time code of their own (the launch data that
        // Telegram adds is signed by the control bot, which no edge accepts).
        let link = match platform.staff_link(n, *user).await {
            Ok(link) => Some(link),
            Err(e) => {
                tracing::warn!(user, bot = n.bot.id, error = %e, "no staff link for the notice; sending it without a button");
                None
            }
        };
        let (text, markup) = render(n, link.as_deref());
        let sent = bot.send_message(ChatId(*user), text).parse_mode(ParseMode::Html).reply_markup(markup).await;
        // A member who never pressed Start cannot be messaged (403); that is theirs to fix.
        if let Err(e) = sent {
            tracing::info!(user, bot = n.bot.id, error = %e, "deploy notice not delivered");
        }
    }
}

/// The message and its `web_app` button (to `link`, the recipient's staff link).
pub(crate) fn render(n: &DeployNotice, link: Option<&str>) -> (String, InlineKeyboardMarkup) {
    let d = &n.deployment;
    let target = format!("@{} / {}", escape(&n.bot.username), escape(n.app.slug.as_str()));
    let headline = match n.kind {
        NoticeKind::Deployed => format!("🚀 {target}: v{} is live", d.version),
        NoticeKind::Staged => format!("🧪 {target}: v{} is staged for preview", d.version),
        NoticeKind::Activated => format!("✅ {target}: v{} is now active", d.version),
        NoticeKind::RolledBack => match n.previous_version {
            Some(prev) => format!("⏪ {target}: rolled back from v{prev} to v{}", d.version),
            None => format!("⏪ {target}: rolled back to v{}", d.version),
        },
    };
    let mut text =
        format!("{headline}\n{} files · {} · by {}", d.file_count, text::bytes(d.total_bytes), escape(&n.who));
    if let Some(m) = &d.message {
        text.push_str(&format!("\n“{}”", escape(m)));
    }
    let label =
        if n.kind == NoticeKind::Staged { format!("Preview v{}", d.version) } else { format!("Open v{}", d.version) };
    let button = match link.map(str::parse) {
        Some(Ok(url)) => vec![vec![InlineKeyboardButton::web_app(label, WebAppInfo { url })]],
        _ => Vec::new(),
    };
    (text, InlineKeyboardMarkup::new(button))
}
