//! What members of a bot are told after a deploy or rollback: the feed is the audit log
//! (so deploys made by any process are seen), turned into notices with the URL to open.

use std::collections::HashMap;

use tmahost_store::model::{App, AuditEvent, Bot, Deployment};
use tmahost_types::{AuditAction, BotId};

use crate::{Platform, ServiceError};

/// Audit actions that produce a notice.
const ACTIONS: &[AuditAction] =
    &[AuditAction::DeploymentCreate, AuditAction::DeploymentActivate, AuditAction::DeploymentRollback];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// Uploaded and made active.
    Deployed,
    /// Uploaded, not active: open it on its preview host.
    Staged,
    /// An existing deployment made active (promotion of a staged one).
    Activated,
    RolledBack,
}

#[derive(Debug, Clone)]
pub struct DeployNotice {
    /// The audit event's id (the feed's cursor).
    pub event_id: i64,
    pub kind: NoticeKind,
    pub bot: Bot,
    pub app: App,
    pub deployment: Deployment,
    pub previous_version: Option<i64>,
    /// Who did it, for people: a token's name, a Telegram user id, or the CLI.
    pub who: String,
    /// The app URL, or the preview URL for a staged deployment.
    pub open_url: String,
    /// Telegram user ids of the bot's members.
    pub recipients: Vec<i64>,
}

impl Platform {
    /// The id of the newest audit event: where a notice feed starts.
    pub async fn notice_cursor(&self) -> Result<i64, ServiceError> {
        Ok(self.db().max_audit_id().await?)
    }

    /// Notices for deploy events after `after`, oldest first. Events whose bot, app or
    /// deployment is gone are skipped (their id still advances the cursor).
    pub async fn deploy_notices_after(&self, after: i64, limit: i64) -> Result<Vec<DeployNotice>, ServiceError> {
        let events = self.db().audit_after(after, ACTIONS, limit.clamp(1, 500)).await?;
        let mut members: HashMap<i64, Vec<i64>> = HashMap::new();
        let mut out = Vec::with_capacity(events.len());
        for ev in events {
            let Some(n) = self.notice(&ev, &mut members).await? else { continue };
            out.push(n);
        }
        Ok(out)
    }

    async fn notice(
        &self,
        ev: &AuditEvent,
        members: &mut HashMap<i64, Vec<i64>>,
    ) -> Result<Option<DeployNotice>, ServiceError> {
        let (Some(bot_id), Some(app_id), Some(d_id)) = (ev.bot_id, &ev.app_id, &ev.deployment_id) else {
            return Ok(None);
        };
        let (Some(bot), Some(app), Some(deployment)) = (
            self.db().get_bot(BotId(bot_id)).await?,
            self.db().get_app_by_id(app_id).await?,
            self.db().get_deployment(d_id).await?,
        ) else {
            return Ok(None);
        };
        let details: serde_json::Value = serde_json::from_str(&ev.details).unwrap_or_default();
        let kind = match ev.action {
            AuditAction::DeploymentCreate if details["activated"] == serde_json::Value::Bool(false) => {
                NoticeKind::Staged
            }
            AuditAction::DeploymentCreate => NoticeKind::Deployed,
            AuditAction::DeploymentRollback => NoticeKind::RolledBack,
            _ => NoticeKind::Activated,
        };
        let open_url = match kind {
            NoticeKind::Staged => self.preview_url(&bot, &app.slug, &deployment),
            _ => self.app_url(&bot, &app.slug),
        };
        let recipients = match members.get(&bot_id) {
            Some(r) => r.clone(),
            None => {
                let r: Vec<i64> = self.db().list_members(BotId(bot_id)).await?.iter().map(|m| m.user_id).collect();
                members.insert(bot_id, r.clone());
                r
            }
        };
        Ok(Some(DeployNotice {
            event_id: ev.id,
            kind,
            previous_version: details["previous_version"].as_i64(),
            who: self.describe_actor(&ev.actor).await,
            bot,
            app,
            deployment,
            open_url,
            recipients,
        }))
    }

    /// An audit actor label as people read it.
    pub async fn describe_actor(&self, label: &str) -> String {
        if let Some(id) = label.strip_prefix("token:") {
            return match self.db().get_token(id).await {
                Ok(Some(t)) => format!("token “{}”", t.name),
                _ => "an API token".into(),
            };
        }
        if let Some(user) = label.strip_prefix("tg:") {
            return format!("Telegram user {user}");
        }
        if label == "cli:admin" {
            return "the operator (CLI)".into();
        }
        label.to_owned()
    }
}
