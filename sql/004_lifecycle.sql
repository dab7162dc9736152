-- 004: lifecycle (issue 5). Pinned checkpoints are never dropped by
-- retention; user aliases, reader leases and per-run retention policies
-- live beside the checkpoints so they survive restarts.
ALTER TABLE checkpoints ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;

CREATE TABLE aliases (
    run           TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    checkpoint_id INTEGER NOT NULL REFERENCES checkpoints (id),
    updated_ms    INTEGER NOT NULL,
    PRIMARY KEY (run, name)
) WITHOUT ROWID;
CREATE INDEX aliases_checkpoint ON aliases (checkpoint_id);

CREATE TABLE leases (
    id            TEXT    PRIMARY KEY,
    checkpoint_id INTEGER NOT NULL REFERENCES checkpoints (id),
    expires_ms    INTEGER NOT NULL
);
CREATE INDEX leases_checkpoint ON leases (checkpoint_id, expires_ms);

-- The policy as canonical JSON (daemon/retention.c writes and reads it).
CREATE TABLE policies (
    run        TEXT    PRIMARY KEY,
    policy     TEXT    NOT NULL,
    updated_ms INTEGER NOT NULL
);
