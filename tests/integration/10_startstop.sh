#!/usr/bin/env bash
# Start-up and shut-down: the ready line, --help/--version, bad options, the data dir lock,
# signals, /healthz, IPv6 loopback.
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary

# --version / --help / bad options
out=$(${CKPTD_WRAPPER:-} "$CKPTD" --version 2>"$WORK/err"); rc=$?
check_eq "--version exits 0" 0 "$rc"
check_eq "--version prints 'ckptd 0.1.0'" "ckptd 0.1.0" "$out"

out=$(${CKPTD_WRAPPER:-} "$CKPTD" --help 2>"$WORK/err"); rc=$?
check_eq "--help exits 0" 0 "$rc"
check "--help prints usage mentioning --listen, --data, --max-upload on stdout" \
    bash -c 'grep -q -- --listen <<<"$1" && grep -q -- --data <<<"$1" && grep -q -- --max-upload <<<"$1"' _ "$out"

out=$(timeout 60 ${CKPTD_WRAPPER:-} "$CKPTD" --bogus-option 2>"$WORK/err" </dev/null); rc=$?
check_eq "unknown option exits 2" 2 "$rc"
check "unknown option prints a message on stderr" test -s "$WORK/err"
check_eq "unknown option prints nothing on stdout (no ready line)" "" "$out"

out=$(timeout 60 ${CKPTD_WRAPPER:-} "$CKPTD" --listen 2>"$WORK/err" </dev/null); rc=$?
check_eq "option missing its argument exits 2" 2 "$rc"

for bad in "--threads 0" "--threads abc" "--max-upload 10X" "--max-upload 0" "--listen 127.0.0.1:99999" \
    "--listen nohost" "unexpected-argument"; do
    timeout 60 ${CKPTD_WRAPPER:-} "$CKPTD" $bad --data "$WORK/never" >"$WORK/out" 2>"$WORK/err" </dev/null
    rc=$?
    check "bad option value '$bad' exits 2 with a message on stderr" \
        bash -c "[ $rc = 2 ] && [ -s '$WORK/err' ] && ! grep -q listening '$WORK/out'"
done

# start on a fresh temp dir
start_ckptd || bail "ckptd starts with --listen 127.0.0.1:0"
ok "ckptd starts with --listen 127.0.0.1:0 and prints its ready line within 10 s"
check_match "ready line is 'ckptd listening on http://127.0.0.1:PORT data=DIR'" \
    "ckptd listening on http://127\.0\.0\.1:[0-9]+ data=$(printf '%s' "$DATA" | sed 's/[.[\*^$]/\\&/g')" "$READY_LINE"
check "port 0 is replaced by the real port in the ready line" [ "$PORT" -gt 0 ]

http GET /healthz
expect_status "GET /healthz answers 200" 200
expect_json "GET /healthz body has \"status\":\"ok\"" '.status == "ok"'
check "GET /healthz has Content-Type application/json" bash -c "grep -qi '^content-type: *application/json' '$RESP_HDRS'"
http HEAD /healthz
expect_status "HEAD /healthz answers 200" 200

check "data dir has index.db" test -f "$DATA/index.db"
check "data dir has blobs/" test -d "$DATA/blobs"
check "data dir has tmp/" test -d "$DATA/tmp"
check "data dir has ckptd.lock" test -e "$DATA/ckptd.lock"

# second daemon on the same data dir is refused
first_pid=$CKPTD_PID
first_base=$BASE
first_data=$DATA
timeout 60 ${CKPTD_WRAPPER:-} "$CKPTD" --listen 127.0.0.1:0 --data "$DATA" >"$WORK/second.out" 2>"$WORK/second.err" </dev/null
rc=$?
check_eq "second ckptd on the same data dir exits 1" 1 "$rc"
check_eq "second ckptd names the dir and the pid holding it" \
    "ckptd: data directory '$DATA' is in use by another ckptd (pid $first_pid)" \
    "$(head -n 1 "$WORK/second.err")"
check "second ckptd prints no ready line" bash -c "! grep -q listening '$WORK/second.out'"
check "first ckptd still answers after the refused second start" \
    bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $first_base/healthz)\" = 200 ]"

# second daemon on the same port (different data dir) fails
d2=$(new_tmpdir)
timeout 60 ${CKPTD_WRAPPER:-} "$CKPTD" --listen "127.0.0.1:$PORT" --data "$d2" >"$WORK/port.out" 2>"$WORK/port.err" </dev/null
rc=$?
check "ckptd on a port already in use exits non-zero with a message on stderr" \
    bash -c "[ $rc -ne 0 ] && [ $rc -ne 124 ] && [ -s '$WORK/port.err' ]"

# an upload so the restart has something to keep
printf 'hello checkpoint\n' >"$WORK/small"
upload startstop "epoch=1" "$WORK/small"
expect_status "upload before restart answers 201" 201

stop_ckptd "ckptd exits 0 on SIGTERM"
check "after SIGTERM the port is closed" \
    bash -c "! curl -s --max-time 5 -o /dev/null $first_base/healthz"

# restart on the same dir: the lock was released, data kept
start_ckptd_on "$first_data" || bail "ckptd restarts on the same data dir after a clean stop"
ok "ckptd restarts on the same data dir after a clean stop (lock released)"
check_eq "checkpoint committed before the restart is still listed" 1 "$(run_count startstop)"

signal_ckptd INT
wait_exit "$CKPTD_PID" 15
check_eq "ckptd exits 0 on SIGINT (exit status, timed out)" "0 0" "$EXIT_RC $TIMED_OUT"

# a data dir that does not exist yet is created
fresh=$(new_tmpdir)/fresh
if start_ckptd_on "$fresh"; then
    ok "ckptd starts on a data dir that does not exist yet"
    check "missing data dir is created with index.db, blobs/, tmp/" \
        bash -c "[ -f '$fresh/index.db' ] && [ -d '$fresh/blobs' ] && [ -d '$fresh/tmp' ]"
    stop_ckptd "ckptd on a freshly created data dir exits 0 on SIGTERM"
else
    fail "ckptd starts on a data dir that does not exist yet"
fi

# --threads and --max-upload with a suffix are accepted
if start_ckptd --threads 1 --max-upload 10M; then
    ok "ckptd starts with --threads 1 --max-upload 10M"
    upload startstop "" "$WORK/small"
    expect_status "a single-threaded ckptd accepts an upload" 201
    stop_ckptd "single-threaded ckptd exits 0 on SIGTERM"
else
    fail "ckptd starts with --threads 1 --max-upload 10M"
fi

# threads = auto (the default): one event thread per CPU the daemon may run
# on, at least 2; taskset narrows what it may run on
want=$(nproc)
[ "$want" -lt 2 ] && want=2
[ "$want" -gt 64 ] && want=64
workers() { grep -lx MHD-worker /proc/"$CKPTD_PID"/task/*/comm 2>/dev/null | wc -l; }
if start_ckptd; then
    check "by default the log names one event thread per CPU, at least 2 ($want)" \
        grep -q ", $want event threads" "$CKPTD_ERR"
    check_eq "... and $want MHD-worker threads run" "$want" "$(workers)"
    names=$(sort -u /proc/"$CKPTD_PID"/task/*/comm | tr '\n' ' ')
    for t in ckptd-accept ckptd-commit ckptd-scrub ckptd-watch ckptd-watchdog ckptd-metrics; do
        check "a thread is named $t (threads: $names)" grep -qx "$t" /proc/"$CKPTD_PID"/task/*/comm
    done
    check_eq "16 ckptd-commit threads" 16 "$(grep -lx ckptd-commit /proc/"$CKPTD_PID"/task/*/comm | wc -l)"
    stop_ckptd "ckptd with threads = auto exits 0 on SIGTERM"
else
    fail "ckptd starts with threads = auto"
fi
if command -v taskset >/dev/null; then
    if CKPTD_WRAPPER="taskset -c 0" start_ckptd; then
        check "on one CPU (taskset -c 0), auto still starts 2 event threads" \
            grep -q ", 2 event threads" "$CKPTD_ERR"
        check_eq "... 2 MHD-worker threads" 2 "$(workers)"
        stop_ckptd "ckptd on one CPU exits 0 on SIGTERM"
    else
        fail "ckptd starts under taskset -c 0"
    fi
    if CKPTD_WRAPPER="taskset -c 0" start_ckptd --threads 3; then
        check_eq "--threads 3 on one CPU starts 3 MHD-worker threads" 3 "$(workers)"
        stop_ckptd "ckptd with --threads 3 exits 0 on SIGTERM"
    else
        fail "ckptd starts with --threads 3 under taskset -c 0"
    fi
else
    skip "threads = auto under taskset" "no taskset"
fi

# IPv6 loopback
if grep -q '^00000000000000000000000000000001 .* lo$' /proc/net/if_inet6 2>/dev/null; then
    if CKPTD_LISTEN='[::1]:0' start_ckptd; then
        ok "ckptd starts with --listen [::1]:0"
        check_match "IPv6 ready line shows http://[::1]:PORT" "ckptd listening on http://\[::1\]:[0-9]+ data=.*" "$READY_LINE"
        st=$(curl -s -g -o /dev/null -w '%{http_code}' --max-time 10 "$BASE/healthz")
        check_eq "GET /healthz over IPv6 loopback answers 200" 200 "$st"
        stop_ckptd "IPv6 ckptd exits 0 on SIGTERM"
    else
        fail "ckptd starts with --listen [::1]:0"
    fi
else
    skip "IPv6 loopback" "no ::1 on lo"
fi
