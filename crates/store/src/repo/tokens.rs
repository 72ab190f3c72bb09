//! API tokens (stored by hashed `jti`) and their revocation.

use super::*;

impl Db {
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_token(
        &self,
        id: &str,
        name: &str,
        jti_hash: &str,
        scope: &TokenScope,
        created_by: &str,
        minted_by_admin: bool,
        expires_at: i64,
        audit: &NewAuditEvent<'_>,
    ) -> Result<ApiToken, StoreError> {
        let scope = serde_json::to_string(scope).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let q = sql(format!(
            "INSERT INTO api_tokens (id, name, jti_hash, scope, created_by, minted_by_admin, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {TOKEN_COLS}"
        ));
        let t = in_tx!(self, tx => {
            let t: ApiToken = sqlx::query_as(q)
                .bind(id)
                .bind(name)
                .bind(jti_hash)
                .bind(&scope)
                .bind(created_by)
                .bind(i64::from(minted_by_admin))
                .bind(now_ms())
                .bind(expires_at)
                .fetch_one(&mut *tx)
                .await?;
            insert_audit!(&mut *tx, audit);
            t
        });
        Ok(t)
    }

    pub async fn token_by_jti_hash(&self, jti_hash: &str) -> Result<Option<ApiToken>, StoreError> {
        let q = sql(format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE jti_hash = $1"));
        Ok(on_db!(self, p => sqlx::query_as(q).bind(jti_hash).fetch_optional(p).await?))
    }

    pub async fn get_token(&self, id: &str) -> Result<Option<ApiToken>, StoreError> {
        let q = sql(format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE id = $1"));
        Ok(on_db!(self, p => sqlx::query_as(q).bind(id).fetch_optional(p).await?))
    }

    pub async fn list_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        let q = sql(format!("SELECT {TOKEN_COLS} FROM api_tokens ORDER BY created_at DESC, id"));
        Ok(on_db!(self, p => sqlx::query_as(q).fetch_all(p).await?))
    }

    pub async fn count_live_tokens(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = on_db!(self, p => sqlx::query_as(
            "SELECT COUNT(*) FROM api_tokens WHERE revoked_at IS NULL AND expires_at > $1",
        )
        .bind(now_ms())
        .fetch_one(p)
        .await?);
        Ok(n)
    }

    pub async fn revoke_token(&self, id: &str, audit: &NewAuditEvent<'_>) -> Result<(), StoreError> {
        in_tx!(self, tx => {
            change_one!(
                &mut *tx,
                sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                    .bind(now_ms())
                    .bind(id)
            );
            insert_audit!(&mut *tx, audit);
        });
        Ok(())
    }

    pub async fn touch_token(&self, id: &str) -> Result<(), StoreError> {
        on_db!(self, p => sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(id)
            .execute(p)
            .await
            .map(|_| ())?);
        Ok(())
    }
}
