-- 001: checkpoints and their metrics.
-- AUTOINCREMENT so an id is never reused after a delete: a URL that named
-- one checkpoint must never come to name another.
CREATE TABLE checkpoints (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    run        TEXT    NOT NULL,
    epoch      INTEGER,
    step       INTEGER,
    loss       REAL,
    size       INTEGER NOT NULL,
    sha256     TEXT    NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX checkpoints_run_id    ON checkpoints (run, id);
CREATE INDEX checkpoints_run_epoch ON checkpoints (run, epoch, id);
CREATE INDEX checkpoints_run_step  ON checkpoints (run, step, id);
CREATE INDEX checkpoints_run_loss  ON checkpoints (run, loss, id);
CREATE INDEX checkpoints_sha256    ON checkpoints (sha256);

CREATE TABLE metrics (
    checkpoint_id INTEGER NOT NULL REFERENCES checkpoints (id),
    name          TEXT    NOT NULL,
    value         REAL    NOT NULL,
    PRIMARY KEY (checkpoint_id, name)
) WITHOUT ROWID;
CREATE INDEX metrics_name_value ON metrics (name, value);
