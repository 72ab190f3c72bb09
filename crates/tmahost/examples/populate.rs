//! Fills a data dir for the scale benchmark (`tests/load/scale.sh`): `bots` bots with their
//! main app and three deployments each, through the platform's own service calls (the first
//! upload stores the bundle's contents; every later deploy finds them stored). Writes
//! `{data_dir}/hosts.txt`: one `host cookie` line per app, for wrk.
//! Run: `cargo run --release -p tmahost --example populate -- DATA_DIR BOTS`

use std::io::Write;

use anyhow::Context;
use futures_util::{StreamExt, TryStreamExt};
use tmahost_deploy::DeclaredFile;
use tmahost_service::{Actor, Config, DeployOptions, Need, Platform};

const PAGE: &str = "<!doctype html><meta charset=utf-8><title>app</title><script src=/app.js></script><h1>hello</h1>";
const SCRIPT: &str = "document.querySelector('h1').textContent = 'hello from ' + location.host;";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(bots)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: populate DATA_DIR BOTS");
    };
    let bots: i64 = bots.parse().context("BOTS")?;
    let mut config = Config::default();
    config.storage.data_dir = dir.clone().into();
    config.telegram.api_url = "http://127.0.0.1:1".into();
    let platform = Platform::open(config).await?;
    let admin = Actor::local_admin();
    let files = tempfile::tempdir()?;
    let mut declared = Vec::new();
    for (path, body) in [("index.html", PAGE), ("app.js", SCRIPT)] {
        std::fs::write(files.path().join(path), body)?;
        let (sha256, size) = tmahost_deploy::hash_file(&files.path().join(path))?;
        declared.push((DeclaredFile { path: path.into(), sha256, size }, path));
    }
    let start = std::time::Instant::now();
    let now = tmahost_service::now_ms() / 1000;
    let session_key = platform.key_for(tmahost_service::KeyPurpose::EdgeSessionSigning);
    let hosts: Vec<String> = futures_util::stream::iter(0..bots)
        .map(|i| {
            let (platform, admin, declared, files, session_key) =
                (&platform, &admin, &declared, files.path(), &session_key);
            async move {
                let username = format!("load{i:05}_bot");
                let token = format!("{}:AAHdqTcvCH1vGWJxfSeofSAs0K5P{i:07}", 1_000_000 + i);
                let reg = platform.register_bot(admin, &token, Some(&username)).await?;
                let app = platform.app(admin, reg.bot.bot_id(), "main", Need::Deploy).await?;
                for v in 0..3 {
                    let list = declared.iter().map(|(d, _)| d.clone()).collect();
                    let opts = DeployOptions { activate: true, message: Some(format!("v{v}")) };
                    let plan = platform.begin_upload(&app, list, opts).await?;
                    for sha in &plan.missing {
                        let (_, path) = declared.iter().find(|(d, _)| &d.sha256 == sha).context("declared")?;
                        let data = tokio::fs::read(files.join(path)).await?;
                        platform.put_blob(admin, sha, data.into()).await?;
                    }
                    platform.finalize_upload(&app, &plan.deployment.id).await?;
                }
                let cookie = tmahost_edge::bench::mint_cookie(session_key, &reg.app.id, 1000 + i, now);
                anyhow::Ok(format!("{}.{} {cookie}", reg.bot.host_label, platform.config().server.base_domain))
            }
        })
        .buffer_unordered(8)
        .try_collect()
        .await?;
    // What `serve`'s background worker would do: the edge then reads complete manifests.
    platform.make_pending_brotli().await?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(format!("{dir}/hosts.txt"))?);
    for h in &hosts {
        writeln!(out, "{h}")?;
    }
    out.flush()?;
    eprintln!("{bots} bots x 3 deployments in {:.1} s", start.elapsed().as_secs_f64());
    platform.close().await;
    Ok(())
}
