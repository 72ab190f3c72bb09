//! The HTTP side of the client commands: where the server is, the token, requests with
//! retries, the server's JSON errors turned into one readable line, and one typed method per
//! API call the commands make (the server's own DTOs, so a renamed field fails to compile).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tmahost_api::dto::{
    AppDto, BotDto, BotRemovalDto, CreateDevLink, DeployResultDto, DeploymentDto, DevLinkDto, UploadPlanDto, UsageDto,
};
use tmahost_service::domains::DomainStatus;
use tmahost_service::model::AppSettings;
use tmahost_types::ErrorBody;

/// Attempts per request when the network or the server fails transiently.
const ATTEMPTS: u32 = 4;

/// What `tmahost login` stores (0600) in the user's config dir.
#[derive(Serialize, Deserialize)]
pub struct Credentials {
    pub server: String,
    pub token: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("server", &self.server).field("token", &"<redacted>").finish()
    }
}

/// `$XDG_CONFIG_HOME/tmahost/credentials.json` (or the platform's equivalent).
pub fn credentials_path() -> anyhow::Result<PathBuf> {
    use etcetera::BaseStrategy;
    let base = etcetera::choose_base_strategy().context("cannot find the user's config dir")?;
    Ok(base.config_dir().join("tmahost").join("credentials.json"))
}

pub fn load_credentials() -> anyhow::Result<Option<Credentials>> {
    let path = credentials_path()?;
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(
            serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not valid; run `tmahost login`", path.display()))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes the credentials readable by the user only.
pub fn store_credentials(c: &Credentials) -> anyhow::Result<PathBuf> {
    use std::io::Write;
    let path = credentials_path()?;
    let dir = path.parent().expect("the file is in a folder");
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let mut file = options.open(&path).with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        // An older file keeps its mode through `create`; make sure it is private too.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(&serde_json::to_vec_pretty(c)?)?;
    Ok(path)
}

/// A client for one tmahost server with one token.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    server: String,
    token: String,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").field("server", &self.server).finish_non_exhaustive()
    }
}

/// A failure the server described, kept typed so callers can react to a code.
#[derive(Debug, thiserror::Error)]
#[error("{message} ({code}, HTTP {status})")]
pub struct ServerError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl Api {
    /// The server and token from `--server`/`TMAHOST_SERVER` and `TMAHOST_TOKEN`, else from
    /// `tmahost login`. A stored token is only sent to the server it was stored for.
    pub fn from_env(server: Option<String>) -> anyhow::Result<Self> {
        let stored = load_credentials()?;
        let env_token = std::env::var("TMAHOST_TOKEN").ok().filter(|t| !t.trim().is_empty());
        let server = match (server, &stored) {
            (Some(s), _) => s,
            (None, Some(c)) => c.server.clone(),
            (None, None) => bail!("no server: set TMAHOST_SERVER (e.g. http://127.0.0.1:8081) or run `tmahost login`"),
        };
        let server = server.trim_end_matches('/').to_owned();
        let token = match (env_token, stored) {
            (Some(t), _) => t,
            (None, Some(c)) if c.server.trim_end_matches('/') == server => c.token,
            (None, Some(c)) => bail!(
                "no token for {server}: the stored login is for {}; set TMAHOST_TOKEN or run `tmahost login`",
                c.server
            ),
            (None, None) => bail!("no token: set TMAHOST_TOKEN or run `tmahost login`"),
        };
        Self::new(server, token)
    }

    pub fn new(server: String, token: String) -> anyhow::Result<Self> {
        url::Url::parse(&server)
            .with_context(|| format!("`{server}` is not a URL (expected e.g. http://127.0.0.1:8081)"))?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .user_agent(concat!("tmahost-cli/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, server: server.trim_end_matches('/').to_owned(), token: token.trim().to_owned() })
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.server)).bearer_auth(&self.token)
    }

    /// Sends with retries on connection failures, 429 and 5xx; any other answer is final.
    /// `build` makes a fresh request for each attempt.
    pub async fn send(&self, what: &str, build: impl Fn() -> RequestBuilder) -> anyhow::Result<Response> {
        let mut delay = Duration::from_millis(500);
        for attempt in 1..=ATTEMPTS {
            let last = attempt == ATTEMPTS;
            match build().send().await {
                Ok(res) if retryable(res.status()) && !last => {
                    tracing::debug!(what, status = %res.status(), "retrying");
                }
                Ok(res) => return check(res).await,
                Err(e) if !last && (e.is_connect() || e.is_timeout() || e.is_request()) => {
                    tracing::debug!(what, error = %e, "retrying");
                }
                Err(e) => {
                    return Err(anyhow!(e).context(format!("{what}: cannot reach {}", self.server)));
                }
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
        unreachable!("the last attempt always returns")
    }

    pub async fn json<T: DeserializeOwned>(&self, what: &str, build: impl Fn() -> RequestBuilder) -> anyhow::Result<T> {
        let res = self.send(what, build).await?;
        res.json::<T>().await.with_context(|| format!("{what}: the server's answer is not what this CLI expects"))
    }
}

/// The API routes the client calls, as (method, template): each must be a route of the
/// server's OpenAPI document (a test checks), and [`fill`] makes a path of one.
pub mod routes {
    pub const BOTS: (&str, &str) = ("get", "/api/v1/bots");
    pub const BOT: (&str, &str) = ("get", "/api/v1/bots/{bot}");
    pub const UPDATE_BOT: (&str, &str) = ("patch", "/api/v1/bots/{bot}");
    pub const DELETE_BOT: (&str, &str) = ("delete", "/api/v1/bots/{bot}");
    pub const USAGE: (&str, &str) = ("get", "/api/v1/bots/{bot}/usage");
    pub const APPS: (&str, &str) = ("get", "/api/v1/bots/{bot}/apps");
    pub const APP: (&str, &str) = ("get", "/api/v1/bots/{bot}/apps/{app}");
    pub const DELETE_APP: (&str, &str) = ("delete", "/api/v1/bots/{bot}/apps/{app}");
    pub const SETTINGS: (&str, &str) = ("put", "/api/v1/bots/{bot}/apps/{app}/settings");
    pub const VERIFY_DOMAIN: (&str, &str) = ("post", "/api/v1/bots/{bot}/apps/{app}/domain/verify");
    pub const DEPLOYMENTS: (&str, &str) = ("get", "/api/v1/bots/{bot}/apps/{app}/deployments");
    pub const DEPLOY: (&str, &str) = ("post", "/api/v1/bots/{bot}/apps/{app}/deployments");
    pub const PIN: (&str, &str) = ("put", "/api/v1/bots/{bot}/apps/{app}/deployments/{id}/pin");
    pub const UNPIN: (&str, &str) = ("delete", "/api/v1/bots/{bot}/apps/{app}/deployments/{id}/pin");
    pub const ROLLBACK: (&str, &str) = ("post", "/api/v1/bots/{bot}/apps/{app}/rollback");
    pub const DEV_LINK: (&str, &str) = ("post", "/api/v1/bots/{bot}/apps/{app}/dev-links");
    pub const DEPLOYMENT: (&str, &str) = ("get", "/api/v1/deployments/{id}");
    pub const PROMOTE: (&str, &str) = ("post", "/api/v1/deployments/{id}/activate");
    pub const BLOB: (&str, &str) = ("put", "/api/v1/blobs/{sha256}");

    #[cfg(test)]
    pub const ALL: &[(&str, &str)] = &[
        BOTS,
        BOT,
        UPDATE_BOT,
        DELETE_BOT,
        USAGE,
        APPS,
        APP,
        DELETE_APP,
        SETTINGS,
        VERIFY_DOMAIN,
        DEPLOYMENTS,
        DEPLOY,
        PIN,
        UNPIN,
        ROLLBACK,
        DEV_LINK,
        DEPLOYMENT,
        PROMOTE,
        BLOB,
    ];
}

/// A route's method and path with its `{name}` parts filled in, in order.
pub fn fill(route: (&str, &str), values: &[&str]) -> (Method, String) {
    let (method, template) = route;
    let mut path = String::with_capacity(template.len());
    let mut values = values.iter();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c + 1);
        path.push_str(&rest[..open]);
        path.push_str(values.next().copied().unwrap_or_default());
        rest = &rest[close..];
    }
    path.push_str(rest);
    (method.to_uppercase().parse().unwrap_or(Method::GET), path)
}

impl Api {
    async fn call<T: DeserializeOwned>(&self, what: &str, route: (&str, &str), values: &[&str]) -> anyhow::Result<T> {
        let (method, path) = fill(route, values);
        self.json(what, || self.request(method.clone(), &path)).await
    }

    async fn call_with<T: DeserializeOwned>(
        &self,
        what: &str,
        route: (&str, &str),
        values: &[&str],
        body: &impl Serialize,
    ) -> anyhow::Result<T> {
        let (method, path) = fill(route, values);
        self.json(what, || self.request(method.clone(), &path).json(body)).await
    }

    pub async fn bots(&self) -> anyhow::Result<Vec<BotDto>> {
        self.call("listing bots", routes::BOTS, &[]).await
    }
    pub async fn bot(&self, bot: &str) -> anyhow::Result<BotDto> {
        self.call("reading the bot", routes::BOT, &[bot]).await
    }
    /// `max_bytes`: `None` gives the bot the platform's cap back.
    pub async fn set_max_bytes(&self, bot: &str, max_bytes: Option<i64>) -> anyhow::Result<BotDto> {
        let body = serde_json::json!({ "max_bytes": max_bytes });
        self.call_with("setting the limit", routes::UPDATE_BOT, &[bot], &body).await
    }
    pub async fn delete_bot(&self, bot: &str) -> anyhow::Result<BotRemovalDto> {
        self.call("deleting the bot", routes::DELETE_BOT, &[bot]).await
    }
    pub async fn usage(&self, bot: &str) -> anyhow::Result<UsageDto> {
        self.call("reading the usage", routes::USAGE, &[bot]).await
    }
    pub async fn apps(&self, bot: &str) -> anyhow::Result<Vec<AppDto>> {
        self.call("listing apps", routes::APPS, &[bot]).await
    }
    pub async fn app(&self, bot: &str, app: &str) -> anyhow::Result<AppDto> {
        self.call("reading the app", routes::APP, &[bot, app]).await
    }
    pub async fn delete_app(&self, bot: &str, app: &str) -> anyhow::Result<()> {
        let (method, path) = fill(routes::DELETE_APP, &[bot, app]);
        self.send("deleting the app", || self.request(method.clone(), &path)).await.map(drop)
    }
    /// Writes the app's settings whole.
    pub async fn save_settings(&self, bot: &str, app: &str, settings: &AppSettings) -> anyhow::Result<AppDto> {
        self.call_with("saving the settings", routes::SETTINGS, &[bot, app], settings).await
    }
    pub async fn verify_domain(&self, bot: &str, app: &str) -> anyhow::Result<DomainStatus> {
        self.call("checking the domain", routes::VERIFY_DOMAIN, &[bot, app]).await
    }
    pub async fn deployments(&self, bot: &str, app: &str) -> anyhow::Result<Vec<DeploymentDto>> {
        self.call("listing deployments", routes::DEPLOYMENTS, &[bot, app]).await
    }
    /// Opens a digest deploy of `manifest` (a `ManifestDto`).
    pub async fn declare(&self, bot: &str, app: &str, manifest: &serde_json::Value) -> anyhow::Result<UploadPlanDto> {
        self.call_with("declaring the files", routes::DEPLOY, &[bot, app], manifest).await
    }
    /// Finalizes at the URL the plan names.
    pub async fn finalize(&self, plan: &UploadPlanDto) -> anyhow::Result<DeployResultDto> {
        self.json("finalizing", || self.request(Method::POST, &plan.finalize_url)).await
    }
    pub async fn deployment(&self, id: &str) -> anyhow::Result<DeploymentDto> {
        self.call("reading the deployment", routes::DEPLOYMENT, &[id]).await
    }
    pub async fn pin(&self, bot: &str, app: &str, deployment: &str, on: bool) -> anyhow::Result<DeploymentDto> {
        let route = if on { routes::PIN } else { routes::UNPIN };
        self.call("pinning", route, &[bot, app, deployment]).await
    }
    /// `to`: a version; `None` rolls back one step.
    pub async fn rollback(&self, bot: &str, app: &str, to: Option<i64>) -> anyhow::Result<DeploymentDto> {
        let body = tmahost_api::dto::RollbackDto { to };
        self.call_with("rolling back", routes::ROLLBACK, &[bot, app], &body).await
    }
    pub async fn promote(&self, id: &str) -> anyhow::Result<DeploymentDto> {
        self.call("promoting", routes::PROMOTE, &[id]).await
    }
    pub async fn dev_link(&self, bot: &str, app: &str, options: &CreateDevLink) -> anyhow::Result<DevLinkDto> {
        self.call_with("making a dev link", routes::DEV_LINK, &[bot, app], options).await
    }
}

fn retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// Turns an error answer into a [`ServerError`] with a hint for the usual mistakes.
async fn check(res: Response) -> anyhow::Result<Response> {
    let status = res.status();
    if status.is_success() {
        return Ok(res);
    }
    let text = res.text().await.unwrap_or_default();
    let (code, message) = match serde_json::from_str::<ErrorBody>(&text) {
        Ok(b) => (b.error.code, b.error.message),
        Err(_) => ("http_error".to_owned(), text.chars().take(200).collect()),
    };
    let err = ServerError { status: status.as_u16(), code, message };
    Err(match status {
        StatusCode::UNAUTHORIZED => {
            anyhow!(err).context("the server refused the token; run `tmahost login` or set TMAHOST_TOKEN")
        }
        _ => anyhow!(err),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_the_client_calls_is_a_route_of_the_server() {
        let document = tmahost_api::openapi_document();
        for (method, template) in routes::ALL {
            let item = document.paths.paths.get(*template).unwrap_or_else(|| panic!("{template} is not served"));
            let operation = match *method {
                "get" => &item.get,
                "post" => &item.post,
                "put" => &item.put,
                "patch" => &item.patch,
                "delete" => &item.delete,
                other => panic!("unknown method {other}"),
            };
            assert!(operation.is_some(), "{method} {template} is not served");
        }
    }

    #[test]
    fn a_route_is_filled_in_order() {
        let (method, path) = fill(routes::PIN, &["demo_bot", "shop", "v3"]);
        assert_eq!((method, path.as_str()), (Method::PUT, "/api/v1/bots/demo_bot/apps/shop/deployments/v3/pin"));
        assert_eq!(fill(routes::BOTS, &[]).1, "/api/v1/bots");
    }
}
