-- Dashboard analytics, written by the edges: per app and UTC day (days since 1970-01-01),
-- requests and sessions created (counters added to on every flush), and the distinct Telegram
-- users who opened a session that day.
CREATE TABLE app_daily_stats (
    app_id    TEXT NOT NULL,
    day       BIGINT NOT NULL,
    requests  BIGINT NOT NULL DEFAULT 0,
    sessions  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (app_id, day)
);
CREATE TABLE app_daily_users (
    app_id    TEXT NOT NULL,
    day       BIGINT NOT NULL,
    user_id   BIGINT NOT NULL,
    PRIMARY KEY (app_id, day, user_id)
);
