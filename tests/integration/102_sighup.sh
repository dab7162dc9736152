#!/usr/bin/env bash
# SIGHUP: ckptd re-reads its --config file and applies the reloadable keys (a smaller max-upload
# makes a larger upload 413) without dropping connections (a keep-alive connection and an upload
# in flight survive); a changed key that needs a restart is logged and kept; an invalid file is
# logged and the running configuration stays; the log file is reopened (mv + HUP: new lines go
# to the new file).
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary

CONF=$WORK/ckptd.conf
LOG=$WORK/hup.log
cat >"$CONF" <<EOF
max-upload = 1M
log-file = $LOG
EOF
start_ckptd --config "$CONF" || bail "ckptd starts with --config and log-file"
ok "ckptd starts with --config and log-file"

rand_file "$WORK/600k" $((600 * 1024))
rand_file "$WORK/400k" $((400 * 1024))
rand_file "$WORK/900k" $((900 * 1024))
upload hup "" "$WORK/600k"
expect_status "with max-upload = 1M a 600 KiB upload answers 201" 201

# a keep-alive connection that makes one request before the HUP and one after
python3 - "$PORT" "$WORK/go" >"$WORK/keepalive.out" 2>&1 <<'PY' &
import os, socket, sys, time
port, go = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(10)

def ask():
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            return "closed"
        buf += d
    head, body = buf.split(b"\r\n\r\n", 1)
    n = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v)
    while len(body) < n:
        d = s.recv(4096)
        if not d:
            return "closed"
        body += d
    return head.split(b"\r\n")[0].decode()

print("before", ask(), flush=True)
for _ in range(300):
    if os.path.exists(go):
        break
    time.sleep(0.1)
try:
    print("after", ask(), flush=True)
except OSError as e:
    print("after error", e, flush=True)
PY
ka_pid=$!
wait_for 10 grep -q '^before' "$WORK/keepalive.out"
check_eq "the keep-alive connection's first request answers 200" "before HTTP/1.1 200 OK" \
    "$(grep '^before' "$WORK/keepalive.out")"

# an upload in flight across the HUP: 900 KiB at 300 KiB/s, admitted under the 1M limit
curl -s -o /dev/null -w '%{http_code}' --max-time 60 --limit-rate 300K -T "$WORK/900k" \
    "$BASE/v1/runs/inflight/checkpoints" >"$WORK/inflight.status" 2>/dev/null &
inflight_pid=$!
wait_for 10 tmp_has_file

# new limits, a key that needs a restart, and logrotate's move
cat >"$CONF" <<EOF
# smaller uploads from now on
max-upload = 512K
threads = 2
log-file = $LOG
EOF
mv "$LOG" "$LOG.1"
signal_ckptd HUP
wait_for 10 grep -q 'SIGHUP: configuration re-read' "$LOG"
check "after mv + SIGHUP the log file is reopened: new lines go to a new file at the same path" \
    grep -q "SIGHUP: configuration re-read from $CONF" "$LOG"
check "the rotated file got none of the new lines" bash -c "! grep -q SIGHUP '$LOG.1'"
check "the rotated file kept the lines from before (the start-up line)" \
    grep -q "ckptd info: ckptd 0.1.0 (pid $CKPTD_PID) listening on 127.0.0.1:$PORT, data $DATA, config $CONF" "$LOG.1"
check "the reload of max-upload is logged with old and new values" \
    grep -q 'SIGHUP: max-upload = 512K (was 1M)' "$LOG"
check "a changed key that needs a restart is logged as such and kept" \
    grep -q "SIGHUP: threads changed to 2 in $CONF, which needs a restart; keeping auto" "$LOG"

upload hup "" "$WORK/600k"
expect_error "after the HUP (max-upload = 512K) a 600 KiB upload answers 413" 413 payload_too_large
upload hup "" "$WORK/400k"
expect_status "after the HUP a 400 KiB upload answers 201" 201

touch "$WORK/go"
wait "$ka_pid" 2>/dev/null
check_eq "the keep-alive connection opened before the HUP still works after it" \
    "after HTTP/1.1 200 OK" "$(grep '^after' "$WORK/keepalive.out")"
wait "$inflight_pid" 2>/dev/null
check_eq "the upload in flight during the HUP completes with 201" 201 "$(cat "$WORK/inflight.status")"

# a file that became invalid: logged, old configuration kept, daemon up
printf 'max-upload = 2M\nthreads = zero\n' >"$CONF"
signal_ckptd HUP
wait_for 10 grep -q 'keeping the running configuration' "$LOG"
check "an invalid file on SIGHUP is logged as FILE:LINE: reason" \
    grep -q "ckptd error: SIGHUP: $CONF:2: invalid threads 'zero': expected a whole number, or auto; keeping the running configuration" "$LOG"
check "ckptd is still running after the invalid reload" is_alive "$CKPTD_PID"
upload hup "" "$WORK/600k"
expect_error "after the invalid reload max-upload is still 512K (600 KiB: 413)" 413 payload_too_large

# back to valid; log-level warn hides the info lines of the next reload
printf 'max-upload = 2M\nheader-timeout = 1s\nlog-level = warn\nlog-file = %s\n' "$LOG" >"$CONF"
n_before=$(grep -c 'configuration re-read' "$LOG")
signal_ckptd HUP
wait_for 10 grep -q 'max-upload = 2M (was 512K)' "$LOG"
upload hup "" "$WORK/600k"
expect_status "a valid file again: max-upload = 2M, a 600 KiB upload answers 201" 201
# header-timeout went from 30 s to 1 s: an idle connection is now cut within a few seconds
cut=$(python3 - "$PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(8)
t = time.time()
try:
    d = s.recv(1)
except OSError:
    d = b""
print("cut" if d == b"" and time.time() - t < 6 else "not-cut")
PY
)
check_eq "the reloaded header-timeout (1s) cuts an idle connection within 6 s" cut "$cut"
signal_ckptd HUP
sleep 1
check_eq "with log-level = warn, the info line of a reload is no longer logged" \
    "$n_before" "$(grep -c 'configuration re-read' "$LOG")"
check "ckptd is still running after four SIGHUPs" is_alive "$CKPTD_PID"
stop_ckptd "ckptd exits 0 on SIGTERM after the reloads"

# without --config, SIGHUP only reopens the log
start_ckptd --log-file "$WORK/plain.log" || bail "ckptd starts with --log-file only"
mv "$WORK/plain.log" "$WORK/plain.log.1"
signal_ckptd HUP
wait_for 10 test -s "$WORK/plain.log"
check "without --config, SIGHUP reopens the log file" \
    grep -q 'SIGHUP: log reopened; no --config file to re-read' "$WORK/plain.log"
http GET /healthz
expect_status "ckptd answers after a SIGHUP without --config" 200
stop_ckptd "ckptd without --config exits 0 after SIGHUP"

# the command line still wins over the file on a reload; log-file may move to a new path
CONF2=$WORK/two.conf
printf 'max-upload = 2M\nlog-file = %s\n' "$WORK/two.log" >"$CONF2"
start_ckptd --config "$CONF2" --max-upload 1K || bail "ckptd starts with --config and --max-upload 1K"
rand_file "$WORK/2k" 2048
upload cli "" "$WORK/2k"
expect_error "--max-upload 1K on the command line wins over the file's 2M" 413 payload_too_large
printf 'max-upload = 4M\nlog-file = %s\n' "$WORK/moved.log" >"$CONF2"
signal_ckptd HUP
wait_for 10 grep -q 'configuration re-read' "$WORK/moved.log"
check "a new log-file path in the file takes effect on SIGHUP (lines go to the new file)" \
    grep -q "SIGHUP: log-file = $WORK/moved.log (was $WORK/two.log)" "$WORK/moved.log"
check "the old log file gets no lines after the move" bash -c "! grep -q 'SIGHUP' '$WORK/two.log'"
upload cli "" "$WORK/2k"
expect_error "after the reload the command line's --max-upload 1K still wins" 413 payload_too_large
check "no max-upload change is logged (the command line value did not change)" \
    bash -c "! grep -q 'max-upload =' '$WORK/moved.log'"
stop_ckptd "ckptd exits 0 after moving its log file"

# max-uploads raised by SIGHUP: a second concurrent upload goes from 503 to 201
CONF3=$WORK/three.conf
printf 'max-uploads = 1\n' >"$CONF3"
start_ckptd --config "$CONF3" --min-upload-rate 0 || bail "ckptd starts with max-uploads = 1"
rand_file "$WORK/4m" $((4 * 1024 * 1024))
curl -s -o /dev/null -w '%{http_code}' --max-time 60 --limit-rate 512K -T "$WORK/4m" \
    "$BASE/v1/runs/mu/checkpoints" >"$WORK/mu.status" 2>/dev/null &
mu_pid=$!
wait_for 10 tmp_has_file
upload mu "" "$WORK/400k"
expect_error "with max-uploads = 1 and one upload in flight, a second answers 503" 503 unavailable
printf 'max-uploads = 3\n' >"$CONF3"
signal_ckptd HUP
wait_for 10 grep -q 'max-uploads = 3 (was 1)' "$CKPTD_ERR"
# from another client address (127.0.0.2), so per-address bookkeeping meets a second address
upload mu "" "$WORK/400k" --interface 127.0.0.2
expect_status "after SIGHUP raised max-uploads to 3, a second concurrent upload (another address) answers 201" 201
wait "$mu_pid" 2>/dev/null
check_eq "the upload in flight during that SIGHUP completes with 201" 201 "$(cat "$WORK/mu.status")"
stop_ckptd "ckptd exits 0 after raising max-uploads"
