-- 003: checkpoints whose blob is missing or damaged are flagged, never
-- served, and skipped by best and latest.
ALTER TABLE checkpoints ADD COLUMN corrupt INTEGER NOT NULL DEFAULT 0;
