-- One row per run of a scheduled job. (job, slot) is unique, so a restart, a late start or
-- a second replica never runs a slot twice: whoever inserts the row runs it.
CREATE TABLE job_runs (
    job          TEXT NOT NULL,
    slot         TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    detail       TEXT,
    PRIMARY KEY (job, slot)
);
