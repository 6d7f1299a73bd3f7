-- Appeals (申诉): one per entry, by its person; decided once by an HR admin. An upheld one
-- points at the compensating entry that gave points back.
CREATE TABLE appeals (
    id                  INTEGER PRIMARY KEY,
    entry_id            INTEGER NOT NULL UNIQUE REFERENCES ledger_entries(id),
    userid              TEXT NOT NULL REFERENCES employees(userid),
    reason              TEXT NOT NULL,
    status              TEXT NOT NULL DEFAULT 'open'
                        CHECK (status IN ('open', 'upheld', 'rejected')),
    decided_by          TEXT,
    decision_note       TEXT,
    compensation_entry  INTEGER UNIQUE REFERENCES ledger_entries(id),
    created_at          INTEGER NOT NULL,
    decided_at          INTEGER
);
CREATE INDEX appeals_by_status ON appeals(status, id);
CREATE INDEX appeals_by_person ON appeals(userid, id);
