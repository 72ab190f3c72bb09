//! End to end: `tmahost deploy` and the other client commands, run as a developer or a CI job
//! would, against a real `tmahost serve`; the digest protocol checked at the HTTP level too.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Digest;
use tmahost_testkit::app::TestApp;
use tmahost_testkit::fake_telegram::FakeTelegram;
use tmahost_testkit::server::binary;

const TOKEN_A: &str = tmahost_testkit::TOKEN_A;
const TOKEN_B: &str = tmahost_testkit::TOKEN_B;

/// A server with two registered bots and a developer's shell pointed at it.
struct Setup {
    app: TestApp,
    _fake: FakeTelegram,
    admin: String,
    /// `XDG_CONFIG_HOME` and `HOME` of the CLI, so `tmahost login` never touches the real one.
    home: tempfile::TempDir,
}

impl Setup {
    async fn start(env: &[(&str, &str)]) -> Self {
        let fake = FakeTelegram::start().await;
        fake.add_bot(TOKEN_A, "Demo_Bot");
        fake.add_bot(TOKEN_B, "Other_Bot");
        let mut all = vec![("TMAHOST_TELEGRAM_API_URL", fake.url.as_str())];
        all.extend_from_slice(env);
        let app = TestApp::start(&all);
        let admin = app.admin().to_owned();
        for token in [TOKEN_A, TOKEN_B] {
            app.register(token, None).await;
        }
        Self { app, _fake: fake, admin, home: tempfile::tempdir().expect("home") }
    }

    /// `tmahost <args>` with the server and admin token in the environment.
    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(binary());
        cmd.args(args);
        for (k, _) in std::env::vars() {
            if k.starts_with("TMAHOST_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("XDG_CONFIG_HOME", self.home.path())
            .env("HOME", self.home.path())
            .env("TMAHOST_SERVER", &self.app.serve.api)
            .env("TMAHOST_TOKEN", &self.admin);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.command(args, env).output().expect("run tmahost")
    }

    /// Runs and asserts success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args, &[]);
        assert!(out.status.success(), "tmahost {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf-8")
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        serde_json::from_str(&self.ok(&all)).expect("JSON on stdout")
    }

    async fn stored(&self) -> u64 {
        self.app.metric("tmahost_blob_uploads_total{result=\"stored\"}").await
    }

    /// Body of `path` on a host of the edge (`demo-bot`, or a preview host), with its status.
    async fn edge(&self, label: &str, path: &str) -> (StatusCode, String) {
        self.app.edge_text(&self.app.host(label), path).await
    }

    /// Waits until the edge serves `needle` at `/` of `label`.
    async fn edge_serves(&self, label: &str, needle: &str) {
        self.edge_serves_at(label, "/", needle).await;
    }

    /// Waits until the edge serves `needle` at `path` of `label`: a deploy's answer comes
    /// before the edge has swapped its routing table, which takes milliseconds.
    async fn edge_serves_at(&self, label: &str, path: &str, needle: &str) {
        let host = self.app.host(label);
        let request = || self.app.edge(&host, path);
        self.app.wait_for_edge(Duration::from_secs(5), request, StatusCode::OK, needle).await;
    }

    async fn make_public(&self, bot: &str) {
        self.app.settings(bot, "main", json!({ "access": "public" })).await;
    }
}

fn write_tree(root: &Path, files: &[(&str, &[u8])]) {
    for (name, data) in files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, data).expect("write");
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn sha_hex(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

#[tokio::test]
async fn deploy_uploads_only_changed_files_stages_promotes_and_rolls_back() {
    let s = Setup::start(&[]).await;
    let build = tempfile::tempdir().expect("build");
    let dist = build.path();
    // Big enough to get brotli and gzip variants (written to scratch space on the way).
    let css = ".card { color: #222; margin: 0 auto; }\n".repeat(200);
    write_tree(
        dist,
        &[
            ("index.html", b"<!doctype html><title>v1</title><script src=\"/assets/app.js\"></script>"),
            ("assets/app.js", b"console.log('app');"),
            ("assets/app.css", css.as_bytes()),
            ("assets/app.js.map", b"{\"version\":3}"),
            (".well-known/assetlinks.json", b"[]"),
            (".env", b"SECRET=do-not-upload"),
            ("notes/draft.md", b"ignored by .tmahostignore"),
            ("_redirects", b"/old / 301\n/forgot-the-destination\n"),
            (".tmahostignore", b"notes/\n*.psd\n"),
            ("design.psd", b"ignored by pattern"),
        ],
    );
    let dir = dist.to_str().expect("utf-8 path");

    // First deploy: every content is new.
    let v1 = s.json(&["deploy", dir, "--bot", "demo_bot", "--message", "first"]);
    assert_eq!((v1["version"].as_i64(), v1["status"].as_str()), (Some(1), Some("active")), "{v1}");
    assert_eq!(v1["uploaded_blobs"], 6, "{v1}");
    // A `_redirects` line that cannot be used is left out and named, and the rest deploys.
    let warnings = v1["warnings"].as_array().expect("warnings");
    assert!(warnings.iter().filter_map(Value::as_str).any(|w| w.starts_with("_redirects line 2:")), "{v1}");
    assert_eq!(s.stored().await, 6);
    let path = "/api/v1/bots/demo-bot/apps/main/deployments/v1/files";
    let (_, files) = s.app.api(reqwest::Method::GET, path, Some(&s.admin), None).await;
    let paths: Vec<&str> = files.as_array().expect("list").iter().filter_map(|f| f["path"].as_str()).collect();
    // Ignored files and dotfiles stay home; .well-known goes; _redirects becomes rules.
    assert_eq!(
        paths,
        [".well-known/assetlinks.json", "assets/app.css", "assets/app.js", "assets/app.js.map", "index.html"]
    );
    s.make_public("demo-bot").await;
    s.edge_serves("demo-bot", "<title>v1</title>").await;
    assert_eq!(s.edge("demo-bot", "/old").await.0, StatusCode::MOVED_PERMANENTLY, "the _redirects rule applies");

    // Change one file: exactly one blob goes up.
    write_tree(dist, &[("assets/app.js", b"console.log('app v2');")]);
    let out = s.ok(&["deploy", dir, "--bot", "demo_bot"]);
    assert!(out.contains("deployed v2") && out.contains("1 uploaded, 5 already stored"), "{out}");
    assert!(out.contains(&format!("url:     http://{}/", s.app.host("demo-bot"))), "{out}");
    assert_eq!(s.stored().await, 7, "one new blob for a one-file change");
    s.edge_serves_at("demo-bot", "/assets/app.js", "console.log('app v2');").await;

    // Stage: the preview host serves it, the app does not, until promoted.
    write_tree(dist, &[("index.html", b"<!doctype html><title>v3</title>")]);
    let v3 = s.json(&["deploy", dir, "--bot", "demo_bot", "--stage", "--no-source-maps"]);
    assert_eq!(v3["status"], "ready", "{v3}");
    let preview = v3["preview_url"].as_str().expect("preview url");
    let preview_label = preview.trim_start_matches("http://").split('.').next().expect("label").to_owned();
    s.edge_serves(&preview_label, "<title>v3</title>").await;
    assert_eq!(s.edge(&preview_label, "/assets/app.js.map").await.0, StatusCode::NOT_FOUND, "--no-source-maps");
    s.edge_serves("demo-bot", "<title>v1</title>").await;
    let promoted = s.json(&["promote", v3["id"].as_str().expect("id")]);
    assert_eq!((promoted["version"].as_i64(), promoted["status"].as_str()), (Some(3), Some("active")));
    s.edge_serves("demo-bot", "<title>v3</title>").await;
    assert_eq!(s.stored().await, 8, "promote uploads nothing");

    // Roll back by version, then one step back (to what was live before).
    let out = s.ok(&["rollback", "--bot", "demo_bot", "--to", "v1"]);
    assert!(out.starts_with("v1 is live again"), "{out}");
    s.edge_serves("demo-bot", "<title>v1</title>").await;
    s.ok(&["rollback", "--bot", "demo_bot"]);
    s.edge_serves("demo-bot", "<title>v3</title>").await;

    // Listing commands, as tables and as JSON.
    let list = s.json(&["deployments", "--bot", "demo_bot"]);
    let statuses: Vec<&str> = list.as_array().expect("list").iter().filter_map(|d| d["status"].as_str()).collect();
    assert_eq!(statuses, ["active", "superseded", "superseded"]);
    let table = s.ok(&["deployments", "--bot", "demo_bot"]);
    assert!(table.starts_with("VERSION") && table.contains("v3") && table.contains("first"), "{table}");
    let bots = s.ok(&["bots"]);
    assert!(bots.contains("@Demo_Bot") && bots.contains("@Other_Bot"), "{bots}");
    let apps = s.json(&["apps", "--bot", "demo_bot"]);
    assert_eq!(apps[0]["slug"], "main");
    assert_eq!(s.json(&["apps"]).as_array().map(Vec::len), Some(2));

    // An archive goes up whole and the server unpacks it.
    let zip = build.path().join("site.zip");
    std::fs::write(&zip, tmahost_testkit::bundles::zip(&tmahost_testkit::bundles::sample_app("zipped"))).expect("zip");
    let out = s.ok(&["deploy", zip.to_str().expect("utf-8"), "--bot", "demo_bot"]);
    assert!(out.contains("deployed v4"), "{out}");
    s.edge_serves("demo-bot", "zipped").await;

    // Nothing of the uploads is left in the server's scratch space.
    let left = tmahost_testkit::files_under(&s.app.serve.data_dir.path().join("tmp"));
    assert!(left.is_empty(), "temp files left behind: {left:?}");
}

#[tokio::test]
async fn client_errors_are_clear_and_exit_non_zero() {
    let s = Setup::start(&[("TMAHOST_MAX_FILE_BYTES", "100000")]).await;
    let build = tempfile::tempdir().expect("build");
    write_tree(build.path(), &[("index.html", b"<!doctype html>ok")]);
    let dir = build.path().to_str().expect("utf-8");
    let fails = |args: &[&str], env: &[(&str, &str)], needle: &str| {
        // One line, even for a user whose shell asks Rust programs for backtraces.
        let mut env = env.to_vec();
        env.push(("RUST_BACKTRACE", "1"));
        let out = s.run(args, &env);
        let err = stderr(&out);
        assert!(!out.status.success(), "tmahost {args:?} should fail");
        assert!(err.contains(needle), "tmahost {args:?}: expected {needle:?} in {err}");
        let lines: Vec<&str> = err.lines().filter(|l| !l.starts_with("hashed ") && !l.trim().is_empty()).collect();
        assert!(
            lines.last().is_some_and(|l| l.starts_with("error: ")) && !err.contains("backtrace"),
            "tmahost {args:?}: one error line, no backtrace: {err}"
        );
        assert!(out.stdout.is_empty(), "nothing on stdout when failing: {:?}", String::from_utf8_lossy(&out.stdout));
    };

    fails(&["deploy", dir, "--bot", "demo_bot"], &[("TMAHOST_TOKEN", "not-a-token")], "refused the token");
    fails(&["deploy", dir, "--bot", "nobody_bot"], &[], "bot not found");
    fails(&["deploy", dir, "--bot", "demo_bot", "--app", "nope"], &[], "app not found");
    fails(&["deploy", "/does/not/exist", "--bot", "demo_bot"], &[], "cannot read /does/not/exist");
    fails(&["rollback", "--bot", "demo_bot"], &[], "no earlier deployment");
    fails(&["promote", "0190b6c0-0000-7000-8000-000000000000"], &[], "deployment not found");
    fails(&["bots"], &[("TMAHOST_SERVER", "http://127.0.0.1:9")], "cannot reach http://127.0.0.1:9");
    let mut no_server = s.command(&["bots"], &[]);
    no_server.env_remove("TMAHOST_SERVER");
    let out = no_server.output().expect("run");
    assert!(!out.status.success() && stderr(&out).contains("no server"), "{}", stderr(&out));

    // Too big: the server's limit, named, before anything is uploaded.
    write_tree(build.path(), &[("big.bin", &vec![7u8; 200_000])]);
    fails(&["deploy", dir, "--bot", "demo_bot"], &[], "per-file limit of 100000 bytes");
    write_tree(build.path(), &[("big.bin", b"small now")]);
    std::fs::remove_file(build.path().join("index.html")).expect("rm");
    fails(&["deploy", dir, "--bot", "demo_bot"], &[], "no index.html");
    assert_eq!(s.stored().await, 0, "nothing was uploaded by failed deploys");

    // login stores the server and token privately; later commands need neither variable.
    let mut login = s.command(&["login", "--server", &s.app.serve.api], &[]);
    login.env_remove("TMAHOST_SERVER").env_remove("TMAHOST_TOKEN").stdin(Stdio::piped()).stdout(Stdio::piped());
    login.stderr(Stdio::piped());
    let mut child = login.spawn().expect("login");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), format!("{}\n", s.admin).as_bytes())
        .expect("token on stdin");
    let out = child.wait_with_output().expect("login");
    assert!(out.status.success(), "{}", stderr(&out));
    let stored = s.home.path().join("tmahost/credentials.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&stored).expect("credentials").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "credentials readable by the user only");
    }
    let mut bots = s.command(&["bots"], &[]);
    bots.env_remove("TMAHOST_SERVER").env_remove("TMAHOST_TOKEN");
    let out = bots.output().expect("bots");
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("@Demo_Bot"), "{}", stderr(&out));
    // The stored token is never sent to another server.
    let mut elsewhere = s.command(&["bots", "--server", "http://127.0.0.1:9"], &[]);
    elsewhere.env_remove("TMAHOST_SERVER").env_remove("TMAHOST_TOKEN");
    let out = elsewhere.output().expect("bots");
    assert!(!out.status.success() && stderr(&out).contains("no token for http://127.0.0.1:9"), "{}", stderr(&out));
    assert!(s.run(&["logout"], &[]).status.success());
    assert!(!stored.exists());
}

#[tokio::test]
async fn a_deploy_killed_mid_upload_is_never_served_and_the_next_one_resumes() {
    let s = Setup::start(&[]).await;
    s.make_public("demo-bot").await;
    let build = tempfile::tempdir().expect("build");
    let dir = build.path().to_str().expect("utf-8");
    write_tree(build.path(), &[("index.html", b"<!doctype html><title>stable</title>")]);
    s.ok(&["deploy", dir, "--bot", "demo_bot"]);
    s.edge_serves("demo-bot", "stable").await;
    let before = s.stored().await;

    // 48 incompressible files of 1 MiB: long enough to be cut off in the middle.
    const FILES: u64 = 48;
    let mut rng = tmahost_testkit::seeded_rng("interrupted deploy");
    for i in 0..FILES {
        let mut data = vec![0u8; 1024 * 1024];
        rand::RngCore::fill_bytes(&mut rng, &mut data);
        write_tree(build.path(), &[(&format!("media/{i}.bin"), &data)]);
    }
    write_tree(build.path(), &[("index.html", b"<!doctype html><title>big</title>")]);

    let mut cli = s
        .command(&["deploy", dir, "--bot", "demo_bot"], &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("deploy");
    let deadline = Instant::now() + Duration::from_secs(60);
    while s.stored().await == before {
        assert!(Instant::now() < deadline, "no blob arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cli.kill().expect("kill -9");
    cli.wait().expect("reaped");
    // Bodies that had fully arrived are still stored after the client is gone; let them land.
    let mut cut = s.stored().await - before;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = s.stored().await - before;
        if now == cut {
            break;
        }
        cut = now;
    }
    assert!(cut < FILES + 1, "the upload was cut off: {cut} stored");

    // Nothing of the unfinished deployment is visible anywhere.
    s.edge_serves("demo-bot", "stable").await;
    let list = s.json(&["deployments", "--bot", "demo_bot"]);
    assert_eq!(list[0]["version"], 2);
    assert_eq!(list[0]["status"], "uploading", "{list}");
    let label = list[0]["preview_url"]
        .as_str()
        .expect("preview")
        .trim_start_matches("http://")
        .split('.')
        .next()
        .expect("l")
        .to_owned();
    assert_eq!(s.edge(&label, "/").await.0, StatusCode::NOT_FOUND, "an unfinished deployment has no preview");

    // Deploy again: the contents that made it are reused, the rest goes up, v3 is served.
    let v3 = s.json(&["deploy", dir, "--bot", "demo_bot"]);
    assert_eq!(v3["version"], 3);
    let uploaded = v3["uploaded_blobs"].as_u64().expect("count");
    assert_eq!(uploaded + cut, FILES + 1, "every content stored exactly once: {uploaded} now + {cut} before");
    assert_eq!(s.stored().await - before, FILES + 1);
    s.edge_serves("demo-bot", "<title>big</title>").await;
    let res = s.app.edge(&s.app.host("demo-bot"), "/media/47.bin");
    let res = res.send().await.expect("edge");
    let (status, body) = (res.status(), res.bytes().await.expect("body"));
    assert_eq!((status, body.len()), (StatusCode::OK, 1024 * 1024));
}

#[tokio::test]
async fn the_digest_protocol_verifies_every_blob_and_keeps_tenants_apart() {
    let s = Setup::start(&[]).await;
    let index = b"<!doctype html>digest".to_vec();
    let app_js = b"console.log(1)".to_vec();
    let manifest = json!({ "files": {
        "index.html": { "sha256": sha_hex(&index), "size": index.len() },
        "app.js": { "sha256": sha_hex(&app_js), "size": app_js.len() },
    }});
    let post = |bot: &str, token: &str, body: Value| {
        let req =
            s.app.http.post(format!("{}/api/v1/bots/{bot}/apps/main/deployments", s.app.serve.api)).bearer_auth(token);
        req.json(&body).send()
    };
    let put = |sha: String, token: &str, body: Vec<u8>| {
        s.app.http.put(format!("{}/api/v1/blobs/{sha}", s.app.serve.api)).bearer_auth(token).body(body).send()
    };
    let res = post("demo-bot", &s.admin, manifest.clone()).await.expect("post");
    assert_eq!(res.status(), StatusCode::CREATED);
    let plan: Value = res.json().await.expect("plan");
    assert_eq!((plan["status"].as_str(), plan["missing"].as_array().map(Vec::len)), (Some("uploading"), Some(2)));
    let finalize = format!("{}{}", s.app.serve.api, plan["finalize_url"].as_str().expect("url"));

    // Finalizing early names what is missing; nothing becomes visible.
    let res = s.app.http.post(&finalize).bearer_auth(&s.admin).send().await.expect("finalize");
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.expect("text").contains("missing_blobs"));

    // A token for another bot cannot feed this deployment; wrong bytes are refused.
    let body = json!({ "name": "other", "scope": { "bots": [222222222] } });
    let (_, other) = s.app.api(reqwest::Method::POST, "/api/v1/tokens", Some(&s.admin), Some(body)).await;
    let other = other["token"].as_str().expect("jwt").to_owned();
    assert_eq!(put(sha_hex(&index), &other, index.clone()).await.expect("put").status(), StatusCode::NOT_FOUND);
    let res = put(sha_hex(&index), &s.admin, b"<!doctype html>DIGEST".to_vec()).await.expect("put");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.expect("text").contains("digest_mismatch"));
    let res = put(sha_hex(&index), &s.admin, [index.clone(), b"!".to_vec()].concat()).await.expect("put");
    assert!(res.text().await.expect("text").contains("size_mismatch"));
    let never_declared = sha_hex(b"anything else");
    assert_eq!(
        put(never_declared, &s.admin, b"anything else".to_vec()).await.expect("put").status(),
        StatusCode::NOT_FOUND
    );
    assert!(matches!(
        post("demo-bot", &other, manifest.clone()).await.expect("post").status(),
        StatusCode::NOT_FOUND | StatusCode::FORBIDDEN
    ));

    // The right bytes: stored once, then idempotent (also when sent concurrently).
    let (a, b) =
        tokio::join!(put(sha_hex(&index), &s.admin, index.clone()), put(sha_hex(&index), &s.admin, index.clone()));
    let mut codes = [a.expect("a").status(), b.expect("b").status()];
    codes.sort();
    assert!(codes.contains(&StatusCode::CREATED) || codes == [StatusCode::OK, StatusCode::OK], "{codes:?}");
    assert_eq!(put(sha_hex(&index), &s.admin, index.clone()).await.expect("again").status(), StatusCode::OK);
    assert_eq!(put(sha_hex(&app_js), &s.admin, app_js.clone()).await.expect("js").status(), StatusCode::CREATED);

    let res = s.app.http.post(&finalize).bearer_auth(&s.admin).send().await.expect("finalize");
    assert_eq!(res.status(), StatusCode::OK);
    let done: Value = res.json().await.expect("json");
    assert_eq!((done["status"].as_str(), done["new_blobs"].as_u64()), (Some("active"), Some(2)));
    assert_eq!(
        s.app.http.post(&finalize).bearer_auth(&s.admin).send().await.expect("twice").status(),
        StatusCode::CONFLICT
    );
    assert_eq!(s.app.metric("tmahost_blob_uploads_total{result=\"rejected\"}").await, 4);

    // Bad manifests get the archive rules' codes.
    for (files, code) in [
        (json!({ "../x": { "sha256": sha_hex(b"x"), "size": 1 } }), "path_traversal"),
        (json!({ "app.js": { "sha256": sha_hex(b"x"), "size": 1 } }), "missing_index"),
        (json!({ "index.html": { "sha256": "ABC", "size": 1 } }), "invalid_sha256"),
    ] {
        let res = post("demo-bot", &s.admin, json!({ "files": files })).await.expect("post");
        assert!(res.status().is_client_error());
        assert!(res.text().await.expect("text").contains(code), "{code}");
    }
    let doc: Value = s
        .app
        .http
        .get(format!("{}/api/v1/openapi.json", s.app.serve.api))
        .send()
        .await
        .expect("doc")
        .json()
        .await
        .expect("json");
    assert!(doc["paths"]["/api/v1/blobs/{sha256}"]["put"].is_object());
    assert!(doc["paths"]["/api/v1/bots/{bot}/apps/{app}/deployments/{id}/finalize"]["post"].is_object());
}

/// A developer with a token scoped to their bot makes a dev link from the CLI (no database
/// access): the launch data is shaped like a current client's, opens a session on the edge, is
/// refused by Telegram's third-party check, and the link is in the audit log. Another tenant's
/// app, or a bad user, gets a clear refusal.
#[tokio::test]
async fn a_developer_makes_a_dev_link_shaped_like_a_telegram_client_s() {
    let s = Setup::start(&[]).await;
    let (status, _) = s
        .app
        .deploy(
            &s.admin,
            "demo-bot",
            "main",
            "",
            tmahost_testkit::bundles::zip(&tmahost_testkit::bundles::sample_app("v1")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let body = json!({ "name": "laptop", "scope": { "bots": [111111111] } });
    let (_, minted) = s.app.api(reqwest::Method::POST, "/api/v1/tokens", Some(&s.admin), Some(body)).await;
    let scoped = minted["token"].as_str().expect("jwt").to_owned();

    let args = [
        "dev-link",
        "--bot",
        "demo_bot",
        "--user-id",
        "4242",
        "--first-name",
        "Alice",
        "--premium",
        "--start-param",
        "promo",
    ];
    let out = s.run(&args, &[("TMAHOST_TOKEN", &scoped)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("signed as user 4242 (Alice)"), "{}", stderr(&out));
    // Beside the raw link (stdout stays the link alone, for scripts): the same options in the
    // dashboard's Telegram emulator.
    let emulator = format!(
        "{}/bots/demo-bot/apps/main/emulator?user_id=4242&first_name=Alice&language_code=en&start_param=promo\
         &premium=1&platform=weba&theme=light",
        s.app.serve.api
    );
    assert!(stderr(&out).contains(&emulator), "{}", stderr(&out));
    let url = String::from_utf8(out.stdout).expect("utf-8").trim().to_owned();
    let (base, fragment) = url.split_once('#').expect("launch parameters in the fragment");
    assert_eq!(base, format!("http://{}/", s.app.host("demo-bot")));
    let params: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(fragment.as_bytes()).into_owned().collect();
    assert_eq!(params["tgWebAppVersion"], "9.1");
    assert_eq!(params["tgWebAppPlatform"], "weba");
    let theme: Value = serde_json::from_str(&params["tgWebAppThemeParams"]).expect("theme JSON");
    for key in [
        "accent_text_color",
        "bg_color",
        "bottom_bar_bg_color",
        "button_color",
        "button_text_color",
        "destructive_text_color",
        "header_bg_color",
        "hint_color",
        "link_color",
        "secondary_bg_color",
        "section_bg_color",
        "section_header_text_color",
        "section_separator_color",
        "subtitle_text_color",
        "text_color",
    ] {
        assert!(theme[key].as_str().is_some_and(|c| c.starts_with('#')), "theme lacks {key}: {theme}");
    }
    let init_data = &params["tgWebAppData"];
    let data = tmahost_types::InitData::parse(init_data).expect("launch data parses");
    for key in ["auth_date", "chat_instance", "chat_type", "hash", "signature", "start_param", "user"] {
        assert!(data.get(key).is_some_and(|v| !v.is_empty()), "launch data lacks {key}: {init_data}");
    }
    assert_eq!(data.get("start_param"), Some("promo"));
    let user = data.user.as_ref().expect("user");
    assert_eq!((user.id, user.first_name.as_str(), user.is_premium), (4242, "Alice", Some(true)));
    // Signed with the bot's token (HMAC over every field, `signature` included), not by Telegram.
    let token = tmahost_types::BotToken::parse(TOKEN_A).expect("token");
    let now = data.auth_date;
    data.clone().verify_hmac(&token, now, 60).expect("the bot's HMAC");
    let third_party = data.verify_ed25519(token.bot_id(), tmahost_types::init_data::TelegramKey::Production, now, 60);
    assert!(third_party.is_err(), "Telegram's key did not sign dev data");

    // The edge opens a session with it.
    let res = s.app.http.post(format!("{}/_tma/session", s.app.serve.edge)).header("host", s.app.host("demo-bot"));
    let res = res.json(&json!({ "init_data": init_data })).send().await.expect("session");
    assert_eq!(res.status(), StatusCode::OK);
    let me: Value = res.json().await.expect("json");
    assert_eq!(me["user"]["first_name"], "Alice", "{me}");

    // Audited, with who asked and for whom.
    let (_, log) = s.app.api(reqwest::Method::GET, "/api/v1/bots/demo-bot/audit", Some(&s.admin), None).await;
    let event = log.as_array().expect("list").iter().find(|e| e["action"] == "devlink.create").expect("audited");
    assert_eq!(
        (event["details"]["user_id"].as_i64(), event["details"]["start_param"].as_str()),
        (Some(4242), Some("promo"))
    );
    assert_eq!(
        event["actor"],
        format!("token:{}", minted["id"].as_str().expect("id")),
        "the scoped token asked: {event}"
    );

    // The API directly, with JSON; a preview of one deployment.
    let body = json!({ "deployment": "v1" });
    let (status, link) =
        s.app.api(reqwest::Method::POST, "/api/v1/bots/demo-bot/apps/main/dev-links", Some(&scoped), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{link}");
    assert!(link["url"].as_str().is_some_and(|u| u.contains("--main--demo-bot.")), "a preview host: {link}");
    assert_eq!((link["user_id"].as_i64(), link["valid_for_secs"].as_i64()), (Some(1_000_000_001), Some(3600)));
    assert!(link["emulator_url"].as_str().is_some_and(|u| u.ends_with("&deployment=v1")), "{link}");

    // Another client and the dark theme.
    let out =
        s.run(&["dev-link", "--bot", "demo_bot", "--platform", "android", "--dark"], &[("TMAHOST_TOKEN", &scoped)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let url = String::from_utf8(out.stdout).expect("utf-8");
    let params: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(url.trim().split_once('#').expect("fragment").1.as_bytes()).into_owned().collect();
    assert_eq!(params["tgWebAppPlatform"], "android");
    let theme: Value = serde_json::from_str(&params["tgWebAppThemeParams"]).expect("theme JSON");
    assert_eq!((theme["bg_color"].as_str(), theme["text_color"].as_str()), (Some("#212121"), Some("#ffffff")));

    // Refusals: another tenant's app is not there for this token; a user without a name; an
    // unknown option.
    let other = s.run(&["dev-link", "--bot", "other_bot"], &[("TMAHOST_TOKEN", &scoped)]);
    assert!(!other.status.success());
    assert!(stderr(&other).contains("not found"), "{}", stderr(&other));
    let path = "/api/v1/bots/demo-bot/apps/main/dev-links";
    let nameless = json!({ "user": { "id": 5, "first_name": " " } });
    let (status, body) = s.app.api(reqwest::Method::POST, path, Some(&scoped), Some(nameless)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_user")));
    let (status, body) =
        s.app.api(reqwest::Method::POST, path, Some(&scoped), Some(json!({ "platform": "web" }))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_platform")));
    let (status, body) =
        s.app.api(reqwest::Method::POST, path, Some(&scoped), Some(json!({ "frobnicate": true }))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_json")), "{body}");
    // An optional body is optional, not ignored when wrong: a bad rollback target is refused
    // rather than taken as "one step back".
    let rollback = "/api/v1/bots/demo-bot/apps/main/rollback";
    let (status, body) = s.app.api(reqwest::Method::POST, rollback, Some(&scoped), Some(json!({ "to": "v1" }))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_json")), "{body}");
}

#[tokio::test]
async fn a_developer_routes_paths_to_a_backend_from_the_cli() {
    let s = Setup::start(&[]).await;
    s.app.settings("demo_bot", "main", json!({ "session_ttl_secs": 600 })).await;

    let out = s.ok(&[
        "backends",
        "--bot",
        "demo_bot",
        "--add",
        "/api/ https://93.184.216.34/v1 strip",
        "--add",
        "/hooks/ https://93.184.216.34 public",
    ]);
    let lines: Vec<Vec<&str>> = out.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(
        lines,
        [
            vec!["PREFIX", "UPSTREAM", "OPTIONS"],
            vec!["/api/", "https://93.184.216.34/v1", "strip"],
            vec!["/hooks/", "https://93.184.216.34", "public"],
        ],
        "{out}"
    );
    // Adding a prefix again replaces its route; removing takes one out; the rest of the
    // settings stay as they were.
    s.ok(&["backends", "--bot", "demo_bot", "--add", "/api/ https://93.184.216.34/v2", "--remove", "/hooks/"]);
    let listed = s.json(&["backends", "--bot", "demo_bot"]);
    assert_eq!(
        listed,
        json!([{ "prefix": "/api/", "upstream": "https://93.184.216.34/v2", "strip_prefix": false, "public": false }])
    );
    let (_, app) = s.app.api(reqwest::Method::GET, "/api/v1/bots/demo_bot/apps/main", Some(&s.admin), None).await;
    assert_eq!(app["settings"]["session_ttl_secs"], 600, "{app}");
    assert_eq!(app["settings"]["backends"], listed);

    // Mistakes are explained, exit non-zero and change nothing.
    for (args, says) in [
        (["--add", "/api/"], "write a prefix and an upstream"),
        (["--add", "/api/ https://93.184.216.34 fast"], "unknown option `fast` (strip, public)"),
        (["--remove", "/nope/"], "has no backend at `/nope/`"),
        (["--add", "/api/ http://127.0.0.1:9"], "https only"),
        (["--add", "/_tma/ https://93.184.216.34"], "/_tma/"),
    ] {
        let mut all = vec!["backends", "--bot", "demo_bot"];
        all.extend(args);
        let out = s.run(&all, &[]);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(s.json(&["backends", "--bot", "demo_bot"]), listed);
}
