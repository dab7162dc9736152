#!/usr/bin/env bash
# Migration 008 (sql/008_sha256_run.sql): one index on checkpoints (sha256, run) replaces the two
# on (sha256) and (run, sha256). An index written by schema 7 is upgraded at startup, and every
# query that used the old indexes still finds its rows through the new one, not by a scan: a
# blob's users (delete, dedup), the blob pages (scrub, fsck) and the run_totals triggers.
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary

D=$(new_tmpdir)
start_ckptd_on "$D" || bail "ckptd starts" "see diagnostics above"
rand_file "$WORK/x" 1000
rand_file "$WORK/y" 2000
X=$(sha256sum "$WORK/x" | cut -c1-64)
Y=$(sha256sum "$WORK/y" | cut -c1-64)
for f in "a epoch=1 x" "a epoch=2 x" "a epoch=3 y" "b epoch=1 x"; do
    set -- $f
    upload "$1" "$2" "$WORK/$3"
    [ "$STATUS" = 201 ] || bail "fixture upload $f answers 201" "got $STATUS: $(body_head)"
done
http GET "/v1/runs/a/checkpoints?min_epoch=3&max_epoch=3"
A3=$(jq -r '.checkpoints[0].id' <"$RESP_BODY")
stop_ckptd "ckptd exits 0 before the downgrade"

sql()
{
    index_sql "$D/index.db" "$@"
}
INDEXES="SELECT group_concat(name) FROM (SELECT name FROM sqlite_master WHERE type = 'index'
         AND tbl_name = 'checkpoints' AND sql IS NOT NULL ORDER BY name)"
NEW="checkpoints_run_epoch,checkpoints_run_id,checkpoints_run_loss,checkpoints_run_step,checkpoints_sha256_run"

check_eq "a new index is at schema version 8" 8 "$(sql 'PRAGMA user_version')"
check_eq "a new index has the (sha256, run) index and not the two it replaces" "$NEW" "$(sql "$INDEXES")"

# Back to version 7, as an index written before this migration looks.
sql "DROP INDEX checkpoints_sha256_run" "CREATE INDEX checkpoints_sha256 ON checkpoints (sha256)" \
    "CREATE INDEX checkpoints_run_sha256 ON checkpoints (run, sha256)" \
    "PRAGMA user_version = 7" >/dev/null 2>"$WORK/down.err" ||
    bail "the index goes back to version 7" "$(cat "$WORK/down.err")"

start_ckptd_on "$D" || bail "ckptd starts on a version 7 index" "see diagnostics above"
stop_ckptd "ckptd exits 0 after migrating"
check_eq "after startup the index is at version 8" 8 "$(sql 'PRAGMA user_version')"
check_eq "the migration replaced the two indexes with (sha256, run)" "$NEW" "$(sql "$INDEXES")"
check_eq "PRAGMA integrity_check after the migration" ok "$(sql 'PRAGMA integrity_check')"

# plan SQL: the query plan's lines, joined by ";".
plan()
{
    sql "EXPLAIN QUERY PLAN $1" | cut -d'|' -f4 | paste -sd';'
}
check_eq "a blob's users are found through the index" \
    "SEARCH checkpoints USING COVERING INDEX checkpoints_sha256_run (sha256=?)" \
    "$(plan "SELECT 1 FROM checkpoints WHERE sha256 = '$X' LIMIT 1")"
check_eq "the run_totals triggers' probe uses both columns of the index" \
    "SEARCH checkpoints USING COVERING INDEX checkpoints_sha256_run (sha256=? AND run=?)" \
    "$(plan "SELECT 1 FROM checkpoints WHERE run = 'a' AND sha256 = '$X' AND id <> 1")"
check_eq "a page of blobs after a digest is a range of the index" \
    "SEARCH checkpoints USING INDEX checkpoints_sha256_run (sha256>?)" \
    "$(plan "SELECT sha256, max(size) FROM checkpoints WHERE corrupt = 0 AND sha256 > '$X' GROUP BY sha256 ORDER BY sha256 LIMIT 10")"
check_eq "flagging a blob's checkpoints corrupt finds them through the index" \
    "SEARCH checkpoints USING INDEX checkpoints_sha256_run (sha256=?)" \
    "$(plan "UPDATE checkpoints SET corrupt = 1 WHERE sha256 = '$X' AND corrupt = 0")"

# run_totals: physical bytes count each of a run's distinct blobs once.
totals()
{
    http GET /v1/runs
    jq -r '[.runs[] | "\(.run):\(.checkpoints):\(.logical_bytes):\(.physical_bytes)"] | join(" ")' \
        <"$RESP_BODY"
}
start_ckptd_on "$D" || bail "ckptd starts after the migration" "see diagnostics above"
check_eq "run totals after the migration" "a:3:4000:3000 b:1:1000:1000" "$(totals)"
upload a "epoch=4" "$WORK/x"
check_eq "a fourth upload of x to run a answers 201" 201 "$STATUS"
check_eq "a blob the run already holds adds logical bytes only" "a:4:5000:3000 b:1:1000:1000" \
    "$(totals)"
upload c "epoch=1" "$WORK/y"
check_eq "y in a new run counts in that run's physical bytes" \
    "a:4:5000:3000 b:1:1000:1000 c:1:2000:2000" "$(totals)"

# Delete: the blob file goes with its last checkpoint, and only then.
http DELETE "/v1/checkpoints/$A3"
check_eq "deleting run a's only checkpoint of y answers 204" 204 "$STATUS"
check "y's file stays: run c still uses it" test -f "$(DATA=$D blob_path "$Y")"
check_eq "run a's physical bytes lose y" "a:3:3000:1000 b:1:1000:1000 c:1:2000:2000" "$(totals)"
http GET /v1/runs/c/latest
http DELETE "/v1/checkpoints/$(jbody .id)"
check_eq "deleting the last checkpoint of y answers 204" 204 "$STATUS"
check "y's file is removed with its last checkpoint" test ! -e "$(DATA=$D blob_path "$Y")"
check "x's file stays" test -f "$(DATA=$D blob_path "$X")"
http GET /v1/stats
check_eq "store totals: 4 checkpoints of one 1000-byte blob" "4 4000 1000" \
    "$(jq -r '"\(.checkpoints) \(.logical_bytes) \(.physical_bytes)"' <"$RESP_BODY")"
stop_ckptd

harness_exit
