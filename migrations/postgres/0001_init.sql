-- tmahost schema (PostgreSQL). Keep in step with migrations/sqlite/0001_init.sql.
-- Times are unix milliseconds (BIGINT) so both engines share one Rust mapping.

CREATE TABLE bots (
    id               BIGINT PRIMARY KEY,            -- Telegram bot id (numeric prefix of the token)
    username         TEXT NOT NULL,
    host_label       TEXT NOT NULL UNIQUE,          -- lowercased username, '_' -> '-'
    token_ciphertext BYTEA NOT NULL,                -- AES-256-GCM(master key), nonce prepended
    status           TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

CREATE TABLE apps (
    id           TEXT PRIMARY KEY,
    bot_id       BIGINT NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    slug         TEXT NOT NULL,
    settings     TEXT NOT NULL DEFAULT '{}',        -- JSON, see AppSettings
    next_version BIGINT NOT NULL DEFAULT 1,         -- bumped atomically to number deployments
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    UNIQUE (bot_id, slug)
);

CREATE TABLE blobs (
    sha256     TEXT PRIMARY KEY,
    size       BIGINT NOT NULL,
    br_size    BIGINT,                              -- NULL: no brotli variant stored
    gz_size    BIGINT,                              -- NULL: no gzip variant stored
    created_at BIGINT NOT NULL
);

CREATE TABLE deployments (
    id           TEXT PRIMARY KEY,
    app_id       TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    version      BIGINT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('uploading', 'ready', 'active', 'superseded', 'failed')),
    message      TEXT,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    activated_at BIGINT,
    file_count   BIGINT NOT NULL DEFAULT 0,
    total_bytes  BIGINT NOT NULL DEFAULT 0,
    error        TEXT,
    UNIQUE (app_id, version)
);
-- The invariant "exactly one active deployment per app", enforced by the database.
CREATE UNIQUE INDEX deployments_one_active ON deployments (app_id) WHERE status = 'active';
CREATE INDEX deployments_status ON deployments (status, created_at);

CREATE TABLE deployment_files (
    deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    path          TEXT NOT NULL,                    -- normalised bundle path, no leading '/'
    sha256        TEXT NOT NULL REFERENCES blobs (sha256),
    size          BIGINT NOT NULL,
    content_type  TEXT NOT NULL,
    PRIMARY KEY (deployment_id, path)
);
CREATE INDEX deployment_files_sha256 ON deployment_files (sha256);

CREATE TABLE members (
    bot_id     BIGINT NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL,                     -- Telegram user id
    role       TEXT NOT NULL CHECK (role IN ('owner', 'developer')),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (bot_id, user_id)
);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    jti_hash     TEXT NOT NULL UNIQUE,              -- hex SHA-256 of the JWT id; the JWT itself is never stored
    scope        TEXT NOT NULL,                     -- JSON, see TokenScope
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    last_used_at BIGINT
);

CREATE TABLE audit_events (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            BIGINT NOT NULL,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    bot_id        BIGINT,                           -- no FK: history outlives deleted bots
    app_id        TEXT,
    deployment_id TEXT,
    details       TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_bot ON audit_events (bot_id, id);
