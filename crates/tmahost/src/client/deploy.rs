//! `tmahost deploy`: a build folder goes up by digest (hash everything locally in parallel,
//! send only the contents the server lacks, then finalize); an archive goes up whole and the
//! server unpacks it. Progress bars on a terminal, plain lines otherwise (CI logs).

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};
use tmahost_api::dto::{DeployResultDto, UploadPlanDto};

use super::api::{Api, ServerError, fill, routes};
use super::{AppArgs, human};

/// Blob uploads in flight at once.
const UPLOAD_CONCURRENCY: usize = 8;
/// The per-app ignore file, gitignore syntax, read in every folder of the build.
pub const IGNORE_FILE: &str = ".tmahostignore";

#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    /// The build folder (e.g. dist/) or a .zip / .tar.gz of it.
    pub path: PathBuf,
    #[command(flatten)]
    pub app: AppArgs,
    /// Stage the deployment: served on its preview URL only, until `tmahost promote`.
    #[arg(long)]
    pub stage: bool,
    /// A note shown in deployment lists and notifications.
    #[arg(long, short)]
    pub message: Option<String>,
    /// Upload dotfiles too (by default only `.well-known/` is).
    #[arg(long)]
    pub include_dotfiles: bool,
    /// Leave out source maps (`*.map`).
    #[arg(long)]
    pub no_source_maps: bool,
}

/// One local file of the build.
#[derive(Debug, Clone)]
struct LocalFile {
    /// Bundle path: relative, `/`-separated.
    path: String,
    local: PathBuf,
    sha256: String,
    size: u64,
}

/// What a deploy did: the server's result and, for a folder, how many contents went up.
#[derive(Debug, Serialize)]
pub struct Deployed {
    #[serde(flatten)]
    pub result: DeployResultDto,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uploaded_blobs: Option<usize>,
}

/// Deploys; the result is printed by the caller.
pub async fn deploy(api: &Api, args: &DeployArgs) -> anyhow::Result<Deployed> {
    let meta = std::fs::metadata(&args.path).with_context(|| format!("cannot read {}", args.path.display()))?;
    if meta.is_dir() { deploy_folder(api, args).await } else { deploy_archive(api, args).await }
}

async fn deploy_folder(api: &Api, args: &DeployArgs) -> anyhow::Result<Deployed> {
    let progress = Progress::new();
    let started = Instant::now();
    let found = walk(&args.path, args.include_dotfiles, args.no_source_maps)?;
    if found.is_empty() {
        bail!("{} has no files to deploy (after {IGNORE_FILE} and the dotfile rule)", args.path.display());
    }
    let total: u64 = found.iter().map(|(_, _, size)| size).sum();
    let bar = progress.bar(found.len() as u64, "hashing", "files");
    let files: Vec<LocalFile> = found
        .into_par_iter()
        .map(|(path, local, _)| {
            let (sha256, size) =
                tmahost_deploy::hash_file(&local).with_context(|| format!("cannot read {}", local.display()))?;
            let sha256 = sha256.to_string();
            bar.inc(1);
            Ok(LocalFile { path, local, sha256, size })
        })
        .collect::<anyhow::Result<_>>()?;
    bar.finish_and_clear();
    progress.line(format!("hashed {} files ({}) in {:.1?}", files.len(), human(total), started.elapsed()));

    let manifest: serde_json::Map<String, Value> =
        files.iter().map(|f| (f.path.clone(), json!({ "sha256": f.sha256, "size": f.size }))).collect();
    let body = json!({ "files": manifest, "stage": args.stage, "message": args.message });
    let plan = api.declare(&args.app.bot, &args.app.app, &body).await?;

    // One local file per missing content (identical files share a content).
    let by_hash: std::collections::HashMap<&str, &LocalFile> = files.iter().map(|f| (f.sha256.as_str(), f)).collect();
    let mut todo: Vec<LocalFile> = Vec::with_capacity(plan.missing.len());
    for sha in &plan.missing {
        let f = by_hash.get(sha.as_str()).context("the server asked for a content it was not offered")?;
        todo.push((*f).clone());
    }
    let upload_bytes: u64 = todo.iter().map(|f| f.size).sum();
    progress.line(format!(
        "v{}: uploading {} of {} contents ({}); {} already stored",
        plan.deployment.version,
        todo.len(),
        plan.unique_blobs,
        human(upload_bytes),
        plan.unique_blobs - todo.len()
    ));
    let bar = Arc::new(progress.bar(upload_bytes, "uploading", "bytes"));
    let uploaded_at = Instant::now();
    futures_util::stream::iter(todo.iter().map(|f| upload(api, f, bar.clone())))
        .buffer_unordered(UPLOAD_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    bar.finish_and_clear();
    if !todo.is_empty() {
        progress.line(format!("uploaded {} in {:.1?}", human(upload_bytes), uploaded_at.elapsed()));
    }

    let result = finalize(api, &plan, todo.len()).await?;
    Ok(Deployed { result, uploaded_blobs: Some(todo.len()) })
}

/// Finalize, tolerating a lost answer: if the request fails, the deployment's own state says
/// whether it went through.
async fn finalize(api: &Api, plan: &UploadPlanDto, uploaded: usize) -> anyhow::Result<DeployResultDto> {
    match api.finalize(plan).await {
        Ok(v) => Ok(v),
        Err(e) if e.downcast_ref::<ServerError>().is_none() => {
            let d = api.deployment(&plan.deployment.id).await.map_err(|_| e)?;
            if !matches!(d.status.as_str(), "active" | "ready") {
                bail!("finalizing v{} did not complete (status {}); run the deploy again", d.version, d.status);
            }
            let reused = plan.unique_blobs.saturating_sub(uploaded);
            Ok(DeployResultDto { deployment: d, new_blobs: uploaded, reused_blobs: reused, warnings: Vec::new() })
        }
        Err(e) => Err(e),
    }
}

async fn upload(api: &Api, f: &LocalFile, bar: Arc<ProgressBar>) -> anyhow::Result<()> {
    let data = bytes::Bytes::from(
        tokio::fs::read(&f.local).await.with_context(|| format!("cannot read {}", f.local.display()))?,
    );
    let (method, path) = fill(routes::BLOB, &[&f.sha256]);
    let what = format!("uploading {}", f.path);
    api.send(&what, || {
        api.request(method.clone(), &path).header("content-type", "application/octet-stream").body(data.clone())
    })
    .await
    .map_err(|e| match e.downcast_ref::<ServerError>() {
        Some(s) if s.code == "digest_mismatch" || s.code == "size_mismatch" => {
            e.context(format!("{} changed while deploying; run the deploy again", f.path))
        }
        _ => e.context(what.clone()),
    })?;
    bar.inc(f.size);
    Ok(())
}

async fn deploy_archive(api: &Api, args: &DeployArgs) -> anyhow::Result<Deployed> {
    let mut head = [0u8; 4];
    let n = std::fs::File::open(&args.path)?.read(&mut head)?;
    let content_type = match tmahost_deploy::sniff_format(&head[..n]) {
        Some(tmahost_deploy::ArchiveFormat::Zip) => "application/zip",
        Some(tmahost_deploy::ArchiveFormat::TarGz) => "application/gzip",
        None => bail!("{} is neither a folder nor a .zip / .tar.gz archive", args.path.display()),
    };
    let data = bytes::Bytes::from(tokio::fs::read(&args.path).await?);
    let progress = Progress::new();
    progress.line(format!("uploading {} ({})", args.path.display(), human(data.len() as u64)));
    let spinner = progress.spinner("the server is unpacking and storing the archive");
    let (method, path) = fill(routes::DEPLOY, &[&args.app.bot, &args.app.app]);
    let mut query = vec![("activate", (!args.stage).to_string())];
    if let Some(m) = &args.message {
        query.push(("message", m.clone()));
    }
    let result = api
        .json("uploading the archive", || {
            api.request(method.clone(), &path).query(&query).header("content-type", content_type).body(data.clone())
        })
        .await;
    spinner.finish_and_clear();
    Ok(Deployed { result: result?, uploaded_blobs: None })
}

/// Files of the build folder, with `.tmahostignore` applied in every folder: (bundle path,
/// local path, size). Dotfiles are left out unless asked, except `.well-known/`.
fn walk(root: &Path, dotfiles: bool, no_maps: bool) -> anyhow::Result<Vec<(String, PathBuf, u64)>> {
    let walker = ignore::WalkBuilder::new(root)
        // Only our own ignore file: a repo's .gitignore usually ignores the build folder itself.
        .standard_filters(false)
        .add_custom_ignore_filename(IGNORE_FILE)
        .follow_links(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .build();
    let mut out = Vec::new();
    for entry in walker {
        let entry = entry.context("cannot list the build folder")?;
        let rel = entry.path().strip_prefix(root).expect("walk stays under its root");
        if rel.as_os_str().is_empty() {
            continue;
        }
        let Some(rel_str) = rel.to_str() else {
            bail!("{} has a name that is not UTF-8; rename it", entry.path().display());
        };
        let path = rel_str.replace(std::path::MAIN_SEPARATOR, "/");
        let file_type = entry.file_type().context("cannot read a file type")?;
        if file_type.is_symlink() {
            bail!("{path} is a symbolic link; deploy a folder of regular files (copy what it points to)");
        }
        if !file_type.is_file() {
            continue;
        }
        let hidden = path.split('/').any(|c| c.starts_with('.') && c != ".well-known");
        if (hidden && !dotfiles) || (no_maps && path.ends_with(".map")) {
            continue;
        }
        let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
        out.push((path, entry.path().to_owned(), size));
    }
    Ok(out)
}

/// Bars on a terminal; on a pipe (CI), hidden bars and plain lines on stderr.
struct Progress {
    terminal: bool,
}

impl Progress {
    fn new() -> Self {
        Self { terminal: std::io::stderr().is_terminal() }
    }

    fn bar(&self, len: u64, what: &str, unit: &str) -> ProgressBar {
        if !self.terminal {
            return ProgressBar::hidden();
        }
        let template = match unit {
            "bytes" => "{prefix:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            _ => "{prefix:>10} [{bar:30}] {pos}/{len} files",
        };
        let bar = ProgressBar::new(len).with_prefix(what.to_owned());
        bar.set_style(ProgressStyle::with_template(template).expect("valid template").progress_chars("=> "));
        bar
    }

    fn spinner(&self, what: &str) -> ProgressBar {
        if !self.terminal {
            return ProgressBar::hidden();
        }
        let s = ProgressBar::new_spinner().with_message(what.to_owned());
        s.enable_steady_tick(Duration::from_millis(100));
        s
    }

    fn line(&self, text: String) {
        eprintln!("{text}");
    }
}
