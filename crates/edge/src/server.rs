//! The edge's listener: worker threads, each a single-threaded Tokio runtime accepting from the
//! shared socket and serving its connections with hyper's HTTP/1.1 (keep-alive, upgrades),
//! the model actix-web's workers had, with bounded connections, a watchdog per connection for
//! clients that stall or idle, and graceful stop.

use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::future::Future;
use std::io::IoSlice;
use std::net::TcpListener;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, oneshot, watch};

use crate::Edge;
use crate::wire::{Body, Payload, Req};

/// A connection that in this long neither completes a request head nor has a request in hand
/// (or an app backend's answer streaming) nor takes any bytes of a response is closed when the
/// period after it ends as quiet too (so after 5-10 s): a head dribbled byte by byte, an idle
/// keep-alive connection, a reader that stopped reading a file. A streamed answer keeps its
/// connection while it is silent, but not while bytes wait for a reader that stopped reading
/// (it would hold the connection and the upstream's for good). actix-web, the edge's earlier
/// stack, gave heads and idle connections 5 s.
const QUIET: Duration = Duration::from_secs(5);

/// Open connections per worker; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 25_000;

/// How long a graceful stop waits for requests in flight.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest request head (request line and headers) read.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How long a connection the edge closes keeps reading (and dropping) what the client still
/// sends, so that a client answered before its body was read (a 413) gets to read the answer:
/// closing a socket with unread bytes sends a reset, which makes the client's kernel drop the
/// answer and fail its writes. nginx's lingering close does this (`lingering_timeout` 5 s).
const LINGER: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Serving,
    /// No new connections; requests in flight finish.
    Draining,
    /// Connections are dropped.
    Stopped,
}

/// The running edge server: resolves once every worker has stopped.
#[derive(Debug)]
pub struct Server {
    workers: Vec<oneshot::Receiver<()>>,
    handle: ServerHandle,
}

/// Stops a [`Server`] from elsewhere.
#[derive(Debug, Clone)]
pub struct ServerHandle {
    phase: Arc<watch::Sender<Phase>>,
}

impl ServerHandle {
    /// Stops accepting; `graceful`: requests in flight finish (within 30 s), else connections
    /// are dropped at once. Takes effect when called; the future resolves at once too (await
    /// the server for the end).
    pub fn stop(&self, graceful: bool) -> impl Future<Output = ()> + use<> {
        let phase = if graceful { Phase::Draining } else { Phase::Stopped };
        self.phase.send_if_modified(|p| {
            let later = *p != Phase::Stopped && *p != phase;
            if later {
                *p = phase;
            }
            later
        });
        std::future::ready(())
    }
}

impl Server {
    pub(crate) fn start(edge: Edge, listener: TcpListener, workers: usize) -> std::io::Result<Self> {
        listener.set_nonblocking(true)?;
        let (phase, _) = watch::channel(Phase::Serving);
        let handle = ServerHandle { phase: Arc::new(phase) };
        let mut done = Vec::with_capacity(workers);
        for i in 0..workers.max(1) {
            let listener = listener.try_clone()?;
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let (finished, waits) = oneshot::channel();
            let (edge, phase) = (edge.clone(), handle.phase.subscribe());
            std::thread::Builder::new().name(format!("edge-worker-{i}")).spawn(move || {
                let local = tokio::task::LocalSet::new();
                // The accept loop is a task of its own: `block_on`'s future is polled on every
                // turn of the loop, once per batch of ready connections.
                let accepting = local.spawn_local(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => accept(listener, edge, phase).await,
                        Err(e) => tracing::error!(error = %e, "edge worker could not use the listener"),
                    }
                });
                let _ = local.block_on(&runtime, accepting);
                let _ = finished.send(());
            })?;
            done.push(waits);
        }
        Ok(Self { workers: done, handle })
    }

    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }
}

impl Future for Server {
    type Output = std::io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        while let Some(last) = self.workers.last_mut() {
            // A worker that panicked dropped its sender: it has stopped too.
            let _ = std::task::ready!(Pin::new(last).poll(cx));
            self.workers.pop();
        }
        Poll::Ready(Ok(()))
    }
}

/// One worker: accepts until told to stop, each connection a task on this thread.
async fn accept(listener: tokio::net::TcpListener, edge: Edge, mut phase: watch::Receiver<Phase>) {
    let edge = Rc::new(edge);
    let open = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut http = http1::Builder::new();
    http.max_buf_size(MAX_HEAD_BYTES);
    let http = Rc::new(http);
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            _ = phase.wait_for(|p| *p != Phase::Serving) => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors, mostly: others' connections end and free some.
                    tracing::warn!(error = %e, "edge: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            continue;
        };
        // Responses go out in more than one write when large; Nagle's algorithm would hold the
        // last segment back until the client's (delayed) ACK.
        let _ = stream.set_nodelay(true);
        let (edge, http, phase) = (edge.clone(), http.clone(), phase.clone());
        tokio::task::spawn_local(async move {
            connection(stream, peer, &edge, &http, phase).await;
            drop(permit);
        });
    }
    drop(listener);
    if *phase.borrow() == Phase::Draining {
        // Every connection holds a permit until it ends.
        let all = u32::try_from(MAX_CONNECTIONS).unwrap_or(u32::MAX);
        tokio::select! {
            _ = open.acquire_many(all) => {}
            _ = phase.wait_for(|p| *p == Phase::Stopped) => {}
            _ = tokio::time::sleep(SHUTDOWN_TIMEOUT) => tracing::warn!("edge: requests still in flight at shutdown"),
        }
    }
}

/// One connection, until it ends, idles, stalls or the worker drains. Its watchdog is a task of
/// its own that wakes once per [`QUIET`] period: timers per request (hyper's head timeout) cost
/// more than a request's routing and gate together.
async fn connection(
    stream: TcpStream,
    peer: std::net::SocketAddr,
    edge: &Rc<Edge>,
    http: &http1::Builder,
    phase: watch::Receiver<Phase>,
) {
    let watch = Rc::new(Watch::default());
    let service = {
        let (edge, watch) = (edge.clone(), watch.clone());
        hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            watch.heads.set(watch.heads.get().wrapping_add(1));
            let busy = Busy::new(&watch);
            let (edge, watch) = (edge.clone(), watch.clone());
            async move {
                let (mut head, body) = req.into_parts();
                let upgrade = head.extensions.remove::<hyper::upgrade::OnUpgrade>();
                let res = crate::serve::handle(Req::new(head, peer), Payload::new(body, upgrade), &edge).await;
                if res.status() == hyper::StatusCode::SWITCHING_PROTOCOLS {
                    // The tunnel owns the socket now; its reads are the other side's bytes.
                    watch.socket.upgraded.store(true, Ordering::Relaxed);
                }
                // A streamed body (an app backend's answer, events every minute) keeps the
                // connection busy until it ends; its silence has the proxy's own timeout.
                let busy = matches!(res.body(), Body::Stream(..)).then_some(busy);
                Ok::<_, Infallible>(res.map(|body| Sent { body, _busy: busy }))
            }
        })
    };
    let io = TokioIo::new(Counted { io: stream, shared: watch.socket.clone(), linger: Linger::No });
    let mut conn = std::pin::pin!(http.serve_connection(io, service).with_upgrades());
    let watchdog = tokio::task::spawn_local(watchdog(watch.clone(), phase));
    let mut draining = false;
    std::future::poll_fn(|cx| {
        match watch.order.get() {
            Order::Close => return Poll::Ready(()),
            Order::Drain if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            _ => {}
        }
        let mut waker = watch.waker.borrow_mut();
        if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *waker = Some(cx.waker().clone());
        }
        drop(waker);
        conn.as_mut().poll(cx).map(|_| ())
    })
    .await;
    watchdog.abort();
}

/// Closes its connection after a quiet period, or starts draining it when the worker does.
async fn watchdog(watch: Rc<Watch>, mut phase: watch::Receiver<Phase>) {
    let mut seen = watch.progress();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(QUIET) => {
                let now = watch.progress();
                if now == seen && (watch.busy.get() == 0 || watch.socket.blocked.load(Ordering::Relaxed)) {
                    return watch.order(Order::Close);
                }
                seen = now;
            }
            // The sender gone is a stop too.
            _ = phase.wait_for(|p| *p != Phase::Serving) => return watch.order(Order::Drain),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Order {
    #[default]
    Serve,
    /// Finish the request in hand, then close.
    Drain,
    Close,
}

/// What a connection's watchdog sees of it, and how it tells the connection to end.
#[derive(Default)]
struct Watch {
    /// Request heads completed.
    heads: Cell<u64>,
    /// What the socket and the connection share (an upgrade may send the socket to another
    /// thread: hence atomics; only this worker writes them).
    socket: Arc<SocketShared>,
    /// Requests whose handler is running or whose streamed body is being sent (a body being
    /// read, an upstream being waited for or relayed: those have timeouts of their own).
    busy: Cell<u32>,
    order: Cell<Order>,
    /// The connection task's.
    waker: RefCell<Option<Waker>>,
}

impl Watch {
    fn progress(&self) -> (u64, u64) {
        (self.heads.get(), self.socket.writes.load(Ordering::Relaxed))
    }

    fn order(&self, order: Order) {
        self.order.set(order);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }
}

/// A handler running, for the watchdog.
struct Busy(Rc<Watch>);

impl Busy {
    fn new(watch: &Rc<Watch>) -> Self {
        watch.busy.set(watch.busy.get() + 1);
        Self(watch.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.set(self.0.busy.get() - 1);
    }
}

/// A response body, holding its connection busy while it streams.
struct Sent {
    body: Body,
    _busy: Option<Busy>,
}

impl hyper::body::Body for Sent {
    type Data = bytes::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

#[derive(Default)]
struct SocketShared {
    /// Writes that took bytes.
    writes: AtomicU64,
    /// Handed to a tunnel: its shutdown is the tunnel's, not a close that lingers.
    upgraded: AtomicBool,
    /// The last write found the socket full: the client is not reading what is there.
    blocked: AtomicBool,
}

/// The socket, counting the writes that took bytes, and closing with a linger.
struct Counted {
    io: TcpStream,
    shared: Arc<SocketShared>,
    linger: Linger,
}

enum Linger {
    /// The write side is open.
    No,
    /// Shut; reading until the client's end of stream, an error, or the deadline (set when a
    /// read first has to wait, so a client that closed first costs no timer).
    Draining(Option<Pin<Box<tokio::time::Sleep>>>),
}

impl Counted {
    fn wrote(&self, res: &Poll<std::io::Result<usize>>) {
        match res {
            // One writer: a load and a store, no locked instruction.
            Poll::Ready(Ok(n)) if *n > 0 => {
                let writes = &self.shared.writes;
                writes.store(writes.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
                self.shared.blocked.store(false, Ordering::Relaxed);
            }
            Poll::Pending => self.shared.blocked.store(true, Ordering::Relaxed),
            _ => {}
        }
    }

    /// Reads and drops until the peer's end of stream, an error or [`LINGER`].
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Linger::Draining(deadline) = &mut self.linger else { return Poll::Ready(()) };
        let mut scratch = [0u8; 8 * 1024];
        loop {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.io).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => continue,
                Poll::Ready(_) => return Poll::Ready(()),
                Poll::Pending => {
                    let deadline = deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(LINGER)));
                    return deadline.as_mut().poll(cx);
                }
            }
        }
    }
}

impl AsyncRead for Counted {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let res = Pin::new(&mut self.io).poll_write(cx, buf);
        self.wrote(&res);
        res
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let res = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.wrote(&res);
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if matches!(self.linger, Linger::No) {
            std::task::ready!(Pin::new(&mut self.io).poll_shutdown(cx))?;
            if self.shared.upgraded.load(Ordering::Relaxed) {
                return Poll::Ready(Ok(()));
            }
            self.linger = Linger::Draining(None);
        }
        self.poll_drain(cx).map(Ok)
    }
}

impl Edge {
    /// Runs the edge on `listener`, on `TMAHOST_EDGE_WORKERS` threads of its own (one per core by
    /// default). Signals are left to the caller.
    pub fn server(self, listener: std::net::TcpListener) -> std::io::Result<Server> {
        let workers = self.platform().config().edge.workers;
        let workers = workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        Server::start(self, listener, workers)
    }
}
