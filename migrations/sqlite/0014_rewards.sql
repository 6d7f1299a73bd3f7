-- How many of each reward are out (held, approved or fulfilled): a redemption takes one
-- only while fewer than the catalogue's stock are, in one conditional UPDATE, so stock
-- never goes below zero however many redeem at once.
CREATE TABLE reward_stock (
    reward_id  TEXT PRIMARY KEY,
    issued     INTEGER NOT NULL DEFAULT 0 CHECK (issued >= 0)
);

-- Redemptions: the points are held by a ledger entry at once and, if it is rejected or
-- cancelled, given back by a compensating one. The status moves forward only.
CREATE TABLE redemptions (
    id              INTEGER PRIMARY KEY,
    -- The request (robot message, API Idempotency-Key): asked twice, redeemed once.
    source_key      TEXT NOT NULL UNIQUE,
    userid          TEXT NOT NULL REFERENCES employees(userid),
    reward_id       TEXT NOT NULL,
    reward_name     TEXT NOT NULL,
    reward_name_en  TEXT NOT NULL,
    cost            INTEGER NOT NULL CHECK (cost > 0),
    status          TEXT NOT NULL
                    CHECK (status IN ('held', 'approved', 'fulfilled', 'rejected', 'cancelled')),
    hold_entry      INTEGER NOT NULL UNIQUE REFERENCES ledger_entries(id),
    refund_entry    INTEGER UNIQUE REFERENCES ledger_entries(id),
    decided_by      TEXT,
    note            TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX redemptions_by_person ON redemptions(userid, reward_id, created_at);
CREATE INDEX redemptions_by_status ON redemptions(status, id);
