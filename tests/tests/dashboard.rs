//! End to end: the dashboard of the real `tmahost serve`, driven over HTTP like a browser
//! without JavaScript: one-time login links, the session cookie, CSRF on forms, and the same
//! tenant isolation as the API.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tmahost_testkit::app::TestApp;
use tmahost_testkit::bundles;
use tmahost_testkit::web::{Browser, csrf_of, log_in, multipart};

const TOKEN_A: &str = tmahost_testkit::TOKEN_A;
const TOKEN_B: &str = tmahost_testkit::TOKEN_B;
const DEV: i64 = 4242;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_logs_in_with_a_one_time_link_and_rolls_back_with_a_form() {
    let mut t = TestApp::start(&[("TMAHOST_ADMIN_IDS", "1001")]);
    let admin = t.admin().to_owned();
    let http = t.http.clone();
    for (token, name) in [(TOKEN_A, "Demo_Bot"), (TOKEN_B, "Other_Bot")] {
        t.register(token, Some(name)).await;
    }
    for v in ["v1", "v2"] {
        let (status, _) = t.deploy(&admin, "demo-bot", "main", "", bundles::zip(&bundles::sample_app(v))).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let path = format!("/bots/demo-bot/members/{DEV}");
    t.api_ok(&admin, reqwest::Method::PUT, &format!("/api/v1{path}"), json!({ "role": "developer" })).await;

    let mut browser = Browser { http: http.clone(), base: t.serve.api.clone(), cookie: None };

    // Without a session every page, and every form post, leads to the login page.
    let page = browser.get("/").await;
    assert_eq!((page.status, page.location.as_str()), (StatusCode::SEE_OTHER, "/login"));
    let post = browser.post("/bots/demo-bot/apps/main/deployments/1/activate", &[("csrf", "0000")]).await;
    assert_eq!((post.status, post.location.as_str()), (StatusCode::SEE_OTHER, "/login"));
    let login = browser.get("/login").await;
    assert!(login.body.contains("/login</code>"), "explains how to get a link");

    // The first start printed a login link for the first admin.
    let printed =
        t.serve.printed("dashboard login for admin 1001", std::time::Duration::from_secs(5)).expect("printed");
    let admin_code = printed.rsplit('/').next().expect("code").to_owned();
    assert_eq!(browser.get(&format!("/login/{admin_code}")).await.status, StatusCode::OK);

    // Strangers get no link; members do.
    let out = t.serve.cli(&["admin", "login-link", "--user-id", "777"], &[]);
    assert!(!out.status.success(), "a stranger gets no login link");
    let out = t.serve.cli(&["admin", "login-link", "--user-id", &DEV.to_string()], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let link = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let code = link.rsplit('/').next().expect("code").to_owned();

    // Opening the link (as a link preview would) does not use it; the button does, once.
    for _ in 0..2 {
        let confirm = browser.get(&format!("/login/{code}")).await;
        assert_eq!(confirm.status, StatusCode::OK);
        assert!(confirm.body.contains(&format!("action=\"/login/{code}\"")));
    }
    // A login form posted from another site (login CSRF: signing the victim's browser into
    // the attacker's account) is refused, and the link stays usable.
    for (name, value) in [("origin", "https://evil.example"), ("sec-fetch-site", "cross-site")] {
        let forged =
            browser.send(browser.http.post(format!("{}/login/{code}", browser.base)).header(name, value)).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "{name}: {value}");
        assert!(forged.set_cookie.is_empty());
    }
    let own_origin = browser.base.clone();
    let done =
        browser.send(browser.http.post(format!("{}/login/{code}", browser.base)).header("origin", own_origin)).await;
    assert_eq!((done.status, done.location.as_str()), (StatusCode::SEE_OTHER, "/"));
    // The code never reaches the logs: the access log names the route, not the path.
    assert!(!t.serve.output().iter().any(|l| l.contains(&code)), "the login code was logged");
    let cookie = done.set_cookie.clone();
    assert!(cookie.starts_with("__Host-tmahost_dashboard="), "{cookie}");
    for attr in ["Path=/", "Secure", "HttpOnly", "SameSite=Strict", "Max-Age=43200"] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    let again = browser.post(&format!("/login/{code}"), &[]).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED, "a login link works once");
    assert!(again.body.contains("already used"));
    assert_eq!(browser.get(&format!("/login/{code}")).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(browser.post("/login/not-a-real-code", &[]).await.status, StatusCode::UNAUTHORIZED);
    browser.cookie = Some(cookie.split(';').next().expect("pair").to_owned());

    // The member's bots only, with a strict CSP.
    let home = browser.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("@Demo_Bot") && !home.body.contains("@Other_Bot"), "{}", home.body);
    assert!(home.csp.contains("frame-ancestors 'none'") && home.csp.contains("script-src 'self'"), "{}", home.csp);
    assert!(!home.csp.contains("unsafe-inline"));
    let other = browser.get("/bots/other-bot").await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "another bot is not there for this member");
    assert!(other.body.contains("Not found") && other.body.contains("<html"), "errors are pages");
    assert_eq!(browser.get("/bots/other-bot/apps/main").await.status, StatusCode::NOT_FOUND);
    let bot = browser.get("/bots/demo-bot").await;
    assert!(bot.body.contains("v2") && bot.body.contains(&DEV.to_string()), "apps and members");

    // Roll back with the form: refused without the CSRF token, done with it.
    let app = browser.get("/bots/demo-bot/apps/main").await;
    assert!(app.body.contains("Roll back to v1"), "{}", app.body);
    assert!(app.body.contains("href=\"/bots/demo-bot/apps/main/emulator\""), "the emulator is offered");
    let csrf = csrf_of(&app.body);
    let action = "/bots/demo-bot/apps/main/deployments/1/activate";
    for form in [vec![], vec![("csrf", "0000")]] {
        let refused = browser.post(action, &form).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{form:?}");
    }
    let active = |list: &Value| {
        list.as_array().and_then(|l| l.iter().find(|d| d["status"] == "active")).map(|d| d["version"].clone())
    };
    let path = "/bots/demo-bot/apps/main/deployments";
    assert_eq!(
        active(&t.api_ok(&admin, reqwest::Method::GET, &format!("/api/v1{path}"), Value::Null).await),
        Some(json!(2))
    );
    let done = browser.post(action, &[("csrf", &csrf)]).await;
    assert_eq!((done.status, done.location.as_str()), (StatusCode::SEE_OTHER, "/bots/demo-bot/apps/main?activated=1"));
    assert!(browser.get(&done.location).await.body.contains("v1 is now the active deployment."));
    assert_eq!(
        active(&t.api_ok(&admin, reqwest::Method::GET, &format!("/api/v1{path}"), Value::Null).await),
        Some(json!(1))
    );
    let cross = browser.post("/bots/other-bot/apps/main/deployments/1/activate", &[("csrf", &csrf)]).await;
    assert_eq!(cross.status, StatusCode::NOT_FOUND, "a valid form cannot reach another bot");

    // Pin v2 (retention keeps it) and unpin it, with the form; not without the token, not on
    // another bot.
    let pin = "/bots/demo-bot/apps/main/deployments/2/pin";
    assert!(browser.get("/bots/demo-bot/apps/main").await.body.contains("Pin v2"));
    assert_eq!(browser.post(pin, &[("pinned", "1")]).await.status, StatusCode::FORBIDDEN);
    let done = browser.post(pin, &[("csrf", &csrf), ("pinned", "1")]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let page = browser.get("/bots/demo-bot/apps/main").await.body;
    assert!(page.contains("Unpin v2") && page.contains(">pinned<"), "{page}");
    let pinned =
        |list: &Value| list.as_array().into_iter().flatten().find(|d| d["version"] == 2).map(|d| d["pinned"].clone());
    assert_eq!(
        pinned(&t.api_ok(&admin, reqwest::Method::GET, &format!("/api/v1{path}"), Value::Null).await),
        Some(json!(true))
    );
    assert_eq!(browser.post(pin, &[("csrf", &csrf)]).await.status, StatusCode::SEE_OTHER);
    assert_eq!(
        pinned(&t.api_ok(&admin, reqwest::Method::GET, &format!("/api/v1{path}"), Value::Null).await),
        Some(json!(false))
    );
    let cross = browser.post("/bots/other-bot/apps/main/deployments/1/pin", &[("csrf", &csrf), ("pinned", "1")]).await;
    assert_eq!(cross.status, StatusCode::NOT_FOUND, "a valid form cannot pin another bot's deployment");

    // The Telegram emulator: a page that may frame this app's origin and nothing else, with
    // launch data signed for the form's user; names from the form are text, never markup.
    let emulator =
        "/bots/demo-bot/apps/main/emulator?user_id=77&first_name=%3Cb%3EEve%3C%2Fb%3E&platform=ios&theme=dark";
    let emu = browser.get(emulator).await;
    assert_eq!(emu.status, StatusCode::OK, "{}", emu.body);
    let origin = format!("http://{}", t.host("demo-bot"));
    assert!(emu.csp.contains(&format!("frame-src {origin};")), "{}", emu.csp);
    assert!(emu.csp.contains("frame-ancestors 'none'") && !emu.csp.contains("unsafe-inline"), "{}", emu.csp);
    assert!(emu.body.contains("tgWebAppPlatform=ios") && emu.body.contains("data-user=\"77\""), "{}", emu.body);
    assert!(!emu.body.contains("<b>Eve") && emu.body.contains("&lt;b&gt;Eve"), "escaped");
    assert_eq!(browser.get("/bots/other-bot/apps/main/emulator").await.status, StatusCode::NOT_FOUND);
    let bad = browser.get("/bots/demo-bot/apps/main/emulator?platform=web").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(bad.body.contains("platform is one of"), "{}", bad.body);

    // A CSRF token from another session does not work here.
    let out = t.serve.cli(&["admin", "login-link", "--user-id", &DEV.to_string()], &[]);
    let code2 = String::from_utf8_lossy(&out.stdout).trim().rsplit('/').next().expect("code").to_owned();
    let second = Browser { http: http.clone(), base: t.serve.api.clone(), cookie: None };
    let login2 = second.post(&format!("/login/{code2}"), &[]).await;
    let second = Browser { cookie: Some(login2.set_cookie.split(';').next().expect("pair").to_owned()), ..second };
    assert_eq!(
        second.post("/bots/demo-bot/apps/main/deployments/2/activate", &[("csrf", &csrf)]).await.status,
        StatusCode::FORBIDDEN
    );

    // Logging out clears the cookie.
    let out = browser.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!((out.status, out.location.as_str()), (StatusCode::SEE_OTHER, "/login"));
    assert!(out.set_cookie.contains("Max-Age=0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_uploads_changes_settings_and_manages_tokens_and_members() {
    const OWNER: i64 = 5151;
    let t = TestApp::start(&[("TMAHOST_ADMIN_IDS", "1001")]);
    let admin = t.admin().to_owned();
    let http = t.http.clone();
    t.register(TOKEN_A, Some("Demo_Bot")).await;
    let path = format!("/bots/demo-bot/members/{OWNER}");
    t.api_ok(&admin, reqwest::Method::PUT, &format!("/api/v1{path}"), json!({ "role": "owner" })).await;
    let owner = log_in(&t.serve, &http, OWNER).await;
    let app = owner.get("/bots/demo-bot/apps/main").await;
    assert!(app.body.contains("Nothing deployed yet"), "empty state says what to do");
    assert!(app.body.contains("<svg class=\"chart\"") && app.body.contains("0 requests in all"), "traffic chart");
    let csrf = csrf_of(&app.body);

    // Upload by the form: fields first, then the archive.
    let upload = |fields: Vec<(&'static str, String)>, file: Vec<u8>, accept: &'static str| {
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (ct, body) = multipart(&pairs, &file);
        let req = owner
            .http
            .post(format!("{}/bots/demo-bot/apps/main/upload", owner.base))
            .header("content-type", ct)
            .header("accept", accept)
            .body(body);
        owner.send(req)
    };
    let site = bundles::zip(&bundles::sample_app("v1"));
    let no_csrf = upload(vec![("message", "x".into())], site.clone(), "text/html").await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
    let done = upload(vec![("csrf", csrf.clone()), ("message", "first".into())], site.clone(), "text/html").await;
    assert_eq!((done.status, done.location.as_str()), (StatusCode::SEE_OTHER, "/bots/demo-bot/apps/main?deployed=1"));
    let page = owner.get(&done.location).await;
    assert!(page.body.contains("v1 is uploaded and live.") && page.body.contains("active"), "{}", page.body);
    // The page's script asks for JSON: a staged upload, and a broken one with its reason.
    let staged = upload(
        vec![("csrf", csrf.clone()), ("stage", "1".into())],
        bundles::zip(&bundles::sample_app("v2")),
        "application/json",
    )
    .await;
    assert_eq!(staged.status, StatusCode::CREATED, "{}", staged.body);
    let staged: Value = serde_json::from_str(&staged.body).expect("json");
    assert_eq!(
        (staged["status"].as_str(), staged["location"].as_str()),
        (Some("ready"), Some("/bots/demo-bot/apps/main?staged=2"))
    );
    let broken = upload(vec![("csrf", csrf.clone())], b"not an archive".to_vec(), "application/json").await;
    assert!(broken.status.is_client_error(), "{}", broken.status);
    let broken: Value = serde_json::from_str(&broken.body).expect("json error");
    assert!(!broken["error"]["message"].as_str().unwrap_or_default().is_empty(), "{broken}");

    // "Open as test user": a dev link for the app, and one for a staged deployment's preview.
    let link = owner.post("/bots/demo-bot/apps/main/dev-link", &[("csrf", &csrf)]).await;
    assert_eq!(link.status, StatusCode::SEE_OTHER);
    assert!(
        link.location.contains("demo-bot.localhost") && link.location.contains("#tgWebAppData="),
        "{}",
        link.location
    );
    let preview = owner.post("/bots/demo-bot/apps/main/dev-link", &[("csrf", &csrf), ("deployment", "v2")]).await;
    assert!(preview.location.contains("--main--demo-bot.localhost"), "{}", preview.location);
    assert_eq!(owner.post("/bots/demo-bot/apps/main/dev-link", &[]).await.status, StatusCode::FORBIDDEN);

    // Settings: a bad value is explained on the page; a good one reaches the edge.
    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("access", "public"),
        ("public_paths", "/favicon.ico"),
        ("allowed_user_ids", ""),
        ("spa_fallback", "1"),
        ("session_ttl_secs", "5"),
        ("max_init_data_age_secs", "3600"),
        ("skew_protection_deployments", "3"),
        ("custom_domain", ""),
    ];
    let bad = owner.post("/bots/demo-bot/apps/main/settings", &form).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("session_ttl_secs must be between 60"), "{}", bad.body);
    let host = t.host("demo-bot");
    let edge = || t.edge(&host, "/").send();
    assert_eq!(edge().await.expect("edge").status(), StatusCode::UNAUTHORIZED, "gated before");
    form[5] = ("session_ttl_secs", "86400");
    let saved = owner.post("/bots/demo-bot/apps/main/settings", &form).await;
    assert_eq!((saved.status, saved.location.as_str()), (StatusCode::SEE_OTHER, "/bots/demo-bot/apps/main?saved=1"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while edge().await.expect("edge").status() != StatusCode::OK {
        assert!(std::time::Instant::now() < deadline, "the edge serves the now public app");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // Backends, one per line: a line without an upstream or with an unknown option is
    // explained; a good one is saved and shown again as written.
    for (line, problem) in
        [("/api/", "write a prefix and an upstream"), ("/api/ https://93.184.216.34 fast", "unknown option `fast`")]
    {
        let mut with = form.clone();
        with.push(("backends", line));
        let refused = owner.post("/bots/demo-bot/apps/main/settings", &with).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{line}");
        assert!(
            refused.body.contains(&problem.replace('`', "&#96;")) || refused.body.contains(problem),
            "{}",
            refused.body
        );
    }
    let mut with = form.clone();
    with.push(("backends", "/api/ https://93.184.216.34/v1 strip"));
    let saved = owner.post("/bots/demo-bot/apps/main/settings", &with).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let page = owner.get("/bots/demo-bot/apps/main").await;
    assert!(page.body.contains(">/api/ https://93.184.216.34/v1 strip</textarea>"), "{}", page.body);

    // The TON Connect manifest: an SVG icon is explained; a PNG one is saved and shown again.
    let mut with = form.clone();
    with.extend([("ton_name", "Shop"), ("ton_icon_url", "/icon.svg")]);
    let refused = owner.post("/bots/demo-bot/apps/main/settings", &with).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    assert!(refused.body.contains("PNG or ICO"), "{}", refused.body);
    let mut with = form.clone();
    with.extend([("ton_name", "Shop"), ("ton_icon_url", "/icon.png"), ("ton_replace_bundled", "1")]);
    let saved = owner.post("/bots/demo-bot/apps/main/settings", &with).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let (_, app) = t.api(reqwest::Method::GET, "/api/v1/bots/demo_bot/apps/main", Some(t.admin()), None).await;
    assert_eq!(
        app["settings"]["ton_connect"],
        json!({ "name": "Shop", "icon_url": "/icon.png", "replace_bundled": true }),
        "{app}"
    );
    let page = owner.get("/bots/demo-bot/apps/main").await;
    assert!(page.body.contains(r#"name="ton_icon_url" value="/icon.png""#), "{}", page.body);

    // Tokens: created and shown once, usable, then revoked.
    let created =
        owner.post("/tokens", &[("csrf", &csrf), ("name", "ci"), ("bot", "111111111"), ("ttl_days", "30")]).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let at = created.body.find("<pre><code>").expect("the token") + "<pre><code>".len();
    let jwt = created.body[at..].split('<').next().expect("jwt").to_owned();
    let list = owner.get("/tokens").await;
    assert!(list.body.contains(">ci<") && !list.body.contains(&jwt), "listed, never shown again");
    let api_url = t.serve.api.clone();
    let apps = |token: String| http.get(format!("{api_url}/api/v1/bots/demo-bot/apps")).bearer_auth(token).send();
    assert_eq!(apps(jwt.clone()).await.expect("api").status(), StatusCode::OK);
    let id_at = list.body.find("action=\"/tokens/").expect("revoke form") + "action=\"/tokens/".len();
    let id = list.body[id_at..].split('/').next().expect("id").to_owned();
    let revoked = owner.post(&format!("/tokens/{id}/revoke"), &[("csrf", &csrf)]).await;
    assert_eq!((revoked.status, revoked.location.as_str()), (StatusCode::SEE_OTHER, "/tokens"));
    assert_eq!(apps(jwt).await.expect("api").status(), StatusCode::UNAUTHORIZED);

    // Members: grant a developer, who cannot see tokens or change settings.
    let granted =
        owner.post("/bots/demo-bot/members", &[("csrf", &csrf), ("user_id", "4242"), ("role", "developer")]).await;
    assert_eq!(granted.status, StatusCode::SEE_OTHER);
    assert!(owner.get("/bots/demo-bot").await.body.contains("4242"));
    let dev = log_in(&t.serve, &http, DEV).await;
    let dev_csrf = csrf_of(&dev.get("/bots/demo-bot/apps/main").await.body);
    assert!(!dev.get("/bots/demo-bot/apps/main").await.body.contains("Save settings"));
    assert!(!dev.get("/tokens").await.body.contains(">ci<"), "developers do not see tokens");
    let refused =
        dev.post("/bots/demo-bot/apps/main/settings", &[("csrf", &dev_csrf), ("session_ttl_secs", "60")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // The audit log shows all of it, attributed.
    let audit = owner.get("/bots/demo-bot/audit").await;
    for action in ["deployment.create", "app.update", "member.grant"] {
        assert!(audit.body.contains(action), "{action}");
    }
    assert!(audit.body.contains("Telegram user 5151"));
    let removed = owner.post("/bots/demo-bot/members/4242/revoke", &[("csrf", &csrf)]).await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    assert_eq!(dev.get("/bots/demo-bot").await.status, StatusCode::NOT_FOUND, "revoked at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_widget_signs_in_admins_and_members_only() {
    const CONTROL: &str = tmahost_testkit::CONTROL_TOKEN;
    let tg = tmahost_testkit::fake_telegram::FakeTelegram::start().await;
    tg.add_bot(CONTROL, "tmahost_control_bot");
    let t = TestApp::start(&[
        ("TMAHOST_ADMIN_IDS", "1001"),
        ("TMAHOST_CONTROL_BOT_TOKEN", CONTROL),
        ("TMAHOST_TELEGRAM_API_URL", tg.url.as_str()),
        ("TMAHOST_PUBLIC_API_URL", "https://admin.example.com"),
    ]);
    let http = t.http.clone();
    let browser = Browser { http: http.clone(), base: t.serve.api.clone(), cookie: None };

    // The login page embeds the control bot's widget, and its CSP lets exactly that in.
    let login = browser.get("/login").await;
    assert!(login.body.contains("data-telegram-login=\"tmahost_control_bot\""), "{}", login.body);
    assert!(login.body.contains("data-auth-url=\"https://admin.example.com/login/telegram\""));
    assert!(
        login.csp.contains("script-src 'self' https://telegram.org")
            && login.csp.contains("frame-src https://oauth.telegram.org")
    );
    assert!(!browser.get("/").await.csp.contains("telegram.org"), "other pages stay strict");

    let token = tmahost_types::BotToken::parse(CONTROL).expect("token");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs().to_string();
    let callback = |user: &str, auth_date: &str, tamper: bool| {
        let fields = [("auth_date", auth_date), ("first_name", "Ann"), ("id", user), ("username", "ann")];
        let hash = tmahost_types::login_widget::sign(&fields, &token);
        let user = if tamper { "1" } else { user };
        format!("/login/telegram?id={user}&first_name=Ann&username=ann&auth_date={auth_date}&hash={hash}")
    };
    let ok = browser.get(&callback("1001", &now, false)).await;
    assert_eq!((ok.status, ok.location.as_str()), (StatusCode::SEE_OTHER, "/"));
    assert!(ok.set_cookie.starts_with("__Host-tmahost_dashboard="));
    // The same widget payload again (from history, a log, a proxy): refused.
    let replay = browser.get(&callback("1001", &now, false)).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED, "a Login Widget payload signs in once");
    assert!(replay.body.contains("used already") && replay.set_cookie.is_empty(), "{}", replay.body);
    let signed_in = Browser { cookie: Some(ok.set_cookie.split(';').next().expect("pair").to_owned()), ..browser };
    assert!(signed_in.get("/").await.body.contains("Telegram user 1001 · admin"));

    let stranger = signed_in.get(&callback("777", &now, false)).await;
    assert_eq!(stranger.status, StatusCode::FORBIDDEN, "a valid login of a stranger opens nothing");
    assert!(stranger.set_cookie.is_empty());
    let tampered = signed_in.get(&callback("1001", &now, true)).await;
    assert_eq!(tampered.status, StatusCode::UNAUTHORIZED);
    let old = signed_in.get(&callback("1001", "1700000000", false)).await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    assert!(old.body.contains("too old"), "{}", old.body);
}
