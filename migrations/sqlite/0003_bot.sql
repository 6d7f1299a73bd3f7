-- Bot commands: who leads which department (from DingTalk's address book) and managers'
-- monthly award budgets. (Robot messages wait in the inbox like every event.)
ALTER TABLE department_members ADD COLUMN leader BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE manager_budgets (
    userid          TEXT PRIMARY KEY REFERENCES employees(userid),
    monthly_points  INTEGER NOT NULL CHECK (monthly_points >= 0),
    updated_by      TEXT NOT NULL,
    updated_at      INTEGER NOT NULL
);

-- A manager's awards this month (the budget), one person's audit trail, and a period's
-- entries (rankings by week, month…, and the monthly export).
CREATE INDEX ledger_entries_by_actor ON ledger_entries(actor, posted_at);
CREATE INDEX audit_log_by_actor ON audit_log(actor, id);
CREATE INDEX ledger_entries_by_time ON ledger_entries(occurred_at);
