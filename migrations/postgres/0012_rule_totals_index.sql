-- HR's rule attainment sums a period's rule entries per rule; covering them in a partial
-- index reads the index alone instead of every entry row of the period.
CREATE INDEX ledger_entries_rule_totals ON ledger_entries (occurred_at, kind, rule_id, score_delta, pending_delta) WHERE kind = 'rule';
