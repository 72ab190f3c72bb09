//! [`TestApp`]: a running `tmahost` ([`Serve`]) with the calls the end-to-end suites make of
//! it, written once: the API with a token (status and JSON back), bot registration, archive
//! deploys, requests to an app's host on the edge, waiting for the edge to serve something,
//! and reading a metric.

use std::time::{Duration, Instant};

use reqwest::{Client, Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::server::Serve;

/// A running server and an HTTP client that follows no redirects (tests assert them) and keeps
/// no idle connections (CLI runs and restarts in between outlast keep-alive).
#[derive(Debug)]
pub struct TestApp {
    pub serve: Serve,
    pub http: Client,
}

impl TestApp {
    /// `tmahost serve` with `env` (see [`Serve::start`]).
    pub fn start(env: &[(&str, &str)]) -> Self {
        Self::new(Serve::start(env))
    }

    pub fn new(serve: Serve) -> Self {
        Self::with_timeout(serve, Duration::from_secs(30))
    }

    /// With a client that gives up on a request after `timeout` (to show a part answers
    /// while another is down).
    pub fn with_timeout(serve: Serve, timeout: Duration) -> Self {
        let http = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(0)
            .timeout(timeout)
            .build()
            .expect("client");
        Self { serve, http }
    }

    /// The admin token the first start printed.
    pub fn admin(&self) -> &str {
        self.serve.admin_token.as_deref().expect("the first start of `serve` prints an admin token")
    }

    /// `method path` on the API (`path` from the root: `/api/v1/…`), with `token` and a JSON
    /// body if given; the status and the JSON answer (`Null` when there is none).
    pub async fn api(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.serve.api));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        answer(req).await
    }

    /// Registers a tenant bot as the admin; `username` spares the Bot API lookup.
    pub async fn register(&self, token: &str, username: Option<&str>) -> Value {
        let mut body = json!({ "token": token });
        if let Some(u) = username {
            body["username"] = json!(u);
        }
        let (status, bot) = self.api(Method::POST, "/api/v1/bots", Some(self.admin()), Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "registering a bot: {bot}");
        bot
    }

    /// An API call as `token` that must succeed; its JSON answer.
    pub async fn api_ok(&self, token: &str, method: Method, path: &str, body: Value) -> Value {
        let (status, answer) = self.api(method, path, Some(token), Some(body)).await;
        assert!(status.is_success(), "{path}: {status} {answer}");
        answer
    }

    /// Puts an app's settings as the admin: the status and the answer (a refusal is an answer).
    pub async fn put_settings(&self, bot: &str, app: &str, settings: Value) -> (StatusCode, Value) {
        let path = format!("/api/v1/bots/{bot}/apps/{app}/settings");
        self.api(Method::PUT, &path, Some(self.admin()), Some(settings)).await
    }

    /// Changes an app's settings as the admin, asserting success.
    pub async fn settings(&self, bot: &str, app: &str, settings: Value) -> Value {
        let (status, body) = self.put_settings(bot, app, settings).await;
        assert!(status.is_success(), "settings of {bot}/{app}: {status} {body}");
        body
    }

    /// Uploads an archive (zip, or tar.gz when it starts like gzip) to
    /// `/api/v1/bots/{bot}/apps/{app}/deployments{query}` with `token`.
    pub async fn deploy(
        &self,
        token: &str,
        bot: &str,
        app: &str,
        query: &str,
        archive: Vec<u8>,
    ) -> (StatusCode, Value) {
        let content_type = if archive.starts_with(&[0x1f, 0x8b]) { "application/gzip" } else { "application/zip" };
        let path = format!("/api/v1/bots/{bot}/apps/{app}/deployments{query}");
        self.post_bytes(&path, token, content_type, archive).await
    }

    /// POSTs raw bytes to the API.
    pub async fn post_bytes(&self, path: &str, token: &str, content_type: &str, body: Vec<u8>) -> (StatusCode, Value) {
        let req = self
            .http
            .post(format!("{}{path}", self.serve.api))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body);
        answer(req).await
    }

    /// `{label}.localhost:{edge port}`: the `Host` of an app (`demo-bot`, `shop--demo-bot`, a
    /// preview's label).
    pub fn host(&self, label: &str) -> String {
        let port = self.serve.edge.rsplit(':').next().expect("edge port");
        format!("{label}.localhost:{port}")
    }

    /// A GET to the edge for `host` (a full `Host` value: see [`TestApp::host`]).
    pub fn edge(&self, host: &str, path: &str) -> RequestBuilder {
        self.http.get(format!("{}{path}", self.serve.edge)).header("host", host)
    }

    /// The status and body of `path` on `host`, without credentials.
    pub async fn edge_text(&self, host: &str, path: &str) -> (StatusCode, String) {
        let res = self.edge(host, path).send().await.expect("edge");
        (res.status(), res.text().await.unwrap_or_default())
    }

    /// Waits up to `within` until `request()` gets `status` with a body containing `needle`: a
    /// change reaches the edge when it has swapped its routing table, a moment after the API
    /// answered.
    pub async fn wait_for_edge(
        &self,
        within: Duration,
        request: impl Fn() -> RequestBuilder,
        status: StatusCode,
        needle: &str,
    ) {
        let deadline = Instant::now() + within;
        loop {
            let res = request().send().await.expect("edge");
            let got = res.status();
            let body = res.text().await.unwrap_or_default();
            if got == status && body.contains(needle) {
                return;
            }
            assert!(Instant::now() < deadline, "the edge answers {got} {body:.200}, not {status} with {needle:?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// A counter of the API's `/metrics`, read as the admin (0 before its first increment).
    pub async fn metric(&self, series: &str) -> u64 {
        let res = self.http.get(format!("{}/metrics", self.serve.api)).bearer_auth(self.admin()).send().await;
        let res = res.expect("metrics");
        assert_eq!(res.status(), StatusCode::OK, "admins read the API's metrics");
        let text = res.text().await.expect("text");
        text.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok())).unwrap_or(0)
    }
}

/// A request's status and JSON answer (`Null` when the body is not JSON).
async fn answer(req: RequestBuilder) -> (StatusCode, Value) {
    let res = req.send().await.expect("request");
    let status = res.status();
    let text = res.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}
