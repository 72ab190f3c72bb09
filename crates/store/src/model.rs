//! Rows and value types of the domain, as the repositories return them.

use std::fmt;

use serde::{Deserialize, Serialize};
use tmahost_types::BotId;
pub use tmahost_types::{AppSlug, AuditAction, Sha256};

use crate::Encoding;

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(format!(concat!("unknown ", stringify!($name), " `{}`"), s)),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> { s.parse() }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

text_enum!(
    /// Whether a bot's apps are served.
    BotStatus { Active = "active", Disabled = "disabled" }
);
text_enum!(
    /// Lifecycle of a deployment: uploading -> ready -> active -> superseded, or failed.
    DeploymentStatus {
        Uploading = "uploading",
        Ready = "ready",
        Active = "active",
        Superseded = "superseded",
        Failed = "failed",
    }
);
text_enum!(
    /// A member's role on a bot.
    Role { Owner = "owner", Developer = "developer" }
);

/// Who may open an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Only users whose Telegram initData was verified (the default).
    #[default]
    Gated,
    /// Anyone with the URL.
    Public,
}

/// Per-app settings, stored as JSON. Unknown fields are rejected so a typo is not silently lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppSettings {
    pub access: Access,
    /// Paths served without a session; a trailing `*` matches a prefix.
    pub public_paths: Vec<String>,
    /// Serve `/index.html` for extension-less paths that match no file.
    pub spa_fallback: bool,
    pub session_ttl_secs: u32,
    /// Oldest `auth_date` accepted when creating a session.
    pub max_init_data_age_secs: u32,
    pub custom_domain: Option<String>,
    /// Only these Telegram user ids may open a gated app (`None`: everyone Telegram vouches for).
    pub allowed_user_ids: Option<Vec<i64>>,
    /// Only Telegram Premium users may open a gated app.
    pub premium_only: bool,
    /// How many previously active deployments still serve assets missing from the active one.
    pub skew_protection_deployments: u32,
    /// Path prefixes the edge forwards to the app's own backend, with the verified user in a
    /// signed `Tma-Identity` header.
    pub backends: Vec<Backend>,
    /// The TON Connect manifest the edge generates for each of the app's hosts.
    pub ton_connect: Option<TonConnectManifest>,
    /// Deployments retention keeps (the newest ones, besides the active, pinned and skew
    /// protection's); `None`: the platform's `TMAHOST_KEEP_DEPLOYMENTS`.
    pub keep_deployments: Option<u32>,
}

/// What wallets are told about the app (`tonconnect-manifest.json`); the edge adds `url`, the
/// host the wallet asked, so previews and custom domains are each their own dapp.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TonConnectManifest {
    /// The app's name in the wallet.
    pub name: String,
    /// A PNG or ICO, absolute (`https://…`) or a path on the app's own host (`/icon.png`).
    pub icon_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms_of_use_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_policy_url: Option<String>,
    /// Serve the generated manifest even when the bundle ships `/tonconnect-manifest.json`.
    #[serde(default)]
    pub replace_bundled: bool,
}

/// One route of an app to its backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backend {
    /// Starts and ends with `/` (`/api/`); requests under it go to `upstream`.
    pub prefix: String,
    /// `https://api.example.com`, optionally with a base path (`https://example.com/v1`).
    pub upstream: String,
    /// Forward `/api/users` as `/users` (default: the path as asked).
    #[serde(default)]
    pub strip_prefix: bool,
    /// Forward without a session (and without an identity); default: gated like the app.
    #[serde(default)]
    pub public: bool,
}

/// The one-line form the dashboard and the CLI write a backend in:
/// `/api/ https://api.example.com [strip] [public]`.
impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.prefix, self.upstream)?;
        if self.strip_prefix {
            f.write_str(" strip")?;
        }
        if self.public {
            f.write_str(" public")?;
        }
        Ok(())
    }
}

/// A backend line that is not `prefix upstream [strip] [public]` (whether the prefix and the
/// upstream are acceptable is checked where settings are saved).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("backend `{line}`: {problem}")]
pub struct BackendLineError {
    pub line: String,
    pub problem: String,
}

impl std::str::FromStr for Backend {
    type Err = BackendLineError;

    fn from_str(line: &str) -> Result<Self, Self::Err> {
        let line = line.trim();
        let fail = |problem: String| BackendLineError { line: line.to_owned(), problem };
        let mut words = line.split_whitespace();
        let (Some(prefix), Some(upstream)) = (words.next(), words.next()) else {
            return Err(fail("write a prefix and an upstream, e.g. /api/ https://api.example.com".into()));
        };
        let mut backend =
            Backend { prefix: prefix.into(), upstream: upstream.into(), strip_prefix: false, public: false };
        for flag in words {
            match flag {
                "strip" => backend.strip_prefix = true,
                "public" => backend.public = true,
                other => return Err(fail(format!("unknown option `{other}` (strip, public)"))),
            }
        }
        Ok(backend)
    }
}

impl Default for AppSettings {
    fn default() -> Self {
        Self {
            access: Access::Gated,
            public_paths: vec![
                "/tonconnect-manifest.json".into(),
                "/favicon.ico".into(),
                "/robots.txt".into(),
                "/.well-known/*".into(),
            ],
            spa_fallback: true,
            session_ttl_secs: 24 * 3600,
            max_init_data_age_secs: 3600,
            custom_domain: None,
            allowed_user_ids: None,
            premium_only: false,
            skew_protection_deployments: 3,
            backends: Vec::new(),
            ton_connect: None,
            keep_deployments: None,
        }
    }
}

impl TryFrom<String> for AppSettings {
    type Error = serde_json::Error;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        serde_json::from_str(&s)
    }
}

/// What an API token may touch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenScope {
    /// Everything, including registering bots and minting tokens of any scope.
    Admin,
    /// Only these bots' apps and deployments.
    Bots(Vec<BotId>),
}

impl TokenScope {
    pub fn allows_bot(&self, bot: BotId) -> bool {
        match self {
            Self::Admin => true,
            Self::Bots(ids) => ids.contains(&bot),
        }
    }

    /// Whether every permission of `other` is also in `self` (a token may only mint narrower ones).
    pub fn covers(&self, other: &TokenScope) -> bool {
        match (self, other) {
            (Self::Admin, _) => true,
            (Self::Bots(_), Self::Admin) => false,
            (Self::Bots(mine), Self::Bots(theirs)) => theirs.iter().all(|b| mine.contains(b)),
        }
    }
}

impl TryFrom<String> for TokenScope {
    type Error = serde_json::Error;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        serde_json::from_str(&s)
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Bot {
    pub id: i64,
    pub username: String,
    pub host_label: String,
    #[sqlx(try_from = "String")]
    pub status: BotStatus,
    pub created_at: i64,
    pub updated_at: i64,
    /// An admin's cap on the bytes it stores (0: none); `None`: the platform's.
    pub max_bytes: Option<i64>,
}

impl Bot {
    pub fn bot_id(&self) -> BotId {
        BotId(self.id)
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct App {
    pub id: String,
    pub bot_id: i64,
    #[sqlx(try_from = "String")]
    pub slug: AppSlug,
    #[sqlx(try_from = "String")]
    pub settings: AppSettings,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Deployment {
    pub id: String,
    pub app_id: String,
    pub version: i64,
    #[sqlx(try_from = "String")]
    pub status: DeploymentStatus,
    pub message: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub file_count: i64,
    pub total_bytes: i64,
    pub error: Option<String>,
    /// Kept by retention whatever its age.
    pub pinned: bool,
}

/// What the edge needs to route a host to an app, one row per app.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EdgeApp {
    pub app_id: String,
    pub bot_id: i64,
    #[sqlx(try_from = "String")]
    pub slug: AppSlug,
    #[sqlx(try_from = "String")]
    pub settings: AppSettings,
    pub host_label: String,
    #[sqlx(try_from = "String")]
    pub bot_status: BotStatus,
    pub token_ciphertext: Vec<u8>,
    /// The active deployment, if any.
    pub active_deployment: Option<String>,
}

/// One manifest entry, joined with what the blob store holds for it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeploymentFile {
    pub path: String,
    #[sqlx(try_from = "String")]
    pub sha256: Sha256,
    pub size: i64,
    pub content_type: String,
    pub br_size: Option<i64>,
    pub gz_size: Option<i64>,
    /// 1 while the platform is still making the brotli variant (see `Db::pending_brotli`).
    pub br_pending: i64,
}

impl DeploymentFile {
    /// The brotli variant will exist soon: whoever lists this file should look again.
    pub fn brotli_pending(&self) -> bool {
        self.br_pending != 0
    }

    pub fn encodings(&self) -> Vec<Encoding> {
        let mut v = Vec::new();
        if self.br_size.is_some() {
            v.push(Encoding::Br);
        }
        if self.gz_size.is_some() {
            v.push(Encoding::Gzip);
        }
        v
    }
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Member {
    pub bot_id: i64,
    pub user_id: i64,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub created_at: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub scope: TokenScope,
    pub created_by: String,
    /// 1: minted by a platform admin or the operator, whose tokens keep their scope.
    pub minted_by_admin: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// One app's traffic on one UTC day (`day`: days since 1970-01-01).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct DailyStats {
    pub day: i64,
    pub requests: i64,
    pub sessions: i64,
    /// Distinct Telegram users who opened a session.
    pub users: i64,
}

/// Counters of one bot, for `/stats` and the dashboard.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BotStats {
    pub bot_id: i64,
    #[sqlx(try_from = "String")]
    pub status: BotStatus,
    pub apps: i64,
    /// Deployments that completed (ready, active or superseded).
    pub deployments: i64,
    pub recent_deploys: i64,
    /// Bytes of the active deployments of the bot's apps.
    pub active_bytes: i64,
    pub members: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditEvent {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    #[sqlx(try_from = "String")]
    pub action: AuditAction,
    pub bot_id: Option<i64>,
    pub app_id: Option<String>,
    pub deployment_id: Option<String>,
    pub details: String,
}

/// What is written to the audit log; `details` is free-form JSON.
#[derive(Debug, Clone)]
pub struct NewAuditEvent<'a> {
    pub actor: &'a str,
    pub action: AuditAction,
    pub bot_id: Option<BotId>,
    pub app_id: Option<&'a str>,
    pub deployment_id: Option<&'a str>,
    pub details: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_serialise_as_documented_and_cover_narrower_ones() {
        assert_eq!(serde_json::to_string(&TokenScope::Admin).expect("json"), r#""admin""#);
        let bots = TokenScope::Bots(vec![BotId(1), BotId(2)]);
        assert_eq!(serde_json::to_string(&bots).expect("json"), r#"{"bots":[1,2]}"#);
        assert!(TokenScope::Admin.covers(&bots));
        assert!(bots.covers(&TokenScope::Bots(vec![BotId(2)])));
        assert!(!bots.covers(&TokenScope::Bots(vec![BotId(3)])));
        assert!(!bots.covers(&TokenScope::Admin));
    }

    #[test]
    fn settings_reject_unknown_fields_and_fill_defaults() {
        let s: AppSettings = serde_json::from_str(r#"{"access":"public"}"#).expect("json");
        assert_eq!(s.access, Access::Public);
        assert!(s.spa_fallback);
        assert!(serde_json::from_str::<AppSettings>(r#"{"acess":"public"}"#).is_err());
    }
}
