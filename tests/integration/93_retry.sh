#!/usr/bin/env bash
# Retries with backoff in the client: `ckpt push` and `ckpt pull` started while nothing listens
# yet succeed once ckptd comes up about a second later (default 5 retries); --retries 0 fails
# fast with exit 4 and a readable message; 5xx answers are retried (injected by
# tests/lib/cutproxy.py), 4xx answers are not.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/client.sh"
need_daemon_binary
need_cli

P=$(free_port)
URL=http://127.0.0.1:$P
DATADIR=$(new_tmpdir)
SRC=$WORK/src.bin
rand_file "$SRC" 2500000
SHA=$(sha256_hex "$SRC")

# ---- dead port, no retries: fast, exit 4, a message for people
for cmd in "push late $SRC" "pull 1" "runs" "show 1" "ls late" "rm 1"; do
    # shellcheck disable=SC2086
    run_ckpt --url "$URL" --retries 0 $cmd
    expect_rc "ckpt --retries 0 $(echo "$cmd" | cut -d' ' -f1) against a closed port exits 4" 4
done
check "  ... at once (took $SECS s; retrying would back off for 6 s or more)" awk -v s="$SECS" 'BEGIN { exit !(s < 4) }'
run_ckpt --url "$URL" --retries 0 push late "$SRC"
msg=$(head -n 1 "$ERR")
check_match "  ... the message is 'ckpt: push failed: ...' and names the failure" \
    'ckpt: push failed: .*([Cc]onnect|refused).*' "$msg"
check "  ... without a bare curl error number" \
    sh -c "! printf '%s' \"\$1\" | grep -Eiq 'curl(e_| error| code)|error [0-9]+|\\(7\\)|failed: [0-9]+\$'" _ "$msg"

run_ckpt --url "$URL" --retries 2 runs
expect_rc "ckpt --retries 2 against a closed port exits 4" 4
check "  ... after backing off 200 + 400 ms at least (took $SECS s)" awk -v s="$SECS" 'BEGIN { exit !(s >= 0.6 && s < 10) }'
check "  ... and says how many attempts it made" grep -q '3 attempts' "$ERR"

for bad in -1 x 101 ""; do
    run_ckpt --url "$URL" --retries "$bad" runs
    expect_rc "--retries '$bad' is a usage error (exit 1)" 1
done

# ---- push started before the daemon: default retries carry it over
ckpt --url "$URL" push late "$SRC" --epoch 1 >"$WORK/late.out" 2>"$WORK/late.err" &
cpid=$!
sleep 1
CKPTD_LISTEN=127.0.0.1:$P start_ckptd_on "$DATADIR" || bail "ckptd starts on port $P"
wait_exit "$cpid" 30
check_eq "a push started 1 s before ckptd listens succeeds (exit 0)" 0 "$EXIT_RC"
http GET /v1/runs/late/latest
check_eq "  ... and stored the file's bytes" "$SHA" "$(jbody .sha256)"
check_eq "  ... exactly once" 1 "$(run_count late)"
ID=$(jbody .id)

# ---- pull started while the daemon is down
stop_ckptd "ckptd stops (to test a pull that starts while it is down)"
D=$(new_tmpdir)
ckpt --url "$URL" pull "$ID" -o "$D/late.bin" >"$WORK/late.out" 2>"$WORK/late.err" &
cpid=$!
sleep 1
CKPTD_LISTEN=127.0.0.1:$P start_ckptd_on "$DATADIR" || bail "ckptd restarts on port $P"
wait_exit "$cpid" 30
check_eq "a pull started 1 s before ckptd listens succeeds (exit 0)" 0 "$EXIT_RC"
check "  ... and the file is identical" cmp -s "$SRC" "$D/late.bin"
[ "$EXIT_RC" = 0 ] || diag "stderr: $(head -c 500 "$WORK/late.err")"

# ---- 4xx: never retried
start_proxy "$P" || bail "cutproxy starts"
run_ckpt --url "$PROXY" pull 999999 -o "$D/none.bin"
expect_rc "pull of an unknown id exits 2" 2
check "  ... at once (took $SECS s; a retried 404 would back off for 6 s or more)" awk -v s="$SECS" 'BEGIN { exit !(s < 4) }'
check_eq "  ... after exactly one request" 1 "$(grep -c '^req [0-9]* GET /v1/checkpoints/999999 ' "$PROXY_LOG")"
check_match "  ... saying 'ckpt: pull failed: checkpoint_not_found: ...'" 'ckpt: pull failed: checkpoint_not_found: .+' "$(head -n 1 "$ERR")"
stop_proxy

# ---- 5xx: retried
start_proxy "$P" --fail 2 --fail-status 503 --fail-code unavailable || bail "cutproxy starts"
run_ckpt --url "$PROXY" show "$ID"
expect_rc "show succeeds after two injected 503 answers" 0
check_eq "  ... after three requests" 3 "$(grep -c "^req [0-9]* GET /v1/checkpoints/$ID " "$PROXY_LOG")"
stop_proxy

start_proxy "$P" --fail 1 --fail-status 500 --fail-code internal_error || bail "cutproxy starts"
SRC2=$WORK/src2.bin
rand_file "$SRC2" 1500000
run_ckpt --url "$PROXY" push retried "$SRC2"
expect_rc "push succeeds after an injected 500 answer" 0
check_eq "  ... after two PUT requests" 2 "$(grep -c '^req [0-9]* PUT /v1/runs/retried/checkpoints' "$PROXY_LOG")"
check_eq "  ... storing one checkpoint" 1 "$(run_count retried)"
http GET /v1/runs/retried/latest
check_eq "  ... with the file's bytes (the retry re-sent the whole file)" "$(sha256_hex "$SRC2")" "$(jbody .sha256)"
run_ckpt --url "$PROXY" pull "$(jbody .id)" -o "$D/retried.bin"
check "  ... which pull back identical" cmp -s "$SRC2" "$D/retried.bin"
stop_proxy

start_proxy "$P" --fail 5 --fail-status 503 --fail-code unavailable || bail "cutproxy starts"
run_ckpt --url "$PROXY" --retries 1 show "$ID"
expect_rc "show with --retries 1 against two 503 answers exits 4" 4
check "  ... and reports the server's code" grep -q 'unavailable' "$ERR"
check "  ... and the number of attempts" grep -q '2 attempts' "$ERR"
check_eq "  ... after two requests" 2 "$(grep -c "^req [0-9]* GET /v1/checkpoints/$ID " "$PROXY_LOG")"
stop_proxy

start_proxy "$P" --fail 3 --fail-status 401 --fail-code unauthorized || bail "cutproxy starts"
run_ckpt --url "$PROXY" show "$ID"
expect_rc "a 401 answer exits 2 (refused)" 2
check_eq "  ... and is not retried" 1 "$(grep -c "^req [0-9]* GET /v1/checkpoints/$ID " "$PROXY_LOG")"
stop_proxy

check "ckptd still running after the retry tests" is_alive "$CKPTD_PID"
stop_ckptd
