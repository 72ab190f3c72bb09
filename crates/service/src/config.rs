//! The one typed configuration: defaults, then `tmahost.toml` (or `TMAHOST_CONFIG`), then
//! `TMAHOST_*` environment variables, validated once at start. It is made of sections, each
//! declared once with [`tmahost_types::section!`] (variable, key, default, check, doc); the
//! loader's variable map, the checks and the configuration reference in the book
//! ([`reference`]) come from those declarations.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Deserializer, Serialize};
use tmahost_deploy::Limits;
use tmahost_types::DnsName;
use tmahost_types::settings::check::{between, positive};
use tmahost_types::settings::{Section, Setting};

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

tmahost_types::section! {
    /// Where state lives (`[storage]`).
    pub struct Storage in "storage" {
        /// State of the embedded defaults (database, objects, master key) and upload scratch space
        /// (`tmp/`).
        DATA_DIR => data_dir: PathBuf = PathBuf::from("./data");
        /// `sqlite://…` or `postgres://…`; unset: `sqlite://{data_dir}/tmahost.db`.
        DATABASE_URL => database_url: Option<Secret> = None, check database_url;
        /// `file:///abs/dir`, `s3://bucket[/prefix]` (with `AWS_ACCESS_KEY_ID`,
        /// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL` for MinIO/R2) or `memory://`
        /// (tests); unset: `file://{data_dir}/objects`.
        STORAGE_URL => storage_url: Option<String> = None, check storage_url;
        /// 32 bytes as hex or base64; unset: generated once into `{data_dir}/master.key` (0600).
        /// Bot tokens are encrypted with it (AES-256-GCM) and every signing key is derived from
        /// it: keep it with the backups.
        MASTER_KEY => master_key: Option<Secret> = None, check master_key;
    }
}

tmahost_types::section! {
    /// Names and addresses (`[server]`).
    pub struct Server in "server" {
        /// Apps are served at `{bot}.{base_domain}` and `{app}--{bot}.{base_domain}`.
        BASE_DOMAIN => base_domain: String = "localhost".into(), check base_domain;
        /// `http` or `https`, as users reach the edge (behind a TLS proxy: `https`).
        PUBLIC_SCHEME => public_scheme: String = "http".into(), check public_scheme;
        /// Port in public app URLs; unset: the edge's port when `base_domain` is `localhost`,
        /// else the scheme's default.
        PUBLIC_PORT => public_port: Option<u16> = None;
        /// Where people reach the API and dashboard (login links, the emulator's origin);
        /// unset: `http://{api_addr}`.
        PUBLIC_API_URL => public_api_url: Option<String> = None, check http_url;
        /// The edge's listener.
        EDGE_ADDR => edge_addr: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 8080));
        /// The API's and dashboard's listener.
        API_ADDR => api_addr: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 8081));
        /// Operators' listener of every role (`/healthz`, `/readyz`, `/metrics`: the only way to
        /// scrape an `edge`; keep it private); unset: none.
        OPS_ADDR => ops_addr: Option<SocketAddr> = None;
        /// Reverse proxies in front of the edge (CIDRs or addresses, comma-separated, e.g.
        /// `127.0.0.1,::1` or `172.28.0.0/16`). Only when the TCP peer is one of them is the
        /// client read from `Forwarded` (RFC 7239, preferred) or `X-Forwarded-For`, from the
        /// right, skipping trusted hops. Unset: the peer is the client (behind a proxy, every
        /// user then shares one rate bucket).
        TRUSTED_PROXIES => trusted_proxies: Vec<ipnet::IpNet> = Vec::new(), parse "net_list";
        /// `text` or `json` log lines (the level is `TMAHOST_LOG`, e.g. `info,sqlx=warn`).
        LOG_FORMAT => log_format: LogFormat = LogFormat::Text;
    }
}

tmahost_types::section! {
    /// Telegram and the control bot (`[telegram]`).
    pub struct Telegram in "telegram" {
        /// The Bot API base URL, for the control bot and for calls with tenants' tokens (tests
        /// point it at a fake).
        TELEGRAM_API_URL => api_url: String = "https://api.telegram.org".into(), check telegram_api_url;
        /// Platform admins' Telegram user ids, comma-separated.
        ADMIN_IDS => admin_ids: Vec<i64> = Vec::new(), parse "id_list", check admin_ids;
        /// The control bot's token from @BotFather: `serve` runs the bot when it is set, `tmahost
        /// bot` needs it.
        CONTROL_BOT_TOKEN => control_bot_token: Option<Secret> = None, check control_bot_token;
        /// Public HTTPS URL Telegram posts the control bot's updates to (the secret token is
        /// derived from the master key); unset: long polling.
        CONTROL_BOT_WEBHOOK_URL => control_bot_webhook_url: Option<String> = None, check http_url;
        /// Where the control bot listens for those posts (put it behind the reverse proxy).
        CONTROL_BOT_WEBHOOK_ADDR => control_bot_webhook_addr: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 8082));
    }
}

tmahost_types::section! {
    /// The API (`[api]`).
    pub struct Api in "api" {
        /// Lifetime of API tokens created without an explicit one (days).
        TOKEN_TTL_DAYS => token_ttl_days: u32 = 365, check positive;
        /// Seconds after which an unfinished upload is given up: archive uploads are failed (and
        /// all of them at the start of `serve`), digest deploys expire, and files an interrupted
        /// upload left in `{data_dir}/tmp` are removed (checked every minute).
        STALE_UPLOAD_SECS => stale_upload_secs: u64 = 3600;
        /// Seconds an upload (archive, blob, manifest) may send nothing before it is cut off with
        /// 408 `request_timeout`.
        UPLOAD_IDLE_SECS => upload_idle_secs: u64 = 30, check positive;
    }
}

tmahost_types::section! {
    /// The edge (`[edge]`).
    pub struct Edge in "edge" {
        /// Memory for hot file contents (MB); manifests are cached apart, up to 64 MB.
        EDGE_CACHE_MB => cache_mb: u64 = 256;
        /// Seconds between the edge's reads of the change log when no notification came: the
        /// backstop for a lost one (on PostgreSQL other nodes' changes arrive by `LISTEN/NOTIFY`
        /// at once). A read costs what changed, not the number of apps.
        EDGE_REFRESH_SECS => refresh_secs: u64 = 5, check positive;
        /// Seconds between reads of the whole routing table (at 100,000 apps about a second of
        /// database work): the backstop for anything the change log did not name.
        EDGE_FULL_RELOAD_SECS => full_reload_secs: u64 = 600, check positive;
        /// Worker threads, each with its own event loop; unset: one per CPU.
        EDGE_WORKERS => workers: Option<usize> = None, check workers;
        /// `POST /_tma/session` attempts per minute per client (an IPv4 address or an IPv6 /64)
        /// and app; 429 with `Retry-After` above it.
        SESSION_RATE_PER_MINUTE => session_rate_per_minute: u32 = 30, check positive;
    }
}

tmahost_types::section! {
    /// App backends behind the edge (`[proxy]`).
    pub struct Proxy in "proxy" {
        /// App backends may be private, loopback or link-local addresses (a trusted network).
        PROXY_ALLOW_PRIVATE => allow_private: bool = false;
        /// App backends may be plain `http://` upstreams.
        PROXY_ALLOW_HTTP => allow_http: bool = false;
        /// Seconds a backend has to send its response headers, and may then stay silent mid-body
        /// (504 `upstream_timeout`).
        PROXY_TIMEOUT_SECS => timeout_secs: u64 = 30, check between(1, 3600);
        /// Largest request body forwarded to a backend (bytes; 413 above).
        PROXY_MAX_BODY_BYTES => max_body_bytes: u64 = 100_000_000;
        /// Seconds a WebSocket passed through to a backend may carry nothing either way.
        PROXY_WEBSOCKET_IDLE_SECS => websocket_idle_secs: u64 = 300, check between(1, 86_400);
        /// WebSockets open at once to one app's backends, per edge (503 `too_many_websockets`
        /// beyond).
        PROXY_MAX_WEBSOCKETS_PER_APP => max_websockets_per_app: u64 = 1000;
        /// Version of the `Tma-Identity` signing key (derived from the master key); raise it to
        /// rotate: the JWKS publishes the new key and the previous one.
        IDENTITY_KEY_VERSION => identity_key_version: u32 = 1, check positive;
    }
}

tmahost_types::section! {
    /// Custom domains (`[domains]`).
    pub struct Domains in "domains" {
        /// Nameserver (`ip` or `ip:port`) that custom-domain proofs are looked up with; unset:
        /// the system's resolver configuration.
        DNS_SERVER => dns_server: Option<String> = None, check dns_server;
        /// Seconds between re-checks of every custom domain's TXT proof (by the `api` role and
        /// `serve`).
        DOMAIN_CHECK_SECS => check_secs: u64 = 300, check positive;
        /// Seconds a verified domain stays routed after its proof disappeared.
        DOMAIN_GRACE_SECS => grace_secs: u64 = 72 * 3600;
    }
}

tmahost_types::section! {
    /// What is kept, and for how long (`[retention]`).
    pub struct Retention in "retention" {
        /// Deployments kept per app, the newest ones (an app's `keep_deployments` setting
        /// overrides it); the active, pinned and skew-protected ones are always kept.
        KEEP_DEPLOYMENTS => keep_deployments: u32 = 20, check between(1, 1000);
        /// Seconds between garbage-collection passes (the `api` role and `serve`, one node at a
        /// time); 0 turns them off (`tmahost gc` still works).
        GC_EVERY_SECS => gc_every_secs: u64 = 3600;
        /// Seconds a stored content no deployment references is kept after its last use (an
        /// upload, an "exists" answer to a deploy, a dropped reference); keep it at least
        /// `TMAHOST_STALE_UPLOAD_SECS` so a digest deploy's answers hold until it expires.
        GC_GRACE_SECS => gc_grace_secs: u64 = 3600;
        /// Bytes of distinct contents one bot's deployments may name; 0: no cap. A deploy that
        /// would pass it is refused with 413 `quota_exceeded` before anything is stored; an
        /// admin can give a bot its own cap (`PATCH /api/v1/bots/{bot}` `{"max_bytes": N}`).
        MAX_BYTES_PER_BOT => max_bytes_per_bot: u64 = 0;
    }
}

/// The whole configuration: one field per section, named as its `tmahost.toml` table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub storage: Storage,
    pub server: Server,
    pub telegram: Telegram,
    pub api: Api,
    pub uploads: Limits,
    pub edge: Edge,
    pub proxy: Proxy,
    pub domains: Domains,
    pub retention: Retention,
}

/// Every section's settings, in the order of [`Config`]'s fields.
const SECTIONS: &[&[Setting]] = &[
    Storage::SETTINGS,
    Server::SETTINGS,
    Telegram::SETTINGS,
    Api::SETTINGS,
    Limits::SETTINGS,
    Edge::SETTINGS,
    Proxy::SETTINGS,
    Domains::SETTINGS,
    Retention::SETTINGS,
];

/// Every setting of every section.
pub fn settings() -> impl Iterator<Item = &'static Setting> {
    SECTIONS.iter().flat_map(|s| s.iter())
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
const NON_CONFIG_VARS: &[&str] =
    &["CONFIG", "SERVER", "TOKEN", "LOG", "TEST_REQUIRE_ALL", "TEST_POSTGRES_URL", "SOAK_SECS"];

/// The `TMAHOST_*` variables, each mapped to its `section.key`; others are left out (and
/// warned about by [`Config::unknown_env_vars`]).
fn environment() -> Env {
    Env::prefixed("TMAHOST_").filter_map(|name| {
        settings()
            .find(|s| s.env.strip_prefix("TMAHOST_").is_some_and(|e| name == e))
            .map(|s| format!("{}.{}", s.section, s.key).into())
    })
}

impl Config {
    /// Loads from `TMAHOST_CONFIG` (or `./tmahost.toml` if present) and the environment.
    pub fn load() -> Result<Self, ConfigError> {
        let file =
            std::env::var_os("TMAHOST_CONFIG").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("tmahost.toml"));
        Self::load_from(&file, environment())
    }

    fn load_from(file: &Path, env: Env) -> Result<Self, ConfigError> {
        if std::env::var_os("TMAHOST_CONFIG").is_some() && !file.exists() {
            return Err(invalid("TMAHOST_CONFIG", format!("{} does not exist", file.display())));
        }
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(file))
            .merge(env)
            .extract()
            .map_err(|e| {
                match settings().find(|s| e.path.len() == 2 && e.path[0] == s.section && e.path[1] == s.key) {
                    Some(s) => invalid(s.env, format!("{} (`[{}] {}` in tmahost.toml)", e.kind, s.section, s.key)),
                    None => ConfigError::Load(Box::new(e)),
                }
            })?;
        config.validate()?;
        Ok(config)
    }

    /// `TMAHOST_*` variables that name no setting: likely typos, worth a warning.
    pub fn unknown_env_vars() -> Vec<String> {
        std::env::vars()
            .map(|(k, _)| k)
            .filter(|k| {
                k.strip_prefix("TMAHOST_")
                    .is_some_and(|rest| !NON_CONFIG_VARS.contains(&rest) && !settings().any(|s| s.env == k.as_str()))
            })
            .collect()
    }

    /// Each section's checks, in order; the first refusal names its variable.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.storage.check()?;
        self.server.check()?;
        self.telegram.check()?;
        self.api.check()?;
        self.uploads.check()?;
        self.edge.check()?;
        self.proxy.check()?;
        self.domains.check()?;
        self.retention.check()?;
        Ok(())
    }

    pub fn database_url(&self) -> String {
        match &self.storage.database_url {
            Some(u) => u.expose().to_owned(),
            None => format!("sqlite://{}", self.storage.data_dir.join("tmahost.db").display()),
        }
    }

    pub fn storage_url(&self) -> Option<&str> {
        self.storage.storage_url.as_deref()
    }

    /// [`Domains::dns_server`], parsed (validated at load).
    pub fn dns_server(&self) -> Option<SocketAddr> {
        self.domains.dns_server.as_deref().and_then(crate::domains::parse_dns_server)
    }

    /// The control bot's token, parsed (the configuration was validated at load).
    pub fn control_bot(&self) -> Option<tmahost_types::BotToken> {
        self.telegram.control_bot_token.as_ref().and_then(|t| tmahost_types::BotToken::parse(t.expose()).ok())
    }

    /// The API's public base URL, without a trailing slash.
    pub fn api_url(&self) -> String {
        match &self.server.public_api_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.server.api_addr),
        }
    }

    /// The origin of [`Config::api_url`] (`scheme://host[:port]`): the dashboard's, and so the
    /// Telegram emulator's, which the edge lets frame apps. Validated at load, so it parses.
    pub fn api_origin(&self) -> String {
        let url = self.api_url();
        url::Url::parse(&url).map(|u| u.origin().ascii_serialization()).unwrap_or(url)
    }

    /// The host name of [`Server::public_api_url`], lowercase and without a trailing dot: a name
    /// of the platform's that no custom domain or app backend may take.
    pub fn public_api_host(&self) -> Option<String> {
        let url = url::Url::parse(self.server.public_api_url.as_deref()?).ok()?;
        url.host_str().map(|h| h.trim_end_matches('.').to_ascii_lowercase())
    }

    /// Port shown in public URLs, if not the scheme's default.
    pub fn public_port(&self) -> Option<u16> {
        let server = &self.server;
        let port =
            server.public_port.or_else(|| (server.base_domain == "localhost").then_some(server.edge_addr.port()))?;
        let default = if server.public_scheme == "https" { 443 } else { 80 };
        (port != default).then_some(port)
    }
}

impl From<(&'static str, String)> for ConfigError {
    fn from((var, problem): (&'static str, String)) -> Self {
        ConfigError::Invalid { var, problem }
    }
}

// The checks named in the sections' declarations.

fn database_url(url: &Option<Secret>) -> Result<(), String> {
    match url.as_ref().map(Secret::expose) {
        Some(u) if !["sqlite:", "postgres:", "postgresql:"].iter().any(|p| u.starts_with(p)) => {
            Err("must start with sqlite: or postgres:".into())
        }
        _ => Ok(()),
    }
}

fn storage_url(url: &Option<String>) -> Result<(), String> {
    match url {
        Some(u) if !["file://", "s3://", "memory://"].iter().any(|p| u.starts_with(p)) => {
            Err("must start with file://, s3:// or memory://".into())
        }
        _ => Ok(()),
    }
}

fn master_key(key: &Option<Secret>) -> Result<(), String> {
    key.as_ref().map_or(Ok(()), |k| tmahost_store::MasterKey::parse(k.expose()).map(drop).map_err(|e| e.to_string()))
}

fn control_bot_token(token: &Option<Secret>) -> Result<(), String> {
    token.as_ref().map_or(Ok(()), |t| tmahost_types::BotToken::parse(t.expose()).map(drop).map_err(|e| e.to_string()))
}

fn base_domain(domain: &str) -> Result<(), String> {
    // Room is left under the base domain for the longest app label.
    let ok = domain.len() <= 200 && DnsName::parse(domain).is_some_and(|d| d.as_str().eq_ignore_ascii_case(domain));
    if !ok {
        return Err(format!("`{domain}` is not a DNS name like apps.example.com"));
    }
    if domain.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("use lowercase".into());
    }
    Ok(())
}

fn public_scheme(scheme: &str) -> Result<(), String> {
    if matches!(scheme, "http" | "https") { Ok(()) } else { Err("must be http or https".into()) }
}

fn http_url(url: &Option<String>) -> Result<(), String> {
    match url {
        Some(v) if !url::Url::parse(v).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some()) => {
            Err(format!("`{v}` is not an http(s) URL"))
        }
        _ => Ok(()),
    }
}

fn telegram_api_url(url: &str) -> Result<(), String> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(()),
        _ => Err("must be an http(s) URL such as https://api.telegram.org".into()),
    }
}

fn admin_ids(ids: &[i64]) -> Result<(), String> {
    match ids.iter().find(|id| **id <= 0) {
        Some(id) => Err(format!("`{id}` is not a Telegram user id")),
        None => Ok(()),
    }
}

fn workers(workers: &Option<usize>) -> Result<(), String> {
    if *workers == Some(0) { Err("must be greater than zero".into()) } else { Ok(()) }
}

fn dns_server(server: &Option<String>) -> Result<(), String> {
    match server {
        Some(dns) if crate::domains::parse_dns_server(dns).is_none() => {
            Err(format!("`{dns}` is not an IP address or ip:port"))
        }
        _ => Ok(()),
    }
}

/// The configuration reference (Markdown): per section, each variable with its `tmahost.toml`
/// key, default and doc comment. The book's configuration page holds it between markers, and
/// `tests/tests/book.rs` keeps the two equal.
pub fn reference() -> String {
    let defaults = serde_json::to_value(Config::default()).unwrap_or_default();
    let mut out = String::new();
    for section in SECTIONS {
        let Some(first) = section.first() else { continue };
        out.push_str(&format!(
            "\n### `[{}]`\n\n| Variable | Key | Default | Meaning |\n|---|---|---|---|\n",
            first.section
        ));
        for s in *section {
            let default = match &defaults[s.section][s.key] {
                serde_json::Value::Null => "unset".to_owned(),
                serde_json::Value::Array(a) if a.is_empty() => "none".to_owned(),
                serde_json::Value::String(v) => format!("`{v}`"),
                v => format!("`{v}`"),
            };
            let doc = s.doc.lines().map(str::trim).collect::<Vec<_>>().join(" ");
            out.push_str(&format!("| `{}` | `{}` | {default} | {} |\n", s.env, s.key, doc.replace('|', "\\|")));
        }
    }
    out
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
            out = Some(Config::load_from(Path::new("tmahost.toml"), environment()).map_err(|e| e.to_string()));
            Ok(())
        });
        out.expect("jail ran")
    }

    #[test]
    fn defaults_are_valid_and_embedded() {
        let c = load("", &[]).expect("defaults");
        assert_eq!(c.database_url(), "sqlite://./data/tmahost.db");
        assert_eq!(c.public_port(), Some(8080));
        assert_eq!(c.uploads.max_files, 20_000);
    }

    #[test]
    fn toml_then_env_with_comma_separated_admins() {
        let c = load(
            "[server]\nbase_domain = \"apps.example.com\"\n[uploads]\nmax_files = 10\n",
            &[("ADMIN_IDS", "1, 2"), ("PUBLIC_SCHEME", "https")],
        )
        .expect("valid");
        assert_eq!(c.server.base_domain, "apps.example.com");
        assert_eq!(c.uploads.max_files, 10);
        assert_eq!(c.telegram.admin_ids, vec![1, 2]);
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
        let e = load("", &[("ADMIN_IDS", "1,x")]).expect_err("not an id");
        assert!(e.contains("TMAHOST_ADMIN_IDS") && e.contains("`x`"), "{e}");
        let e = load("", &[("PROXY_TIMEOUT_SECS", "soon")]).expect_err("not a number");
        assert!(e.contains("TMAHOST_PROXY_TIMEOUT_SECS"), "{e}");
        let e = load("[proxy]\ntimeout_secs = 0\n", &[]).expect_err("out of range in the file");
        assert!(e.contains("TMAHOST_PROXY_TIMEOUT_SECS"), "{e}");
    }

    #[test]
    fn every_variable_sets_its_own_key() {
        let mut seen = std::collections::HashSet::new();
        let sections = serde_json::to_value(Config::default()).expect("serializes");
        let sections = sections.as_object().expect("an object of sections");
        for s in settings() {
            assert!(seen.insert(s.env), "{} declared twice", s.env);
            assert!(!NON_CONFIG_VARS.iter().any(|v| s.env == format!("TMAHOST_{v}")), "{} is reserved", s.env);
            assert!(sections[s.section].get(s.key).is_some(), "{} names no field", s.env);
            assert!(!s.doc.trim().is_empty(), "{} has no documentation", s.env);
        }
        let fields: usize = sections.values().map(|v| v.as_object().map_or(0, |o| o.len())).sum();
        assert_eq!(fields, seen.len(), "every field has a variable");
        assert_eq!(sections.len(), SECTIONS.len(), "every section is listed");
    }

    #[test]
    fn a_flat_key_from_the_old_file_layout_is_refused() {
        let e = load("max_files = 10\n", &[]).expect_err("belongs in [uploads]");
        assert!(e.contains("max_files"), "{e}");
        let e = load("[proxy]\ntimeout = 10\n", &[]).expect_err("typo");
        assert!(e.contains("timeout"), "{e}");
    }

    /// Every `TMAHOST_*` name written anywhere in the repository (messages, docs, deployment
    /// files) is a declared setting or one of the few other variables, so a renamed setting
    /// cannot leave a stale name behind.
    #[test]
    fn every_variable_the_repository_mentions_exists() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut unknown = Vec::new();
        let mut dirs = vec![root.join("crates"), root.join("docs"), root.join("deploy"), root.join("tests")];
        let mut files = vec![root.join("README.md"), root.join("ARCHITECTURE.md")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                if path.is_dir() && !["target", "node_modules", "book"].contains(&name.as_str()) {
                    dirs.push(path);
                } else if [".rs", ".md", ".sh", ".yml", ".yaml", ".toml", ".env", ".service", ".conf"]
                    .iter()
                    .any(|ext| name.ends_with(ext))
                {
                    files.push(path);
                }
            }
        }
        // The section macro's own examples, and the CLI test's deliberate typo.
        let examples = root.join("crates/types/src/settings.rs");
        let typo = "TMAHOST_BASE_DOMIAN";
        for file in files.into_iter().filter(|f| *f != examples) {
            let Ok(text) = std::fs::read_to_string(&file) else { continue };
            for (i, _) in text.match_indices("TMAHOST_") {
                let name: String = text[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                let rest = &name["TMAHOST_".len()..];
                // `TMAHOST_*` and prefixes written in prose (`TMAHOST_MAX_*`) name no variable.
                if rest.is_empty() || rest.ends_with('_') || text[i + name.len()..].starts_with('*') {
                    continue;
                }
                if name != typo && !NON_CONFIG_VARS.contains(&rest) && !settings().any(|s| s.env == name) {
                    unknown.push(format!("{}: {name}", file.display()));
                }
            }
        }
        unknown.sort();
        unknown.dedup();
        assert!(unknown.is_empty(), "variables that are not declared: {unknown:#?}");
    }
    #[test]
    fn trusted_proxies_are_cidrs_or_addresses() {
        let c = load("", &[("TRUSTED_PROXIES", "10.1.2.3/8, 192.0.2.7 ,2001:db8::/32")]).expect("valid");
        let nets: Vec<String> = c.server.trusted_proxies.iter().map(ToString::to_string).collect();
        assert_eq!(nets, ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"]);
        let c = load("[server]\ntrusted_proxies = [\"127.0.0.1\"]\n", &[]).expect("a TOML list");
        assert_eq!(c.server.trusted_proxies.len(), 1);
        let e = load("", &[("TRUSTED_PROXIES", "10.0.0.0/8,proxy.internal")]).expect_err("a name is refused");
        assert!(e.contains("TRUSTED_PROXIES") && e.contains("proxy.internal"), "{e}");
        assert!(load("", &[]).expect("defaults").server.trusted_proxies.is_empty());
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let c = Config {
            storage: Storage { master_key: Some(Secret::new("ab".repeat(32))), ..Storage::default() },
            ..Config::default()
        };
        assert!(!format!("{c:?}").contains("abab"));
    }
}
