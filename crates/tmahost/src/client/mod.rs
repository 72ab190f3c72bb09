//! Client commands (`deploy`, `deployments`, `rollback`, `promote`, `pin`, `keep`, `usage`, `apps`, `bots`, `domain`,
//! `backends`, `dev-link`, `delete-app`, `delete-bot`, `login`):
//! they talk to a tmahost server over its HTTP API with an API token, so they work from a
//! laptop or a CI job. Results go to stdout (a table, or JSON with `--json`), progress and
//! warnings to stderr; any failure exits non-zero with one readable line.

mod api;
mod args;
mod deploy;
mod output;

use std::io::Read;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tmahost_api::dto::{CreateDevLink, DevTheme, DevUserDto};
use tmahost_service::model::Backend;

pub use api::Api;
pub use args::{AppArgs, ClientCommand};
pub use deploy::DeployArgs;
pub(crate) use output::human;
use output::{print_deployed, print_deployments, table, text};

pub async fn run(cmd: ClientCommand) -> anyhow::Result<()> {
    let Some(remote) = cmd.remote() else {
        return match cmd {
            ClientCommand::Login { server } => login(server).await,
            _ => logout(),
        };
    };
    let (server, json) = (remote.server.clone(), remote.json);
    let api = Api::from_env(server)?;
    let out: Value = match cmd {
        ClientCommand::Deploy { args, .. } => {
            let result = deploy::deploy(&api, &args).await?;
            if !json {
                print_deployed(&result);
            }
            serde_json::to_value(result)?
        }
        ClientCommand::Deployments { app, .. } => {
            let list = api.deployments(&app.bot, &app.app).await?;
            if !json {
                print_deployments(&list);
            }
            serde_json::to_value(list)?
        }
        ClientCommand::Rollback { app, to, .. } => {
            let to = to
                .map(|v| v.trim_start_matches('v').parse::<i64>().with_context(|| format!("`{v}` is not a version")))
                .transpose()?;
            let d = api.rollback(&app.bot, &app.app, to).await?;
            if !json {
                println!("v{} is live again: {}", d.version, d.url);
            }
            serde_json::to_value(d)?
        }
        ClientCommand::Promote { id, .. } => {
            let d = api.promote(&id).await?;
            if !json {
                println!("v{} is live: {}", d.version, d.url);
            }
            serde_json::to_value(d)?
        }
        ClientCommand::Pin { app, deployment, off, .. } => {
            let key = if deployment.trim_start_matches('v').parse::<i64>().is_ok() {
                format!("v{}", deployment.trim_start_matches('v'))
            } else {
                deployment
            };
            let d = api.pin(&app.bot, &app.app, &key, !off).await?;
            if !json {
                let what =
                    if off { "unpinned: retention may remove it once it is old" } else { "pinned: retention keeps it" };
                println!("v{} {what}", d.version);
            }
            serde_json::to_value(d)?
        }
        ClientCommand::Keep { app, count, .. } => {
            let mut settings = api.app(&app.bot, &app.app).await?.settings;
            if let Some(n) = count.as_deref() {
                settings.keep_deployments = match n {
                    "default" => None,
                    n => Some(n.parse::<u32>().with_context(|| format!("`{n}` is not a number (or `default`)"))?),
                };
                settings = api.save_settings(&app.bot, &app.app, &settings).await?.settings;
            }
            if !json {
                match settings.keep_deployments {
                    Some(n) => {
                        println!("keeps the newest {n} deployments (and the active, pinned and skew-protection ones)")
                    }
                    None => println!("keeps the platform's default number of deployments (TMAHOST_KEEP_DEPLOYMENTS)"),
                }
            }
            json!({ "keep_deployments": settings.keep_deployments })
        }
        ClientCommand::Usage { bot, set_max, .. } => {
            if let Some(max) = set_max {
                let max_bytes = match max.as_str() {
                    "default" => None,
                    n => Some(
                        n.parse::<i64>().with_context(|| format!("`{n}` is not a number of bytes (or `default`)"))?,
                    ),
                };
                api.set_max_bytes(&bot, max_bytes).await?;
            }
            let usage = api.usage(&bot).await?;
            if !json {
                let limit = match usage.max_bytes {
                    Some(m) => format!("{} ({})", human(m as u64), usage.max_bytes_from),
                    None => "none".to_owned(),
                };
                println!("stored: {}  limit: {limit}", human(usage.stored_bytes as u64));
                table(
                    &["APP", "STORED"],
                    usage.apps.iter().map(|a| vec![a.app.clone(), human(a.stored_bytes as u64)]).collect(),
                );
            }
            serde_json::to_value(usage)?
        }
        ClientCommand::Apps { bot, .. } => {
            let bots: Vec<String> = match bot {
                Some(b) => vec![b],
                None => api.bots().await?.iter().map(|b| b.id.to_string()).collect(),
            };
            let mut apps = Vec::new();
            for b in bots {
                apps.extend(api.apps(&b).await?);
            }
            if !json {
                table(
                    &["BOT", "APP", "ACCESS", "URL"],
                    apps.iter()
                        .map(|a| {
                            let access = serde_json::to_value(a.settings.access).unwrap_or_default();
                            vec![a.bot_id.to_string(), a.slug.clone(), text(&access), a.url.clone()]
                        })
                        .collect(),
                );
            }
            serde_json::to_value(apps)?
        }
        ClientCommand::Bots { .. } => {
            let list = api.bots().await?;
            if !json {
                table(
                    &["ID", "USERNAME", "STATUS", "URL"],
                    list.iter()
                        .map(|b| vec![b.id.to_string(), format!("@{}", b.username), b.status.clone(), b.url.clone()])
                        .collect(),
                );
            }
            serde_json::to_value(list)?
        }
        ClientCommand::Domain { app, verify, .. } => {
            let status = if verify {
                api.verify_domain(&app.bot, &app.app).await?
            } else {
                let Some(domain) = api.app(&app.bot, &app.app).await?.domain else {
                    bail!("{}/{} has no custom domain; set `custom_domain` in its settings first", app.bot, app.app);
                };
                domain
            };
            if !json {
                println!("domain:  {} ({})", status.domain, status.status);
                println!("record:  {} TXT \"{}\"", status.txt_name, status.txt_value);
                if let Some(e) = &status.last_error {
                    println!("last check: {e}");
                }
            }
            serde_json::to_value(status)?
        }
        ClientCommand::Backends { app, add, remove, .. } => {
            let backends = backends(&api, &app, &add, &remove).await?;
            if !json {
                table(
                    &["PREFIX", "UPSTREAM", "OPTIONS"],
                    backends
                        .iter()
                        .map(|b| {
                            let options = [(b.strip_prefix, "strip"), (b.public, "public")];
                            let options: Vec<&str> = options.iter().filter(|(on, _)| *on).map(|(_, o)| *o).collect();
                            vec![b.prefix.clone(), b.upstream.clone(), options.join(" ")]
                        })
                        .collect(),
                );
            }
            serde_json::to_value(backends)?
        }
        ClientCommand::DevLink { args, .. } => {
            let options = CreateDevLink {
                user: Some(DevUserDto {
                    id: args.user_id,
                    first_name: args.first_name.clone(),
                    last_name: args.last_name.clone(),
                    username: args.username.clone(),
                    language_code: Some(args.language_code.clone()),
                }),
                premium: args.premium,
                start_param: args.start_param.clone(),
                deployment: args.deployment.clone(),
                platform: Some(args.platform.clone()),
                theme: if args.dark { DevTheme::Dark } else { DevTheme::Light },
            };
            let link = api.dev_link(&args.app.bot, &args.app.app, &options).await?;
            if !json {
                eprintln!(
                    "signed as user {} ({}); opens sessions for {} s",
                    link.user_id, args.first_name, link.valid_for_secs
                );
                eprintln!("or open it in the Telegram emulator (dashboard login): {}", link.emulator_url);
                println!("{}", link.url);
            }
            serde_json::to_value(link)?
        }
        ClientCommand::DeleteApp { app, confirm, .. } => {
            let slug = api.app(&app.bot, &app.app).await?.slug;
            confirmed(&format!("app `{slug}` of bot {}", app.bot), &slug, confirm)?;
            api.delete_app(&app.bot, &slug).await?;
            if !json {
                println!(
                    "deleted {}/{slug}: its hosts answer 404 now; its files go with the next garbage collection",
                    app.bot
                );
            }
            json!({ "deleted": { "bot": app.bot, "app": slug } })
        }
        ClientCommand::DeleteBot { bot, confirm, .. } => {
            let username = api.bot(&bot).await?.username;
            confirmed(&format!("bot @{username} with all its apps"), &username, confirm)?;
            let removal = api.delete_bot(&bot).await?;
            if !json {
                for w in &removal.warnings {
                    eprintln!("warning: {w}");
                }
                let tokens = removal.revoked_tokens.len();
                println!("deleted @{username} and its apps; {tokens} API tokens scoped to it revoked");
            }
            serde_json::to_value(removal)?
        }
        ClientCommand::Login { .. } | ClientCommand::Logout => unreachable!("handled above"),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(())
}

/// Goes on only once `name` was typed: as `--confirm`, or at the prompt when stdin is a
/// terminal. A deletion cannot be undone, so a mistyped name stops it.
fn confirmed(what: &str, name: &str, given: Option<String>) -> anyhow::Result<()> {
    let typed = match given {
        Some(g) => g,
        None if std::io::IsTerminal::is_terminal(&std::io::stdin()) => {
            eprintln!("This deletes {what}, and cannot be undone. Type `{name}` to confirm:");
            let mut line = String::new();
            std::io::BufRead::read_line(&mut std::io::stdin().lock(), &mut line)?;
            line.trim().to_owned()
        }
        None => bail!("deleting {what} cannot be undone; pass --confirm {name} to confirm"),
    };
    if typed.trim().trim_start_matches('@') != name {
        bail!("`{typed}` is not `{name}`; nothing was deleted");
    }
    Ok(())
}

/// The app's backends after adding and removing routes (saved when anything changed). The
/// settings are written whole, as read, so nothing else in them changes.
async fn backends(api: &Api, app: &AppArgs, add: &[String], remove: &[String]) -> anyhow::Result<Vec<Backend>> {
    let mut settings = api.app(&app.bot, &app.app).await?.settings;
    if add.is_empty() && remove.is_empty() {
        return Ok(settings.backends);
    }
    for prefix in remove {
        let before = settings.backends.len();
        settings.backends.retain(|b| &b.prefix != prefix);
        if settings.backends.len() == before {
            bail!("{}/{} has no backend at `{prefix}`", app.bot, app.app);
        }
    }
    for line in add {
        let backend: Backend = line.parse()?;
        settings.backends.retain(|b| b.prefix != backend.prefix);
        settings.backends.push(backend);
    }
    Ok(api.save_settings(&app.bot, &app.app, &settings).await?.settings.backends)
}

async fn login(server: Option<String>) -> anyhow::Result<()> {
    let Some(server) = server else {
        bail!("which server? pass --server URL (or set TMAHOST_SERVER)");
    };
    let token = match std::env::var("TMAHOST_TOKEN") {
        Ok(t) if !t.trim().is_empty() => t,
        _ => {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                eprintln!("Paste an API token (dashboard › API tokens, or /token in the control bot) and press Enter:");
            }
            let mut line = String::new();
            std::io::stdin().take(16 * 1024).read_to_string(&mut line)?;
            line.lines().next().unwrap_or_default().trim().to_owned()
        }
    };
    if token.is_empty() {
        bail!("no token given");
    }
    let api = Api::new(server, token.clone())?;
    let bots = api.bots().await.context("checking the token")?;
    let path = api::store_credentials(&api::Credentials { server: api.server().to_owned(), token })?;
    let n = bots.len();
    eprintln!("logged in to {} ({n} bots visible); saved to {}", api.server(), path.display());
    Ok(())
}

fn logout() -> anyhow::Result<()> {
    let path = api::credentials_path()?;
    match std::fs::remove_file(&path) {
        Ok(()) => eprintln!("removed {}", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => eprintln!("not logged in"),
        Err(e) => return Err(e).with_context(|| format!("cannot remove {}", path.display())),
    }
    Ok(())
}
