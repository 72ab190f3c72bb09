//! App backends: where an app may send part of its paths (settings `backends`), and the
//! resolver the edge's upstream client connects with. No SSRF: an upstream is `https` (plain `http` only when the
//! operator allows it), and it never reaches loopback, private, link-local (cloud metadata),
//! shared or multicast addresses unless the operator allows private upstreams. The rule holds
//! when settings are saved and again at every connection ([`UpstreamResolver`]), so a name
//! that later resolves elsewhere (DNS rebinding) is refused too.
//!
//! No loops: an upstream is never the platform itself ([`names_platform`]: the base domain and
//! names under it, the API host, the platform's listening sockets; and proven custom domains),
//! checked when settings are saved and by the edge before each request. What no name reveals
//! (a CNAME to the edge, an outside proxy) the edge's hop mark stops (see the edge's proxy).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use hickory_resolver::TokioResolver;
use tmahost_store::model::Backend;

use crate::{Config, ServiceError};

/// Backends per app, at most.
pub const MAX_BACKENDS: usize = 10;

/// Addresses an upstream may not be, unless the operator allows private upstreams: what is
/// not on the public internet (or is the platform's own host or its cloud's metadata service).
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local (fd00:ec2::254 is AWS metadata)
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] == 0x64 && s[1] == 0xff9b) // NAT64: an IPv4 address in disguise
                || (s[0] == 0x2002) // 6to4: likewise
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local() // 169.254.169.254: cloud metadata
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier NAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments (192.0.0.0/24)
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

/// Why `upstream` is the platform itself, if it is, as far as the configuration tells: a host
/// that is the base domain or a name under it (every app's host, and what its wildcard DNS
/// record points at the edges), the API and dashboard's public host, or an address and port
/// the platform listens on (an unspecified listening address stands for every loopback one).
/// Proven custom domains are the database's and the routing table's to tell.
pub fn names_platform(config: &Config, upstream: &url::Url) -> Option<String> {
    match upstream.host()? {
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if tmahost_types::dns::is_within(&name, &config.server.base_domain) {
                return Some(format!(
                    "`{name}` is the platform's domain `{}` or a name under it",
                    config.server.base_domain
                ));
            }
            (config.public_api_host().as_deref() == Some(name.as_str()))
                .then(|| format!("`{name}` is the platform's API host"))
        }
        url::Host::Ipv4(v4) => listening_on(config, IpAddr::V4(v4), upstream.port_or_known_default()?),
        url::Host::Ipv6(v6) => listening_on(config, IpAddr::V6(v6), upstream.port_or_known_default()?),
    }
}

/// Why `ip:port` is one of the platform's own listening sockets, if it is.
fn listening_on(config: &Config, ip: IpAddr, port: u16) -> Option<String> {
    let ip = ip.to_canonical();
    let sockets = [
        Some(config.server.edge_addr),
        Some(config.server.api_addr),
        config.server.ops_addr,
        Some(config.telegram.control_bot_webhook_addr),
    ];
    sockets.into_iter().flatten().find_map(|own: SocketAddr| {
        let same_ip =
            own.ip().to_canonical() == ip || (own.ip().is_unspecified() && (ip.is_loopback() || ip.is_unspecified()));
        (own.port() == port && port != 0 && same_ip).then(|| format!("`{ip}:{port}` is where the platform listens"))
    })
}

fn is_platform(why: String) -> ServiceError {
    ServiceError::invalid("upstream_is_platform", format!("an upstream cannot be the platform itself: {why}"))
}

/// Checks what can be checked without DNS: the prefix, the scheme and shape of the upstream,
/// an address written into it, and whether it names the platform.
pub fn check(config: &Config, backends: &[Backend]) -> Result<(), ServiceError> {
    let invalid = |m: String| ServiceError::invalid("invalid_backend", m);
    if backends.len() > MAX_BACKENDS {
        return Err(invalid(format!("at most {MAX_BACKENDS} backends per app")));
    }
    for (i, b) in backends.iter().enumerate() {
        let p = &b.prefix;
        let ok_prefix = p.len() <= 256
            && p.starts_with('/')
            && p.ends_with('/')
            && p.len() > 1
            && !p.contains("//")
            && !p.split('/').any(|seg| seg == "." || seg == "..")
            && p.bytes().all(|c| c.is_ascii_alphanumeric() || b"/-._~".contains(&c));
        if !ok_prefix {
            return Err(invalid(format!(
                "prefix `{p}`: a path that starts and ends with `/` (`/api/`), of letters, digits and - . _ ~"
            )));
        }
        if p.starts_with("/_tma/") {
            return Err(invalid("prefixes under /_tma/ belong to the platform".into()));
        }
        if backends[..i].iter().any(|o| o.prefix == *p) {
            return Err(invalid(format!("prefix `{p}` appears twice")));
        }
        let url = upstream_url(config, &b.upstream)?;
        if let Some(why) = names_platform(config, &url) {
            return Err(is_platform(why));
        }
    }
    Ok(())
}

impl crate::Platform {
    /// Refuses upstreams that are another name of the platform: a proven custom domain (any
    /// app's: each is served by the edges).
    pub(crate) async fn refuse_custom_domain_upstreams(&self, backends: &[Backend]) -> Result<(), ServiceError> {
        for b in backends {
            let url = upstream_url(self.config(), &b.upstream)?;
            if let Some(url::Host::Domain(name)) = url.host() {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if self.db().domain_owner(&name).await?.is_some() {
                    return Err(is_platform(format!("`{name}` is a custom domain the platform serves")));
                }
            }
        }
        Ok(())
    }
}

/// The upstream as a URL the edge may connect to: `https` (or `http` when allowed), a host,
/// no credentials, query or fragment, and no forbidden address literal.
pub fn upstream_url(config: &Config, upstream: &str) -> Result<url::Url, ServiceError> {
    let invalid = |m: String| ServiceError::invalid("invalid_backend", m);
    if upstream.len() > 2048 {
        return Err(invalid("an upstream URL is at most 2048 characters".into()));
    }
    let url = url::Url::parse(upstream).map_err(|e| invalid(format!("upstream `{upstream}`: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if config.proxy.allow_http => {}
        "http" => {
            return Err(invalid(format!(
                "upstream `{upstream}`: https only (the operator allows http with TMAHOST_PROXY_ALLOW_HTTP)"
            )));
        }
        other => return Err(invalid(format!("upstream `{upstream}`: scheme `{other}` is not http(s)"))),
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(format!("upstream `{upstream}`: no credentials, query or fragment")));
    }
    let ip = match url.host() {
        None => return Err(invalid(format!("upstream `{upstream}` names no host"))),
        Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        Some(url::Host::Domain(_)) => None,
    };
    if let Some(ip) = ip
        && is_forbidden(ip)
        && !config.proxy.allow_private
    {
        return Err(ServiceError::invalid(
            "upstream_forbidden",
            format!("upstream `{upstream}` is a private, loopback or link-local address (TMAHOST_PROXY_ALLOW_PRIVATE)"),
        ));
    }
    Ok(url)
}

/// Resolves upstream names for the edge's client, refusing forbidden addresses at every
/// connection. Without a DNS configuration, names do not resolve (address literals work).
#[derive(Clone)]
pub struct UpstreamResolver {
    resolver: Option<Arc<TokioResolver>>,
    allow_private: bool,
}

impl std::fmt::Debug for UpstreamResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamResolver").field("allow_private", &self.allow_private).finish_non_exhaustive()
    }
}

/// Why a connection to an upstream was not made; the edge answers 502 `upstream_forbidden`.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` resolves only to addresses upstreams may not use (private, loopback, link-local)")]
pub struct ForbiddenUpstream(pub String);

impl UpstreamResolver {
    pub fn new(config: &Config) -> Self {
        Self { resolver: crate::domains::resolver(config).map(Arc::new), allow_private: config.proxy.allow_private }
    }

    /// The addresses of `host` an upstream connection may use.
    pub async fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, Box<dyn std::error::Error + Send + Sync>> {
        let resolver = self.resolver.as_ref().ok_or("no DNS configuration to resolve upstream names with")?;
        let found: Vec<IpAddr> = resolver.lookup_ip(host).await?.iter().collect();
        let allowed: Vec<IpAddr> = found.into_iter().filter(|ip| self.allow_private || !is_forbidden(*ip)).collect();
        if allowed.is_empty() {
            return Err(Box::new(ForbiddenUpstream(host.to_owned())));
        }
        Ok(allowed)
    }

    /// Whether an address written into an upstream URL may be connected to.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allow_private || !is_forbidden(ip)
    }
}

/// Looks the upstreams' names up when settings are saved: a name that resolves only to
/// forbidden addresses is refused now rather than failing every request later.
pub async fn check_names(config: &Config, backends: &[Backend]) -> Result<(), ServiceError> {
    if config.proxy.allow_private {
        return Ok(());
    }
    let resolver = UpstreamResolver::new(config);
    for b in backends {
        let url = upstream_url(config, &b.upstream)?;
        if let Some(url::Host::Domain(name)) = url.host() {
            match resolver.resolve(name).await {
                Ok(_) => {}
                Err(e) if e.is::<ForbiddenUpstream>() => {
                    return Err(ServiceError::invalid("upstream_forbidden", e.to_string()));
                }
                Err(e) => {
                    return Err(ServiceError::invalid(
                        "upstream_unresolved",
                        format!("upstream `{}`: {name} did not resolve: {e}", b.upstream),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_forbidden() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "192.0.0.8",
            "192.0.0.170",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::",
        ] {
            assert!(is_forbidden(ip.parse().expect("ip")), "{ip}");
        }
        for ip in ["1.1.1.1", "93.184.216.34", "192.0.1.1", "2606:4700:4700::1111", "::ffff:1.1.1.1"] {
            assert!(!is_forbidden(ip.parse().expect("ip")), "{ip}");
        }
    }

    #[test]
    fn backends_are_checked_before_they_are_saved() {
        let config = Config::default();
        let backend = |prefix: &str, upstream: &str| Backend {
            prefix: prefix.into(),
            upstream: upstream.into(),
            strip_prefix: false,
            public: false,
        };
        check(&config, &[backend("/api/", "https://api.example.com"), backend("/v2/x/", "https://example.com/base")])
            .expect("fine");
        let refused = |b: Backend| check(&config, &[b]).expect_err("refused").code();
        assert_eq!(refused(backend("api/", "https://a.example")), "invalid_backend");
        assert_eq!(refused(backend("/api", "https://a.example")), "invalid_backend");
        assert_eq!(refused(backend("/a/../b/", "https://a.example")), "invalid_backend");
        assert_eq!(refused(backend("/_tma/x/", "https://a.example")), "invalid_backend");
        assert_eq!(refused(backend("/api/", "http://a.example")), "invalid_backend");
        assert_eq!(refused(backend("/api/", "ftp://a.example")), "invalid_backend");
        assert_eq!(refused(backend("/api/", "https://u:p@a.example")), "invalid_backend");
        assert_eq!(refused(backend("/api/", "https://a.example/?x=1")), "invalid_backend");
        assert_eq!(refused(backend("/api/", "https://127.0.0.1:8080")), "upstream_forbidden");
        assert_eq!(refused(backend("/api/", "https://[::1]/")), "upstream_forbidden");
        assert_eq!(refused(backend("/api/", "https://169.254.169.254")), "upstream_forbidden");
        let twice = [backend("/api/", "https://a.example"), backend("/api/", "https://b.example")];
        assert_eq!(check(&config, &twice).expect_err("twice").code(), "invalid_backend");
        let many: Vec<Backend> = (0..11).map(|i| backend(&format!("/p{i}/"), "https://a.example")).collect();
        assert_eq!(check(&config, &many).expect_err("many").code(), "invalid_backend");

        let mut open = Config::default();
        (open.proxy.allow_http, open.proxy.allow_private) = (true, true);
        check(&open, &[backend("/api/", "http://127.0.0.1:9000")]).expect("the operator allows it");

        // The platform itself, even where private addresses are allowed.
        let mut platform = open;
        platform.server.base_domain = "apps.example".into();
        platform.server.public_api_url = Some("https://console.example/".into());
        platform.server.edge_addr = "0.0.0.0:8080".parse().expect("addr");
        platform.server.api_addr = "127.0.0.1:8081".parse().expect("addr");
        for upstream in [
            "https://apps.example",
            "https://shop--demo-bot.apps.example",
            "http://Demo-Bot.Apps.Example.:8080/x/",
            "https://a_b.apps.example",
            "https://console.example",
            "http://127.0.0.1:8080",
            "http://127.0.0.2:8080",
            "http://[::1]:8080",
            "http://[::ffff:127.0.0.1]:8081",
            "http://0.0.0.0:8080",
        ] {
            let refused = check(&platform, &[backend("/api/", upstream)]).expect_err(upstream);
            assert_eq!(refused.code(), "upstream_is_platform", "{upstream}");
        }
        for upstream in [
            "https://apps.example.evil.example",
            "https://xapps.example",
            "http://127.0.0.1:8083",
            "http://10.0.0.1:8081",
        ] {
            check(&platform, &[backend("/api/", upstream)]).expect(upstream);
        }
    }
}
