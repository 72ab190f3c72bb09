//! Custom domains: the name rules (normalised, never a platform host), the DNS TXT proof of
//! control (`_tmahost.{domain}` = the app's token), checked with a real resolver when a domain
//! is set, on demand, and periodically; a verified domain whose record disappears loses its
//! route after a grace period.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{Resolver, TokioResolver};
use serde::{Deserialize, Serialize};
use tmahost_store::model::App;
use tmahost_store::{DomainClaim, ProofOutcome, StoreError, now_ms};
use tmahost_types::DnsName;

use crate::auth::Need;
use crate::refs::{AppRef, Granted};
use crate::{Config, Platform, ServiceError};

/// The label under which the proof is published: `_tmahost.app.example.com TXT "tmahost-verify=…"`.
pub const TXT_LABEL: &str = "_tmahost";
const TOKEN_PREFIX: &str = "tmahost-verify=";

/// Where a custom domain stands, for the API, the dashboard and the CLI.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DomainStatus {
    pub domain: String,
    /// `verified`: routed; `pending`: waiting for the TXT record.
    pub status: String,
    /// The record to publish.
    pub txt_name: String,
    pub txt_value: String,
    pub verified_at: Option<i64>,
    pub checked_at: Option<i64>,
    /// A verified domain whose record was not found since then; it loses its route once the
    /// grace period (`TMAHOST_DOMAIN_GRACE_SECS`) is over.
    pub failing_since: Option<i64>,
    pub last_error: Option<String>,
}

/// Normalises a custom domain (lowercase, no trailing dot) and refuses what is not a public DNS
/// name or what would shadow the platform: the base domain, any name under it, the API host.
pub fn normalise_domain(config: &Config, raw: &str) -> Result<String, ServiceError> {
    let bad = |why: String| ServiceError::invalid("invalid_domain", why);
    let Some(d) = DnsName::parse(raw).filter(DnsName::is_public) else {
        return Err(bad(format!(
            "custom_domain `{raw}` must be a DNS name like app.example.com (ASCII; use punycode for other scripts)"
        )));
    };
    let base = &config.server.base_domain;
    if d.is_within(base) {
        return Err(bad(format!(
            "custom_domain `{d}` is the platform's domain `{base}` or a name under it; those hosts belong to the platform"
        )));
    }
    if api_hosts(config).iter().any(|h| h == d.as_str()) {
        return Err(bad(format!("custom_domain `{d}` is the platform's API and dashboard host")));
    }
    if d.is_within("localhost") {
        return Err(bad(format!("custom_domain `{d}` is a loopback name")));
    }
    Ok(d.into())
}

/// Host names the API and dashboard answer on.
fn api_hosts(config: &Config) -> Vec<String> {
    let mut hosts = vec![config.server.api_addr.ip().to_string()];
    hosts.extend(config.public_api_host());
    hosts
}

/// The DNS resolver the proofs are checked with: `TMAHOST_DNS_SERVER` if set, else the system's.
/// `None` when the system has no resolver configuration: checks then fail with that reason,
/// and nothing else stops.
pub(crate) fn resolver(config: &Config) -> Option<TokioResolver> {
    let builder = match config.dns_server() {
        Some(addr) => {
            let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
            for c in &mut ns.connections {
                c.port = addr.port();
            }
            Resolver::builder_with_config(ResolverConfig::from_name_servers(vec![ns]), TokioRuntimeProvider::default())
        }
        None => match TokioResolver::builder_tokio() {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "no system DNS configuration; custom domains cannot be verified");
                return None;
            }
        },
    };
    let mut opts = ResolverOpts::default();
    // A record that was just published (or removed) is what counts, not a cached answer.
    opts.cache_size = 0;
    opts.timeout = Duration::from_secs(5);
    opts.attempts = 2;
    match builder.with_options(opts).build() {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!(error = %e, "cannot build the DNS resolver; custom domains cannot be verified");
            None
        }
    }
}

/// `ip` or `ip:port` (port 53 by default).
pub(crate) fn parse_dns_server(s: &str) -> Option<SocketAddr> {
    s.parse::<SocketAddr>().ok().or_else(|| s.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53)))
}

impl Platform {
    /// The TXT value that proves control of a domain for this app: derived from the master key,
    /// so every process agrees and nothing is stored.
    pub fn domain_token(&self, app_id: &str) -> String {
        let key = self.key_for(crate::KeyPurpose::CustomDomainProof(app_id));
        format!("{TOKEN_PREFIX}{}", hex::encode(&key.expose()[..16]))
    }

    fn domain_status(&self, claim: &DomainClaim) -> DomainStatus {
        DomainStatus {
            domain: claim.domain.clone(),
            status: if claim.verified_at.is_some() { "verified" } else { "pending" }.to_owned(),
            txt_name: format!("{TXT_LABEL}.{}", claim.domain),
            txt_value: self.domain_token(&claim.app_id),
            verified_at: claim.verified_at,
            checked_at: claim.checked_at,
            failing_since: claim.failing_since,
            last_error: claim.last_error.clone(),
        }
    }

    /// The app's custom domain and its proof, if it has one.
    pub async fn app_domain(&self, app: &App) -> Result<Option<DomainStatus>, ServiceError> {
        Ok(self.db().domain_claim(&app.id).await?.map(|c| self.domain_status(&c)))
    }

    /// Checks the proof of one app's domain now (owners; the API's `…/domain/verify`).
    pub async fn verify_domain(&self, r: &AppRef) -> Result<DomainStatus, ServiceError> {
        r.require(Need::Manage)?;
        let app = &r.app;
        let claim = self.db().domain_claim(&app.id).await?.ok_or_else(|| {
            ServiceError::invalid("no_custom_domain", "this app has no custom_domain in its settings")
        })?;
        // A resolver of its own: hickory answers an identical question already in flight with
        // that question's answer, and the background re-check may have asked just before the
        // owner published the record they now ask to verify.
        let claim = self.check_claim(&claim, resolver(self.config()).as_ref()).await?;
        Ok(self.domain_status(&claim))
    }

    /// Re-checks every claim (pending ones so they verify by themselves, verified ones so a
    /// removed record un-routes the domain after the grace period). Returns how many changed
    /// their routing.
    pub async fn recheck_domains(&self) -> Result<usize, ServiceError> {
        let mut changed = 0;
        for claim in self.db().domain_claims().await? {
            match self.check_claim(&claim, self.resolver()).await {
                Ok(now) if now.verified_at.is_some() != claim.verified_at.is_some() => changed += 1,
                Ok(_) => {}
                Err(ServiceError::NotFound(_)) => {}
                Err(e) => tracing::warn!(domain = %claim.domain, error = %e, "custom domain check failed"),
            }
        }
        Ok(changed)
    }

    /// Looks the claim's proof up with `dns` and records what it found.
    async fn check_claim(&self, claim: &DomainClaim, dns: Option<&TokioResolver>) -> Result<DomainClaim, ServiceError> {
        let want = self.domain_token(&claim.app_id);
        let (outcome, error) = match txt_values(dns, &claim.domain).await {
            Ok(values) if values.iter().any(|v| v.trim() == want) => (ProofOutcome::Seen, None),
            Ok(values) => {
                let why = if values.is_empty() {
                    format!("no TXT record at {TXT_LABEL}.{}", claim.domain)
                } else {
                    format!("the TXT record at {TXT_LABEL}.{} does not hold this app's token", claim.domain)
                };
                (self.missing(), Some(why))
            }
            Err(why) => (self.missing(), Some(why)),
        };
        let was_routed = claim.verified_at.is_some();
        let now = match self.db().record_domain_check(&claim.app_id, &claim.domain, outcome, error.as_deref()).await {
            Ok(c) => c,
            Err(StoreError::Conflict(_)) => {
                return Err(ServiceError::invalid(
                    "domain_taken",
                    format!("`{}` is already served by another app", claim.domain),
                ));
            }
            Err(StoreError::NotFound) => return Err(ServiceError::NotFound("custom domain")),
            Err(e) => return Err(e.into()),
        };
        if now.verified_at.is_some() != was_routed {
            tracing::info!(domain = %now.domain, routed = now.verified_at.is_some(), "custom domain routing changed");
            self.changed();
        }
        Ok(now)
    }

    fn missing(&self) -> ProofOutcome {
        let grace = i64::try_from(self.config().domains.grace_secs).unwrap_or(i64::MAX / 2000) * 1000;
        ProofOutcome::Missing { unroute_before: now_ms() - grace }
    }
}

/// The TXT strings at `_tmahost.{domain}`; `Ok(vec![])` when the name has none.
async fn txt_values(resolver: Option<&TokioResolver>, domain: &str) -> Result<Vec<String>, String> {
    let Some(resolver) = resolver else {
        return Err("no DNS resolver is configured on this server (TMAHOST_DNS_SERVER)".into());
    };
    let name = format!("{TXT_LABEL}.{domain}.");
    match resolver.txt_lookup(name.as_str()).await {
        Ok(lookup) => Ok(lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(txt) => {
                    Some(txt.txt_data.iter().map(|part| String::from_utf8_lossy(part)).collect::<String>())
                }
                _ => None,
            })
            .collect()),
        Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Vec::new()),
        Err(e) => Err(format!("DNS lookup of {name} failed: {e}")),
    }
}

/// Runs [`Platform::recheck_domains`] every `TMAHOST_DOMAIN_CHECK_SECS` until the platform is
/// dropped.
pub fn spawn_domain_checks(platform: &Platform) {
    let every = Duration::from_secs(platform.config().domains.check_secs.max(1));
    let weak = platform.downgrade();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let Some(platform) = Platform::upgrade(&weak) else { return };
            if let Err(e) = platform.recheck_domains().await {
                tracing::warn!(error = %e, "custom domain checks failed; retrying at the next interval");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let mut config = Config::default();
        config.server.base_domain = "apps.example.com".into();
        config.server.public_api_url = Some("https://console.example.com".into());
        config
    }

    #[test]
    fn domains_are_normalised() {
        assert_eq!(normalise_domain(&config(), " Shop.Example.ORG. ").expect("ok"), "shop.example.org");
        assert_eq!(normalise_domain(&config(), "xn--80ak6aa92e.com").expect("ok"), "xn--80ak6aa92e.com");
    }

    #[test]
    fn platform_names_and_non_names_are_refused() {
        for bad in [
            "apps.example.com",
            "demo-bot.apps.example.com",
            "x.shop--demo-bot.apps.example.com",
            "console.example.com",
            "127.0.0.1",
            "localhost",
            "a.localhost",
            "example",
            "-a.example.com",
            "a..example.com",
            "a_b.example.com",
            "ünï.example.com",
            "",
        ] {
            let e = normalise_domain(&config(), bad).expect_err(bad);
            assert_eq!((e.status(), e.code()), (422, "invalid_domain"), "{bad}");
        }
    }

    #[test]
    fn dns_servers_take_an_optional_port() {
        assert_eq!(parse_dns_server("127.0.0.1:5353"), Some(SocketAddr::from(([127, 0, 0, 1], 5353))));
        assert_eq!(parse_dns_server("10.0.0.2"), Some(SocketAddr::from(([10, 0, 0, 2], 53))));
        assert_eq!(parse_dns_server("dns.example"), None);
    }
}
