-- 008: one index on (sha256, run) instead of two, on (sha256) and on
-- (run, sha256). Every query that used either names sha256 with =, >, or
-- GROUP BY, and run only with = next to it: a blob's users, the blob pages
-- of the scrub and of fsck, and the run_totals triggers' "does this run hold
-- the blob elsewhere". The second index cost every insert and delete one
-- more B-tree update at a random place, and 37% of the file: at 100k
-- checkpoints the index went from 41.4 to 33.9 MB (after VACUUM).
CREATE INDEX checkpoints_sha256_run ON checkpoints (sha256, run);
DROP INDEX checkpoints_run_sha256;
DROP INDEX checkpoints_sha256;
