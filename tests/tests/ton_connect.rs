//! TON Connect, end to end against the real `tmahost serve`: the manifest the platform
//! generates for each of an app's hosts (its `url` the host a wallet asked), and the upload's
//! warning for a bundle whose own manifest names another site; wallet proofs, and the wallet
//! an app's backend then finds in `Tma-Identity`.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tmahost_testkit::app::TestApp;
use tmahost_testkit::backend::PythonBackend;
use tmahost_testkit::{TOKEN_A, bundles};

const MANIFEST: &str = "/tonconnect-manifest.json";

/// The manifest `host` serves to a wallet (no session, from the wallet's own origin), once
/// `ready` accepts it (settings and deploys reach the edge within its refresh).
async fn manifest_when(t: &TestApp, host: &str, ready: impl Fn(&Value) -> bool) -> (reqwest::header::HeaderMap, Value) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = t.edge(host, MANIFEST).header("origin", "https://wallet.example").send().await.expect("edge");
        let (status, headers) = (res.status(), res.headers().clone());
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if status == StatusCode::OK && ready(&body) {
            return (headers, body);
        }
        assert!(Instant::now() < deadline, "{host}{MANIFEST}: {status} {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_serves_a_ton_connect_manifest_for_each_host_of_an_app() {
    let t = TestApp::start(&[]);
    let admin = t.admin().to_owned();
    t.register(TOKEN_A, Some("Demo_Bot")).await;
    let (s, body) = t.deploy(&admin, "demo_bot", "main", "", bundles::zip(&bundles::sample_app("v1"))).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");

    // What wallets cannot show, or links that leave for another site's path, are refused.
    for (icon, terms) in
        [("/logo.svg", "/terms"), ("/logo.png", "//evil.example/terms"), ("http://x.example/i.png", "/t")]
    {
        let bad = json!({ "ton_connect": { "name": "Shop", "icon_url": icon, "terms_of_use_url": terms } });
        let (s, body) = t.put_settings("demo_bot", "main", bad).await;
        assert_eq!(
            (s, body["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_ton_connect"))
        );
    }
    let setting = json!({ "ton_connect": { "name": "Shop", "icon_url": "/icon.png", "terms_of_use_url": "/terms" } });
    let (s, body) = t.put_settings("demo_bot", "main", setting).await;
    assert_eq!(s, StatusCode::OK, "{body}");

    // The bundle has no manifest: the platform's, for the host asked, public and readable by
    // any origin, cached briefly.
    let host = t.host("demo-bot");
    let (headers, manifest) = manifest_when(&t, &host, |m| m["name"] == "Shop").await;
    let origin = format!("http://{host}");
    assert_eq!(
        manifest,
        json!({ "url": origin, "name": "Shop", "iconUrl": format!("{origin}/icon.png"), "termsOfUseUrl": format!("{origin}/terms") })
    );
    assert_eq!(headers.get("access-control-allow-origin").and_then(|v| v.to_str().ok()), Some("*"));
    assert_eq!(headers.get("cache-control").and_then(|v| v.to_str().ok()), Some("public, max-age=60"));

    // A staged deployment's preview host is another dapp: its own `url`.
    let (s, staged) =
        t.deploy(&admin, "demo_bot", "main", "?activate=false", bundles::zip(&bundles::sample_app("v2"))).await;
    assert_eq!(s, StatusCode::CREATED, "{staged}");
    let preview = url::Url::parse(staged["preview_url"].as_str().expect("preview url")).expect("url");
    let preview_host = format!("{}:{}", preview.host_str().expect("host"), preview.port().expect("port"));
    let (_, manifest) = manifest_when(&t, &preview_host, |m| m["name"] == "Shop").await;
    assert_eq!(manifest["url"], format!("http://{preview_host}"));
    assert_eq!(manifest["iconUrl"], format!("http://{preview_host}/icon.png"));

    // A bundle with its own manifest for another site: deployed, with a warning naming both;
    // its file is served as it is.
    let mut files = bundles::sample_app("v3");
    let own = br#"{"url":"https://myname.github.io/shop","name":"Mine","iconUrl":"https://myname.github.io/i.png"}"#;
    files.push(("tonconnect-manifest.json".into(), own.to_vec()));
    let (s, deployed) = t.deploy(&admin, "demo_bot", "main", "", bundles::zip(&files)).await;
    assert_eq!(s, StatusCode::CREATED, "{deployed}");
    let warnings = deployed["warnings"].as_array().expect("warnings");
    assert!(
        warnings.iter().filter_map(Value::as_str).any(|w| w.contains("myname.github.io") && w.contains(&host)),
        "{deployed}"
    );
    manifest_when(&t, &host, |m| m["name"] == "Mine").await;
    // The owner prefers the platform's: it replaces the bundle's on every host.
    let setting = json!({ "ton_connect": { "name": "Shop", "icon_url": "/icon.png", "replace_bundled": true } });
    let (s, body) = t.put_settings("demo_bot", "main", setting).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (_, manifest) = manifest_when(&t, &host, |m| m["name"] == "Shop").await;
    assert_eq!(manifest["url"], origin);
    // …and a bundle's manifest no longer earns a warning.
    let (s, deployed) = t.deploy(&admin, "demo_bot", "main", "", bundles::zip(&files)).await;
    assert_eq!(s, StatusCode::CREATED);
    assert!(deployed["warnings"].as_array().expect("warnings").iter().all(|w| !w.to_string().contains("github.io")));

    // A preflight from a wallet's page.
    let res = t.http.request(Method::OPTIONS, format!("{}{MANIFEST}", t.serve.edge)).header("host", &host);
    let res = res.header("origin", "https://wallet.example").send().await.expect("options");
    assert_eq!(res.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok()), Some("*"));
}

/// A session cookie for `host`, opened with Alice's launch data.
async fn session(t: &TestApp, host: &str) -> String {
    let launch = tmahost_testkit::launch_data(TOKEN_A, r#"{"id":4242,"first_name":"Alice"}"#);
    let res = t.http.post(format!("{}/_tma/session", t.serve.edge)).header("host", host);
    let res = res.json(&json!({ "init_data": launch })).send().await.expect("session");
    assert_eq!(res.status(), StatusCode::OK);
    cookie_of(&res)
}

fn cookie_of(res: &reqwest::Response) -> String {
    let set = res.headers().get("set-cookie").and_then(|v| v.to_str().ok()).expect("a cookie");
    set.split(';').next().expect("pair").to_owned()
}

/// A request to the edge's `/_tma/{path}` on `host` with `cookie`, as the app's own page sends it.
fn from_page(t: &TestApp, method: Method, host: &str, path: &str, cookie: &str) -> reqwest::RequestBuilder {
    t.http
        .request(method, format!("{}/_tma/{path}", t.serve.edge))
        .header("host", host)
        .header("cookie", cookie)
        .header("origin", format!("http://{host}"))
        .header("sec-fetch-site", "same-origin")
}

async fn payload_for(t: &TestApp, host: &str, cookie: &str) -> String {
    let res = from_page(t, Method::GET, host, "ton/proof-payload", cookie).send().await.expect("payload");
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.expect("json");
    body["payload"].as_str().expect("payload").to_owned()
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wallet_proof_puts_the_wallet_in_the_session_once() {
    use tmahost_types::ton::testing::{TestWallet, WalletVersion};
    let t = TestApp::start(&[("TMAHOST_PROXY_ALLOW_PRIVATE", "true"), ("TMAHOST_PROXY_ALLOW_HTTP", "true")]);
    t.register(TOKEN_A, Some("Demo_Bot")).await;
    let (s, body) = t.deploy(t.admin(), "demo_bot", "main", "", bundles::zip(&bundles::sample_app("v1"))).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    // The app's backend, which reads the wallet from the identity token.
    let (_, app) = t.api(Method::GET, "/api/v1/bots/demo_bot/apps/main", Some(t.admin()), None).await;
    let Some(backend) = PythonBackend::start(&t.serve.api, app["id"].as_str().expect("app id")) else { return };
    let (s, body) = t
        .put_settings("demo_bot", "main", json!({ "backends": [{ "prefix": "/api/", "upstream": backend.url }] }))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let host = t.host("demo-bot");
    let domain = host.split(':').next().expect("name").to_owned();
    let cookie = session(&t, &host).await;
    let wallet = TestWallet::new(WalletVersion::V5R1, 9);

    // Without a session there is nothing to keep the wallet in.
    let res = t.http.get(format!("{}/_tma/ton/proof-payload", t.serve.edge)).header("host", &host).send().await;
    assert_eq!(res.expect("payload").status(), StatusCode::UNAUTHORIZED);

    // The round trip: a payload for this session, signed by the wallet for this host.
    let payload = payload_for(&t, &host, &cookie).await;
    let body = json!({
        "account": wallet.account(),
        "ton_proof": { "name": "ton_proof", "proof": wallet.prove(&domain, now(), &payload) },
    });
    let res = from_page(&t, Method::POST, &host, "ton/proof", &cookie).json(&body).send().await.expect("proof");
    assert_eq!(res.status(), StatusCode::OK);
    let updated = cookie_of(&res);
    let answer: Value = res.json().await.expect("json");
    let raw = wallet.address.to_hex();
    assert_eq!(
        (
            answer["wallet"]["address"].as_str(),
            answer["wallet"]["network"].as_str(),
            answer["wallet"]["version"].as_str()
        ),
        (Some(raw.as_str()), Some("mainnet"), Some("v5r1")),
        "{answer}"
    );
    let me: Value =
        from_page(&t, Method::GET, &host, "me", &updated).send().await.expect("me").json().await.expect("json");
    assert_eq!(me["wallet"]["address"], raw.as_str(), "{me}");
    assert_eq!(me["user"]["id"], 4242);
    // The backend verifies the identity token and finds the wallet in it, from the first
    // request after the proof (the session's earlier token, without it, is not reused).
    let whoami = |cookie: &str| {
        let req = t.http.get(format!("{}/api/whoami", t.serve.edge)).header("host", &host).header("cookie", cookie);
        req.header("origin", format!("http://{host}")).header("sec-fetch-site", "same-origin").send()
    };
    let before: Value = whoami(&cookie).await.expect("backend").json().await.expect("json");
    assert!(before["identity"]["wallet"].is_null() && before["identity"]["sub"] == "4242", "{before}");
    let after: Value = whoami(&updated).await.expect("backend").json().await.expect("json");
    assert_eq!(
        after["identity"]["wallet"],
        json!({ "address": raw, "friendly": wallet.address.to_base64_url_flags(true, false), "network": "mainnet", "version": "v5r1" }),
        "{after}"
    );

    // The same proof again, from this session or any: the payload was used.
    let res = from_page(&t, Method::POST, &host, "ton/proof", &updated).json(&body).send().await.expect("replay");
    let (status, answer) = (res.status(), res.json::<Value>().await.expect("json"));
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("payload_used")));

    // Refusals, each with its reason; none puts a wallet in the session.
    let other_session = session(&t, &host).await;
    let fresh = payload_for(&t, &host, &cookie).await;
    let refusals = [
        // Signed for another site.
        (
            json!({ "account": wallet.account(), "ton_proof": wallet.prove("evil.example", now(), &fresh) }),
            &cookie,
            "domain_mismatch",
        ),
        // A payload issued to another session.
        (
            json!({ "account": wallet.account(), "ton_proof": wallet.prove(&domain, now(), &fresh) }),
            &other_session,
            "payload_invalid",
        ),
        // A payload the platform never issued.
        (
            json!({ "account": wallet.account(), "ton_proof": wallet.prove(&domain, now(), "made-up") }),
            &cookie,
            "payload_invalid",
        ),
        // Another wallet's stateInit under this address.
        (
            json!({
                "account": { "address": raw, "chain": "-239", "walletStateInit": TestWallet::new(WalletVersion::V4R2, 9).state_init },
                "ton_proof": wallet.prove(&domain, now(), &fresh),
            }),
            &cookie,
            "address_mismatch",
        ),
    ];
    for (body, cookie, code) in refusals {
        let res = from_page(&t, Method::POST, &host, "ton/proof", cookie).json(&body).send().await.expect("proof");
        let (status, answer) = (res.status(), res.json::<Value>().await.expect("json"));
        assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some(code)), "{answer}");
    }
    // From another app's page, with this session's cookie: refused before anything is read.
    let res = t
        .http
        .post(format!("{}/_tma/ton/proof", t.serve.edge))
        .header("host", &host)
        .header("cookie", &cookie)
        .header("origin", format!("http://{}", t.host("other-bot")))
        .json(&json!({ "account": wallet.account(), "ton_proof": wallet.prove(&domain, now(), &fresh) }))
        .send()
        .await
        .expect("proof");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let me: Value =
        from_page(&t, Method::GET, &host, "me", &cookie).send().await.expect("me").json().await.expect("json");
    assert!(me["wallet"].is_null(), "{me}");
}
