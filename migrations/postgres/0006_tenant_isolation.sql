-- Tenant isolation (issue 15). Keep in step with migrations/sqlite/0006_tenant_isolation.sql.

-- Custom domains: what an app claims (`settings.custom_domain`, normalised) and whether its
-- owner proved control with the `_tmahost.{domain}` TXT record. Only verified rows are routed.
-- A name has at most one verified owner platform-wide; an unproven claim reserves nothing, so
-- nobody can squat a domain they do not control.
CREATE TABLE app_domains (
    app_id        TEXT PRIMARY KEY REFERENCES apps (id) ON DELETE CASCADE,
    domain        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    verified_at   BIGINT,                           -- NULL: not (or no longer) proven, not routed
    checked_at    BIGINT,
    failing_since BIGINT,                           -- first failed re-check of a verified domain
    last_error    TEXT
);
CREATE UNIQUE INDEX app_domains_one_owner ON app_domains (domain) WHERE verified_at IS NOT NULL;
CREATE INDEX app_domains_domain ON app_domains (domain);
-- Domains set before proofs existed start unproven: they stop routing until their TXT record is seen.
INSERT INTO app_domains (app_id, domain, created_at)
SELECT id, lower(rtrim(settings::json->>'custom_domain', '.')), updated_at FROM apps
WHERE settings::json->>'custom_domain' IS NOT NULL;

-- One-time codes on deploy-notice buttons: open one deployment's preview for one staff member.
CREATE TABLE staff_codes (
    code_hash     TEXT PRIMARY KEY,                 -- hex SHA-256; the code is only in the button
    user_id       BIGINT NOT NULL,
    app_id        TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    expires_at    BIGINT NOT NULL,
    used_at       BIGINT
);
CREATE INDEX staff_codes_expires ON staff_codes (expires_at);

-- Edge sessions ended by `POST /_tma/logout` before their cookie expired.
CREATE TABLE revoked_sessions (
    session_id TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

-- Telegram Login Widget payloads already used to sign in to the dashboard.
CREATE TABLE used_login_payloads (
    payload_hash TEXT PRIMARY KEY,
    expires_at   BIGINT NOT NULL
);

-- Contents each bot has sent (or deployed): a digest deploy of a bot lists as missing every
-- content not here, even when another tenant stored the same bytes (the store keeps one copy,
-- but "you need not upload this" would tell a tenant what others host).
CREATE TABLE bot_blobs (
    bot_id BIGINT NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    sha256 TEXT NOT NULL REFERENCES blobs (sha256),
    PRIMARY KEY (bot_id, sha256)
);
INSERT INTO bot_blobs (bot_id, sha256)
SELECT DISTINCT a.bot_id, df.sha256 FROM deployment_files df
JOIN deployments d ON d.id = df.deployment_id JOIN apps a ON a.id = d.app_id;

-- API tokens live only as long as their minter's rights: a token minted by a bot member (or by
-- such a token) is limited, on every use, to the bots its minter still owns. 1: minted by a
-- platform admin (or the operator), unaffected. Existing tokens are checked like members'.
ALTER TABLE api_tokens ADD COLUMN minted_by_admin BIGINT NOT NULL DEFAULT 0;
