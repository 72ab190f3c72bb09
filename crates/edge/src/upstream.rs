//! The client app backends are reached with, shared by the edge's workers: hyper's pooled
//! client on the service's [`UpstreamResolver`] (no SSRF: forbidden addresses are refused at
//! every connection), the identity tokens it reuses, its limits and the platform's hop mark.
//! Forwarding a request through it is `proxy`'s.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::header;
use hyper_util::client::legacy::connect::HttpConnector;
use tmahost_service::backends::UpstreamResolver;

use crate::FastHash;
use crate::wire::Req;

/// What the upstream client sends: a client's streamed body, or nothing.
pub(crate) type UpstreamBody = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

/// hyper's pooled client, straight: reqwest's layers on top of it (redirects off, still
/// re-parsing every URL through IDNA) cost more than the edge's own work per proxied request.
type Client = hyper_util::client::legacy::Client<hyper_rustls::HttpsConnector<HttpConnector<Resolver>>, UpstreamBody>;

/// The upstream client, shared by the edge's workers.
#[derive(Debug)]
pub(crate) struct Upstreams {
    pub client: Client,
    /// Identity tokens by session id, reused for half their lifetime: signing one per request
    /// would cost an Ed25519 signature each time. A session's claims change only when a wallet
    /// is proved, and the cookie from before the proof stays valid: the wallet is part of the
    /// key, so neither cookie is answered with the other's token.
    /// Each with the second it was signed; a lookup costs a probe (moka's cost a
    /// microsecond on a path nginx crosses in a few).
    /// Kept as header values: a clone shares the bytes, where building one checks and copies
    /// the token's hundreds of bytes.
    pub tokens: quick_cache::sync::Cache<String, (header::HeaderValue, i64), quick_cache::UnitWeighter, FastHash>,
    /// Seconds a token is reused.
    pub token_reuse: i64,
    pub resolver: UpstreamResolver,
    pub timeout: Duration,
    pub max_body: u64,
    pub websocket_idle: Duration,
    pub max_websockets: u64,
    /// `X-Forwarded-Proto`: the platform's public scheme, made a header value once.
    pub scheme: Option<header::HeaderValue>,
    /// The `Via` entry every forwarded request gets: `1.1 {hop_mark}`.
    pub via: header::HeaderValue,
    /// `tmahost-` and 16 hex digits derived from the master key: the same on every edge of this
    /// platform, and another platform's edges (one tenant's backend may be an app on another
    /// tmahost) do not take it for theirs.
    pub hop_mark: String,
}

impl Upstreams {
    pub fn new(platform: &tmahost_service::Platform) -> Result<Self, tmahost_service::ServiceError> {
        let config = platform.config();
        let resolver = UpstreamResolver::new(config);
        let hop_mark = format!(
            "tmahost-{}",
            hex::encode(&platform.key_for(tmahost_service::KeyPurpose::EdgeHopMark).expose()[..8])
        );
        const TOKENS: usize = 100_000;
        Ok(Self {
            client: upstream_client(&resolver)?,
            tokens: quick_cache::sync::Cache::with(
                TOKENS,
                TOKENS as u64,
                quick_cache::UnitWeighter,
                FastHash::default(),
                Default::default(),
            ),
            token_reuse: tmahost_service::identity::IDENTITY_TTL_SECS / 2,
            resolver,
            timeout: Duration::from_secs(config.proxy.timeout_secs),
            max_body: config.proxy.max_body_bytes,
            websocket_idle: Duration::from_secs(config.proxy.websocket_idle_secs),
            max_websockets: config.proxy.max_websockets_per_app,
            scheme: header::HeaderValue::try_from(config.server.public_scheme.as_str()).ok(),
            via: header::HeaderValue::try_from(format!("1.1 {hop_mark}"))
                .map_err(tmahost_service::ServiceError::internal)?,
            hop_mark,
        })
    }
}

/// The client the edge forwards with: names resolved by [`UpstreamResolver`] (which refuses
/// forbidden addresses at every connection), redirects passed to the browser rather than
/// followed, no environment proxy, bounded connect time; TLS with the Mozilla roots.
fn upstream_client(resolver: &UpstreamResolver) -> Result<Client, tmahost_service::ServiceError> {
    let mut http = HttpConnector::new_with_resolver(Resolver(resolver.clone()));
    http.enforce_http(false);
    http.set_connect_timeout(Some(Duration::from_secs(5)));
    http.set_nodelay(true);
    // The provider named, not the process default: the tree builds rustls with two of them.
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(tmahost_service::ServiceError::internal)?
        .with_root_certificates(rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() })
        .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_timer(hyper_util::rt::TokioTimer::new())
        .build(connector))
}

/// [`UpstreamResolver`] as hyper's connector asks names.
#[derive(Debug, Clone)]
pub(crate) struct Resolver(UpstreamResolver);

impl tower_service::Service<hyper_util::client::legacy::connect::dns::Name> for Resolver {
    type Response = std::vec::IntoIter<std::net::SocketAddr>;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: hyper_util::client::legacy::connect::dns::Name) -> Self::Future {
        let resolver = self.0.clone();
        Box::pin(async move {
            let ips = resolver.resolve(name.as_str()).await?;
            Ok(ips.into_iter().map(|ip| std::net::SocketAddr::new(ip, 0)).collect::<Vec<_>>().into_iter())
        })
    }
}

impl Upstreams {
    /// Whether the request carries this platform's hop mark: an edge forwarded it already.
    pub fn came_back(&self, req: &Req) -> bool {
        let mark = self.hop_mark.as_bytes();
        req.headers().get_all(header::VIA).iter().any(|v| memchr::memmem::find(v.as_bytes(), mark).is_some())
    }
}
