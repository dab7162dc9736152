#!/usr/bin/env bash
# Migration 007 (sql/007_metrics_run.sql): metric rows carry their checkpoint's run, indexed by
# (run, name, value). An index written by the previous schema (version 6: no run column, an index
# on (name, value)) is upgraded at startup: every row gets its run, the new index and trigger
# exist, and best/list by a metric answer as before, including for a run whose values all sort
# below every other run's (the case that used to walk the whole index). A metric row written
# without run (the sqlite3 CLI, as the bench's fixtures do) gets it from the trigger.
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary

D=$(new_tmpdir)
start_ckptd_on "$D" || bail "ckptd starts" "see diagnostics above"
rand_file "$WORK/b" 100
for i in 1 2 3; do
    upload good "epoch=$i&metric.acc=0.9$i" "$WORK/b"
    [ "$STATUS" = 201 ] || bail "fixture upload to run good answers 201" "got $STATUS: $(body_head)"
done
for i in 1 2 3; do
    upload late "epoch=$i&metric.acc=0.1$i&metric.lr=0.5" "$WORK/b"
    [ "$STATUS" = 201 ] || bail "fixture upload to run late answers 201" "got $STATUS: $(body_head)"
    LATE[$i]=$(jbody .id)
done
upload late "epoch=4" "$WORK/b"
LATE[4]=$(jbody .id)
stop_ckptd "ckptd exits 0 before the downgrade"

# sql STATEMENTS...: run them on the index, one transaction; print the last one's rows.
sql()
{
    index_sql "$D/index.db" "$@"
}

check_eq "a new index is at schema version 8" 8 "$(sql 'PRAGMA user_version')"
check_eq "ckptd wrote the run into every metric row" 0 \
    "$(sql 'SELECT count(*) FROM metrics m JOIN checkpoints c ON c.id = m.checkpoint_id WHERE m.run IS NOT c.run')"

# Back to version 6, as an index written before this migration looks: undo 008, then 007.
sql "DROP INDEX checkpoints_sha256_run" "CREATE INDEX checkpoints_sha256 ON checkpoints (sha256)" \
    "CREATE INDEX checkpoints_run_sha256 ON checkpoints (run, sha256)" \
    "DROP TRIGGER metrics_run" "DROP INDEX metrics_run_name_value" \
    "ALTER TABLE metrics DROP COLUMN run" "CREATE INDEX metrics_name_value ON metrics (name, value)" \
    "PRAGMA user_version = 6" >/dev/null 2>"$WORK/down.err" ||
    bail "the index goes back to version 6" "$(cat "$WORK/down.err")"
check_eq "the downgraded metrics table has no run column" 0 \
    "$(sql "SELECT count(*) FROM pragma_table_info('metrics') WHERE name = 'run'")"

start_ckptd_on "$D" || bail "ckptd starts on a version 6 index" "see diagnostics above"
stop_ckptd "ckptd exits 0 after migrating"
check_eq "after startup the index is at version 8" 8 "$(sql 'PRAGMA user_version')"
check_eq "the migration filled in every metric row's run (9 rows)" "9|0" \
    "$(sql 'SELECT count(*), sum(m.run IS NOT c.run) FROM metrics m JOIN checkpoints c ON c.id = m.checkpoint_id')"
check_eq "the (run, name, value) index replaced the (name, value) one" "metrics_run_name_value" \
    "$(sql "SELECT group_concat(name) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'metrics' AND sql IS NOT NULL")"
check_eq "PRAGMA integrity_check after the migration" ok "$(sql 'PRAGMA integrity_check')"

# A writer that leaves run out gets it from the trigger.
sql "INSERT INTO metrics (checkpoint_id, name, value) VALUES (${LATE[4]}, 'acc', 0.05)" >/dev/null
check_eq "a metric row inserted without run gets its checkpoint's run" late \
    "$(sql "SELECT run FROM metrics WHERE checkpoint_id = ${LATE[4]} AND name = 'acc'")"

start_ckptd_on "$D" || bail "ckptd starts after the migration" "see diagnostics above"
http GET "/v1/runs/late/best?metric=acc&mode=max"
check_eq "best?metric=acc&mode=max in the run whose values sort lowest" "${LATE[3]}" "$(jbody .id)"
http GET "/v1/runs/late/best?metric=acc"
check_eq "best?metric=acc (min) in that run is the row the CLI added" "${LATE[4]}" "$(jbody .id)"
http GET "/v1/runs/good/best?metric=lr"
expect_error "best?metric=lr in a run without lr answers 404 checkpoint_not_found" 404 checkpoint_not_found
http GET "/v1/runs/late/checkpoints?order_by=metric.acc&order=desc"
check_eq "list of run late by acc, descending" "${LATE[3]} ${LATE[2]} ${LATE[1]} ${LATE[4]}" \
    "$(jq -r '[.checkpoints[].id | tostring] | join(" ")' <"$RESP_BODY")"
http GET "/v1/runs/late/checkpoints?order_by=metric.lr&limit=3"
check_eq "list by a metric one checkpoint lacks: it comes last, on the next page" \
    "${LATE[1]} ${LATE[2]} ${LATE[3]} true" \
    "$(jq -r '[(.checkpoints[].id | tostring), (.next != null | tostring)] | join(" ")' <"$RESP_BODY")"
upload late "epoch=5&metric.acc=0.99" "$WORK/b"
NEW=$(jbody .id)
check_eq "an upload after the migration stores its run with its metrics" late \
    "$(sql "SELECT run FROM metrics WHERE checkpoint_id = $NEW")"
http GET "/v1/runs/late/best?metric=acc&mode=max"
check_eq "and is the new best of its run" "$NEW" "$(jbody .id)"
stop_ckptd

harness_exit
