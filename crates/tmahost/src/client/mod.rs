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
use reqwest::Method;
use serde_json::{Value, json};
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
    let out = match cmd {
        ClientCommand::Deploy { args, .. } => {
            let result = deploy::deploy(&api, &args).await?;
            if !json {
                print_deployed(&result);
            }
            result
        }
        ClientCommand::Deployments { app, .. } => {
            let list: Value = api.get(&format!("/api/v1/bots/{}/apps/{}/deployments", app.bot, app.app)).await?;
            if !json {
                print_deployments(&list);
            }
            list
        }
        ClientCommand::Rollback { app, to, .. } => {
            let to = to
                .map(|v| v.trim_start_matches('v').parse::<i64>().with_context(|| format!("`{v}` is not a version")))
                .transpose()?;
            let path = format!("/api/v1/bots/{}/apps/{}/rollback", app.bot, app.app);
            let d: Value =
                api.json("rolling back", || api.request(Method::POST, &path).json(&json!({ "to": to }))).await?;
            if !json {
                println!("v{} is live again: {}", d["version"], text(&d["url"]));
            }
            d
        }
        ClientCommand::Promote { id, .. } => {
            let path = format!("/api/v1/deployments/{id}/activate");
            let d: Value = api.json("promoting", || api.request(Method::POST, &path)).await?;
            if !json {
                println!("v{} is live: {}", d["version"], text(&d["url"]));
            }
            d
        }
        ClientCommand::Pin { app, deployment, off, .. } => {
            let key = if deployment.trim_start_matches('v').parse::<i64>().is_ok() {
                format!("v{}", deployment.trim_start_matches('v'))
            } else {
                deployment
            };
            let path = format!("/api/v1/bots/{}/apps/{}/deployments/{key}/pin", app.bot, app.app);
            let method = if off { Method::DELETE } else { Method::PUT };
            let d: Value = api.json("pinning", || api.request(method.clone(), &path)).await?;
            if !json {
                let what =
                    if off { "unpinned: retention may remove it once it is old" } else { "pinned: retention keeps it" };
                println!("v{} {what}", d["version"]);
            }
            d
        }
        ClientCommand::Keep { app, count, .. } => {
            let base = format!("/api/v1/bots/{}/apps/{}", app.bot, app.app);
            let current: Value = api.get(&base).await?;
            let mut settings = current["settings"].clone();
            let settings = match count.as_deref() {
                None => settings,
                Some(n) => {
                    settings["keep_deployments"] = match n {
                        "default" => Value::Null,
                        n => json!(n.parse::<u32>().with_context(|| format!("`{n}` is not a number (or `default`)"))?),
                    };
                    let path = format!("{base}/settings");
                    let saved: Value =
                        api.json("saving the setting", || api.request(Method::PUT, &path).json(&settings)).await?;
                    saved["settings"].clone()
                }
            };
            if !json {
                match settings["keep_deployments"].as_u64() {
                    Some(n) => {
                        println!("keeps the newest {n} deployments (and the active, pinned and skew-protection ones)")
                    }
                    None => println!("keeps the platform's default number of deployments (TMAHOST_KEEP_DEPLOYMENTS)"),
                }
            }
            json!({ "keep_deployments": settings["keep_deployments"] })
        }
        ClientCommand::Usage { bot, set_max, .. } => {
            if let Some(max) = set_max {
                let max_bytes = match max.as_str() {
                    "default" => Value::Null,
                    n => json!(
                        n.parse::<i64>().with_context(|| format!("`{n}` is not a number of bytes (or `default`)"))?
                    ),
                };
                let path = format!("/api/v1/bots/{bot}");
                let body = json!({ "max_bytes": max_bytes });
                let _: Value = api.json("setting the limit", || api.request(Method::PATCH, &path).json(&body)).await?;
            }
            let usage: Value = api.get(&format!("/api/v1/bots/{bot}/usage")).await?;
            if !json {
                let limit = match usage["max_bytes"].as_i64() {
                    Some(m) => format!("{} ({})", human(m as u64), text(&usage["max_bytes_from"])),
                    None => "none".to_owned(),
                };
                println!("stored: {}  limit: {limit}", human(usage["stored_bytes"].as_i64().unwrap_or(0) as u64));
                table(
                    &["APP", "STORED"],
                    usage["apps"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|a| vec![text(&a["app"]), human(a["stored_bytes"].as_i64().unwrap_or(0) as u64)])
                        .collect(),
                );
            }
            usage
        }
        ClientCommand::Apps { bot, .. } => {
            let bots: Vec<String> = match bot {
                Some(b) => vec![b],
                None => {
                    let all: Value = api.get("/api/v1/bots").await?;
                    all.as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|b| b["id"].as_i64())
                        .map(|i| i.to_string())
                        .collect()
                }
            };
            let mut apps = Vec::new();
            for b in bots {
                let list: Value = api.get(&format!("/api/v1/bots/{b}/apps")).await?;
                apps.extend(list.as_array().cloned().unwrap_or_default());
            }
            if !json {
                table(
                    &["BOT", "APP", "ACCESS", "URL"],
                    apps.iter()
                        .map(|a| {
                            let access = a["settings"]["access"].as_str().unwrap_or("gated").to_owned();
                            vec![a["bot_id"].to_string(), text(&a["slug"]), access, text(&a["url"])]
                        })
                        .collect(),
                );
            }
            Value::Array(apps)
        }
        ClientCommand::Bots { .. } => {
            let list: Value = api.get("/api/v1/bots").await?;
            if !json {
                table(
                    &["ID", "USERNAME", "STATUS", "URL"],
                    list.as_array()
                        .into_iter()
                        .flatten()
                        .map(|b| {
                            vec![
                                b["id"].to_string(),
                                format!("@{}", text(&b["username"])),
                                text(&b["status"]),
                                text(&b["url"]),
                            ]
                        })
                        .collect(),
                );
            }
            list
        }
        ClientCommand::Domain { app, verify, .. } => {
            let base = format!("/api/v1/bots/{}/apps/{}", app.bot, app.app);
            let status: Value = if verify {
                let path = format!("{base}/domain/verify");
                api.json("checking the domain", || api.request(Method::POST, &path)).await?
            } else {
                let a: Value = api.get(&base).await?;
                if a["domain"].is_null() {
                    bail!("{}/{} has no custom domain; set `custom_domain` in its settings first", app.bot, app.app);
                }
                a["domain"].clone()
            };
            if !json {
                println!("domain:  {} ({})", text(&status["domain"]), text(&status["status"]));
                println!("record:  {} TXT \"{}\"", text(&status["txt_name"]), text(&status["txt_value"]));
                if let Some(e) = status["last_error"].as_str() {
                    println!("last check: {e}");
                }
            }
            status
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
            let path = format!("/api/v1/bots/{}/apps/{}/dev-links", args.app.bot, args.app.app);
            let body = json!({
                "user": {
                    "id": args.user_id,
                    "first_name": args.first_name,
                    "last_name": args.last_name,
                    "username": args.username,
                    "language_code": args.language_code,
                },
                "premium": args.premium,
                "start_param": args.start_param,
                "deployment": args.deployment,
                "platform": args.platform,
                "theme": if args.dark { "dark" } else { "light" },
            });
            let link: Value = api.json("making a dev link", || api.request(Method::POST, &path).json(&body)).await?;
            if !json {
                eprintln!(
                    "signed as user {} ({}); opens sessions for {} s",
                    link["user_id"], args.first_name, link["valid_for_secs"]
                );
                eprintln!("or open it in the Telegram emulator (dashboard login): {}", text(&link["emulator_url"]));
                println!("{}", text(&link["url"]));
            }
            link
        }
        ClientCommand::DeleteApp { app, confirm, .. } => {
            let base = format!("/api/v1/bots/{}/apps/{}", app.bot, app.app);
            let found: Value = api.get(&base).await?;
            let slug = text(&found["slug"]);
            confirmed(&format!("app `{slug}` of bot {}", app.bot), &slug, confirm)?;
            api.send("deleting the app", || api.request(Method::DELETE, &base)).await?;
            if !json {
                println!(
                    "deleted {}/{slug}: its hosts answer 404 now; its files go with the next garbage collection",
                    app.bot
                );
            }
            json!({ "deleted": { "bot": app.bot, "app": slug } })
        }
        ClientCommand::DeleteBot { bot, confirm, .. } => {
            let path = format!("/api/v1/bots/{bot}");
            let found: Value = api.get(&path).await?;
            let username = text(&found["username"]);
            confirmed(&format!("bot @{username} with all its apps"), &username, confirm)?;
            let removal: Value = api.json("deleting the bot", || api.request(Method::DELETE, &path)).await?;
            if !json {
                for w in removal["warnings"].as_array().into_iter().flatten() {
                    eprintln!("warning: {}", text(w));
                }
                let tokens = removal["revoked_tokens"].as_array().map_or(0, Vec::len);
                println!("deleted @{username} and its apps; {tokens} API tokens scoped to it revoked");
            }
            removal
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
    let base = format!("/api/v1/bots/{}/apps/{}", app.bot, app.app);
    let current: Value = api.get(&base).await?;
    let mut settings = current["settings"].clone();
    let mut list: Vec<Backend> = serde_json::from_value(settings["backends"].take())
        .context("the server's answer is not what this CLI expects (settings.backends)")?;
    if add.is_empty() && remove.is_empty() {
        return Ok(list);
    }
    for prefix in remove {
        let before = list.len();
        list.retain(|b| &b.prefix != prefix);
        if list.len() == before {
            bail!("{}/{} has no backend at `{prefix}`", app.bot, app.app);
        }
    }
    for line in add {
        let backend: Backend = line.parse()?;
        list.retain(|b| b.prefix != backend.prefix);
        list.push(backend);
    }
    settings["backends"] = serde_json::to_value(&list)?;
    let path = format!("{base}/settings");
    let saved: Value = api.json("saving the backends", || api.request(Method::PUT, &path).json(&settings)).await?;
    serde_json::from_value(saved["settings"]["backends"].clone())
        .context("the server's answer is not what this CLI expects (settings.backends)")
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
    let bots: Value = api.get("/api/v1/bots").await.context("checking the token")?;
    let path = api::store_credentials(&api::Credentials { server: api.server().to_owned(), token })?;
    let n = bots.as_array().map_or(0, Vec::len);
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
