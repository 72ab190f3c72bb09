//! What the edge suites share: a platform with two bots and an edge on a random port, a client
//! that does not follow redirects, and launch data signed like Telegram's.
#![allow(dead_code, unused_imports)] // each suite uses the part it needs

pub use std::net::TcpListener;
pub use std::time::{Duration, Instant};

pub use reqwest::header::{self, HeaderMap};
pub use reqwest::{Method, StatusCode};
pub use serde_json::{Value, json};
pub use tmahost_edge::Edge;
pub use tmahost_service::model::{Access, AppSettings, BotStatus, Role};
pub use tmahost_service::{Actor, Config, DeployOptions, DeployReport, Need, Platform, Secret, ServiceError};
pub use tmahost_testkit::bundles;
pub use tmahost_testkit::platform::TestPlatform;
pub use tmahost_types::BotToken;

pub const TOKEN_A: &str = tmahost_testkit::TOKEN_A;
pub const TOKEN_B: &str = tmahost_testkit::TOKEN_B;

pub struct Env {
    pub p: Platform,
    pub edge: Edge,
    pub base: String,
    pub port: u16,
    pub http: reqwest::Client,
    pub handle: tmahost_edge::ServerHandle,
    pub _dir: tempfile::TempDir,
}

impl Drop for Env {
    fn drop(&mut self) {
        // Stop without waiting: the runtime of the test is going away.
        drop(self.handle.stop(false));
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

pub async fn env_with(tweak: impl FnOnce(&mut Config)) -> Env {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let TestPlatform { p, dir } = tmahost_testkit::platform::open(|config| {
        // Blobs on the local disk, as an embedded edge keeps them.
        config.storage.storage_url = None;
        config.server.edge_addr = addr;
        tweak(config);
    })
    .await;
    let edge = Edge::start(p.clone()).await.expect("edge");
    let server = edge.clone().server(listener).expect("server");
    let handle = server.handle();
    tokio::spawn(server);
    Env {
        p,
        edge,
        base: format!("http://127.0.0.1:{}", addr.port()),
        port: addr.port(),
        http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client"),
        handle,
        _dir: dir,
    }
}

pub async fn env() -> Env {
    env_with(|_| {}).await
}

impl Env {
    /// The platform's CSP: Telegram Web and the platform's own emulator (the API's origin) may
    /// frame apps.
    pub fn platform_csp(&self) -> String {
        format!("frame-ancestors 'self' https://web.telegram.org {}", self.p.config().api_origin())
    }

    pub fn host(&self, label: &str) -> String {
        format!("{label}.localhost:{}", self.port)
    }

    pub async fn send(
        &self,
        method: Method,
        label: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Reply {
        let mut req = self.http.request(method, format!("{}{path}", self.base)).header(header::HOST, self.host(label));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let (status, headers) = (res.status(), res.headers().clone());
        Reply { status, headers, body: res.bytes().await.expect("body").to_vec() }
    }

    pub async fn get(&self, label: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send(Method::GET, label, path, headers, None).await
    }

    pub async fn deploy_to(
        &self,
        bot: &str,
        app: &str,
        files: &[(String, Vec<u8>)],
        activate: bool,
    ) -> Result<DeployReport, ServiceError> {
        let f = tempfile::NamedTempFile::new().expect("tmp");
        std::fs::write(f.path(), bundles::zip(files)).expect("write");
        let opts = DeployOptions { activate, message: None };
        async {
            self.p
                .deploy_archive(&self.p.app(&Actor::local_admin(), bot, app, Need::Deploy).await?, f.path(), opts)
                .await
        }
        .await
    }

    /// Deploys and activates, then refreshes the edge so the next request sees it (the
    /// notification path has its own test).
    pub async fn deploy(&self, files: &[(String, Vec<u8>)]) -> DeployReport {
        let report = self.deploy_to("demo_bot", "main", files, true).await.expect("deploy");
        self.edge.refresh().await.expect("refresh");
        report
    }

    pub async fn settings(&self, bot: &str, settings: AppSettings) {
        async {
            self.p
                .update_app_settings(&self.p.app(&Actor::local_admin(), bot, "main", Need::Manage).await?, settings)
                .await
        }
        .await
        .expect("settings");
        // The change notification reaches the edge's refresher task within moments; make it now.
        self.edge.refresh().await.expect("refresh");
    }

    pub async fn public(&self) {
        self.settings("demo_bot", AppSettings { access: Access::Public, ..AppSettings::default() }).await;
    }

    /// A session cookie for bot A's main app, made the way the gate page makes it.
    pub async fn session(&self, label: &str, init_data: &str) -> Reply {
        self.send(Method::POST, label, "/_tma/session", &[], Some(json!({ "init_data": init_data }))).await
    }

    /// The status of a session creation with fresh launch data signed by `token`, sent with
    /// `headers` (what a proxy in front of the edge forwards).
    pub async fn session_from(&self, label: &str, headers: &[(&str, &str)], token: &str) -> StatusCode {
        let body = json!({ "init_data": launch(token, 42, false, now()) });
        self.send(Method::POST, label, "/_tma/session", headers, Some(body)).await.status
    }
}

pub fn files(list: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
    list.iter().map(|(n, d)| ((*n).to_owned(), d.as_bytes().to_vec())).collect()
}

pub fn now() -> i64 {
    tmahost_service::now_ms() / 1000
}

/// Launch data for `user_id` signed with `token`, dated `auth_date`.
pub fn launch(token: &str, user_id: i64, premium: bool, auth_date: i64) -> String {
    let token = BotToken::parse(token).expect("token");
    let mut user = json!({ "id": user_id, "first_name": "Ann", "username": "ann" });
    if premium {
        user["is_premium"] = json!(true);
    }
    let user = user.to_string();
    tmahost_types::init_data::sign(
        &[("user", &user), ("chat_type", "private"), ("start_param", "promo")],
        &token,
        auth_date,
    )
}

pub fn cookie_of(r: &Reply) -> String {
    let set = r.header("set-cookie");
    set.split(';').next().expect("cookie pair").to_owned()
}
