//! The command set: parsing (teloxide's `BotCommands` derive), who may see which command in
//! `/help`, and the argument grammar of each. Whether a caller may *run* a command is decided
//! by the service layer, not here.

use teloxide::macros::BotCommands;
use teloxide::types::BotCommand;
use teloxide::utils::command::BotCommands as _;
use tmahost_service::Actor;
use tmahost_service::model::Role;

#[derive(Debug, Clone, PartialEq, Eq, BotCommands)]
#[command(rename_rule = "lowercase")]
pub enum Command {
    #[command(description = "what you can do here")]
    Help,
    #[command(description = "what you can do here", hide)]
    Start,
    #[command(description = "your bots")]
    Bots,
    #[command(description = "<bot>: status, apps, versions, members")]
    Bot(String),
    #[command(description = "<bot> [app]: the last 10 deployments")]
    Deploys(String),
    #[command(description = "<bot> [app] [version]: make an earlier deployment active")]
    Rollback(String),
    #[command(description = "a one-time dashboard login link (5 minutes)")]
    Login,
    #[command(description = "counters of your bots")]
    Stats,
    #[command(description = "<bot> <user_id> owner|developer: give someone a role")]
    Grant(String),
    #[command(description = "<bot> <user_id>: take a role away")]
    Revoke(String),
    #[command(description = "<bot>: create an API token for deploys (shown once)")]
    Token(String),
    #[command(description = "<token>: register a bot by its @BotFather token")]
    AddBot(String),
    #[command(description = "<bot>: take a bot's apps offline")]
    Disable(String),
    #[command(description = "<bot>: bring a disabled bot back")]
    Enable(String),
    #[command(description = "<bot>: delete a bot with all its apps and data (asks to confirm)")]
    RemoveBot(String),
}

/// Who a command is for, in `/help` and the command menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Audience {
    Member,
    Owner,
    Admin,
}

impl Audience {
    pub fn of(actor: &Actor) -> Self {
        if actor.is_admin() {
            Self::Admin
        } else if actor.roles.as_ref().is_some_and(|r| r.values().any(|r| *r == Role::Owner)) {
            Self::Owner
        } else {
            Self::Member
        }
    }
}

/// The audience of each command by its name (as in `/help`).
fn audience(name: &str) -> Audience {
    match name {
        "addbot" | "disable" | "enable" => Audience::Admin,
        "grant" | "revoke" | "token" | "removebot" => Audience::Owner,
        _ => Audience::Member,
    }
}

/// The commands `audience` may use, for `setMyCommands` and `/help`.
pub fn commands_for(who: Audience) -> Vec<BotCommand> {
    Command::bot_commands()
        .into_iter()
        .map(|mut c| {
            c.command = c.command.trim_start_matches('/').to_owned();
            c
        })
        .filter(|c| audience(&c.command) <= who)
        .collect()
}

/// `/help` text (HTML).
pub fn help(who: Audience) -> String {
    let mut out = String::from("<b>tmahost</b>: hosting for Telegram Mini Apps.\n\n");
    for c in commands_for(who) {
        out.push_str(&format!("/{} — {}\n", c.command, crate::text::escape(&c.description)));
    }
    out.push_str("\nBots are named by @username, id or host label.");
    out
}

/// Splits a command's arguments on whitespace.
pub fn words(args: &str) -> Vec<&str> {
    args.split_whitespace().collect()
}

/// `/deploys` and `/rollback` take `<bot> [app] [version]`; a `vN` or plain number is a version.
pub fn bot_app_version(args: &str) -> Result<(String, String, Option<i64>), String> {
    let w = words(args);
    let version = |s: &str| s.strip_prefix('v').unwrap_or(s).parse::<i64>().ok().filter(|v| *v > 0);
    match w.as_slice() {
        [bot] => Ok(((*bot).to_owned(), "main".into(), None)),
        [bot, x] => match version(x) {
            Some(v) => Ok(((*bot).to_owned(), "main".into(), Some(v))),
            None => Ok(((*bot).to_owned(), (*x).to_owned(), None)),
        },
        [bot, app, v] => match version(v) {
            Some(v) => Ok(((*bot).to_owned(), (*app).to_owned(), Some(v))),
            None => Err(format!("`{v}` is not a version; use a number like 3 or v3")),
        },
        _ => Err("name a bot: <bot> [app] [version]".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_with_and_without_the_bot_mention() {
        let p = |s| Command::parse(s, "tmahost_bot");
        assert_eq!(p("/bots").ok(), Some(Command::Bots));
        assert_eq!(p("/bot@tmahost_bot demo").ok(), Some(Command::Bot("demo".into())));
        assert_eq!(p("/addbot 123:abc").ok(), Some(Command::AddBot("123:abc".into())));
        assert_eq!(p("/grant demo 42 owner").ok(), Some(Command::Grant("demo 42 owner".into())));
        assert!(p("/frobnicate").is_err());
        assert!(p("/bots@other_bot").is_err(), "commands for another bot in a group are not ours");
    }

    #[test]
    fn help_depends_on_the_audience() {
        let names = |a| commands_for(a).into_iter().map(|c| c.command).collect::<Vec<_>>();
        assert!(names(Audience::Admin).contains(&"addbot".to_owned()));
        assert!(!names(Audience::Owner).contains(&"addbot".to_owned()));
        assert!(names(Audience::Owner).contains(&"grant".to_owned()));
        assert!(!names(Audience::Member).contains(&"grant".to_owned()));
        assert!(names(Audience::Member).contains(&"rollback".to_owned()));
        assert!(!names(Audience::Member).contains(&"start".to_owned()), "hidden");
    }

    #[test]
    fn bot_app_version_arguments() {
        assert_eq!(bot_app_version("demo"), Ok(("demo".into(), "main".into(), None)));
        assert_eq!(bot_app_version("demo v3"), Ok(("demo".into(), "main".into(), Some(3))));
        assert_eq!(bot_app_version("demo admin"), Ok(("demo".into(), "admin".into(), None)));
        assert_eq!(bot_app_version("demo admin 7"), Ok(("demo".into(), "admin".into(), Some(7))));
        assert!(bot_app_version("demo admin x").is_err());
        assert!(bot_app_version("").is_err());
    }
}
