-- Digest deploys (`POST …/deployments` with a JSON manifest): what an unfinished deployment
-- declared, kept until it is finalized or expires. `upload_blobs` lists the contents the store
-- lacked when the deployment was created: `PUT /api/v1/blobs/{sha256}` accepts only a listed
-- content, at its declared size, from a caller who may deploy to that bot.
CREATE TABLE uploads (
    deployment_id TEXT PRIMARY KEY REFERENCES deployments (id) ON DELETE CASCADE,
    manifest      TEXT NOT NULL,                    -- JSON [{path, sha256, size}], already checked
    activate      BIGINT NOT NULL,                  -- 1: activate when finalized, 0: stage
    new_blobs     BIGINT NOT NULL,                  -- distinct contents missing at creation
    fast_brotli   BIGINT NOT NULL,                  -- 1: too many new bytes for maximum effort
    expires_at    BIGINT NOT NULL
);
CREATE TABLE upload_blobs (
    deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    sha256        TEXT NOT NULL,
    size          BIGINT NOT NULL,
    content_type  TEXT NOT NULL,                    -- of the first path with this content
    PRIMARY KEY (deployment_id, sha256)
);
CREATE INDEX upload_blobs_sha256 ON upload_blobs (sha256);
