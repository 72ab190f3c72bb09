-- Control bot: one-time dashboard login links (`/login`). Only a hash of the code is kept;
-- a link works once (used_at) and for five minutes (expires_at).
CREATE TABLE login_links (
    code_hash   TEXT PRIMARY KEY,
    user_id     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX login_links_expiry ON login_links (expires_at);
