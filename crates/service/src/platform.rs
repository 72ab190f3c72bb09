//! [`Platform`]: the handle every front door holds, and the operations on bots, apps and
//! API tokens. Deployments live in `deployments.rs`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tmahost_store::model::{
    ApiToken, App, AppSettings, AppSlug, AuditEvent, Bot, BotStatus, Deployment, Member, NewAuditEvent, Role,
    TokenScope,
};
use tmahost_store::{BlobStore, Db, Heard, MasterKey, now_ms};
use tmahost_telegram::{BotId, BotToken, BotUsername};

use crate::auth::{Actor, MintedToken, Need, TokenSigner};
use crate::{Config, ServiceError, telegram_api};

/// A newly registered bot with its `main` app and where that app is served.
#[derive(Debug, Clone)]
pub struct Registration {
    pub bot: Bot,
    pub app: App,
    pub url: String,
    /// Things that did not work but did not stop the registration.
    pub warnings: Vec<String>,
}

/// Shared state of all operations; cheap to clone.
#[derive(Debug, Clone)]
pub struct Platform {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    db: Db,
    blobs: BlobStore,
    master: MasterKey,
    signer: TokenSigner,
    http: reqwest::Client,
    work_dir: PathBuf,
    /// Bumped after every change the edge must see (routing, settings, activations).
    changes: tokio::sync::watch::Sender<u64>,
    /// The control bot's username once `getMe` told it (a failed ask is retried next time).
    control_username: tokio::sync::OnceCell<Option<String>>,
    metrics: crate::metrics::Metrics,
    /// Checks custom-domain proofs; `None` when no DNS configuration exists.
    resolver: Option<Resolver>,
    /// Background parts' states for `/readyz`.
    parts: crate::health::Parts,
}

/// The DNS resolver (hickory's has no `Debug`).
struct Resolver(hickory_resolver::TokioResolver);

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resolver")
    }
}

/// A handle that does not keep the platform alive (background tasks).
#[derive(Debug, Clone)]
pub(crate) struct WeakPlatform(std::sync::Weak<Inner>);

impl Platform {
    /// Opens the database (running migrations), the blob store and the master key.
    pub async fn open(config: Config) -> Result<Self, ServiceError> {
        let io = |what: &str, e: std::io::Error| ServiceError::invalid("startup", format!("{what}: {e}"));
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| io(&format!("cannot create {}", config.data_dir.display()), e))?;
        let work_dir = config.data_dir.join("tmp");
        std::fs::create_dir_all(&work_dir).map_err(|e| io("cannot create the temp dir", e))?;

        let master = match &config.master_key {
            Some(k) => MasterKey::parse(k.expose())?,
            None => MasterKey::load_or_create(&config.data_dir.join("master.key"))?,
        };
        let db = Db::connect(&config.database_url()).await?;
        db.migrate().await?;
        let blobs = match config.storage_url() {
            Some(url) => BlobStore::from_url(url)?,
            None => BlobStore::local(&config.data_dir.join("objects"))?,
        };
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20))
            .build()
            .map_err(ServiceError::internal)?;
        let signer = TokenSigner::new(&master);
        let (changes, _) = tokio::sync::watch::channel(0);
        let control_username = tokio::sync::OnceCell::new();
        let resolver = crate::domains::resolver(&config).map(Resolver);
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                db,
                blobs,
                master,
                signer,
                http,
                work_dir,
                changes,
                control_username,
                metrics: Default::default(),
                resolver,
                parts: Default::default(),
            }),
        })
    }

    pub(crate) fn downgrade(&self) -> WeakPlatform {
        WeakPlatform(Arc::downgrade(&self.inner))
    }
    pub(crate) fn upgrade(weak: &WeakPlatform) -> Option<Self> {
        weak.0.upgrade().map(|inner| Self { inner })
    }
    pub(crate) fn resolver(&self) -> Option<&hickory_resolver::TokioResolver> {
        self.inner.resolver.as_ref().map(|r| &r.0)
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }
    pub fn db(&self) -> &Db {
        &self.inner.db
    }
    pub fn blobs(&self) -> &BlobStore {
        &self.inner.blobs
    }
    /// This process's Prometheus metrics.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.inner.metrics
    }
    /// Scratch space for uploads in flight (on the data volume, so renames are cheap).
    pub fn work_dir(&self) -> &Path {
        &self.inner.work_dir
    }

    /// The master key, for front doors that derive their own keys from it (edge sessions).
    pub fn master_key(&self) -> &MasterKey {
        &self.inner.master
    }

    /// Fires after each change to bots, apps or active deployments made through this process.
    /// The edge rebuilds its routing table on it (and on a timer, for changes made elsewhere).
    pub fn subscribe_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// The control bot's username (for the Login Widget), asked of Telegram once; `None`
    /// without a control bot or while Telegram cannot tell.
    pub async fn control_bot_username(&self) -> Option<String> {
        let token = self.config().control_bot()?;
        let (http, base) = (&self.inner.http, &self.config().telegram_api_url);
        let found = self
            .inner
            .control_username
            .get_or_try_init(|| async {
                // Asked while a page renders: an unreachable Telegram must not hold the page up.
                match tokio::time::timeout(Duration::from_secs(2), telegram_api::get_me(http, base, &token)).await {
                    Ok(Ok(Some(me))) => Ok(me.username),
                    _ => Err(()),
                }
            })
            .await;
        found.ok().cloned().flatten()
    }

    /// The control bot running in this process tells its username once `getMe` answered, so
    /// pages need not ask Telegram again.
    pub fn remember_control_bot_username(&self, username: Option<String>) {
        let _ = self.inner.control_username.set(username);
    }

    /// Announces a change the edges must see: at once in this process, and to other processes
    /// through the database (PostgreSQL `NOTIFY`; edges also poll, so a lost one only delays).
    pub(crate) fn changed(&self) {
        self.inner.changes.send_modify(|n| *n += 1);
        let db = self.inner.db.clone();
        tokio::spawn(async move {
            if let Err(e) = db.notify_change(now_ms()).await {
                tracing::warn!(error = %e, "could not notify other processes of a change; they will poll");
            }
        });
    }

    /// Relays changes announced by other processes to [`Platform::subscribe_changes`] (on
    /// PostgreSQL; a no-op on SQLite, where one process owns the database). Runs until the
    /// platform is dropped, reconnecting after database outages.
    pub fn follow_remote_changes(&self) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut listener = None;
            loop {
                let Some(inner) = weak.upgrade() else { return };
                if listener.is_none() {
                    match inner.db.listen_changes().await {
                        Ok(Some(l)) => {
                            listener = Some(l);
                            // Announcements made while nobody listened are lost: look again.
                            inner.changes.send_modify(|n| *n += 1);
                        }
                        Ok(None) => return,
                        Err(e) => {
                            tracing::debug!(error = %e, "cannot listen for changes yet");
                            drop(inner);
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            continue;
                        }
                    }
                }
                drop(inner);
                let heard = match listener.as_mut() {
                    Some(l) => l.next().await,
                    None => continue,
                };
                let Some(inner) = weak.upgrade() else { return };
                match heard {
                    Ok(Heard::Change { at_ms }) => {
                        if let Some(at) = at_ms {
                            inner.metrics.change_heard((now_ms() - at).max(0) as f64 / 1000.0);
                        }
                        inner.changes.send_modify(|n| *n += 1);
                    }
                    // Whatever was announced while the connection was down is read by a refresh.
                    Ok(Heard::Reconnected) => inner.changes.send_modify(|n| *n += 1),
                    Err(e) => {
                        tracing::warn!(error = %e, "lost the change notifications; polling until the database is back");
                        listener = None;
                        drop(inner);
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
    }

    /// What `/readyz` answers: both stores probed, plus the background parts' states.
    pub async fn readiness(&self) -> crate::health::Readiness {
        crate::health::check(self, &self.inner.parts).await
    }

    /// A background part (the control bot) reports how it stands, for `/readyz`.
    pub fn report(&self, part: &'static str, state: crate::health::PartState) {
        self.inner.parts.set(part, state);
    }

    // ----- authentication ---------------------------------------------------------------

    /// Turns a bearer token into an [`Actor`]: signature, expiry, and revocation are checked.
    pub async fn authenticate(&self, bearer: &str) -> Result<Actor, ServiceError> {
        let (id, jti_hash) = self.inner.signer.verify(bearer)?;
        let token = self
            .db()
            .token_by_jti_hash(&jti_hash)
            .await?
            .filter(|t| t.id == id)
            .ok_or_else(|| ServiceError::Unauthorized("the API token is not known to this server".into()))?;
        if token.revoked_at.is_some() {
            return Err(ServiceError::Unauthorized("the API token has been revoked".into()));
        }
        let now = now_ms();
        if token.expires_at <= now {
            return Err(ServiceError::Unauthorized("the API token has expired".into()));
        }
        let scope = self.token_rights(&token, 0).await?;
        if scope == TokenScope::Bots(Vec::new()) {
            return Err(ServiceError::Unauthorized(
                "whoever created this API token no longer has rights to its bots; ask an owner for a new one".into(),
            ));
        }
        // Recording use costs a write; once a minute per token is enough to show activity.
        if token.last_used_at.is_none_or(|t| t < now - 60_000) {
            self.db().touch_token(&token.id).await?;
        }
        Ok(Actor { label: format!("token:{}", token.id), token_id: Some(token.id), scope, roles: None })
    }

    /// What a token may do now: its scope, narrowed to what its minter still may. A token
    /// minted by a bot's owner stops covering a bot when that owner is revoked or demoted; one
    /// minted by another token lives as long as that token, with at most its rights. Tokens
    /// minted by platform admins or the operator keep their scope.
    fn token_rights<'a>(
        &'a self,
        token: &'a ApiToken,
        depth: u8,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<TokenScope, ServiceError>> + Send + 'a>> {
        Box::pin(async move {
            let none = TokenScope::Bots(Vec::new());
            if token.minted_by_admin == 1 {
                return Ok(token.scope.clone());
            }
            let limit = if let Some(user) = token.created_by.strip_prefix("tg:").and_then(|u| u.parse::<i64>().ok()) {
                let minter = self.telegram_actor(user).await?;
                if minter.is_admin() {
                    return Ok(token.scope.clone());
                }
                let owned = minter.roles.unwrap_or_default().into_iter().filter(|(_, r)| *r == Role::Owner);
                TokenScope::Bots(owned.map(|(b, _)| BotId(b)).collect())
            } else if let Some(parent) = token.created_by.strip_prefix("token:") {
                let live = match self.db().get_token(parent).await? {
                    Some(p) if depth < 8 && p.revoked_at.is_none() && p.expires_at > now_ms() => p,
                    _ => return Ok(none),
                };
                self.token_rights(&live, depth + 1).await?
            } else {
                return Ok(token.scope.clone());
            };
            Ok(match (&token.scope, limit) {
                (_, TokenScope::Admin) => token.scope.clone(),
                (TokenScope::Admin, limit) => limit,
                (TokenScope::Bots(mine), TokenScope::Bots(allowed)) => {
                    TokenScope::Bots(mine.iter().copied().filter(|b| allowed.contains(b)).collect())
                }
            })
        })
    }

    /// A Telegram user (control bot, dashboard login): an admin if listed in
    /// `TMAHOST_ADMIN_IDS`, else the member of the bots that granted them a role.
    pub async fn telegram_actor(&self, user_id: i64) -> Result<Actor, ServiceError> {
        let label = format!("tg:{user_id}");
        if self.config().admin_ids.contains(&user_id) {
            return Ok(Actor { token_id: None, scope: TokenScope::Admin, label, roles: None });
        }
        let roles: std::collections::BTreeMap<i64, Role> = self.db().member_roles(user_id).await?.into_iter().collect();
        let scope = TokenScope::Bots(roles.keys().map(|id| BotId(*id)).collect());
        Ok(Actor { token_id: None, scope, label, roles: Some(roles) })
    }

    /// Creates an admin token named `bootstrap` when no live token exists (first start).
    pub async fn ensure_bootstrap_token(&self) -> Result<Option<MintedToken>, ServiceError> {
        if self.db().count_live_tokens().await? > 0 {
            return Ok(None);
        }
        let (_, minted) = self.create_token(&Actor::local_admin(), "bootstrap", TokenScope::Admin, None).await?;
        Ok(Some(minted))
    }

    // ----- bots -------------------------------------------------------------------------

    /// Registers a tenant bot: the token is checked with `getMe` when the Bot API is reachable
    /// (else `username` must be given), stored encrypted, the bot's `main` app is created and
    /// the bot's menu button is pointed at it.
    pub async fn register_bot(
        &self,
        actor: &Actor,
        token: &str,
        username: Option<&str>,
    ) -> Result<Registration, ServiceError> {
        if !actor.is_admin() {
            return Err(ServiceError::Forbidden("only platform admins can register bots".into()));
        }
        let token = BotToken::parse(token).map_err(|e| ServiceError::invalid("invalid_token", e.to_string()))?;
        let given = username
            .map(|u| BotUsername::parse(u).map_err(|e| ServiceError::invalid("invalid_username", e.to_string())))
            .transpose()?;
        let me = telegram_api::get_me(&self.inner.http, &self.config().telegram_api_url, &token).await?;
        let me_reachable = me.is_some();
        let username = match me {
            Some(me) => {
                if me.id != token.bot_id().0 {
                    return Err(ServiceError::Telegram("getMe returned a different bot id than the token's".into()));
                }
                let name = me.username.ok_or_else(|| ServiceError::Telegram("getMe returned no username".into()))?;
                BotUsername::parse(&name).map_err(|e| ServiceError::Telegram(e.to_string()))?
            }
            None => given.ok_or_else(|| {
                ServiceError::invalid(
                    "username_required",
                    "the Telegram Bot API is unreachable from this server; pass the bot's `username`",
                )
            })?,
        };
        let id = token.bot_id();
        let label = username.host_label();
        if let Some(other) = self.db().colliding_labels(label.as_str()).await?.into_iter().next() {
            return Err(ServiceError::invalid(
                "host_collision",
                format!(
                    "@{username}'s host `{label}` would overlap the hosts of the registered bot `{other}`                      (`{{app}}--{{bot}}` names); it cannot be served on this platform"
                ),
            ));
        }
        let ciphertext = self.inner.master.encrypt(token.expose().as_bytes(), id.0.to_string().as_bytes());
        let audit = NewAuditEvent {
            actor: &actor.label,
            action: "bot.register",
            bot_id: Some(id),
            app_id: None,
            deployment_id: None,
            details: json!({ "username": username.as_str() }),
        };
        let bot =
            self.db().insert_bot(id, username.as_str(), username.host_label().as_str(), &ciphertext, &audit).await?;
        let audit = NewAuditEvent { action: "app.create", details: json!({ "slug": AppSlug::MAIN }), ..audit };
        let app = self.db().insert_app(id, &AppSlug::main(), &AppSettings::default(), &audit).await?;
        self.changed();
        tracing::info!(bot = %id, username = %username, actor = %actor.label, "bot registered");

        let url = self.app_url(&bot, &app.slug);
        let mut warnings = Vec::new();
        if me_reachable {
            // The bot is registered either way; a refused menu button (Telegram wants https)
            // is something the admin should hear about, not a failed registration.
            let (http, base) = (&self.inner.http, &self.config().telegram_api_url);
            if let Err(e) = telegram_api::set_menu_button(http, base, &token, "Open", &url).await {
                tracing::warn!(bot = %id, error = %e, "setChatMenuButton failed");
                warnings.push(format!("the menu button was not set ({e})"));
            }
        }
        Ok(Registration { bot, app, url, warnings })
    }

    /// The bots the actor may see.
    pub async fn list_bots(&self, actor: &Actor) -> Result<Vec<Bot>, ServiceError> {
        let bots = self.db().list_bots().await?;
        Ok(bots.into_iter().filter(|b| actor.scope.allows_bot(b.bot_id())).collect())
    }

    /// Finds a bot by numeric id, @username or host label. A bot outside the actor's scope is
    /// reported exactly like a missing one.
    pub async fn resolve_bot(&self, actor: &Actor, key: &str) -> Result<Bot, ServiceError> {
        let key = key.trim().trim_start_matches('@');
        let bot = if let Ok(id) = key.parse::<i64>() {
            self.db().get_bot(BotId(id)).await?
        } else if let Ok(u) = BotUsername::parse(key) {
            self.db().get_bot_by_label(u.host_label().as_str()).await?
        } else {
            self.db().get_bot_by_label(&key.to_ascii_lowercase()).await?
        };
        bot.filter(|b| actor.scope.allows_bot(b.bot_id())).ok_or(ServiceError::NotFound("bot"))
    }

    /// Disables a bot (its apps answer with an "unavailable" page) or enables it again. Admins only.
    pub async fn set_bot_status(&self, actor: &Actor, bot_key: &str, status: BotStatus) -> Result<Bot, ServiceError> {
        let bot = self.resolve_bot(actor, bot_key).await?;
        if !actor.is_admin() {
            return Err(ServiceError::Forbidden("only platform admins can enable or disable bots".into()));
        }
        let action = match status {
            BotStatus::Active => "bot.enable",
            BotStatus::Disabled => "bot.disable",
        };
        let audit = NewAuditEvent {
            actor: &actor.label,
            action,
            bot_id: Some(bot.bot_id()),
            app_id: None,
            deployment_id: None,
            details: json!({}),
        };
        self.db().set_bot_status(bot.bot_id(), status, &audit).await?;
        self.changed();
        Ok(Bot { status, updated_at: now_ms(), ..bot })
    }

    /// [`Platform::resolve_bot`], then [`Actor::check`] for what the operation needs.
    pub(crate) async fn bot_for(&self, actor: &Actor, key: &str, need: Need) -> Result<Bot, ServiceError> {
        let bot = self.resolve_bot(actor, key).await?;
        actor.check(bot.bot_id(), need)?;
        Ok(bot)
    }

    /// The bot's token, decrypted, for calls made on its behalf.
    pub async fn bot_token(&self, bot: &Bot) -> Result<BotToken, ServiceError> {
        let ct = self.db().bot_token_ciphertext(bot.bot_id()).await?;
        let plain = self.inner.master.decrypt(&ct, bot.id.to_string().as_bytes())?;
        let text = std::str::from_utf8(plain.expose()).map_err(ServiceError::internal)?;
        BotToken::parse(text).map_err(ServiceError::internal)
    }

    // ----- apps -------------------------------------------------------------------------

    pub async fn create_app(
        &self,
        actor: &Actor,
        bot_key: &str,
        slug: &str,
        settings: Option<AppSettings>,
    ) -> Result<(Bot, App), ServiceError> {
        let bot = self.bot_for(actor, bot_key, Need::Manage).await?;
        let slug = AppSlug::parse(slug).map_err(|e| ServiceError::invalid("invalid_slug", e))?;
        // `{slug}--{bot}` (and its previews) must not be another bot's host.
        let host = format!("{slug}--{}", bot.host_label);
        let mut others = self.db().colliding_labels(&host).await?;
        others.extend(self.db().get_bot_by_label(&host).await?.map(|b| b.host_label));
        if let Some(other) = others.into_iter().find(|o| *o != bot.host_label) {
            return Err(ServiceError::invalid(
                "host_collision",
                format!("app `{slug}` would be served at `{host}`, a host of the bot `{other}`"),
            ));
        }
        let settings = self.checked_settings(settings.unwrap_or_default(), None).await?;
        let audit = NewAuditEvent {
            actor: &actor.label,
            action: "app.create",
            bot_id: Some(bot.bot_id()),
            app_id: None,
            deployment_id: None,
            details: json!({ "slug": slug.as_str() }),
        };
        let app = self.db().insert_app(bot.bot_id(), &slug, &settings, &audit).await?;
        self.changed();
        Ok((bot, app))
    }

    /// Replaces an app's settings (access policy, public paths, SPA fallback, session rules,
    /// custom domain).
    pub async fn update_app_settings(
        &self,
        actor: &Actor,
        bot_key: &str,
        slug: &str,
        settings: AppSettings,
    ) -> Result<(Bot, App), ServiceError> {
        let (bot, app) = self.resolve_app(actor, bot_key, slug).await?;
        actor.check(bot.bot_id(), Need::Manage)?;
        let settings = self.checked_settings(settings, Some(&app.id)).await?;
        let new_domain = settings.custom_domain.is_some() && settings.custom_domain != app.settings.custom_domain;
        let audit = NewAuditEvent {
            actor: &actor.label,
            action: "app.update",
            bot_id: Some(bot.bot_id()),
            app_id: Some(&app.id),
            deployment_id: None,
            details: json!({ "settings": settings }),
        };
        self.db().update_app_settings(&app.id, &settings, &audit).await?;
        self.changed();
        if new_domain {
            // Look for the proof at once (the record may already be there); the periodic check
            // and `…/domain/verify` cover records published later.
            let (platform, key, slug) = (self.clone(), bot.id.to_string(), app.slug.to_string());
            tokio::spawn(async move {
                if let Err(e) = platform.verify_domain(&Actor::local_admin(), &key, &slug).await {
                    tracing::debug!(error = %e, "custom domain not verified yet");
                }
            });
        }
        Ok((bot, App { settings, updated_at: now_ms(), ..app }))
    }

    pub async fn list_apps(&self, actor: &Actor, bot_key: &str) -> Result<(Bot, Vec<App>), ServiceError> {
        let bot = self.resolve_bot(actor, bot_key).await?;
        let apps = self.db().list_apps(bot.bot_id()).await?;
        Ok((bot, apps))
    }

    pub async fn resolve_app(&self, actor: &Actor, bot_key: &str, slug: &str) -> Result<(Bot, App), ServiceError> {
        let bot = self.resolve_bot(actor, bot_key).await?;
        let slug = AppSlug::parse(slug).map_err(|_| ServiceError::NotFound("app"))?;
        let app = self.db().get_app(bot.bot_id(), &slug).await?.ok_or(ServiceError::NotFound("app"))?;
        Ok((bot, app))
    }

    // ----- URLs ---------------------------------------------------------------------------

    fn host_url(&self, host: &str) -> String {
        let c = self.config();
        let port = c.public_port().map(|p| format!(":{p}")).unwrap_or_default();
        format!("{}://{host}.{}{port}/", c.public_scheme, c.base_domain)
    }

    /// Where end users open the app: `{bot}.{base}` for `main`, else `{app}--{bot}.{base}`.
    pub fn app_url(&self, bot: &Bot, slug: &AppSlug) -> String {
        if slug.as_str() == AppSlug::MAIN {
            self.host_url(&bot.host_label)
        } else {
            self.host_url(&format!("{slug}--{}", bot.host_label))
        }
    }

    /// Where one deployment can be opened before (or after) it is active.
    pub fn preview_url(&self, bot: &Bot, slug: &AppSlug, d: &Deployment) -> String {
        self.host_url(&format!("{}--{slug}--{}", short_id(&d.id), bot.host_label))
    }

    // ----- members ------------------------------------------------------------------------

    /// Gives a Telegram user a role on a bot (or changes it). Owners and admins only.
    pub async fn grant_member(
        &self,
        actor: &Actor,
        bot_key: &str,
        user_id: i64,
        role: Role,
    ) -> Result<Bot, ServiceError> {
        let bot = self.bot_for(actor, bot_key, Need::Manage).await?;
        if user_id <= 0 {
            return Err(ServiceError::invalid("invalid_user", format!("`{user_id}` is not a Telegram user id")));
        }
        let audit = NewAuditEvent {
            actor: &actor.label,
            action: "member.grant",
            bot_id: Some(bot.bot_id()),
            app_id: None,
            deployment_id: None,
            details: json!({ "user_id": user_id, "role": role }),
        };
        self.db().upsert_member(bot.bot_id(), user_id, role, &audit).await?;
        self.changed();
        Ok(bot)
    }

    pub async fn revoke_member(&self, actor: &Actor, bot_key: &str, user_id: i64) -> Result<Bot, ServiceError> {
        let bot = self.bot_for(actor, bot_key, Need::Manage).await?;
        let audit = NewAuditEvent {
            actor: &actor.label,
            action: "member.revoke",
            bot_id: Some(bot.bot_id()),
            app_id: None,
            deployment_id: None,
            details: json!({ "user_id": user_id }),
        };
        self.db().remove_member(bot.bot_id(), user_id, &audit).await.map_err(|e| match e {
            tmahost_store::StoreError::NotFound => ServiceError::NotFound("member"),
            e => e.into(),
        })?;
        self.changed();
        Ok(bot)
    }

    pub async fn list_members(&self, actor: &Actor, bot_key: &str) -> Result<(Bot, Vec<Member>), ServiceError> {
        let bot = self.bot_for(actor, bot_key, Need::See).await?;
        let members = self.db().list_members(bot.bot_id()).await?;
        Ok((bot, members))
    }

    // ----- API tokens ---------------------------------------------------------------------

    /// Mints a token. A caller may only grant what its own scope covers.
    pub async fn create_token(
        &self,
        actor: &Actor,
        name: &str,
        scope: TokenScope,
        ttl_days: Option<u32>,
    ) -> Result<(ApiToken, MintedToken), ServiceError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(ServiceError::invalid("invalid_name", "a token name has 1-64 printable characters"));
        }
        if let TokenScope::Bots(bots) = &scope {
            if bots.is_empty() {
                return Err(ServiceError::invalid("invalid_scope", "list at least one bot, or use the admin scope"));
            }
            for b in bots {
                self.bot_for(actor, &b.0.to_string(), Need::Manage).await?;
            }
        }
        if !actor.scope.covers(&scope) {
            return Err(ServiceError::Forbidden("a token can only create tokens within its own scope".into()));
        }
        let days = ttl_days.unwrap_or(self.config().token_ttl_days);
        if !(1..=3650).contains(&days) {
            return Err(ServiceError::invalid("invalid_ttl", "ttl_days must be between 1 and 3650"));
        }
        let minted = self.inner.signer.mint(now_ms(), i64::from(days) * 86_400)?;
        let audit = NewAuditEvent {
            actor: &actor.label,
            action: "token.create",
            bot_id: None,
            app_id: None,
            deployment_id: None,
            details: json!({ "token_id": minted.id, "name": name, "scope": scope }),
        };
        let token = self
            .db()
            .insert_token(
                &minted.id,
                name,
                &minted.jti_hash,
                &scope,
                &actor.label,
                actor.is_admin(),
                minted.expires_at_ms,
                &audit,
            )
            .await?;
        Ok((token, minted))
    }

    /// Whether the actor may see and revoke `scope`'s tokens: its own scope covers it, and a
    /// Telegram user must be an owner of every bot in it (developers deploy, owners hold keys).
    fn manages_tokens_of(actor: &Actor, scope: &TokenScope) -> bool {
        actor.scope.covers(scope)
            && match scope {
                TokenScope::Admin => actor.is_admin(),
                TokenScope::Bots(bots) => bots.iter().all(|b| actor.check(*b, Need::Manage).is_ok()),
            }
    }

    /// Tokens the actor manages (admins see all).
    pub async fn list_tokens(&self, actor: &Actor) -> Result<Vec<ApiToken>, ServiceError> {
        let all = self.db().list_tokens().await?;
        Ok(all.into_iter().filter(|t| Self::manages_tokens_of(actor, &t.scope)).collect())
    }

    pub async fn revoke_token(&self, actor: &Actor, id: &str) -> Result<(), ServiceError> {
        let token = self
            .db()
            .get_token(id)
            .await?
            .filter(|t| Self::manages_tokens_of(actor, &t.scope))
            .ok_or(ServiceError::NotFound("token"))?;
        let audit = NewAuditEvent {
            actor: &actor.label,
            action: "token.revoke",
            bot_id: None,
            app_id: None,
            deployment_id: None,
            details: json!({ "token_id": token.id, "name": token.name }),
        };
        self.db().revoke_token(&token.id, &audit).await.map_err(|e| match e {
            tmahost_store::StoreError::NotFound => ServiceError::Conflict("the token is already revoked".into()),
            e => e.into(),
        })
    }

    // ----- audit --------------------------------------------------------------------------

    /// One bot's audit log (members of the bot), or the whole log (admins only).
    pub async fn audit_log(
        &self,
        actor: &Actor,
        bot_key: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditEvent>, ServiceError> {
        let limit = limit.clamp(1, 1000);
        match bot_key {
            Some(key) => {
                let bot = self.resolve_bot(actor, key).await?;
                Ok(self.db().list_audit(Some(bot.bot_id()), limit).await?)
            }
            None if actor.is_admin() => Ok(self.db().list_audit(None, limit).await?),
            None => Err(ServiceError::Forbidden("only admins can read the platform-wide audit log".into())),
        }
    }
}

/// The short id used in preview hosts: the random tail of the UUIDv7 (its head is a clock).
pub fn short_id(deployment_id: &str) -> String {
    let hex: String = deployment_id.chars().filter(char::is_ascii_hexdigit).collect();
    hex[hex.len().saturating_sub(12)..].to_owned()
}

impl Platform {
    /// Settings as stored: validated, the custom domain normalised and checked against the
    /// platform's names and other apps' verified domains.
    async fn checked_settings(&self, mut s: AppSettings, app_id: Option<&str>) -> Result<AppSettings, ServiceError> {
        if let Some(d) = &s.custom_domain {
            let d = crate::domains::normalise_domain(self.config(), d)?;
            if let Some(owner) = self.db().domain_owner(&d).await?
                && Some(owner.as_str()) != app_id
            {
                return Err(ServiceError::invalid("domain_taken", format!("`{d}` is already served by another app")));
            }
            s.custom_domain = Some(d);
        }
        validate_settings(&s)?;
        Ok(s)
    }
}

fn validate_settings(s: &AppSettings) -> Result<(), ServiceError> {
    if s.public_paths.len() > 100 || s.public_paths.iter().any(|p| !p.starts_with('/') || p.len() > 256) {
        return Err(ServiceError::invalid(
            "invalid_settings",
            "public_paths: at most 100 paths, each starting with `/`",
        ));
    }
    if !(60..=30 * 86_400).contains(&s.session_ttl_secs) {
        return Err(ServiceError::invalid("invalid_settings", "session_ttl_secs must be between 60 and 2592000"));
    }
    if !(10..=7 * 86_400).contains(&s.max_init_data_age_secs) {
        return Err(ServiceError::invalid("invalid_settings", "max_init_data_age_secs must be between 10 and 604800"));
    }
    if s.allowed_user_ids.as_ref().is_some_and(|ids| ids.len() > 10_000) {
        return Err(ServiceError::invalid("invalid_settings", "allowed_user_ids holds at most 10000 ids"));
    }
    if s.skew_protection_deployments > 20 {
        return Err(ServiceError::invalid("invalid_settings", "skew_protection_deployments must be between 0 and 20"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn short_ids_come_from_the_random_tail() {
        assert_eq!(super::short_id("01936d6e-7b2a-7c4e-9f11-a1b2c3d4e5f6"), "a1b2c3d4e5f6");
    }
}
