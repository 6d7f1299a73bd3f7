-- When the next call to each DingTalk API may start (Unix microseconds), shared by every
-- replica on this database, so that together they keep to DingTalk's per-app limit.
CREATE TABLE dingtalk_pace (
    api     TEXT PRIMARY KEY,
    next_at BIGINT NOT NULL
);
