-- What changed, in commit order, for edges to apply one change at a time instead of reloading
-- everything (crates/service/src/changes.rs). `kind`: app | bot | session | all; `subject`: the
-- app id, bot id or session id. Rows older than an hour are pruned. Keep in step with
-- migrations/sqlite/0012_change_log.sql.
CREATE TABLE changes (
    seq BIGSERIAL PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT
);
CREATE INDEX changes_at ON changes (at_ms);
-- An edge reads one app's superseded deployments per change: by app first, not by status (which
-- would scan every app's).
CREATE INDEX deployments_app_status ON deployments (app_id, status);
