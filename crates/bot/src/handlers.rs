//! Updates in, replies out: each command and button press authenticates its sender as a
//! Telegram [`Actor`] and calls the service layer, which decides what they may do.

use std::sync::Arc;

use teloxide::prelude::*;
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, MessageId, ParseMode};
use teloxide::utils::command::BotCommands as _;
use tmahost_service::model::{BotStatus, Deployment, DeploymentStatus, Role, TokenScope};
use tmahost_service::{Actor, AppRef, Need, Platform, ServiceError};
use tmahost_types::BotId;

use crate::commands::{self, Audience, Command};
use crate::text::{self, escape};
use crate::{Ctx, TgBot};

/// Bots per `/bots` page; deployments offered by the `/rollback` keyboard.
const BOTS_PER_PAGE: usize = 20;
const ROLLBACK_CHOICES: usize = 8;
/// Members listed by `/bot` before "and N more".
const MEMBERS_SHOWN: usize = 30;

const REFUSAL: &str = "This bot runs a tmahost platform and only answers its admins and bot members.";

/// A message to send or an edit to make.
#[derive(Debug)]
pub(crate) struct Reply {
    text: String,
    keyboard: Option<InlineKeyboardMarkup>,
}

impl Reply {
    fn text(text: impl Into<String>) -> Self {
        Self { text: text.into(), keyboard: None }
    }
    fn with_keyboard(text: impl Into<String>, rows: Vec<Vec<InlineKeyboardButton>>) -> Self {
        Self { text: text.into(), keyboard: Some(InlineKeyboardMarkup::new(rows)) }
    }
}

impl From<ServiceError> for Reply {
    fn from(e: ServiceError) -> Self {
        if let ServiceError::Internal(inner) = &e {
            tracing::error!(error = %inner, "control bot command failed");
        }
        Self::text(text::error(&e))
    }
}

/// What an inline button does; encoded in its `callback_data` (at most 64 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Button {
    /// Ask to confirm a rollback of `bot`/`app` to `version`.
    Choose {
        bot: i64,
        app: String,
        version: i64,
    },
    Confirm {
        bot: i64,
        app: String,
        version: i64,
    },
    BotsPage(usize),
    Cancel,
}

impl Button {
    pub(crate) fn encode(&self) -> String {
        match self {
            Self::Choose { bot, app, version } => format!("rb:{bot}:{app}:{version}"),
            Self::Confirm { bot, app, version } => format!("rbok:{bot}:{app}:{version}"),
            Self::BotsPage(p) => format!("bots:{p}"),
            Self::Cancel => "cancel".into(),
        }
    }

    pub(crate) fn decode(data: &str) -> Option<Self> {
        let parts: Vec<&str> = data.split(':').collect();
        let target = |bot: &str, app: &str, v: &str| -> Option<(i64, String, i64)> {
            Some((bot.parse().ok()?, app.to_owned(), v.parse().ok()?))
        };
        match parts.as_slice() {
            ["rb", b, a, v] => target(b, a, v).map(|(bot, app, version)| Self::Choose { bot, app, version }),
            ["rbok", b, a, v] => target(b, a, v).map(|(bot, app, version)| Self::Confirm { bot, app, version }),
            ["bots", p] => p.parse().ok().map(Self::BotsPage),
            ["cancel"] => Some(Self::Cancel),
            _ => None,
        }
    }

    fn button(&self, label: impl Into<String>) -> InlineKeyboardButton {
        InlineKeyboardButton::callback(label, self.encode())
    }
}

// ----- entry points ------------------------------------------------------------------------

pub(crate) async fn on_message(bot: TgBot, msg: Message, ctx: Arc<Ctx>) -> ResponseResult<()> {
    // Tokens and links are private: groups and channels are ignored altogether.
    if !msg.chat.is_private() {
        return Ok(());
    }
    let (Some(from), Some(text)) = (msg.from.as_ref(), msg.text()) else { return Ok(()) };
    let user_id = from.id.0 as i64;
    let actor = match ctx.platform.telegram_actor(user_id).await {
        Ok(a) => a,
        Err(e) => return send(&bot, msg.chat.id, Reply::from(e)).await,
    };
    if actor.is_stranger() {
        tracing::info!(user_id, "control bot: refused a stranger");
        return send(&bot, msg.chat.id, Reply::text(REFUSAL)).await;
    }
    let reply = match Command::parse(text, &ctx.username) {
        Ok(Command::AddBot(token)) => {
            // The token must not stay in the chat history, whatever happens next.
            if let Err(e) = bot.delete_message(msg.chat.id, msg.id).await {
                tracing::warn!(error = %e, "could not delete the message holding a bot token");
            }
            add_bot(&ctx.platform, &actor, &token).await
        }
        Ok(cmd) => run(&ctx.platform, &actor, cmd).await,
        Err(_) if text.starts_with('/') => {
            Reply::text(format!("Unknown command or wrong arguments.\n\n{}", commands::help(Audience::of(&actor))))
        }
        Err(_) => Reply::text("Send /help for the list of commands."),
    };
    send(&bot, msg.chat.id, reply).await
}

pub(crate) async fn on_callback(bot: TgBot, q: CallbackQuery, ctx: Arc<Ctx>) -> ResponseResult<()> {
    let answer = bot.answer_callback_query(q.id.clone());
    let (Some(message), Some(data)) = (q.message.as_ref(), q.data.as_deref()) else {
        answer.await?;
        return Ok(());
    };
    let actor = match ctx.platform.telegram_actor(q.from.id.0 as i64).await {
        Ok(a) if !a.is_stranger() => a,
        Ok(_) => {
            answer.text(REFUSAL).await?;
            return Ok(());
        }
        Err(e) => {
            answer.text(text::error(&e)).await?;
            return Ok(());
        }
    };
    answer.await?;
    let reply = match Button::decode(data) {
        Some(b) => press(&ctx.platform, &actor, b).await,
        None => Reply::text("This button is from an older version of the bot; run the command again."),
    };
    edit(&bot, message.chat().id, message.id(), reply).await
}

/// No link previews: Telegram's preview fetcher would otherwise open login links and app URLs.
fn no_preview() -> LinkPreviewOptions {
    LinkPreviewOptions {
        is_disabled: true,
        url: None,
        prefer_small_media: false,
        prefer_large_media: false,
        show_above_text: false,
    }
}

async fn send(bot: &TgBot, chat: ChatId, reply: Reply) -> ResponseResult<()> {
    let mut req = bot.send_message(chat, reply.text).parse_mode(ParseMode::Html).link_preview_options(no_preview());
    if let Some(k) = reply.keyboard {
        req = req.reply_markup(k);
    }
    req.await.map(|_| ())
}

async fn edit(bot: &TgBot, chat: ChatId, id: MessageId, reply: Reply) -> ResponseResult<()> {
    let mut req =
        bot.edit_message_text(chat, id, reply.text).parse_mode(ParseMode::Html).link_preview_options(no_preview());
    if let Some(k) = reply.keyboard {
        req = req.reply_markup(k);
    }
    req.await.map(|_| ())
}

// ----- commands ----------------------------------------------------------------------------

async fn run(p: &Platform, actor: &Actor, cmd: Command) -> Reply {
    let result = match cmd {
        Command::Help | Command::Start => Ok(Reply::text(commands::help(Audience::of(actor)))),
        Command::Bots => bots_page(p, actor, 0).await,
        Command::Bot(args) => bot_info(p, actor, &args).await,
        Command::Deploys(args) => deploys(p, actor, &args).await,
        Command::Rollback(args) => rollback(p, actor, &args).await,
        Command::Login => login(p, actor).await,
        Command::Stats => stats(p, actor).await,
        Command::Grant(args) => grant(p, actor, &args).await,
        Command::Revoke(args) => revoke(p, actor, &args).await,
        Command::Token(args) => token(p, actor, &args).await,
        Command::Disable(args) => set_status(p, actor, &args, BotStatus::Disabled).await,
        Command::Enable(args) => set_status(p, actor, &args, BotStatus::Active).await,
        Command::RemoveBot(args) => remove_bot(p, actor, &args).await,
        Command::AddBot(token) => return add_bot(p, actor, &token).await,
    };
    result.unwrap_or_else(Reply::from)
}

fn usage(how: &str) -> ServiceError {
    ServiceError::BadRequest { code: "usage", message: format!("Usage: {how}") }
}

/// The single argument of a `/cmd <bot>` command.
fn one_arg<'a>(args: &'a str, how: &str) -> Result<&'a str, ServiceError> {
    match commands::words(args).as_slice() {
        [one] => Ok(one),
        _ => Err(usage(how)),
    }
}

async fn add_bot(p: &Platform, actor: &Actor, token: &str) -> Reply {
    let token = token.trim();
    if token.is_empty() {
        return Reply::text("Usage: /addbot <token> (the token @BotFather gave you; this message is deleted)");
    }
    match p.register_bot(actor, token, None).await {
        Ok(r) => {
            let mut out =
                format!("Registered @{} (id {}).\nMain app: {}\n", escape(&r.bot.username), r.bot.id, escape(&r.url));
            if r.warnings.is_empty() {
                out.push_str("Its menu button now opens the app.\n");
            }
            for w in &r.warnings {
                out.push_str(&format!("⚠️ {}\n", escape(w)));
            }
            out.push_str(&format!(
                "\nNext: /grant {} &lt;user_id&gt; owner, then deploy with an API token (/token {}).",
                r.bot.host_label, r.bot.host_label
            ));
            Reply::text(out)
        }
        Err(e) => Reply::text(format!("The bot was not added: {}", text::error(&e))),
    }
}

async fn bots_page(p: &Platform, actor: &Actor, page: usize) -> Result<Reply, ServiceError> {
    let bots = p.list_bots(actor).await?;
    if bots.is_empty() {
        return Ok(Reply::text(if actor.is_admin() {
            "No bots yet. Add one with /addbot &lt;token&gt;.".to_owned()
        } else {
            "You are not a member of any bot yet.".to_owned()
        }));
    }
    let pages = bots.len().div_ceil(BOTS_PER_PAGE);
    let page = page.min(pages - 1);
    let mut out = format!("<b>Bots</b> ({})", bots.len());
    if pages > 1 {
        out.push_str(&format!(", page {} of {pages}", page + 1));
    }
    out.push('\n');
    for b in bots.iter().skip(page * BOTS_PER_PAGE).take(BOTS_PER_PAGE) {
        let role = match actor.role(b.bot_id()) {
            Some(r) => format!(" · {r}"),
            None => String::new(),
        };
        out.push_str(&format!("@{} · {} · id {}{role}\n", escape(&b.username), b.status, b.id));
    }
    out.push_str("\n/bot &lt;bot&gt; for details.");
    let mut nav = Vec::new();
    if page > 0 {
        nav.push(Button::BotsPage(page - 1).button("‹ previous"));
    }
    if page + 1 < pages {
        nav.push(Button::BotsPage(page + 1).button("next ›"));
    }
    Ok(if nav.is_empty() { Reply::text(out) } else { Reply::with_keyboard(out, vec![nav]) })
}

async fn bot_info(p: &Platform, actor: &Actor, args: &str) -> Result<Reply, ServiceError> {
    let key = one_arg(args, "/bot <bot>")?;
    let r = p.bot(actor, key, Need::See).await?;
    let bot = &r.bot;
    let mut out = format!("<b>@{}</b> (id {}) · {}\n", escape(&bot.username), bot.id, bot.status);
    if let Some(r) = actor.role(bot.bot_id()) {
        out.push_str(&format!("Your role: {r}\n"));
    }
    out.push_str("\n<b>Apps</b>\n");
    for (app, active) in p.apps_with_versions(&r).await? {
        let version = active.map_or_else(|| "nothing deployed".to_owned(), |v| format!("v{v} active"));
        out.push_str(&format!(
            "{} · {} · {}\n",
            escape(app.slug.as_str()),
            version,
            escape(&p.app_url(bot, &app.slug))
        ));
    }
    let members = p.list_members(&r).await?;
    out.push_str(&format!("\n<b>Members</b> ({})\n", members.len()));
    if members.is_empty() {
        out.push_str(&format!("none yet; add one with /grant {} &lt;user_id&gt; developer\n", bot.host_label));
    }
    for m in members.iter().take(MEMBERS_SHOWN) {
        out.push_str(&format!("{} · {}\n", m.user_id, m.role));
    }
    if members.len() > MEMBERS_SHOWN {
        out.push_str(&format!("… and {} more (see the dashboard)\n", members.len() - MEMBERS_SHOWN));
    }
    Ok(Reply::text(out))
}

fn deployment_line(d: &Deployment) -> String {
    format!(
        "v{} · {} · {} · {} files · {}",
        d.version,
        d.status,
        text::when(d.activated_at.unwrap_or(d.created_at)),
        d.file_count,
        text::bytes(d.total_bytes)
    )
}

async fn deploys(p: &Platform, actor: &Actor, args: &str) -> Result<Reply, ServiceError> {
    let (bot_key, app, _) =
        commands::bot_app_version(args).map_err(|e| usage(&format!("/deploys <bot> [app] ({e})")))?;
    let r = p.app(actor, &bot_key, &app, Need::See).await?;
    let (bot, app) = (&r.bot, &r.app);
    let list = p.list_deployments(&r, 10).await?;
    if list.is_empty() {
        return Ok(Reply::text(format!(
            "@{} / {} has no deployments yet. Upload one with `tmahost deploy` or the API.",
            escape(&bot.username),
            escape(app.slug.as_str())
        )));
    }
    let mut out = format!("<b>@{} / {}</b>: last {}\n", escape(&bot.username), escape(app.slug.as_str()), list.len());
    for d in &list {
        out.push_str(&format!("{} · {}\n", deployment_line(d), escape(&p.describe_actor(&d.created_by).await)));
    }
    Ok(Reply::text(out))
}

async fn rollback(p: &Platform, actor: &Actor, args: &str) -> Result<Reply, ServiceError> {
    let (bot_key, app, version) =
        commands::bot_app_version(args).map_err(|e| usage(&format!("/rollback <bot> [app] [version] ({e})")))?;
    let r = p.app(actor, &bot_key, &app, Need::Deploy).await?;
    if let Some(v) = version {
        return confirm(p, &r, v).await;
    }
    let (bot, app) = (&r.bot, &r.app);
    let list = p.list_deployments(&r, 50).await?;
    let choices: Vec<&Deployment> = list
        .iter()
        .filter(|d| matches!(d.status, DeploymentStatus::Ready | DeploymentStatus::Superseded))
        .take(ROLLBACK_CHOICES)
        .collect();
    if choices.is_empty() {
        return Ok(Reply::text("There is no other completed deployment to roll back to."));
    }
    let current = list.iter().find(|d| d.status == DeploymentStatus::Active);
    let mut out = format!("<b>@{} / {}</b>", escape(&bot.username), escape(app.slug.as_str()));
    match current {
        Some(c) => out.push_str(&format!(" is on v{}. Which version should be served?", c.version)),
        None => out.push_str(" serves nothing. Which version should be served?"),
    }
    let mut rows: Vec<Vec<InlineKeyboardButton>> = choices
        .iter()
        .map(|d| {
            let b = Button::Choose { bot: bot.id, app: app.slug.as_str().to_owned(), version: d.version };
            vec![b.button(deployment_line(d))]
        })
        .collect();
    rows.push(vec![Button::Cancel.button("Cancel")]);
    Ok(Reply::with_keyboard(out, rows))
}

/// The confirmation step of a rollback.
async fn confirm(p: &Platform, r: &AppRef, version: i64) -> Result<Reply, ServiceError> {
    let d = p.deployment(r, &version.to_string()).await?.deployment;
    let (bot, app) = (&r.bot, &r.app);
    if d.status == DeploymentStatus::Active {
        return Ok(Reply::text(format!("v{} is already the active deployment.", d.version)));
    }
    let text = format!(
        "Serve <b>v{}</b> of @{} / {}?\n{}",
        d.version,
        escape(&bot.username),
        escape(app.slug.as_str()),
        deployment_line(&d)
    );
    let go = Button::Confirm { bot: bot.id, app: app.slug.as_str().to_owned(), version: d.version };
    Ok(Reply::with_keyboard(
        text,
        vec![vec![go.button(format!("Yes, serve v{}", d.version)), Button::Cancel.button("Cancel")]],
    ))
}

async fn press(p: &Platform, actor: &Actor, button: Button) -> Reply {
    let result = match button {
        Button::BotsPage(page) => bots_page(p, actor, page).await,
        Button::Cancel => Ok(Reply::text("Cancelled; nothing changed.")),
        // Both are authorized again when pressed: the presser may have lost the role since.
        Button::Choose { bot, app, version } => match p.app(actor, BotId(bot), &app, Need::Deploy).await {
            Ok(r) => confirm(p, &r, version).await,
            Err(e) => Err(e),
        },
        Button::Confirm { bot, app, version } => activate(p, actor, BotId(bot), &app, version).await,
    };
    result.unwrap_or_else(Reply::from)
}

async fn activate(p: &Platform, actor: &Actor, bot: BotId, app: &str, version: i64) -> Result<Reply, ServiceError> {
    let r = p.app(actor, bot, app, Need::Deploy).await?;
    let d = p.activate_deployment(&p.deployment(&r, &version.to_string()).await?).await?;
    Ok(Reply::text(format!(
        "Done: @{} / {} now serves v{}.\n{}",
        escape(&r.bot.username),
        escape(r.app.slug.as_str()),
        d.version,
        escape(&p.app_url(&r.bot, &r.app.slug))
    )))
}

async fn login(p: &Platform, actor: &Actor) -> Result<Reply, ServiceError> {
    let link = p.create_login_link(actor).await?;
    Ok(Reply::text(format!(
        "Your dashboard login link (works once, for {} minutes):\n{}",
        link.valid_for_secs / 60,
        escape(&link.url)
    )))
}

async fn stats(p: &Platform, actor: &Actor) -> Result<Reply, ServiceError> {
    let s = p.stats(actor).await?;
    let sum = |f: fn(&tmahost_service::model::BotStats) -> i64| s.bots.iter().map(|(_, b)| f(b)).sum::<i64>();
    let disabled = s.bots.iter().filter(|(b, _)| b.status == BotStatus::Disabled).count();
    let mut out = format!(
        "<b>Stats</b>\nBots: {} ({disabled} disabled)\nApps: {}\nDeployments: {} ({} in the last 7 days)\n\
         Live bytes (active deployments): {}\nMembers: {}\n",
        s.bots.len(),
        sum(|b| b.apps),
        sum(|b| b.deployments),
        sum(|b| b.recent_deploys),
        text::bytes(sum(|b| b.active_bytes)),
        sum(|b| b.members),
    );
    if let Some((blobs, bytes)) = s.storage {
        out.push_str(&format!("Stored: {blobs} distinct files, {}\n", text::bytes(bytes)));
    }
    let mut busiest: Vec<_> = s.bots.iter().filter(|(_, b)| b.recent_deploys > 0).collect();
    busiest.sort_by_key(|(_, b)| std::cmp::Reverse(b.recent_deploys));
    if !busiest.is_empty() {
        out.push_str("\n<b>Most deploys this week</b>\n");
        for (bot, st) in busiest.into_iter().take(5) {
            out.push_str(&format!("@{} · {}\n", escape(&bot.username), st.recent_deploys));
        }
    }
    Ok(Reply::text(out))
}

async fn grant(p: &Platform, actor: &Actor, args: &str) -> Result<Reply, ServiceError> {
    let how = "/grant <bot> <user_id> owner|developer";
    let [bot, user, role] = commands::words(args)[..] else { return Err(usage(how)) };
    let user: i64 = user.parse().map_err(|_| usage(how))?;
    let role: Role = role.parse().map_err(|_| usage(how))?;
    let r = p.bot(actor, bot, Need::Manage).await?;
    p.grant_member(&r, user, role).await?;
    let bot = &r.bot;
    Ok(Reply::text(format!(
        "{user} is now {role} of @{}. They can open this bot and send /help (they must press Start once to get notifications).",
        escape(&bot.username)
    )))
}

async fn revoke(p: &Platform, actor: &Actor, args: &str) -> Result<Reply, ServiceError> {
    let how = "/revoke <bot> <user_id>";
    let [bot, user] = commands::words(args)[..] else { return Err(usage(how)) };
    let user: i64 = user.parse().map_err(|_| usage(how))?;
    let r = p.bot(actor, bot, Need::Manage).await?;
    p.revoke_member(&r, user).await?;
    let bot = &r.bot;
    Ok(Reply::text(format!("{user} no longer has a role on @{}.", escape(&bot.username))))
}

async fn token(p: &Platform, actor: &Actor, args: &str) -> Result<Reply, ServiceError> {
    let key = one_arg(args, "/token <bot>")?;
    let bot = p.bot(actor, key, Need::Manage).await?.bot;
    let who = actor.telegram_user().map_or_else(|| actor.label.clone(), |u| u.to_string());
    let name = format!("telegram {who} for @{}", bot.username);
    let (t, minted) = p.create_token(actor, &name, TokenScope::Bots(vec![bot.bot_id()]), None).await?;
    Ok(Reply::text(format!(
        "API token for @{} (id {}, expires {}). It is shown only this once; store it as TMAHOST_TOKEN:\n\n<code>{}</code>",
        escape(&bot.username),
        t.id,
        text::when(t.expires_at),
        escape(&minted.jwt)
    )))
}

async fn set_status(p: &Platform, actor: &Actor, args: &str, status: BotStatus) -> Result<Reply, ServiceError> {
    let how = match status {
        BotStatus::Disabled => "/disable <bot>",
        BotStatus::Active => "/enable <bot>",
    };
    let bot = p.set_bot_status(&p.bot(actor, one_arg(args, how)?, Need::See).await?, status).await?;
    Ok(Reply::text(match status {
        BotStatus::Disabled => format!("@{} is disabled: its apps now answer “unavailable”.", escape(&bot.username)),
        BotStatus::Active => format!("@{} is active again.", escape(&bot.username)),
    }))
}

/// `/removebot <bot>` explains what goes and how to confirm; `/removebot <bot> <username>`
/// (the username typed again) deletes.
async fn remove_bot(p: &Platform, actor: &Actor, args: &str) -> Result<Reply, ServiceError> {
    let how = "/removebot <bot>";
    let (key, typed) = match commands::words(args)[..] {
        [key] => (key, None),
        [key, typed] => (key, Some(typed.trim_start_matches('@'))),
        _ => return Err(usage(how)),
    };
    let r = p.bot(actor, key, Need::Manage).await?;
    let name = r.bot.username.clone();
    if typed != Some(name.as_str()) {
        let apps = p.list_apps(&r).await?.len();
        return Ok(Reply::text(format!(
            "This deletes @{0} with its {apps} apps, their deployments, settings, domains and analytics, its members, and the API tokens scoped to it alone. It cannot be undone.\n\nTo confirm, send:\n<code>/removebot {0} {0}</code>",
            escape(&name)
        )));
    }
    let removal = p.delete_bot(&r).await?;
    let mut text = format!("@{} and its apps are deleted.", escape(&name));
    for w in &removal.warnings {
        text.push_str(&format!("\nNote: {}", escape(w)));
    }
    Ok(Reply::text(text))
}

#[cfg(test)]
mod tests {
    use super::Button;

    #[test]
    fn buttons_round_trip_and_fit_in_64_bytes() {
        let longest = Button::Confirm { bot: 9_999_999_999, app: "a".repeat(32), version: 999_999 };
        for b in [
            Button::Choose { bot: 1, app: "main".into(), version: 3 },
            longest.clone(),
            Button::BotsPage(7),
            Button::Cancel,
        ] {
            assert_eq!(Button::decode(&b.encode()), Some(b.clone()));
        }
        assert!(longest.encode().len() <= 64, "{}", longest.encode());
        for junk in ["", "rb:1:main", "rb:x:main:3", "bots:-1", "rbok:1:main:3:4"] {
            assert_eq!(Button::decode(junk), None, "{junk}");
        }
    }
}
