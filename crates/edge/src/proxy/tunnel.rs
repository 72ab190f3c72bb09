//! WebSockets through an app backend: once the upstream switches protocols, a byte tunnel
//! between the two connections, closed when either side closes or both fall silent.

use std::cell::Cell;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use hyper::{Method, StatusCode, header};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::headers::{connection_tokens, copy_headers};
use super::unreachable;
use crate::stats::WebSocketSlot;
use crate::wire::{Payload, Reply, Req, Res, value};

/// Whether the client asks to turn this request into a WebSocket (RFC 6455 4.1).
pub(super) fn is_websocket(req: &Req) -> bool {
    let lists = |name| connection_tokens(req.headers().get_all(name).iter().map(|v| v.as_bytes()));
    req.method() == Method::GET
        && lists(header::UPGRADE).iter().any(|t| t == "websocket")
        && lists(header::CONNECTION).iter().any(|t| t == "upgrade")
}

/// A WebSocket the upstream agreed to: its 101 goes to the client, then the bytes after each
/// side's handshake go to the other untouched (frames, masking and extensions are the two ends'
/// business), until either side closes or neither sends anything for `idle`.
pub(super) async fn tunnel(
    answer: hyper::Response<hyper::body::Incoming>,
    mut payload: Payload,
    idle: Duration,
    slot: WebSocketSlot,
) -> Res {
    let mut res = Reply::build(StatusCode::SWITCHING_PROTOCOLS);
    copy_headers(res.headers_mut(), answer.headers());
    res.insert_header((header::CONNECTION, value!("upgrade"))).insert_header((header::UPGRADE, value!("websocket")));
    let (Some(client), Ok(upstream)) = (payload.take_upgrade(), hyper::upgrade::on(answer).await) else {
        tracing::info!("a WebSocket could not be taken over");
        return unreachable();
    };
    // The client's side switches once the 101 has been written; the tunnel (and the slot)
    // lives on this worker until either side ends.
    tokio::task::spawn_local(async move {
        let client = match client.await {
            Ok(c) => hyper_util::rt::TokioIo::new(c),
            Err(e) => {
                tracing::info!(error = %e, "the client's WebSocket could not be taken over");
                return;
            }
        };
        let upstream = hyper_util::rt::TokioIo::new(upstream);
        let last = Cell::new(Instant::now());
        let (from_client, to_client) = tokio::io::split(client);
        let (from_upstream, to_upstream) = tokio::io::split(upstream);
        // Either direction ending ends the tunnel: each side sees the other's close.
        tokio::select! {
            _ = pipe(from_client, to_upstream, &last, idle) => {}
            _ = pipe(from_upstream, to_client, &last, idle) => {}
        }
        drop(slot);
    });
    res.finish()
}

/// Copies `from` to `to` until `from` ends, a write fails or the tunnel idles; then shuts `to`.
async fn pipe(
    mut from: impl tokio::io::AsyncRead + Unpin,
    mut to: impl tokio::io::AsyncWrite + Unpin,
    last: &Cell<Instant>,
    idle: Duration,
) {
    let mut buf = BytesMut::with_capacity(16 * 1024);
    loop {
        buf.clear();
        match until_idle(last, idle, from.read_buf(&mut buf)).await {
            Some(Ok(n)) if n > 0 => {
                last.set(Instant::now());
                if to.write_all(&buf).await.is_err() {
                    break;
                }
            }
            _ => break,
        }
    }
    let _ = to.shutdown().await;
}

/// Runs `next` (cancel-safe) until it is ready, or `None` once `idle` has passed since the
/// tunnel's last traffic either way (what the other direction carried keeps this one open).
async fn until_idle<F: std::future::Future>(last: &Cell<Instant>, idle: Duration, next: F) -> Option<F::Output> {
    let mut next = std::pin::pin!(next);
    loop {
        let deadline = tokio::time::Instant::from_std(last.get() + idle);
        match tokio::time::timeout_at(deadline, next.as_mut()).await {
            Ok(out) => return Some(out),
            Err(_) if last.get().elapsed() < idle => continue,
            Err(_) => return None,
        }
    }
}
