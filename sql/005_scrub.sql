-- 005: state of the integrity scrub that must survive restarts. kv holds
-- small named integers (when the last scrub finished, what it found);
-- blob_verified says when the scrub last found a blob's bytes matching
-- its name, so downloads of blobs verified since they were written keep
-- zero-copy sendfile while the others are hashed as they are sent.
CREATE TABLE kv (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE blob_verified (
    sha256      TEXT PRIMARY KEY,
    verified_ms INTEGER NOT NULL
) WITHOUT ROWID;
