//! Resolved and authorized handles. A front door names a bot (id, @username or host label) and
//! an app, `Platform::bot` / `Platform::app` / `Platform::deployment` look them up and check the
//! actor's rights once, and every operation takes the handle: no operation parses a name or
//! looks up a bot again, and what a front door checked is what the operation relies on.

use tmahost_store::model::{App, AppSlug, Bot, Deployment};
use tmahost_types::{BotId, BotUsername};

use crate::auth::{Actor, Need};
use crate::{Platform, ServiceError};

/// How a front door names a bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BotKey<'a> {
    Id(BotId),
    /// A numeric id, @username, username or host label, as a person typed it.
    Name(&'a str),
}

impl From<BotId> for BotKey<'_> {
    fn from(id: BotId) -> Self {
        Self::Id(id)
    }
}

impl<'a> From<&'a str> for BotKey<'a> {
    fn from(name: &'a str) -> Self {
        Self::Name(name)
    }
}

impl<'a> From<&'a String> for BotKey<'a> {
    fn from(name: &'a String) -> Self {
        Self::Name(name)
    }
}

/// A bot the actor may act on as far as `need` goes.
#[derive(Debug, Clone)]
pub struct BotRef {
    pub bot: Bot,
    actor: Actor,
    need: Need,
}

/// An app of a bot the actor may act on as far as `need` goes.
#[derive(Debug, Clone)]
pub struct AppRef {
    pub bot: Bot,
    pub app: App,
    actor: Actor,
    need: Need,
}

/// One deployment of such an app.
#[derive(Debug, Clone)]
pub struct DeploymentRef {
    pub app: AppRef,
    pub deployment: Deployment,
}

/// What a handle was granted: its actor, and what the actor may do on its bot as checked when
/// the handle was made. Operations ask for more with `require`, checked again in memory.
pub trait Granted {
    /// The actor, the bot and the need the handle was made for.
    fn grant(&self) -> (&Actor, BotId, Need);

    fn actor(&self) -> &Actor {
        self.grant().0
    }

    /// Whether the actor may also do what `need` says (to show or hide a button).
    fn allows(&self, need: Need) -> bool {
        self.require(need).is_ok()
    }

    /// What an operation needs beyond what the handle was made for (the bot is not looked up
    /// again).
    fn require(&self, need: Need) -> Result<(), ServiceError> {
        let (actor, bot, granted) = self.grant();
        if need <= granted { Ok(()) } else { actor.check(bot, need) }
    }
}

impl Granted for BotRef {
    fn grant(&self) -> (&Actor, BotId, Need) {
        (&self.actor, self.bot.bot_id(), self.need)
    }
}

impl Granted for AppRef {
    fn grant(&self) -> (&Actor, BotId, Need) {
        (&self.actor, self.bot.bot_id(), self.need)
    }
}

impl Platform {
    /// The bot named `key`, if the actor may do what `need` says on it. A bot outside the
    /// actor's scope is reported exactly like a missing one.
    pub async fn bot(&self, actor: &Actor, key: impl Into<BotKey<'_>>, need: Need) -> Result<BotRef, ServiceError> {
        let bot = match key.into() {
            BotKey::Id(id) => self.db().get_bot(id).await?,
            BotKey::Name(key) => {
                let key = key.trim().trim_start_matches('@');
                if let Ok(id) = key.parse::<i64>() {
                    self.db().get_bot(BotId(id)).await?
                } else if let Ok(u) = BotUsername::parse(key) {
                    self.db().get_bot_by_label(u.host_label().as_str()).await?
                } else {
                    self.db().get_bot_by_label(&key.to_ascii_lowercase()).await?
                }
            }
        };
        let bot = bot.filter(|b| actor.scope.allows_bot(b.bot_id())).ok_or(ServiceError::NotFound("bot"))?;
        actor.check(bot.bot_id(), need)?;
        Ok(BotRef { bot, actor: actor.clone(), need })
    }

    /// The app `slug` of the bot named `bot`, if the actor may do what `need` says on the bot.
    pub async fn app(
        &self,
        actor: &Actor,
        bot: impl Into<BotKey<'_>>,
        slug: &str,
        need: Need,
    ) -> Result<AppRef, ServiceError> {
        let BotRef { bot, actor, need } = self.bot(actor, bot, need).await?;
        let slug = AppSlug::parse(slug).map_err(|_| ServiceError::NotFound("app"))?;
        let app = self.db().get_app(bot.bot_id(), &slug).await?.ok_or(ServiceError::NotFound("app"))?;
        Ok(AppRef { bot, app, actor, need })
    }

    /// A deployment of the app by id, or by version as `v3` / `3`.
    pub async fn deployment(&self, app: &AppRef, key: &str) -> Result<DeploymentRef, ServiceError> {
        let version = key.strip_prefix('v').unwrap_or(key).parse::<i64>().ok();
        let d = match version {
            Some(v) => self.db().get_deployment_by_version(&app.app.id, v).await?,
            None => self.db().get_deployment(key).await?,
        };
        let deployment = d.filter(|d| d.app_id == app.app.id).ok_or(ServiceError::NotFound("deployment"))?;
        Ok(DeploymentRef { app: app.clone(), deployment })
    }
}
