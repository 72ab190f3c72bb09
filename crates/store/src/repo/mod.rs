//! Repository operations, one file per domain. Each mutation takes the audit event that
//! describes it and writes both in one transaction, so the audit log never misses or invents
//! a change. The macros and column lists here are shared by the files below.

use sqlx::AssertSqlSafe;
use tmahost_types::BotId;

use crate::model::{
    ApiToken, App, AppSettings, AppSlug, AuditAction, AuditEvent, Bot, BotStats, BotStatus, DailyStats, Deployment,
    DeploymentFile, DeploymentStatus, EdgeApp, Member, NewAuditEvent, Role, Sha256, TokenScope,
};
use crate::{Db, StoreError, in_tx, now_ms, on_db};

/// Appends an audit event on the given executor (a transaction, usually), and the change it
/// makes for edges to the change log (`changes.rs`) in the same transaction.
macro_rules! insert_audit {
    ($conn:expr, $ev:expr) => {{
        let ev: &NewAuditEvent<'_> = $ev;
        if let Some(change) = changes::EdgeChange::of(ev) {
            changes::log_change!($conn, change);
        }
        sqlx::query(
            "INSERT INTO audit_events (at, actor, action, bot_id, app_id, deployment_id, details) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(now_ms())
        .bind(ev.actor)
        .bind(ev.action.as_str())
        .bind(ev.bot_id.map(|b| b.0))
        .bind(ev.app_id)
        .bind(ev.deployment_id)
        .bind(ev.details.to_string())
        .execute($conn)
        .await?;
    }};
}

/// Takes the app's row lock (serialising activations of one app) and supersedes its active
/// deployment unless that is `$keep`.
macro_rules! lock_app_and_supersede {
    ($conn:expr, $app_id:expr, $keep:expr, $now:expr) => {{
        sqlx::query("UPDATE apps SET updated_at = $1 WHERE id = $2").bind($now).bind($app_id).execute($conn).await?;
        sqlx::query(
            "UPDATE deployments SET status = 'superseded' WHERE app_id = $1 AND status = 'active' AND id <> $2",
        )
        .bind($app_id)
        .bind($keep)
        .execute($conn)
        .await?;
    }};
}

/// Drops what a digest deploy declared, once its deployment is complete or failed.
macro_rules! forget_upload {
    ($conn:expr, $id:expr) => {{
        sqlx::query("DELETE FROM upload_blobs WHERE deployment_id = $1").bind($id).execute(&mut *$conn).await?;
        sqlx::query("DELETE FROM uploads WHERE deployment_id = $1").bind($id).execute(&mut *$conn).await?;
    }};
}

/// Touches every live content the deployments matching `$filter` (over `d`, deployments, and
/// `a`, their apps; `$2` is `$key`) name, before they are deleted: the collector's grace period
/// then runs from this last reference (edges may still be serving them for a moment), and the
/// first pass after it frees what no other deployment names.
macro_rules! release_blobs {
    ($conn:expr, $now:expr, $filter:literal, $key:expr) => {{
        sqlx::query(concat!(
            "UPDATE blobs SET touched_at = $1 WHERE state = 'live' AND sha256 IN (SELECT f.sha256 \
             FROM deployment_files f JOIN deployments d ON d.id = f.deployment_id JOIN apps a ON a.id = d.app_id \
             WHERE ",
            $filter,
            ")"
        ))
        .bind($now)
        .bind($key)
        .execute(&mut *$conn)
        .await?;
    }};
}

/// Makes the app's custom-domain claim `$domain` (normalised), keeping its proof when the
/// name is unchanged; `None` drops the claim (and its route).
macro_rules! set_domain_claim {
    ($conn:expr, $app_id:expr, $domain:expr, $now:expr) => {{
        let domain: Option<&str> = $domain;
        sqlx::query("DELETE FROM app_domains WHERE app_id = $1 AND domain IS DISTINCT FROM $2")
            .bind($app_id)
            .bind(domain)
            .execute(&mut *$conn)
            .await?;
        if let Some(d) = domain {
            sqlx::query(
                "INSERT INTO app_domains (app_id, domain, created_at) VALUES ($1, $2, $3) ON CONFLICT (app_id) DO NOTHING",
            )
            .bind($app_id)
            .bind(d)
            .bind($now)
            .execute(&mut *$conn)
            .await?;
        }
    }};
}

/// Runs a statement that must change a row; `NotFound` when it changed none (what it names is
/// gone, or already in the state asked for).
macro_rules! change_one {
    ($conn:expr, $query:expr) => {{
        if $query.execute($conn).await?.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
    }};
}

const BOT_COLS: &str = "id, username, host_label, status, created_at, updated_at, max_bytes";
const APP_COLS: &str = "id, bot_id, slug, settings, created_at, updated_at";
const DEPLOYMENT_COLS: &str = "id, app_id, version, status, message, created_by, created_at, activated_at, \
                               file_count, total_bytes, error, (pinned <> 0) AS pinned";
const TOKEN_COLS: &str =
    "id, name, scope, created_by, minted_by_admin, created_at, expires_at, revoked_at, last_used_at";

/// `$first, $first+1, …` for `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

fn sql(s: String) -> AssertSqlSafe<String> {
    // Only ever called with column lists and placeholders built from constants in this module.
    AssertSqlSafe(s)
}

mod apps;
mod audit;
mod blobs;
mod bots;
pub mod changes;
mod copies;
mod deployments;
mod edge;
mod gc;
mod login;
mod members;
mod removal;
mod stats;
mod tokens;

pub use blobs::{BlobClaim, ExpectedBlob};
pub use copies::StoredBlob;
pub use deployments::{NewDeploymentFile, NewUpload, Retention, Upload};
pub use edge::EdgeScope;
pub use gc::GcCandidate;
pub use removal::Erasure;
