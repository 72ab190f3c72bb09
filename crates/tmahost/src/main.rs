//! `tmahost`: one binary for every role and the operator's commands.
//!
//! Output contract: command results (URLs, tokens, JSON) go to stdout, logs to stderr.

mod client;

use std::io::Read;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tmahost::{Application, Role};
use tmahost_service::gc::Collected;
use tmahost_service::model::TokenScope;
use tmahost_service::{Actor, Config, LogFormat, Need, Platform};

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
    /// Run the edge role only: serves the apps to end users (stateless; run many).
    Edge,
    /// Run the control bot only (needs TMAHOST_CONTROL_BOT_TOKEN).
    Bot,
    /// Apply database migrations and exit.
    Migrate,
    /// Operator commands that act directly on the database.
    #[command(subcommand)]
    Admin(Admin),
    /// Delete stored contents no deployment references (unused for TMAHOST_GC_GRACE_SECS), and
    /// objects left by interrupted uploads. One node at a time runs it.
    Gc {
        /// List what would be deleted and the bytes freed, deleting nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Copy this installation (SQLite + any blob store) to DEST, a new directory, while it
    /// serves and deploys: the database, every content it names, the master key. With
    /// `--check`, verify a copy instead: a backup directory, or (without SRC) the installation
    /// this configuration names, e.g. a restored PostgreSQL + S3 copy.
    Backup {
        #[arg(required_unless_present = "check")]
        dest: Option<std::path::PathBuf>,
        #[arg(long, value_name = "SRC", num_args = 0..=1, conflicts_with = "dest")]
        check: Option<Option<std::path::PathBuf>>,
    },
    /// Restore a backup made by `tmahost backup` into TMAHOST_DATA_DIR, which must be empty.
    Restore { src: std::path::PathBuf },
    /// Telegram users' data.
    #[command(subcommand)]
    Users(UsersCmd),
    /// Boxed: the client commands' arguments dwarf the rest.
    #[command(flatten)]
    Client(Box<client::ClientCommand>),
}

#[derive(Debug, Subcommand)]
enum Admin {
    /// API tokens.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Tenant bots.
    #[command(subcommand)]
    Bot(BotCmd),
    /// Print a one-time dashboard login link for a Telegram user (an admin or a bot member);
    /// it works once, within 5 minutes.
    LoginLink {
        #[arg(long)]
        user_id: i64,
    },
}

#[derive(Debug, Subcommand)]
enum UsersCmd {
    /// Erase what the platform keeps about a Telegram user (the book, Operations: "Data the
    /// platform keeps"): memberships, analytics, one-time codes and allow-list entries go, their
    /// open sessions stop working, and the audit log names a pseudonym instead.
    Erase {
        #[arg(long)]
        user_id: i64,
    },
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

/// mimalloc: the edge allocates a little on every request (hyper's request and response
/// objects), and glibc's malloc spends more time on that than mimalloc does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Failures print one line, `error: what went wrong: why`, whatever `RUST_BACKTRACE` says:
/// returning the error from `main` would print anyhow's debug form, with a stack backtrace when
/// the user's shell has `RUST_BACKTRACE=1`.
fn main() -> std::process::ExitCode {
    match run_main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run_main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Client(cmd) = cli.command {
        // A client needs no server configuration, and its stderr is for people.
        let filter = tracing_subscriber::EnvFilter::try_from_env("TMAHOST_LOG").unwrap_or_else(|_| "warn".into());
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        return runtime.block_on(client::run(*cmd));
    }
    let config = Config::load()?;
    init_tracing(config.server.log_format);
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
        Command::Client(_) => unreachable!("client commands run without server configuration"),
        Command::Serve => serve(config, Role::All).await,
        Command::Api => serve(config, Role::Api).await,
        Command::Edge => serve(config, Role::Edge).await,
        Command::Bot => serve(config, Role::Bot).await,
        Command::Migrate => {
            let p = Platform::open(config).await?;
            println!("migrations applied ({})", p.describe_stores().0);
            Ok(())
        }
        Command::Gc { dry_run } => {
            let p = Platform::open(config).await?;
            let report = p
                .collect_garbage(dry_run, |c| match c {
                    Collected::Blob(sha, bytes) => println!("{sha} {bytes}"),
                    Collected::Orphan(sha, bytes) => println!("{sha} {bytes} (no row: left by an interrupted upload)"),
                })
                .await
                .context("garbage collection")?;
            let verb = if dry_run { "would free" } else { "freed" };
            eprintln!(
                "{verb} {} in {} contents ({} unreferenced, {} left by interrupted uploads)",
                tmahost_service::display::bytes(report.bytes as i64),
                report.blobs + report.orphans,
                report.blobs,
                report.orphans
            );
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
                    ids.push(p.bot(&actor, key, Need::See).await.with_context(|| format!("bot `{key}`"))?.bot.bot_id());
                }
                TokenScope::Bots(ids)
            };
            let (token, minted) = p.create_token(&actor, &args.name, scope, args.ttl_days).await?;
            eprintln!(
                "created token {} ({}), expires in {} days",
                token.id,
                token.name,
                args.ttl_days.unwrap_or(p.config().api.token_ttl_days)
            );
            println!("{}", minted.jwt);
            Ok(())
        }
        Command::Backup { check: Some(src), .. } => {
            let report = match src {
                Some(src) => {
                    let (db, blobs) = tmahost_service::backup::open_backup(&src).await?;
                    tmahost_service::backup::check(&db, &blobs).await?
                }
                None => Platform::open(config).await?.check_copy().await?,
            };
            for p in &report.problems {
                println!("{p}");
            }
            let total = tmahost_service::display::bytes(report.bytes as i64);
            if !report.problems.is_empty() {
                anyhow::bail!("{} of {} contents are missing or damaged", report.problems.len(), report.contents);
            }
            eprintln!(
                "ok: every content the deployments name is there with its hash ({} contents, {total})",
                report.contents
            );
            Ok(())
        }
        Command::Backup { dest, .. } => {
            let dest = dest.context("name the backup's directory")?;
            let p = Platform::open(config).await?;
            let info = p.backup(&dest).await.context("backup")?;
            println!(
                "backup written to {}: {} contents ({} objects, {}), schema version {}",
                dest.display(),
                info.contents,
                info.objects,
                tmahost_service::display::bytes(info.bytes as i64),
                info.schema_version
            );
            eprintln!(
                "warning: {} holds the master key, which decrypts every bot token: keep the backup as secret as the key",
                dest.join("master.key").display()
            );
            Ok(())
        }
        Command::Restore { src } => {
            let info = tmahost_service::backup::restore(&config, &src).await.context("restore")?;
            println!(
                "restored {} contents ({}) into {}; start tmahost to serve them",
                info.contents,
                tmahost_service::display::bytes(info.bytes as i64),
                config.storage.data_dir.display()
            );
            Ok(())
        }
        Command::Users(UsersCmd::Erase { user_id }) => {
            let p = Platform::open(config).await?;
            let u = p.erase_user(&Actor::local_admin(), user_id).await?;
            let e = u.erased;
            println!("erased Telegram user {user_id}; the audit log now names them {}", u.pseudonym);
            println!(
                "removed: {} memberships, {} analytics rows, {} one-time codes, {} allow-list entries; {} records pseudonymised; open sessions refused",
                e.memberships, e.analytics_rows, e.codes, e.allow_lists, e.pseudonymised
            );
            if u.still_admin {
                eprintln!("warning: {user_id} is still listed in TMAHOST_ADMIN_IDS; remove it there");
            }
            Ok(())
        }
        Command::Admin(Admin::LoginLink { user_id }) => {
            let p = Platform::open(config).await?;
            let actor = p.telegram_actor(user_id).await?;
            let link = p.create_login_link(&actor).await?;
            eprintln!("works once, for {} s, for Telegram user {user_id}", link.valid_for_secs);
            println!("{}", link.url);
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
            let r = p.register_bot(&Actor::local_admin(), &token, username.as_deref()).await?;
            for w in &r.warnings {
                eprintln!("warning: {w}");
            }
            println!("registered @{} (id {}): {}", r.bot.username, r.bot.id, r.url);
            Ok(())
        }
    }
}

/// Builds the role's application, prints where it listens, and serves until SIGTERM or Ctrl-C.
async fn serve(config: Config, role: Role) -> anyhow::Result<()> {
    let app = Application::build(config, role).await?;
    for line in app.banner() {
        println!("{line}");
    }
    Ok(app.run(shutdown_signal()).await?)
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

    #[test]
    fn only_commands_that_call_the_api_take_server_and_json() {
        use clap::Parser;
        let parses = |args: &[&str]| super::Cli::try_parse_from(std::iter::once("tmahost").chain(args.iter().copied()));
        for client in [
            &["deploy", "dist", "--bot", "b"][..],
            &["bots"],
            &["deployments", "--bot", "b"],
            &["promote", "x"],
            &["dev-link", "--bot", "b", "--premium"],
        ] {
            let mut args = client.to_vec();
            args.extend(["--server", "http://127.0.0.1:1", "--json"]);
            assert!(parses(&args).is_ok(), "{args:?}");
        }
        assert!(parses(&["login", "--server", "http://127.0.0.1:1"]).is_ok());
        for operator in [&["admin", "login-link", "--user-id", "1"][..], &["serve"], &["migrate"]] {
            for flag in [&["--server", "http://127.0.0.1:1"][..], &["--json"]] {
                let mut args = operator.to_vec();
                args.extend(flag);
                assert!(parses(&args).is_err(), "{args:?} must not take a client-only flag");
            }
            let help = super::Cli::command().render_long_help().to_string();
            assert!(!help.contains("--server"), "the top-level help shows no client-only flag");
        }
    }
}
