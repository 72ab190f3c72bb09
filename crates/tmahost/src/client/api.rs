//! The HTTP side of the client commands: where the server is, the token, requests with
//! retries, and the server's JSON errors turned into one readable line.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

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

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
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

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.json(&format!("GET {path}"), || self.request(Method::GET, path)).await
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
