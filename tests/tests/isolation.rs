//! Tenant isolation matrix, end to end on the real `tmahost serve`: two bots with two apps
//! each. Every credential one tenant can hold — an app's session cookie, launch data signed by
//! its bot (`Authorization: tma`), an API token scoped to its bot, a dashboard session of its
//! owner — is tried against every app, through every way the app is reached (its host, a
//! preview host, its custom domain), for every action (read an asset, `/_tma/me`, deploy, roll
//! back, change settings). Only the owner's succeed, and a success always shows the target's
//! own content.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tmahost_testkit::Rows;
use tmahost_testkit::app::TestApp;
use tmahost_testkit::bundles;
use tmahost_testkit::dns::DnsServer;
use tmahost_testkit::web::{Browser, csrf_of, log_in, multipart};

const BOTS: [(&str, &str, &str); 2] =
    [(tmahost_testkit::TOKEN_A, "Demo_Bot", "demo-bot"), (tmahost_testkit::TOKEN_B, "Other_Bot", "other-bot")];
const APPS: [&str; 2] = ["main", "two"];
const ASSET: &str = "/assets/index-BXk3f9a1.js";

/// One of the four apps: bot index, app slug and how it is reached.
#[derive(Debug, Clone)]
struct Target {
    bot: usize,
    slug: &'static str,
    host: String,
    preview_host: String,
    domain: String,
}

impl Target {
    fn label(&self) -> &'static str {
        BOTS[self.bot].2
    }
    fn name(&self) -> String {
        format!("{}/{}", self.label(), self.slug)
    }
    /// What this app's bundles print: version `v` of this app and no other.
    fn content(&self, v: u32) -> String {
        format!("{}-{}-v{v}", self.label(), self.slug)
    }
    fn api_path(&self) -> String {
        format!("/api/v1/bots/{}/apps/{}", self.label(), self.slug)
    }
    fn page_path(&self) -> String {
        format!("/bots/{}/apps/{}", self.label(), self.slug)
    }
}

fn host_of(url: &str) -> String {
    url.split("://").nth(1).and_then(|rest| rest.split('/').next()).expect("url with a host").to_owned()
}

fn launch_data(bot: usize, user: i64) -> String {
    tmahost_testkit::launch_data(BOTS[bot].0, &format!(r#"{{"id":{user},"first_name":"Tenant{bot}"}}"#))
}

async fn api(srv: &TestApp, token: &str, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
    srv.api(method, path, Some(token), Some(body)).await
}

async fn deploy_zip(srv: &TestApp, token: &str, target: &Target, v: u32) -> StatusCode {
    let zip = bundles::zip(&bundles::sample_app(&target.content(v)));
    srv.post_bytes(&format!("{}/deployments", target.api_path()), token, "application/zip", zip).await.0
}

/// An edge request to `host` with one credential; the status and the body.
async fn edge(srv: &TestApp, host: &str, path: &str, cred: &Cred) -> (StatusCode, String) {
    let req = srv.edge(host, path);
    let req = match cred {
        Cred::Cookie(_, c) => req.header("cookie", c),
        Cred::Tma(_, raw) => req.header("authorization", format!("tma {raw}")),
    };
    let res = req.send().await.expect("edge");
    (res.status(), res.text().await.unwrap_or_default())
}

/// An end user's credential on the edge: a session cookie of one app (by index into the
/// targets), or launch data signed by one bot.
#[derive(Debug)]
enum Cred {
    Cookie(usize, String),
    Tma(usize, String),
}

impl Cred {
    fn opens(&self, targets: &[Target], t: &Target) -> bool {
        match self {
            Self::Cookie(owner, _) => targets[*owner].name() == t.name(),
            // Launch data is signed per bot: it opens every app of that bot.
            Self::Tma(bot, _) => *bot == t.bot,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_credential_reaches_its_own_tenant_only() {
    // Custom domains are proven with DNS TXT records, answered by a real server on loopback.
    let dns = DnsServer::start().await;
    let dns_addr = dns.addr.to_string();
    // Debug logs: the secrets check at the end reads everything the process said.
    let mut srv =
        TestApp::start(&[("TMAHOST_ADMIN_IDS", "1001"), ("TMAHOST_LOG", "debug"), ("TMAHOST_DNS_SERVER", &dns_addr)]);
    let admin = srv.admin().to_owned();
    let http = srv.http.clone();

    // Two bots, two apps each, two versions each (v1 for previews), a custom domain each.
    let mut targets = Vec::new();
    for (b, (token, username, label)) in BOTS.iter().enumerate() {
        let body = json!({ "token": token, "username": username });
        assert_eq!(api(&srv, &admin, Method::POST, "/api/v1/bots", body).await.0, StatusCode::CREATED);
        let path = format!("/api/v1/bots/{label}/apps");
        assert_eq!(api(&srv, &admin, Method::POST, &path, json!({ "slug": "two" })).await.0, StatusCode::CREATED);
        for slug in APPS {
            let host = if slug == "main" { srv.host(label) } else { srv.host(&format!("{slug}--{label}")) };
            let mut t =
                Target { bot: b, slug, host, preview_host: String::new(), domain: format!("{slug}.tenant{b}.example") };
            for v in [1, 2] {
                assert_eq!(deploy_zip(&srv, &admin, &t, v).await, StatusCode::CREATED);
            }
            let (_, list) = api(&srv, &admin, Method::GET, &format!("{}/deployments", t.api_path()), Value::Null).await;
            let v1 = list.as_array().and_then(|l| l.iter().find(|d| d["version"] == 1)).expect("v1").clone();
            t.preview_host = host_of(v1["preview_url"].as_str().expect("preview_url"));
            let settings = json!({ "custom_domain": t.domain });
            let (s, body) = api(&srv, &admin, Method::PUT, &format!("{}/settings", t.api_path()), settings).await;
            assert_eq!(s, StatusCode::OK, "{body}");
            // The owner publishes the proof the API showed, and asks for the check.
            let proof = &body["domain"];
            dns.set_txt(proof["txt_name"].as_str().expect("txt_name"), proof["txt_value"].as_str().expect("txt_value"))
                .await;
            let (s, status) =
                api(&srv, &admin, Method::POST, &format!("{}/domain/verify", t.api_path()), Value::Null).await;
            assert_eq!((s, status["status"].as_str()), (StatusCode::OK, Some("verified")), "{status}");
            targets.push(t);
        }
    }

    // The edge swaps its routing table asynchronously after a change: wait for the last domain.
    let last = targets.last().expect("targets").domain.clone();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while http.get(format!("{}/", srv.serve.edge)).header("host", &last).send().await.expect("edge").status()
        == StatusCode::NOT_FOUND
    {
        assert!(std::time::Instant::now() < deadline, "custom domain {last} never routed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // End users' credentials: a session cookie per app, launch data per bot.
    let mut creds = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        let res = http
            .post(format!("{}/_tma/session", srv.serve.edge))
            .header("host", &t.host)
            .json(&json!({ "init_data": launch_data(t.bot, 7000 + i as i64) }))
            .send()
            .await
            .expect("session");
        assert_eq!(res.status(), StatusCode::OK, "{}", t.name());
        let set = res.headers().get("set-cookie").and_then(|v| v.to_str().ok()).expect("cookie").to_owned();
        creds.push(Cred::Cookie(i, set.split(';').next().expect("pair").to_owned()));
    }
    for b in 0..BOTS.len() {
        creds.push(Cred::Tma(b, launch_data(b, 8000 + b as i64)));
    }

    // Edge matrix: credential x app x way in x (asset, /_tma/me).
    let mut tried = 0;
    let mut rows = Rows::new();
    for cred in &creds {
        for t in &targets {
            let ways = [(&t.host, 2), (&t.preview_host, 1), (&t.domain, 2)];
            for (host, version) in ways {
                let (s, body) = edge(&srv, host, ASSET, cred).await;
                let (me, _) = edge(&srv, host, "/_tma/me", cred).await;
                tried += 2;
                if cred.opens(&targets, t) {
                    let served = body.contains(&format!("hello from {}", t.content(version)));
                    rows.check((s, me) == (StatusCode::OK, StatusCode::OK) && served, || {
                        format!("{cred:?} on {host}: {s}, /_tma/me {me}: {body}")
                    });
                } else {
                    let refused = (s, me) == (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED);
                    rows.check(refused && !body.contains("hello from"), || {
                        format!("{cred:?} on {host} was not refused: {s}, /_tma/me {me}: {body}")
                    });
                }
            }
        }
    }
    rows.finish("edge matrix");

    // Edge credentials are not API credentials, and API tokens do not open apps.
    let Cred::Cookie(_, cookie) = &creds[0] else { unreachable!() };
    let jwt = cookie.split_once('=').expect("pair").1;
    assert_eq!(api(&srv, jwt, Method::GET, "/api/v1/bots", Value::Null).await.0, StatusCode::UNAUTHORIZED);

    // API tokens scoped to one bot.
    let mut tokens = Vec::new();
    for (token, _, _) in BOTS {
        let id = token.split(':').next().expect("bot id").parse::<i64>().expect("id");
        let body = json!({ "name": format!("ci-{id}"), "scope": { "bots": [id] } });
        let (s, created) = api(&srv, &admin, Method::POST, "/api/v1/tokens", body).await;
        assert_eq!(s, StatusCode::CREATED, "{created}");
        tokens.push(created["token"].as_str().expect("token").to_owned());
    }
    let res = http.get(format!("{}{ASSET}", srv.serve.edge)).header("host", &targets[0].host).bearer_auth(&tokens[0]);
    assert_eq!(res.send().await.expect("edge").status(), StatusCode::UNAUTHORIZED, "an API token opens no app");

    // API matrix: token x app x (read, deploy, roll back, settings).
    let mut next_version = [3u32; 4];
    let mut rows = Rows::new();
    for (b, token) in tokens.iter().enumerate() {
        for (i, t) in targets.iter().enumerate() {
            let own = b == t.bot;
            let want = |ok: StatusCode| if own { ok } else { StatusCode::NOT_FOUND };
            let path = t.api_path();
            let read = api(&srv, token, Method::GET, &format!("{path}/deployments"), Value::Null).await.0;
            let deploy = deploy_zip(&srv, token, t, next_version[i]).await;
            if own {
                next_version[i] += 1;
            }
            let rollback = api(&srv, token, Method::POST, &format!("{path}/rollback"), json!({ "to": 2 })).await.0;
            let settings = json!({ "custom_domain": t.domain });
            let settings = api(&srv, token, Method::PUT, &format!("{path}/settings"), settings).await.0;
            tried += 4;
            let got = [read, deploy, rollback, settings];
            let expected =
                [want(StatusCode::OK), want(StatusCode::CREATED), want(StatusCode::OK), want(StatusCode::OK)];
            rows.check(got == expected, || format!("token of bot {b} on {}: {got:?}, expected {expected:?}", t.name()));
        }
    }
    rows.finish("API matrix");

    // Dashboard matrix: each bot's owner x app x (read, deploy, roll back, settings).
    for (b, (_, _, label)) in BOTS.iter().enumerate() {
        let owner = 5000 + b as i64;
        let body = json!({ "role": "owner" });
        let path = format!("/api/v1/bots/{label}/members/{owner}");
        assert!(api(&srv, &admin, Method::PUT, &path, body).await.0.is_success());
    }
    let mut rows = Rows::new();
    for (b, (_, _, label)) in BOTS.iter().enumerate() {
        let browser: Browser = log_in(&srv.serve, &http, 5000 + b as i64).await;
        let own_page = browser.get(&format!("/bots/{label}")).await;
        assert_eq!(own_page.status, StatusCode::OK);
        let csrf = csrf_of(&own_page.body);
        for (i, t) in targets.iter().enumerate() {
            let own = b == t.bot;
            let want = |ok: StatusCode| if own { ok } else { StatusCode::NOT_FOUND };
            let page = t.page_path();
            let read = browser.get(&page).await.status;
            let (ct, form) =
                multipart(&[("csrf", &csrf)], &bundles::zip(&bundles::sample_app(&t.content(next_version[i]))));
            let deploy = browser
                .send(
                    browser
                        .http
                        .post(format!("{}{page}/upload", browser.base))
                        .header("content-type", ct)
                        .header("accept", "text/html")
                        .body(form),
                )
                .await
                .status;
            if own {
                next_version[i] += 1;
            }
            let rollback = browser.post(&format!("{page}/deployments/2/activate"), &[("csrf", &csrf)]).await.status;
            let form = [
                ("csrf", csrf.as_str()),
                ("access", "gated"),
                ("public_paths", ""),
                ("allowed_user_ids", ""),
                ("spa_fallback", "1"),
                ("session_ttl_secs", "86400"),
                ("max_init_data_age_secs", "3600"),
                ("skew_protection_deployments", "3"),
                ("custom_domain", t.domain.as_str()),
            ];
            let settings = browser.post(&format!("{page}/settings"), &form).await.status;
            tried += 4;
            let got = [read, deploy, rollback, settings];
            let expected = [
                want(StatusCode::OK),
                want(StatusCode::SEE_OTHER),
                want(StatusCode::SEE_OTHER),
                want(StatusCode::SEE_OTHER),
            ];
            rows.check(got == expected, || {
                format!("dashboard owner of bot {b} on {}: {got:?}, expected {expected:?}", t.name())
            });
        }
    }
    rows.finish("dashboard matrix");

    // Nothing a stranger tried changed a tenant: each app serves v2 (its owner's last
    // rollback), its own. The edge swaps tables asynchronously, so allow it a moment.
    for t in &targets {
        let own = creds.iter().find(|c| matches!(c, Cred::Tma(b, _) if *b == t.bot)).expect("cred");
        let want = format!("hello from {}", t.content(2));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            let (s, body) = edge(&srv, &t.host, ASSET, own).await;
            if s == StatusCode::OK && body.contains(&want) {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{}: {s} {body}", t.name());
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    assert_eq!(tried, 6 * 4 * 3 * 2 + 2 * 4 * 4 + 2 * 4 * 4);

    // Secrets never reach stdout or the (debug) logs of all that: bot tokens, the master key,
    // API tokens and session cookies.
    let master = std::fs::read_to_string(srv.serve.data_dir.path().join("master.key")).expect("master key");
    let mut secrets: Vec<String> = vec![master.trim().to_owned()];
    for (token, _, _) in BOTS {
        secrets.push(token.to_owned());
        secrets.push(token.split_once(':').expect("token").1.to_owned());
    }
    secrets.extend(tokens.iter().cloned());
    secrets.extend(creds.iter().filter_map(|c| match c {
        Cred::Cookie(_, pair) => pair.split_once('=').map(|(_, jwt)| jwt.to_owned()),
        Cred::Tma(..) => None,
    }));
    let output = srv.serve.output();
    assert!(output.len() > 100, "debug logs were captured ({} lines)", output.len());
    for secret in &secrets {
        assert!(secret.len() >= 20, "a real secret: {secret}");
        let leaked: Vec<&String> = output.iter().filter(|l| l.contains(secret.as_str())).collect();
        assert!(leaked.is_empty(), "a secret reached the output: {leaked:?}");
    }
}
