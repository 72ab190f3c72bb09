//! Forgetting on request: deleting an app or a bot with everything stored about it, and erasing
//! a Telegram user's data (what the audit log must keep is pseudonymised instead).
//!
//! Rows tied to an app or a bot by foreign key go with it (`ON DELETE CASCADE`: deployments and
//! their files, uploads, domains, staff codes, members, the bot's content list); the rest
//! (analytics, tokens scoped to the bot) is removed here in the same transaction. Contents are
//! touched, not deleted: the collector frees those no other deployment names once its grace
//! period has passed.

use serde_json::Value;

use super::*;

/// What erasing a user changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Erasure {
    pub memberships: u64,
    pub analytics_rows: u64,
    /// One-time links and codes (dashboard login, staff sessions).
    pub codes: u64,
    /// Apps whose allow-list named the user.
    pub allow_lists: u64,
    /// Audit events, deployments and tokens that now name the pseudonym instead.
    pub pseudonymised: u64,
}

/// Removes the analytics rows of the apps matching `$filter` (on `apps`, `$1` is `$key`).
macro_rules! forget_analytics_of {
    ($conn:expr, $filter:literal, $key:expr) => {{
        for table in ["app_daily_users", "app_daily_stats"] {
            sqlx::query(sql(format!(
                concat!("DELETE FROM {} WHERE app_id IN (SELECT id FROM apps WHERE ", $filter, ")"),
                table
            )))
            .bind($key)
            .execute(&mut *$conn)
            .await?;
        }
    }};
}

impl Db {
    /// Deletes an app and everything stored about it except its audit history.
    pub async fn delete_app(&self, app_id: &str, audit: &NewAuditEvent<'_>) -> Result<(), StoreError> {
        let now = now_ms();
        in_tx!(self, tx => {
            release_blobs!(tx, now, "a.id = $2", app_id);
            forget_analytics_of!(tx, "id = $1", app_id);
            change_one!(&mut *tx, sqlx::query("DELETE FROM apps WHERE id = $1").bind(app_id));
            insert_audit!(&mut *tx, audit);
        });
        Ok(())
    }

    /// Deletes a bot, its apps and everything stored about them except the audit history.
    /// Tokens scoped to this bot alone are revoked and the bot is taken out of wider scopes, so
    /// none of them works again if the bot is registered anew. Returns the revoked tokens' ids.
    pub async fn delete_bot(&self, bot: BotId, audit: &NewAuditEvent<'_>) -> Result<Vec<String>, StoreError> {
        let now = now_ms();
        let revoked = in_tx!(self, tx => {
            release_blobs!(tx, now, "a.bot_id = $2", bot.0);
            forget_analytics_of!(tx, "bot_id = $1", bot.0);
            let tokens: Vec<(String, String)> =
                sqlx::query_as("SELECT id, scope FROM api_tokens WHERE revoked_at IS NULL").fetch_all(&mut *tx).await?;
            let mut revoked = Vec::new();
            for (id, scope) in tokens {
                let TokenScope::Bots(mut bots) = TokenScope::try_from(scope).map_err(|e| StoreError::Corrupt(e.to_string()))? else {
                    continue;
                };
                if !bots.contains(&bot) {
                    continue;
                }
                bots.retain(|b| *b != bot);
                if bots.is_empty() {
                    sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2").bind(now).bind(&id).execute(&mut *tx).await?;
                    revoked.push(id);
                } else {
                    let scope = serde_json::to_string(&TokenScope::Bots(bots)).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    sqlx::query("UPDATE api_tokens SET scope = $1 WHERE id = $2").bind(scope).bind(&id).execute(&mut *tx).await?;
                }
            }
            change_one!(&mut *tx, sqlx::query("DELETE FROM bots WHERE id = $1").bind(bot.0));
            let mut details = audit.details.clone();
            details["revoked_tokens"] = Value::from(revoked.clone());
            insert_audit!(&mut *tx, &NewAuditEvent { details, ..audit.clone() });
            revoked
        });
        Ok(revoked)
    }

    /// Erases what the platform keeps about Telegram user `user_id`: memberships, analytics,
    /// one-time codes, allow-list entries; deployments, tokens and audit events that name the
    /// user name `pseudonym` instead. Sessions the user opened before now are refused until
    /// `sessions_until` (when the last of them expires). `audit` is written as it is given.
    pub async fn erase_user(
        &self,
        user_id: i64,
        pseudonym: &str,
        sessions_until: i64,
        audit: &NewAuditEvent<'_>,
    ) -> Result<Erasure, StoreError> {
        let now = now_ms();
        let label = format!("tg:{user_id}");
        let mut out = Erasure::default();
        in_tx!(self, tx => {
            out.memberships = sqlx::query("DELETE FROM members WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?.rows_affected();
            out.analytics_rows =
                sqlx::query("DELETE FROM app_daily_users WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?.rows_affected();
            for table in ["login_links", "staff_codes"] {
                out.codes += sqlx::query(sql(format!("DELETE FROM {table} WHERE user_id = $1")))
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            for table in ["deployments", "api_tokens"] {
                out.pseudonymised += sqlx::query(sql(format!("UPDATE {table} SET created_by = $1 WHERE created_by = $2")))
                    .bind(pseudonym)
                    .bind(&label)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            // A text search narrows the rows; the JSON is then read to change only ids.
            let needle = format!("%{user_id}%");
            let apps: Vec<(String, String)> = sqlx::query_as("SELECT id, settings FROM apps WHERE settings LIKE $1")
                .bind(&needle)
                .fetch_all(&mut *tx)
                .await?;
            for (id, settings) in apps {
                let mut s = AppSettings::try_from(settings).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let Some(list) = s.allowed_user_ids.as_mut().filter(|l| l.contains(&user_id)) else { continue };
                list.retain(|u| *u != user_id);
                let json = serde_json::to_string(&s).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                sqlx::query("UPDATE apps SET settings = $1, updated_at = $2 WHERE id = $3")
                    .bind(json)
                    .bind(now)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                out.allow_lists += 1;
            }
            let events: Vec<(i64, String, String)> =
                sqlx::query_as("SELECT id, actor, details FROM audit_events WHERE actor = $1 OR details LIKE $2")
                    .bind(&label)
                    .bind(&needle)
                    .fetch_all(&mut *tx)
                    .await?;
            for (id, actor, details) in events {
                let actor = if actor == label { pseudonym.to_owned() } else { actor };
                let mut json: Value = serde_json::from_str(&details).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let changed = pseudonymise(&mut json, user_id, &label, pseudonym, false);
                if actor == pseudonym || changed {
                    sqlx::query("UPDATE audit_events SET actor = $1, details = $2 WHERE id = $3")
                        .bind(&actor)
                        .bind(json.to_string())
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    out.pseudonymised += 1;
                }
            }
            sqlx::query("DELETE FROM revoked_users WHERE expires_at < $1").bind(now).execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO revoked_users (user_id, erased_at, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id) DO UPDATE SET erased_at = excluded.erased_at, expires_at = excluded.expires_at",
            )
            .bind(user_id)
            .bind(now)
            .bind(sessions_until)
            .execute(&mut *tx)
            .await?;
            insert_audit!(&mut *tx, audit);
        });
        Ok(out)
    }

    /// `(user id, erased at ms)` of users whose older sessions edges must refuse.
    pub async fn revoked_users(&self) -> Result<Vec<(i64, i64)>, StoreError> {
        Ok(on_db!(self, p => sqlx::query_as("SELECT user_id, erased_at FROM revoked_users WHERE expires_at >= $1")
            .bind(now_ms())
            .fetch_all(p)
            .await?))
    }
}

/// Replaces user `id` in audit details: the label `tg:{id}` anywhere, and the number under keys
/// that hold user ids (`user_id`, `allowed_user_ids`). Other numbers (sizes, versions) are
/// left as they are even when equal. Returns whether anything changed.
fn pseudonymise(v: &mut Value, id: i64, label: &str, pseudonym: &str, user_key: bool) -> bool {
    match v {
        Value::String(s) if s == label => {
            *s = pseudonym.to_owned();
            true
        }
        Value::Number(n) if user_key && n.as_i64() == Some(id) => {
            *v = Value::from(pseudonym);
            true
        }
        Value::Array(items) => {
            items.iter_mut().fold(false, |acc, item| pseudonymise(item, id, label, pseudonym, user_key) | acc)
        }
        Value::Object(map) => map.iter_mut().fold(false, |acc, (k, item)| {
            let user_key = matches!(k.as_str(), "user_id" | "allowed_user_ids");
            pseudonymise(item, id, label, pseudonym, user_key) | acc
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::pseudonymise;

    #[test]
    fn only_user_ids_and_labels_are_replaced() {
        let mut v = json!({
            "user_id": 42,
            "version": 42,
            "settings": { "allowed_user_ids": [7, 42], "session_ttl_secs": 42 },
            "by": "tg:42",
            "other": "tg:420",
        });
        assert!(pseudonymise(&mut v, 42, "tg:42", "erased:ab", false));
        assert_eq!(
            v,
            json!({
                "user_id": "erased:ab",
                "version": 42,
                "settings": { "allowed_user_ids": [7, "erased:ab"], "session_ttl_secs": 42 },
                "by": "erased:ab",
                "other": "tg:420",
            })
        );
        assert!(!pseudonymise(&mut json!({ "user_id": 7, "size": 42 }), 42, "tg:42", "erased:ab", false));
    }
}
