//! An outside HTTP relay, as a tenant could run one (a serverless `fetch` proxy, a reverse
//! proxy on a VPS): every request it takes goes to `target` with its `Host` replaced and every
//! other header kept, one request per connection. A tenant's backend pointed at it leads back
//! to the platform under a name the platform cannot see. It relays at most `max_hops` requests
//! and answers 502 after that, so a loop the platform fails to stop ends instead of exhausting
//! the machine.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The running relay; it stops when dropped.
#[derive(Debug)]
pub struct HostRelay {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    hops: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HostRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HostRelay {
    /// Relays to `target` (an address) as `host` (the `Host` header value sent there).
    pub async fn start(target: SocketAddr, host: &str, max_hops: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the relay");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let hops = Arc::new(AtomicUsize::new(0));
        let (counted, host) = (hops.clone(), host.to_owned());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let hop = counted.fetch_add(1, Ordering::SeqCst) + 1;
                let host = host.clone();
                tokio::spawn(async move {
                    let _ = relay(client, target, &host, hop <= max_hops).await;
                });
            }
        });
        Self { url, hops, task }
    }

    /// Connections relayed (or refused over the limit) so far.
    pub fn hops(&self) -> usize {
        self.hops.load(Ordering::SeqCst)
    }
}

async fn relay(mut client: TcpStream, target: SocketAddr, host: &str, allowed: bool) -> std::io::Result<()> {
    // The request head (the relay only carries requests without a body).
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = client.read(&mut buf).await?;
        if n == 0 || head.len() > 64 * 1024 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    if !allowed {
        let refusal = "HTTP/1.1 502 Bad Gateway\r\ncontent-length: 14\r\nconnection: close\r\n\r\nrelay too deep";
        return client.write_all(refusal.as_bytes()).await;
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let mut out = format!("{}\r\nhost: {host}\r\nconnection: close\r\n", lines.next().unwrap_or_default());
    for line in lines.filter(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or_default().trim().to_ascii_lowercase();
        if name != "host" && name != "connection" {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("\r\n");
    let mut upstream = TcpStream::connect(target).await?;
    upstream.write_all(out.as_bytes()).await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}
