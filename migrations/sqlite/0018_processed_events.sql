-- Every event the rules saw, in the form they saw it (the domain event as JSON), once per
-- source: `jifen rules backtest` replays them under a draft rule set.
CREATE TABLE processed_events (
    id           INTEGER PRIMARY KEY,
    source_key   TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    occurred_at  INTEGER NOT NULL,
    event        TEXT NOT NULL,
    processed_at INTEGER NOT NULL
);
CREATE INDEX processed_events_by_time ON processed_events(occurred_at, id);
