-- A Telegram user's data erased on request (issue 37). Keep in step with migrations/postgres/0010_erasure.sql.

-- Sessions the user opened before `erased_at` (ms) are refused on every edge. The row (the
-- only trace of the user left) goes at `expires_at`, once every such cookie has expired.
CREATE TABLE revoked_users (
    user_id    BIGINT PRIMARY KEY,
    erased_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
