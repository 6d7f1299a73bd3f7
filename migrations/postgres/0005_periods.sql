-- Month close: which months are closed, and their totals frozen at the close. Entries for a
-- closed month that arrive later are posted into the open month (the ledger says so), so
-- these totals never change.
CREATE TABLE period_closes (
    period     TEXT PRIMARY KEY,
    starts_at  BIGINT NOT NULL,
    ends_at    BIGINT NOT NULL,
    closed_at  BIGINT NOT NULL,
    report     TEXT NOT NULL
);

CREATE TABLE period_totals (
    period   TEXT NOT NULL REFERENCES period_closes(period),
    userid   TEXT NOT NULL,
    score    BIGINT NOT NULL,
    balance  BIGINT NOT NULL,
    pending  BIGINT NOT NULL,
    entries  BIGINT NOT NULL,
    PRIMARY KEY (period, userid)
);

-- Per department, counting each person in every department they belong to directly.
CREATE TABLE period_department_totals (
    period         TEXT NOT NULL REFERENCES period_closes(period),
    department_id  TEXT NOT NULL,
    score          BIGINT NOT NULL,
    members        BIGINT NOT NULL,
    PRIMARY KEY (period, department_id)
);
