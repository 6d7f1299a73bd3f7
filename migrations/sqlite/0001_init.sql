-- jifen schema, SQLite dialect. Keep in lockstep with migrations/postgres (same versions).
-- Times are Unix milliseconds (UTC); periods are computed in the organisation's time zone.

CREATE TABLE departments (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    parent_id   TEXT,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE employees (
    userid      TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    active      BOOLEAN NOT NULL DEFAULT TRUE,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE department_members (
    userid         TEXT NOT NULL REFERENCES employees(userid),
    department_id  TEXT NOT NULL REFERENCES departments(id),
    PRIMARY KEY (userid, department_id)
);
CREATE INDEX department_members_by_department ON department_members(department_id);

-- Append-only: entries are never updated or deleted (triggers below); corrections are new
-- entries that point at what they reverse or resolve.
CREATE TABLE ledger_entries (
    id             INTEGER PRIMARY KEY,
    userid         TEXT NOT NULL REFERENCES employees(userid),
    kind           TEXT NOT NULL CHECK (kind IN ('rule', 'manual', 'reversal', 'approval', 'rejection')),
    points         INTEGER NOT NULL,
    score_delta    INTEGER NOT NULL,
    balance_delta  INTEGER NOT NULL,
    pending_delta  INTEGER NOT NULL,
    source_key     TEXT NOT NULL,
    rule_key       TEXT NOT NULL,
    rule_id        TEXT,
    rule_version   INTEGER,
    actor          TEXT,
    category       TEXT NOT NULL,
    reverses       INTEGER UNIQUE REFERENCES ledger_entries(id),
    resolves       INTEGER UNIQUE REFERENCES ledger_entries(id),
    explanation_zh TEXT NOT NULL,
    explanation_en TEXT NOT NULL,
    inputs         TEXT NOT NULL,
    occurred_at    INTEGER NOT NULL,
    posted_at      INTEGER NOT NULL,
    UNIQUE (source_key, rule_key)
);
CREATE INDEX ledger_entries_by_user ON ledger_entries(userid, id);
CREATE INDEX ledger_entries_for_caps ON ledger_entries(userid, rule_id, occurred_at);

CREATE TRIGGER ledger_entries_are_immutable BEFORE UPDATE ON ledger_entries
BEGIN
    SELECT RAISE(ABORT, 'ledger entries are immutable: post a reversal instead');
END;
CREATE TRIGGER ledger_entries_are_permanent BEFORE DELETE ON ledger_entries
BEGIN
    SELECT RAISE(ABORT, 'ledger entries are immutable: post a reversal instead');
END;

-- Per-person totals, changed in the same transaction as the entries they sum.
CREATE TABLE accounts (
    userid      TEXT PRIMARY KEY REFERENCES employees(userid),
    score       INTEGER NOT NULL DEFAULT 0,
    balance     INTEGER NOT NULL DEFAULT 0,
    pending     INTEGER NOT NULL DEFAULT 0,
    updated_at  INTEGER NOT NULL
);

-- Replies to requests made with an Idempotency-Key, so a retried request is answered the same.
CREATE TABLE idempotency_keys (
    scope         TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    response      TEXT,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);

CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    subject  TEXT NOT NULL,
    reason   TEXT NOT NULL,
    detail   TEXT NOT NULL
);
CREATE INDEX audit_log_by_subject ON audit_log(subject, id);

-- Raw inbound events (callbacks, stream pushes, robot messages), de-duplicated by dedup_key.
CREATE TABLE inbox (
    id               INTEGER PRIMARY KEY,
    dedup_key        TEXT NOT NULL UNIQUE,
    source           TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    payload          TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'processing', 'done', 'ignored', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    last_error       TEXT,
    received_at      INTEGER NOT NULL,
    processed_at     INTEGER
);
CREATE INDEX inbox_due ON inbox(status, next_attempt_at);

-- Outbound pushes (work notifications, robot messages, cards), written with their cause.
CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY,
    dedup_key        TEXT NOT NULL UNIQUE,
    channel          TEXT NOT NULL,
    recipient        TEXT NOT NULL,
    payload          TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sending', 'sent', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    sent_at          INTEGER
);
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
