-- API keys for other systems: each is shown once when created and kept only as a SHA-256
-- of its secret, looked up by a public prefix. Scopes are space-separated (read,
-- events:write, awards:write, admin). A revoked key keeps its row, for the audit trail.
CREATE TABLE api_keys (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    prefix        TEXT NOT NULL UNIQUE,
    secret_sha256 TEXT NOT NULL,
    scopes        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER
);

-- The first answer to each write under an Idempotency-Key, per API key: a retry with the
-- same key and the same request gets it again and writes nothing.
CREATE TABLE api_requests (
    key_name        TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_sha256  TEXT NOT NULL,
    status          INTEGER NOT NULL,
    body            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (key_name, idempotency_key)
);
