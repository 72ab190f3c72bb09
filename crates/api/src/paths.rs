//! The names a URL path gives (`/bots/{bot}/apps/{app}…`), typed once for the API and the
//! dashboard. Each turns into a handle through the one service call that resolves the names
//! and checks what the caller may do (`Platform::bot`/`app`/`deployment`).

use serde::Deserialize;
use tmahost_service::{Actor, AppRef, BotRef, DeploymentRef, Need, Platform, ServiceError};

use crate::auth::Caller;

/// `/bots/{bot}…`: a bot as the caller named it (id, username or host label).
#[derive(Debug, Deserialize)]
pub(crate) struct BotPath {
    bot: String,
}

/// `/bots/{bot}/apps/{app}…`
#[derive(Debug, Deserialize)]
pub(crate) struct AppPath {
    bot: String,
    app: String,
}

/// `/bots/{bot}/apps/{app}/deployments/{id}…`: `id` is a deployment id or a version (`v3`).
#[derive(Debug, Deserialize)]
pub(crate) struct DeploymentPath {
    bot: String,
    app: String,
    pub id: String,
}

/// `/bots/{bot}/members/{user_id}…`
#[derive(Debug, Deserialize)]
pub(crate) struct MemberPath {
    bot: String,
    /// The member's Telegram user id.
    pub user_id: i64,
}

impl BotPath {
    /// The bot, if the caller may do what `need` says on it (else 404 or 403).
    pub(crate) async fn get(&self, p: &Platform, c: &Caller, need: Need) -> Result<BotRef, ServiceError> {
        self.resolve(p, &c.0, need).await
    }

    pub(crate) async fn resolve(&self, p: &Platform, actor: &Actor, need: Need) -> Result<BotRef, ServiceError> {
        p.bot(actor, &self.bot, need).await
    }
}

impl AppPath {
    pub(crate) async fn get(&self, p: &Platform, c: &Caller, need: Need) -> Result<AppRef, ServiceError> {
        self.resolve(p, &c.0, need).await
    }

    pub(crate) async fn resolve(&self, p: &Platform, actor: &Actor, need: Need) -> Result<AppRef, ServiceError> {
        p.app(actor, &self.bot, &self.app, need).await
    }
}

impl DeploymentPath {
    pub(crate) async fn get(&self, p: &Platform, c: &Caller, need: Need) -> Result<DeploymentRef, ServiceError> {
        p.deployment(&self.app(p, c, need).await?, &self.id).await
    }

    /// The app alone, for operations that find the deployment themselves.
    pub(crate) async fn app(&self, p: &Platform, c: &Caller, need: Need) -> Result<AppRef, ServiceError> {
        p.app(&c.0, &self.bot, &self.app, need).await
    }
}

impl MemberPath {
    /// The member's bot (see [`BotPath::get`]).
    pub(crate) async fn bot(&self, p: &Platform, actor: &Actor, need: Need) -> Result<BotRef, ServiceError> {
        p.bot(actor, &self.bot, need).await
    }
}
