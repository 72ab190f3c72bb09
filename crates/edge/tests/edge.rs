//! The edge as end users meet it: a real edge server on a random port over a temp data dir
//! (SQLite + local files), apps deployed through the service layer, requests with the
//! `Host` of each app.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use reqwest::header::{self, HeaderMap};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tmahost_edge::Edge;
use tmahost_service::model::{Access, AppSettings, BotStatus, Role};
use tmahost_service::{Actor, Config, DeployOptions, DeployReport, Need, Platform, Secret, ServiceError};
use tmahost_testkit::bundles;
use tmahost_testkit::platform::TestPlatform;
use tmahost_types::BotToken;

const TOKEN_A: &str = tmahost_testkit::TOKEN_A;
const TOKEN_B: &str = tmahost_testkit::TOKEN_B;

struct Env {
    p: Platform,
    edge: Edge,
    base: String,
    port: u16,
    http: reqwest::Client,
    handle: tmahost_edge::ServerHandle,
    _dir: tempfile::TempDir,
}

impl Drop for Env {
    fn drop(&mut self) {
        // Stop without waiting: the runtime of the test is going away.
        drop(self.handle.stop(false));
    }
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

async fn env_with(tweak: impl FnOnce(&mut Config)) -> Env {
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

async fn env() -> Env {
    env_with(|_| {}).await
}

impl Env {
    /// The platform's CSP: Telegram Web and the platform's own emulator (the API's origin) may
    /// frame apps.
    fn platform_csp(&self) -> String {
        format!("frame-ancestors 'self' https://web.telegram.org {}", self.p.config().api_origin())
    }

    fn host(&self, label: &str) -> String {
        format!("{label}.localhost:{}", self.port)
    }

    async fn send(
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

    async fn get(&self, label: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send(Method::GET, label, path, headers, None).await
    }

    async fn deploy_to(
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
    async fn deploy(&self, files: &[(String, Vec<u8>)]) -> DeployReport {
        let report = self.deploy_to("demo_bot", "main", files, true).await.expect("deploy");
        self.edge.refresh().await.expect("refresh");
        report
    }

    async fn settings(&self, bot: &str, settings: AppSettings) {
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

    async fn public(&self) {
        self.settings("demo_bot", AppSettings { access: Access::Public, ..AppSettings::default() }).await;
    }

    /// A session cookie for bot A's main app, made the way the gate page makes it.
    async fn session(&self, label: &str, init_data: &str) -> Reply {
        self.send(Method::POST, label, "/_tma/session", &[], Some(json!({ "init_data": init_data }))).await
    }

    /// The status of a session creation with fresh launch data signed by `token`, sent with
    /// `headers` (what a proxy in front of the edge forwards).
    async fn session_from(&self, label: &str, headers: &[(&str, &str)], token: &str) -> StatusCode {
        let body = json!({ "init_data": launch(token, 42, false, now()) });
        self.send(Method::POST, label, "/_tma/session", headers, Some(body)).await.status
    }
}

fn files(list: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
    list.iter().map(|(n, d)| ((*n).to_owned(), d.as_bytes().to_vec())).collect()
}

fn now() -> i64 {
    tmahost_service::now_ms() / 1000
}

/// Launch data for `user_id` signed with `token`, dated `auth_date`.
fn launch(token: &str, user_id: i64, premium: bool, auth_date: i64) -> String {
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

fn cookie_of(r: &Reply) -> String {
    let set = r.header("set-cookie");
    set.split(';').next().expect("cookie pair").to_owned()
}

#[tokio::test]
async fn unknown_hosts_get_a_404_that_names_nothing() {
    let e = env().await;
    e.public().await;
    e.deploy(&bundles::sample_app("v1")).await;
    let known = e.get("demo-bot", "/", &[]).await;
    assert_eq!(known.status, StatusCode::OK);
    // Every answer has a request id: a proxy's sane one is kept, anything else replaced.
    let (a, b) = (known.header("x-request-id"), e.get("demo-bot", "/", &[]).await.header("x-request-id").to_owned());
    assert!(!a.is_empty() && a != b, "fresh ids differ: {a} {b}");
    let kept = e.get("demo-bot", "/", &[("x-request-id", "proxy-42_a")]).await;
    assert_eq!(kept.header("x-request-id"), "proxy-42_a");
    let replaced = e.get("demo-bot", "/", &[("x-request-id", "no spaces <allowed>")]).await;
    assert_ne!(replaced.header("x-request-id"), "no spaces <allowed>");
    let mut bodies = Vec::new();
    for label in ["nobody-bot", "shop--demo-bot", "x.demo-bot", "0123456789ab--demo-bot"] {
        let r = e.get(label, "/", &[]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{label}");
        bodies.push(r.text());
    }
    let r = e.http.get(format!("{}/", e.base)).header(header::HOST, "example.com").send().await.expect("req");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    bodies.push(r.text().await.expect("text"));
    assert!(bodies.iter().all(|b| b == &bodies[0]), "every unknown host gets the same answer: {bodies:?}");
    assert!(!bodies[0].to_lowercase().contains("bot"), "{}", bodies[0]);

    // A TLS proxy's on-demand `ask`: yes only for names the edge serves.
    let ask = |domain: &str| e.http.get(format!("{}/_tma/tls-ask?domain={domain}", e.base)).send();
    assert_eq!(ask("demo-bot.localhost").await.expect("ask").status(), StatusCode::OK);
    for unknown in ["nobody-bot.localhost", "example.com", ""] {
        assert_eq!(ask(unknown).await.expect("ask").status(), StatusCode::NOT_FOUND, "{unknown}");
    }
}

#[tokio::test]
async fn paths_resolve_like_static_hosts_do() {
    let e = env().await;
    e.public().await;
    e.deploy(&files(&[
        ("index.html", "<h1>home</h1>"),
        ("about.html", "<h1>about</h1>"),
        ("docs/index.html", "<h1>docs</h1>"),
        ("404.html", "<h1>not here</h1>"),
        ("blog/404.html", "<h1>no such post</h1>"),
        ("robots.txt", "User-agent: *"),
    ]))
    .await;
    let cases = [
        ("/", 200, "<h1>home</h1>"),
        ("/index.html", 200, "<h1>home</h1>"),
        ("/about", 200, "<h1>about</h1>"),
        ("/about.html", 200, "<h1>about</h1>"),
        ("/docs/", 200, "<h1>docs</h1>"),
        ("/settings/profile", 200, "<h1>home</h1>"),
        ("/missing.js", 404, "<h1>not here</h1>"),
        ("/blog/2024/missing.png", 404, "<h1>no such post</h1>"),
    ];
    for (path, status, body) in cases {
        let r = e.get("demo-bot", path, &[]).await;
        assert_eq!((r.status.as_u16(), r.text().as_str()), (status, body), "{path}");
        assert_eq!(r.header("cache-control"), "public, no-cache", "{path}");
        assert_eq!(r.header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(r.header("content-security-policy"), e.platform_csp(), "{path}");
        assert!(r.headers.get("x-frame-options").is_none());
    }
    let r = e.get("demo-bot", "/docs", &[]).await;
    assert_eq!((r.status, r.header("location")), (StatusCode::MOVED_PERMANENTLY, "/docs/"));

    // Without SPA fallback, app routes get the nearest 404 page.
    e.settings("demo_bot", AppSettings { access: Access::Public, spa_fallback: false, ..AppSettings::default() }).await;
    let r = e.get("demo-bot", "/settings/profile", &[]).await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::NOT_FOUND, "<h1>not here</h1>"));
    let r = e.get("demo-bot", "/", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = e.send(Method::POST, "demo-bot", "/", &[], None).await;
    assert_eq!((r.status, r.header("allow")), (StatusCode::METHOD_NOT_ALLOWED, "GET, HEAD, OPTIONS"));
}

#[tokio::test]
async fn representations_validators_and_ranges() {
    let e = env().await;
    e.public().await;
    let app = bundles::sample_app("v1");
    let js = app.iter().find(|(p, _)| p.ends_with(".js")).expect("js").1.clone();
    e.deploy(&app).await;
    let path = "/assets/index-BXk3f9a1.js";
    let browser = [("accept-encoding", "gzip, deflate, br, zstd")];

    // The deploy is live with gzip before its brotli variants exist.
    let first = e.get("demo-bot", path, &browser).await;
    assert_eq!((first.status, first.header("content-encoding")), (StatusCode::OK, "gzip"));
    // Once the platform has made them (the worker's pass), the edge finds them by itself.
    assert_eq!(e.p.make_pending_brotli().await.expect("brotli"), 2);
    let deadline = Instant::now() + Duration::from_secs(10);
    let br = loop {
        let r = e.get("demo-bot", path, &browser).await;
        if r.header("content-encoding") != "gzip" {
            break r;
        }
        assert!(Instant::now() < deadline, "the edge still serves gzip after 10 s");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!((br.status, br.header("content-encoding")), (StatusCode::OK, "br"));
    assert!(br.body.len() < js.len() / 4, "brotli variant is served");
    assert_eq!(br.header("vary"), "Accept-Encoding");
    assert_eq!(br.header("cache-control"), "public, max-age=31536000, immutable");
    let gz = e.get("demo-bot", path, &[("accept-encoding", "gzip")]).await;
    assert_eq!(gz.header("content-encoding"), "gzip");
    let no_br = e.get("demo-bot", path, &[("accept-encoding", "br;q=0, gzip;q=0.5")]).await;
    assert_eq!(no_br.header("content-encoding"), "gzip");
    let plain = e.get("demo-bot", path, &[]).await;
    assert_eq!((plain.header("content-encoding"), plain.body.as_slice()), ("", js.as_slice()));
    assert_eq!(plain.header("vary"), "Accept-Encoding");
    let tags = [br.header("etag"), gz.header("etag"), plain.header("etag")];
    assert!(tags.iter().all(|t| t.starts_with('"') && t.ends_with('"')), "strong ETags: {tags:?}");
    assert!(tags[0] != tags[1] && tags[1] != tags[2], "one ETag per representation: {tags:?}");

    // Revalidation.
    let r = e.get("demo-bot", path, &[("if-none-match", plain.header("etag"))]).await;
    assert_eq!((r.status, r.body.len()), (StatusCode::NOT_MODIFIED, 0));
    assert_eq!(r.header("etag"), plain.header("etag"));
    assert_eq!((r.header("vary"), r.header("cache-control")), (plain.header("vary"), plain.header("cache-control")));
    assert_eq!((r.header("content-type"), r.header("accept-ranges")), ("", ""), "a 304 has no representation metadata");
    let r = e.get("demo-bot", path, &[("accept-encoding", "br"), ("if-none-match", br.header("etag"))]).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    let r = e.get("demo-bot", path, &[("if-none-match", "\"0000\"")]).await;
    assert_eq!(r.status, StatusCode::OK);

    // Ranges come from the original bytes, whatever the client accepts.
    let r = e.get("demo-bot", path, &[("range", "bytes=0-9"), ("accept-encoding", "br")]).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.body.as_slice(), &js[..10]);
    assert_eq!(r.header("content-range"), format!("bytes 0-9/{}", js.len()));
    assert_eq!(r.header("content-encoding"), "");
    let r = e.get("demo-bot", path, &[("range", "bytes=-5")]).await;
    assert_eq!(r.body.as_slice(), &js[js.len() - 5..]);
    let r = e.get("demo-bot", path, &[("range", &format!("bytes={}-", js.len() + 10))]).await;
    assert_eq!(
        (r.status, r.header("content-range")),
        (StatusCode::RANGE_NOT_SATISFIABLE, format!("bytes */{}", js.len()).as_str())
    );
    let r = e.get("demo-bot", path, &[("range", "bytes=0-9"), ("if-range", "\"stale\"")]).await;
    assert_eq!((r.status, r.body.len()), (StatusCode::OK, js.len()), "a stale If-Range gets the whole file");

    // HEAD: the same headers, no body.
    let r = e.send(Method::HEAD, "demo-bot", path, &[], None).await;
    assert_eq!((r.status, r.body.len()), (StatusCode::OK, 0));
    assert_eq!(r.header("content-length"), js.len().to_string());
    assert_eq!(r.header("etag"), plain.header("etag"));

    // HTML is revalidated every time; non-fingerprinted assets too.
    assert_eq!(e.get("demo-bot", "/", &[]).await.header("cache-control"), "public, no-cache");
    assert_eq!(e.get("demo-bot", "/favicon.ico", &[]).await.header("cache-control"), "public, no-cache");
}

#[tokio::test]
async fn headers_and_redirects_files_apply_and_are_checked_at_upload() {
    let e = env().await;
    e.public().await;
    let headers = "/*\n  X-Robots-Tag: noindex\n  ! X-Request-Id\n\n/embed/*\n  Content-Security-Policy: frame-ancestors *\n  ! Referrer-Policy\n  X-Request-Id: forged\n";
    let redirects = "/blog/:year/:slug /posts/:slug.html 302\n/app/* /app.html 200\n/index.html /moved 301!\n/go/* https://example.com/:splat\n";
    e.deploy(&files(&[
        ("index.html", "home"),
        ("app.html", "the app"),
        ("embed/widget.html", "widget"),
        ("_headers", headers),
        ("_redirects", redirects),
    ]))
    .await;
    let r = e.get("demo-bot", "/embed/widget.html", &[]).await;
    assert_eq!(r.header("content-security-policy"), "frame-ancestors *");
    assert_eq!(r.header("x-robots-tag"), "noindex");
    assert!(r.headers.get("referrer-policy").is_none());
    // The request id stays the edge's: `_headers` can neither replace nor remove it.
    let ids: Vec<_> = r.headers.get_all("x-request-id").iter().collect();
    assert!(ids.len() == 1 && ids[0] != "forged", "{ids:?}");
    let r = e.get("demo-bot", "/", &[]).await;
    assert_eq!(r.header("content-security-policy"), e.platform_csp());
    assert_eq!(r.header("x-robots-tag"), "noindex");
    assert_eq!(r.headers.get_all("x-request-id").iter().count(), 1);

    let r = e.get("demo-bot", "/blog/2024/hello?ref=tg", &[]).await;
    assert_eq!((r.status, r.header("location")), (StatusCode::FOUND, "/posts/hello.html?ref=tg"));
    let r = e.get("demo-bot", "/app/settings/x", &[]).await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "the app"));
    let r = e.get("demo-bot", "/index.html", &[]).await;
    assert_eq!((r.status, r.header("location")), (StatusCode::MOVED_PERMANENTLY, "/moved"), "forced rule");
    let r = e.get("demo-bot", "/go/a/b", &[]).await;
    assert_eq!(r.header("location"), "https://example.com/a/b");
    assert_eq!(e.get("demo-bot", "/_headers", &[]).await.text(), "home", "rule files are not served (SPA index)");

    // A line that cannot be used is left out and reported with its number; the rest deploys.
    for (name, text) in [("_redirects", "/a /b\n/c\n/d /e 418\n"), ("_headers", "/*\n  Content-Length: 1\n  X-A: 1\n")]
    {
        let report = e.deploy_to("demo_bot", "main", &files(&[("index.html", "x"), (name, text)]), true).await;
        let report = report.expect(name);
        let lines: Vec<&String> = report.warnings.iter().filter(|w| w.starts_with(name)).collect();
        match name {
            "_redirects" => assert!(
                lines.len() == 2 && lines[0].contains("line 2") && lines[1].contains("line 3"),
                "{:?}",
                report.warnings
            ),
            _ => assert!(lines.len() == 1 && lines[0].contains("line 2"), "{:?}", report.warnings),
        }
    }
    // What would be unsafe to leave out or apply is refused, with the line, and nothing is
    // deployed.
    let before = e.p.db_for_tests().count_deployments().await.expect("count");
    for (name, text, code) in [
        ("_redirects", "/a /b\n/admin/* 200! Role=admin\n", "invalid_redirects"),
        ("_headers", "/*\n  Basic-Auth: me:secret\n", "invalid_headers"),
    ] {
        let err =
            e.deploy_to("demo_bot", "main", &files(&[("index.html", "x"), (name, text)]), true).await.expect_err(name);
        assert_eq!(err.code(), code);
        assert_eq!(err.status(), 422);
        assert!(err.to_string().contains("line 2"), "{err}");
    }
    assert_eq!(e.p.db_for_tests().count_deployments().await.expect("count"), before);
}

/// The two `Location`s issue 21's new user got wrong: the request's query went after the
/// destination's fragment, and an empty or slash-led splat made a scheme-relative URL.
#[tokio::test]
async fn redirect_locations_keep_the_query_before_the_fragment_and_stay_on_site() {
    let e = env().await;
    e.public().await;
    let redirects = "/bar https://foobar.com/#heading 301\n/foo/* /:splat 302\n/own /b?x=1#f 302\n";
    e.deploy(&files(&[("index.html", "home"), ("_redirects", redirects)])).await;
    let r = e.get("demo-bot", "/bar?test=abc", &[]).await;
    assert_eq!(
        (r.status, r.header("location")),
        (StatusCode::MOVED_PERMANENTLY, "https://foobar.com/?test=abc#heading")
    );
    let r = e.get("demo-bot", "/own?y=2", &[]).await;
    assert_eq!(r.header("location"), "/b?x=1#f", "a destination's own query replaces the request's");
    for path in ["/foo//google.com", "/foo/%2F%2Fgoogle.com", "/foo/%2F%5Cgoogle.com", "/foo/\\google.com"] {
        let r = e.get("demo-bot", path, &[]).await;
        let location = r.header("location");
        assert_eq!(r.status, StatusCode::FOUND, "{path}");
        assert!(
            location.starts_with('/') && !location.starts_with("//") && !location.starts_with("/\\"),
            "{path}: {location}"
        );
        assert!(location.ends_with("google.com"), "{path}: {location}");
    }
    let r = e.get("demo-bot", "/foo/", &[]).await;
    assert_eq!(r.header("location"), "/", "an empty splat");
}

#[tokio::test]
async fn old_assets_survive_deploys_and_activation_is_visible_within_a_second() {
    let e = env().await;
    e.public().await;
    let version = |v: u32| {
        files(&[
            ("index.html", &format!("<script src=\"/assets/app-{v}AbCdEf.js\"></script>v{v}")),
            (&format!("assets/app-{v}AbCdEf.js"), &format!("console.log({v})")),
            (&format!("page-{v}.html"), "old page"),
            (&format!("data-{v}.json"), "{}"),
        ])
    };
    e.deploy(&version(1)).await;
    for v in 2..=4 {
        e.deploy_to("demo_bot", "main", &version(v), true).await.expect("deploy");
        // No explicit refresh: the in-process notification must get there within a second.
        let start = Instant::now();
        loop {
            let r = e.get("demo-bot", "/", &[]).await;
            if r.text().ends_with(&format!("v{v}")) {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(1), "activation of v{v} not visible after 1 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // v4 is active; v1..v3 are the 3 previous deployments.
    let r = e.get("demo-bot", "/assets/app-1AbCdEf.js", &[]).await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "console.log(1)"), "served from v1");
    assert_eq!(e.get("demo-bot", "/data-2.json", &[]).await.status, StatusCode::OK, "any non-HTML asset");
    let r = e.get("demo-bot", "/page-1.html", &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "old pages do not come back");

    e.deploy(&version(5)).await;
    e.edge.refresh().await.expect("refresh");
    assert_eq!(
        e.get("demo-bot", "/assets/app-1AbCdEf.js", &[]).await.status,
        StatusCode::NOT_FOUND,
        "v1 is now 4 back"
    );
    assert_eq!(e.get("demo-bot", "/assets/app-2AbCdEf.js", &[]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn preview_hosts_serve_one_deployment() {
    let e = env().await;
    e.public().await;
    let live = e.deploy(&files(&[("index.html", "live")])).await;
    let staged = e.deploy_to("demo_bot", "main", &files(&[("index.html", "staged")]), false).await.expect("staged");
    let short = |r: &DeployReport| r.deployment.id.rsplit('-').next().expect("short").to_owned();
    assert_eq!(e.get("demo-bot", "/", &[]).await.text(), "live");
    assert_eq!(e.get(&format!("{}--main--demo-bot", short(&staged)), "/", &[]).await.text(), "staged");
    assert_eq!(e.get(&format!("{}--main--demo-bot", short(&live)), "/", &[]).await.text(), "live");
    assert_eq!(e.get("0123456789ab--main--demo-bot", "/", &[]).await.status, StatusCode::NOT_FOUND);
    // Another bot's deployment is not reachable through this bot's host.
    let other = e.deploy_to("other_bot", "main", &files(&[("index.html", "other")]), true).await.expect("other");
    e.edge.refresh().await.expect("refresh");
    assert_eq!(e.get(&format!("{}--main--demo-bot", short(&other)), "/", &[]).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sessions_open_only_with_valid_launch_data() {
    let e = env().await;
    e.deploy(&bundles::sample_app("v1")).await;
    e.deploy_to("other_bot", "main", &bundles::sample_app("b"), true).await.expect("deploy b");
    e.edge.refresh().await.expect("refresh");
    let html = [("accept", "text/html,application/xhtml+xml")];

    // No session: navigations get the gate, everything else a JSON 401.
    let gate = e.get("demo-bot", "/", &html).await;
    assert_eq!((gate.status, gate.header("cache-control")), (StatusCode::UNAUTHORIZED, "no-store"));
    assert!(gate.text().contains("/_tma/session") && gate.text().contains("tgWebAppData"));
    assert!(!gate.text().contains("src=\"http"), "the gate makes no external requests");
    let r = e.get("demo-bot", "/assets/index-BXk3f9a1.js", &[]).await;
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("session_required")));

    // Valid launch data -> cookie with every attribute the iframe case needs.
    let ok = e.session("demo-bot", &launch(TOKEN_A, 42, false, now() - 10)).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    let set = ok.header("set-cookie").to_owned();
    for attr in ["__Host-tma_session=", "Path=/", "Secure", "HttpOnly", "SameSite=None", "Partitioned", "Max-Age=86400"]
    {
        assert!(set.contains(attr), "{attr} missing from {set}");
    }
    assert_eq!(ok.json()["user"]["id"], 42);
    let cookie = cookie_of(&ok);
    let r = e.get("demo-bot", "/", &[("cookie", &cookie), html[0]]).await;
    assert_eq!((r.status, r.header("cache-control")), (StatusCode::OK, "private, no-cache"));
    let r = e.get("demo-bot", "/assets/index-BXk3f9a1.js", &[("cookie", &cookie)]).await;
    assert_eq!(r.header("cache-control"), "private, max-age=31536000, immutable");
    let me = e.get("demo-bot", "/_tma/me", &[("cookie", &cookie)]).await.json();
    assert_eq!((me["user"]["id"].as_i64(), me["user"]["first_name"].as_str()), (Some(42), Some("Ann")));
    assert_eq!(
        (me["chat_type"].as_str(), me["start_param"].as_str(), me["via"].as_str()),
        (Some("private"), Some("promo"), Some("cookie"))
    );

    // The cookie is found among the app's own cookies, and only as a whole cookie-pair.
    let among = format!("theme=dark; x{cookie}; {cookie}; lang=en");
    assert_eq!(e.get("demo-bot", "/_tma/me", &[("cookie", &among)]).await.status, StatusCode::OK);
    let value = cookie.split_once('=').expect("pair").1;
    let r = e.get("demo-bot", "/_tma/me", &[("cookie", &format!("x__Host-tma_session={value}"))]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // Launch data bodies are small: an oversized one is refused in the edge's error shape.
    let big = launch(TOKEN_A, 42, false, now()) + &"&x=".repeat(12_000);
    let r = e.session("demo-bot", &big).await;
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
    );

    // The cookie is worthless on another bot's host.
    let r = e.get("other-bot", "/", &[("cookie", &cookie), html[0]]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(e.get("other-bot", "/_tma/me", &[("cookie", &cookie)]).await.status, StatusCode::UNAUTHORIZED);

    // Refusals, each with its own code.
    let mut tampered = launch(TOKEN_A, 42, false, now());
    tampered = tampered.replacen("42", "43", 1);
    let refusals = [
        (tampered, "init_data_bad_signature"),
        (launch(TOKEN_B, 42, false, now()), "init_data_bad_signature"),
        (launch(TOKEN_A, 42, false, now() - 7200), "init_data_expired"),
        (launch(TOKEN_A, 42, false, now() + 3600), "init_data_from_the_future"),
        ("auth_date=1&auth_date=2&hash=00".to_owned(), "init_data_malformed"),
        (format!("auth_date={}", now()), "init_data_bad_signature"),
    ];
    for (data, code) in refusals {
        let r = e.session("demo-bot", &data).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{code}");
        assert_eq!(r.json()["error"]["code"], code, "{}", r.text());
        assert!(!r.json()["error"]["message"].as_str().unwrap_or_default().is_empty());
        assert!(r.headers.get("set-cookie").is_none());
    }
    let r = e
        .http
        .post(format!("{}/_tma/session", e.base))
        .header(header::HOST, e.host("demo-bot"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("init_data={}", launch(TOKEN_A, 42, false, now())))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "form posts (cross-site) are refused");

    // `Authorization: tma` instead of a cookie.
    let auth = format!("tma {}", launch(TOKEN_A, 7, false, now()));
    let r = e.get("demo-bot", "/assets/index-BXk3f9a1.js", &[("authorization", &auth)]).await;
    assert_eq!(r.status, StatusCode::OK);
    let me = e.get("demo-bot", "/_tma/me", &[("authorization", &auth)]).await.json();
    assert_eq!((me["user"]["id"].as_i64(), me["via"].as_str()), (Some(7), Some("authorization")));
    let bad = format!("tma {}", launch(TOKEN_B, 7, false, now()));
    let r = e.get("demo-bot", "/assets/index-BXk3f9a1.js", &[("authorization", &bad)]).await;
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("init_data_bad_signature"))
    );

    // Logout expires the cookie.
    let r = e.send(Method::POST, "demo-bot", "/_tma/logout", &[("cookie", &cookie)], None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.header("set-cookie").starts_with("__Host-tma_session=;") && r.header("set-cookie").contains("Max-Age=0"));
}

#[tokio::test]
async fn access_rules_allow_lists_and_premium() {
    let e = env().await;
    e.deploy(&bundles::sample_app("v1")).await;
    e.settings("demo_bot", AppSettings { allowed_user_ids: Some(vec![42]), ..AppSettings::default() }).await;
    assert_eq!(e.session("demo-bot", &launch(TOKEN_A, 42, false, now())).await.status, StatusCode::OK);
    let r = e.session("demo-bot", &launch(TOKEN_A, 43, false, now())).await;
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("user_not_allowed")));
    let auth = format!("tma {}", launch(TOKEN_A, 43, false, now()));
    assert_eq!(e.get("demo-bot", "/", &[("authorization", &auth)]).await.status, StatusCode::FORBIDDEN);

    e.settings("demo_bot", AppSettings { premium_only: true, ..AppSettings::default() }).await;
    let r = e.session("demo-bot", &launch(TOKEN_A, 43, false, now())).await;
    assert_eq!(r.json()["error"]["code"], "premium_required");
    assert_eq!(e.session("demo-bot", &launch(TOKEN_A, 43, true, now())).await.status, StatusCode::OK);

    // A stricter max age for creating sessions.
    e.settings("demo_bot", AppSettings { max_init_data_age_secs: 60, ..AppSettings::default() }).await;
    let r = e.session("demo-bot", &launch(TOKEN_A, 42, false, now() - 120)).await;
    assert_eq!(r.json()["error"]["code"], "init_data_expired");
}

#[tokio::test]
async fn launch_data_from_the_control_bot_opens_no_app() {
    // The control bot's buttons put its signed launch data in the tenant app's URL, where the
    // app's JavaScript reads it: accepted anywhere, it would open every app its user is staff
    // of (admins: all of them).
    const CONTROL: &str = tmahost_testkit::CONTROL_TOKEN;
    let e = env_with(|c| {
        c.telegram.control_bot_token = Some(Secret::new(CONTROL));
        c.telegram.admin_ids = vec![1001];
    })
    .await;
    e.deploy(&bundles::sample_app("v1")).await;
    async {
        e.p.grant_member(&e.p.bot(&Actor::local_admin(), "demo_bot", Need::Manage).await?, 4242, Role::Developer).await
    }
    .await
    .expect("grant");
    e.edge.refresh().await.expect("refresh");
    for user in [1001, 4242, 7] {
        let data = launch(CONTROL, user, false, now());
        for label in ["demo-bot", "other-bot"] {
            let r = e.session(label, &data).await;
            assert_eq!(
                (r.status, r.json()["error"]["code"].as_str()),
                (StatusCode::UNAUTHORIZED, Some("init_data_bad_signature"))
            );
            let auth = format!("tma {data}");
            assert_eq!(e.get(label, "/", &[("authorization", &auth)]).await.status, StatusCode::UNAUTHORIZED);
        }
    }
}

/// Splits a staff link into (host label, path and query).
fn staff_target(url: &str) -> (String, String) {
    let rest = url.split_once("://").expect("scheme").1;
    let (host, path) = rest.split_once('/').expect("path");
    (host.split_once(".localhost").expect("localhost host").0.to_owned(), format!("/{path}"))
}

#[tokio::test]
async fn a_staff_code_opens_one_deployment_once_for_its_recipient_while_staff() {
    let e = env().await;
    let admin = Actor::local_admin();
    e.deploy(&bundles::sample_app("v1")).await;
    let cursor = e.p.notice_cursor().await.expect("cursor");
    let staged = e.deploy_to("demo_bot", "main", &bundles::sample_app("v2"), false).await.expect("stage");
    async { e.p.grant_member(&e.p.bot(&admin, "demo_bot", Need::Manage).await?, 4242, Role::Developer).await }
        .await
        .expect("grant");
    async { e.p.grant_member(&e.p.bot(&admin, "other_bot", Need::Manage).await?, 5151, Role::Owner).await }
        .await
        .expect("grant");
    // An allow-list that names none of the staff: it binds users, not the team.
    e.settings("demo_bot", AppSettings { allowed_user_ids: Some(vec![42]), ..AppSettings::default() }).await;
    let notices = e.p.deploy_notices_after(cursor, 10).await.expect("notices");
    let notice = notices.iter().find(|n| n.deployment.id == staged.deployment.id).expect("staged notice");
    let link = e.p.staff_link(notice, 4242).await.expect("link");
    let (preview, path) = staff_target(&link);
    assert!(preview.ends_with("--main--demo-bot") && path.starts_with("/_tma/staff?code="), "{link}");

    // A code is refused (and not used up) on every other app and host: another bot, the app's
    // own host (which serves v1), a made-up preview.
    for label in ["other-bot", "demo-bot", "000000000000--main--demo-bot"] {
        let r = e.get(label, &path, &[]).await;
        let refusal = (r.status, r.json()["error"]["code"].as_str().map(str::to_owned));
        assert_eq!(refusal, (StatusCode::FORBIDDEN, Some("staff_code_refused".to_owned())), "{label}");
    }
    let r = e.get(&preview, &path, &[]).await;
    assert_eq!((r.status, r.header("location")), (StatusCode::SEE_OTHER, "/"));
    let cookie = cookie_of(&r);
    let page = e.get(&preview, "/", &[("cookie", &cookie)]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("v2"), "the staged version: {}", page.text());
    assert_eq!(e.get("other-bot", "/", &[("cookie", &cookie)]).await.status, StatusCode::UNAUTHORIZED);
    // Used once: the same code again is refused, as is a forged one.
    assert_eq!(e.get(&preview, &path, &[]).await.status, StatusCode::FORBIDDEN);
    let forged = "/_tma/staff?code=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    assert_eq!(e.get(&preview, forged, &[]).await.status, StatusCode::FORBIDDEN);
    // A code for someone who is not staff of this bot opens nothing.
    let outsider = e.p.staff_link(notice, 5151).await.expect("link");
    assert_eq!(e.get(&preview, &staff_target(&outsider).1, &[]).await.status, StatusCode::FORBIDDEN);

    // The session lives as long as its holder is staff.
    async { e.p.revoke_member(&e.p.bot(&admin, "demo_bot", Need::Manage).await?, 4242).await }.await.expect("revoke");
    e.edge.refresh().await.expect("refresh");
    assert_eq!(e.get(&preview, "/", &[("cookie", &cookie)]).await.status, StatusCode::UNAUTHORIZED);
}

async fn reads_asset(e: &Env, cookie: &str) -> StatusCode {
    e.get("demo-bot", "/assets/index-BXk3f9a1.js", &[("cookie", cookie)]).await.status
}

#[tokio::test]
async fn live_sessions_follow_access_changes_and_logout() {
    let e = env().await;
    e.deploy(&bundles::sample_app("v1")).await;
    let cookie = cookie_of(&e.session("demo-bot", &launch(TOKEN_A, 42, false, now())).await);
    assert_eq!(reads_asset(&e, &cookie).await, StatusCode::OK);
    let rules = [
        AppSettings { allowed_user_ids: Some(vec![43]), ..AppSettings::default() },
        AppSettings { premium_only: true, ..AppSettings::default() },
    ];
    for rule in rules {
        e.settings("demo_bot", rule.clone()).await;
        assert_eq!(reads_asset(&e, &cookie).await, StatusCode::UNAUTHORIZED, "{rule:?}");
        e.settings("demo_bot", AppSettings::default()).await;
        assert_eq!(reads_asset(&e, &cookie).await, StatusCode::OK);
    }
    async {
        e.p.set_bot_status(&e.p.bot(&Actor::local_admin(), "demo_bot", Need::See).await?, BotStatus::Disabled).await
    }
    .await
    .expect("disable");
    e.edge.refresh().await.expect("refresh");
    assert_eq!(reads_asset(&e, &cookie).await, StatusCode::FORBIDDEN);
    async {
        e.p.set_bot_status(&e.p.bot(&Actor::local_admin(), "demo_bot", Need::See).await?, BotStatus::Active).await
    }
    .await
    .expect("enable");
    e.edge.refresh().await.expect("refresh");

    // Logging out ends the session itself, not just this browser's copy, on every edge.
    let other_edge = Edge::start(e.p.clone()).await.expect("second edge");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let other = format!("http://{}/assets/index-BXk3f9a1.js", listener.local_addr().expect("addr"));
    let server = other_edge.clone().server(listener).expect("server");
    let other_handle = server.handle();
    tokio::spawn(server);
    let on_other = |cookie: &str| e.http.get(&other).header("host", e.host("demo-bot")).header("cookie", cookie).send();
    assert_eq!(on_other(&cookie).await.expect("other edge").status(), StatusCode::OK);
    let r = e.send(Method::POST, "demo-bot", "/_tma/logout", &[("cookie", &cookie)], None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.header("set-cookie").contains("Max-Age=0"));
    assert_eq!(reads_asset(&e, &cookie).await, StatusCode::UNAUTHORIZED);
    assert_eq!(e.get("demo-bot", "/_tma/me", &[("cookie", &cookie)]).await.status, StatusCode::UNAUTHORIZED);
    other_edge.refresh().await.expect("refresh");
    assert_eq!(on_other(&cookie).await.expect("other edge").status(), StatusCode::UNAUTHORIZED);
    drop(other_handle.stop(false));
    // A new session for the same user works again.
    let fresh = cookie_of(&e.session("demo-bot", &launch(TOKEN_A, 42, false, now())).await);
    assert_eq!(reads_asset(&e, &fresh).await, StatusCode::OK);
}

#[tokio::test]
async fn traffic_is_counted_per_app_and_day_for_the_dashboard() {
    let e = env().await;
    e.deploy(&bundles::sample_app("v1")).await;
    for _ in 0..3 {
        e.get("demo-bot", "/favicon.ico", &[]).await;
    }
    for user in [42, 42, 43] {
        assert_eq!(e.session("demo-bot", &launch(TOKEN_A, user, false, now())).await.status, StatusCode::OK);
    }
    e.session("demo-bot", "hash=00&auth_date=1").await; // refused: a request, not a session
    e.get("other-bot", "/", &[]).await;
    e.edge.flush_stats().await.expect("flush");
    let admin = Actor::local_admin();
    let days = async { e.p.app_analytics(&e.p.app(&admin, "demo_bot", "main", Need::See).await?, 7).await }
        .await
        .expect("analytics");
    assert_eq!(days.len(), 7, "one entry per day, zeros included");
    let today = days.last().expect("today");
    assert_eq!((today.requests, today.sessions, today.users), (7, 3, 2));
    assert!(days[..6].iter().all(|d| d.requests == 0));
    // Counts add up across flushes and table rebuilds.
    e.edge.refresh().await.expect("refresh");
    e.get("demo-bot", "/favicon.ico", &[]).await;
    e.edge.flush_stats().await.expect("flush");
    let today = *async { e.p.app_analytics(&e.p.app(&admin, "demo_bot", "main", Need::See).await?, 1).await }
        .await
        .expect("analytics")
        .last()
        .expect("today");
    assert_eq!((today.requests, today.users), (8, 2));
    let other = async { e.p.app_analytics(&e.p.app(&admin, "other_bot", "main", Need::See).await?, 1).await }
        .await
        .expect("other");
    assert_eq!(other[0].requests, 1, "each app its own counters");
}

#[tokio::test]
async fn session_creation_is_rate_limited_per_address_and_app() {
    let e = env_with(|c| c.edge.session_rate_per_minute = 5).await;
    e.deploy(&bundles::sample_app("v1")).await;
    e.deploy_to("other_bot", "main", &bundles::sample_app("b"), true).await.expect("deploy b");
    e.edge.refresh().await.expect("refresh");
    for _ in 0..5 {
        assert_eq!(e.session("demo-bot", "hash=00&auth_date=1").await.status, StatusCode::UNAUTHORIZED);
    }
    let r = e.session("demo-bot", &launch(TOKEN_A, 42, false, now())).await;
    assert_eq!((r.status, r.header("retry-after")), (StatusCode::TOO_MANY_REQUESTS, "60"));
    assert_eq!(r.json()["error"]["code"], "rate_limited");
    // Hammering one app does not lock the same address out of another app.
    assert_eq!(e.session("other-bot", &launch(TOKEN_B, 42, false, now())).await.status, StatusCode::OK);
    // The peer (127.0.0.1) is no trusted proxy: what it claims to forward changes nothing.
    let spoofed = e.session_from("demo-bot", &[("x-forwarded-for", "198.51.100.77")], TOKEN_A).await;
    assert_eq!(spoofed, StatusCode::TOO_MANY_REQUESTS, "X-Forwarded-For from an untrusted peer is ignored");
    let spoofed = e.session_from("demo-bot", &[("forwarded", "for=198.51.100.78")], TOKEN_A).await;
    assert_eq!(spoofed, StatusCode::TOO_MANY_REQUESTS, "Forwarded from an untrusted peer is ignored");
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_bucket() {
    let e = env_with(|c| {
        c.edge.session_rate_per_minute = 3;
        c.server.trusted_proxies = vec!["127.0.0.0/8".parse().expect("cidr")];
    })
    .await;
    e.deploy(&bundles::sample_app("v1")).await;
    // One abusive client behind the proxy uses up its own bucket...
    let abuser = [("x-forwarded-for", "198.51.100.1")];
    for _ in 0..3 {
        assert_eq!(e.session_from("demo-bot", &abuser, TOKEN_A).await, StatusCode::OK);
    }
    assert_eq!(e.session_from("demo-bot", &abuser, TOKEN_A).await, StatusCode::TOO_MANY_REQUESTS);
    // ...and cannot escape it by writing other addresses to the left of the one the proxy
    // appended (the proxy adds the real peer on the right).
    let spoof = [("x-forwarded-for", "203.0.113.5, 198.51.100.1")];
    assert_eq!(e.session_from("demo-bot", &spoof, TOKEN_A).await, StatusCode::TOO_MANY_REQUESTS);
    let spoof = [("x-forwarded-for", "203.0.113.5"), ("x-forwarded-for", "198.51.100.1")];
    assert_eq!(e.session_from("demo-bot", &spoof, TOKEN_A).await, StatusCode::TOO_MANY_REQUESTS);
    // Everyone else behind the same proxy still signs in: IPv4 clients, RFC 7239 `Forwarded`.
    for others in [
        [("x-forwarded-for", "198.51.100.2")],
        [("x-forwarded-for", "198.51.100.1, 198.51.100.3")],
        [("forwarded", "for=\"[2001:db8:5::1]:4711\";proto=https")],
    ] {
        assert_eq!(e.session_from("demo-bot", &others, TOKEN_A).await, StatusCode::OK, "{others:?}");
    }
    // IPv6 clients are counted per /64: new interface ids inside it buy nothing.
    for host in ["2001:db8:5::2", "2001:db8:5::3"] {
        let v6 = [("x-forwarded-for", host)];
        assert_eq!(e.session_from("demo-bot", &v6, TOKEN_A).await, StatusCode::OK, "{host}");
    }
    let same_64 = [("x-forwarded-for", "2001:db8:5::ffff:4")];
    assert_eq!(e.session_from("demo-bot", &same_64, TOKEN_A).await, StatusCode::TOO_MANY_REQUESTS);
    let next_64 = [("x-forwarded-for", "2001:db8:5:1::1")];
    assert_eq!(e.session_from("demo-bot", &next_64, TOKEN_A).await, StatusCode::OK);
}

#[tokio::test]
async fn public_paths_skip_the_gate_and_the_manifest_allows_any_origin() {
    let e = env().await;
    let mut app = bundles::sample_app("v1");
    app.extend(files(&[
        ("tonconnect-manifest.json", r#"{"url":"https://demo","name":"Demo"}"#),
        (".well-known/assetlinks.json", "[]"),
        ("robots.txt", "User-agent: *"),
    ]));
    e.deploy(&app).await;
    let r = e.get("demo-bot", "/tonconnect-manifest.json", &[("origin", "https://wallet.example")]).await;
    assert_eq!((r.status, r.header("access-control-allow-origin")), (StatusCode::OK, "*"));
    assert_eq!(r.json()["name"], "Demo");
    assert_eq!(r.header("cache-control"), "public, no-cache", "public paths are cacheable by anyone");
    let r = e
        .send(
            Method::OPTIONS,
            "demo-bot",
            "/tonconnect-manifest.json",
            &[("origin", "https://wallet.example"), ("access-control-request-method", "GET")],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.header("access-control-allow-origin"), "*");
    assert!(r.header("access-control-allow-methods").contains("GET"));
    for path in ["/.well-known/assetlinks.json", "/robots.txt", "/favicon.ico"] {
        assert_eq!(e.get("demo-bot", path, &[]).await.status, StatusCode::OK, "{path}");
    }
    assert_eq!(e.get("demo-bot", "/index.html", &[]).await.status, StatusCode::UNAUTHORIZED, "the rest stays gated");
    assert!(e.get("demo-bot", "/index.html", &[]).await.headers.get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_disabled_bot_shows_an_unavailable_page() {
    let e = env().await;
    e.public().await;
    e.deploy(&bundles::sample_app("v1")).await;
    async {
        e.p.set_bot_status(&e.p.bot(&Actor::local_admin(), "demo_bot", Need::See).await?, BotStatus::Disabled).await
    }
    .await
    .expect("disable");
    e.edge.refresh().await.expect("refresh");
    let r = e.get("demo-bot", "/", &[]).await;
    assert_eq!((r.status, r.header("cache-control")), (StatusCode::FORBIDDEN, "no-store"));
    assert!(r.text().contains("unavailable"));
    assert_eq!(e.session("demo-bot", &launch(TOKEN_A, 1, false, now())).await.status, StatusCode::FORBIDDEN);
    async {
        e.p.set_bot_status(&e.p.bot(&Actor::local_admin(), "demo_bot", Need::See).await?, BotStatus::Active).await
    }
    .await
    .expect("enable");
    e.edge.refresh().await.expect("refresh");
    assert_eq!(e.get("demo-bot", "/", &[]).await.status, StatusCode::OK);
}

/// The connection layer (hyper, on the edge's own worker threads): a client that stalls in the
/// middle of a request head is cut off, and a graceful stop refuses new connections while a
/// request in flight finishes.
#[tokio::test]
async fn stalled_heads_are_cut_off_and_a_graceful_stop_finishes_requests_in_flight() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let e = env().await;
    e.deploy(&bundles::sample_app("v1")).await;

    let mut stalled = tokio::net::TcpStream::connect(("127.0.0.1", e.port)).await.expect("connect");
    stalled.write_all(b"GET / HTTP/1.1\r\nHost: demo-bot.localhost\r\nX-Slow: ").await.expect("write");
    let mut got = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(60), stalled.read_to_end(&mut got)).await;
    assert!(closed.is_ok(), "a stalled request head keeps its connection");
    assert!(got.is_empty() || got.starts_with(b"HTTP/1.1 408"), "{}", String::from_utf8_lossy(&got));

    // A second listener of the same edge, stopped while a request is in flight: the handler
    // is reading its body (the `100 Continue` says so) when the stop comes.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = e.edge.clone().server(listener).expect("server");
    let handle = server.handle();
    let stopped = tokio::spawn(server);
    let body = json!({ "init_data": launch(TOKEN_A, 42, false, now()) }).to_string();
    let mut inflight = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /_tma/session HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Expect: 100-continue\r\n\r\n",
        e.host("demo-bot"),
        body.len()
    );
    inflight.write_all(head.as_bytes()).await.expect("head");
    let mut interim = [0u8; 25];
    inflight.read_exact(&mut interim).await.expect("100 Continue");
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");

    handle.stop(true).await;
    // New connections are refused once every worker has let go of the listener.
    let refused = async {
        while tokio::net::TcpStream::connect(addr).await.is_ok() {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), refused).await.expect("the stopped edge still accepts");

    inflight.write_all(body.as_bytes()).await.expect("body");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), inflight.read_to_end(&mut answer))
        .await
        .expect("the answer")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 200 ok\r\n"), "{answer}");
    assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");
    assert!(answer.contains("set-cookie: __host-tma_session="), "{answer}");
    tokio::time::timeout(Duration::from_secs(30), stopped)
        .await
        .expect("the server ends after its last request")
        .expect("task")
        .expect("server");
}

/// A body the edge refuses before reading it (over the session endpoint's limit) is answered
/// while the client is still sending: the client can send all of it and then read the 413,
/// because the edge reads and drops the rest before it closes (a close with unread bytes would
/// reset the connection, failing the client's writes and dropping the answer).
#[tokio::test]
async fn a_client_answered_before_its_body_was_read_can_finish_sending_and_read_the_answer() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let e = env().await;
    e.deploy(&bundles::sample_app("v1")).await;

    // Far more than the socket buffers of both ends hold, so the edge must read it.
    const BODY: usize = 64 * 1024 * 1024;
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", e.port)).await.expect("connect");
    let (mut from_edge, mut to_edge) = stream.into_split();
    let head = format!(
        "POST /_tma/session HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {BODY}\r\n\r\n",
        e.host("demo-bot")
    );
    let sending = tokio::spawn(async move {
        to_edge.write_all(head.as_bytes()).await?;
        let chunk = vec![b' '; 1024 * 1024];
        for _ in 0..BODY / chunk.len() {
            to_edge.write_all(&chunk).await?;
        }
        to_edge.shutdown().await
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), from_edge.read_to_end(&mut answer)).await;
    let sent = tokio::time::timeout(Duration::from_secs(60), sending).await;
    assert!(matches!(sent, Ok(Ok(Ok(())))), "the client could not send its whole body: {sent:?}");
    assert!(matches!(read, Ok(Ok(_))), "the answer was not read to its end: {read:?}");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
}
