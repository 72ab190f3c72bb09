//! App backends, end to end: the real `tmahost serve` forwards an app's `/api/` to a backend
//! written in Python (`tests/backend/upstream.py`, PyJWT from PyPI) that verifies
//! `Tma-Identity` against the platform's JWKS with the library, as an app's developer would.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Digest;
use tmahost_testkit::app::TestApp;
use tmahost_testkit::backend::PythonBackend;
use tmahost_testkit::dns::DnsServer;
use tmahost_testkit::{TOKEN_A, TOKEN_B, bundles, launch_data};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const ALICE: &str = r#"{"id":4242,"first_name":"Alice","username":"alice"}"#;

/// A request to `host` on the edge, with `Authorization: tma <launch data>` when given.
fn edge(t: &TestApp, method: Method, host: &str, path: &str, launch: Option<&str>) -> reqwest::RequestBuilder {
    let req = t.http.request(method, format!("{}{path}", t.serve.edge)).header("host", host);
    match launch {
        Some(l) => req.header("authorization", format!("tma {l}")),
        None => req,
    }
}

async fn json_of(res: reqwest::Response) -> (StatusCode, Value) {
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A session cookie for `host` opened with `launch`.
async fn session(t: &TestApp, host: &str, launch: &str) -> String {
    let res = t
        .http
        .post(format!("{}/_tma/session", t.serve.edge))
        .header("host", host)
        .json(&json!({ "init_data": launch }))
        .send()
        .await
        .expect("session");
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = res.headers().get("set-cookie").and_then(|v| v.to_str().ok()).expect("cookie").to_owned();
    cookie.split(';').next().expect("pair").to_owned()
}

/// Sets the app's backends: the status and the answer.
async fn backends(t: &TestApp, app: &str, backends: Value) -> (StatusCode, Value) {
    t.put_settings("demo_bot", app, json!({ "backends": backends })).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_gets_the_verified_user_as_a_signed_token_and_nothing_forged() {
    let t = TestApp::start(&[
        ("TMAHOST_PROXY_ALLOW_PRIVATE", "true"),
        ("TMAHOST_PROXY_ALLOW_HTTP", "true"),
        ("TMAHOST_PROXY_MAX_BODY_BYTES", "60000000"),
    ]);
    let admin = t.admin().to_owned();
    t.register(TOKEN_A, Some("Demo_Bot")).await;
    t.register(TOKEN_B, Some("Other_Bot")).await;
    let (s, _) = t.api(Method::POST, "/api/v1/bots/demo_bot/apps", Some(&admin), Some(json!({ "slug": "shop" }))).await;
    assert_eq!(s, StatusCode::CREATED);
    for (bot, app) in [("demo_bot", "main"), ("demo_bot", "shop"), ("other_bot", "main")] {
        let (s, body) = t.deploy(&admin, bot, app, "", bundles::zip(&bundles::sample_app("v1"))).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
    }
    let (_, main) = t.api(Method::GET, "/api/v1/bots/demo_bot/apps/main", Some(&admin), None).await;
    let app_id = main["id"].as_str().expect("app id").to_owned();
    let Some(upstream) = PythonBackend::start(&t.serve.api, &app_id) else { return };

    // The app's /api/ goes to the backend (path kept); /hooks/ is public and stripped.
    let routes = json!([
        { "prefix": "/api/", "upstream": upstream.url },
        { "prefix": "/hooks/", "upstream": format!("{}/incoming", upstream.url), "strip_prefix": true, "public": true },
    ]);
    let (s, body) = backends(&t, "main", routes).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, body) = backends(&t, "shop", json!([{ "prefix": "/api/", "upstream": upstream.url }])).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let host = t.host("demo-bot");
    let alice = launch_data(TOKEN_A, ALICE);

    // A gated request reaches the backend with a token the library verifies: this app, this
    // platform, Alice. Her launch data and session cookie do not travel on.
    let cookie = session(&t, &host, &alice).await;
    let mut rows = tmahost_testkit::Rows::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let (status, seen) = loop {
        let res = edge(&t, Method::GET, &host, "/api/whoami?x=1", None)
            .header("cookie", format!("{cookie}; theme=dark"))
            .header("tma-identity", "forged.by.client")
            .header("x-forwarded-for", "6.6.6.6")
            .send()
            .await
            .expect("edge");
        let (status, body) = json_of(res).await;
        // Settings reach the edge within its refresh; until then /api/ is the bundle's.
        if body.get("path").is_some() {
            break (status, body);
        }
        assert!(Instant::now() < deadline, "the backend route never applied: {status} {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    rows.step("a gated request carries the verified user and nothing of the client's", async {
        assert_eq!(status, StatusCode::OK, "{seen}");
        let identity = &seen["identity"];
        assert_eq!(identity["sub"], "4242", "{seen}");
        assert_eq!(
            (identity["aud"].as_str(), identity["iss"].as_str()),
            (Some(app_id.as_str()), Some(t.serve.api.as_str()))
        );
        assert_eq!(
            (identity["user"]["first_name"].as_str(), identity["user"]["username"].as_str()),
            (Some("Alice"), Some("alice"))
        );
        assert!(identity["exp"].as_i64().unwrap_or(0) - identity["iat"].as_i64().unwrap_or(0) <= 120, "short-lived");
        assert!(!identity["sid"].as_str().unwrap_or_default().is_empty(), "names the session");
        assert_eq!(seen["path"], "/api/whoami?x=1");
        let headers = &seen["headers"];
        assert_eq!(headers["cookie"], "theme=dark", "the session cookie stays at the edge");
        assert_eq!(headers["x-forwarded-for"], "127.0.0.1", "the client's claim is replaced");
        assert_eq!(headers["x-forwarded-host"], host.as_str());
        assert_eq!(headers["x-forwarded-proto"], "http");
        println!("Tma-Identity claims, verified by PyJWT: {identity}");
    })
    .await;
    rows.step("the app's own page posts with its cookie", async {
        // The app's own page posting with its cookie, as a browser marks it: the user's identity.
        let res = edge(&t, Method::POST, &host, "/api/orders", None)
            .header("cookie", &cookie)
            .header("origin", format!("http://{host}"))
            .header("sec-fetch-site", "same-origin")
            .body("{}")
            .send()
            .await
            .expect("edge");
        let (status, body) = json_of(res).await;
        assert_eq!((status, body["identity"]["sub"].as_str()), (StatusCode::OK, Some("4242")), "{body}");
    })
    .await;
    rows.step("Authorization: tma works and is not passed on", async {
        // `Authorization: tma` works too, and is not passed on.
        let res = edge(&t, Method::POST, &host, "/api/orders", Some(&alice)).body("{}").send().await.expect("edge");
        let (status, body) = json_of(res).await;
        assert_eq!((status, body["identity"]["sub"].as_str()), (StatusCode::OK, Some("4242")), "{body}");
        assert!(body["headers"].get("authorization").is_none(), "{body}");
    })
    .await;
    rows.step("nothing unverified reaches the backend", async {
        // Never reaching it: no session, a forged cookie, another bot's session, expired launch
        // data, a client-made identity alone.
        let before = upstream.seen(&t.http).await.len();
        let other_cookie = session(&t, &t.host("other-bot"), &launch_data(TOKEN_B, ALICE)).await;
        let token = tmahost_types::BotToken::parse(TOKEN_A).expect("token");
        let expired = tmahost_types::init_data::sign(&[("user", ALICE)], &token, 1_000_000_000);
        let attempts: Vec<reqwest::RequestBuilder> = vec![
            edge(&t, Method::GET, &host, "/api/x", None),
            edge(&t, Method::GET, &host, "/api/x", None)
                .header("cookie", "__Host-tma_session=eyJhbGciOiJIUzI1NiJ9.e30.x"),
            edge(&t, Method::GET, &host, "/api/x", None).header("cookie", other_cookie),
            edge(&t, Method::GET, &host, "/api/x", Some(&expired)),
            edge(&t, Method::GET, &host, "/api/x", None).header("tma-identity", "forged.by.client"),
        ];
        for (i, req) in attempts.into_iter().enumerate() {
            let (status, body) = json_of(req.send().await.expect("edge")).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {i}: {body}");
            assert!(body["error"]["code"].as_str().is_some(), "the edge's shape: {body}");
        }
        assert_eq!(upstream.seen(&t.http).await.len(), before, "nothing unverified reached the backend");
    })
    .await;
    rows.step("another app's token is refused by its audience", async {
        // Another app of the same bot on the same backend: its token names that app, and the
        // backend (expecting `main`) refuses it by `aud`.
        let shop = t.host("shop--demo-bot");
        let res = edge(&t, Method::GET, &shop, "/api/x", Some(&alice)).send().await.expect("edge");
        let (status, body) = json_of(res).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert!(body["error"].as_str().is_some_and(|e| e.contains("Audience")), "{body}");
    })
    .await;
    rows.step("a public backend needs no session and gets no identity", async {
        // A public backend: no session needed, no identity sent; the prefix is replaced by the
        // upstream's base path.
        let res = edge(&t, Method::POST, &host, "/hooks/payment?id=7", None).body("paid").send().await.expect("edge");
        // The request id the client gets is the edge's (the upstream's names another request).
        let ids: Vec<_> =
            res.headers().get_all("x-request-id").iter().map(|v| v.to_str().unwrap_or("").to_owned()).collect();
        assert!(ids.len() == 1 && ids[0] != "upstream-7", "{ids:?}");
        let (status, body) = json_of(res).await;
        assert_eq!((status, body["path"].as_str()), (StatusCode::OK, Some("/incoming/payment?id=7")), "{body}");
        assert_eq!((body["identity"].clone(), body["body_bytes"].as_i64()), (Value::Null, Some(4)));
    })
    .await;
    rows.step("a public backend learns the caller only from the app's own pages", async {
        // With a session, a public backend learns who calls; from another app's page it does not.
        for (origin, sub) in [(host.clone(), json!("4242")), (t.host("other-bot"), Value::Null)] {
            let res = edge(&t, Method::POST, &host, "/hooks/ping", None)
                .header("cookie", &cookie)
                .header("origin", format!("http://{origin}"))
                .send()
                .await
                .expect("edge");
            let (status, body) = json_of(res).await;
            assert_eq!((status, &body["identity"]["sub"]), (StatusCode::OK, &sub), "from {origin}: {body}");
        }
    })
    .await;
    rows.step("bodies stream 50 MB each way without being buffered", async {
        // Bodies stream both ways: 50 MB up (sent in chunks, never as one buffer) and 50 MB down,
        // with the edge's memory checked at its peak.
        const SIZE: usize = 50 * 1024 * 1024;
        let peak_before = peak_rss_mb(t.serve.pid());
        let chunk = vec![7u8; 1024 * 1024];
        let expected = {
            let mut h = sha2::Sha256::new();
            for _ in 0..50 {
                h.update(&chunk);
            }
            hex::encode(h.finalize())
        };
        let body = futures_util::stream::iter((0..50).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
        let res = edge(&t, Method::POST, &host, "/api/upload", Some(&alice))
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await
            .expect("upload");
        let (status, body) = json_of(res).await;
        assert_eq!((status, body["body_bytes"].as_u64()), (StatusCode::OK, Some(SIZE as u64)), "{body}");
        assert_eq!(body["body_sha256"], expected);
        let mut res = edge(&t, Method::GET, &host, &format!("/api/download?bytes={SIZE}"), Some(&alice))
            .send()
            .await
            .expect("download");
        assert_eq!(res.status(), StatusCode::OK);
        let (mut got, mut hash) = (0usize, sha2::Sha256::new());
        while let Some(part) = res.chunk().await.expect("chunk") {
            got += part.len();
            hash.update(&part);
        }
        let pattern: Vec<u8> = (0..=255u8).cycle().take(SIZE).collect();
        assert_eq!((got, hex::encode(hash.finalize())), (SIZE, hex::encode(sha2::Sha256::digest(&pattern))));
        let peak_after = peak_rss_mb(t.serve.pid());
        println!("edge peak RSS: {peak_before:.1} MB before, {peak_after:.1} MB after 50 MB up and 50 MB down");
        assert!(
            peak_after - peak_before < 40.0,
            "bodies were buffered: peak RSS {peak_before:.1} -> {peak_after:.1} MB"
        );
    })
    .await;
    rows.step("a silent stream keeps its connection", async {
        // A streamed answer silent for longer than the edge lets an idle connection live (5-10 s):
        // the stream in hand keeps the connection, and both events arrive.
        let res = edge(&t, Method::GET, &host, "/api/events?pause=11", Some(&alice)).send().await.expect("events");
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.text().await.expect("both events"), "data: one\n\ndata: two\n\n");
    })
    .await;
    rows.step("a body over the limit gets 413", async {
        // Over the limit (60 MB here): the edge stops forwarding and answers 413.
        let chunk = vec![7u8; 1024 * 1024];
        let body = futures_util::stream::iter((0..61).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
        let res = edge(&t, Method::POST, &host, "/api/upload", Some(&alice))
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await
            .expect("an answer");
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(t.metric("tmahost_edge_proxy_requests_total{app=\"main--demo-bot\",outcome=\"too_large\"}").await >= 1);
    })
    .await;
    rows.step("a reader that stops reading loses its answer", async {
        // A reader that stops reading a streamed answer loses it: the edge closes its connection
        // (and the upstream's) once nothing has moved for 5-10 s, where a silent stream is kept.
        let path = "/api/download?bytes=1073741824";
        let mut stalled =
            tokio::net::TcpStream::connect(t.serve.edge.trim_start_matches("http://")).await.expect("connect");
        let head = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: tma {alice}\r\n\r\n");
        tokio::io::AsyncWriteExt::write_all(&mut stalled, head.as_bytes()).await.expect("head");
        let aborted = format!("aborted:{path}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !upstream.seen(&t.http).await.contains(&aborted) {
            assert!(Instant::now() < deadline, "a reader that stopped reading kept the upstream's answer going");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        drop(stalled);
    })
    .await;
    rows.step("the backend down gets 502", async {
        // The backend down: 502 in the edge's shape, counted for the app.
        drop(upstream);
        let res = edge(&t, Method::GET, &host, "/api/x", Some(&alice)).send().await.expect("edge");
        let (status, body) = json_of(res).await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_GATEWAY, Some("upstream_unreachable")));
        assert!(
            t.metric("tmahost_edge_proxy_requests_total{app=\"main--demo-bot\",outcome=\"unreachable\"}").await >= 1
        );
        assert!(t.metric("tmahost_edge_proxy_requests_total{app=\"main--demo-bot\",outcome=\"answered\"}").await >= 5);
    })
    .await;
    rows.step("the keys are the same on app hosts and on the API", async {
        // The keys, on every app host and on the API: the same set.
        let on_app: Value = edge(&t, Method::GET, &host, "/_tma/jwks.json", None)
            .send()
            .await
            .expect("jwks")
            .json()
            .await
            .expect("json");
        let (_, on_api) = t.api(Method::GET, "/api/v1/jwks.json", None, None).await;
        assert_eq!(on_app, on_api);
        assert_eq!(
            (on_api["keys"][0]["kty"].as_str(), on_api["keys"][0]["alg"].as_str()),
            (Some("OKP"), Some("EdDSA"))
        );
    })
    .await;
    rows.finish("app backends");
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The platform with `demo_bot` and `other_bot` deployed, and `demo_bot`'s main app sending
/// `/ws/` (stripped) to the Python backend's WebSocket server.
async fn websocket_app(env: &[(&str, &str)]) -> Option<(TestApp, PythonBackend, String)> {
    let mut env = env.to_vec();
    env.extend([("TMAHOST_PROXY_ALLOW_PRIVATE", "true"), ("TMAHOST_PROXY_ALLOW_HTTP", "true")]);
    let t = TestApp::start(&env);
    let admin = t.admin().to_owned();
    t.register(TOKEN_A, Some("Demo_Bot")).await;
    t.register(TOKEN_B, Some("Other_Bot")).await;
    for bot in ["demo_bot", "other_bot"] {
        let (s, body) = t.deploy(&admin, bot, "main", "", bundles::zip(&bundles::sample_app("v1"))).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
    }
    let (_, main) = t.api(Method::GET, "/api/v1/bots/demo_bot/apps/main", Some(&admin), None).await;
    let app_id = main["id"].as_str().expect("app id").to_owned();
    let upstream = PythonBackend::start(&t.serve.api, &app_id)?;
    let route = json!([{ "prefix": "/ws/", "upstream": upstream.ws_url, "strip_prefix": true }]);
    let (s, body) = backends(&t, "main", route).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    Some((t, upstream, app_id))
}

/// Opens a WebSocket to `path` on `host` through the edge; a refused handshake gives the
/// edge's status and JSON answer.
async fn open_socket(
    t: &TestApp,
    host: &str,
    path: &str,
    headers: &[(&'static str, String)],
) -> Result<(Socket, tokio_tungstenite::tungstenite::handshake::client::Response), (u16, Value)> {
    let url = format!("{}{path}", t.serve.edge.replacen("http://", "ws://", 1));
    let mut req = url.into_client_request().expect("a request");
    req.headers_mut().insert("host", host.parse().expect("host"));
    for (name, value) in headers {
        req.headers_mut().insert(*name, value.parse().expect("header value"));
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok(open) => Ok(open),
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            let body = res.body().as_deref().and_then(|b| serde_json::from_slice(b).ok()).unwrap_or(Value::Null);
            Err((res.status().as_u16(), body))
        }
        Err(e) => panic!("the handshake failed: {e}"),
    }
}

/// Opens a WebSocket as soon as the edge lets it through (within 10 s of `until` becoming true).
async fn socket_once_open(
    t: &TestApp,
    host: &str,
    path: &str,
    headers: &[(&'static str, String)],
    until: &str,
) -> (Socket, tokio_tungstenite::tungstenite::handshake::client::Response) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match open_socket(t, host, path, headers).await {
            Ok(open) => return open,
            Err(refused) => assert!(Instant::now() < deadline, "waited until {until}: {refused:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The next data message on `socket`, as text or bytes.
async fn next_message(socket: &mut Socket) -> Message {
    loop {
        match socket.next().await.expect("open").expect("a message") {
            m @ (Message::Text(_) | Message::Binary(_)) => return m,
            Message::Close(c) => panic!("closed: {c:?}"),
            _ => continue,
        }
    }
}

/// The backend's first message: what it verified.
async fn hello(socket: &mut Socket) -> Value {
    match next_message(socket).await {
        Message::Text(t) => serde_json::from_str(t.as_str()).expect("json"),
        other => panic!("expected the backend's hello, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_reach_the_backend_as_the_verified_user_from_the_apps_own_pages() {
    let env = [("TMAHOST_PROXY_MAX_WEBSOCKETS_PER_APP", "2")];
    let Some((t, upstream, app_id)) = websocket_app(&env).await else { return };
    let host = t.host("demo-bot");
    let alice = launch_data(TOKEN_A, ALICE);
    let bearer = [("authorization", format!("tma {alice}")), ("sec-websocket-protocol", "chat.v1".to_owned())];

    // Settings reach the edge within its refresh; until then /ws/ is the bundle's.
    let (mut socket, res) = socket_once_open(&t, &host, "/ws/chat?room=1", &bearer, "the backend route applies").await;
    // The handshake went through: the backend's choice of subprotocol came back, and it
    // verified Alice's token for this app.
    assert_eq!(res.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok()), Some("chat.v1"));
    let seen = hello(&mut socket).await;
    assert_eq!((seen["path"].as_str(), seen["protocol"].as_str()), (Some("/chat?room=1"), Some("chat.v1")), "{seen}");
    assert_eq!(
        (seen["identity"]["sub"].as_str(), seen["identity"]["aud"].as_str()),
        (Some("4242"), Some(app_id.as_str()))
    );

    // Messages both ways, as sent: text, and a 1 MiB binary one (many TCP reads).
    socket.send(Message::text("hello")).await.expect("send");
    assert_eq!(next_message(&mut socket).await, Message::text("hello"));
    let blob: Vec<u8> = (0..1usize << 20).map(|i| (i % 251) as u8).collect();
    socket.send(Message::binary(blob.clone())).await.expect("send");
    assert_eq!(next_message(&mut socket).await, Message::binary(blob));
    let open = "tmahost_edge_proxy_websockets_open{app=\"main--demo-bot\"}";
    assert_eq!(t.metric(open).await, 1);

    // At most two at once for this app (set above): the third waits for a slot.
    let (mut second, _) = open_socket(&t, &host, "/ws/chat", &bearer).await.expect("a second one");
    let refused = open_socket(&t, &host, "/ws/chat", &bearer).await.err();
    assert_eq!(refused.map(|(s, b)| (s, b["error"]["code"].clone())), Some((503, json!("too_many_websockets"))));
    assert!(
        t.metric("tmahost_edge_proxy_requests_total{app=\"main--demo-bot\",outcome=\"too_many_websockets\"}").await
            >= 1
    );
    second.close(None).await.expect("close");
    while second.next().await.is_some() {}
    let (mut third, _) = socket_once_open(&t, &host, "/ws/chat", &bearer, "the closed one's slot comes back").await;
    assert_eq!(hello(&mut third).await["identity"]["sub"], "4242");
    third.close(None).await.expect("close");
    while third.next().await.is_some() {}
    socket.close(None).await.expect("close");
    while socket.next().await.is_some() {}

    // With the session cookie: from the app's own page, yes; from another tenant's page (which
    // holds the same partitioned cookie inside Telegram Web), no, and nothing reaches the backend.
    let cookie = session(&t, &host, &alice).await;
    let own = [("cookie", cookie.clone()), ("origin", format!("http://{host}"))];
    let (mut mine, _) = open_socket(&t, &host, "/ws/chat", &own).await.expect("from the app's page");
    assert_eq!(hello(&mut mine).await["identity"]["sub"], "4242");
    mine.close(None).await.expect("close");
    while mine.next().await.is_some() {}
    let reached = upstream.seen(&t.http).await.len();
    let other = format!("http://{}", t.host("other-bot"));
    let attempts = [
        vec![("cookie", cookie.clone()), ("origin", other.clone())],
        vec![("cookie", cookie.clone()), ("origin", other), ("sec-fetch-site", "same-site".to_owned())],
        vec![("cookie", cookie.clone()), ("origin", "null".to_owned())],
    ];
    for headers in attempts {
        let refused = open_socket(&t, &host, "/ws/chat", &headers).await.err();
        assert_eq!(
            refused.map(|(s, b)| (s, b["error"]["code"].clone())),
            Some((403, json!("cross_origin"))),
            "{headers:?}"
        );
    }
    let refused = open_socket(&t, &host, "/ws/chat", &[]).await.err();
    assert_eq!(refused.map(|(s, b)| (s, b["error"]["code"].clone())), Some((401, json!("session_required"))));
    assert_eq!(upstream.seen(&t.http).await.len(), reached, "no refused handshake reached the backend");

    // Every tunnel closed: the gauge is back to zero.
    let deadline = Instant::now() + Duration::from_secs(10);
    while t.metric(open).await != 0 {
        assert!(Instant::now() < deadline, "tunnels left open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_websocket_is_closed_by_the_edge() {
    let Some((t, _upstream, _)) = websocket_app(&[("TMAHOST_PROXY_WEBSOCKET_IDLE_SECS", "2")]).await else { return };
    let host = t.host("demo-bot");
    let bearer = [("authorization", format!("tma {}", launch_data(TOKEN_A, ALICE)))];
    let (mut socket, _) = socket_once_open(&t, &host, "/ws/quiet", &bearer, "the backend route applies").await;
    assert_eq!(hello(&mut socket).await["identity"]["sub"], "4242");
    // Nothing either way for 2 s: the edge ends the tunnel (the end, not a message, comes next).
    let ended = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match socket.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(m)) => panic!("unexpected {m:?}"),
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the silent WebSocket stayed open");
    let deadline = Instant::now() + Duration::from_secs(10);
    while t.metric("tmahost_edge_proxy_websockets_open{app=\"main--demo-bot\"}").await != 0 {
        assert!(Instant::now() < deadline, "the closed tunnel is still counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The process's peak resident memory, in MB.
fn peak_rss_mb(pid: u32) -> f64 {
    tmahost_testkit::proc_memory_mb(pid, "VmHWM")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstreams_on_private_addresses_are_refused_without_the_operators_consent() {
    let dns = DnsServer::start().await;
    let t = TestApp::start(&[("TMAHOST_DNS_SERVER", &dns.addr.to_string()), ("TMAHOST_PROXY_ALLOW_HTTP", "true")]);
    t.register(TOKEN_A, Some("Demo_Bot")).await;
    let (s, _) = t.deploy(t.admin(), "demo_bot", "main", "", bundles::zip(&bundles::sample_app("v1"))).await;
    assert_eq!(s, StatusCode::CREATED);

    // Written as an address, or a name that resolves to one: refused when saved.
    dns.set_a("internal.test", "10.0.0.5".parse().expect("ip")).await;
    for upstream in ["http://127.0.0.1:9", "http://169.254.169.254", "http://[::1]:80", "http://internal.test"] {
        let (status, body) = backends(&t, "main", json!([{ "prefix": "/api/", "upstream": upstream }])).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("upstream_forbidden")),
            "{upstream}: {body}"
        );
    }
    let (status, body) = backends(&t, "main", json!([{ "prefix": "/api/", "upstream": "http://nowhere.test" }])).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("upstream_unresolved")),
        "{body}"
    );

    // A name that was public when saved and points inside later (DNS rebinding): refused at
    // connect time.
    dns.set_a("rebind.test", "93.184.216.34".parse().expect("ip")).await;
    let (status, body) = backends(&t, "main", json!([{ "prefix": "/api/", "upstream": "http://rebind.test" }])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    dns.set_a("rebind.test", "127.0.0.1".parse().expect("ip")).await;
    let host = t.host("demo-bot");
    let alice = launch_data(TOKEN_A, ALICE);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) =
            json_of(edge(&t, Method::GET, &host, "/api/x", Some(&alice)).send().await.expect("edge")).await;
        if status == StatusCode::BAD_GATEWAY {
            assert_eq!(body["error"]["code"], "upstream_forbidden", "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "still {status}: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(t.metric("tmahost_edge_proxy_requests_total{app=\"main--demo-bot\",outcome=\"forbidden\"}").await >= 1);
}
