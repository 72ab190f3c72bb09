//! In a real browser: headless Chromium (driven through chromedriver) opens a dev link to a
//! gated Mini App that loads the real Telegram SDK (`@twa-dev/sdk`, installed from npm at
//! test time). The gate must trade the launch parameters for a session and reload with the
//! fragment intact, so the SDK still sees the user and the app's `/_tma/me` call succeeds.
//! Then the dashboard, the Telegram emulator running apps on three SDKs (`tests/apps/`), and an
//! app connecting a wallet with TON Connect UI.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};
use reqwest::Method;
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

/// The SDK files the test apps load, from packages npm installs into a temp dir.
#[derive(Debug)]
struct Sdks {
    /// `@twa-dev/sdk`: Telegram's `telegram-web-app.js` as the package ships it.
    twa_script: PathBuf,
    /// `@twa-dev/sdk`'s module (`import WebApp from "@twa-dev/sdk"`), CommonJS.
    twa_module: PathBuf,
    /// `@tma.js/sdk`'s IIFE build (`window.tmajs.sdk`).
    tma_js: PathBuf,
}

/// Installs npm `packages` into `dir`.
fn npm_install(dir: &Path, packages: &[&str]) -> Option<()> {
    let out = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
        .args(packages)
        .current_dir(dir)
        .output();
    match out {
        Ok(o) if o.status.success() => Some(()),
        Ok(o) => unavailable("npm install", &String::from_utf8_lossy(&o.stderr)),
        Err(e) => unavailable("npm", &e.to_string()),
    }
}

fn install_sdks(dir: &Path) -> Option<Sdks> {
    npm_install(dir, &["@twa-dev/sdk@8", "@tma.js/sdk@3"])?;
    let modules = dir.join("node_modules");
    let sdks = Sdks {
        twa_script: modules.join("@twa-dev/sdk/dist/telegram-web-apps.js"),
        twa_module: modules.join("@twa-dev/sdk/dist/sdk.js"),
        tma_js: modules.join("@tma.js/sdk/dist/index.iife.js"),
    };
    for f in [&sdks.twa_script, &sdks.twa_module, &sdks.tma_js] {
        if !f.exists() {
            return unavailable("an SDK file", &format!("{} is missing", f.display()));
        }
    }
    Some(sdks)
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
    let Some(sdks) = install_sdks(npm_dir.path()) else { return };
    let Some(driver) = start_chromedriver() else { return };

    let fake = FakeTelegram::start().await;
    fake.add_bot(TOKEN, "Demo_Bot");
    let t = TestApp::start(&[("TMAHOST_TELEGRAM_API_URL", fake.url.as_str())]);
    let admin = t.admin().to_owned();
    t.register(TOKEN, None).await;
    let files = vec![
        ("index.html".to_owned(), PAGE.as_bytes().to_vec()),
        ("app.js".to_owned(), APP_JS.as_bytes().to_vec()),
        ("telegram-web-apps.js".to_owned(), std::fs::read(&sdks.twa_script).expect("sdk")),
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

    // The session was opened on the navigation back, from the gate page's launch cookie: no
    // `POST /_tma/session` round trip.
    let metrics = t.http.get(format!("{}/metrics", t.serve.api)).bearer_auth(&admin).send().await.expect("metrics");
    let metrics = metrics.text().await.expect("text");
    assert!(metrics.contains("tmahost_edge_sessions_opened_total{via=\"launch\"} 1"), "{metrics}");
    assert!(!metrics.contains("tmahost_edge_sessions_opened_total{via=\"post\"}"), "{metrics}");
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

/// The files of a test app in `tests/apps/{dir}`, plus SDK files under the names it loads.
fn test_app(dir: &str, sdk_files: &[(&str, &Path)]) -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("apps").join(dir);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&root)
        .expect("test app dir")
        .map(|e| {
            let e = e.expect("entry");
            (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).expect("read"))
        })
        .collect();
    for (name, path) in sdk_files {
        files.push(((*name).to_owned(), std::fs::read(path).expect("sdk file")));
    }
    files
}

/// The text of `css` in the app inside the emulator's frame (the page's only iframe); `None`
/// while the frame has no such element (the gate is still opening the session).
async fn in_frame(client: &fantoccini::Client, css: &str) -> Option<String> {
    client.enter_frame(0).await.ok()?;
    let text = match client.find(Locator::Css(css)).await {
        Ok(el) => el.text().await.ok(),
        Err(_) => None,
    };
    client.enter_parent_frame().await.expect("back to the emulator");
    text
}

/// Waits until the app in the frame shows `want` in `css`.
async fn wait_in_frame(client: &fantoccini::Client, css: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = in_frame(client, css).await;
        if got.as_deref() == Some(want) {
            return;
        }
        assert!(Instant::now() < deadline, "the app's {css} is {got:?}, not {want:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Clicks `css` inside the emulator's frame.
async fn click_in_frame(client: &fantoccini::Client, css: &str) {
    client.enter_frame(0).await.expect("the app's frame");
    click(client, css).await;
    client.enter_parent_frame().await.expect("back to the emulator");
}

/// Waits until the emulator shows `css` (not hidden) and returns its text.
async fn wait_visible(client: &fantoccini::Client, css: &str) -> String {
    let el = client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css(css)).await;
    let el = el.unwrap_or_else(|e| panic!("{css}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !el.is_displayed().await.unwrap_or(false) {
        assert!(Instant::now() < deadline, "{css} never became visible");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    el.text().await.expect("text")
}

/// Logs the browser in to the dashboard with admin 1001's one-time link.
async fn log_in(t: &mut TestApp, client: &fantoccini::Client) {
    let line = t.serve.printed("dashboard login for admin 1001", Duration::from_secs(5)).expect("login link printed");
    let link = line.rsplit(' ').next().expect("url").to_owned();
    client.goto(&link).await.expect("open link");
    wait_for_text(client, "Log in to tmahost").await;
    click(client, "form button[type=submit]").await;
    wait_for_text(client, "@Demo_Bot").await;
}

#[tokio::test]
async fn the_emulator_runs_apps_on_three_sdks_as_telegram_web_does() {
    let npm_dir = tempfile::tempdir().expect("tempdir");
    let Some(sdks) = install_sdks(npm_dir.path()) else { return };
    let Some(driver) = start_chromedriver() else { return };
    let mut t = TestApp::start(&[("TMAHOST_ADMIN_IDS", "1001")]);
    let admin = t.admin().to_owned();
    t.register(TOKEN, Some("Demo_Bot")).await;
    let apps = [
        ("main", test_app("tma-js", &[("tma-sdk.js", &sdks.tma_js)]), "yes"),
        (
            "twa",
            test_app("twa-dev", &[("telegram-web-apps.js", &sdks.twa_script), ("sdk.js", &sdks.twa_module)]),
            "yes",
        ),
        ("plain", test_app("plain", &[("telegram-web-app.js", &sdks.twa_script)]), "ok"),
    ];
    for (slug, files, _) in &apps {
        if *slug != "main" {
            let (status, body) =
                t.api(Method::POST, "/api/v1/bots/demo_bot/apps", Some(&admin), Some(json!({ "slug": slug }))).await;
            assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
        }
        let (status, body) = t.deploy(&admin, "demo_bot", slug, "", bundles::zip(files)).await;
        assert!(status.is_success(), "{slug}: {status} {body}");
    }

    let (status, body) =
        t.api(Method::POST, "/api/v1/bots/demo_bot/apps", Some(&admin), Some(json!({ "slug": "hostile" }))).await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    let (status, body) = t.deploy(&admin, "demo_bot", "hostile", "", bundles::zip(&test_app("hostile", &[]))).await;
    assert!(status.is_success(), "hostile: {status} {body}");

    let profile = tempfile::tempdir().expect("profile");
    let client = browser(&driver, profile.path()).await;
    log_in(&mut t, &client).await;

    for (slug, _, popup_button) in &apps {
        let emulator = format!(
            "{}/bots/demo-bot/apps/{slug}/emulator?user_id=4242&first_name=Alice&start_param=promo",
            t.serve.api
        );
        client.goto(&emulator).await.expect("emulator");

        // The user's name from launch data, after the gate opened a session inside the frame.
        wait_in_frame(&client, "#name", "Alice").await;
        wait_in_frame(&client, "#bg", "#ffffff").await;

        // The main button the app set appears under the frame; a press reaches the app.
        assert_eq!(wait_visible(&client, "#tg-main").await, "Order", "{slug}");
        click(&client, "#tg-main").await;
        wait_in_frame(&client, "#main-clicks", "1").await;

        // A popup round-trips: shown by the emulator, the button pressed goes back to the app.
        click_in_frame(&client, "#show-popup").await;
        wait_visible(&client, "#tg-popup").await;
        screenshot(&client, &format!("emulator-{slug}-popup")).await;
        click(&client, &format!("#tg-popup-buttons button[data-button-id='{popup_button}']")).await;
        wait_in_frame(&client, "#popup", popup_button).await;

        // Switching the theme reaches the running app.
        click(&client, "#tg-theme-dark").await;
        wait_in_frame(&client, "#bg", "#212121").await;

        // The app's own /_tma/me names the same user: the frame's session is this launch's.
        let me = in_frame(&client, "#me").await.unwrap_or_default();
        let me: Value = serde_json::from_str(&me).unwrap_or_else(|_| panic!("{slug}: /_tma/me returned {me}"));
        assert_eq!((me["user"]["id"].as_i64(), me["user"]["first_name"].as_str()), (Some(4242), Some("Alice")));
        assert_eq!((me["start_param"].as_str(), me["via"].as_str()), (Some("promo"), Some("cookie")), "{slug}");

        // Every bridge call is in the log.
        for event in ["web_app_setup_main_button", "web_app_open_popup", "theme_changed"] {
            let found = client.find(Locator::Css(&format!("#tg-log li[data-event='{event}']"))).await;
            assert!(found.is_ok(), "{slug}: no {event} in the emulator's log");
        }
        screenshot(&client, &format!("emulator-{slug}")).await;
    }

    // Row: the framed app is a tenant's code aiming at the dashboard's origin. A `javascript:`
    // link, markup in a popup or a button, CSS in a colour: refused or shown as text, never
    // run; a bad CloudStorage key gets Telegram's error; no window opens.
    client.goto(&format!("{}/bots/demo-bot/apps/hostile/emulator", t.serve.api)).await.expect("emulator");
    wait_in_frame(&client, "#name", "hostile").await;
    click_in_frame(&client, "#attack").await;
    wait_in_frame(&client, "#done", "sent").await;
    assert_eq!(wait_visible(&client, "#tg-popup-message").await, "<img src=x id=injected2>");
    assert_eq!(client.find(Locator::Css("#tg-popup-title")).await.expect("title").text().await.expect("t"), "<b>t</b>");
    assert_eq!(wait_visible(&client, "#tg-main").await, "<img src=x id=injected>");
    assert!(client.find(Locator::Css("#injected, #injected2, #tg-popup b")).await.is_err(), "markup was rendered");
    let header = client.execute("return document.getElementById('tg-header').style.backgroundImage;", vec![]).await;
    assert_eq!(header.expect("style"), json!(""), "CSS from a colour reached the page");
    for event in ["link refused", "t.me link refused"] {
        assert!(client.find(Locator::Css(&format!("#tg-log li[data-event='{event}']"))).await.is_ok(), "{event}");
    }
    let answer = client.find(Locator::Css("#tg-log li[data-event='custom_method_invoked']")).await.expect("answer");
    assert!(answer.text().await.expect("text").contains("KEY_INVALID"));
    assert_ne!(client.title().await.expect("title"), "owned");
    assert_eq!(client.windows().await.expect("windows").len(), 1, "nothing opened");
    screenshot(&client, "emulator-hostile").await;

    // The @tma.js app (main) also uses the back button and CloudStorage.
    let emulator = format!("{}/bots/demo-bot/apps/main/emulator?user_id=4242&first_name=Alice", t.serve.api);
    client.goto(&emulator).await.expect("emulator");
    wait_in_frame(&client, "#lp", "ok").await;
    wait_visible(&client, "#tg-back").await;
    click(&client, "#tg-back").await;
    wait_in_frame(&client, "#back-clicks", "1").await;
    wait_in_frame(&client, "#cloud", "hello Alice").await;
    let stored = client
        .execute(
            "var e = document.getElementById('emulator'); \
             return localStorage.getItem('tmahost.emulator.cloud.' + e.dataset.bot + '.4242');",
            vec![],
        )
        .await
        .expect("read localStorage");
    let stored: Value = serde_json::from_str(stored.as_str().unwrap_or("{}")).expect("stored JSON");
    assert_eq!(stored["greeting"], "hello Alice", "CloudStorage is kept per test user in the browser");

    // Relaunching as another user: the frame's old session is cleared and the gate signs in Bob.
    let form_field = |name: &'static str| client.find(Locator::Css(name));
    let id = form_field("#tg-user-id").await.expect("user id");
    id.clear().await.expect("clear");
    id.send_keys("5151").await.expect("type");
    let name = form_field("#tg-first-name").await.expect("first name");
    name.clear().await.expect("clear");
    name.send_keys("Bob").await.expect("type");
    click(&client, "#tg-controls button[type=submit]").await;
    wait_in_frame(&client, "#name", "Bob").await;
    // This launch's (light) theme, not the dark one an earlier launch in this tab left in the
    // SDK's sessionStorage: the gate's second load is a navigation, not a reload.
    wait_in_frame(&client, "#bg", "#ffffff").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let me = in_frame(&client, "#me").await.unwrap_or_default();
        if let Ok(me) = serde_json::from_str::<Value>(&me) {
            assert_eq!(me["user"]["id"], 5151, "the session is Bob's, not Alice's: {me}");
            break;
        }
        assert!(Instant::now() < deadline, "no /_tma/me answer: {me}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    screenshot(&client, "emulator-relaunched-as-bob").await;

    // A raw dev link for the @tma.js app, in a tab of its own: retrieveLaunchParams() accepts
    // the launch data (signature, chat_type, chat_instance, version, platform, theme).
    let (status, link) = t
        .api(
            Method::POST,
            "/api/v1/bots/demo_bot/apps/main/dev-links",
            Some(&admin),
            Some(json!({ "user": { "id": 4242, "first_name": "Alice" } })),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{link}");
    let emulator_url = link["emulator_url"].as_str().expect("emulator url");
    assert!(emulator_url.starts_with(&format!("{}/bots/demo-bot/apps/main/emulator?", t.serve.api)), "{emulator_url}");
    client.goto(link["url"].as_str().expect("url")).await.expect("dev link");
    let lp = client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css("#lp")).await.expect("app");
    let deadline = Instant::now() + Duration::from_secs(20);
    while lp.text().await.unwrap_or_default() == "loading" {
        assert!(Instant::now() < deadline, "the app did not run");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(lp.text().await.expect("text"), "ok", "retrieveLaunchParams() accepts a dev link");
    assert_eq!(client.find(Locator::Css("#name")).await.expect("name").text().await.expect("text"), "Alice");
    assert_eq!(client.find(Locator::Css("#env")).await.expect("env").text().await.expect("text"), "tab");
    screenshot(&client, "dev-link-tma-js").await;
    client.close().await.expect("close");
}

/// `@tonconnect/ui`'s browser build (`window.TON_CONNECT_UI`), installed from npm into `dir`.
fn install_ton_connect_ui(dir: &Path) -> Option<PathBuf> {
    npm_install(dir, &["@tonconnect/ui@2"])?;
    let file = dir.join("node_modules/@tonconnect/ui/dist/tonconnect-ui.min.js");
    if !file.exists() {
        return unavailable("TON Connect UI", &format!("{} is missing", file.display()));
    }
    Some(file)
}

/// Waits until `css` on the page satisfies `done`, and returns its text.
async fn wait_until(client: &fantoccini::Client, css: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = match client.find(Locator::Css(css)).await {
            Ok(el) => el.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if done(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "{css} is {text:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn ton_connect_ui_proves_a_wallet_on_the_main_host_and_on_a_preview_host() {
    use tmahost_types::ton::testing::{TestWallet, WalletVersion};
    let npm_dir = tempfile::tempdir().expect("tempdir");
    let Some(ui_js) = install_ton_connect_ui(npm_dir.path()) else { return };
    let Some(driver) = start_chromedriver() else { return };
    let t = TestApp::start(&[]);
    let admin = t.admin().to_owned();
    t.register(TOKEN, Some("Demo_Bot")).await;
    let files = test_app("ton-connect", &[("tonconnect-ui.js", &ui_js)]);
    upload(&t, &admin, &files).await;
    let (status, body) = t
        .api(
            Method::PUT,
            "/api/v1/bots/demo_bot/apps/main/settings",
            Some(&admin),
            Some(json!({ "ton_connect": { "name": "Shop", "icon_url": "/icon.png" } })),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let (status, staged) = t.deploy(&admin, "demo_bot", "main", "?activate=false", bundles::zip(&files)).await;
    assert!(status.is_success(), "{staged}");
    let wallet = TestWallet::new(WalletVersion::V4R2, 21);
    let raw = wallet.address.to_hex();

    let profile = tempfile::tempdir().expect("profile");
    let client = browser(&driver, profile.path()).await;
    // The main host, then the staged deployment's preview host: another dapp to a wallet.
    for deployment in [None, staged["id"].as_str()] {
        let mut request = json!({ "user": { "id": 4242, "first_name": "Alice" } });
        if let Some(id) = deployment {
            request["deployment"] = json!(id);
        }
        let (status, link) =
            t.api(Method::POST, "/api/v1/bots/demo_bot/apps/main/dev-links", Some(&admin), Some(request)).await;
        assert_eq!(status, reqwest::StatusCode::CREATED, "{link}");
        let link = url::Url::parse(link["url"].as_str().expect("url")).expect("link");
        let host = format!("{}:{}", link.host_str().expect("host"), link.port().expect("port"));
        let origin = format!("http://{host}");
        client.goto(link.as_str()).await.expect("open the app");
        // The app asked the platform for a proof payload (through its session) before this.
        wait_until(&client, "#proof", |t| t == "ready").await;
        // The user presses TON Connect UI's own button.
        let button = client.wait().at_most(Duration::from_secs(20));
        button
            .for_element(Locator::Css("[data-tc-connect-button]"))
            .await
            .expect("the button")
            .click()
            .await
            .expect("click");

        // The wallet gets the request, with the manifest's address and the payload to sign.
        let deadline = Instant::now() + Duration::from_secs(20);
        let request = loop {
            let got = client.execute("return window.tmahostTestWallet.request", vec![]).await.expect("execute");
            if !got.is_null() {
                break got;
            }
            assert!(Instant::now() < deadline, "the wallet was never asked to connect");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let manifest_url = request["request"]["manifestUrl"].as_str().expect("manifestUrl");
        assert_eq!(manifest_url, format!("{origin}/tonconnect-manifest.json"));
        let items = request["request"]["items"].as_array().expect("items");
        let payload = items.iter().find(|i| i["name"] == "ton_proof").expect("a ton_proof item")["payload"]
            .as_str()
            .expect("payload")
            .to_owned();
        // As a wallet does, it reads the manifest from outside the page, with no session: the
        // platform's, naming the host the app runs on.
        let res = t.edge(&host, "/tonconnect-manifest.json").header("origin", "https://wallet.example").send().await;
        let manifest: Value = res.expect("manifest").json().await.expect("json");
        assert_eq!(manifest["url"], origin, "{manifest}");
        assert_eq!(manifest["name"], "Shop");
        // It signs for the manifest's host, the way wallets take the domain from the manifest.
        let domain = url::Url::parse(manifest["url"].as_str().expect("url")).expect("url");
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
        let account = wallet.account();
        let event = json!({
            "event": "connect",
            "id": 1,
            "payload": {
                "items": [
                    {
                        "name": "ton_addr",
                        "address": account.address,
                        "network": account.chain,
                        "publicKey": account.public_key,
                        "walletStateInit": account.wallet_state_init,
                    },
                    { "name": "ton_proof", "proof": wallet.prove(domain.host_str().expect("host"), now, &payload) },
                ],
                "device": {
                    "platform": "browser",
                    "appName": "tmahosttestwallet",
                    "appVersion": "1.0.0",
                    "maxProtocolVersion": 2,
                    "features": ["SendTransaction", { "name": "SendTransaction", "maxMessages": 4 }],
                },
            },
        });
        client.execute("window.tmahostTestWallet.answer(arguments[0])", vec![event]).await.expect("answer");

        // TON Connect UI hands the proof to the app, the app to the platform, which keeps the
        // wallet in the session.
        let proof = wait_until(&client, "#proof", |t| t.starts_with(|c: char| c.is_ascii_digit())).await;
        assert!(proof.starts_with("200 "), "{host}: {proof}");
        let me = wait_until(&client, "#me", |t| t.starts_with('{')).await;
        let me: Value = serde_json::from_str(&me).expect("json");
        assert_eq!(me["wallet"]["address"], raw.as_str(), "{me}");
        assert_eq!(me["wallet"]["version"], "v4r2");
        // The user-friendly form is the one TON Connect's own SDK makes of the address.
        let theirs = client.execute("return TON_CONNECT_UI.toUserFriendlyAddress(arguments[0])", vec![json!(raw)]);
        assert_eq!(me["wallet"]["friendly"], theirs.await.expect("execute"));
        assert_eq!(me["user"]["id"], 4242);
        screenshot(&client, &format!("ton-connect-{}", if deployment.is_some() { "preview" } else { "main" })).await;
    }
    client.close().await.expect("close");
}
