-- DingTalk accepts a work notification with a task id and delivers it later; what became of
-- it (delivered, or refused: an invalid or forbidden recipient) is read back and kept here.
ALTER TABLE outbox ADD COLUMN task_id BIGINT;
ALTER TABLE outbox ADD COLUMN result TEXT;
CREATE INDEX outbox_unchecked ON outbox(sent_at) WHERE task_id IS NOT NULL AND result IS NULL;
