-- Running for years (issue 37): blob garbage collection, retention with pinning, per-bot quotas.
-- Keep in step with migrations/postgres/0009_retention_and_gc.sql.

-- A blob row's life: 'pending' while an uploader writes its objects (nothing may reference it),
-- 'live' once they are all stored, 'doomed' while the collector deletes them (uploaders of the
-- same content wait). touched_at (ms) is its last "exists" answer, upload, or dropped reference
-- (or, when doomed, the time of the doom): the collector spares what was touched within its
-- grace period.
ALTER TABLE blobs ADD COLUMN state TEXT NOT NULL DEFAULT 'live' CHECK (state IN ('pending', 'live', 'doomed'));
ALTER TABLE blobs ADD COLUMN touched_at BIGINT NOT NULL DEFAULT 0;
UPDATE blobs SET touched_at = created_at;

-- Pinned deployments are never removed by retention.
ALTER TABLE deployments ADD COLUMN pinned BIGINT NOT NULL DEFAULT 0;

-- An admin's cap on the bytes one bot stores (NULL: the platform's TMAHOST_MAX_BYTES_PER_BOT).
ALTER TABLE bots ADD COLUMN max_bytes BIGINT;

-- Named leases: a background job that must run on one node at a time (the collector) holds one.
CREATE TABLE leases (
    name   TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until  BIGINT NOT NULL                          -- ms; free once passed
);
