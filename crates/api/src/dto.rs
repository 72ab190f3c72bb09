//! Request and response bodies of the API, as documented in the OpenAPI file: the server
//! writes them and the CLI's typed client reads them, so a renamed field fails to compile.

use serde::{Deserialize, Serialize};
use tmahost_service::domains::DomainStatus;
use tmahost_service::model::{ApiToken, App, AppSettings, AuditEvent, Bot, Deployment, DeploymentFile, TokenScope};
use tmahost_service::{DeployReport, Platform};
use utoipa::ToSchema;

/// RFC 3339 for a stored millisecond timestamp.
pub fn ts(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct RegisterBot {
    /// The bot token from @BotFather. Stored encrypted; never returned.
    pub token: String,
    /// Needed only when this server cannot reach the Telegram Bot API.
    pub username: Option<String>,
}

impl std::fmt::Debug for RegisterBot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisterBot").field("token", &"<redacted>").field("username", &self.username).finish()
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BotDto {
    pub id: i64,
    pub username: String,
    pub host_label: String,
    /// `active` or `disabled`.
    pub status: String,
    /// URL of the bot's `main` app.
    pub url: String,
    pub created_at: String,
}

impl BotDto {
    pub fn new(p: &Platform, b: &Bot) -> Self {
        let main = tmahost_service::model::AppSlug::main();
        Self {
            id: b.id,
            username: b.username.clone(),
            host_label: b.host_label.clone(),
            status: b.status.to_string(),
            url: p.app_url(b, &main),
            created_at: ts(b.created_at),
        }
    }
}

/// A bot just registered, with what did not work but did not stop it (e.g. the menu button).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RegisteredBotDto {
    #[serde(flatten)]
    pub bot: BotDto,
    pub warnings: Vec<String>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct CreateApp {
    /// 1-32 characters of a-z, 0-9 and single dashes.
    pub slug: String,
    #[schema(value_type = Option<Object>)]
    pub settings: Option<AppSettings>,
}

/// Body of `PATCH /api/v1/bots/{bot}`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateBot {
    /// `active` or `disabled`; a disabled bot's apps answer 403 with an "unavailable" page.
    #[schema(value_type = Option<String>)]
    pub status: Option<tmahost_service::model::BotStatus>,
    /// Admins: the bot's own cap on stored bytes (0: none); `null`: back to
    /// `TMAHOST_MAX_BYTES_PER_BOT`; absent: unchanged.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub max_bytes: Option<Option<i64>>,
}

/// A field that may be absent (`None`), `null` (`Some(None)`) or a value.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// What deleting a bot did besides removing its data.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BotRemovalDto {
    /// Ids of the API tokens that named only this bot, now revoked.
    pub revoked_tokens: Vec<String>,
    /// What could not be undone at Telegram (the bot is deleted either way).
    pub warnings: Vec<String>,
}

/// What erasing a Telegram user's data changed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErasureDto {
    /// What the audit log, deployments and tokens now name the user by.
    pub pseudonym: String,
    pub memberships: u64,
    pub analytics_rows: u64,
    /// One-time login links and staff codes.
    pub codes: u64,
    /// Apps whose allow-list named the user (they are taken off it).
    pub allow_lists: u64,
    /// Audit events, deployments and tokens rewritten to name the pseudonym.
    pub pseudonymised: u64,
    /// The user is a platform admin by `TMAHOST_ADMIN_IDS`, which only the operator can change.
    pub still_admin: bool,
}

impl From<tmahost_service::UserErasure> for ErasureDto {
    fn from(u: tmahost_service::UserErasure) -> Self {
        let e = u.erased;
        Self {
            pseudonym: u.pseudonym,
            memberships: e.memberships,
            analytics_rows: e.analytics_rows,
            codes: e.codes,
            allow_lists: e.allow_lists,
            pseudonymised: e.pseudonymised,
            still_admin: u.still_admin,
        }
    }
}

/// What a bot stores and its cap.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UsageDto {
    /// Bytes of the distinct contents its deployments name (originals).
    pub stored_bytes: i64,
    /// `null`: no cap.
    pub max_bytes: Option<i64>,
    /// `bot`: set for this bot by an admin; `platform`: `TMAHOST_MAX_BYTES_PER_BOT`.
    pub max_bytes_from: String,
    pub apps: Vec<AppUsageDto>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AppUsageDto {
    pub app: String,
    /// A content two apps share counts for each.
    pub stored_bytes: i64,
}

impl From<tmahost_service::quotas::Usage> for UsageDto {
    fn from(u: tmahost_service::quotas::Usage) -> Self {
        Self {
            stored_bytes: u.stored_bytes,
            max_bytes: u.max_bytes,
            max_bytes_from: if u.own_cap { "bot" } else { "platform" }.to_owned(),
            apps: u.apps.into_iter().map(|(app, stored_bytes)| AppUsageDto { app, stored_bytes }).collect(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AppDto {
    pub id: String,
    pub bot_id: i64,
    pub slug: String,
    /// The app's settings, each described under "App settings" in the book's edge page.
    #[schema(value_type = Object)]
    pub settings: AppSettings,
    pub url: String,
    pub created_at: String,
    /// The custom domain and its DNS proof: publish `txt_name` TXT `txt_value`; the domain is
    /// served once `status` is `verified`.
    #[schema(value_type = Option<Object>)]
    pub domain: Option<DomainStatus>,
}

impl AppDto {
    pub fn new(p: &Platform, bot: &Bot, a: &App, domain: Option<DomainStatus>) -> Self {
        Self {
            id: a.id.clone(),
            bot_id: a.bot_id,
            slug: a.slug.to_string(),
            settings: a.settings.clone(),
            url: p.app_url(bot, &a.slug),
            created_at: ts(a.created_at),
            domain,
        }
    }

    /// With the app's domain proof looked up.
    pub async fn load(p: &Platform, bot: &Bot, a: &App) -> Result<Self, tmahost_service::ServiceError> {
        Ok(Self::new(p, bot, a, p.app_domain(a).await?))
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeploymentDto {
    pub id: String,
    pub app: String,
    pub version: i64,
    /// uploading | ready | active | superseded | failed
    pub status: String,
    pub message: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub activated_at: Option<String>,
    pub file_count: i64,
    pub total_bytes: i64,
    pub error: Option<String>,
    /// Retention keeps it whatever its age (`PUT …/pin`).
    pub pinned: bool,
    /// The app's URL (serves this deployment while it is active).
    pub url: String,
    /// This deployment's own URL, whatever its status.
    pub preview_url: String,
}

impl DeploymentDto {
    pub fn new(p: &Platform, bot: &Bot, app: &App, d: &Deployment) -> Self {
        Self {
            id: d.id.clone(),
            app: app.slug.to_string(),
            version: d.version,
            status: d.status.to_string(),
            message: d.message.clone(),
            created_by: d.created_by.clone(),
            created_at: ts(d.created_at),
            activated_at: d.activated_at.map(ts),
            file_count: d.file_count,
            total_bytes: d.total_bytes,
            error: d.error.clone(),
            pinned: d.pinned,
            url: p.app_url(bot, &app.slug),
            preview_url: p.preview_url(bot, &app.slug, d),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeployResultDto {
    #[serde(flatten)]
    pub deployment: DeploymentDto,
    /// Distinct file contents this upload added to storage.
    pub new_blobs: usize,
    /// Distinct file contents that were already stored and are shared.
    pub reused_blobs: usize,
    /// Non-fatal findings, e.g. index.html referencing files the bundle lacks.
    pub warnings: Vec<String>,
}

impl DeployResultDto {
    pub fn new(p: &Platform, r: &DeployReport) -> Self {
        Self {
            deployment: DeploymentDto::new(p, &r.bot, &r.app, &r.deployment),
            new_blobs: r.new_blobs,
            reused_blobs: r.reused_blobs,
            warnings: r.warnings.clone(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FileDto {
    pub path: String,
    pub sha256: String,
    pub size: i64,
    pub content_type: String,
    /// Precompressed variants stored: `br`, `gzip`.
    pub encodings: Vec<String>,
    /// Variants the platform is still making (`br`, made after the deploy); the edge serves
    /// them once they are in `encodings`.
    pub pending_encodings: Vec<String>,
}

impl From<&DeploymentFile> for FileDto {
    fn from(f: &DeploymentFile) -> Self {
        Self {
            path: f.path.clone(),
            sha256: f.sha256.to_string(),
            size: f.size,
            content_type: f.content_type.clone(),
            encodings: f.encodings().iter().map(|e| e.name().to_owned()).collect(),
            pending_encodings: if f.brotli_pending() { vec!["br".into()] } else { Vec::new() },
        }
    }
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct CreateToken {
    pub name: String,
    /// `"admin"` or `{"bots": [123456789]}`.
    #[schema(value_type = Object)]
    pub scope: TokenScope,
    /// Default from `TMAHOST_TOKEN_TTL_DAYS`.
    pub ttl_days: Option<u32>,
}

/// Body of `POST /api/v1/bots/{bot}/apps/{app}/dev-links`; everything is optional.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDevLink {
    /// The Telegram user the launch data names (default: id 1000000001, "Dev").
    pub user: Option<DevUserDto>,
    /// Sign the user in as a Telegram Premium subscriber.
    #[serde(default)]
    pub premium: bool,
    /// The `start_param` (from `t.me/bot/app?startapp=…`): up to 512 of `A-Z a-z 0-9 _ -`.
    pub start_param: Option<String>,
    /// Open this deployment (id or `v3`) on its preview host instead of the active one.
    pub deployment: Option<String>,
    /// `tgWebAppPlatform`: `android`, `ios`, `macos`, `tdesktop`, `weba` (default), `webk` or
    /// `unigram` (else 422 `invalid_platform`).
    pub platform: Option<String>,
    /// Telegram Web A's `light` (default) or `dark` theme.
    #[serde(default)]
    pub theme: DevTheme,
}

/// The theme a dev link launches with.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DevTheme {
    #[default]
    Light,
    Dark,
}

/// A dev link's user.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DevUserDto {
    pub id: i64,
    /// Up to 64 characters, as Telegram allows.
    pub first_name: String,
    /// Up to 64 characters.
    pub last_name: Option<String>,
    /// Up to 32 characters.
    pub username: Option<String>,
    /// Default `en`.
    pub language_code: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DevLinkDto {
    /// The app's URL with signed launch parameters in the fragment.
    pub url: String,
    /// The dashboard's Telegram emulator with the same options: it frames the app and answers
    /// the Mini App bridge (buttons, popups, theme, CloudStorage) as Telegram Web does.
    pub emulator_url: String,
    /// The user the launch data names.
    pub user_id: i64,
    /// How long the link opens sessions (the app's `max_init_data_age_secs`).
    pub valid_for_secs: u32,
}

impl CreateDevLink {
    /// The user to sign in, with the defaults filled in.
    pub fn dev_user(&self) -> tmahost_service::DevUser {
        let mut user = tmahost_service::DevUser::default();
        if let Some(u) = &self.user {
            user.id = u.id;
            user.first_name = u.first_name.clone();
            user.last_name = u.last_name.clone();
            user.username = u.username.clone();
            if u.language_code.is_some() {
                user.language_code = u.language_code.clone();
            }
        }
        user.is_premium = self.premium;
        user.start_param = self.start_param.clone();
        if let Some(p) = &self.platform {
            user.platform = p.clone();
        }
        user.dark = self.theme == DevTheme::Dark;
        user
    }
}

/// Body of `PUT /api/v1/bots/{bot}/members/{user_id}`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantMember {
    /// `owner` (members, settings, tokens) or `developer` (deploys and rollbacks).
    #[schema(value_type = String)]
    pub role: tmahost_service::model::Role,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberDto {
    pub user_id: i64,
    pub role: String,
    pub created_at: String,
}

impl From<&tmahost_service::model::Member> for MemberDto {
    fn from(m: &tmahost_service::model::Member) -> Self {
        Self { user_id: m.user_id, role: m.role.to_string(), created_at: ts(m.created_at) }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenDto {
    pub id: String,
    pub name: String,
    #[schema(value_type = Object)]
    pub scope: TokenScope,
    pub created_by: String,
    pub created_at: String,
    pub expires_at: String,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
}

impl From<&ApiToken> for TokenDto {
    fn from(t: &ApiToken) -> Self {
        Self {
            id: t.id.clone(),
            name: t.name.clone(),
            scope: t.scope.clone(),
            created_by: t.created_by.clone(),
            created_at: ts(t.created_at),
            expires_at: ts(t.expires_at),
            revoked_at: t.revoked_at.map(ts),
            last_used_at: t.last_used_at.map(ts),
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
#[allow(missing_debug_implementations)] // holds a bearer token
pub struct CreatedTokenDto {
    #[serde(flatten)]
    pub info: TokenDto,
    /// The bearer token. Shown once: it is not stored and cannot be retrieved again.
    pub token: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditDto {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub bot_id: Option<i64>,
    pub app_id: Option<String>,
    pub deployment_id: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<&AuditEvent> for AuditDto {
    fn from(e: &AuditEvent) -> Self {
        Self {
            id: e.id,
            at: ts(e.at),
            actor: e.actor.clone(),
            action: e.action.to_string(),
            bot_id: e.bot_id,
            app_id: e.app_id.clone(),
            deployment_id: e.deployment_id.clone(),
            details: serde_json::from_str(&e.details).unwrap_or(serde_json::Value::Null),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct DeployQuery {
    /// `false` stages the deployment (preview only) instead of activating it.
    pub activate: Option<bool>,
    /// A note shown in deployment lists (≤ 500 characters).
    pub message: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct LimitQuery {
    /// At most this many items, newest first (default 50, max 1000).
    pub limit: Option<i64>,
}

/// A digest deploy's manifest: every file of the bundle by path, with the SHA-256 (lowercase
/// hex) and size of its bytes. Sent as `application/json` to the deployments endpoint.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManifestDto {
    #[schema(value_type = Object, example = json!({"index.html": {"sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "size": 4}}))]
    pub files: std::collections::BTreeMap<String, ManifestEntryDto>,
    /// Stage instead of activating: the deployment is served on its preview URL only.
    #[serde(default)]
    pub stage: bool,
    /// A note shown in deployment lists (≤ 500 characters).
    pub message: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManifestEntryDto {
    pub sha256: String,
    pub size: u64,
}

/// An opened digest deploy: upload each of `missing` with `PUT /api/v1/blobs/{sha256}`, then
/// `POST` to `finalize_url`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UploadPlanDto {
    #[serde(flatten)]
    pub deployment: DeploymentDto,
    /// SHA-256 of each distinct content the server lacks.
    pub missing: Vec<String>,
    /// Distinct contents in the manifest.
    pub unique_blobs: usize,
    /// When the unfinished deployment is failed (RFC 3339).
    pub expires_at: String,
    pub finalize_url: String,
}

impl UploadPlanDto {
    pub fn new(p: &Platform, plan: &tmahost_service::UploadPlan) -> Self {
        let d = &plan.deployment;
        Self {
            deployment: DeploymentDto::new(p, &plan.bot, &plan.app, d),
            missing: plan.missing.iter().map(ToString::to_string).collect(),
            unique_blobs: plan.unique_blobs,
            expires_at: ts(plan.expires_at),
            finalize_url: format!("/api/v1/bots/{}/apps/{}/deployments/{}/finalize", plan.bot.id, plan.app.slug, d.id),
        }
    }
}

/// The result of a blob upload.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BlobDto {
    pub sha256: String,
    /// `stored`, or `already_stored` when the content was there first.
    pub status: String,
}

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackDto {
    /// The version to serve; default: the deployment that was live before the current one.
    pub to: Option<i64>,
}
