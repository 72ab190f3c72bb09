//! Path and header abuse against the real `tmahost serve`, over raw TCP so nothing is
//! normalised on the way: traversal in every spelling, NUL, overlong paths, huge headers and
//! cookies, conflicting framing (request smuggling), and stalled requests and uploads. Each
//! gets a clean 4xx (or the connection closed), and the server keeps answering normally.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tmahost_testkit::Rows;
use tmahost_testkit::app::TestApp;
use tmahost_testkit::bundles;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = tmahost_testkit::TOKEN_A;

fn addr(url: &str) -> String {
    url.trim_start_matches("http://").to_owned()
}

/// Sends `request` as is and returns the status of the first response (`None` when the server
/// closed the connection without one) and what was read: up to the end of the first head, or
/// with `all`, everything until the server closes; for at most `within`.
async fn raw_read(addr: &str, request: &[u8], within: Duration, all: bool) -> (Option<u16>, String) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    // The server may answer and close before reading everything; that is a fine answer.
    let _ = s.write_all(request).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(within, async {
        let mut chunk = [0u8; 4096];
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    if !all && buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.strip_prefix("HTTP/1.1 ").and_then(|r| r.get(..3)).and_then(|c| c.parse().ok());
    (status, text)
}

async fn raw(addr: &str, request: &[u8], within: Duration) -> (Option<u16>, String) {
    raw_read(addr, request, within, false).await
}

fn get(path: &str, host: &str, extra: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n").into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abusive_paths_headers_and_framing_get_clean_refusals() {
    let t = TestApp::start(&[("TMAHOST_UPLOAD_IDLE_SECS", "2")]);
    let admin = t.admin().to_owned();
    t.register(TOKEN, Some("Demo_Bot")).await;
    // Public, so a path that gets past the checks is answered by the manifest (404), not the gate.
    t.settings("demo-bot", "main", json!({ "access": "public", "spa_fallback": false })).await;
    let (status, body) = t.deploy(&admin, "demo-bot", "main", "", bundles::zip(&bundles::sample_app("v1"))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let host = t.host("demo-bot");
    let edge = addr(&t.serve.edge);
    let healthy = || async {
        let (status, body) = raw(&edge, &get("/", &host, ""), Duration::from_secs(5)).await;
        assert_eq!(status, Some(200), "the edge still serves the app: {body}");
    };
    // The edge publishes the new deployment asynchronously.
    let deadline = Instant::now() + Duration::from_secs(5);
    while raw(&edge, &get("/", &host, ""), Duration::from_secs(5)).await.0 != Some(200) {
        assert!(Instant::now() < deadline, "never served");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Traversal in every spelling: refused (400), or a path that names no file (404) — never
    // anything outside the bundle.
    let long = format!("/{}", "a/".repeat(3000));
    let cases: Vec<(&str, &[u16])> = vec![
        ("/../../../../etc/passwd", &[400]),
        ("/assets/../../etc/passwd", &[400]),
        ("/%2e%2e/%2e%2e/etc/passwd", &[400]),
        ("/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", &[400]),
        ("/%252e%252e/%252e%252e/etc/passwd", &[404]),
        ("/..%5c..%5cetc%5cpasswd", &[404]),
        ("/..\\..\\etc\\passwd", &[400, 404]),
        ("/index.html%00.js", &[400]),
        ("/%ff%fe", &[400]),
        ("/.env", &[404]),
        (long.as_str(), &[404, 414, 431]),
    ];
    let mut rows = Rows::new();
    for (path, allowed) in cases {
        let (status, text) = raw(&edge, &get(path, &host, ""), Duration::from_secs(5)).await;
        rows.check(status.is_some_and(|s| allowed.contains(&s)), || format!("{path}: {status:?}\n{text}"));
        rows.check(!text.contains("root:"), || format!("{path} leaked a system file"));
    }
    rows.finish("traversal spellings");

    // A raw NUL or a control character in the request line, an enormous path, huge headers, a
    // huge cookie, too many headers: refused by the HTTP parser with a 4xx or a closed socket.
    let huge = "x".repeat(1 << 20);
    let many: String = (0..500).map(|i| format!("X-H{i}: v\r\n")).collect();
    let requests: Vec<(&str, Vec<u8>)> = vec![
        ("NUL in path", format!("GET /a\0b HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes()),
        ("1 MB path", get(&format!("/{huge}"), &host, "")),
        ("1 MB header", get("/", &host, &format!("X-Big: {huge}\r\n"))),
        ("1 MB cookie", get("/", &host, &format!("Cookie: __Host-tma_session={huge}\r\n"))),
        ("500 headers", get("/", &host, &many)),
        ("bad header name", get("/", &host, "Bad Header: x\r\n")),
    ];
    let mut rows = Rows::new();
    for (what, req) in requests {
        let (status, text) = raw(&edge, &req, Duration::from_secs(5)).await;
        rows.check(status.is_none_or(|s| (400..500).contains(&s)), || {
            format!("{what}: {status:?}\n{}", &text[..text.len().min(300)])
        });
        healthy().await;
    }
    rows.finish("malformed requests");

    // Request smuggling: conflicting Content-Length / Transfer-Encoding, duplicate lengths.
    let smuggling = [
        "POST /_tma/session HTTP/1.1\r\nHost: HOST\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: HOST\r\n\r\n",
        "POST /_tma/session HTTP/1.1\r\nHost: HOST\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcd",
        "POST /_tma/session HTTP/1.1\r\nHost: HOST\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        "POST /_tma/session HTTP/1.1\r\nHost: HOST\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
        "POST /_tma/session HTTP/1.1\r\nHost: HOST\r\nContent-Length: -1\r\n\r\n",
    ];
    let mut rows = Rows::new();
    for req in smuggling {
        let req = req.replace("HOST", &host);
        let (status, text) = raw_read(&edge, req.as_bytes(), Duration::from_secs(3), true).await;
        rows.check(status.is_none_or(|s| (400..500).contains(&s)), || format!("{req:?}: {status:?}\n{text}"));
        // Never two answers for one connection's worth of smuggled bytes.
        rows.check(text.matches("HTTP/1.1 ").count() <= 1, || format!("{req:?} smuggled a second request: {text}"));
        healthy().await;
    }
    rows.finish("smuggling");

    // A client that never finishes its request head is cut off; the server does not wait.
    let started = Instant::now();
    let (status, _) =
        raw(&edge, format!("GET / HTTP/1.1\r\nHost: {host}\r\n").as_bytes(), Duration::from_secs(30)).await;
    assert!(status.is_none_or(|s| s == 408), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(20), "a stalled head held the connection {:?}", started.elapsed());

    // An upload that stops sending is cut off after TMAHOST_UPLOAD_IDLE_SECS with 408, and
    // leaves no temp file behind.
    let api_addr = addr(&t.serve.api);
    let head = format!(
        "POST /api/v1/bots/demo-bot/apps/main/deployments HTTP/1.1\r\nHost: {api_addr}\r\n\
         Authorization: Bearer {admin}\r\nContent-Type: application/zip\r\nContent-Length: 1000000\r\n\r\nPK\x03\x04"
    );
    let started = Instant::now();
    let (status, text) = raw(&api_addr, head.as_bytes(), Duration::from_secs(30)).await;
    assert_eq!(status, Some(408), "{text}");
    assert!(text.contains("request_timeout") || text.ends_with("\r\n\r\n"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let leftovers: Vec<_> = tmahost_testkit::files_under(t.serve.data_dir.path())
            .into_iter()
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("upload-")))
            .collect();
        if leftovers.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "temp files left: {leftovers:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (s, _) =
        raw(&api_addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", Duration::from_secs(5)).await;
    assert_eq!(s, Some(200), "the API still answers");
    healthy().await;
}
