#!/usr/bin/env bash
# Faults: kill -9 during a large slow upload and right after a commit, restart on the same data
# dir (nothing partial visible, tmp emptied, committed data kept, stale lock taken over); a client
# vanishing mid-upload; SIGTERM with an upload in flight (finishes if it can within 10 s, else
# aborted and leaves nothing).
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary
start_ckptd || bail "ckptd starts"
D=$DATA

# Committed data before the crash.
for i in 1 2 3; do
    rand_file "$WORK/k$i" $((50000 * i))
    upload crash "epoch=$i&loss=0.$i" "$WORK/k$i"
    [ "$STATUS" = 201 ] || fail "committed upload k$i answers 201" "HTTP $STATUS: $(body_head)"
    KID[$i]=$(jbody .id)
done
blobs_committed=$(blob_listing)

# 1 GiB (sparse source) sent at 4 MB/s: far from done when the daemon is killed.
truncate -s 1G "$WORK/huge"
curl -s -o /dev/null --max-time 300 --limit-rate 4M -T "$WORK/huge" \
    "$BASE/v1/runs/crash/checkpoints?epoch=99" 2>/dev/null &
cpid=$!
if wait_for 10 tmp_has_file; then
    ok "a temp file appears in DATA/tmp while the large upload is in flight"
else
    fail "a temp file appears in DATA/tmp while the large upload is in flight" "DATA/tmp: $(ls -la "$D/tmp" 2>&1)"
fi
sleep 1
kill9_ckptd
wait "$cpid" 2>/dev/null
diag "tmp before restart: $(find "$D/tmp" -type f -printf '%f %s\n' 2>/dev/null | head -3)"

# What a crash can leave besides the temp file: a stray file in tmp/ and a blob that no
# checkpoint refers to (crash between rename and index commit). Startup removes both.
printf 'junk' >"$D/tmp/junk.partial"
printf 'orphan blob bytes' >"$WORK/orphan"
oh=$(sha256_hex "$WORK/orphan")
mkdir -p "$D/blobs/${oh:0:2}"
cp "$WORK/orphan" "$D/blobs/${oh:0:2}/$oh"

start_ckptd_on "$D" || bail "ckptd restarts on the same data dir after kill -9 (stale lock)"
ok "ckptd restarts on the same data dir after kill -9 (stale lock taken over)"
check "DATA/tmp is emptied at startup" tmp_is_empty
check_eq "after the crash the run lists exactly the 3 committed checkpoints" 3 "$(run_count crash)"
http GET /v1/runs/crash/checkpoints?min_epoch=99
check_eq "the interrupted upload is not visible" 0 "$(jbody '.checkpoints | length')"
check "a stray file in DATA/tmp is removed at startup" test ! -e "$D/tmp/junk.partial"
check "a blob file no checkpoint refers to is removed at startup" test ! -e "$D/blobs/${oh:0:2}/$oh"
check_eq "DATA/blobs holds exactly the committed blobs" "$blobs_committed" "$(blob_listing)"
bad=
for i in 1 2 3; do
    http GET "/v1/checkpoints/${KID[$i]}/blob"
    cmp -s "$WORK/k$i" "$RESP_BODY" || bad="$bad k$i"
done
check_eq "committed checkpoints download intact after the crash" "" "$bad"
http GET /v1/runs/crash/latest
check_eq "latest after the crash is the last committed checkpoint" "${KID[3]}" "$(jbody .id)"
http GET /healthz
expect_status "/healthz answers 200 after crash recovery" 200

# kill -9 right after a 201: the commit survives.
rand_file "$WORK/k4" 123456
upload crash "epoch=4" "$WORK/k4"
expect_status "upload just before kill -9 answers 201" 201
KID[4]=$(jbody .id)
kill9_ckptd
start_ckptd_on "$D" || bail "ckptd restarts after kill -9 right after a commit"
http GET "/v1/checkpoints/${KID[4]}"
expect_status "a checkpoint answered 201 just before kill -9 is there after restart" 200
expect_json "its metadata survived" '.epoch == 4 and .run == "crash"'
http GET "/v1/checkpoints/${KID[4]}/blob"
check "its blob survived intact" cmp -s "$WORK/k4" "$RESP_BODY"

# kill -9 after a delete: the delete survives.
http DELETE "/v1/checkpoints/${KID[1]}"
expect_status "DELETE before kill -9 answers 204" 204
kill9_ckptd
start_ckptd_on "$D" || bail "ckptd restarts after kill -9 right after a delete"
http GET "/v1/checkpoints/${KID[1]}"
expect_error "a checkpoint deleted just before kill -9 stays deleted" 404 checkpoint_not_found
check_eq "run lists 3 checkpoints after delete + crash" 3 "$(run_count crash)"

# Ids are never reused, even after the newest checkpoint is deleted and the daemon restarts.
rand_file "$WORK/k6" 777
upload crash "" "$WORK/k6"
top=$(jbody .id)
http DELETE "/v1/checkpoints/$top"
stop_ckptd "ckptd exits 0 on SIGTERM before the id-reuse restart"
start_ckptd_on "$D" || bail "ckptd restarts for the id-reuse check"
upload crash "" "$WORK/k6"
check "after deleting the newest checkpoint and restarting, the next id is larger (not reused)" \
    [ "$(jbody .id)" -gt "$top" ]
http DELETE "/v1/checkpoints/$(jbody .id)"

# Client vanishing mid-upload (Content-Length body).
rows=$(run_count crash)
blobs=$(blob_listing)
curl -s -o /dev/null --max-time 300 --limit-rate 2M -T "$WORK/huge" \
    "$BASE/v1/runs/crash/checkpoints?epoch=98" 2>/dev/null &
cpid=$!
wait_for 10 tmp_has_file || diag "no temp file seen during the client-abort upload"
sleep 0.5
safe_kill KILL "$cpid"
wait "$cpid" 2>/dev/null
if wait_for 10 tmp_is_empty; then
    ok "client killed mid-upload: its temp file is removed (within 10 s)"
else
    fail "client killed mid-upload: its temp file is removed (within 10 s)" "$(ls -la "$D/tmp")"
fi
check_eq "client killed mid-upload: no new checkpoint" "$rows" "$(run_count crash)"
check_eq "client killed mid-upload: DATA/blobs unchanged" "$blobs" "$(blob_listing)"
check "ckptd still running after the client abort" is_alive "$CKPTD_PID"

# Client vanishing mid-upload (chunked body from a slow pipe).
mkfifo "$WORK/fifo"
( head -c 1000000 /dev/urandom; exec sleep 30 ) >"$WORK/fifo" &
feeder=$!
curl -s -o /dev/null --max-time 300 -T - "$BASE/v1/runs/crash/checkpoints?epoch=97" <"$WORK/fifo" 2>/dev/null &
cpid=$!
wait_for 10 tmp_has_file || diag "no temp file seen during the chunked client-abort upload"
sleep 0.5
safe_kill KILL "$cpid"
wait "$cpid" 2>/dev/null
if wait_for 10 tmp_is_empty; then
    ok "chunked client killed mid-upload: its temp file is removed (within 10 s)"
else
    fail "chunked client killed mid-upload: its temp file is removed (within 10 s)" "$(ls -la "$D/tmp")"
fi
safe_kill TERM "$feeder"
check_eq "chunked client killed mid-upload: no new checkpoint" "$rows" "$(run_count crash)"

# SIGTERM with an upload that can finish within 10 s: it completes, then ckptd exits 0.
rand_file "$WORK/k5" 3000000
curl -s -o "$WORK/k5.json" -w '%{http_code}' --max-time 60 --limit-rate 1M -T "$WORK/k5" \
    "$BASE/v1/runs/crash/checkpoints?epoch=5" >"$WORK/k5.status" 2>/dev/null &
cpid=$!
wait_for 10 tmp_has_file
sleep 0.5
t0=$SECONDS
stop_ckptd "ckptd exits 0 on SIGTERM while a short upload is in flight"
wait "$cpid"
check_eq "the in-flight upload finishes with 201 during shutdown" 201 "$(cat "$WORK/k5.status")"
check "shutdown took at most ~11 s" [ $((SECONDS - t0)) -le 11 ]
start_ckptd_on "$D" || bail "ckptd restarts after the graceful shutdown"
http GET "/v1/runs/crash/latest/blob"
check "the upload finished during shutdown is committed and intact" cmp -s "$WORK/k5" "$RESP_BODY"

# SIGTERM with an upload that cannot finish within 10 s: aborted, nothing left, exit 0.
rows=$(run_count crash)
blobs=$(blob_listing)
curl -s -o /dev/null -w '%{http_code}' --max-time 120 --limit-rate 2M -T "$WORK/huge" \
    "$BASE/v1/runs/crash/checkpoints?epoch=96" >"$WORK/long.status" 2>/dev/null &
cpid=$!
wait_for 10 tmp_has_file
t0=$SECONDS
signal_ckptd TERM
sleep 1
st=$(curl -s -o "$WORK/during.json" -w '%{http_code}' --max-time 5 "$BASE/healthz")
check "a request arriving during shutdown is refused or answered 503 unavailable" \
    bash -c "[ '$st' = 000 ] || { [ '$st' = 503 ] && [ \"\$(jq -r .error.code '$WORK/during.json')\" = unavailable ]; }"
diag "request during shutdown: HTTP $st"
await_ckptd_exit "ckptd exits 0 on SIGTERM with a long upload in flight (within 15 s)"
diag "shutdown with a long upload in flight took $((SECONDS - t0)) s"
wait "$cpid"
check "the aborted upload did not get a 201" [ "$(cat "$WORK/long.status")" != 201 ]
check "the aborted upload left nothing in DATA/tmp" tmp_is_empty
start_ckptd_on "$D" || bail "ckptd restarts after the aborting shutdown"
check_eq "the aborted upload is not visible after restart" "$rows" "$(run_count crash)"
check_eq "DATA/blobs unchanged by the aborted upload" "$blobs" "$(blob_listing)"
stop_ckptd "ckptd exits 0 on SIGTERM at the end"
