//! Rows that keep tenants apart (migration 0006): custom-domain claims and their DNS proofs,
//! one-time staff codes of deploy notices, revoked edge sessions, used Login Widget payloads,
//! used TON Connect proof payloads (0007).

use sqlx::AssertSqlSafe;

use crate::{Db, StoreError, in_tx, now_ms, on_db};

/// An app's custom-domain claim and where its proof stands.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DomainClaim {
    pub app_id: String,
    pub domain: String,
    pub created_at: i64,
    pub verified_at: Option<i64>,
    pub checked_at: Option<i64>,
    pub failing_since: Option<i64>,
    pub last_error: Option<String>,
}

/// What one DNS check of a claim found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofOutcome {
    /// The TXT record holds the app's token.
    Seen,
    /// It does not (or DNS failed): a verified claim starts (or continues) its grace period
    /// and loses its route once `unroute_before` is later than the first failure.
    Missing { unroute_before: i64 },
}

/// A staff code as redeemed: who it was for and what it opens.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StaffCode {
    pub user_id: i64,
    pub app_id: String,
    pub deployment_id: String,
}

const CLAIM_COLS: &str = "app_id, domain, created_at, verified_at, checked_at, failing_since, last_error";

impl Db {
    // ----- host collisions ----------------------------------------------------------------

    /// Registered bot labels that share hosts with `label`, as `tmahost_types::host::collisions`
    /// names them: the given shorter labels, and those matching the `LIKE` pattern.
    pub async fn colliding_labels(&self, shorter: &[&str], pattern: &str) -> Result<Vec<String>, StoreError> {
        let mut found = Vec::new();
        let rows: Vec<(String,)> = on_db!(self, p => sqlx::query_as(
            "SELECT host_label FROM bots WHERE host_label LIKE $1",
        )
        .bind(pattern)
        .fetch_all(p)
        .await?);
        found.extend(rows.into_iter().map(|r| r.0));
        for label in shorter {
            let row: Option<(String,)> = on_db!(self, p => sqlx::query_as(
                "SELECT host_label FROM bots WHERE host_label = $1",
            )
            .bind(label)
            .fetch_optional(p)
            .await?);
            found.extend(row.map(|r| r.0));
        }
        Ok(found)
    }

    // ----- custom domains -----------------------------------------------------------------

    pub async fn domain_claim(&self, app_id: &str) -> Result<Option<DomainClaim>, StoreError> {
        let q = sqlx::AssertSqlSafe(format!("SELECT {CLAIM_COLS} FROM app_domains WHERE app_id = $1"));
        Ok(on_db!(self, p => sqlx::query_as(q).bind(app_id).fetch_optional(p).await?))
    }

    /// Claims of many apps at once (dashboard and API lists).
    pub async fn domain_claims(&self) -> Result<Vec<DomainClaim>, StoreError> {
        let q = sqlx::AssertSqlSafe(format!("SELECT {CLAIM_COLS} FROM app_domains ORDER BY app_id"));
        Ok(on_db!(self, p => sqlx::query_as(q).fetch_all(p).await?))
    }

    /// Whether another app holds `domain` verified (such a claim is refused at once).
    pub async fn domain_owner(&self, domain: &str) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = on_db!(self, p => sqlx::query_as(
            "SELECT app_id FROM app_domains WHERE domain = $1 AND verified_at IS NOT NULL",
        )
        .bind(domain)
        .fetch_optional(p)
        .await?);
        Ok(row.map(|r| r.0))
    }

    /// Records one DNS check. A first success verifies the claim (unless another app verified
    /// the name first: `Conflict`); a failure of a verified claim starts its grace period, and
    /// once the period is over the claim is unverified (its route goes, the name is free).
    /// Returns the claim as it is now.
    pub async fn record_domain_check(
        &self,
        app_id: &str,
        domain: &str,
        outcome: ProofOutcome,
        error: Option<&str>,
    ) -> Result<DomainClaim, StoreError> {
        let now = now_ms();
        let q = format!("SELECT {CLAIM_COLS} FROM app_domains WHERE app_id = $1 AND domain = $2");
        let claim = in_tx!(self, tx => {
            let claim: Option<DomainClaim> =
                sqlx::query_as(sqlx::AssertSqlSafe(q.clone())).bind(app_id).bind(domain).fetch_optional(&mut *tx).await?;
            // The claim changed (or went) while DNS was asked: nothing to record.
            let Some(before) = claim else { return Err(StoreError::NotFound) };
            match outcome {
                ProofOutcome::Seen => {
                    sqlx::query(
                        "UPDATE app_domains SET verified_at = COALESCE(verified_at, $1), checked_at = $1, \
                         failing_since = NULL, last_error = NULL WHERE app_id = $2",
                    )
                    .bind(now)
                    .bind(app_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| StoreError::conflict_or(e, "another app already proved this domain"))?;
                }
                ProofOutcome::Missing { unroute_before } => {
                    sqlx::query(
                        "UPDATE app_domains SET checked_at = $1, last_error = $2, \
                         failing_since = CASE WHEN verified_at IS NULL THEN NULL ELSE COALESCE(failing_since, $1) END \
                         WHERE app_id = $3",
                    )
                    .bind(now)
                    .bind(error)
                    .bind(app_id)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "UPDATE app_domains SET verified_at = NULL, failing_since = NULL \
                         WHERE app_id = $1 AND failing_since IS NOT NULL AND failing_since < $2",
                    )
                    .bind(app_id)
                    .bind(unroute_before)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            let claim: DomainClaim =
                sqlx::query_as(sqlx::AssertSqlSafe(q)).bind(app_id).bind(domain).fetch_one(&mut *tx).await?;
            if claim.verified_at.is_some() != before.verified_at.is_some() {
                crate::repo::changes::log_change!(&mut *tx, crate::EdgeChange::App(app_id.to_owned()));
            }
            claim
        });
        Ok(claim)
    }

    // ----- staff codes --------------------------------------------------------------------

    pub async fn insert_staff_code(
        &self,
        code_hash: &str,
        user_id: i64,
        app_id: &str,
        deployment_id: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        on_db!(self, p => {
            // Expired codes are worthless; forget them as new ones are made.
            sqlx::query("DELETE FROM staff_codes WHERE expires_at < $1").bind(now).execute(p).await?;
            sqlx::query(
                "INSERT INTO staff_codes (code_hash, user_id, app_id, deployment_id, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(code_hash)
            .bind(user_id)
            .bind(app_id)
            .bind(deployment_id)
            .bind(expires_at)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Uses a staff code up, atomically: `Some` only for the first redemption of an unexpired
    /// code of `app_id` and `deployment_id`. A code presented elsewhere is neither used nor
    /// revealed.
    pub async fn redeem_staff_code(
        &self,
        code_hash: &str,
        app_id: &str,
        deployment_id: &str,
    ) -> Result<Option<StaffCode>, StoreError> {
        let now = now_ms();
        Ok(on_db!(self, p => sqlx::query_as(
            "UPDATE staff_codes SET used_at = $1 \
             WHERE code_hash = $2 AND app_id = $3 AND deployment_id = $4 AND used_at IS NULL AND expires_at > $1 \
             RETURNING user_id, app_id, deployment_id",
        )
        .bind(now)
        .bind(code_hash)
        .bind(app_id)
        .bind(deployment_id)
        .fetch_optional(p)
        .await?))
    }

    // ----- edge sessions ------------------------------------------------------------------

    pub async fn revoke_session(&self, session_id: &str, expires_at: i64) -> Result<(), StoreError> {
        let now = now_ms();
        on_db!(self, p => {
            sqlx::query("DELETE FROM revoked_sessions WHERE expires_at < $1").bind(now).execute(p).await?;
            let mut tx = p.begin().await?;
            sqlx::query("INSERT INTO revoked_sessions (session_id, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(session_id)
                .bind(expires_at)
                .execute(&mut *tx)
                .await?;
            crate::repo::changes::log_change!(&mut *tx, crate::EdgeChange::Session(session_id.to_owned()));
            tx.commit().await?;
        });
        Ok(())
    }

    /// Sessions logged out whose cookies have not expired yet.
    pub async fn revoked_sessions(&self) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = on_db!(self, p => sqlx::query_as(
            "SELECT session_id FROM revoked_sessions WHERE expires_at >= $1",
        )
        .bind(now_ms())
        .fetch_all(p)
        .await?);
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    // ----- Login Widget -------------------------------------------------------------------

    /// Marks a Login Widget payload used; `false` if it was used before.
    pub async fn use_login_payload(&self, payload_hash: &str, expires_at: i64) -> Result<bool, StoreError> {
        self.use_once(OneTime::LoginWidget, payload_hash, expires_at).await
    }

    // ----- TON Connect --------------------------------------------------------------------

    /// Marks a TON Connect proof payload used (by its nonce; `expires_at` in ms); `false` if it
    /// was used before.
    pub async fn use_ton_proof_payload(&self, nonce: &str, expires_at: i64) -> Result<bool, StoreError> {
        self.use_once(OneTime::TonProof, nonce, expires_at).await
    }

    /// Records `key` in a table of things usable once, dropping rows past their expiry first.
    async fn use_once(&self, what: OneTime, key: &str, expires_at: i64) -> Result<bool, StoreError> {
        let (table, column) = what.table();
        let now = now_ms();
        let purge = format!("DELETE FROM {table} WHERE expires_at < $1");
        let insert = format!("INSERT INTO {table} ({column}, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING");
        let n = on_db!(self, p => {
            sqlx::query(AssertSqlSafe(purge.clone())).bind(now).execute(p).await?;
            sqlx::query(AssertSqlSafe(insert.clone())).bind(key).bind(expires_at).execute(p).await?.rows_affected()
        });
        Ok(n == 1)
    }
}

/// The tables of one-time things (names fixed here, never from input).
#[derive(Debug, Clone, Copy)]
enum OneTime {
    LoginWidget,
    TonProof,
}

impl OneTime {
    fn table(self) -> (&'static str, &'static str) {
        match self {
            Self::LoginWidget => ("used_login_payloads", "payload_hash"),
            Self::TonProof => ("used_ton_proof_payloads", "nonce"),
        }
    }
}
