//! What the edge reads to serve apps: the apps it routes (bot tokens decrypted here, where the
//! master key lives; staff worked out here, where membership rules live), a deployment's
//! manifest and rules, preview lookups, blobs, and the traffic it counted. The edge holds no
//! database handle: these calls are all it can do with the stores.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use tmahost_deploy::Rules;
use tmahost_store::model::{AppSettings, AppSlug, BotStatus, DeploymentFile};
use tmahost_store::{BlobKey, EdgeScope, LoggedChange};
use tmahost_types::{BotId, BotToken};

use crate::{Platform, ServiceError};

/// Superseded deployments kept per app for skew protection, at most (the app's setting picks
/// how many of them it uses).
const MAX_PREVIOUS: i64 = 20;

/// One app the edge serves.
#[derive(Debug)]
pub struct ServedApp {
    pub app_id: String,
    pub bot_id: BotId,
    pub slug: AppSlug,
    pub host_label: String,
    /// The bot's token: the edge verifies launch data with it.
    pub token: BotToken,
    /// The bot is disabled: its apps answer 503.
    pub disabled: bool,
    pub settings: AppSettings,
    pub active: Option<String>,
    /// Previously active deployments, most recent first, as many as skew protection keeps.
    pub previous: Vec<String>,
    /// Users whose staff sessions (opened with a deploy notice's code) stay valid: the
    /// platform's admins and the bot's members.
    pub staff: Arc<HashSet<i64>>,
    /// The custom domain routed to this app, once its owner proved control of it.
    pub domain: Option<String>,
}

/// One day's traffic of one app, as counted by an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Traffic {
    pub requests: i64,
    pub sessions: i64,
}

impl Platform {
    /// The apps in `scope` the edge can route (all of them, a bot's, or one), read in a few
    /// queries whose cost follows the scope. A bot whose stored token cannot be read (wrong
    /// master key) is left out with an error log: one bad row must not take every other app
    /// down.
    pub async fn served_apps(&self, scope: EdgeScope<'_>) -> Result<Vec<ServedApp>, ServiceError> {
        let db = self.db();
        let rows = db.edge_apps(scope).await?;
        let mut previous: HashMap<String, Vec<String>> = HashMap::new();
        for (app_id, id) in db.previous_deployments(MAX_PREVIOUS, scope).await? {
            previous.entry(app_id).or_default().push(id);
        }
        let mut domains: HashMap<String, String> = db.verified_domains(scope).await?.into_iter().collect();
        let admins = &self.config().telegram.admin_ids;
        let mut staff: HashMap<i64, HashSet<i64>> = HashMap::new();
        for (bot, user) in db.edge_members(scope).await? {
            staff.entry(bot).or_insert_with(|| admins.iter().copied().collect()).insert(user);
        }
        let admins_only: Arc<HashSet<i64>> = Arc::new(admins.iter().copied().collect());
        let staff: HashMap<i64, Arc<HashSet<i64>>> = staff.into_iter().map(|(b, s)| (b, Arc::new(s))).collect();
        let mut apps = Vec::with_capacity(rows.len());
        for row in rows {
            let plain = match self.master_key().decrypt(&row.token_ciphertext, row.bot_id.to_string().as_bytes()) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(bot = row.bot_id, error = %e, "cannot decrypt the bot token; its apps are not served");
                    continue;
                }
            };
            let Some(token) = std::str::from_utf8(plain.expose()).ok().and_then(|t| BotToken::parse(t).ok()) else {
                tracing::error!(bot = row.bot_id, "stored bot token is malformed; its apps are not served");
                continue;
            };
            let mut prev = previous.remove(&row.app_id).unwrap_or_default();
            prev.truncate(row.settings.skew_protection_deployments as usize);
            apps.push(ServedApp {
                bot_id: BotId(row.bot_id),
                slug: row.slug,
                host_label: row.host_label,
                token,
                disabled: row.bot_status == BotStatus::Disabled,
                settings: row.settings,
                active: row.active_deployment,
                previous: prev,
                staff: staff.get(&row.bot_id).unwrap_or(&admins_only).clone(),
                domain: domains.remove(&row.app_id),
                app_id: row.app_id,
            });
        }
        Ok(apps)
    }

    /// Changes logged from `seq` on, oldest first, at most `limit` (see `tmahost_store::changes`).
    pub async fn changes_from(&self, seq: i64, limit: i64) -> Result<Vec<LoggedChange>, ServiceError> {
        Ok(self.db().changes_from(seq, limit).await?)
    }

    /// Where an edge that starts reading everything now follows the change log from: the
    /// changes of the last `window_ms` are applied again, in case a transaction open during
    /// the read commits after it.
    pub async fn change_log_start(&self, window_ms: i64) -> Result<i64, ServiceError> {
        Ok(self.db().change_log_start(tmahost_store::now_ms() - window_ms).await?)
    }

    /// A deployment's files and its parsed `_headers`/`_redirects`.
    pub async fn deployment_manifest(&self, deployment_id: &str) -> Result<(Vec<DeploymentFile>, Rules), ServiceError> {
        let files = self.db().deployment_files(deployment_id).await?;
        let rules = match self.db().deployment_rules(deployment_id).await? {
            Some(json) => serde_json::from_str::<Rules>(&json).map_err(ServiceError::internal)?,
            None => Rules::default(),
        };
        Ok((files, rules))
    }

    /// The servable deployment of `app_id` a preview host's short id names.
    pub async fn preview_deployment(&self, app_id: &str, short_id: &str) -> Result<Option<String>, ServiceError> {
        Ok(self.db().deployment_by_short_id(app_id, short_id).await?)
    }

    /// A stored file, as uploaded or in one of its compressed variants.
    pub async fn read_blob(&self, key: &BlobKey) -> Result<Bytes, ServiceError> {
        Ok(self.blobs().get(key).await?)
    }

    /// Adds an edge's counts to `app_id`'s row for `day` (days since the Unix epoch).
    pub async fn record_traffic(&self, app_id: &str, day: i64, traffic: Traffic) -> Result<(), ServiceError> {
        Ok(self.db().add_daily_stats(app_id, day, traffic.requests, traffic.sessions).await?)
    }

    /// Records who opened sessions: `(app_id, day, user_id)` with when (ms), each counted once
    /// per day. A sighting older than the user's erasure is dropped.
    pub async fn record_users(&self, users: &[((String, i64, i64), i64)]) -> Result<(), ServiceError> {
        Ok(self.db().add_daily_users(users).await?)
    }
}
