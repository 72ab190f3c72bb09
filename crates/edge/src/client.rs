//! Who the client is, and how often it may try to sign in.
//!
//! The client is the TCP peer, unless the peer is a reverse proxy the operator trusts
//! (`TMAHOST_TRUSTED_PROXIES`): then `Forwarded` (RFC 7239) or else `X-Forwarded-For` is read
//! from the right, hop by hop, and the first address that is not a trusted proxy is the client.
//! Entries further left were written by the client itself and prove nothing.
//!
//! Sign-in attempts (`POST /_tma/session`) are counted per client and app: IPv4 addresses one
//! by one, IPv6 by /64 (one host usually holds a whole /64), so one abuser exhausts only its own
//! bucket on one app, not the sign-in of everyone behind the same proxy on every app.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hyper::header::{self, HeaderMap};
use ipnet::IpNet;

use crate::wire::Req;

/// More hops than any real chain of proxies; a longer header is not read further.
const MAX_HOPS: usize = 32;

/// The client's address of a request that came from `peer`.
pub(crate) fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let peer = canonical(peer);
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded = header::HeaderName::from_static("forwarded");
    let (name, parse): (_, fn(&str) -> Option<IpAddr>) = if headers.contains_key(&forwarded) {
        (forwarded, forwarded_for)
    } else {
        (header::HeaderName::from_static("x-forwarded-for"), address)
    };
    // Several header lines form one list, in order.
    let lines: Vec<&str> = headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
    let hops = lines.iter().rev().flat_map(|line| line.rsplit(','));
    let mut nearest = peer;
    for hop in hops.take(MAX_HOPS) {
        match parse(hop).map(canonical) {
            Some(ip) if is_trusted(&ip) => nearest = ip,
            Some(ip) => return ip,
            // `unknown`, an obfuscated name or garbage written by a trusted hop: the client
            // cannot be told apart from that hop, so the hop is who is counted.
            None => return nearest,
        }
    }
    nearest
}

/// The `for=` address of one `Forwarded` element (`for=192.0.2.60;proto=https`,
/// `For="[2001:db8::17]:4711"`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        key.trim().eq_ignore_ascii_case("for").then(|| address(value.trim().trim_matches('"')))?
    })
}

/// An address with or without a port: `192.0.2.1`, `192.0.2.1:80`, `2001:db8::1`,
/// `[2001:db8::1]:80`.
fn address(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    if let Ok(ip) = text.parse() {
        return Some(ip);
    }
    if let Some(rest) = text.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    let (host, port) = text.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`, as dual-stack sockets report IPv4 peers)
/// are the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The bucket an address counts against: itself for IPv4, its /64 for IPv6.
fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        v4 => v4,
    }
}

/// Sign-in attempts per client bucket and app in the current minute.
pub(crate) struct Attempts {
    counts: moka::sync::Cache<(IpAddr, String), Arc<AtomicU32>>,
    per_minute: u32,
    trusted: Vec<IpNet>,
}

impl Attempts {
    pub(crate) fn new(per_minute: u32, trusted: Vec<IpNet>) -> Self {
        Self {
            counts: moka::sync::Cache::builder().max_capacity(100_000).time_to_live(Duration::from_secs(60)).build(),
            per_minute,
            trusted,
        }
    }

    /// Counts an attempt by the client of `req` on `app`; `false` once that client made more
    /// than the limit on that app this minute.
    pub(crate) fn allow(&self, req: &Req, app: &str) -> bool {
        let peer = req.peer().ip();
        self.allow_from(client_ip(peer, req.headers(), &self.trusted), app)
    }

    fn allow_from(&self, client: IpAddr, app: &str) -> bool {
        let n = self.counts.get_with((bucket(client), app.to_owned()), || Arc::new(AtomicU32::new(0)));
        n.fetch_add(1, Ordering::Relaxed) < self.per_minute
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use hyper::header::{HeaderMap, HeaderName, HeaderValue};

    use super::{Attempts, client_ip};

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    /// Header lines as a proxy chain leaves them.
    type Lines = &'static [(&'static str, &'static str)];

    fn headers(pairs: Lines) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn forwarded_addresses_count_only_through_trusted_hops() {
        let trusted = ["10.0.0.0/8".parse().expect("net"), "2001:db8:ffff::/48".parse().expect("net")];
        #[rustfmt::skip]
        let cases: &[(&str, Lines, &str)] = &[
            // An untrusted peer's headers are ignored, whatever they claim.
            ("203.0.113.9", &[("x-forwarded-for", "198.51.100.1")], "203.0.113.9"),
            ("203.0.113.9", &[("forwarded", "for=198.51.100.1")], "203.0.113.9"),
            // A trusted proxy: the rightmost untrusted entry is the client; what the client
            // wrote further left (a spoofed address) is not.
            ("10.0.0.2", &[("x-forwarded-for", "1.1.1.1, 198.51.100.1")], "198.51.100.1"),
            ("10.0.0.2", &[("x-forwarded-for", "1.1.1.1, 198.51.100.1, 10.0.0.3")], "198.51.100.1"),
            ("10.0.0.2", &[("x-forwarded-for", "1.1.1.1"), ("x-forwarded-for", "198.51.100.1")], "198.51.100.1"),
            ("10.0.0.2", &[("x-forwarded-for", "198.51.100.1:5000")], "198.51.100.1"),
            ("10.0.0.2", &[("x-forwarded-for", "[2001:db8::1]:443")], "2001:db8::1"),
            // Only trusted hops: the leftmost of them.
            ("10.0.0.2", &[("x-forwarded-for", "10.9.9.9, 10.0.0.3")], "10.9.9.9"),
            // No header, or garbage written by the trusted hop: the hop itself is counted.
            ("10.0.0.2", &[], "10.0.0.2"),
            ("10.0.0.2", &[("x-forwarded-for", "1.1.1.1, not-an-ip")], "10.0.0.2"),
            ("10.0.0.2", &[("x-forwarded-for", "1.1.1.1, not-an-ip, 10.0.0.3")], "10.0.0.3"),
            // RFC 7239 wins over X-Forwarded-For; quoted, bracketed, with ports, any case.
            ("10.0.0.2", &[("forwarded", "for=1.1.1.1, for=198.51.100.7;proto=https"), ("x-forwarded-for", "1.2.3.4")], "198.51.100.7"),
            ("10.0.0.2", &[("forwarded", "proto=https;For=\"[2001:db8:cafe::17]:4711\"")], "2001:db8:cafe::17"),
            ("10.0.0.2", &[("forwarded", "for=\"198.51.100.7:80\"")], "198.51.100.7"),
            ("10.0.0.2", &[("forwarded", "for=unknown")], "10.0.0.2"),
            ("10.0.0.2", &[("forwarded", "for=_hidden, for=10.0.0.3")], "10.0.0.3"),
            // IPv6 proxies, and IPv4 peers seen through a dual-stack socket.
            ("2001:db8:ffff::1", &[("x-forwarded-for", "2001:db8:1::5")], "2001:db8:1::5"),
            ("::ffff:10.0.0.2", &[("x-forwarded-for", "198.51.100.1")], "198.51.100.1"),
            ("::ffff:203.0.113.9", &[("x-forwarded-for", "198.51.100.1")], "203.0.113.9"),
        ];
        for (peer, given, want) in cases {
            assert_eq!(client_ip(ip(peer), &headers(given), &trusted), ip(want), "peer {peer}, headers {given:?}");
        }
        // With no trusted proxies configured, nothing forwarded is ever read.
        assert_eq!(client_ip(ip("10.0.0.2"), &headers(&[("x-forwarded-for", "1.1.1.1")]), &[]), ip("10.0.0.2"));
    }

    #[test]
    fn a_long_forwarded_chain_is_read_only_so_far() {
        let trusted = ["10.0.0.0/8".parse().expect("net")];
        let chain = vec!["10.0.0.1"; 10_000].join(", ");
        let mut h = HeaderMap::new();
        h.insert(HeaderName::from_static("x-forwarded-for"), HeaderValue::from_str(&chain).expect("value"));
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &trusted), ip("10.0.0.1"));
    }

    #[test]
    fn attempts_are_counted_per_client_and_app_and_ipv6_per_64() {
        let attempts = Attempts::new(2, Vec::new());
        let (a, b) = ("app-a", "app-b");
        assert!(attempts.allow_from(ip("198.51.100.1"), a));
        assert!(attempts.allow_from(ip("198.51.100.1"), a));
        assert!(!attempts.allow_from(ip("198.51.100.1"), a), "third attempt on the same app");
        assert!(attempts.allow_from(ip("198.51.100.1"), b), "another app has its own bucket");
        assert!(attempts.allow_from(ip("198.51.100.2"), a), "another client has its own bucket");
        // One /64 is one client: rotating the interface id does not buy attempts.
        assert!(attempts.allow_from(ip("2001:db8:1:2::1"), a));
        assert!(attempts.allow_from(ip("2001:db8:1:2:ffff::9"), a));
        assert!(!attempts.allow_from(ip("2001:db8:1:2:abcd::1"), a));
        assert!(attempts.allow_from(ip("2001:db8:1:3::1"), a), "the next /64 is another client");
    }
}
