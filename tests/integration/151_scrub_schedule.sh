#!/usr/bin/env bash
# The scrub's rate limit, schedule, shutdown and access rules: 20 MB at --scrub-rate 10 takes at
# least 1.8 s; --scrub-interval 2s starts scrubs by itself; SIGTERM during a slow scrub stops the
# daemon promptly and does not record the run as finished; /v1/admin/scrub needs an admin token
# (a write token gets 403 for POST and GET) and /v1/stats a read one.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/integrity.sh"
need_daemon_binary

# ---------------------------------------------------------------- rate limit
DIR=$(new_tmpdir)
start_ckptd_on "$DIR" --scrub-rate 10 || bail "ckptd starts"
for i in 1 2; do
    rand_file "$WORK/big$i" 10000000
    upload r "epoch=$i" "$WORK/big$i"
    [ "$STATUS" = 201 ] || bail "upload $i answers 201 (got $STATUS)"
done
t0=$(date +%s.%N)
http POST /v1/admin/scrub
expect_status "POST /v1/admin/scrub answers 202" 202
check "the scrub finishes" wait_for 30 scrub_idle
t1=$(date +%s.%N)
elapsed=$(echo "$t1 - $t0" | bc)
scrub_status
expect_json "it read 20 000 000 bytes of 2 blobs and found nothing" \
    '.bytes_checked == 20000000 and .blobs_checked == 2 and .corrupt_found == 0 and .missing_found == 0'
expect_json "  ... and reports the rate" '.rate_bytes_per_s == 10000000'
check "20 MB at --scrub-rate 10 took at least 1.8 s ($elapsed s)" [ "$(echo "$elapsed >= 1.8" | bc)" = 1 ]
s=$(jbody .started_at)
f=$(jbody .finished_at)
diag "scrub ran from $s to $f"

# ---------------------------------------------------------------- prompt stop mid-scrub
stop_ckptd
start_ckptd_on "$DIR" --scrub-rate 1 || bail "ckptd restarts at 1 MB/s"
http POST /v1/admin/scrub
expect_status "a 20 s scrub (20 MB at 1 MB/s) starts" 202
sleep 1
check_eq "  ... and is running" running "$(scrub_state)"
t0=$(date +%s.%N)
signal_ckptd TERM
await_ckptd_exit "SIGTERM during the scrub: ckptd exits 0"
t1=$(date +%s.%N)
elapsed=$(echo "$t1 - $t0" | bc)
check "  ... within 3 s ($elapsed s)" [ "$(echo "$elapsed < 3" | bc)" = 1 ]
start_ckptd_on "$DIR" || bail "ckptd restarts"
scrub_status
expect_json "the interrupted scrub was not recorded: last_run is still the 10 MB/s one" \
    ".last_run.finished_at == \"$f\" and .last_run.bytes_checked == 20000000"
stop_ckptd

# ---------------------------------------------------------------- schedule
DIR2=$(new_tmpdir)
start_ckptd_on "$DIR2" --scrub-interval 2s --scrub-rate 0 || bail "ckptd starts with --scrub-interval 2s"
rand_file "$WORK/small" 1000
upload sched "" "$WORK/small"
expect_status "an upload answers 201" 201
scrub_status
expect_json "status shows the 2 s interval" '.interval_s == 2'
last_checked()
{
    curl -s "$BASE/v1/admin/scrub" | jq -e '.last_run.blobs_checked == 1' >/dev/null
}
check "a scheduled scrub runs by itself within 6 s and checks the blob" wait_for 6 last_checked
scrub_status
first=$(jbody .last_run.finished_at)
later_run()
{
    [ "$(curl -s "$BASE/v1/admin/scrub" | jq -r '.last_run.finished_at')" != "$first" ]
}
check "  ... and again one interval later" wait_for 6 later_run
stop_ckptd
start_ckptd_on "$DIR2" --scrub-interval 0 || bail "ckptd starts with --scrub-interval 0"
scrub_status
expect_json "--scrub-interval 0: no scheduled scrub (next_at null), last_run kept" \
    '.next_at == null and .interval_s == 0 and .last_run.blobs_checked == 1'
stop_ckptd

for bad in 7x -1 '' 99999999999d; do
    "$CKPTD" --data "$WORK/never" --scrub-interval "$bad" >/dev/null 2>"$WORK/bad.err"
    check_eq "--scrub-interval '$bad' is a usage error (exit 2)" 2 "$?"
done
"$CKPTD" --data "$WORK/never" --scrub-rate fast >/dev/null 2>"$WORK/bad.err"
check_eq "--scrub-rate fast is a usage error (exit 2)" 2 "$?"
check "  ... naming the option" grep -q -- '--scrub-rate' "$WORK/bad.err"

# ---------------------------------------------------------------- roles
DIR3=$(new_tmpdir)
ADMIN=$("$CKPTD" token add boss --role admin --data "$DIR3" 2>/dev/null)
WRITER=$("$CKPTD" token add trainer --role write --data "$DIR3" 2>/dev/null)
READER=$("$CKPTD" token add viewer --role read --data "$DIR3" 2>/dev/null)
start_ckptd_on "$DIR3" || bail "ckptd starts with tokens"
http POST /v1/admin/scrub -H "Authorization: Bearer $WRITER"
expect_error "POST /v1/admin/scrub with a write token answers 403" 403 forbidden
http GET /v1/admin/scrub -H "Authorization: Bearer $READER"
expect_error "GET /v1/admin/scrub with a read token answers 403" 403 forbidden
http GET /v1/admin/scrub
expect_error "GET /v1/admin/scrub without a token answers 401" 401 unauthorized
http POST /v1/admin/scrub -H "Authorization: Bearer $ADMIN"
expect_status "POST /v1/admin/scrub with an admin token answers 202" 202
http GET /v1/stats -H "Authorization: Bearer $READER"
expect_status "GET /v1/stats with a read token answers 200" 200
stop_ckptd
harness_exit
