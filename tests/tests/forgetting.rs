//! Forgetting on request, end to end on the real binary: deleting an app or a bot removes what
//! is stored about it (its hosts answer 404, its domain claim and tokens go, its contents are
//! collected unless another bot names them, the Telegram side is reset, the audit log keeps its
//! history), and erasing a Telegram user removes their memberships, analytics and allow-list
//! entries, voids their sessions, and leaves only a pseudonym in the audit log.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tmahost_testkit::app::TestApp;
use tmahost_testkit::fake_telegram::FakeTelegram;
use tmahost_testkit::web::log_in;
use tmahost_testkit::{TOKEN_A, TOKEN_B, bundles, launch_data};

const ADMIN_USER: i64 = 1;
const DEVELOPER: i64 = 700;
/// The user whose data is erased.
const ALICE: i64 = 987_654_321;

fn shared() -> Vec<u8> {
    b"/* shared by both bots */ export const shared = 1;\n".repeat(50)
}

fn only_shop() -> Vec<u8> {
    b"/* only in demo-bot's shop */ export const shop = 2;\n".repeat(50)
}

async fn token_for(t: &TestApp, name: &str, scope: Value) -> (String, String) {
    let body = json!({ "name": name, "scope": scope });
    let (s, created) = t.api(Method::POST, "/api/v1/tokens", Some(t.admin()), Some(body)).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    (created["token"].as_str().expect("token").to_owned(), created["id"].as_str().expect("id").to_owned())
}

/// Waits until the edge answers `status` for `host` (the change reaches it a moment after the
/// API answered).
async fn edge_answers(t: &TestApp, host: &str, status: StatusCode) {
    t.wait_for_edge(Duration::from_secs(10), || t.edge(host, "/"), status, "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_app_then_its_bot_forgets_them_and_frees_only_their_own_contents() {
    let tg = FakeTelegram::start().await;
    tg.add_bot(TOKEN_A, "Demo_Bot");
    tg.add_bot(TOKEN_B, "Other_Bot");
    let t = TestApp::start(&[
        ("TMAHOST_TELEGRAM_API_URL", tg.url.as_str()),
        ("TMAHOST_GC_GRACE_SECS", "0"),
        ("TMAHOST_GC_EVERY_SECS", "0"),
    ]);
    let admin = t.admin().to_owned();
    let demo = t.register(TOKEN_A, None).await;
    t.register(TOKEN_B, None).await;
    let demo_id = demo["id"].as_i64().expect("id");
    let (s, body) =
        t.api(Method::POST, "/api/v1/bots/demo_bot/apps", Some(&admin), Some(json!({ "slug": "shop" }))).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    t.settings("demo_bot", "shop", json!({ "access": "public", "custom_domain": "shop.example.com" })).await;
    t.settings("other_bot", "main", json!({ "access": "public" })).await;
    let shop_files = vec![
        ("index.html".to_owned(), b"<p>shop</p>".to_vec()),
        ("shared.js".to_owned(), shared()),
        ("shop.js".to_owned(), only_shop()),
    ];
    let other_files = vec![("index.html".to_owned(), b"<p>other</p>".to_vec()), ("shared.js".to_owned(), shared())];
    for (bot, app, files) in [("demo_bot", "shop", &shop_files), ("other_bot", "main", &other_files)] {
        let (s, body) = t.deploy(&admin, bot, app, "", bundles::zip(files)).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
    }
    let (s, body) = t
        .api(
            Method::PUT,
            &format!("/api/v1/bots/demo_bot/members/{DEVELOPER}"),
            Some(&admin),
            Some(json!({ "role": "developer" })),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    let (only_demo, only_demo_id) = token_for(&t, "ci for demo", json!({ "bots": [demo_id] })).await;
    let (both, _) = token_for(&t, "ci for both", json!({ "bots": [demo_id, 222222222] })).await;
    let (other_only, _) = token_for(&t, "ci for other", json!({ "bots": [222222222] })).await;
    let shop = t.host("shop--demo-bot");
    edge_answers(&t, &shop, StatusCode::OK).await;

    // Another tenant's token: as if the app did not exist. The main app goes only with its bot.
    let (s, _) = t.api(Method::DELETE, "/api/v1/bots/demo_bot/apps/shop", Some(&other_only), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, body) = t.api(Method::DELETE, "/api/v1/bots/demo_bot/apps/main", Some(&admin), None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");

    // `tmahost delete-app` wants the slug typed: a wrong one deletes nothing.
    let client = [("TMAHOST_SERVER", t.serve.api.as_str()), ("TMAHOST_TOKEN", only_demo.as_str())];
    let out = t.serve.cli(&["delete-app", "--bot", "demo_bot", "--app", "shop", "--confirm", "shoo"], &client);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was deleted"));
    edge_answers(&t, &shop, StatusCode::OK).await;
    let out = t.serve.cli(&["delete-app", "--bot", "demo_bot", "--app", "shop", "--confirm", "shop"], &client);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Its host is gone, its deployments unknown.
    edge_answers(&t, &shop, StatusCode::NOT_FOUND).await;
    let (s, _) = t.api(Method::GET, "/api/v1/bots/demo_bot/apps/shop", Some(&admin), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The next collection frees what only the shop named; the other bot still serves the rest.
    let out = t.serve.cli(&["gc"], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let freed = String::from_utf8_lossy(&out.stdout).into_owned();
    let sha = |b: &[u8]| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b));
    assert!(freed.contains(&sha(&only_shop())), "{freed}");
    assert!(!freed.contains(&sha(&shared())), "{freed}");
    let other = t.host("other-bot");
    for (path, want) in &other_files {
        let res = t.edge(&other, &format!("/{path}")).send().await.expect("edge");
        assert_eq!(res.status(), StatusCode::OK, "/{path}");
        assert_eq!(res.bytes().await.expect("body").as_ref(), want.as_slice(), "/{path}");
    }

    // The bot: a developer may not delete it; its owner (here the admin) may.
    let menu_resets = || {
        tg.calls_to("setChatMenuButton")
            .iter()
            .filter(|c| c.token == TOKEN_A && c.body["menu_button"]["type"] == "default")
            .count()
    };
    assert_eq!(menu_resets(), 0);
    let (s, removal) = t.api(Method::DELETE, "/api/v1/bots/demo_bot", Some(&admin), None).await;
    assert_eq!(s, StatusCode::OK, "{removal}");
    assert_eq!(removal["revoked_tokens"], json!([only_demo_id]), "{removal}");
    assert_eq!(removal["warnings"], json!([]));
    assert_eq!(menu_resets(), 1, "the menu button registration set is reset");
    edge_answers(&t, &t.host("demo-bot"), StatusCode::NOT_FOUND).await;
    let (s, _) = t.api(Method::GET, "/api/v1/bots/demo_bot", Some(&admin), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Its tokens: the one for it alone is revoked; a wider one keeps its other bots only.
    let (s, _) = t.api(Method::GET, "/api/v1/bots", Some(&only_demo), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, bots) = t.api(Method::GET, "/api/v1/bots", Some(&both), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(bots.as_array().expect("bots").len(), 1, "{bots}");
    // Registered anew, the bot starts empty: no member, no app but `main`, no old token.
    t.register(TOKEN_A, None).await;
    let (s, members) = t.api(Method::GET, "/api/v1/bots/demo_bot/members", Some(&admin), None).await;
    assert_eq!((s, members), (StatusCode::OK, json!([])));
    let (_, apps) = t.api(Method::GET, "/api/v1/bots/demo_bot/apps", Some(&admin), None).await;
    assert_eq!(apps.as_array().expect("apps").len(), 1, "{apps}");
    let (s, _) = t.api(Method::GET, "/api/v1/bots/demo_bot", Some(&both), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "the wider token no longer names the bot");

    // The audit log keeps the history, and holds no secret.
    let (_, audit) = t.api(Method::GET, "/api/v1/audit?limit=200", Some(&admin), None).await;
    let text = audit.to_string();
    for action in ["app.delete", "bot.delete", "app.create", "member.grant"] {
        assert!(text.contains(action), "{action} in {text:.400}");
    }
    assert!(!text.contains(TOKEN_A) && !text.contains(&only_demo), "the audit log holds no token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_bot_from_the_dashboard_needs_its_name_typed() {
    let tg = FakeTelegram::start().await;
    tg.add_bot(TOKEN_A, "Demo_Bot");
    let t = TestApp::start(&[("TMAHOST_TELEGRAM_API_URL", tg.url.as_str()), ("TMAHOST_ADMIN_IDS", "1")]);
    t.register(TOKEN_A, None).await;
    let b = log_in(&t.serve, &t.http, ADMIN_USER).await;
    // Without the typed username, nothing happens.
    let page = b.get("/bots/demo-bot").await;
    let csrf = tmahost_testkit::web::csrf_of(&page.body);
    let refused = b.post("/bots/demo-bot/delete", &[("csrf", &csrf), ("confirm", "demo")]).await;
    assert!(refused.body.contains("nothing was deleted"), "{}", refused.body);
    // Still there: gated, nothing deployed.
    edge_answers(&t, &t.host("demo-bot"), StatusCode::UNAUTHORIZED).await;
    let done = b.post("/bots/demo-bot/delete", &[("csrf", &csrf), ("confirm", "Demo_Bot")]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let list = b.get("/?deleted=Demo_Bot").await;
    assert!(list.body.contains("@Demo_Bot and its apps are deleted"), "{}", list.body);
    edge_answers(&t, &t.host("demo-bot"), StatusCode::NOT_FOUND).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasing_a_user_forgets_them_and_voids_their_sessions() {
    let t = TestApp::start(&[("TMAHOST_ADMIN_IDS", "1")]);
    let admin = t.admin().to_owned();
    t.register(TOKEN_A, Some("Demo_Bot")).await;
    t.register(TOKEN_B, Some("Other_Bot")).await;
    let (s, _) = t
        .api(
            Method::PUT,
            &format!("/api/v1/bots/demo_bot/members/{ALICE}"),
            Some(&admin),
            Some(json!({ "role": "developer" })),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // On another app's allow-list (her session below is on an app open to everyone, so only
    // the erasure can end it).
    t.settings("other_bot", "main", json!({ "allowed_user_ids": [7, ALICE] })).await;
    let (s, body) = t.deploy(&admin, "demo_bot", "main", "", bundles::zip(&bundles::sample_app("v1"))).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");

    // Alice deploys (as a member, by a dev link the audit log records) and opens the app.
    let (s, _) = t
        .api(
            Method::POST,
            "/api/v1/bots/demo_bot/apps/main/dev-links",
            Some(&admin),
            Some(json!({ "user": { "id": ALICE, "first_name": "A" } })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let host = t.host("demo-bot");
    let launch = launch_data(TOKEN_A, &format!(r#"{{"id":{ALICE},"first_name":"Alice"}}"#));
    let res = t.http.post(format!("{}/_tma/session", t.serve.edge)).header("host", &host);
    let res = res.json(&json!({ "init_data": launch })).send().await.expect("session");
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = res.headers()["set-cookie"].to_str().expect("cookie").split(';').next().expect("pair").to_owned();
    let me = || t.edge(&host, "/_tma/me").header("cookie", &cookie);
    assert_eq!(me().send().await.expect("me").status(), StatusCode::OK);
    // Her visit reaches the analytics (edges write them every few seconds).
    let b = log_in(&t.serve, &t.http, ADMIN_USER).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !b.get("/bots/demo-bot/apps/main").await.body.contains("1 distinct users today") {
        assert!(Instant::now() < deadline, "the edge never wrote Alice's visit");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A non-admin cannot erase anyone.
    let (bot_token, _) = token_for(&t, "owner", json!({ "bots": [111111111] })).await;
    let (s, _) = t.api(Method::POST, &format!("/api/v1/users/{ALICE}/erase"), Some(&bot_token), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let out = t.serve.cli(&["users", "erase", "--user-id", &ALICE.to_string()], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("1 memberships, 1 analytics rows"), "{said}");
    assert!(said.contains("1 allow-list entries"), "{said}");

    // Her session is refused on the edge, and she is gone from members and the allow-list.
    t.wait_for_edge(Duration::from_secs(10), me, StatusCode::UNAUTHORIZED, "").await;
    let (_, members) = t.api(Method::GET, "/api/v1/bots/demo_bot/members", Some(&admin), None).await;
    assert_eq!(members, json!([]));
    let (_, app) = t.api(Method::GET, "/api/v1/bots/other_bot/apps/main", Some(&admin), None).await;
    assert_eq!(app["settings"]["allowed_user_ids"], json!([7]));
    // The audit log keeps its events, naming a pseudonym: her id is nowhere in it.
    let (_, audit) = t.api(Method::GET, "/api/v1/audit?limit=200", Some(&admin), None).await;
    let text = audit.to_string();
    assert!(
        text.contains("member.grant") && text.contains("devlink.create") && text.contains("user.erase"),
        "{text:.300}"
    );
    assert!(!mentions(&audit, ALICE), "{text}");
    assert!(text.contains("erased:"), "{text:.300}");
    // The admin API says the same for a second erasure: nothing left to remove.
    let (s, again) = t.api(Method::POST, &format!("/api/v1/users/{ALICE}/erase"), Some(&admin), None).await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!((again["memberships"].clone(), again["analytics_rows"].clone()), (json!(0), json!(0)));
}

/// Whether `v` holds Telegram user `id`: as a number, or as the label `tg:{id}`.
fn mentions(v: &Value, id: i64) -> bool {
    match v {
        Value::Number(n) => n.as_i64() == Some(id),
        Value::String(s) => s == &format!("tg:{id}") || s == &id.to_string(),
        Value::Array(items) => items.iter().any(|i| mentions(i, id)),
        Value::Object(map) => map.values().any(|i| mentions(i, id)),
        _ => false,
    }
}
