//! Connections: stalled heads cut off, graceful stops, answers before the body was read.

mod common;

#[allow(unused_imports)]
use common::*;

/// The connection layer (hyper, on the edge's own worker threads): a client that stalls in the
/// middle of a request head is cut off, and a graceful stop refuses new connections while a
/// request in flight finishes.
#[tokio::test]
async fn stalled_heads_are_cut_off_and_a_graceful_stop_finishes_requests_in_flight() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let e = env().await;
    e.deploy(&bundles::sample_app("v1")).await;

    let mut stalled = tokio::net::TcpStream::connect(("127.0.0.1", e.port)).await.expect("connect");
    stalled.write_all(b"GET / HTTP/1.1\r\nHost: demo-bot.localhost\r\nX-Slow: ").await.expect("write");
    let mut got = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(60), stalled.read_to_end(&mut got)).await;
    assert!(closed.is_ok(), "a stalled request head keeps its connection");
    assert!(got.is_empty() || got.starts_with(b"HTTP/1.1 408"), "{}", String::from_utf8_lossy(&got));

    // A second listener of the same edge, stopped while a request is in flight: the handler
    // is reading its body (the `100 Continue` says so) when the stop comes.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = e.edge.clone().server(listener).expect("server");
    let handle = server.handle();
    let stopped = tokio::spawn(server);
    let body = json!({ "init_data": launch(TOKEN_A, 42, false, now()) }).to_string();
    let mut inflight = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /_tma/session HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Expect: 100-continue\r\n\r\n",
        e.host("demo-bot"),
        body.len()
    );
    inflight.write_all(head.as_bytes()).await.expect("head");
    let mut interim = [0u8; 25];
    inflight.read_exact(&mut interim).await.expect("100 Continue");
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");

    handle.stop(true).await;
    // New connections are refused once every worker has let go of the listener.
    let refused = async {
        while tokio::net::TcpStream::connect(addr).await.is_ok() {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), refused).await.expect("the stopped edge still accepts");

    inflight.write_all(body.as_bytes()).await.expect("body");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), inflight.read_to_end(&mut answer))
        .await
        .expect("the answer")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 200 ok\r\n"), "{answer}");
    assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");
    assert!(answer.contains("set-cookie: __host-tma_session="), "{answer}");
    tokio::time::timeout(Duration::from_secs(30), stopped)
        .await
        .expect("the server ends after its last request")
        .expect("task")
        .expect("server");
}

/// A body the edge refuses before reading it (over the session endpoint's limit) is answered
/// while the client is still sending: the client can send all of it and then read the 413,
/// because the edge reads and drops the rest before it closes (a close with unread bytes would
/// reset the connection, failing the client's writes and dropping the answer).
#[tokio::test]
async fn a_client_answered_before_its_body_was_read_can_finish_sending_and_read_the_answer() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let e = env().await;
    e.deploy(&bundles::sample_app("v1")).await;

    // Far more than the socket buffers of both ends hold, so the edge must read it.
    const BODY: usize = 64 * 1024 * 1024;
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", e.port)).await.expect("connect");
    let (mut from_edge, mut to_edge) = stream.into_split();
    let head = format!(
        "POST /_tma/session HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {BODY}\r\n\r\n",
        e.host("demo-bot")
    );
    let sending = tokio::spawn(async move {
        to_edge.write_all(head.as_bytes()).await?;
        let chunk = vec![b' '; 1024 * 1024];
        for _ in 0..BODY / chunk.len() {
            to_edge.write_all(&chunk).await?;
        }
        to_edge.shutdown().await
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), from_edge.read_to_end(&mut answer)).await;
    let sent = tokio::time::timeout(Duration::from_secs(60), sending).await;
    assert!(matches!(sent, Ok(Ok(Ok(())))), "the client could not send its whole body: {sent:?}");
    assert!(matches!(read, Ok(Ok(_))), "the answer was not read to its end: {read:?}");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
}
