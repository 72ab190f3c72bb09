//! The tmahost application as a library: [`Application::build`] opens the platform and binds
//! every listener a [`Role`] runs (API, edge, operators' listener, control bot webhook);
//! [`Application::run`] serves until the given signal, then stops every server and the bot
//! gracefully. `main.rs` is argument parsing, the operator commands and the process's signals.

mod ops;

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_web::dev::Server;
use tmahost_bot::{BotError, ControlBot};
use tmahost_service::config::{self, Telegram};
use tmahost_service::{Config, LoginLink, MintedToken, Platform, ServiceError};

/// What one process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `serve`: everything in one process, which owns every upload.
    All,
    Api,
    Edge,
    Bot,
}

impl Role {
    fn runs(self, part: Role) -> bool {
        self == Role::All || self == part
    }
}

/// Why the application did not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot listen on {addr} ({var})")]
    Bind { addr: SocketAddr, var: &'static str, source: std::io::Error },
    #[error("`tmahost bot` needs TMAHOST_CONTROL_BOT_TOKEN")]
    NoControlBot,
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error(transparent)]
    ControlBot(#[from] BotError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The admin token a first start mints, and a dashboard login for the first admin.
#[derive(Debug)]
pub struct Bootstrap {
    pub token: MintedToken,
    pub login: Option<(i64, LoginLink)>,
}

/// A built application: the platform, its servers (bound, not yet serving) and the bot.
pub struct Application {
    role: Role,
    platform: Platform,
    servers: Vec<Serving>,
    bot: Option<ControlBot>,
    /// Where the API listens (with its real port when configured with port 0).
    pub api: Option<SocketAddr>,
    /// Where the edge listens, and how many host names it routed at start.
    pub edge: Option<(SocketAddr, usize)>,
    /// The operators' listener (`/healthz`, `/readyz`, `/metrics`).
    pub ops: Option<SocketAddr>,
    /// `Some(None)`: the control bot long-polls; `Some(Some(addr))`: its webhook listens there.
    pub control_bot: Option<Option<SocketAddr>>,
    /// Set on the first start of `serve`, when no API token exists yet.
    pub bootstrap: Option<Bootstrap>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("role", &self.role)
            .field("api", &self.api)
            .field("edge", &self.edge)
            .field("ops", &self.ops)
            .finish_non_exhaustive()
    }
}

fn bind(addr: SocketAddr, var: &'static str) -> Result<TcpListener, AppError> {
    TcpListener::bind(addr).map_err(|source| AppError::Bind { addr, var, source })
}

impl Application {
    /// Binds the role's listeners, opens the platform (running migrations) and builds every
    /// server. The control bot reaches Telegram in the background: an outage there holds up
    /// neither the API nor the edge (`/readyz` reports the bot as degraded meanwhile).
    pub async fn build(mut config: Config, role: Role) -> Result<Self, AppError> {
        let api = role.runs(Role::Api).then(|| bind(config.server.api_addr, config::Server::API_ADDR)).transpose()?;
        let edge =
            role.runs(Role::Edge).then(|| bind(config.server.edge_addr, config::Server::EDGE_ADDR)).transpose()?;
        let control_bot = match (role, &config.telegram.control_bot_token) {
            (Role::Bot, None) => return Err(AppError::NoControlBot),
            (Role::All | Role::Bot, Some(_)) => true,
            _ => false,
        };
        let ops = config.server.ops_addr.map(|a| bind(a, config::Server::OPS_ADDR)).transpose()?;
        let webhook = (control_bot && config.telegram.control_bot_webhook_url.is_some())
            .then(|| bind(config.telegram.control_bot_webhook_addr, Telegram::CONTROL_BOT_WEBHOOK_ADDR))
            .transpose()?;
        // With port 0 (tests), URLs must carry the ports actually bound.
        if let Some(l) = &edge {
            config.server.edge_addr = l.local_addr()?;
        }
        if let Some(l) = &api {
            config.server.api_addr = l.local_addr()?;
        }
        // And the platform's own sockets are upstreams no app may name.
        if let Some(l) = &ops {
            config.server.ops_addr = Some(l.local_addr()?);
        }
        if let Some(l) = &webhook {
            config.telegram.control_bot_webhook_addr = l.local_addr()?;
        }
        let platform = Platform::open(config).await?;
        // On PostgreSQL, changes made by other processes (an `api` node's deploy) reach this one.
        platform.follow_remote_changes();
        let mut app = Self {
            role,
            platform: platform.clone(),
            servers: Vec::new(),
            bot: None,
            api: None,
            edge: None,
            ops: None,
            control_bot: None,
            bootstrap: None,
        };
        if let Some(listener) = api {
            start_api_housekeeping(&platform, role).await?;
            app.api = Some(listener.local_addr()?);
            app.servers.push(Serving::Actix(tmahost_api::server(platform.clone(), listener)?));
        }
        if let Some(listener) = edge {
            let bound = listener.local_addr()?;
            let edge = tmahost_edge::Edge::start(platform.clone()).await?;
            app.edge = Some((bound, edge.routes()));
            app.servers.push(Serving::Edge(edge.server(listener)?));
        }
        if let Some(listener) = ops {
            app.ops = Some(listener.local_addr()?);
            app.servers.push(Serving::Actix(ops::server(platform.clone(), listener)?));
        }
        if control_bot {
            let webhook_addr = webhook.as_ref().map(TcpListener::local_addr).transpose()?;
            app.bot = Some(ControlBot::spawn(platform.clone(), webhook)?);
            app.control_bot = Some(webhook_addr);
        }
        if role == Role::All
            && let Some(token) = platform.ensure_bootstrap_token().await?
        {
            // First start: a way into the dashboard before the control bot is set up.
            let login = match platform.config().telegram.admin_ids.first() {
                Some(&admin) => {
                    Some((admin, platform.create_login_link(&platform.telegram_actor(admin).await?).await?))
                }
                None => None,
            };
            app.bootstrap = Some(Bootstrap { token, login });
        }
        Ok(app)
    }

    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// What a person starting the process needs to know, one line each: where each part
    /// listens and, on a first start, the admin token and a login link (shown once).
    pub fn banner(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(a) = self.api {
            lines.push(format!("api: http://{a}/api/v1 (OpenAPI at http://{a}/api/v1/openapi.json)"));
        }
        if let Some((a, hosts)) = self.edge {
            let base = &self.platform.config().server.base_domain;
            lines.push(format!("edge: http://{a} (apps at http://{{bot}}.{base}:{}/, {hosts} hosts)", a.port()));
        }
        if let Some(a) = self.ops {
            lines.push(format!("ops: http://{a} (/healthz, /readyz, /metrics)"));
        }
        match self.control_bot {
            Some(Some(a)) => lines.push(format!("control bot: webhook, listening on http://{a}")),
            Some(None) => lines.push("control bot: long polling".into()),
            None => {}
        }
        if let Some(b) = &self.bootstrap {
            lines.push(format!("admin token (shown once; store it now): {}", b.token.jwt));
            if let Some((admin, link)) = &b.login {
                lines.push(format!(
                    "dashboard login for admin {admin} (works once, {} s): {}",
                    link.valid_for_secs, link.url
                ));
            }
        }
        if self.role == Role::All {
            // Signed links are not printed: logs and terminals are copied around, and a link
            // opens the app as a user for an hour.
            lines.push(
                "dev links: `tmahost dev-link --bot B [--app A]` prints a signed link to open a gated app in a browser"
                    .into(),
            );
        }
        lines
    }

    /// Serves until `stop` resolves, then stops every server (finishing requests in flight)
    /// and the bot, and closes the database. In the `bot` role, a token Telegram rejects ends
    /// the run with that error.
    pub async fn run(self, stop: impl Future<Output = ()> + Send + 'static) -> Result<(), AppError> {
        let Self { role, platform, servers, mut bot, .. } = self;
        let (database, storage) = platform.describe_stores();
        tracing::info!(?role, %database, %storage, "tmahost started");
        let handles: Vec<_> = servers.iter().map(Serving::handle).collect();
        let (stopping_tx, mut stopping) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            stop.await;
            tracing::info!("shutting down");
            let _ = stopping_tx.send(true);
            for h in handles {
                h.stop().await;
            }
        });
        let servers = futures_util::future::join_all(servers.into_iter().map(Serving::run));
        if let (Role::Bot, Some(b)) = (role, bot.as_mut()) {
            // The bot is all this role runs: if Telegram rejects the token, exit with why.
            tokio::select! {
                _ = stopping.wait_for(|s| *s) => {}
                gave_up = b.stopped() => gave_up?,
            }
        }
        for result in servers.await {
            result?;
        }
        if let Some(bot) = bot {
            let _ = stopping.wait_for(|s| *s).await;
            bot.stop().await;
        }
        platform.close().await;
        Ok(())
    }
}

/// A listener's server: the API and the operators' listener run on actix-web, the edge on its
/// own hyper workers (see `tmahost_edge::Server`).
enum Serving {
    Actix(Server),
    Edge(tmahost_edge::Server),
}

enum StopHandle {
    Actix(actix_web::dev::ServerHandle),
    Edge(tmahost_edge::ServerHandle),
}

impl Serving {
    fn handle(&self) -> StopHandle {
        match self {
            Serving::Actix(s) => StopHandle::Actix(s.handle()),
            Serving::Edge(s) => StopHandle::Edge(s.handle()),
        }
    }

    async fn run(self) -> std::io::Result<()> {
        match self {
            Serving::Actix(s) => s.await,
            Serving::Edge(s) => s.await,
        }
    }
}

impl StopHandle {
    /// Stops accepting; requests in flight finish.
    async fn stop(self) {
        match self {
            StopHandle::Actix(h) => h.stop(true).await,
            StopHandle::Edge(h) => h.stop(true).await,
        }
    }
}

/// Before the API serves: fails interrupted uploads and cleans scratch files, then keeps
/// expiring digest deploys nobody finishes, re-checks custom domains, makes the brotli
/// variants deploys left and collects garbage.
async fn start_api_housekeeping(platform: &Platform, role: Role) -> Result<(), AppError> {
    let failed = platform.fail_stale_uploads(role == Role::All).await?;
    if failed > 0 {
        tracing::warn!(failed, "marked interrupted uploads as failed");
    }
    match platform.sweep_scratch().await {
        Ok(0) => {}
        Ok(removed) => tracing::warn!(removed, "removed files left by interrupted uploads"),
        Err(e) => tracing::warn!(error = %e, "could not clean the scratch dir"),
    }
    let sweeper = platform.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        every.tick().await;
        loop {
            every.tick().await;
            match sweeper.fail_stale_uploads(false).await {
                Ok(0) => {}
                Ok(failed) => tracing::info!(failed, "expired unfinished uploads"),
                Err(e) => tracing::warn!(error = %e, "could not expire unfinished uploads"),
            }
            if let Err(e) = sweeper.sweep_scratch().await {
                tracing::warn!(error = %e, "could not clean the scratch dir");
            }
        }
    });
    // Custom domains verify by themselves once their TXT record appears, and lose their route
    // once it has been gone for the grace period.
    tmahost_service::domains::spawn_domain_checks(platform);
    // Deploys activate with gzip; brotli at maximum effort follows here.
    tmahost_service::brotli::spawn_brotli_worker(platform);
    // Contents no deployment references any more are deleted (by one node at a time).
    tmahost_service::gc::spawn_collector(platform);
    Ok(())
}
