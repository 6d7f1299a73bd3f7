-- Every delivery attempt of an outbox row and what came of it (invariant 6: a push is sent
-- or visibly dead-lettered, and one can see why).
CREATE TABLE outbox_attempts (
    id         INTEGER PRIMARY KEY,
    outbox_id  INTEGER NOT NULL REFERENCES outbox(id),
    attempt    INTEGER NOT NULL,
    at         INTEGER NOT NULL,
    outcome    TEXT NOT NULL CHECK (outcome IN ('sent', 'retry', 'dead')),
    detail     TEXT
);
CREATE INDEX outbox_attempts_row ON outbox_attempts(outbox_id);

-- Rank in work notifications counts the accounts above a score.
CREATE INDEX accounts_score ON accounts(score);
