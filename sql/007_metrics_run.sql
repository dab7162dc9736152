-- 007: each metric row carries its checkpoint's run, indexed by (run, name,
-- value), so best?metric= and lists ordered by a metric walk one run's values
-- in order. On (name, value) alone they walked every run's values and kept
-- the requested run's: a run whose values all sort last (a new run, its
-- accuracy still low) visited the whole index, 0.18 s at 100k checkpoints.
ALTER TABLE metrics ADD COLUMN run TEXT;
UPDATE metrics SET run = (SELECT run FROM checkpoints WHERE id = metrics.checkpoint_id);
DROP INDEX metrics_name_value;
CREATE INDEX metrics_run_name_value ON metrics (run, name, value);
-- ckptd sets run itself; a writer that does not (the sqlite3 CLI) gets it here.
CREATE TRIGGER metrics_run AFTER INSERT ON metrics WHEN NEW.run IS NULL BEGIN
    UPDATE metrics SET run = (SELECT run FROM checkpoints WHERE id = NEW.checkpoint_id)
        WHERE checkpoint_id = NEW.checkpoint_id AND name = NEW.name;
END;
