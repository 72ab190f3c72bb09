//! The change log: what an edge must read again after each change, in the order the changes
//! committed (nearly: see `Db::changes_from`), so edges apply one change at a time instead of
//! reloading every app. Audited mutations write their row in their own transaction
//! (`insert_audit!`); a logout and a domain check write theirs with the change.

use super::*;

/// What an edge reads again for one logged change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeChange {
    /// One app: its settings, deployments, domain (or that it is gone).
    App(String),
    /// A bot: its status, token and members, so all its apps (or that it is gone).
    Bot(i64),
    /// A session logged out before its cookie expired.
    Session(String),
    /// Anything wider (a user erased everywhere): everything.
    All,
}

impl EdgeChange {
    /// What an audited action changes for edges; `None` for what they do not route by.
    pub fn of(ev: &NewAuditEvent<'_>) -> Option<Self> {
        use AuditAction::*;
        let app = || ev.app_id.map(|a| Self::App(a.to_owned()));
        let bot = || ev.bot_id.map(|b| Self::Bot(b.0));
        match ev.action {
            AppCreate | AppUpdate | AppDelete | DeploymentCreate | DeploymentActivate | DeploymentRollback
            | DeploymentDelete | DeploymentExpire | DeploymentPin | DeploymentUnpin => app().or_else(bot),
            BotRegister | BotEnable | BotDisable | BotDelete | MemberGrant | MemberRevoke => bot(),
            UserErase => Some(Self::All),
            BotQuota | TokenCreate | TokenRevoke | DevLinkCreate => None,
        }
    }

    pub(crate) fn columns(&self) -> (&'static str, Option<String>) {
        match self {
            Self::App(id) => ("app", Some(id.clone())),
            Self::Bot(id) => ("bot", Some(id.to_string())),
            Self::Session(id) => ("session", Some(id.clone())),
            Self::All => ("all", None),
        }
    }

    fn from_columns(kind: &str, subject: Option<String>) -> Self {
        match (kind, subject) {
            ("app", Some(id)) => Self::App(id),
            ("bot", Some(id)) => id.parse().map_or(Self::All, Self::Bot),
            ("session", Some(id)) => Self::Session(id),
            // A kind this build does not know (written by a newer one): read everything.
            _ => Self::All,
        }
    }
}

/// One row of the change log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedChange {
    pub seq: i64,
    pub at_ms: i64,
    pub change: EdgeChange,
}

/// Appends `$change` (an `EdgeChange`) to the change log on the given executor.
macro_rules! log_change {
    ($conn:expr, $change:expr) => {{
        let (kind, subject) = $change.columns();
        sqlx::query("INSERT INTO changes (at_ms, kind, subject) VALUES ($1, $2, $3)")
            .bind(now_ms())
            .bind(kind)
            .bind(subject)
            .execute($conn)
            .await?;
    }};
}
pub(crate) use log_change;

impl Db {
    /// Logs a change made outside any audited transaction (a logout, a domain check).
    pub async fn log_change(&self, change: &EdgeChange) -> Result<(), StoreError> {
        on_db!(self, p => log_change!(p, change));
        Ok(())
    }

    /// Logged changes from `seq` on, oldest first, at most `limit`. On PostgreSQL a row can
    /// become visible after a later one (sequence numbers are taken at insert, rows appear at
    /// commit): readers keep note of the numbers they skipped and look again.
    pub async fn changes_from(&self, seq: i64, limit: i64) -> Result<Vec<LoggedChange>, StoreError> {
        let rows: Vec<(i64, i64, String, Option<String>)> = on_db!(self, p => sqlx::query_as(
            "SELECT seq, at_ms, kind, subject FROM changes WHERE seq >= $1 ORDER BY seq LIMIT $2",
        )
        .bind(seq)
        .bind(limit)
        .fetch_all(p)
        .await?);
        Ok(rows
            .into_iter()
            .map(|(seq, at_ms, kind, subject)| LoggedChange {
                seq,
                at_ms,
                change: EdgeChange::from_columns(&kind, subject),
            })
            .collect())
    }

    /// Where a reader that has just read everything starts following: the first change logged
    /// since `since_ms` (a transaction still open then may commit after the read), else the
    /// next one to come.
    pub async fn change_log_start(&self, since_ms: i64) -> Result<i64, StoreError> {
        let (first, last): (Option<i64>, Option<i64>) = on_db!(self, p => sqlx::query_as(
            "SELECT (SELECT MIN(seq) FROM changes WHERE at_ms >= $1), (SELECT MAX(seq) FROM changes)",
        )
        .bind(since_ms)
        .fetch_one(p)
        .await?);
        Ok(first.unwrap_or(last.unwrap_or(0) + 1))
    }

    /// Forgets changes logged before `before_ms`; a reader that far behind reads everything.
    pub async fn prune_changes(&self, before_ms: i64) -> Result<u64, StoreError> {
        Ok(on_db!(self, p => sqlx::query("DELETE FROM changes WHERE at_ms < $1")
            .bind(before_ms)
            .execute(p)
            .await?
            .rows_affected()))
    }
}
