-- Who holds each claimed inbox row and outbox push, so a restarted process takes back its
-- own claims at once instead of waiting out their lease.
ALTER TABLE inbox ADD COLUMN claimed_by TEXT;
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
-- A row that failed for a reason worth retrying (DingTalk down, the database unreachable) is
-- tried again on a slow schedule, at next_attempt_at; a permanent failure waits for a person.
ALTER TABLE inbox ADD COLUMN retryable BOOLEAN NOT NULL DEFAULT FALSE;
-- A running job slot is held until this time and renewed while it runs; a slot whose replica
-- died runs again once the lease has passed.
ALTER TABLE job_runs ADD COLUMN lease_until BIGINT;
