//! In a real browser: headless Chromium (driven through chromedriver) opens a dev link to a
//! gated Mini App that loads the real Telegram SDK (`@twa-dev/sdk`, installed from npm at
//! test time). The gate must trade the launch parameters for a session and reload with the
//! fragment intact, so the SDK still sees the user and the app's `/_tma/me` call succeeds.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};
use serde_json::{Value, json};
use tmahost_testkit::app::TestApp;
use tmahost_testkit::fake_telegram::FakeTelegram;
use tmahost_testkit::{bundles, unavailable};

const TOKEN: &str = tmahost_testkit::TOKEN_A;
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Sample Mini App</title>
<script src="/telegram-web-apps.js"></script></head>
<body>
<h1 id="name">loading</h1>
<pre id="me">loading</pre>
<script src="/app.js"></script>
</body></html>
"#;

const APP_JS: &str = r#"
var WebApp = window.Telegram.WebApp;
WebApp.ready();
var user = WebApp.initDataUnsafe && WebApp.initDataUnsafe.user;
document.getElementById("name").textContent = user ? user.first_name : "no user";
fetch("/_tma/me", { credentials: "same-origin" })
  .then(function (r) { return r.text(); })
  .then(function (t) { document.getElementById("me").textContent = t; });
"#;

/// `node_modules/@twa-dev/sdk/dist/telegram-web-apps.js`, installed into a temp dir by npm.
fn install_sdk(dir: &Path) -> Option<PathBuf> {
    let out = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--loglevel=error", "@twa-dev/sdk"])
        .current_dir(dir)
        .output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => return unavailable("npm install @twa-dev/sdk", &String::from_utf8_lossy(&o.stderr)),
        Err(e) => return unavailable("npm", &e.to_string()),
    }
    let sdk = dir.join("node_modules/@twa-dev/sdk/dist/telegram-web-apps.js");
    if sdk.exists() { Some(sdk) } else { unavailable("@twa-dev/sdk", "the package has no dist/telegram-web-apps.js") }
}

struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_chromedriver() -> Option<Driver> {
    for bin in [CHROMIUM, CHROMEDRIVER] {
        if !Path::new(bin).exists() {
            return unavailable("Chromium", &format!("{bin} is missing (Debian packages chromium, chromium-driver)"));
        }
    }
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn chromedriver");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(Driver { child, url })
}

/// A headless Chromium session with its own profile directory.
async fn browser(driver: &Driver, profile: &Path) -> fantoccini::Client {
    let caps = json!({
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ]
        }
    });
    let caps = caps.as_object().expect("object").clone().into_iter().collect();
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("webdriver session")
}

async fn upload(t: &TestApp, admin: &str, files: &[(String, Vec<u8>)]) -> Value {
    let (status, body) = t.deploy(admin, "demo_bot", "main", "", bundles::zip(files)).await;
    assert!(status.is_success(), "upload: {status} {body}");
    body
}

#[tokio::test]
async fn the_gate_keeps_the_fragment_for_the_telegram_sdk() {
    let npm_dir = tempfile::tempdir().expect("tempdir");
    let Some(sdk) = install_sdk(npm_dir.path()) else { return };
    let Some(driver) = start_chromedriver() else { return };

    let fake = FakeTelegram::start().await;
    fake.add_bot(TOKEN, "Demo_Bot");
    let t = TestApp::start(&[("TMAHOST_TELEGRAM_API_URL", fake.url.as_str())]);
    let admin = t.admin().to_owned();
    t.register(TOKEN, None).await;
    let files = vec![
        ("index.html".to_owned(), PAGE.as_bytes().to_vec()),
        ("app.js".to_owned(), APP_JS.as_bytes().to_vec()),
        ("telegram-web-apps.js".to_owned(), std::fs::read(&sdk).expect("sdk")),
    ];
    upload(&t, &admin, &files).await;

    // The developer's way in: a dev link from the CLI (with an API token), signed for a named
    // user.
    let out = t.serve.cli(
        &["dev-link", "--bot", "demo_bot", "--user-id", "4242", "--first-name", "Alice", "--start-param", "promo"],
        &[("TMAHOST_SERVER", &t.serve.api), ("TMAHOST_TOKEN", &admin)],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let link = String::from_utf8(out.stdout).expect("utf-8").trim().to_owned();
    assert!(link.starts_with(&format!("http://{}/#tgWebAppData=", t.host("demo-bot"))), "{link}");

    let profile = tempfile::tempdir().expect("profile");
    let client = browser(&driver, profile.path()).await;

    client.goto(&link).await.expect("open dev link");
    let name = client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css("#name")).await.expect("page");
    // The gate page has no #name; once it is here the gate reloaded into the app.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut first_name, mut me) = (String::new(), String::new());
    while Instant::now() < deadline {
        first_name = name.text().await.unwrap_or_default();
        me = client.find(Locator::Css("#me")).await.expect("#me").text().await.unwrap_or_default();
        if first_name != "loading" && me != "loading" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let url = client.current_url().await.expect("url");
    client.close().await.expect("close");

    assert_eq!(first_name, "Alice", "the SDK read the user from the fragment after the gate");
    let me: Value = serde_json::from_str(&me).unwrap_or_else(|_| panic!("/_tma/me returned {me}"));
    assert_eq!(me["user"]["id"], 4242);
    assert_eq!(me["user"]["first_name"], "Alice");
    assert_eq!(me["start_param"], "promo");
    assert_eq!(me["via"], "cookie");
    assert!(url.fragment().is_some_and(|f| f.contains("tgWebAppData=")), "fragment kept: {url}");
}

/// Saves a screenshot under `target/screenshots/` (a CI artifact).
async fn screenshot(client: &fantoccini::Client, name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
}

/// The page's visible text; empty while a navigation has no `body` yet (a click that submits a
/// form returns before the next document exists), so callers poll.
async fn page_text(client: &fantoccini::Client) -> String {
    match client.find(Locator::Css("body")).await {
        Ok(body) => body.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Waits until the page's text contains `needle`.
async fn wait_for_text(client: &fantoccini::Client, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = page_text(client).await;
        if text.contains(needle) {
            return text;
        }
        assert!(Instant::now() < deadline, "no `{needle}` on {:?}: {text}", client.current_url().await.ok());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn click(client: &fantoccini::Client, css: &str) {
    client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.expect("click");
}

#[tokio::test]
async fn the_dashboard_in_a_browser_logs_in_uploads_rolls_back_and_changes_settings() {
    let Some(driver) = start_chromedriver() else { return };
    let mut t = TestApp::start(&[("TMAHOST_ADMIN_IDS", "1001")]);
    let admin = t.admin().to_owned();
    let http = t.http.clone();
    t.register(TOKEN, Some("Demo_Bot")).await;
    upload(&t, &admin, &bundles::sample_app("v1")).await;
    let line = t.serve.printed("dashboard login for admin 1001", Duration::from_secs(5)).expect("login link printed");
    let link = line.rsplit(' ').next().expect("url").to_owned();
    let archive = tempfile::Builder::new().suffix(".zip").tempfile().expect("tmp");
    std::fs::write(archive.path(), bundles::zip(&bundles::sample_app("v2"))).expect("zip");

    let profile = tempfile::tempdir().expect("profile");
    let client = browser(&driver, profile.path()).await;

    // Log in through the one-time link.
    client.goto(&link).await.expect("open link");
    wait_for_text(&client, "Log in to tmahost").await;
    screenshot(&client, "dashboard-login").await;
    click(&client, "form button[type=submit]").await;
    wait_for_text(&client, "@Demo_Bot").await;
    screenshot(&client, "dashboard-bots").await;

    // The bot and its app.
    click(&client, "a[href='/bots/demo-bot']").await;
    wait_for_text(&client, "Members").await;
    screenshot(&client, "dashboard-bot").await;
    click(&client, "a[href='/bots/demo-bot/apps/main']").await;
    wait_for_text(&client, "Upload a build").await;

    // Upload v2 through the form (the page's script sends it and follows the answer).
    client.find(Locator::Css("#message")).await.expect("message").send_keys("from the browser").await.expect("type");
    let input = client.find(Locator::Css("#archive")).await.expect("file input");
    input.send_keys(&archive.path().display().to_string()).await.expect("choose file");
    click(&client, "#upload button[type=submit]").await;
    wait_for_text(&client, "v2 is uploaded and live.").await;

    // A whole build folder: packed as .tar.gz by the page, checked by the server.
    let folder = tempfile::tempdir().expect("folder");
    let dist = folder.path().join("dist");
    for (name, data) in bundles::sample_app("v3") {
        let path = dist.join(&name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, data).expect("write");
    }
    let input = client.find(Locator::Css("#folder")).await.expect("folder input");
    input.send_keys(&dist.display().to_string()).await.expect("choose folder");
    wait_for_text(&client, "files from a folder").await;
    click(&client, "#upload button[type=submit]").await;
    wait_for_text(&client, "v3 is uploaded and live.").await;
    screenshot(&client, "dashboard-app").await;

    // A broken archive: the server's reason appears on the page, nothing is deployed.
    let junk = tempfile::Builder::new().suffix(".zip").tempfile().expect("tmp");
    std::fs::write(junk.path(), b"this is not a zip file").expect("junk");
    let input = client.find(Locator::Css("#archive")).await.expect("file input");
    input.send_keys(&junk.path().display().to_string()).await.expect("choose file");
    click(&client, "#upload button[type=submit]").await;
    let problem =
        client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css("[data-problem]:not([hidden])")).await;
    let problem = problem.expect("a problem shown").text().await.expect("text");
    assert!(problem.to_lowercase().contains("zip") || problem.to_lowercase().contains("archive"), "{problem}");
    screenshot(&client, "dashboard-upload-error").await;

    // Roll back to v1.
    click(&client, "form[action$='/deployments/1/activate'] button").await;
    wait_for_text(&client, "v1 is now the active deployment.").await;

    // Make the app public; the edge serves it without a session.
    let host = t.host("demo-bot");
    let edge = || t.edge(&host, "/").send();
    assert_eq!(edge().await.expect("edge").status(), reqwest::StatusCode::UNAUTHORIZED);
    click(&client, "input[name=access][value=public]").await;
    click(&client, "form[action$='/settings'] button[type=submit]").await;
    wait_for_text(&client, "Settings saved").await;
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let res = edge().await.expect("edge");
        if res.status() == reqwest::StatusCode::OK {
            assert!(res.text().await.expect("body").contains("v1"));
            break;
        }
        assert!(Instant::now() < deadline, "the edge did not honour the public setting");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Create a token, see it once, revoke it.
    client.goto(&format!("{}/tokens", t.serve.api)).await.expect("tokens");
    client.find(Locator::Css("#token-name")).await.expect("name").send_keys("browser-ci").await.expect("type");
    click(&client, "form[action='/tokens'] button").await;
    let shown = wait_for_text(&client, "shown only now").await;
    let jwt = client.find(Locator::Css(".minted pre code")).await.expect("token").text().await.expect("text");
    assert!(shown.contains("browser-ci") && jwt.split('.').count() == 3, "{jwt}");
    screenshot(&client, "dashboard-tokens").await;
    let works = http.get(format!("{}/api/v1/bots", t.serve.api)).bearer_auth(&jwt).send().await.expect("api");
    assert_eq!(works.status(), reqwest::StatusCode::OK);
    click(&client, "form[action$='/revoke'] button").await;
    wait_for_text(&client, "revoked").await;
    let revoked = http.get(format!("{}/api/v1/bots", t.serve.api)).bearer_auth(&jwt).send().await.expect("api");
    assert_eq!(revoked.status(), reqwest::StatusCode::UNAUTHORIZED);

    // The audit page, then the link again: used up.
    client.goto(&format!("{}/bots/demo-bot/audit", t.serve.api)).await.expect("audit");
    wait_for_text(&client, "deployment.rollback").await;
    screenshot(&client, "dashboard-audit").await;
    client.goto(&link).await.expect("link again");
    wait_for_text(&client, "already used").await;
    client.close().await.expect("close");
}
