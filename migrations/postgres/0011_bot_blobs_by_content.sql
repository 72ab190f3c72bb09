-- Garbage collection drops a collected content's `bot_blobs` rows by hash; without this index
-- each batch scanned the whole table (tests/load/gc.sh). Keep in step with
-- migrations/sqlite/0011_bot_blobs_by_content.sql.
CREATE INDEX bot_blobs_sha256 ON bot_blobs (sha256);
