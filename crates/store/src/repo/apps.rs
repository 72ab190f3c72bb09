//! Apps and their settings (custom-domain claims are kept in step in the same transaction).

use super::*;

impl Db {
    pub async fn insert_app(
        &self,
        bot: BotId,
        slug: &AppSlug,
        settings: &AppSettings,
        audit: &NewAuditEvent<'_>,
    ) -> Result<App, StoreError> {
        let now = now_ms();
        let id = uuid::Uuid::now_v7().to_string();
        let settings = serde_json::to_string(settings).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let q = sql(format!(
            "INSERT INTO apps (id, bot_id, slug, settings, next_version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 1, $5, $5) RETURNING {APP_COLS}"
        ));
        let app = in_tx!(self, tx => {
            let app: App = sqlx::query_as(q)
                .bind(&id)
                .bind(bot.0)
                .bind(slug.as_str())
                .bind(&settings)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| StoreError::conflict_or(e, "this bot already has an app with that slug"))?;
            set_domain_claim!(tx, &app.id, app.settings.custom_domain.as_deref(), now);
            let ev = NewAuditEvent { app_id: Some(&app.id), ..audit.clone() };
            insert_audit!(&mut *tx, &ev);
            app
        });
        Ok(app)
    }

    pub async fn get_app(&self, bot: BotId, slug: &AppSlug) -> Result<Option<App>, StoreError> {
        let q = sql(format!("SELECT {APP_COLS} FROM apps WHERE bot_id = $1 AND slug = $2"));
        Ok(on_db!(self, p => sqlx::query_as(q).bind(bot.0).bind(slug.as_str()).fetch_optional(p).await?))
    }

    pub async fn get_app_by_id(&self, id: &str) -> Result<Option<App>, StoreError> {
        let q = sql(format!("SELECT {APP_COLS} FROM apps WHERE id = $1"));
        Ok(on_db!(self, p => sqlx::query_as(q).bind(id).fetch_optional(p).await?))
    }

    pub async fn list_apps(&self, bot: BotId) -> Result<Vec<App>, StoreError> {
        let q = sql(format!("SELECT {APP_COLS} FROM apps WHERE bot_id = $1 ORDER BY slug"));
        Ok(on_db!(self, p => sqlx::query_as(q).bind(bot.0).fetch_all(p).await?))
    }

    pub async fn update_app_settings(
        &self,
        app_id: &str,
        settings: &AppSettings,
        audit: &NewAuditEvent<'_>,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(settings).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let now = now_ms();
        in_tx!(self, tx => {
            change_one!(
                &mut *tx,
                sqlx::query("UPDATE apps SET settings = $1, updated_at = $2 WHERE id = $3")
                    .bind(&json)
                    .bind(now)
                    .bind(app_id)
            );
            set_domain_claim!(tx, app_id, settings.custom_domain.as_deref(), now);
            insert_audit!(&mut *tx, audit);
        });
        Ok(())
    }
}
