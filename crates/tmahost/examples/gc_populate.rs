//! Fills a data dir for the garbage-collection benchmark (`tests/load/gc.sh`): `bots` bots with
//! `deployments` deployments each, every one with 10 contents of its own (digest deploys through
//! the platform's own service calls), then deletes the older half of each bot's deployments, so
//! half the contents are garbage. Retention is set high enough to keep every deployment.
//! With `FILE_BYTES=N` each content is N bytes of incompressible data (`.bin`, so no variant
//! is made), to fill a data dir of a given size (`tests/load/backup.sh`).
//! Run: `cargo run --release -p tmahost --example gc_populate -- DATA_DIR BOTS DEPLOYMENTS`

use anyhow::Context;
use futures_util::{StreamExt, TryStreamExt};
use tmahost_deploy::DeclaredFile;
use tmahost_service::{Actor, Config, DeployOptions, Need, Platform};

const FILES: usize = 10;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(bots), Some(per_bot)) = (args.next(), args.next(), args.next()) else {
        anyhow::bail!("usage: gc_populate DATA_DIR BOTS DEPLOYMENTS");
    };
    let (bots, per_bot): (i64, i64) = (bots.parse().context("BOTS")?, per_bot.parse().context("DEPLOYMENTS")?);
    let file_bytes: Option<usize> =
        std::env::var("FILE_BYTES").ok().map(|n| n.parse()).transpose().context("FILE_BYTES")?;
    let mut config = Config::default();
    config.storage.data_dir = dir.clone().into();
    config.telegram.api_url = "http://127.0.0.1:1".into();
    config.retention.keep_deployments = 1000;
    let platform = Platform::open(config).await?;
    let admin = Actor::local_admin();
    let start = std::time::Instant::now();
    futures_util::stream::iter(0..bots)
        .map(|b| {
            let (platform, admin) = (&platform, &admin);
            async move {
                let token = format!("{}:AAHdqTcvCH1vGWJxfSeofSAs0K5P{b:07}", 1_000_000 + b);
                let reg = platform.register_bot(admin, &token, Some(&format!("gc{b:05}_bot"))).await?;
                let app = platform.app(admin, reg.bot.bot_id(), "main", Need::Deploy).await?;
                let mut ids = Vec::new();
                for d in 0..per_bot {
                    let bodies: Vec<(String, Vec<u8>)> = (0..FILES)
                        .map(|f| {
                            let label = format!("bot {b} deployment {d} file {f}");
                            match file_bytes {
                                None => {
                                    let path = if f == 0 { "index.html".to_owned() } else { format!("assets/f{f}.js") };
                                    (path, label.into_bytes())
                                }
                                Some(n) => (
                                    if f == 0 { "index.html".to_owned() } else { format!("assets/f{f}.bin") },
                                    noise(&label, n),
                                ),
                            }
                        })
                        .collect();
                    let declared = bodies
                        .iter()
                        .map(|(path, body)| {
                            use sha2::Digest;
                            let sha256 = tmahost_service::model::Sha256::from_digest(&sha2::Sha256::digest(body));
                            DeclaredFile { path: path.clone(), sha256, size: body.len() as u64 }
                        })
                        .collect::<Vec<_>>();
                    let opts = DeployOptions { activate: true, message: None };
                    let plan = platform.begin_upload(&app, declared.clone(), opts).await?;
                    for sha in &plan.missing {
                        let i = declared.iter().position(|d| &d.sha256 == sha).context("declared")?;
                        platform.put_blob(admin, sha, bodies[i].1.clone().into()).await?;
                    }
                    ids.push(platform.finalize_upload(&app, &plan.deployment.id).await?.deployment.id);
                }
                // The older half goes: its contents are garbage now.
                for id in &ids[..ids.len() / 2] {
                    platform.delete_deployment(&platform.deployment(&app, id).await?).await?;
                }
                anyhow::Ok(())
            }
        })
        .buffer_unordered(8)
        .try_collect::<Vec<()>>()
        .await?;
    eprintln!(
        "{bots} bots x {per_bot} deployments x {FILES} contents in {:.1} s; half of them deleted",
        start.elapsed().as_secs_f64()
    );
    platform.close().await;
    Ok(())
}

/// `n` bytes that do not compress, different for every `seed`: SHA-256 in counter mode.
fn noise(seed: &str, n: usize) -> Vec<u8> {
    use sha2::Digest;
    let mut out = Vec::with_capacity(n + 32);
    let mut i = 0u64;
    while out.len() < n {
        out.extend_from_slice(&sha2::Sha256::new().chain_update(seed).chain_update(i.to_le_bytes()).finalize());
        i += 1;
    }
    out.truncate(n);
    out
}
