//! How staff open a tenant app from the control bot without handing tenant JavaScript
//! anything reusable: each deploy-notice button carries a one-time, short-lived code bound to
//! (recipient, app, deployment), which the edge exchanges for a session of that app only.
//! Also the edge's session revocations (`POST /_tma/logout`), which every edge must see.

use sha2::{Digest, Sha256};
use tmahost_store::{StaffCode, now_ms};

use crate::{DeployNotice, Platform, ServiceError};

/// How long a notice's button works.
pub const STAFF_CODE_TTL_SECS: i64 = 3600;

fn code_hash(code: &str) -> String {
    hex::encode(Sha256::digest(code.as_bytes()))
}

impl Platform {
    /// The URL of a notice's button for one recipient: the notice's host, `/_tma/staff?code=…`.
    pub async fn staff_link(&self, n: &DeployNotice, user_id: i64) -> Result<String, ServiceError> {
        use base64::Engine;
        let code = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let expires = now_ms() + STAFF_CODE_TTL_SECS * 1000;
        self.db().insert_staff_code(&code_hash(&code), user_id, &n.app.id, &n.deployment.id, expires).await?;
        Ok(format!("{}_tma/staff?code={code}", n.open_url))
    }

    /// Uses up a staff code presented on a host of `app_id` that serves `deployment_id`.
    /// `None` when it is unknown, used, expired, or made for another app or deployment.
    pub async fn redeem_staff_code(
        &self,
        code: &str,
        app_id: &str,
        deployment_id: &str,
    ) -> Result<Option<StaffCode>, ServiceError> {
        Ok(self.db().redeem_staff_code(&code_hash(code), app_id, deployment_id).await?)
    }

    /// Ends an edge session before its cookie expires, on every edge (they re-read the list
    /// when told of the change).
    pub async fn revoke_edge_session(&self, session_id: &str, expires_at_secs: i64) -> Result<(), ServiceError> {
        self.db().revoke_session(session_id, expires_at_secs.saturating_mul(1000)).await?;
        self.changed();
        Ok(())
    }

    /// What edges refuse although signed and unexpired: sessions logged out, and sessions of
    /// users whose data was erased, opened before the erasure.
    pub async fn revoked_edge_sessions(&self) -> Result<Revocations, ServiceError> {
        Ok(Revocations { sessions: self.db().revoked_sessions().await?, users: self.db().revoked_users().await? })
    }
}

/// The edge's refusal lists.
#[derive(Debug, Clone, Default)]
pub struct Revocations {
    /// Ids of sessions logged out.
    pub sessions: Vec<String>,
    /// `(user id, erased at ms)`: that user's sessions issued up to then.
    pub users: Vec<(i64, i64)>,
}
