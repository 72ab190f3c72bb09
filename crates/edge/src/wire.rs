//! The edge's side of HTTP on hyper 1.x: the request as handlers read it ([`Req`]), its body
//! ([`Payload`], read whole by [`read_body`]), the response body ([`Body`]) and a small builder
//! for responses ([`Reply`]). The bottom of the edge: it imports no other module. The listener
//! and connections are `server`'s.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, StatusCode};

/// The request id every response carries (a proxy's, or one made in `serve::handle`).
pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Fetch Metadata: who started a browser's request, and what for.
pub(crate) const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");
pub(crate) const SEC_FETCH_MODE: HeaderName = HeaderName::from_static("sec-fetch-mode");
pub(crate) const SEC_FETCH_DEST: HeaderName = HeaderName::from_static("sec-fetch-dest");

/// A response as the edge sends it.
pub(crate) type Res = hyper::Response<Body>;

/// A request's head and the peer it came from; the body travels apart ([`Payload`]), so
/// handlers that never read one borrow this alone.
#[derive(Debug)]
pub(crate) struct Req {
    head: hyper::http::request::Parts,
    peer: SocketAddr,
}

impl Req {
    pub fn new(head: hyper::http::request::Parts, peer: SocketAddr) -> Self {
        Self { head, peer }
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.head.headers
    }

    pub fn method(&self) -> &Method {
        &self.head.method
    }

    /// The request target's path, as sent (still percent-encoded).
    pub fn path(&self) -> &str {
        self.head.uri.path()
    }

    /// The authority of an absolute-form request target (`GET http://host/path`), if it is one.
    pub fn authority(&self) -> Option<&hyper::http::uri::Authority> {
        self.head.uri.authority()
    }

    /// The query without its `?`; empty when there is none.
    pub fn query_string(&self) -> &str {
        self.head.uri.query().unwrap_or_default()
    }

    /// The TCP peer (see `client` for the client behind trusted proxies).
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    #[cfg(test)]
    pub fn test(build: hyper::http::request::Builder) -> Self {
        let (head, ()) = build.body(()).expect("test request").into_parts();
        Self { head, peer: SocketAddr::from(([192, 0, 2, 1], 40000)) }
    }
}

/// A request's body, and the connection's upgrade (a WebSocket tunnel takes it over).
pub(crate) struct Payload {
    body: Incoming,
    upgrade: Option<hyper::upgrade::OnUpgrade>,
}

impl Payload {
    pub fn new(body: Incoming, upgrade: Option<hyper::upgrade::OnUpgrade>) -> Self {
        Self { body, upgrade }
    }

    /// The next chunk of the body; `None` at its end. Trailers are skipped.
    pub async fn next(&mut self) -> Option<Result<Bytes, hyper::Error>> {
        loop {
            match self.body.frame().await? {
                Ok(frame) => match frame.into_data() {
                    Ok(data) => return Some(Ok(data)),
                    Err(_) => continue,
                },
                Err(e) => return Some(Err(e)),
            }
        }
    }

    /// The connection after this request's `101`: resolves once the response has been sent.
    pub fn take_upgrade(&mut self) -> Option<hyper::upgrade::OnUpgrade> {
        self.upgrade.take()
    }
}

/// A response body: nothing, bytes in hand (a file, JSON), or a stream (an app backend's
/// answer, a WebSocket's upstream side). Only streams are boxed.
pub(crate) enum Body {
    Empty,
    Full(Option<Bytes>),
    /// With its length when known in advance (sent as `Content-Length`, counted in stats).
    Stream(UnsyncBoxBody<Bytes, std::io::Error>, Option<u64>),
}

impl Body {
    pub fn stream<B>(body: B, length: Option<u64>) -> Self
    where
        B: hyper::body::Body<Data = Bytes, Error = std::io::Error> + Send + 'static,
    {
        Self::Stream(body.boxed_unsync(), length)
    }

    /// The body's length when it is known before sending.
    pub fn len(&self) -> Option<u64> {
        hyper::body::Body::size_hint(self).exact()
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match &mut *self {
            Body::Empty => Poll::Ready(None),
            Body::Full(bytes) => Poll::Ready(bytes.take().filter(|b| !b.is_empty()).map(|b| Ok(Frame::data(b)))),
            Body::Stream(s, _) => Pin::new(s).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Empty => true,
            Body::Full(bytes) => bytes.as_ref().is_none_or(Bytes::is_empty),
            Body::Stream(s, _) => s.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Empty => SizeHint::with_exact(0),
            Body::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Stream(_, Some(n)) => SizeHint::with_exact(*n),
            Body::Stream(s, None) => s.size_hint(),
        }
    }
}

/// A literal header value, checked when compiled: `HeaderValue::from_static` called at run time
/// checks every byte of it on every call (a 35-byte `Cache-Control` cost a 304 some 360
/// instructions).
macro_rules! value {
    ($literal:expr) => {
        const { ::hyper::header::HeaderValue::from_static($literal) }
    };
}
pub(crate) use value;

/// A header value for [`Reply`]: a value already made (literals through [`value!`]), or text
/// made per response.
pub(crate) trait IntoValue {
    fn into_value(self) -> Option<HeaderValue>;
}

impl IntoValue for HeaderValue {
    fn into_value(self) -> Option<HeaderValue> {
        Some(self)
    }
}

impl IntoValue for String {
    fn into_value(self) -> Option<HeaderValue> {
        HeaderValue::try_from(self).ok()
    }
}

/// Builds a response: a status, headers, then the body, which ends it. A value a header cannot
/// carry (only text made from a request can be one) leaves that header out.
pub(crate) struct Reply {
    res: Res,
}

impl Reply {
    pub fn build(status: StatusCode) -> Self {
        // Room for what a response carries: growing the map part-way cost more than all the
        // appends together.
        Self::with_headers(status, HeaderMap::with_capacity(12))
    }

    /// A response whose headers start as `headers`.
    #[inline]
    pub fn with_headers(status: StatusCode, headers: HeaderMap) -> Self {
        let mut res = hyper::Response::new(Body::Empty);
        *res.status_mut() = status;
        *res.headers_mut() = headers;
        Self { res }
    }

    pub fn status(&mut self, status: StatusCode) -> &mut Self {
        *self.res.status_mut() = status;
        self
    }

    /// Sets `name`, replacing a value set before.
    pub fn insert_header(&mut self, (name, value): (HeaderName, impl IntoValue)) -> &mut Self {
        if let Some(v) = value.into_value() {
            self.res.headers_mut().insert(name, v);
        }
        self
    }

    /// Adds a value of `name`. On a fresh response, the cheaper way to set a name once.
    pub fn append_header(&mut self, (name, value): (HeaderName, impl IntoValue)) -> &mut Self {
        if let Some(v) = value.into_value() {
            self.res.headers_mut().append(name, v);
        }
        self
    }

    pub fn content_type(&mut self, value: impl IntoValue) -> &mut Self {
        self.insert_header((CONTENT_TYPE, value))
    }

    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        self.res.headers_mut()
    }

    pub fn body(&mut self, body: impl Into<Bytes>) -> Res {
        self.with(Body::Full(Some(body.into())))
    }

    /// `body` as JSON.
    pub fn json(&mut self, body: impl serde::Serialize) -> Res {
        match serde_json::to_vec(&body) {
            Ok(json) => {
                self.content_type(value!("application/json"));
                self.body(json)
            }
            Err(e) => {
                tracing::error!(error = %e, "a response could not be written as JSON");
                Reply::build(StatusCode::INTERNAL_SERVER_ERROR).finish()
            }
        }
    }

    /// The response with `body` (a stream).
    #[inline]
    pub fn with(&mut self, body: Body) -> Res {
        let mut res = std::mem::replace(&mut self.res, hyper::Response::new(Body::Empty));
        *res.body_mut() = body;
        res
    }

    /// The response without a body.
    pub fn finish(&mut self) -> Res {
        self.with(Body::Empty)
    }
}

/// Why a request body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// No chunk within the idle time.
    Stalled,
    /// The connection broke it.
    Malformed,
    /// Over the limit, in bytes.
    TooLarge(usize),
}

/// A request body of at most `limit` bytes, each chunk within `idle` of the last. Only the
/// edge's own POST endpoints read one, so file requests never wait for a body.
pub(crate) async fn read_body(
    mut payload: Payload,
    limit: usize,
    idle: std::time::Duration,
) -> Result<Bytes, BodyError> {
    let mut body = bytes::BytesMut::new();
    loop {
        let chunk = match tokio::time::timeout(idle, payload.next()).await {
            Err(_) => return Err(BodyError::Stalled),
            Ok(None) => return Ok(body.freeze()),
            Ok(Some(Err(_))) => return Err(BodyError::Malformed),
            Ok(Some(Ok(chunk))) => chunk,
        };
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
}
