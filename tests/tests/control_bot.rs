//! End to end: the control bot of the real `tmahost` binary, talking to a fake Bot API that
//! feeds it scripted updates and records every call it makes.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tmahost_testkit::app::TestApp;
use tmahost_testkit::bundles;
use tmahost_testkit::fake_telegram::{Call, FakeTelegram};
use tmahost_testkit::server::Serve;

const CONTROL: &str = tmahost_testkit::CONTROL_TOKEN;
const TENANT: &str = tmahost_testkit::TOKEN_A;
const ADMIN: i64 = 1001;
const DEV: i64 = 4242;
const STRANGER: i64 = 9999;
const WAIT: Duration = Duration::from_secs(15);

struct World {
    tg: FakeTelegram,
    app: TestApp,
}

impl World {
    async fn start(role: &str, extra: &[(&str, &str)]) -> Self {
        let tg = FakeTelegram::start().await;
        tg.add_bot(CONTROL, "tmahost_control_bot");
        tg.add_bot(TENANT, "Demo_Bot");
        let admins = ADMIN.to_string();
        let mut env = vec![
            ("TMAHOST_CONTROL_BOT_TOKEN", CONTROL),
            ("TMAHOST_ADMIN_IDS", admins.as_str()),
            ("TMAHOST_TELEGRAM_API_URL", tg.url.as_str()),
        ];
        env.extend_from_slice(extra);
        let serve = Serve::start_role(role, &env);
        Self { tg, app: TestApp::new(serve) }
    }

    /// Sends `text` as `user` and waits for the bot's next message to them.
    async fn say(&self, user: i64, text: &str) -> Call {
        let before = self.tg.messages_to(CONTROL, user).len();
        self.tg.send_text(CONTROL, user, text);
        self.next_message(user, before).await
    }

    async fn next_message(&self, user: i64, before: usize) -> Call {
        let deadline = Instant::now() + WAIT;
        loop {
            let msgs = self.tg.messages_to(CONTROL, user);
            if msgs.len() > before {
                return msgs[before].clone();
            }
            assert!(Instant::now() < deadline, "no reply to {user} within {WAIT:?}; calls: {:#?}", self.tg.calls());
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Presses an inline button of message `msg` and waits for the edit it causes.
    async fn press(&self, user: i64, msg: i64, data: &str) -> Call {
        let before = self.edits(msg).len();
        self.tg.press_button(CONTROL, user, msg, data);
        let deadline = Instant::now() + WAIT;
        loop {
            let edits = self.edits(msg);
            if edits.len() > before {
                return edits[before].clone();
            }
            assert!(Instant::now() < deadline, "no edit of message {msg}; calls: {:#?}", self.tg.calls());
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    fn edits(&self, msg: i64) -> Vec<Call> {
        self.tg
            .calls_to("editMessageText")
            .into_iter()
            .filter(|c| c.token == CONTROL && c.body["message_id"].as_i64() == Some(msg))
            .collect()
    }

    /// The id the fake gave a message the bot sent.
    fn message_id_of(sent: &Call) -> i64 {
        sent.result["message_id"].as_i64().expect("the fake records the message it answered with")
    }

    async fn upload(&self, token: &str, version: &str) -> Value {
        self.upload_to(token, version, "").await
    }

    async fn upload_to(&self, token: &str, version: &str, query: &str) -> Value {
        let zip = bundles::zip(&bundles::sample_app(version));
        let (status, body) = self.app.deploy(token, "demo-bot", "main", query, zip).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// `/` of the demo bot's main app, as a verified user asks for it.
    fn edge_request(&self) -> reqwest::RequestBuilder {
        let init = tmahost_testkit::launch_data(TENANT, &json!({ "id": 77, "first_name": "Eve" }).to_string());
        self.app.edge(&self.app.host("demo-bot"), "/").header("authorization", format!("tma {init}"))
    }

    /// What the edge serves at `/` of the demo bot's main app to a verified user.
    async fn edge_index(&self) -> (StatusCode, String) {
        let res = self.edge_request().send().await.expect("edge");
        (res.status(), res.text().await.unwrap_or_default())
    }

    /// Waits (up to 2 s: activations reach the edge within 1 s) until the edge answers `/`
    /// with `status` and a body containing `needle`.
    async fn edge_becomes(&self, status: StatusCode, needle: &str) {
        self.app.wait_for_edge(Duration::from_secs(2), || self.edge_request(), status, needle).await;
    }
}

fn text(c: &Call) -> &str {
    c.body["text"].as_str().unwrap_or_default()
}

/// `(label, callback_data | web_app url)` of every inline button of a sent message.
fn buttons(c: &Call) -> Vec<(String, String)> {
    let rows = c.body["reply_markup"]["inline_keyboard"].as_array().cloned().unwrap_or_default();
    rows.iter()
        .flat_map(|r| r.as_array().cloned().unwrap_or_default())
        .map(|b| {
            let target = b["callback_data"].as_str().or(b["web_app"]["url"].as_str()).unwrap_or_default();
            (b["text"].as_str().unwrap_or_default().to_owned(), target.to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_adds_a_bot_from_telegram_and_strangers_get_nothing() {
    let w = World::start("serve", &[]).await;
    let admin_api = w.app.serve.admin_token.clone().expect("bootstrap token");

    // Command menus: members' commands for everyone, the full list in the admin's chat.
    let menus =
        w.tg.wait_for("setMyCommands (admin scope)", WAIT, |c| {
            c.method == "setMyCommands" && c.body["scope"]["chat_id"].as_i64() == Some(ADMIN)
        })
        .await;
    let names = |c: &Call| -> Vec<String> {
        c.body["commands"]
            .as_array()
            .expect("commands")
            .iter()
            .map(|x| x["command"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert!(names(&menus).contains(&"addbot".to_owned()));
    let default =
        w.tg.wait_for("setMyCommands (default)", WAIT, |c| {
            c.method == "setMyCommands" && c.body.get("scope").is_none_or(Value::is_null)
        })
        .await;
    assert!(names(&default).contains(&"rollback".to_owned()) && !names(&default).contains(&"addbot".to_owned()));

    // A stranger is refused, whatever they send, and nothing happens.
    for cmd in ["/start", "/bots", &format!("/addbot {TENANT}"), "hello"] {
        let reply = w.say(STRANGER, cmd).await;
        assert!(text(&reply).contains("only answers its admins and bot members"), "{}", text(&reply));
        assert!(buttons(&reply).is_empty());
    }
    assert!(w.tg.calls().iter().all(|c| c.token != TENANT), "no call with the tenant token for a stranger");
    assert!(w.tg.calls_to("deleteMessage").is_empty());

    // The admin adds the bot: token message deleted, getMe, menu button, reply with the URL.
    let before = w.tg.calls().len();
    let reply = w.say(ADMIN, &format!("/addbot {TENANT}")).await;
    let port = w.app.serve.edge.rsplit(':').next().expect("port").to_owned();
    let url = format!("http://demo-bot.localhost:{port}/");
    assert!(text(&reply).contains("Registered @Demo_Bot"), "{}", text(&reply));
    assert!(text(&reply).contains(&url), "{}", text(&reply));
    let after: Vec<Call> = w.tg.calls().split_off(before);
    let deleted = after.iter().find(|c| c.method == "deleteMessage").expect("token message deleted");
    assert_eq!((deleted.token.as_str(), deleted.body["chat_id"].as_i64()), (CONTROL, Some(ADMIN)));
    assert!(after.iter().any(|c| c.token == TENANT && c.method == "getMe"));
    let menu = after.iter().find(|c| c.token == TENANT && c.method == "setChatMenuButton").expect("menu button");
    assert_eq!(menu.body["menu_button"], json!({ "type": "web_app", "text": "Open", "web_app": { "url": url } }));

    // Stored, and encrypted at rest.
    let (_, bots) = w.app.api(reqwest::Method::GET, "/api/v1/bots", Some(&admin_api), None).await;
    assert_eq!(bots[0]["username"], "Demo_Bot");
    let secret = TENANT.split(':').nth(1).expect("secret");
    for f in tmahost_testkit::files_under(w.app.serve.data_dir.path()) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        assert!(!bytes.windows(secret.len()).any(|x| x == secret.as_bytes()), "token in {}", f.display());
    }

    // Bad input gets a clear answer and loses nothing.
    let again = w.say(ADMIN, &format!("/addbot {TENANT}")).await;
    assert!(text(&again).contains("not added"), "{}", text(&again));
    let bad = w.say(ADMIN, "/addbot 123:nope").await;
    assert!(text(&bad).contains("not added"), "{}", text(&bad));
    let unknown = w.say(ADMIN, "/addbot 333333333:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_").await;
    assert!(text(&unknown).contains("rejected"), "{}", text(&unknown));
    let usage = w.say(ADMIN, "/grant demo-bot notanumber owner").await;
    assert!(text(&usage).starts_with("Usage: /grant"), "{}", text(&usage));
    let nosuch = w.say(ADMIN, "/bot nosuch").await;
    assert!(text(&nosuch).contains("No such bot"), "{}", text(&nosuch));

    // Admin views.
    let list = w.say(ADMIN, "/bots").await;
    assert!(text(&list).contains("@Demo_Bot · active"), "{}", text(&list));
    let info = w.say(ADMIN, "/bot demo-bot").await;
    assert!(text(&info).contains("main · nothing deployed"), "{}", text(&info));
    let help = w.say(ADMIN, "/help").await;
    assert!(text(&help).contains("/addbot") && text(&help).contains("/grant"), "{}", text(&help));

    // /token: a working API token scoped to the bot, shown once.
    let minted = w.say(ADMIN, "/token demo-bot").await;
    let jwt = text(&minted).split("<code>").nth(1).and_then(|t| t.split("</code>").next()).expect("token").to_owned();
    let apps = w.app.http.get(format!("{}/api/v1/bots/demo-bot/apps", w.app.serve.api)).bearer_auth(&jwt).send().await;
    assert_eq!(apps.expect("apps").status(), StatusCode::OK);

    // /login: a one-time link on the API's public URL.
    let login = w.say(ADMIN, "/login").await;
    assert!(text(&login).contains(&format!("{}/login/", w.app.serve.api)), "{}", text(&login));
    assert_eq!(login.body["link_preview_options"]["is_disabled"], true, "a preview fetch must not touch the link");
    let link = text(&login).split_whitespace().find(|t| t.contains("/login/")).expect("link").to_owned();
    let no_redirects = &w.app.http;
    let signed_in = no_redirects.post(&link).send().await.expect("login");
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER, "the link signs in to the dashboard");
    assert!(signed_in.headers().get("set-cookie").is_some());
    assert_eq!(no_redirects.post(&link).send().await.expect("again").status(), StatusCode::UNAUTHORIZED, "once");

    // /disable takes the apps offline at the edge; /enable brings them back.
    w.upload(&admin_api, "v1").await;
    w.edge_becomes(StatusCode::OK, "v1").await;
    assert!(text(&w.say(ADMIN, "/disable demo-bot").await).contains("disabled"));
    w.edge_becomes(StatusCode::FORBIDDEN, "").await;
    assert!(text(&w.say(ADMIN, "/enable demo-bot").await).contains("active again"));
    w.edge_becomes(StatusCode::OK, "v1").await;

    let stats = w.say(ADMIN, "/stats").await;
    assert!(
        text(&stats).contains("Bots: 1 (0 disabled)") && text(&stats).contains("Deployments: 1"),
        "{}",
        text(&stats)
    );

    // /removebot explains what goes and wants the username typed again; then the bot is gone.
    let asked = w.say(ADMIN, "/removebot demo-bot").await;
    assert!(text(&asked).contains("/removebot Demo_Bot Demo_Bot"), "{}", text(&asked));
    w.edge_becomes(StatusCode::OK, "v1").await;
    let done = w.say(ADMIN, "/removebot demo-bot Demo_Bot").await;
    assert!(text(&done).contains("@Demo_Bot and its apps are deleted"), "{}", text(&done));
    w.edge_becomes(StatusCode::NOT_FOUND, "").await;
    assert!(text(&w.say(ADMIN, "/bots").await).contains("No bots yet"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_granted_developer_rolls_back_with_buttons_and_members_are_notified() {
    let w = World::start("serve", &[]).await;
    let admin_api = w.app.serve.admin_token.clone().expect("bootstrap token");
    assert!(text(&w.say(ADMIN, &format!("/addbot {TENANT}")).await).contains("Registered"));

    // Before the grant the developer is a stranger.
    assert!(text(&w.say(DEV, "/bots").await).contains("only answers"));
    let granted = w.say(ADMIN, &format!("/grant demo-bot {DEV} developer")).await;
    assert!(text(&granted).contains("is now developer of @Demo_Bot"), "{}", text(&granted));

    // A developer's help has no admin or owner commands, and owner actions are refused.
    let help = w.say(DEV, "/help").await;
    assert!(
        text(&help).contains("/rollback") && !text(&help).contains("/grant") && !text(&help).contains("/addbot"),
        "{}",
        text(&help)
    );
    let refused = w.say(DEV, "/grant demo-bot 5 owner").await;
    assert!(text(&refused).contains("only the bot's owners"), "{}", text(&refused));
    assert!(text(&w.say(DEV, "/token demo-bot").await).contains("only the bot's owners"));
    assert!(text(&w.say(DEV, "/disable demo-bot").await).contains("only platform admins"));

    // Two versions to roll back between, deployed now that the developer is a member: each
    // notice is waited for, so none can arrive in place of a reply below (deploys made before
    // the grant could reach the developer whenever the notifier got to them).
    for v in ["v1", "v2"] {
        let before = w.tg.messages_to(CONTROL, DEV).len();
        w.upload(&admin_api, v).await;
        let notice = w.next_message(DEV, before).await;
        assert!(text(&notice).contains(&format!("{v} is live")), "{}", text(&notice));
    }

    // A deploy through the API: the developer is told, with a web_app button to the app.
    let port = w.app.serve.edge.rsplit(':').next().expect("port").to_owned();
    let app_url = format!("http://demo-bot.localhost:{port}/");
    let before = w.tg.messages_to(CONTROL, DEV).len();
    w.upload(&admin_api, "v3").await;
    let notice = w.next_message(DEV, before).await;
    assert!(text(&notice).contains("v3 is live"), "{}", text(&notice));
    assert!(text(&notice).contains("files ·"), "{}", text(&notice));
    let web_app = &notice.body["reply_markup"]["inline_keyboard"][0][0];
    assert_eq!(web_app["text"].as_str(), Some("Open v3"));
    // The button carries a one-time staff code for this developer, on the app's host.
    let open = web_app["web_app"]["url"].as_str().expect("url").to_owned();
    assert!(open.starts_with(&format!("{app_url}_tma/staff?code=")), "{open}");
    w.edge_becomes(StatusCode::OK, "v3").await;
    let staff = |url: &str| {
        let path = url.trim_start_matches(app_url.as_str()).to_owned();
        let host = format!("demo-bot.localhost:{port}");
        let http = &w.app.http;
        let req = http.get(format!("{}/{path}", w.app.serve.edge)).header("host", host);
        async move { req.send().await.expect("edge") }
    };
    let opened = staff(&open).await;
    assert_eq!(opened.status(), StatusCode::SEE_OTHER);
    assert!(opened.headers().get("set-cookie").is_some(), "a session for this app");
    assert_eq!(staff(&open).await.status(), StatusCode::FORBIDDEN, "used once");

    // A staged deploy: the button opens its preview host instead.
    let before = w.tg.messages_to(CONTROL, DEV).len();
    let staged = w.upload_to(&admin_api, "v4", "?activate=false").await;
    let notice = w.next_message(DEV, before).await;
    assert!(text(&notice).contains("v4 is staged for preview"), "{}", text(&notice));
    let short: String = staged["id"].as_str().expect("id").chars().filter(char::is_ascii_hexdigit).collect();
    let preview = format!("http://{}--main--demo-bot.localhost:{port}/", &short[short.len() - 12..]);
    let (label, url) = buttons(&notice)[0].clone();
    assert_eq!(label, "Preview v4");
    assert!(url.starts_with(&format!("{preview}_tma/staff?code=")), "{url}");
    assert!(w.edge_index().await.1.contains("v3"), "staging does not change what is served");

    // /deploys lists them, newest first, with who.
    let deploys = w.say(DEV, "/deploys demo-bot").await;
    assert!(text(&deploys).contains("v4 · ready") && text(&deploys).contains("v3 · active"), "{}", text(&deploys));
    assert!(text(&deploys).contains("v1 · superseded · "), "{}", text(&deploys));

    // /rollback without a version: a keyboard of earlier versions, then a confirm button.
    let choose = w.say(DEV, "/rollback demo-bot").await;
    assert!(text(&choose).contains("is on v3"), "{}", text(&choose));
    let options = buttons(&choose);
    let (_, v1) = options.iter().find(|(label, _)| label.starts_with("v1 ")).expect("v1 offered").clone();
    assert!(options.iter().all(|(label, _)| !label.starts_with("v3 ")), "the active version is not offered");
    let msg = World::message_id_of(&choose);
    let confirm = w.press(DEV, msg, &v1).await;
    assert!(text(&confirm).contains("Serve <b>v1</b>"), "{}", text(&confirm));
    let (_, go) = buttons(&confirm).into_iter().find(|(l, _)| l.starts_with("Yes")).expect("confirm button");
    assert!(w.edge_index().await.1.contains("v3"), "nothing changes before the confirmation");

    let before = w.tg.messages_to(CONTROL, DEV).len();
    let done = w.press(DEV, msg, &go).await;
    assert!(text(&done).contains("now serves v1"), "{}", text(&done));
    w.edge_becomes(StatusCode::OK, "v1").await;
    let notice = w.next_message(DEV, before).await;
    assert!(text(&notice).contains("rolled back from v3 to v1"), "{}", text(&notice));
    assert!(text(&notice).contains("Telegram user 4242"), "who did it: {}", text(&notice));
    let (label, url) = buttons(&notice)[0].clone();
    assert_eq!(label, "Open v1");
    assert!(url.starts_with(&format!("{app_url}_tma/staff?code=")), "{url}");
    assert!(!w.tg.calls_to("answerCallbackQuery").is_empty());

    // With a version: straight to the confirmation. Cancel changes nothing.
    let direct = w.say(DEV, "/rollback demo-bot v2").await;
    let (_, cancel) = buttons(&direct).into_iter().find(|(l, _)| l == "Cancel").expect("cancel");
    let cancelled = w.press(DEV, World::message_id_of(&direct), &cancel).await;
    assert!(text(&cancelled).contains("nothing changed"));
    assert!(w.edge_index().await.1.contains("v1"));

    // A forged button (another bot's id) is answered like a missing bot.
    let forged = w.press(DEV, msg, "rbok:222222222:main:1").await;
    assert!(text(&forged).contains("No such bot"), "{}", text(&forged));

    // Revoked: a stranger again, buttons included.
    assert!(text(&w.say(ADMIN, &format!("/revoke demo-bot {DEV}")).await).contains("no longer has a role"));
    assert!(text(&w.say(DEV, "/bots").await).contains("only answers"));
    let edits = w.edits(msg).len();
    w.tg.press_button(CONTROL, DEV, msg, &go);
    let answered =
        w.tg.wait_for("a refusal for the revoked member's button", WAIT, |c| {
            c.method == "answerCallbackQuery" && c.body["text"].as_str().is_some_and(|t| t.contains("only answers"))
        })
        .await;
    assert_eq!(answered.token, CONTROL);
    assert_eq!(w.edits(msg).len(), edits, "no edit for a stranger");
    assert!(w.edge_index().await.1.contains("v1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_from_telegram_is_retried_after_retry_after() {
    let w = World::start("serve", &[]).await;
    w.say(ADMIN, "/help").await;
    w.tg.fail_next_with_retry_after("sendMessage", 2);
    let before = w.tg.messages_to(CONTROL, ADMIN).len();
    w.tg.send_text(CONTROL, ADMIN, "/bots");
    let first = w.next_message(ADMIN, before).await;
    let retried = w.next_message(ADMIN, before + 1).await;
    assert_eq!(text(&first), text(&retried), "the same message, sent again");
    let gap = retried.at.duration_since(first.at);
    assert!(gap >= Duration::from_millis(1900), "retried after {gap:?}, before retry_after (2 s)");
    assert!(gap < Duration::from_secs(10), "retried promptly: {gap:?}");

    // Calls made with a tenant token (setChatMenuButton) wait out a 429 as well.
    w.tg.fail_next_with_retry_after("setChatMenuButton", 1);
    let reply = w.say(ADMIN, &format!("/addbot {TENANT}")).await;
    assert!(text(&reply).contains("menu button now opens the app"), "{}", text(&reply));
    let menus: Vec<Call> = w.tg.calls_to("setChatMenuButton");
    assert_eq!(menus.len(), 2, "one 429, one retry");
    assert!(menus[1].at.duration_since(menus[0].at) >= Duration::from_millis(900));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_role_runs_alone_on_a_webhook_with_a_secret() {
    let w = World::start("bot", &[("TMAHOST_CONTROL_BOT_WEBHOOK_URL", "https://admin.example.com/tg/hook")]).await;
    let mut serve = w.app.serve;
    let line = serve.printed("control bot: webhook", Duration::from_secs(5)).expect("webhook banner");
    let addr = line.rsplit(' ').next().expect("addr").to_owned();
    let set = w.tg.wait_for("setWebhook", WAIT, |c| c.method == "setWebhook").await;
    assert_eq!(set.body["url"], "https://admin.example.com/tg/hook");
    let secret = set.body["secret_token"].as_str().expect("a secret token").to_owned();
    assert!(secret.len() >= 32);
    assert!(w.tg.calls_to("getUpdates").is_empty(), "no polling in webhook mode");

    let update = |id: i64, text: &str| {
        json!({ "update_id": id, "message": {
            "message_id": id, "date": 1_800_000_000,
            "chat": { "id": ADMIN, "type": "private", "first_name": "Admin" },
            "from": { "id": ADMIN, "is_bot": false, "first_name": "Admin" },
            "text": text,
        }})
    };
    let post = |secret: Option<String>, body: Value| {
        let mut req = w.app.http.post(format!("{addr}/tg/hook")).json(&body);
        if let Some(s) = secret {
            req = req.header("x-telegram-bot-api-secret-token", s);
        }
        req.send()
    };
    let wrong = post(Some("wrong".into()), update(1, "/help")).await.expect("post");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(post(None, update(2, "/help")).await.expect("post").status(), StatusCode::UNAUTHORIZED);
    let ok = post(Some(secret.clone()), update(3, "/stats")).await.expect("post");
    assert_eq!(ok.status(), StatusCode::OK);
    let reply = w.tg.wait_for("the reply to /stats", WAIT, |c| c.method == "sendMessage").await;
    assert!(text(&reply).contains("Bots: 0"), "{}", text(&reply));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(w.tg.calls_to("sendMessage").len(), 1, "the updates with a wrong secret were not handled");
    assert_eq!(serve.stop(), Some(0), "SIGTERM stops the bot role cleanly");
}
