-- The review queue lists entries held for review; a partial index keeps that cheap however
-- large the ledger grows (a decided entry stays held in its row: the decision is a new entry).
CREATE INDEX ledger_entries_held ON ledger_entries (id) WHERE pending_delta <> 0;
