-- Brotli at maximum effort is made after a deploy, not during it (issue 22): a deploy stores
-- gzip at once and marks the blob; a worker adds the brotli variant and clears the mark.
-- Keep in step with migrations/sqlite/0008_background_brotli.sql.
ALTER TABLE blobs ADD COLUMN br_pending BIGINT NOT NULL DEFAULT 0; -- 1: its brotli variant is not made yet
ALTER TABLE blobs ADD COLUMN br_lease BIGINT NOT NULL DEFAULT 0;   -- ms: a worker is making it until then
CREATE INDEX blobs_br_pending ON blobs (created_at) WHERE br_pending = 1;
