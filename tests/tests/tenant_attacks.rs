//! Tenant-controlled inputs against other tenants, end to end on the real `tmahost serve`.
//! Every tenant is untrusted by every other: each row below is something one tenant can set
//! or send (custom domain, bot username, app slug, `_redirects`, public paths, digest
//! manifests, …) aimed at another tenant's hosts, users or data, with the refusal it must get.
//! The victim is `@Demo_Bot`; the attacker owns `@Other_Bot` and holds an API token scoped to
//! it. Custom-domain proofs are answered by a real DNS server on loopback.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Digest;
use tmahost_testkit::app::TestApp;
use tmahost_testkit::bundles;
use tmahost_testkit::code;
use tmahost_testkit::dns::DnsServer;

const VICTIM: (&str, &str, &str) = (tmahost_testkit::TOKEN_A, "Demo_Bot", "demo-bot");
const ATTACKER: (&str, &str, &str) = (tmahost_testkit::TOKEN_B, "Other_Bot", "other-bot");
/// A file only the victim deployed.
const VICTIM_SECRET: &[u8] = b"the victim's unreleased pricing table";
const VICTIM_DOMAIN: &str = "shop.victim.example";
const API_HOST: &str = "console.platform.example";

struct World {
    app: TestApp,
    dns: DnsServer,
    admin: String,
    /// API token scoped to the attacker's bot.
    attacker: String,
}

impl World {
    async fn api(&self, token: &str, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
        self.app.api(method, path, Some(token), (!body.is_null()).then_some(body)).await
    }

    async fn deploy(&self, token: &str, bot: &str, files: &[(String, Vec<u8>)]) -> StatusCode {
        self.app.deploy(token, bot, "main", "", bundles::zip(files)).await.0
    }

    /// GET on the edge with `Host: host`, no credentials.
    async fn edge(&self, host: &str, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut req = self.app.edge(host, path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.expect("edge")
    }

    /// Waits until the edge answers `host` with `want` (routing tables swap asynchronously).
    async fn wait_for_status(&self, host: &str, want: StatusCode, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let got = self.edge(host, "/favicon.ico", &[]).await.status();
            if got == want {
                return;
            }
            assert!(Instant::now() < deadline, "{host} still answers {got}, not {want}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A session of the victim's user 42 on the victim's app: its `name=value` cookie pair.
    async fn victim_session(&self) -> String {
        let launch = tmahost_testkit::launch_data(VICTIM.0, r#"{"id":42,"first_name":"Victim user"}"#);
        let req = self.app.http.post(format!("{}/_tma/session", self.app.serve.edge));
        let res = req.header("host", self.app.host(VICTIM.2)).json(&json!({ "init_data": launch })).send().await;
        let res = res.expect("session");
        let set_cookie = res.headers().get("set-cookie").and_then(|v| v.to_str().ok()).expect("cookie");
        set_cookie.split(';').next().expect("pair").to_owned()
    }

    async fn settings(&self, token: &str, bot: &str, settings: Value) -> (StatusCode, Value) {
        self.api(token, Method::PUT, &format!("/api/v1/bots/{bot}/apps/main/settings"), settings).await
    }
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

async fn world() -> World {
    world_with(&[]).await
}

/// Every address here is loopback: suites about app backends allow private and plain-http
/// upstreams, as a platform whose edges' public address passes the private-address rule.
async fn world_with_private_upstreams() -> World {
    world_with(&[("TMAHOST_PROXY_ALLOW_PRIVATE", "true"), ("TMAHOST_PROXY_ALLOW_HTTP", "true")]).await
}

async fn world_with(extra: &[(&str, &str)]) -> World {
    let dns = DnsServer::start().await;
    let dns_addr = dns.addr.to_string();
    let api_url = format!("http://{API_HOST}");
    let mut env = vec![
        ("TMAHOST_DNS_SERVER", dns_addr.as_str()),
        ("TMAHOST_PUBLIC_API_URL", api_url.as_str()),
        // Re-check proofs every second; a missing record un-routes after one more second.
        ("TMAHOST_DOMAIN_CHECK_SECS", "1"),
        ("TMAHOST_DOMAIN_GRACE_SECS", "1"),
    ];
    env.extend_from_slice(extra);
    let app = TestApp::start(&env);
    let admin = app.admin().to_owned();
    let mut w = World { app, dns, admin: admin.clone(), attacker: String::new() };
    for (token, username, _) in [VICTIM, ATTACKER] {
        let (s, body) =
            w.api(&admin, Method::POST, "/api/v1/bots", json!({ "token": token, "username": username })).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
    }
    let body = json!({ "name": "attacker-ci", "scope": { "bots": [222222222] } });
    let (s, minted) = w.api(&admin, Method::POST, "/api/v1/tokens", body).await;
    assert_eq!(s, StatusCode::CREATED, "{minted}");
    w.attacker = minted["token"].as_str().expect("token").to_owned();

    // The victim's app: gated, with a secret file, an SPA fallback, a rewrite onto a
    // non-public file, and a splat redirect.
    let mut files = bundles::sample_app("victim");
    files.push(("pricing.txt".into(), VICTIM_SECRET.to_vec()));
    files.push(("_redirects".into(), b"/robots.txt /pricing.txt 200\n/go/* /:splat 302\n".to_vec()));
    assert_eq!(w.deploy(&admin, VICTIM.2, &files).await, StatusCode::CREATED);
    assert_eq!(w.deploy(&w.attacker, ATTACKER.2, &bundles::sample_app("attacker")).await, StatusCode::CREATED);

    // The victim proves its custom domain.
    let (s, body) = w.settings(&admin, VICTIM.2, json!({ "custom_domain": VICTIM_DOMAIN })).await;
    assert_eq!((s, body["domain"]["status"].as_str()), (StatusCode::OK, Some("pending")), "{body}");
    let proof = &body["domain"];
    w.dns.set_txt(proof["txt_name"].as_str().expect("name"), proof["txt_value"].as_str().expect("value")).await;
    let (s, status) =
        w.api(&admin, Method::POST, &format!("/api/v1/bots/{}/apps/main/domain/verify", VICTIM.2), Value::Null).await;
    assert_eq!((s, status["status"].as_str()), (StatusCode::OK, Some("verified")), "{status}");
    w.wait_for_status(VICTIM_DOMAIN, StatusCode::OK, Duration::from_secs(10)).await;
    w
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_cannot_take_another_tenants_hosts() {
    let w = world().await;
    let victim_host = w.app.host(VICTIM.2);

    // Row: custom domain = a platform host, a name under the base domain, the base domain,
    // the API/dashboard host. Before: 200, and the victim's host served the attacker's bundle.
    for domain in [
        "demo-bot.localhost",
        "main--demo-bot.localhost",
        "0123456789ab--main--demo-bot.localhost",
        "x.demo-bot.localhost",
        "localhost",
        API_HOST,
    ] {
        let (s, body) =
            w.settings(&w.attacker, ATTACKER.2, json!({ "custom_domain": domain, "access": "public" })).await;
        assert_eq!((s, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_domain"), "{domain}: {body}");
    }

    // Row: custom domain = another tenant's verified domain, in any spelling. Before: 200 and
    // the domain moved to the attacker.
    for domain in [VICTIM_DOMAIN, "SHOP.Victim.Example.", " shop.victim.example "] {
        let (s, body) = w.settings(&w.attacker, ATTACKER.2, json!({ "custom_domain": domain })).await;
        assert_eq!((s, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "domain_taken"), "{domain}: {body}");
    }

    // Row: custom domain nobody proved. Before: routed within a second. After: kept as a
    // pending claim, never routed, and no TLS certificate is approved for it.
    let (s, body) = w.settings(&w.attacker, ATTACKER.2, json!({ "custom_domain": "unproven.example" })).await;
    assert_eq!((s, body["domain"]["status"].as_str()), (StatusCode::OK, Some("pending")), "{body}");
    let verify = format!("/api/v1/bots/{}/apps/main/domain/verify", ATTACKER.2);
    let (s, status) = w.api(&w.attacker, Method::POST, &verify, Value::Null).await;
    assert_eq!((s, status["status"].as_str()), (StatusCode::OK, Some("pending")), "{status}");
    assert!(status["last_error"].as_str().is_some_and(|e| e.contains("no TXT record")), "{status}");
    assert_eq!(w.edge("unproven.example", "/", &[]).await.status(), StatusCode::NOT_FOUND);
    let ask = w.edge(&victim_host, "/_tma/tls-ask?domain=unproven.example", &[]).await;
    assert_eq!(ask.status(), StatusCode::NOT_FOUND);
    let ask = w.edge(&victim_host, &format!("/_tma/tls-ask?domain={VICTIM_DOMAIN}"), &[]).await;
    assert_eq!(ask.status(), StatusCode::OK);

    // Row: a TXT record that holds another app's token proves nothing.
    let (_, attacker_app) =
        w.api(&w.attacker, Method::GET, &format!("/api/v1/bots/{}/apps/main", ATTACKER.2), Value::Null).await;
    let (_, victim_app) =
        w.api(&w.admin, Method::GET, &format!("/api/v1/bots/{}/apps/main", VICTIM.2), Value::Null).await;
    assert_ne!(attacker_app["domain"]["txt_value"], victim_app["domain"]["txt_value"]);
    w.dns.set_txt("_tmahost.unproven.example", victim_app["domain"]["txt_value"].as_str().expect("token")).await;
    let (_, status) = w.api(&w.attacker, Method::POST, &verify, Value::Null).await;
    assert_eq!(status["status"].as_str(), Some("pending"), "{status}");

    // The victim's hosts still serve the victim, to the victim's users only.
    for host in [victim_host.as_str(), VICTIM_DOMAIN] {
        let page = w.edge(host, "/", &[("accept", "text/html")]).await;
        assert_eq!(page.status(), StatusCode::UNAUTHORIZED, "{host} is gated");
        assert!(!page.text().await.expect("body").contains("attacker"), "{host}");
    }

    // Row: bot usernames whose hosts overlap another bot's (`main__Demo_Bot` is
    // `main--demo-bot`, the victim's main app). Before: registered, and the lookup order
    // decided who was served.
    for username in ["main__Demo_Bot", "shop__Demo_Bot", "a1b2c3d4e5f6__main__Demo_Bot"] {
        let body = json!({ "token": "333333333:CCHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_", "username": username });
        let (s, body) = w.api(&w.admin, Method::POST, "/api/v1/bots", body).await;
        assert_eq!((s, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "host_collision"), "{username}: {body}");
    }
    // ...and the other way round: a bot registered first whose label embeds a later bot's.
    let body = json!({ "token": "444444444:DDHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_", "username": "shop__Zed_Bot" });
    assert_eq!(w.api(&w.admin, Method::POST, "/api/v1/bots", body).await.0, StatusCode::CREATED);
    let body = json!({ "token": "555555555:EEHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_", "username": "Zed_Bot" });
    let (s, body) = w.api(&w.admin, Method::POST, "/api/v1/bots", body).await;
    assert_eq!((s, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "host_collision"), "{body}");

    // Row: a proof that disappears un-routes the domain once the grace period is over.
    w.dns.remove_txt("_tmahost.shop.victim.example").await;
    w.wait_for_status(VICTIM_DOMAIN, StatusCode::NOT_FOUND, Duration::from_secs(30)).await;
    let ask = w.edge(&victim_host, &format!("/_tma/tls-ask?domain={VICTIM_DOMAIN}"), &[]).await;
    assert_eq!(ask.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_bundle_configures_stays_on_its_origin_and_behind_its_gate() {
    let w = world().await;
    let victim_host = w.app.host(VICTIM.2);

    // Row: a public path that resolves to a non-public file (SPA fallback, a rewrite). Before:
    // `/.well-known/anything` served the gated app's index.html without a session.
    for path in ["/.well-known/anything", "/.well-known/deep/x", "/robots.txt"] {
        let res = w.edge(&victim_host, path, &[]).await;
        let status = res.status();
        let body = res.text().await.expect("body");
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
        assert!(!body.contains("victim") && !body.contains("pricing"), "{path} leaked: {body}");
    }
    // Public files themselves are still public.
    assert_eq!(w.edge(&victim_host, "/favicon.ico", &[]).await.status(), StatusCode::OK);

    // Row: a `_headers` cookie for the parent domain (cookie tossing: it would reach every
    // other app under `localhost`). Before: accepted. After: the upload is refused.
    let mut files = bundles::sample_app("attacker v2");
    files.push(("_headers".into(), b"/*\n  Set-Cookie: theme=x; Path=/; Domain=localhost\n".to_vec()));
    assert_eq!(w.deploy(&w.attacker, ATTACKER.2, &files).await, StatusCode::UNPROCESSABLE_ENTITY);

    // Row: a zip with two entries of one name, the second hiding behind the first in a
    // listing or a review. Before: 201 and the last one served. After: refused as tar's are.
    let twice = bundles::zip_with_repeated_name(&bundles::sample_app("attacker v2"), b"<script>second</script>");
    let (s, body) = w.app.deploy(&w.attacker, ATTACKER.2, "main", "", twice).await;
    assert_eq!((s, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "duplicate_path"), "{body}");

    // Row: rules that name another tenant's host, or the platform's own paths. A rule's
    // `from` is a path on the tenant's own hosts: a host rule or a `/_tma/` rule is left out
    // with a warning, and the victim's host and the platform's endpoints answer as before.
    let mut files = bundles::sample_app("attacker v3");
    let redirects = format!("http://{victim_host}/* https://evil.example/:splat 301!\n/_tma/* /index.html 200!\n");
    files.push(("_redirects".into(), redirects.into_bytes()));
    files.push(("_headers".into(), format!("https://{victim_host}/*\n  X-Owned: yes\n").into_bytes()));
    let (s, deployed) = w.app.deploy(&w.attacker, ATTACKER.2, "main", "", bundles::zip(&files)).await;
    assert_eq!(s, StatusCode::CREATED, "{deployed}");
    let warnings = deployed["warnings"].to_string();
    assert!(
        ["_redirects line 1", "_redirects line 2", "_headers line 1"].iter().all(|w| warnings.contains(w)),
        "{deployed}"
    );
    let launch = tmahost_testkit::launch_data(VICTIM.0, r#"{"id":42,"first_name":"Victim user"}"#);
    let res = w.edge(&victim_host, "/", &[("authorization", &format!("tma {launch}"))]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("x-owned").is_none());
    assert!(res.text().await.expect("body").contains("victim"));
    let attacker_host = w.app.host(ATTACKER.2);
    let res = w.edge(&attacker_host, "/_tma/me", &[]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "the platform answers /_tma/, not the bundle");

    // Row: `Location` built from request text never leaves the origin. Before:
    // `/go//evil.example` -> `Location: //evil.example`.
    let launch = tmahost_testkit::launch_data(VICTIM.0, r#"{"id":42,"first_name":"Victim user"}"#);
    let auth = format!("tma {launch}");
    for path in ["/go//evil.example", "/go/%2F%2Fevil.example", "/go/%5Cevil.example", "/go/%5C%5Cevil.example"] {
        let res = w.edge(&victim_host, path, &[("authorization", &auth)]).await;
        assert_eq!(res.status(), StatusCode::FOUND, "{path}");
        let location = res.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        assert!(location.starts_with('/'), "{path} -> {location}");
        assert!(
            !location.starts_with("//") && !location.starts_with("/\\") && !location.contains("%5C"),
            "{path} -> {location}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_dedupe_tells_a_tenant_nothing_about_others() {
    let w = world().await;
    let secret = sha(VICTIM_SECRET);
    let index = b"<!doctype html><title>attacker</title>".to_vec();
    let manifest = json!({ "files": {
        "index.html": { "sha256": sha(&index), "size": index.len() },
        "probe.txt": { "sha256": secret, "size": VICTIM_SECRET.len() },
    }});
    let path = format!("/api/v1/bots/{}/apps/main/deployments", ATTACKER.2);
    let (s, plan) = w.api(&w.attacker, Method::POST, &path, manifest).await;
    assert_eq!(s, StatusCode::CREATED, "{plan}");
    // Row: a digest manifest naming another tenant's content. Before: left out of `missing`,
    // which told the attacker the victim hosts exactly these bytes.
    let missing: Vec<&str> = plan["missing"].as_array().expect("missing").iter().filter_map(Value::as_str).collect();
    assert!(missing.contains(&secret.as_str()), "{plan}");
    let finalize = plan["finalize_url"].as_str().expect("finalize_url").to_owned();
    let finalize = finalize.trim_start_matches(&w.app.serve.api).to_owned();
    // Row: finalizing without sending those bytes. Before: it finalized on the victim's copy.
    let put = |sha: String, body: Vec<u8>| {
        let req = w.app.http.put(format!("{}/api/v1/blobs/{sha}", w.app.serve.api)).bearer_auth(&w.attacker);
        async move { req.body(body).send().await.expect("put").status() }
    };
    assert_eq!(put(sha(&index), index.clone()).await, StatusCode::CREATED);
    let (s, body) = w.api(&w.attacker, Method::POST, &finalize, Value::Null).await;
    assert_eq!((s, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "missing_blobs"), "{body}");
    // Row: a blob PUT of another tenant's hash with other bytes. Refused, and answered like
    // any unknown content (never `already_stored`).
    assert_eq!(put(secret.clone(), b"x".repeat(VICTIM_SECRET.len())).await, StatusCode::BAD_REQUEST);
    // Someone who has the bytes may of course deploy them: stored (not "already stored").
    let res = w.app.http.put(format!("{}/api/v1/blobs/{secret}", w.app.serve.api)).bearer_auth(&w.attacker);
    let res = res.body(VICTIM_SECRET.to_vec()).send().await.expect("put");
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["status"].as_str(), Some("stored"), "{body}");
    let (s, body) = w.api(&w.attacker, Method::POST, &finalize, Value::Null).await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

/// What issue 37 added for tenants: pins, retention, usage and the storage cap. None of it
/// reaches another tenant's deployments, and none of it lets a tenant lift its own cap or keep
/// another tenant's contents alive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_pins_and_quotas_stay_within_a_tenant() {
    let w = world().await;
    let victim = format!("/api/v1/bots/{}", VICTIM.2);
    // Row: pinning or unpinning the victim's deployment with the attacker's token: not found.
    for method in [Method::PUT, Method::DELETE] {
        let (s, body) =
            w.api(&w.attacker, method, &format!("{victim}/apps/main/deployments/v1/pin"), Value::Null).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    }
    // Row: reading the victim's usage (how much it stores): not found.
    let (s, body) = w.api(&w.attacker, Method::GET, &format!("{victim}/usage"), Value::Null).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    // Row: lifting its own cap, or changing the victim's: forbidden / not found.
    let own = format!("/api/v1/bots/{}", ATTACKER.2);
    let (s, body) = w.api(&w.attacker, Method::PATCH, &own, json!({ "max_bytes": 0 })).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    let (s, body) = w.api(&w.attacker, Method::PATCH, &victim, json!({ "max_bytes": 1 })).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    // Row: the attacker's own retention setting applies to its own app only; the victim's
    // deployment stays after the attacker's activations with `keep_deployments: 1`.
    let (s, body) =
        w.settings(&w.attacker, ATTACKER.2, json!({ "keep_deployments": 1, "skew_protection_deployments": 0 })).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    for v in ["attacker-2", "attacker-3"] {
        assert_eq!(w.deploy(&w.attacker, ATTACKER.2, &bundles::sample_app(v)).await, StatusCode::CREATED);
    }
    let (_, list) = w.api(&w.admin, Method::GET, &format!("{victim}/apps/main/deployments"), Value::Null).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    let (_, list) = w.api(&w.admin, Method::GET, &format!("{own}/apps/main/deployments"), Value::Null).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "the attacker keeps one: {list}");
    // Row: a tenant's usage counts only its own deployments: the victim's secret is not in it.
    let (_, usage) = w.api(&w.attacker, Method::GET, &format!("{own}/usage"), Value::Null).await;
    let attacker_bytes: usize = bundles::sample_app("attacker-3").iter().map(|(_, d)| d.len()).sum();
    assert_eq!(usage["stored_bytes"], json!(attacker_bytes), "{usage}");
    // Row: deleting the victim's app or bot with the attacker's token: not found, and the
    // victim still serves.
    for path in [format!("{victim}/apps/main"), victim.clone()] {
        let (s, body) = w.api(&w.attacker, Method::DELETE, &path, Value::Null).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (s, _) = w.api(&w.admin, Method::GET, &format!("{victim}/apps/main/deployments"), Value::Null).await;
    assert_eq!(s, StatusCode::OK);
    // Row: erasing a Telegram user (e.g. the victim's owner) is for platform admins only.
    let (s, body) = w.api(&w.attacker, Method::POST, "/api/v1/users/4242/erase", Value::Null).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_metrics_are_not_for_tenants() {
    let w = world().await;
    // Row: `/metrics` names every tenant's apps and traffic. Before: open on the API listener.
    let get = |token: Option<&str>| {
        let mut req = w.app.http.get(format!("{}/metrics", w.app.serve.api));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move { req.send().await.expect("metrics") }
    };
    assert_eq!(get(None).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(get(Some(&w.attacker)).await.status(), StatusCode::FORBIDDEN);
    let admin = get(Some(&w.admin)).await;
    assert_eq!(admin.status(), StatusCode::OK);
    assert!(admin.text().await.expect("text").contains("tmahost_"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_links_open_only_the_callers_own_apps() {
    let w = world().await;
    // Row: a dev link signs launch data with the app's bot token, opening the app as anyone.
    // Another tenant's token asking for one of the victim's apps (live or a preview) learns
    // nothing: the same 404 as for a bot that does not exist, and nothing is signed or logged.
    let victim = format!("/api/v1/bots/{}/apps/main/dev-links", VICTIM.2);
    for body in [json!({}), json!({ "deployment": "v1" }), json!({ "user": { "id": 1, "first_name": "Mallory" } })] {
        let (s, answer) = w.api(&w.attacker, Method::POST, &victim, body).await;
        assert_eq!((s, code(&answer)), (StatusCode::NOT_FOUND, "not_found"), "{answer}");
        assert!(answer.get("url").is_none(), "{answer}");
    }
    let (s, nobody) = w.api(&w.attacker, Method::POST, "/api/v1/bots/no_such_bot/apps/main/dev-links", json!({})).await;
    assert_eq!((s, &nobody), (StatusCode::NOT_FOUND, &w.api(&w.attacker, Method::POST, &victim, json!({})).await.1));
    let (_, log) = w.api(&w.admin, Method::GET, &format!("/api/v1/bots/{}/audit", VICTIM.2), Value::Null).await;
    assert!(!log.as_array().expect("log").iter().any(|e| e["action"] == "devlink.create"), "{log}");
    // Its own app: signed.
    let own = format!("/api/v1/bots/{}/apps/main/dev-links", ATTACKER.2);
    assert_eq!(w.api(&w.attacker, Method::POST, &own, json!({})).await.0, StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_platforms_emulator_frames_apps_and_clears_their_sessions() {
    let w = world().await;
    let platform = format!("http://{API_HOST}");
    let attacker_origin = format!("http://{}", w.app.host(ATTACKER.2));
    // Row: who may frame an app. The platform's CSP names Telegram Web and the platform's own
    // origin (its emulator), on every tenant's app alike; nothing a tenant sets adds itself to
    // another tenant's list.
    for host in [w.app.host(VICTIM.2), VICTIM_DOMAIN.to_owned()] {
        let page = w.edge(&host, "/", &[]).await;
        let csp = page.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert_eq!(csp, format!("frame-ancestors 'self' https://web.telegram.org {platform}"), "{host}");
    }
    // Row: the emulator clears a framed app's session with a credentialed logout; only the
    // platform's origin may read that answer. Another tenant's app (or a look-alike name) gets
    // no CORS grant, so its scripts cannot drive the victim's sessions.
    let logout = |origin: String| {
        let http = w.app.http.clone();
        let url = format!("{}/_tma/logout", w.app.serve.edge);
        let host = w.app.host(VICTIM.2);
        async move { http.post(url).header("host", host).header("origin", origin).send().await.expect("logout") }
    };
    let ok = logout(platform.clone()).await;
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);
    let allowed = |r: &reqwest::Response, h: &str| r.headers().get(h).and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(allowed(&ok, "access-control-allow-origin").as_deref(), Some(platform.as_str()));
    assert_eq!(allowed(&ok, "access-control-allow-credentials").as_deref(), Some("true"));
    for origin in [attacker_origin.clone(), format!("{platform}.evil.example"), "null".to_owned()] {
        let refused = logout(origin.clone()).await;
        assert_eq!(allowed(&refused, "access-control-allow-origin"), None, "{origin}");
        assert_eq!(allowed(&refused, "access-control-allow-credentials"), None, "{origin}");
    }

    // Row: the attacker's page, in the same Telegram Web as the victim's app, posts to the
    // victim's logout with the user's partitioned cookie. Before: 204 and the user's session
    // revoked on every edge. After: 403, and the session lives on.
    let victim_host = w.app.host(VICTIM.2);
    let cookie = w.victim_session().await;
    let logout_with_cookie = |headers: Vec<(&'static str, String)>| {
        let mut req = w.app.http.post(format!("{}/_tma/logout", w.app.serve.edge)).header("host", &victim_host);
        req = req.header("cookie", &cookie);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        async move { req.send().await.expect("logout") }
    };
    for headers in [
        vec![("origin", attacker_origin.clone()), ("sec-fetch-site", "same-site".to_owned())],
        vec![("origin", attacker_origin.clone())],
        vec![("sec-fetch-site", "cross-site".to_owned()), ("sec-fetch-mode", "no-cors".to_owned())],
    ] {
        let res = logout_with_cookie(headers.clone()).await;
        let (status, answer) = (res.status(), res.json::<Value>().await.unwrap_or(Value::Null));
        assert_eq!((status, code(&answer)), (StatusCode::FORBIDDEN, "cross_origin"), "{headers:?}: {answer}");
        let me = w.edge(&victim_host, "/_tma/me", &[("cookie", &cookie)]).await;
        assert_eq!(me.status(), StatusCode::OK, "the session survived {headers:?}");
    }
    // The app's own page, and the platform's emulator, still log out.
    let own = format!("http://{victim_host}");
    let res = logout_with_cookie(vec![("origin", own), ("sec-fetch-site", "same-origin".to_owned())]).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let me = w.edge(&victim_host, "/_tma/me", &[("cookie", &cookie)]).await;
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED, "logged out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_backends_cannot_reach_the_platform_or_another_tenant() {
    let w = world().await;
    // Row: app backends are upstreams a tenant names. Aimed at the platform's own network
    // (its edge and API on loopback, the cloud's metadata service, a name resolving inside),
    // at the platform's `/_tma/` paths, or at another tenant's app settings: refused.
    w.dns.set_a("inside.attacker.example", "10.1.2.3".parse().expect("ip")).await;
    w.dns.set_a("assigned.attacker.example", "192.0.0.170".parse().expect("ip")).await;
    let edge_port = w.app.serve.edge.rsplit(':').next().expect("port").to_owned();
    for (upstream, why) in [
        (format!("https://127.0.0.1:{edge_port}"), "upstream_forbidden"),
        ("https://169.254.169.254/latest/meta-data".to_owned(), "upstream_forbidden"),
        ("https://[fd00:ec2::254]".to_owned(), "upstream_forbidden"),
        ("https://inside.attacker.example".to_owned(), "upstream_forbidden"),
        // IETF protocol assignments (192.0.0.0/24: NAT64 discovery, DS-Lite, ...).
        ("https://192.0.0.8".to_owned(), "upstream_forbidden"),
        ("https://assigned.attacker.example".to_owned(), "upstream_forbidden"),
        (format!("http://{}", w.app.host(VICTIM.2)), "invalid_backend"),
        (format!("http://{API_HOST}"), "invalid_backend"),
    ] {
        let body = json!({ "backends": [{ "prefix": "/api/", "upstream": upstream }] });
        let (s, answer) = w.settings(&w.attacker, ATTACKER.2, body).await;
        assert_eq!((s, code(&answer)), (StatusCode::UNPROCESSABLE_ENTITY, why), "{upstream}: {answer}");
    }
    let body = json!({ "backends": [{ "prefix": "/_tma/", "upstream": "https://api.attacker.example" }] });
    let (s, answer) = w.settings(&w.attacker, ATTACKER.2, body).await;
    assert_eq!((s, code(&answer)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_backend"), "{answer}");
    // The victim's app cannot be given a backend by another tenant: not there for them.
    let body = json!({ "backends": [{ "prefix": "/api/", "upstream": "https://api.attacker.example" }] });
    let (s, answer) = w.settings(&w.attacker, VICTIM.2, body).await;
    assert_eq!((s, code(&answer)), (StatusCode::NOT_FOUND, "not_found"), "{answer}");
    // The keys that sign identities are the platform's: the same on every tenant's host, and
    // every token names its app (`aud`), so a token an attacker's backend received does not
    // pass the victim's backend (checked end to end in backends.rs).
    let victim = w.edge(&w.app.host(VICTIM.2), "/_tma/jwks.json", &[]).await.text().await.expect("jwks");
    let attacker = w.edge(&w.app.host(ATTACKER.2), "/_tma/jwks.json", &[]).await.text().await.expect("jwks");
    assert!(victim.contains("\"kty\":\"OKP\""), "{victim}");
    assert_eq!(victim, attacker);

    // Row: the attacker's app, framed in the same Telegram Web as the victim's, holds the
    // victim's user's partitioned session cookie; its page calls the victim's backend with it
    // (fetch with credentials, a form post, a WebSocket: no CORS stands in the way of the
    // request itself). Before: forwarded with the user's identity. After: 403, never forwarded.
    w.dns.set_a("api.victim.example", "93.184.216.34".parse().expect("ip")).await;
    let body = json!({ "backends": [{ "prefix": "/api/", "upstream": "https://api.victim.example" }] });
    let (s, answer) = w.settings(&w.admin, VICTIM.2, body).await;
    assert_eq!(s, StatusCode::OK, "{answer}");
    let victim_host = w.app.host(VICTIM.2);
    let cookie = w.victim_session().await;
    let attacker_page = format!("http://{}", w.app.host(ATTACKER.2));
    let from_attacker = [
        vec![("cookie", cookie.as_str()), ("origin", attacker_page.as_str()), ("sec-fetch-site", "same-site")],
        vec![("cookie", cookie.as_str()), ("origin", attacker_page.as_str())],
        vec![("cookie", cookie.as_str()), ("sec-fetch-site", "cross-site"), ("sec-fetch-dest", "iframe")],
    ];
    let deadline = Instant::now() + Duration::from_secs(10);
    for headers in from_attacker {
        loop {
            let mut req = w.app.http.post(format!("{}/api/transfer", w.app.serve.edge)).header("host", &victim_host);
            for (k, v) in &headers {
                req = req.header(*k, *v);
            }
            let res = req.body("{\"to\":\"attacker\"}").send().await.expect("edge");
            let status = res.status();
            let answer: Value = res.json().await.unwrap_or(Value::Null);
            // Until the settings reach the edge, /api/ is the bundle's (405 to a POST).
            if status == StatusCode::METHOD_NOT_ALLOWED && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            assert_eq!((status, code(&answer)), (StatusCode::FORBIDDEN, "cross_origin"), "{headers:?}: {answer}");
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_wallet_proofs_do_not_count_on_another_tenants_app() {
    use tmahost_types::ton::testing::{TestWallet, WalletVersion};
    let w = world().await;
    let (victim, attacker) = (w.app.host(VICTIM.2), w.app.host(ATTACKER.2));
    let user = r#"{"id":42,"first_name":"Victim user"}"#;
    // The same Telegram user has a session on each app (as inside Telegram Web).
    let open = |host: String, token: &'static str| {
        let req = w.app.http.post(format!("{}/_tma/session", w.app.serve.edge)).header("host", host);
        async move {
            let res = req.json(&json!({ "init_data": tmahost_testkit::launch_data(token, user) })).send().await;
            let res = res.expect("session");
            let set = res.headers().get("set-cookie").and_then(|v| v.to_str().ok()).expect("cookie").to_owned();
            set.split(';').next().expect("pair").to_owned()
        }
    };
    let (victim_cookie, attacker_cookie) =
        (open(victim.clone(), VICTIM.0).await, open(attacker.clone(), ATTACKER.0).await);
    let page = |host: &str, path: &str, cookie: &str, method: Method| {
        w.app
            .http
            .request(method, format!("{}/_tma/ton/{path}", w.app.serve.edge))
            .header("host", host)
            .header("cookie", cookie)
            .header("origin", format!("http://{host}"))
            .header("sec-fetch-site", "same-origin")
    };
    let payload = |host: String, cookie: String| {
        let req = page(&host, "proof-payload", &cookie, Method::GET);
        async move {
            req.send().await.expect("payload").json::<Value>().await.expect("json")["payload"]
                .as_str()
                .expect("payload")
                .to_owned()
        }
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let wallet = TestWallet::new(WalletVersion::V4R2, 66);
    let name = |host: &str| host.split(':').next().expect("name").to_owned();

    // Row: a proof the attacker's app obtained from the user's wallet (signed for the
    // attacker's host), replayed on the victim's app with a payload the victim's session was
    // given. Before: no proofs at all. After: refused for its domain.
    let for_victim = payload(victim.clone(), victim_cookie.clone()).await;
    let body = json!({ "account": wallet.account(), "ton_proof": wallet.prove(&name(&attacker), now, &for_victim) });
    let res = page(&victim, "proof", &victim_cookie, Method::POST).json(&body).send().await.expect("proof");
    let (status, answer) = (res.status(), res.json::<Value>().await.expect("json"));
    assert_eq!((status, code(&answer)), (StatusCode::BAD_REQUEST, "domain_mismatch"), "{answer}");
    // Row: a payload the attacker's app issued, in a proof for the victim's host: not the
    // victim session's payload.
    let for_attacker = payload(attacker.clone(), attacker_cookie.clone()).await;
    let body = json!({ "account": wallet.account(), "ton_proof": wallet.prove(&name(&victim), now, &for_attacker) });
    let res = page(&victim, "proof", &victim_cookie, Method::POST).json(&body).send().await.expect("proof");
    let (status, answer) = (res.status(), res.json::<Value>().await.expect("json"));
    assert_eq!((status, code(&answer)), (StatusCode::BAD_REQUEST, "payload_invalid"), "{answer}");
    // Row: the attacker's page posting a valid-looking proof into the victim's session with the
    // victim's cookie (same Telegram Web partition): refused before anything is read.
    let res = w
        .app
        .http
        .post(format!("{}/_tma/ton/proof", w.app.serve.edge))
        .header("host", &victim)
        .header("cookie", &victim_cookie)
        .header("origin", format!("http://{attacker}"))
        .header("sec-fetch-site", "same-site")
        .json(&json!({ "account": wallet.account(), "ton_proof": wallet.prove(&name(&victim), now, &for_victim) }))
        .send()
        .await
        .expect("proof");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // None of it put a wallet in the victim's session.
    let me = w.edge(&victim, "/_tma/me", &[("cookie", &victim_cookie)]).await.json::<Value>().await.expect("json");
    assert!(me["wallet"].is_null(), "{me}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_names_one_host() {
    let w = world().await;
    let edge = w.app.serve.edge.trim_start_matches("http://").to_owned();
    let (victim, attacker) = (w.app.host(VICTIM.2), w.app.host(ATTACKER.2));
    // Row: two `Host` headers, or an absolute-form target naming another host than `Host`
    // (a proxy in front may route by one, the edge by the other). Before: served by the first
    // `Host`. After: 400 (RFC 9112 3.2), whichever tenant is named where.
    for request in [
        format!("GET /favicon.ico HTTP/1.1\r\nHost: {attacker}\r\nHost: {victim}\r\n\r\n"),
        format!("GET /favicon.ico HTTP/1.1\r\nHost: {victim}\r\nHost: {victim}\r\n\r\n"),
        format!("GET http://{victim}/pricing.txt HTTP/1.1\r\nHost: {attacker}\r\n\r\n"),
        format!("GET http://{victim}/pricing.txt HTTP/1.1\r\nHost: {attacker}\r\nHost: {victim}\r\n\r\n"),
        format!("GET http://{attacker}/favicon.ico HTTP/1.1\r\nHost: {victim}\r\n\r\n"),
    ] {
        let (status, text) = raw(&edge, &request).await;
        assert_eq!(status, Some(400), "{request:?}: {text}");
        assert!(!text.contains("pricing"), "{text}");
    }
    // One `Host`, and an absolute-form target that agrees with it (in any case): served.
    for request in [
        format!("GET /favicon.ico HTTP/1.1\r\nHost: {victim}\r\n\r\n"),
        format!("GET http://{victim}/favicon.ico HTTP/1.1\r\nHost: {victim}\r\n\r\n"),
        format!("GET http://{}/favicon.ico HTTP/1.1\r\nHost: {victim}\r\n\r\n", victim.to_uppercase()),
    ] {
        assert_eq!(raw(&edge, &request).await.0, Some(200), "{request:?}");
    }
}

/// Sends `request` on a new connection and reads the answer's head: its status and text.
async fn raw(addr: &str, request: &str) -> (Option<u16>, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(request.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    (text.strip_prefix("HTTP/1.1 ").and_then(|r| r.get(..3)).and_then(|c| c.parse().ok()), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_backend_cannot_lead_back_to_the_platform() {
    use tmahost_testkit::relay::HostRelay;
    let w = world_with_private_upstreams().await;
    let edge: std::net::SocketAddr = w.app.serve.edge.trim_start_matches("http://").parse().expect("edge addr");
    let api_port = w.app.serve.api.rsplit(':').next().expect("api port").to_owned();
    let port = edge.port();
    let attacker_host = w.app.host(ATTACKER.2);
    let backends = |prefix: &str, upstream: &str| json!({ "backends": [{ "prefix": prefix, "upstream": upstream, "public": true }] });

    // Row: an upstream that names the platform: any app's host (the attacker's own included),
    // the base domain, the API host, a proven custom domain, the edge's or the API's socket.
    // Before: saved, and one anonymous request made the edge proxy to itself until the client
    // hung up (19,500 descriptors in 3.5 s). After: refused when saved.
    for upstream in [
        format!("http://{attacker_host}"),
        format!("http://{}/x/", w.app.host(VICTIM.2)),
        format!("http://LOCALHOST.:{port}"),
        format!("http://{API_HOST}"),
        format!("http://{VICTIM_DOMAIN}:{port}"),
        format!("http://127.0.0.1:{port}"),
        format!("http://[::ffff:127.0.0.1]:{port}"),
        format!("http://127.0.0.1:{api_port}"),
    ] {
        let (s, answer) = w.settings(&w.attacker, ATTACKER.2, backends("/loop/", &upstream)).await;
        assert_eq!(
            (s, code(&answer)),
            (StatusCode::UNPROCESSABLE_ENTITY, "upstream_is_platform"),
            "{upstream}: {answer}"
        );
    }

    // Row: the backend is saved first under a name of the attacker's, which then becomes the
    // app's proven custom domain (pointing at the edge). After: the edge refuses to connect.
    let domain = "loop.attacker.example";
    w.dns.set_a(domain, "127.0.0.1".parse().expect("ip")).await;
    let mut settings = backends("/loop/", &format!("http://{domain}:{port}"));
    settings["custom_domain"] = json!(domain);
    let (s, answer) = w.settings(&w.attacker, ATTACKER.2, settings).await;
    assert_eq!((s, answer["domain"]["status"].as_str()), (StatusCode::OK, Some("pending")), "{answer}");
    let proof = &answer["domain"];
    w.dns.set_txt(proof["txt_name"].as_str().expect("name"), proof["txt_value"].as_str().expect("value")).await;
    let verify = format!("/api/v1/bots/{}/apps/main/domain/verify", ATTACKER.2);
    let (s, status) = w.api(&w.attacker, Method::POST, &verify, Value::Null).await;
    assert_eq!((s, status["status"].as_str()), (StatusCode::OK, Some("verified")), "{status}");
    w.wait_for_status(domain, StatusCode::OK, Duration::from_secs(10)).await;
    let res = w.edge(&attacker_host, "/loop/x", &[]).await;
    let (status, answer) = (res.status(), res.json::<Value>().await.unwrap_or(Value::Null));
    assert_eq!((status, code(&answer)), (StatusCode::LOOP_DETECTED, "upstream_is_platform"), "{answer}");

    // Row: an outside relay (a `fetch` proxy the attacker runs) sends the request back to the
    // attacker's app under its own host: no name tells. After: the edge's hop mark comes back
    // with it and the second pass answers 508; the edge's open files stay bounded while the
    // attacker's requests are open, and other tenants are served throughout.
    let relay = HostRelay::start(edge, &attacker_host, 2_000).await;
    let (s, answer) = w.settings(&w.attacker, ATTACKER.2, backends("/relay/", &relay.url)).await;
    assert_eq!(s, StatusCode::OK, "{answer}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // Until the settings reach the edge, /relay/ is the gated bundle's.
        let res = w.edge(&attacker_host, "/relay/x", &[]).await;
        let (status, answer) = (res.status(), res.json::<Value>().await.unwrap_or(Value::Null));
        if status == StatusCode::LOOP_DETECTED {
            assert_eq!(code(&answer), "loop_detected", "{answer}");
            break;
        }
        assert!(Instant::now() < deadline, "/relay/x still answers {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = w.app.serve.pid();
    let before = tmahost_testkit::open_files(pid);
    let hops_before = relay.hops();
    const ATTACKS: usize = 50;
    let attacks: Vec<_> = (0..ATTACKS)
        .map(|_| {
            let req = w.app.edge(&attacker_host, "/relay/x");
            tokio::spawn(async move {
                let res = req.send().await.expect("attack");
                (res.status(), res.json::<Value>().await.unwrap_or(Value::Null))
            })
        })
        .collect();
    let mut most = before;
    while !attacks.iter().all(tokio::task::JoinHandle::is_finished) {
        most = most.max(tmahost_testkit::open_files(pid));
        tokio::task::yield_now().await;
    }
    for attack in attacks {
        let (status, answer) = attack.await.expect("attack task");
        assert_eq!((status, code(&answer)), (StatusCode::LOOP_DETECTED, "loop_detected"), "{answer}");
    }
    // Each attack holds at most three of the edge's descriptors: its own connection, the one to
    // the relay, and the relay's back in.
    assert!(most <= before + 3 * ATTACKS + 32, "open files {before} -> {most} during {ATTACKS} attacks");
    assert_eq!(relay.hops() - hops_before, ATTACKS, "each attack went round once");
    assert_eq!(w.edge(&w.app.host(VICTIM.2), "/favicon.ico", &[]).await.status(), StatusCode::OK);
    // Operators see the refusals.
    let loops = w.app.metric("tmahost_edge_proxy_requests_total{app=\"main--other-bot\",outcome=\"loop\"}").await;
    assert!(loops > ATTACKS as u64, "{loops} loops counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_backend_answers_stay_on_its_origin() {
    let w = world_with_private_upstreams().await;
    let attacker_host = w.app.host(ATTACKER.2);
    let (_, app) =
        w.api(&w.attacker, Method::GET, &format!("/api/v1/bots/{}/apps/main", ATTACKER.2), Value::Null).await;
    let app_id = app["id"].as_str().expect("app id").to_owned();
    let issuer = format!("http://{API_HOST}");
    let Some(upstream) = tmahost_testkit::backend::PythonBackend::start_for(&w.app.serve.api, &app_id, &issuer) else {
        return;
    };
    let body = json!({ "backends": [
        { "prefix": "/pub/", "upstream": upstream.url, "public": true },
        { "prefix": "/api/", "upstream": upstream.url },
    ] });
    let (s, answer) = w.settings(&w.attacker, ATTACKER.2, body).await;
    assert_eq!(s, StatusCode::OK, "{answer}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let res = loop {
        let res = w.edge(&attacker_host, "/pub/set-cookies", &[]).await;
        if res.status() == StatusCode::OK || Instant::now() > deadline {
            break res;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(res.status(), StatusCode::OK);

    // Row: a backend's `Set-Cookie` for the parent domain (cookie tossing onto every app under
    // `localhost`), and cookies named like the platform's session and launch cookies. Before:
    // passed through.
    // After: the first made host-only, the others dropped; the harmless one untouched.
    let cookies: Vec<&str> = res.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).collect();
    assert_eq!(cookies, ["theme=dark; Path=/", "wide=1; Path=/"]);

    // Row (held before, now pinned): a backend's redirect to a private address is the
    // browser's to follow or not; the edge passes it on and never fetches it.
    let metadata = "http://169.254.169.254/latest/meta-data/";
    let res = w.edge(&attacker_host, &format!("/pub/redirect?to={metadata}"), &[]).await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(res.headers().get("location").and_then(|v| v.to_str().ok()), Some(metadata));

    // Row (held before, now pinned): `Authorization: tma` twice, a valid user's launch data
    // and a second one. The edge vouches for the one it checked; neither raw value, nor any
    // other spelling of an identity, reaches the backend.
    let first = tmahost_testkit::launch_data(ATTACKER.0, r#"{"id":42,"first_name":"Checked"}"#);
    let second = tmahost_testkit::launch_data(ATTACKER.0, r#"{"id":7,"first_name":"Smuggled"}"#);
    let res = w
        .app
        .http
        .get(format!("{}/api/whoami", w.app.serve.edge))
        .header("host", &attacker_host)
        .header("authorization", format!("tma {first}"))
        .header("authorization", format!("tma {second}"))
        .send()
        .await
        .expect("edge");
    let (status, seen) = (res.status(), res.json::<Value>().await.expect("json"));
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["identity"]["sub"].as_str(), Some("42"), "{seen}");
    assert!(seen["headers"].get("authorization").is_none(), "{seen}");
    assert!(!seen.to_string().contains("Smuggled"), "{seen}");
}
