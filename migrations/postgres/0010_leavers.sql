-- Employment ends when DingTalk says the person left (user_leave_org, or gone from the
-- address book); `active` only says whether they activated their DingTalk account. People
-- who left keep their entries and archives and are never ranked again.
ALTER TABLE employees ADD COLUMN left_at BIGINT;
-- A department DingTalk removed keeps its archived totals; it is no longer shown or ranked.
ALTER TABLE departments ADD COLUMN removed_at BIGINT;
