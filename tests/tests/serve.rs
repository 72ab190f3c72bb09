//! End to end: the real `tmahost serve` binary, driven over HTTP like a developer would with
//! curl. Runs on the embedded defaults (SQLite + local files) and again on PostgreSQL.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tmahost_testkit::app::TestApp;
use tmahost_testkit::bundles;
use tmahost_testkit::fake_telegram::FakeTelegram;
use tmahost_testkit::server::Serve;
use tmahost_testkit::{Rows, code};

const TOKEN_A: &str = tmahost_testkit::TOKEN_A;
const TOKEN_B: &str = tmahost_testkit::TOKEN_B;

fn multipart(file: &[u8]) -> (String, Vec<u8>) {
    let boundary = "tmahostboundary7MA4YWxk";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"site.tar.gz\"\r\n\
         Content-Type: application/gzip\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Every step runs even when one before it failed; `finish` lists the failed ones.
async fn scenario(extra_env: &[(&str, &str)]) {
    let fake = FakeTelegram::start().await;
    fake.add_bot(TOKEN_A, "Demo_Bot");
    fake.add_bot(TOKEN_B, "Other_Bot");
    let mut env = vec![("TMAHOST_TELEGRAM_API_URL", fake.url.as_str()), ("TMAHOST_MAX_ARCHIVE_BYTES", "5000000")];
    env.extend_from_slice(extra_env);
    let mut t = TestApp::start(&env);
    let admin = t.admin().to_owned();
    // App URLs carry the edge's bound port.
    let port = t.serve.edge.rsplit(':').next().expect("edge port").to_owned();
    let (get, post, delete) = (Method::GET, Method::POST, Method::DELETE);
    let deploys = "/api/v1/bots/demo_bot/apps/shop/deployments";
    let mut rows = Rows::new();

    rows.step("health, readiness and the OpenAPI document", async {
        assert_eq!(t.api(get.clone(), "/healthz", None, None).await.0, StatusCode::OK);
        assert_eq!(t.api(get.clone(), "/readyz", None, None).await.0, StatusCode::OK);
        let (s, doc) = t.api(get.clone(), "/api/v1/openapi.json", None, None).await;
        assert_eq!(s, StatusCode::OK);
        assert!(doc["paths"]["/api/v1/bots/{bot}/apps/{app}/deployments"]["post"].is_object(), "{doc}");
    })
    .await;
    rows.step("no token, bad token", async {
        let (s, body) = t.api(get.clone(), "/api/v1/bots", None, None).await;
        assert_eq!((s, code(&body)), (StatusCode::UNAUTHORIZED, "unauthorized"));
        let (s, _) = t.api(get.clone(), "/api/v1/bots", Some("not.a.jwt"), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    })
    .await;
    rows.step("a bot registers with its username from getMe", async {
        let (s, bot) = t.api(post.clone(), "/api/v1/bots", Some(&admin), Some(json!({ "token": TOKEN_A }))).await;
        assert_eq!(s, StatusCode::CREATED, "{bot}");
        assert_eq!(bot["username"], "Demo_Bot");
        assert_eq!(bot["url"], format!("http://demo-bot.localhost:{port}/"));
        let get_me = fake.calls_to("getMe");
        assert_eq!(get_me.len(), 1);
        assert_eq!(get_me[0].token, TOKEN_A);
        let (s, body) = t.api(post.clone(), "/api/v1/bots", Some(&admin), Some(json!({ "token": "nope" }))).await;
        assert_eq!((s, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_token"));
        let unknown = "333333333:CCHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_";
        let (s, body) = t.api(post.clone(), "/api/v1/bots", Some(&admin), Some(json!({ "token": unknown }))).await;
        assert_eq!((s, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "telegram_rejected_token"));
        let (s, body) = t.api(post.clone(), "/api/v1/bots", Some(&admin), Some(json!({ "token": TOKEN_A }))).await;
        assert_eq!((s, code(&body)), (StatusCode::CONFLICT, "conflict"));
    })
    .await;
    rows.step("an app is created beside main", async {
        let (s, app) =
            t.api(post.clone(), "/api/v1/bots/demo_bot/apps", Some(&admin), Some(json!({ "slug": "shop" }))).await;
        assert_eq!(s, StatusCode::CREATED, "{app}");
        assert_eq!(app["url"], format!("http://shop--demo-bot.localhost:{port}/"));
        let (_, apps) = t.api(get.clone(), "/api/v1/bots/111111111/apps", Some(&admin), None).await;
        assert_eq!(apps.as_array().map(Vec::len), Some(2));
    })
    .await;
    rows.step("a zip and a tar.gz deploy, brotli follows", async {
        let (s, v1) = t.post_bytes(deploys, &admin, "application/zip", bundles::zip(&bundles::sample_app("v1"))).await;
        assert_eq!(s, StatusCode::CREATED, "{v1}");
        assert_eq!(
            (v1["version"].as_i64(), v1["status"].as_str(), v1["file_count"].as_i64()),
            (Some(1), Some("active"), Some(4))
        );
        assert_eq!(v1["new_blobs"], 4);
        let (ct, body) = multipart(&bundles::tar_gz(&bundles::sample_app("v2")));
        let (s, v2) = t.post_bytes(&format!("{deploys}?message=second"), &admin, &ct, body).await;
        assert_eq!(s, StatusCode::CREATED, "{v2}");
        assert_eq!((v2["version"].as_i64(), v2["status"].as_str()), (Some(2), Some("active")));
        assert_eq!(
            (v2["new_blobs"].as_i64(), v2["reused_blobs"].as_i64()),
            (Some(2), Some(2)),
            "index.html and the js changed"
        );
        let (_, list) = t.api(get.clone(), deploys, Some(&admin), None).await;
        let statuses: Vec<(i64, String)> = list
            .as_array()
            .expect("list")
            .iter()
            .map(|d| (d["version"].as_i64().unwrap_or(0), d["status"].as_str().unwrap_or("").to_owned()))
            .collect();
        assert_eq!(statuses, [(2, "active".into()), (1, "superseded".into())]);
        // gzip is made with the deploy; brotli follows in the background, listed as pending until then.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let (s, files) = t.api(get.clone(), &format!("{deploys}/v2/files"), Some(&admin), None).await;
            assert_eq!(s, StatusCode::OK);
            let js = files.as_array().expect("files").iter().find(|f| f["path"] == "assets/index-BXk3f9a1.js").cloned();
            let js = js.expect("the js is listed");
            if js["encodings"] == json!(["br", "gzip"]) && js["pending_encodings"] == json!([]) {
                break;
            }
            assert_eq!((&js["encodings"], &js["pending_encodings"]), (&json!(["gzip"]), &json!(["br"])), "{js}");
            assert!(std::time::Instant::now() < deadline, "no brotli variant after 60 s: {js}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    rows.step("a rollback, and deleting only what is not active", async {
        let (s, d) = t.api(post.clone(), &format!("{deploys}/v1/activate"), Some(&admin), None).await;
        assert_eq!((s, d["status"].as_str()), (StatusCode::OK, Some("active")), "{d}");
        let (_, v2_now) = t.api(get.clone(), &format!("{deploys}/v2"), Some(&admin), None).await;
        assert_eq!(v2_now["status"], "superseded");
        let (s, body) = t.api(delete.clone(), &format!("{deploys}/v1"), Some(&admin), None).await;
        assert_eq!((s, code(&body)), (StatusCode::CONFLICT, "conflict"));
        let (s, _) = t.api(delete.clone(), &format!("{deploys}/v2"), Some(&admin), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
    })
    .await;
    rows.step("bad uploads get the documented error and leave nothing", async {
        let traversal = bundles::zip(&[("index.html".into(), b"x".to_vec()), ("../x.js".into(), b"x".to_vec())]);
        let (s, body) = t.post_bytes(deploys, &admin, "application/zip", traversal).await;
        assert_eq!((s, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "path_traversal"), "{body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("..")));
        let (s, body) = t.post_bytes(deploys, &admin, "application/zip", b"hello".to_vec()).await;
        assert_eq!((s, code(&body)), (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_archive"));
        let (s, body) = t.post_bytes(deploys, &admin, "application/zip", vec![7u8; 6_000_000]).await;
        assert_eq!((s, code(&body)), (StatusCode::PAYLOAD_TOO_LARGE, "archive_too_large"));
        let (_, list) = t.api(get.clone(), deploys, Some(&admin), None).await;
        assert_eq!(list.as_array().map(Vec::len), Some(1), "only v1 remains");
    })
    .await;
    let scoped = rows
        .step("a token scoped to another bot sees nothing of this one", async {
            let (s, bot_b) = t.api(post.clone(), "/api/v1/bots", Some(&admin), Some(json!({ "token": TOKEN_B }))).await;
            assert_eq!(s, StatusCode::CREATED);
            let b_id = bot_b["id"].as_i64().expect("id");
            let (s, created) = t
                .api(
                    post.clone(),
                    "/api/v1/tokens",
                    Some(&admin),
                    Some(json!({ "name": "ci-b", "scope": { "bots": [b_id] } })),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{created}");
            let b_token = created["token"].as_str().expect("token shown once").to_owned();
            let b_token_id = created["id"].as_str().expect("id").to_owned();
            let (_, visible) = t.api(get.clone(), "/api/v1/bots", Some(&b_token), None).await;
            assert_eq!(
                visible.as_array().map(|v| v.iter().map(|b| b["id"].as_i64()).collect::<Vec<_>>()),
                Some(vec![Some(b_id)])
            );
            for (method, path) in [
                (get.clone(), "/api/v1/bots/demo_bot".to_owned()),
                (get.clone(), "/api/v1/bots/demo_bot/apps".to_owned()),
                (get.clone(), deploys.to_owned()),
                (post.clone(), format!("{deploys}/v1/activate")),
                (delete.clone(), format!("{deploys}/v1")),
                (get.clone(), "/api/v1/bots/demo_bot/audit".to_owned()),
            ] {
                let (s, body) = t.api(method.clone(), &path, Some(&b_token), None).await;
                assert_eq!((s, code(&body)), (StatusCode::NOT_FOUND, "not_found"), "{method} {path}");
            }
            let (s, _) =
                t.post_bytes(deploys, &b_token, "application/zip", bundles::zip(&bundles::sample_app("evil"))).await;
            assert_eq!(s, StatusCode::NOT_FOUND);
            let (s, _) = t.api(post.clone(), "/api/v1/bots", Some(&b_token), Some(json!({ "token": TOKEN_A }))).await;
            assert_eq!(s, StatusCode::FORBIDDEN);
            let (s, _) = t
                .api(post.clone(), "/api/v1/tokens", Some(&b_token), Some(json!({ "name": "x", "scope": "admin" })))
                .await;
            assert_eq!(s, StatusCode::FORBIDDEN);
            let (s, _) = t.api(get.clone(), "/api/v1/audit", Some(&b_token), None).await;
            assert_eq!(s, StatusCode::FORBIDDEN);
            // ...while its own bot works.
            let (s, body) = t
                .post_bytes(
                    "/api/v1/bots/other-bot/apps/main/deployments",
                    &b_token,
                    "application/gzip",
                    bundles::tar_gz(&bundles::sample_app("b")),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{body}");
            assert_eq!(body["url"], format!("http://other-bot.localhost:{port}/"));
            (b_token, b_token_id)
        })
        .await;
    let (b_token, b_token_id) = scoped.unwrap_or_default();
    rows.step("revocation takes effect at once", async {
        let (s, _) = t.api(delete.clone(), &format!("/api/v1/tokens/{b_token_id}"), Some(&admin), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, body) = t.api(get.clone(), "/api/v1/bots", Some(&b_token), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("revoked")), "{body}");
    })
    .await;
    rows.step("the audit log tells the story", async {
        let (_, audit) = t.api(get.clone(), "/api/v1/bots/demo_bot/audit", Some(&admin), None).await;
        let actions: Vec<&str> = audit.as_array().expect("audit").iter().filter_map(|e| e["action"].as_str()).collect();
        assert_eq!(
            actions,
            [
                "deployment.delete",
                "deployment.rollback",
                "deployment.create",
                "deployment.create",
                "app.create",
                "app.create",
                "bot.register"
            ]
        );
        let (_, all) = t.api(get.clone(), "/api/v1/audit", Some(&admin), None).await;
        let all: Vec<&str> = all.as_array().expect("audit").iter().filter_map(|e| e["action"].as_str()).collect();
        assert!(all.contains(&"token.revoke") && all.contains(&"token.create"), "{all:?}");
    })
    .await;
    rows.step("the bot token is stored encrypted", async {
        let secret = TOKEN_A.split(':').nth(1).expect("secret");
        for entry in tmahost_testkit::files_under(t.serve.data_dir.path()) {
            let bytes = std::fs::read(&entry).unwrap_or_default();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "token in plain text in {}",
                entry.display()
            );
        }
    })
    .await;
    rows.step("members are granted and removed", async {
        let members = "/api/v1/bots/demo_bot/members";
        let (s, _) =
            t.api(Method::PUT, &format!("{members}/777"), Some(&admin), Some(json!({ "role": "developer" }))).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, list) = t.api(get.clone(), members, Some(&admin), None).await;
        assert_eq!(
            (s, list[0]["user_id"].as_i64(), list[0]["role"].as_str()),
            (StatusCode::OK, Some(777), Some("developer"))
        );
        let (s, body) =
            t.api(Method::PUT, &format!("{members}/777"), Some(&admin), Some(json!({ "role": "king" }))).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            t.api(delete.clone(), &format!("{members}/777"), Some(&admin), None).await.0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(t.api(delete.clone(), &format!("{members}/777"), Some(&admin), None).await.0, StatusCode::NOT_FOUND);
    })
    .await;
    // Graceful stop, then a restart on the same data: same key, same tokens, no new bootstrap.
    rows.step("a restart keeps key, tokens and apps", async {
        t.serve.restart();
        assert!(t.serve.admin_token.is_none(), "a token exists: no new bootstrap token");
        let port = t.serve.edge.rsplit(':').next().expect("edge port").to_owned();
        // Signed dev links are not printed (output is copied around); how to make one is.
        let hint = t.serve.printed("dev links:", Duration::from_secs(5)).expect("a dev link hint");
        assert!(hint.contains("tmahost dev-link --bot"), "{hint}");
        assert!(!t.serve.output().iter().any(|l| l.contains("tgWebAppData")), "a signed link was printed");
        // The edge of `serve` has the app: gated pages get the gate, public paths are served.
        let host = format!("shop--demo-bot.localhost:{port}");
        let page = t.http.get(format!("{}/", t.serve.edge)).header("host", &host).header("accept", "text/html");
        let page = page.send().await.expect("edge");
        assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
        assert!(page.text().await.expect("gate").contains("/_tma/session"));
        let icon = t.http.get(format!("{}/favicon.ico", t.serve.edge)).header("host", &host).send().await;
        assert_eq!(icon.expect("edge").status(), StatusCode::OK);
        let (s, list) = t.api(get.clone(), deploys, Some(&admin), None).await;
        assert_eq!((s, list.as_array().map(Vec::len)), (StatusCode::OK, Some(1)));
        {
            use std::os::unix::fs::PermissionsExt;
            let mode =
                std::fs::metadata(t.serve.data_dir.path().join("master.key")).expect("master.key").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(t.serve.stop(), Some(0));
    })
    .await;
    rows.finish("tmahost serve");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_embedded_defaults_registers_uploads_rolls_back_and_isolates_tenants() {
    scenario(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_postgresql_does_the_same() {
    let Some(url) = tmahost_testkit::postgres::fresh_database().await else { return };
    scenario(&[("TMAHOST_DATABASE_URL", &url)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_commands_add_a_bot_and_mint_a_scoped_token() {
    let t = TestApp::start(&[]);
    let dir = t.serve.data_dir.path();
    let run = |args: &[&str], stdin: Option<&str>| {
        use std::io::Write;
        let mut cmd = std::process::Command::new(tmahost_testkit::server::binary());
        cmd.args(args)
            .current_dir(dir)
            .env("TMAHOST_DATA_DIR", dir)
            .env("TMAHOST_TELEGRAM_API_URL", "http://127.0.0.1:1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("spawn");
        if let Some(input) = stdin {
            child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write");
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().expect("wait");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    // The token comes on stdin so it never shows in `ps`.
    let (ok, out, err) = run(&["admin", "bot", "add", "--token", "-", "--username", "Cli_Made_Bot"], Some(TOKEN_A));
    assert!(ok, "{err}");
    assert_eq!(out, "registered @Cli_Made_Bot (id 111111111): http://cli-made-bot.localhost:8080/");
    assert!(!err.contains("AAHdq"), "the token must not be logged: {err}");
    let (ok, _, err) = run(&["admin", "bot", "add", "--token", "garbage"], None);
    assert!(!ok && err.contains("bot token looks like"), "{err}");

    let (ok, scoped, err) = run(&["admin", "token", "create", "--scope", "cli-made-bot", "--name", "deployer"], None);
    assert!(ok, "{err}");
    let (ok, _, err) = run(&["admin", "token", "create", "--scope", "no_such_bot"], None);
    assert!(!ok && err.contains("no_such_bot"), "{err}");

    let (s, bots) = t.api(Method::GET, "/api/v1/bots", Some(&scoped), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(bots[0]["username"], "Cli_Made_Bot");
    let (s, body) = t.api(Method::POST, "/api/v1/tokens", Some(&scoped), Some(json!({"name": 5}))).await;
    assert_eq!((s, code(&body)), (StatusCode::BAD_REQUEST, "invalid_json"), "{body}");
    let (s, body) = t.api(Method::GET, "/api/v1/nope", Some(&scoped), None).await;
    assert_eq!((s, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_and_edge_roles_run_alone() {
    // The edge role alone: health for load balancers, and nothing about tenants on unknown hosts.
    let mut edge_role = TestApp::new(Serve::start_role("edge", &[]));
    assert!(edge_role.serve.api.is_empty() && edge_role.serve.admin_token.is_none());
    let r = edge_role.edge("anything.localhost", "/_tma/health").send().await.expect("health");
    assert_eq!((r.status(), r.text().await.expect("text").as_str()), (StatusCode::OK, "ok\n"));
    let (status, _) = edge_role.edge_text("anything.localhost", "/").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(edge_role.serve.stop(), Some(0));

    let mut t = TestApp::new(Serve::start_role("api", &[]));
    assert!(t.serve.admin_token.is_none());
    assert_eq!(t.api(Method::GET, "/readyz", None, None).await.0, StatusCode::OK);
    assert_eq!(t.api(Method::GET, "/api/v1/bots", None, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(t.serve.stop(), Some(0));
}

/// `serve` with a control bot whose Bot API does not answer: everything else serves at once,
/// `/readyz` names the bot as degraded, and SIGTERM still stops the process cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_being_down_holds_up_nothing_else() {
    const CONTROL: &str = tmahost_testkit::CONTROL_TOKEN;
    // Port 9 (discard) on loopback: nothing listens, every getMe fails.
    let serve =
        Serve::start(&[("TMAHOST_CONTROL_BOT_TOKEN", CONTROL), ("TMAHOST_TELEGRAM_API_URL", "http://127.0.0.1:9")]);
    // The banner is out: the API, the dashboard and the edge answer now, not once Telegram does.
    let mut t = TestApp::with_timeout(serve, Duration::from_secs(2));
    assert!(t.serve.printed("control bot: long polling", Duration::from_secs(5)).is_some());
    let admin = t.serve.admin_token.clone().expect("first start prints an admin token");
    let http = &t.http;
    let (s, _) = t.api(Method::GET, "/api/v1/bots", Some(&admin), None).await;
    assert_eq!(s, StatusCode::OK, "the API answers");
    let login = http.get(format!("{}/login", t.serve.api)).send().await.expect("the dashboard answers in 2 s");
    assert!(login.status().is_success(), "{}", login.status());
    let edge = http.get(format!("{}/", t.serve.edge)).header("host", "nobody.localhost").send().await;
    assert_eq!(edge.expect("the edge answers in 2 s").status(), StatusCode::NOT_FOUND);

    // Readiness: serving (200), with the bot named as what is degraded, and why.
    let (s, ready) = t.api(Method::GET, "/readyz", None, None).await;
    assert_eq!(s, StatusCode::OK, "{ready}");
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_eq!(ready["checks"]["database"]["status"], "up");
    assert_eq!(ready["checks"]["object_store"]["status"], "up");
    assert_eq!(ready["checks"]["control_bot"]["status"], "degraded", "{ready}");
    assert!(ready["checks"]["control_bot"]["detail"].as_str().is_some_and(|d| !d.is_empty()), "{ready}");
    assert_eq!(t.serve.stop(), Some(0), "SIGTERM stops serve while the bot is still retrying");
}

/// The bot comes up once Telegram answers, and a token Telegram rejects fails the bot alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_bot_reports_up_or_failed_in_readiness() {
    /// `/readyz` once the control bot is no longer connecting.
    async fn ready_part(t: &TestApp) -> (StatusCode, Value) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let (s, ready) = t.api(Method::GET, "/readyz", None, None).await;
            if ready["checks"]["control_bot"]["status"] != "degraded" {
                return (s, ready);
            }
            assert!(std::time::Instant::now() < deadline, "the bot stayed degraded: {ready}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    const CONTROL: &str = tmahost_testkit::CONTROL_TOKEN;
    let fake = FakeTelegram::start().await;
    fake.add_bot(CONTROL, "tmahost_control_bot");
    let t = TestApp::start(&[("TMAHOST_CONTROL_BOT_TOKEN", CONTROL), ("TMAHOST_TELEGRAM_API_URL", &fake.url)]);
    let (s, ready) = ready_part(&t).await;
    assert_eq!(
        (s, &ready["status"], &ready["checks"]["control_bot"]["status"]),
        (StatusCode::OK, &json!("ready"), &json!("up"))
    );
    drop(t);

    // A token Telegram does not know: the bot gives up, the rest keeps serving.
    let rejected = "666000111:CCHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_";
    let t = TestApp::start(&[("TMAHOST_CONTROL_BOT_TOKEN", rejected), ("TMAHOST_TELEGRAM_API_URL", &fake.url)]);
    let (s, ready) = ready_part(&t).await;
    assert_eq!((s, &ready["status"]), (StatusCode::OK, &json!("degraded")), "{ready}");
    assert_eq!(ready["checks"]["control_bot"]["status"], "failed", "{ready}");
    assert!(ready["checks"]["control_bot"]["detail"].as_str().is_some_and(|d| d.contains("rejected")), "{ready}");
    let admin = t.admin().to_owned();
    assert_eq!(t.api(Method::GET, "/api/v1/bots", Some(&admin), None).await.0, StatusCode::OK);
}
