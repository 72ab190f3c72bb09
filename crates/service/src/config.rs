//! The one typed configuration: defaults, then `tmahost.toml` (or `TMAHOST_CONFIG`), then
//! `TMAHOST_*` environment variables. Validated once at start; every field is documented in
//! the README.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Deserializer, Serialize};
use tmahost_deploy::Limits;
use tmahost_types::DnsName;

/// A configuration value that must never be printed.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Where the embedded defaults keep their state.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default `sqlite://{data_dir}/tmahost.db`.
    pub database_url: Option<Secret>,
    /// `file:///…`, `s3://bucket[/prefix]` or `memory://`; default `file://{data_dir}/objects`.
    pub storage_url: Option<String>,
    pub base_domain: String,
    pub public_scheme: String,
    /// Port in public app URLs; default: the edge port when `base_domain` is `localhost`.
    pub public_port: Option<u16>,
    pub edge_addr: SocketAddr,
    pub api_addr: SocketAddr,
    /// 32 bytes as hex or base64; default: generated into `{data_dir}/master.key`.
    pub master_key: Option<Secret>,
    pub control_bot_token: Option<Secret>,
    /// Public HTTPS URL Telegram posts the control bot's updates to; unset = long polling.
    pub control_bot_webhook_url: Option<String>,
    /// Where the control bot listens for webhook posts (behind the reverse proxy).
    pub control_bot_webhook_addr: SocketAddr,
    /// Where people reach the API and dashboard (login links); default `http://{api_addr}`.
    pub public_api_url: Option<String>,
    #[serde(deserialize_with = "id_list")]
    pub admin_ids: Vec<i64>,
    pub telegram_api_url: String,
    pub log_format: LogFormat,
    /// Lifetime of API tokens created without an explicit one.
    pub token_ttl_days: u32,
    /// Deployments still uploading after this long (or at start of `serve`) are marked failed.
    pub stale_upload_secs: u64,
    // Upload limits, flat so each is one `TMAHOST_MAX_*` variable (serde's `flatten` would
    // lose the key name in error messages). See [`Config::limits`].
    pub max_archive_bytes: u64,
    pub max_files: usize,
    pub max_file_bytes: u64,
    pub max_total_bytes: u64,
    pub max_compression_ratio: u64,
    pub max_path_bytes: usize,
    /// Edge: memory for hot blobs (MB).
    pub edge_cache_mb: u64,
    /// Edge: routing-table refresh interval (s), the backstop for changes made by other nodes.
    pub edge_refresh_secs: u64,
    /// Seconds a request body (upload, manifest) may send nothing before it is cut off (408).
    pub upload_idle_secs: u64,
    /// Edge: worker threads (each runs its own event loop); unset = one per CPU.
    pub edge_workers: Option<usize>,
    /// Edge: `POST /_tma/session` attempts per minute per client (IPv4 address or IPv6 /64)
    /// and app.
    pub session_rate_per_minute: u32,
    /// Reverse proxies (CIDRs or addresses, comma-separated) whose `X-Forwarded-For` /
    /// `Forwarded` headers name the client; unset = the TCP peer is the client.
    #[serde(deserialize_with = "net_list")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Operators' listener of every role (`/healthz`, `/readyz`, `/metrics`); unset = none.
    pub ops_addr: Option<SocketAddr>,
    /// Nameserver (`ip` or `ip:port`) that custom-domain proofs are looked up with; unset =
    /// the system's resolver configuration.
    pub dns_server: Option<String>,
    /// Seconds between re-checks of every custom domain's TXT proof.
    pub domain_check_secs: u64,
    /// Seconds a verified domain stays routed after its proof disappeared.
    pub domain_grace_secs: u64,
    /// App backends may be private, loopback or link-local addresses (a trusted network).
    pub proxy_allow_private: bool,
    /// App backends may be plain `http://` upstreams.
    pub proxy_allow_http: bool,
    /// Seconds an upstream has to answer with its headers, and may then stay silent mid-body.
    pub proxy_timeout_secs: u64,
    /// Largest request body forwarded to a backend.
    pub proxy_max_body_bytes: u64,
    /// Seconds a WebSocket passed through to a backend may carry nothing either way.
    pub proxy_websocket_idle_secs: u64,
    /// WebSockets open at once to one app's backends, on one edge.
    pub proxy_max_websockets_per_app: u64,
    /// Version of the `Tma-Identity` signing key; raising it rotates the key (the JWKS keeps
    /// the previous one).
    pub identity_key_version: u32,
    /// Deployments kept per app (the newest ones), for apps whose settings do not say.
    pub keep_deployments: u32,
    /// Seconds between background garbage-collection passes; 0 turns them off (`tmahost gc`
    /// still works).
    pub gc_every_secs: u64,
    /// Seconds a stored content no deployment references is kept after its last use (an upload,
    /// an "exists" answer to a deploy, a dropped reference).
    pub gc_grace_secs: u64,
    /// Bytes of distinct contents one bot's deployments may name; 0: no cap. An admin can set
    /// another cap per bot.
    pub max_bytes_per_bot: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            database_url: None,
            storage_url: None,
            base_domain: "localhost".into(),
            public_scheme: "http".into(),
            public_port: None,
            edge_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            api_addr: SocketAddr::from(([127, 0, 0, 1], 8081)),
            master_key: None,
            control_bot_token: None,
            control_bot_webhook_url: None,
            control_bot_webhook_addr: SocketAddr::from(([127, 0, 0, 1], 8082)),
            public_api_url: None,
            admin_ids: Vec::new(),
            telegram_api_url: "https://api.telegram.org".into(),
            log_format: LogFormat::Text,
            token_ttl_days: 365,
            stale_upload_secs: 3600,
            max_archive_bytes: Limits::default().max_archive_bytes,
            max_files: Limits::default().max_files,
            max_file_bytes: Limits::default().max_file_bytes,
            max_total_bytes: Limits::default().max_total_bytes,
            max_compression_ratio: Limits::default().max_compression_ratio,
            max_path_bytes: Limits::default().max_path_bytes,
            edge_cache_mb: 256,
            edge_refresh_secs: 5,
            edge_workers: None,
            upload_idle_secs: 30,
            session_rate_per_minute: 30,
            trusted_proxies: Vec::new(),
            ops_addr: None,
            dns_server: None,
            domain_check_secs: 300,
            domain_grace_secs: 72 * 3600,
            proxy_allow_private: false,
            proxy_allow_http: false,
            proxy_timeout_secs: 30,
            proxy_max_body_bytes: 100_000_000,
            proxy_websocket_idle_secs: 300,
            proxy_max_websockets_per_app: 1000,
            identity_key_version: 1,
            keep_deployments: 20,
            gc_every_secs: 3600,
            gc_grace_secs: 3600,
            max_bytes_per_bot: 0,
        }
    }
}

/// Why the configuration was refused, naming the variable to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(Box<figment::Error>),
    #[error("configuration: {var}: {problem}")]
    Invalid { var: &'static str, problem: String },
}

fn invalid(var: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { var, problem: problem.into() }
}

/// Variables read by other parts of the binary (CLI, tests), not part of [`Config`].
const NON_CONFIG_VARS: &[&str] = &["CONFIG", "SERVER", "TOKEN", "LOG", "TEST_REQUIRE_ALL", "TEST_POSTGRES_URL"];

impl Config {
    /// Loads from `TMAHOST_CONFIG` (or `./tmahost.toml` if present) and the environment.
    pub fn load() -> Result<Self, ConfigError> {
        let file =
            std::env::var_os("TMAHOST_CONFIG").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("tmahost.toml"));
        Self::load_from(&file, Env::prefixed("TMAHOST_").ignore(NON_CONFIG_VARS))
    }

    fn load_from(file: &Path, env: Env) -> Result<Self, ConfigError> {
        if std::env::var_os("TMAHOST_CONFIG").is_some() && !file.exists() {
            return Err(invalid("TMAHOST_CONFIG", format!("{} does not exist", file.display())));
        }
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(file))
            .merge(env)
            .extract()
            .map_err(|e| ConfigError::Load(Box::new(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// `TMAHOST_*` variables that name no setting: likely typos, worth a warning.
    pub fn unknown_env_vars() -> Vec<String> {
        let known = serde_json::to_value(Config::default()).unwrap_or_default();
        std::env::vars()
            .filter_map(|(k, _)| k.strip_prefix("TMAHOST_").map(str::to_owned))
            .filter(|k| !NON_CONFIG_VARS.contains(&k.as_str()) && known.get(k.to_ascii_lowercase()).is_none())
            .map(|k| format!("TMAHOST_{k}"))
            .collect()
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        // Room is left under the base domain for the longest app label.
        let domain_ok = self.base_domain.len() <= 200
            && DnsName::parse(&self.base_domain).is_some_and(|d| d.as_str().eq_ignore_ascii_case(&self.base_domain));
        if !domain_ok {
            return Err(invalid(
                "TMAHOST_BASE_DOMAIN",
                format!("`{}` is not a DNS name like apps.example.com", self.base_domain),
            ));
        }
        if self.base_domain.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(invalid("TMAHOST_BASE_DOMAIN", "use lowercase"));
        }
        if !(1..=3600).contains(&self.proxy_timeout_secs) {
            return Err(invalid("TMAHOST_PROXY_TIMEOUT_SECS", "must be between 1 and 3600"));
        }
        if !(1..=86_400).contains(&self.proxy_websocket_idle_secs) {
            return Err(invalid("TMAHOST_PROXY_WEBSOCKET_IDLE_SECS", "must be between 1 and 86400"));
        }
        if !(1..=1000).contains(&self.keep_deployments) {
            return Err(invalid("TMAHOST_KEEP_DEPLOYMENTS", "must be between 1 and 1000"));
        }
        if self.identity_key_version == 0 {
            return Err(invalid("TMAHOST_IDENTITY_KEY_VERSION", "versions start at 1"));
        }
        if !matches!(self.public_scheme.as_str(), "http" | "https") {
            return Err(invalid("TMAHOST_PUBLIC_SCHEME", "must be http or https"));
        }
        match url::Url::parse(&self.telegram_api_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => {
                return Err(invalid(
                    "TMAHOST_TELEGRAM_API_URL",
                    "must be an http(s) URL such as https://api.telegram.org",
                ));
            }
        }
        for (var, value) in [
            ("TMAHOST_CONTROL_BOT_WEBHOOK_URL", &self.control_bot_webhook_url),
            ("TMAHOST_PUBLIC_API_URL", &self.public_api_url),
        ] {
            if let Some(v) = value
                && !url::Url::parse(v).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            {
                return Err(invalid(var, format!("`{v}` is not an http(s) URL")));
            }
        }
        if let Some(url) = &self.database_url {
            let u = url.expose();
            if !(u.starts_with("sqlite:") || u.starts_with("postgres:") || u.starts_with("postgresql:")) {
                return Err(invalid("TMAHOST_DATABASE_URL", "must start with sqlite: or postgres:"));
            }
        }
        if let Some(url) = &self.storage_url
            && !["file://", "s3://", "memory://"].iter().any(|p| url.starts_with(p))
        {
            return Err(invalid("TMAHOST_STORAGE_URL", "must start with file://, s3:// or memory://"));
        }
        if let Some(t) = &self.control_bot_token {
            tmahost_types::BotToken::parse(t.expose())
                .map_err(|e| invalid("TMAHOST_CONTROL_BOT_TOKEN", e.to_string()))?;
        }
        if let Some(k) = &self.master_key {
            tmahost_store::MasterKey::parse(k.expose()).map_err(|e| invalid("TMAHOST_MASTER_KEY", e.to_string()))?;
        }
        if let Some(id) = self.admin_ids.iter().find(|id| **id <= 0) {
            return Err(invalid("TMAHOST_ADMIN_IDS", format!("`{id}` is not a Telegram user id")));
        }
        if let Some(dns) = &self.dns_server
            && crate::domains::parse_dns_server(dns).is_none()
        {
            return Err(invalid("TMAHOST_DNS_SERVER", format!("`{dns}` is not an IP address or ip:port")));
        }
        if self.edge_workers == Some(0) {
            return Err(invalid("TMAHOST_EDGE_WORKERS", "must be greater than zero"));
        }
        let l = self.limits();
        for (var, v) in [
            ("TMAHOST_MAX_ARCHIVE_BYTES", l.max_archive_bytes),
            ("TMAHOST_MAX_FILES", l.max_files as u64),
            ("TMAHOST_MAX_FILE_BYTES", l.max_file_bytes),
            ("TMAHOST_MAX_TOTAL_BYTES", l.max_total_bytes),
            ("TMAHOST_MAX_COMPRESSION_RATIO", l.max_compression_ratio),
            ("TMAHOST_MAX_PATH_BYTES", l.max_path_bytes as u64),
            ("TMAHOST_TOKEN_TTL_DAYS", u64::from(self.token_ttl_days)),
            ("TMAHOST_EDGE_REFRESH_SECS", self.edge_refresh_secs),
            ("TMAHOST_SESSION_RATE_PER_MINUTE", u64::from(self.session_rate_per_minute)),
            ("TMAHOST_UPLOAD_IDLE_SECS", self.upload_idle_secs),
            ("TMAHOST_DOMAIN_CHECK_SECS", self.domain_check_secs),
        ] {
            if v == 0 {
                return Err(invalid(var, "must be greater than zero"));
            }
        }
        Ok(())
    }

    pub fn limits(&self) -> Limits {
        Limits {
            max_archive_bytes: self.max_archive_bytes,
            max_files: self.max_files,
            max_file_bytes: self.max_file_bytes,
            max_total_bytes: self.max_total_bytes,
            max_compression_ratio: self.max_compression_ratio,
            max_path_bytes: self.max_path_bytes,
        }
    }

    pub fn with_limits(self, l: Limits) -> Self {
        Self {
            max_archive_bytes: l.max_archive_bytes,
            max_files: l.max_files,
            max_file_bytes: l.max_file_bytes,
            max_total_bytes: l.max_total_bytes,
            max_compression_ratio: l.max_compression_ratio,
            max_path_bytes: l.max_path_bytes,
            ..self
        }
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(u) => u.expose().to_owned(),
            None => format!("sqlite://{}", self.data_dir.join("tmahost.db").display()),
        }
    }

    pub fn storage_url(&self) -> Option<&str> {
        self.storage_url.as_deref()
    }

    /// [`Config::dns_server`], parsed (validated at load).
    pub fn dns_server(&self) -> Option<SocketAddr> {
        self.dns_server.as_deref().and_then(crate::domains::parse_dns_server)
    }

    /// The control bot's token, parsed (the configuration was validated at load).
    pub fn control_bot(&self) -> Option<tmahost_types::BotToken> {
        self.control_bot_token.as_ref().and_then(|t| tmahost_types::BotToken::parse(t.expose()).ok())
    }

    /// The API's public base URL, without a trailing slash.
    pub fn api_url(&self) -> String {
        match &self.public_api_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.api_addr),
        }
    }

    /// The origin of [`Config::api_url`] (`scheme://host[:port]`): the dashboard's, and so the
    /// Telegram emulator's, which the edge lets frame apps. Validated at load, so it parses.
    pub fn api_origin(&self) -> String {
        let url = self.api_url();
        url::Url::parse(&url).map(|u| u.origin().ascii_serialization()).unwrap_or(url)
    }

    /// The host name of `TMAHOST_PUBLIC_API_URL`, lowercase and without a trailing dot: a name
    /// of the platform's that no custom domain or app backend may take.
    pub fn public_api_host(&self) -> Option<String> {
        let url = url::Url::parse(self.public_api_url.as_deref()?).ok()?;
        url.host_str().map(|h| h.trim_end_matches('.').to_ascii_lowercase())
    }

    /// Port shown in public URLs, if not the scheme's default.
    pub fn public_port(&self) -> Option<u16> {
        let port = self.public_port.or_else(|| (self.base_domain == "localhost").then_some(self.edge_addr.port()))?;
        let default = if self.public_scheme == "https" { 443 } else { 80 };
        (port != default).then_some(port)
    }
}

/// Accepts `[1, 2]` (TOML) as well as `"1,2"` (environment).
fn id_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Ids {
        List(Vec<i64>),
        One(i64),
        Text(String),
    }
    match Ids::deserialize(d)? {
        Ids::List(v) => Ok(v),
        Ids::One(i) => Ok(vec![i]),
        Ids::Text(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse().map_err(|_| serde::de::Error::custom(format!("`{s}` is not a numeric Telegram user id")))
            })
            .collect(),
    }
}

/// `10.0.0.0/8, 192.0.2.7, 2001:db8::/32` (a string, or a TOML list): bare addresses are one
/// host.
fn net_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ipnet::IpNet>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Nets {
        List(Vec<String>),
        Text(String),
    }
    let items = match Nets::deserialize(d)? {
        Nets::List(v) => v,
        Nets::Text(s) => s.split(',').map(str::to_owned).collect(),
    };
    items
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map(|n| n.trunc())
                .map_err(|_| serde::de::Error::custom(format!("`{s}` is not an IP address or CIDR like 10.0.0.0/8")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::result_large_err)] // figment::Error is figment's, and Jail's API returns it
    fn load(toml: &str, env: &[(&str, &str)]) -> Result<Config, String> {
        let mut out = None;
        // Jail gives each test its own cwd and restores the environment afterwards.
        figment::Jail::expect_with(|jail| {
            jail.create_file("tmahost.toml", toml)?;
            for (k, v) in env {
                jail.set_env(format!("TMAHOST_{k}"), v);
            }
            let env = Env::prefixed("TMAHOST_").ignore(NON_CONFIG_VARS);
            out = Some(Config::load_from(Path::new("tmahost.toml"), env).map_err(|e| e.to_string()));
            Ok(())
        });
        out.expect("jail ran")
    }

    #[test]
    fn defaults_are_valid_and_embedded() {
        let c = load("", &[]).expect("defaults");
        assert_eq!(c.database_url(), "sqlite://./data/tmahost.db");
        assert_eq!(c.public_port(), Some(8080));
        assert_eq!(c.max_files, 20_000);
    }

    #[test]
    fn toml_then_env_with_comma_separated_admins() {
        let c = load(
            "base_domain = \"apps.example.com\"\nmax_files = 10\n",
            &[("ADMIN_IDS", "1, 2"), ("PUBLIC_SCHEME", "https")],
        )
        .expect("valid");
        assert_eq!(c.base_domain, "apps.example.com");
        assert_eq!(c.max_files, 10);
        assert_eq!(c.admin_ids, vec![1, 2]);
        assert_eq!(c.public_port(), None);
    }

    #[test]
    fn invalid_values_name_the_variable() {
        for (env, var) in [
            (("BASE_DOMAIN", "bad domain"), "TMAHOST_BASE_DOMAIN"),
            (("PUBLIC_SCHEME", "ftp"), "TMAHOST_PUBLIC_SCHEME"),
            (("MAX_FILES", "0"), "TMAHOST_MAX_FILES"),
            (("MASTER_KEY", "short"), "TMAHOST_MASTER_KEY"),
            (("DATABASE_URL", "mysql://x"), "TMAHOST_DATABASE_URL"),
            (("DNS_SERVER", "dns.example"), "TMAHOST_DNS_SERVER"),
        ] {
            let e = load("", &[env]).expect_err("invalid");
            assert!(e.contains(var), "{e}");
        }
        assert!(load("", &[("ADMIN_IDS", "1,x")]).is_err());
    }

    #[test]
    fn trusted_proxies_are_cidrs_or_addresses() {
        let c = load("", &[("TRUSTED_PROXIES", "10.1.2.3/8, 192.0.2.7 ,2001:db8::/32")]).expect("valid");
        let nets: Vec<String> = c.trusted_proxies.iter().map(ToString::to_string).collect();
        assert_eq!(nets, ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"]);
        let c = load("trusted_proxies = [\"127.0.0.1\"]\n", &[]).expect("a TOML list");
        assert_eq!(c.trusted_proxies.len(), 1);
        let e = load("", &[("TRUSTED_PROXIES", "10.0.0.0/8,proxy.internal")]).expect_err("a name is refused");
        assert!(e.contains("TRUSTED_PROXIES") && e.contains("proxy.internal"), "{e}");
        assert!(load("", &[]).expect("defaults").trusted_proxies.is_empty());
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let c = Config { master_key: Some(Secret::new("ab".repeat(32))), ..Config::default() };
        assert!(!format!("{c:?}").contains("abab"));
    }
}
