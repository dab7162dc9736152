-- 002: API tokens. Only SHA-256(secret) is stored: a copy of the index
-- gives no one a usable token.
CREATE TABLE tokens (
    id            TEXT    PRIMARY KEY,
    name          TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('read', 'write', 'admin')),
    run_prefix    TEXT    NOT NULL DEFAULT '',
    secret_sha256 BLOB    NOT NULL,
    created_ms    INTEGER NOT NULL,
    revoked_ms    INTEGER
);
