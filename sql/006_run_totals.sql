-- 006: per-run totals kept by triggers, so GET /v1/runs reads one row per
-- run instead of scanning every checkpoint. Every write path (upload,
-- delete, retention, backup) goes through INSERT or DELETE on checkpoints.
CREATE INDEX checkpoints_run_sha256 ON checkpoints (run, sha256);
CREATE TABLE run_totals (
    run            TEXT    PRIMARY KEY,
    checkpoints    INTEGER NOT NULL,
    logical_bytes  INTEGER NOT NULL,
    physical_bytes INTEGER NOT NULL  -- each distinct blob of the run once
) WITHOUT ROWID;
INSERT INTO run_totals (run, checkpoints, logical_bytes, physical_bytes)
    SELECT run, sum(n), sum(bytes), sum(sz) FROM
        (SELECT run, count(*) AS n, sum(size) AS bytes, max(size) AS sz
         FROM checkpoints GROUP BY run, sha256)
    GROUP BY run;
CREATE TRIGGER run_totals_insert AFTER INSERT ON checkpoints BEGIN
    INSERT INTO run_totals (run, checkpoints, logical_bytes, physical_bytes)
        VALUES (NEW.run, 1, NEW.size,
                CASE WHEN EXISTS (SELECT 1 FROM checkpoints WHERE run = NEW.run
                                  AND sha256 = NEW.sha256 AND id <> NEW.id)
                     THEN 0 ELSE NEW.size END)
        ON CONFLICT (run) DO UPDATE SET
            checkpoints = checkpoints + 1,
            logical_bytes = logical_bytes + excluded.logical_bytes,
            physical_bytes = physical_bytes + excluded.physical_bytes;
END;
CREATE TRIGGER run_totals_delete AFTER DELETE ON checkpoints BEGIN
    UPDATE run_totals SET
        checkpoints = checkpoints - 1,
        logical_bytes = logical_bytes - OLD.size,
        physical_bytes = physical_bytes -
            CASE WHEN EXISTS (SELECT 1 FROM checkpoints WHERE run = OLD.run
                              AND sha256 = OLD.sha256)
                 THEN 0 ELSE OLD.size END
        WHERE run = OLD.run;
    DELETE FROM run_totals WHERE run = OLD.run AND checkpoints = 0;
END;
