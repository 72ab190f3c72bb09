//! `tmahost`: one binary for every role and the operator's commands.
//!
//! Output contract: command results (URLs, tokens, JSON) go to stdout, logs to stderr.

use std::io::Read;
use std::net::TcpListener;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tmahost_service::store::model::TokenScope;
use tmahost_service::{Actor, Config, LogFormat, Platform};

#[derive(Debug, Parser)]
#[command(name = "tmahost", version, about = "Hosting for Telegram Mini Apps")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run everything in one process on the embedded defaults (SQLite + local files).
    Serve,
    /// Run the API role only (for scale-out next to `tmahost edge`).
    Api,
    /// Apply database migrations and exit.
    Migrate,
    /// Operator commands that act directly on the database.
    #[command(subcommand)]
    Admin(Admin),
}

#[derive(Debug, Subcommand)]
enum Admin {
    /// API tokens.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Tenant bots.
    #[command(subcommand)]
    Bot(BotCmd),
}

#[derive(Debug, Subcommand)]
enum TokenCmd {
    /// Create an API token and print it (shown once).
    Create(TokenCreate),
}

#[derive(Debug, Args)]
struct TokenCreate {
    /// `admin`, or a comma-separated list of bots (ids, usernames or host labels).
    #[arg(long)]
    scope: String,
    #[arg(long, default_value = "cli")]
    name: String,
    /// Lifetime in days (default TMAHOST_TOKEN_TTL_DAYS).
    #[arg(long)]
    ttl_days: Option<u32>,
}

#[derive(Debug, Subcommand)]
enum BotCmd {
    /// Register a bot by its @BotFather token and create its `main` app.
    Add {
        /// The bot token, or `-` to read it from standard input (keeps it out of `ps`).
        #[arg(long)]
        token: String,
        /// Needed only when the Telegram Bot API is unreachable from here.
        #[arg(long)]
        username: Option<String>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load()?;
    init_tracing(config.log_format);
    for var in Config::unknown_env_vars() {
        tracing::warn!(%var, "unknown TMAHOST_ variable ignored (typo?)");
    }
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run(cli, config))
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TMAHOST_LOG").unwrap_or_else(|_| "info,sqlx=warn".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve => serve(config, true).await,
        Command::Api => serve(config, false).await,
        Command::Migrate => {
            let p = Platform::open(config).await?;
            println!("migrations applied ({:?})", p.db().kind());
            Ok(())
        }
        Command::Admin(Admin::Token(TokenCmd::Create(args))) => {
            let p = Platform::open(config).await?;
            let actor = Actor::local_admin();
            let scope = if args.scope == "admin" {
                TokenScope::Admin
            } else {
                let mut ids = Vec::new();
                for key in args.scope.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    ids.push(p.resolve_bot(&actor, key).await.with_context(|| format!("bot `{key}`"))?.bot_id());
                }
                TokenScope::Bots(ids)
            };
            let (token, minted) = p.create_token(&actor, &args.name, scope, args.ttl_days).await?;
            eprintln!(
                "created token {} ({}), expires in {} days",
                token.id,
                token.name,
                args.ttl_days.unwrap_or(p.config().token_ttl_days)
            );
            println!("{}", minted.jwt);
            Ok(())
        }
        Command::Admin(Admin::Bot(BotCmd::Add { token, username })) => {
            let token = if token == "-" {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s)?;
                s.trim().to_owned()
            } else {
                token
            };
            let p = Platform::open(config).await?;
            let (bot, app) = p.register_bot(&Actor::local_admin(), &token, username.as_deref()).await?;
            println!("registered @{} (id {}): {}", bot.username, bot.id, p.app_url(&bot, &app.slug));
            Ok(())
        }
    }
}

/// `serve` (everything, this process owns every upload) or `api` (one of several nodes).
async fn serve(config: Config, all_in_one: bool) -> anyhow::Result<()> {
    let api_addr = config.api_addr;
    let platform = Platform::open(config).await?;
    let failed = platform.fail_stale_uploads(all_in_one).await?;
    if failed > 0 {
        tracing::warn!(failed, "marked interrupted uploads as failed");
    }
    let listener =
        TcpListener::bind(api_addr).with_context(|| format!("cannot listen on {api_addr} (TMAHOST_API_ADDR)"))?;
    let bound = listener.local_addr()?;
    let server = tmahost_api::server(platform.clone(), listener)?;
    let handle = server.handle();

    println!("api: http://{bound}/api/v1 (OpenAPI at http://{bound}/api/v1/openapi.json)");
    if all_in_one && let Some(minted) = platform.ensure_bootstrap_token().await? {
        println!("admin token (shown once; store it now): {}", minted.jwt);
    }
    tracing::info!(%bound, database = ?platform.db().kind(), storage = platform.blobs().description(), "tmahost started");

    // One task owns the signals and stops every server gracefully.
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        handle.stop(true).await;
    });
    server.await?;
    platform.db().close().await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn unknown_subcommands_fail() {
        use clap::Parser;
        assert!(super::Cli::try_parse_from(["tmahost", "frobnicate"]).is_err());
        assert!(super::Cli::try_parse_from(["tmahost", "admin", "token", "create"]).is_err(), "--scope is required");
    }
}
