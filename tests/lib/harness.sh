# Shared helpers for the ckptd black-box integration tests (tests/integration/*.sh).
# Source it, then use ok/fail/check to report one line per check (`ok - ...` / `not ok - ...`),
# start_ckptd/stop_ckptd to run the real daemon on a free loopback port with a temp data dir,
# and http/upload to talk to it with curl. Failures are counted, never fatal: scripts use `set -u`.

set -u

HARNESS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CKPTD=${CKPTD:-$HARNESS_ROOT/build/ckptd}
case $CKPTD in /*) ;; *) CKPTD=$PWD/$CKPTD ;; esac
export CKPTD

# Per-request curl time limit (seconds); large transfers pass their own --max-time.
CURL_MAXTIME=${CURL_MAXTIME:-60}
# Seconds to wait for the ready line and for exit after SIGTERM (a wrapper such as valgrind is slow).
if [ -n "${CKPTD_WRAPPER:-}" ]; then
    READY_WAIT=${READY_WAIT:-60}
    EXIT_WAIT=${EXIT_WAIT:-60}
else
    READY_WAIT=${READY_WAIT:-10}
    EXIT_WAIT=${EXIT_WAIT:-15}
fi

T_PASS=0
T_FAIL=0
CKPTD_PIDS=()
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ckptd-test.XXXXXX")
RESP_BODY=$WORK/resp.body
RESP_HDRS=$WORK/resp.hdrs
CURL_ERR=$WORK/curl.err
STATUS=
CKPTD_SEQ=0

# ---------------------------------------------------------------- reporting

# diag LINE...: print diagnostic lines prefixed with '# '.
diag()
{
    local l
    for l in "$@"; do
        [ -n "$l" ] && printf '%s\n' "$l" | sed 's/^/# /'
    done
    return 0
}

ok()
{
    T_PASS=$((T_PASS + 1))
    printf 'ok - %s\n' "$1"
}

# fail DESC [DIAG...]: report a failed check with optional diagnostics.
fail()
{
    T_FAIL=$((T_FAIL + 1))
    printf 'not ok - %s\n' "$1"
    shift
    [ $# -gt 0 ] && diag "$@"
    return 0
}

# skip DESC REASON: a visible skip, counted as passed.
skip()
{
    T_PASS=$((T_PASS + 1))
    printf 'ok - skipped: %s (%s)\n' "$1" "$2"
}

# check DESC CMD [ARGS...]: run the command (e.g. `[ "$a" = b ]`, `cmp -s x y`); ok if it succeeds.
check()
{
    local desc=$1
    shift
    if "$@" >/dev/null 2>"$WORK/check.err"; then
        ok "$desc"
    else
        fail "$desc" "command failed: $*" "$(head -c 400 "$WORK/check.err" 2>/dev/null)"
    fi
}

# check_eq DESC EXPECTED ACTUAL
check_eq()
{
    if [ "$2" = "$3" ]; then
        ok "$1"
    else
        fail "$1" "expected: $2" "actual:   $3"
    fi
}

# check_match DESC REGEX ACTUAL (extended regex, whole value)
check_match()
{
    if printf '%s' "$3" | grep -Eq -- "^($2)\$"; then
        ok "$1"
    else
        fail "$1" "expected to match: $2" "actual: $3"
    fi
}

# bail DESC: a fatal failure (e.g. the daemon did not start); reports it and exits.
bail()
{
    fail "$@"
    exit 1
}

harness_cleanup()
{
    local pid
    # A script may define test_cleanup (e.g. to unmount what it mounted); it runs first.
    if declare -F test_cleanup >/dev/null; then
        test_cleanup
    fi
    {
        for pid in "${CKPTD_PIDS[@]}"; do
            safe_kill KILL "$pid" "$CKPTD"
        done
        for pid in $(jobs -p); do
            safe_kill KILL "$pid"
        done
        wait
    } 2>/dev/null
    rm -rf "$WORK"
}

harness_exit()
{
    local rc=$? f
    trap - EXIT
    if [ "$T_FAIL" -gt 0 ] || [ "$rc" -ne 0 ]; then
        # The daemons' own words help tell a daemon bug from a test bug.
        for f in "$WORK"/ckptd.*.err; do
            [ -s "$f" ] || continue
            echo "# --- last lines of ckptd stderr ($(basename "$f")):"
            tail -n 15 "$f" | sed 's/^/#   /'
        done
    fi
    harness_cleanup
    echo "# $(basename "$0"): $T_PASS passed, $T_FAIL failed"
    if [ "$T_FAIL" -gt 0 ] || [ "$rc" -ne 0 ]; then
        exit 1
    fi
    exit 0
}
trap harness_exit EXIT
trap 'echo "# interrupted"; exit 1' INT TERM

# ---------------------------------------------------------------- daemon control

# PIDs wrap quickly on a busy machine (pid_max is often 32768), so a PID we started may belong to
# somebody else's process once ours has exited: never signal a PID without checking that it is
# still our child (its parent is this shell) and, for daemons, that its command line is ckptd's.

# ppid_of PID: parent PID of PID (empty if gone).
ppid_of()
{
    awk '{print $4}' "/proc/$1/stat" 2>/dev/null
}

# is_ours PID [MATCH]: PID is a live (non-zombie) child of this shell whose command line
# contains MATCH (when given).
is_ours()
{
    local pid=$1 match=${2:-} st
    [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
    st=$(awk '{print $3 " " $4}' "/proc/$pid/stat" 2>/dev/null)
    [ -n "$st" ] && [ "${st%% *}" != Z ] && [ "${st#* }" = "$$" ] || return 1
    if [ -n "$match" ]; then
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$match" || return 1
    fi
    return 0
}

# is_alive PID: true while PID is our running child (a zombie or a stranger counts as dead).
is_alive()
{
    is_ours "$1"
}

# safe_kill SIGNAL PID [MATCH]: send SIGNAL only if PID is still our child (see is_ours).
safe_kill()
{
    local sig=$1 pid=$2 match=${3:-}
    is_ours "$pid" "$match" || return 1
    kill "-$sig" "$pid" 2>/dev/null
}

# wait_exit PID TIMEOUT: wait for our child PID to exit; sets EXIT_RC (137 and TIMED_OUT=1 if it
# had to be killed after TIMEOUT seconds).
wait_exit()
{
    local pid=$1 limit=$2 i=0
    TIMED_OUT=0
    while is_alive "$pid" && [ "$i" -lt $((limit * 10)) ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if is_alive "$pid"; then
        TIMED_OUT=1
        safe_kill KILL "$pid"
    fi
    wait "$pid" 2>/dev/null
    EXIT_RC=$?
}

# new_tmpdir: print a fresh directory under the test's work dir.
new_tmpdir()
{
    mktemp -d "$WORK/d.XXXXXX"
}

# start_ckptd_on DIR [EXTRA ARGS...]: start $CKPTD with --data DIR on a free loopback port
# (CKPTD_LISTEN, default 127.0.0.1:0), wait up to READY_WAIT s for the ready line, and set BASE (URL),
# DATA, CKPTD_PID, CKPTD_OUT, CKPTD_ERR, HOST, PORT. Returns 1 (with diagnostics) on failure.
start_ckptd_on()
{
    local dir=$1 listen=${CKPTD_LISTEN:-127.0.0.1:0} line i
    shift
    CKPTD_SEQ=$((CKPTD_SEQ + 1))
    CKPTD_OUT=$WORK/ckptd.$CKPTD_SEQ.out
    CKPTD_ERR=$WORK/ckptd.$CKPTD_SEQ.err
    if [ ! -x "$CKPTD" ]; then
        diag "ckptd binary not found or not executable: $CKPTD"
        return 1
    fi
    # CKPTD_WRAPPER (e.g. "valgrind --error-exitcode=99") runs the daemon under a tool.
    ${CKPTD_WRAPPER:-} "$CKPTD" --listen "$listen" --data "$dir" "$@" >"$CKPTD_OUT" 2>"$CKPTD_ERR" </dev/null &
    CKPTD_PID=$!
    CKPTD_PIDS+=("$CKPTD_PID")
    DATA=$dir
    BASE=
    for i in $(seq 1 $((READY_WAIT * 10))); do
        line=$(grep -m1 '^ckptd listening on ' "$CKPTD_OUT" 2>/dev/null)
        if [ -n "$line" ]; then
            BASE=$(printf '%s\n' "$line" | sed -E 's/^ckptd listening on (https?:\/\/[^ ]+).*/\1/')
            READY_LINE=$line
            break
        fi
        is_alive "$CKPTD_PID" || break
        sleep 0.1
    done
    if [ -z "$BASE" ]; then
        diag "ckptd did not print its ready line within $READY_WAIT s (args: --listen $listen --data $dir $*)" \
            "stdout: $(head -c 500 "$CKPTD_OUT")" "stderr: $(head -c 1000 "$CKPTD_ERR")"
        safe_kill KILL "$CKPTD_PID" "$CKPTD"
        return 1
    fi
    PORT=${BASE##*:}
    HOST=${BASE#*://}
    HOST=${HOST%:*}
    HOST=${HOST#[}
    HOST=${HOST%]}
    export BASE DATA CKPTD_PID
    return 0
}

# start_ckptd [EXTRA ARGS...]: like start_ckptd_on with a new empty temp data dir.
start_ckptd()
{
    start_ckptd_on "$(new_tmpdir)" "$@"
}

# stop_ckptd [DESC]: SIGTERM the current daemon, wait up to EXIT_WAIT s, check it exits 0.
stop_ckptd()
{
    if ! safe_kill TERM "$CKPTD_PID" "$CKPTD"; then
        fail "${1:-ckptd exits 0 on SIGTERM}" "ckptd (pid $CKPTD_PID) was no longer running" \
            "stderr: $(tail -c 800 "$CKPTD_ERR")"
        wait "$CKPTD_PID" 2>/dev/null
        return 0
    fi
    await_ckptd_exit "${1:-ckptd exits 0 on SIGTERM}"
}

# signal_ckptd SIGNAL: send SIGNAL to the current daemon (only if it is still ours).
signal_ckptd()
{
    safe_kill "$1" "$CKPTD_PID" "$CKPTD"
}

# await_ckptd_exit DESC: wait up to EXIT_WAIT s for the current daemon (signalled) to exit 0.
await_ckptd_exit()
{
    local desc=$1
    wait_exit "$CKPTD_PID" "$EXIT_WAIT"
    if [ "$TIMED_OUT" = 1 ]; then
        fail "$desc" "ckptd did not exit within $EXIT_WAIT s of SIGTERM (killed)" \
            "stderr: $(tail -c 800 "$CKPTD_ERR")"
    elif [ "$EXIT_RC" -ne 0 ]; then
        fail "$desc" "exit status $EXIT_RC" "stderr: $(tail -c 800 "$CKPTD_ERR")"
    else
        ok "$desc"
    fi
}

# kill9_ckptd: SIGKILL the current daemon and reap it.
kill9_ckptd()
{
    # stderr off: bash would report the killed background job ("Killed ...").
    {
        safe_kill KILL "$CKPTD_PID" "$CKPTD"
        wait_exit "$CKPTD_PID" 10
    } 2>/dev/null
}

# ---------------------------------------------------------------- HTTP

# http METHOD PATH [CURL ARGS...]: request $BASE$PATH; sets STATUS (000 when no response),
# body in $RESP_BODY, headers in $RESP_HDRS, curl's error text in $CURL_ERR.
http()
{
    local method=$1 path=$2
    shift 2
    local m=(-X "$method")
    [ "$method" = HEAD ] && m=(--head)
    : >"$RESP_BODY"
    : >"$RESP_HDRS"
    STATUS=$(curl --silent --show-error --path-as-is --globoff --max-time "$CURL_MAXTIME" \
        -o "$RESP_BODY" -D "$RESP_HDRS" -w '%{http_code}' "${m[@]}" "$@" "$BASE$path" 2>"$CURL_ERR")
    [ -n "$STATUS" ] || STATUS=000
}

# upload RUN QUERY FILE [CURL ARGS...]: PUT FILE to /v1/runs/RUN/checkpoints[?QUERY].
upload()
{
    local run=$1 q=$2 file=$3
    shift 3
    http PUT "/v1/runs/$run/checkpoints${q:+?$q}" -T "$file" "$@"
}

# header NAME: value of response header NAME (case-insensitive, last occurrence, CR stripped).
header()
{
    tr -d '\r' <"$RESP_HDRS" | awk -v n="$1" 'BEGIN { n = tolower(n) }
        { i = index($0, ":"); if (i > 0 && tolower(substr($0, 1, i - 1)) == n) {
            v = substr($0, i + 1); sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v); last = v } }
        END { if (last != "") print last }'
}

# jbody FILTER: jq -r FILTER on the response body (empty output if the body is not JSON).
jbody()
{
    jq -r "$1" <"$RESP_BODY" 2>/dev/null
}

body_head()
{
    head -c 300 "$RESP_BODY" | tr -d '\0'
}

# expect_status DESC EXPECTED: check the last response's status.
expect_status()
{
    if [ "$STATUS" = "$2" ]; then
        ok "$1"
    else
        fail "$1" "expected HTTP $2, got $STATUS" "body: $(body_head)" "$(head -c 300 "$CURL_ERR" 2>/dev/null)"
    fi
}

# expect_json DESC JQ-EXPR: check jq -e JQ-EXPR holds on the last response body.
expect_json()
{
    if jq -e "$2" <"$RESP_BODY" >/dev/null 2>&1; then
        ok "$1"
    else
        fail "$1" "jq -e '$2' failed (HTTP $STATUS)" "body: $(body_head)"
    fi
}

# expect_error DESC STATUS[|STATUS] CODE[|CODE...]: the last response is HTTP STATUS with a JSON error
# body {"error":{"code":CODE,"message":non-empty}} and Content-Type application/json.
expect_error()
{
    local desc=$1 st=$2 codes=$3 code ctype msg
    code=$(jbody '.error.code // empty')
    msg=$(jbody '.error.message // empty')
    ctype=$(header Content-Type)
    if printf '%s' "$STATUS" | grep -Eq "^($st)\$" && printf '%s' "$code" | grep -Eq "^($codes)\$" && [ -n "$msg" ] &&
        printf '%s' "$ctype" | grep -qi '^application/json'; then
        ok "$desc"
    else
        fail "$desc" "expected HTTP $st code $codes (application/json)," \
            "got HTTP $STATUS code '$code' content-type '$ctype'" "body: $(body_head)" \
            "$(head -c 300 "$CURL_ERR" 2>/dev/null)"
    fi
}

# raw_http REQUEST [TIMEOUT] [closecheck]: send REQUEST (printf %b escapes, e.g. \r\n) on a fresh
# TCP connection (no body unless it is in REQUEST); read the status line and headers for at most
# TIMEOUT s (default 5), and a body of up to 64 KiB announced by Content-Length. Sets RAW_STATUS
# (e.g. 413, or empty), RAW_HDRS and RAW_BODY (files), RAW_EOF=1 when the server closed the
# connection without any status line (0 when it sent one or the read timed out). With "closecheck",
# also sets RAW_CLOSED=1 if the server closed the connection after its answer (waits up to 2 s).
raw_http()
{
    local req=$1 limit=${2:-5} what=${3:-} line len r
    RAW_STATUS=
    RAW_EOF=0
    RAW_CLOSED=0
    RAW_HDRS=$WORK/raw.hdrs
    RAW_BODY=$WORK/raw.body
    : >"$RAW_HDRS"
    : >"$RAW_BODY"
    if ! exec 7<>"/dev/tcp/$HOST/$PORT"; then
        return 1
    fi
    # In a subshell: if the server has already closed, SIGPIPE must not kill the test script.
    (printf '%b' "$req" >&7) 2>/dev/null
    IFS= read -r -t "$limit" line <&7
    r=$?
    if [ "$r" -eq 0 ] || { [ "$r" -eq 1 ] && [ -n "$line" ]; }; then
        line=${line%$'\r'}
        printf '%s\n' "$line" >>"$RAW_HDRS"
        RAW_STATUS=$(printf '%s' "$line" | awk '{print $2}')
        while IFS= read -r -t 2 line <&7; do
            line=${line%$'\r'}
            [ -z "$line" ] && break
            printf '%s\n' "$line" >>"$RAW_HDRS"
        done
        len=$(awk -F': *' 'tolower($1) == "content-length" {print $2}' "$RAW_HDRS" | tail -n 1)
        if [ -n "$len" ] && [ "$len" -gt 0 ] 2>/dev/null && [ "$len" -le 65536 ]; then
            timeout 2 head -c "$len" <&7 >"$RAW_BODY" 2>/dev/null
        fi
        if [ "$what" = closecheck ]; then
            IFS= read -r -t 2 -n 1 line <&7
            [ $? -eq 1 ] && RAW_CLOSED=1
        fi
    elif [ "$r" -eq 1 ]; then
        RAW_EOF=1
        RAW_CLOSED=1
    fi
    exec 7>&- 7<&-
    return 0
}

# raw_code: the error code in the last raw_http body (empty if none).
raw_code()
{
    jq -r '.error.code // empty' <"$RAW_BODY" 2>/dev/null
}

# ---------------------------------------------------------------- data helpers

sha256_hex()
{
    sha256sum "$1" | awk '{print $1}'
}

# sha256_b64 FILE: base64 of the raw SHA-256 digest (for Repr-Digest).
sha256_b64()
{
    openssl dgst -sha256 -binary "$1" | base64 -w0
}

# hex_to_b64 HEX
hex_to_b64()
{
    printf '%s' "$1" | xxd -r -p | base64 -w0
}

# rand_file PATH BYTES: random contents.
rand_file()
{
    head -c "$2" /dev/urandom >"$1"
}

# index_sql DB STATEMENTS...: run the statements on the index file DB (ckptd stopped) in one
# transaction, with Python's sqlite3 module; print the last one's rows, columns joined by "|".
index_sql()
{
    local py=/usr/bin/python3
    [ -x "$py" ] || py=python3
    "$py" - "$@" <<'PYEOF'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN")
rows = []
for s in sys.argv[2:]:
    rows = c.execute(s).fetchall()
c.execute("COMMIT")
for r in rows:
    print("|".join(str(x) for x in r))
PYEOF
}

# blob_path HEX: where the contract stores a blob.
blob_path()
{
    printf '%s/blobs/%s/%s' "$DATA" "${1:0:2}" "$1"
}

blob_count()
{
    find "$DATA/blobs" -type f 2>/dev/null | wc -l
}

# blob_listing: sorted list of blob files with sizes.
blob_listing()
{
    (cd "$DATA/blobs" 2>/dev/null && find . -type f -printf '%p %s\n' | sort)
}

tmp_count()
{
    find "$DATA/tmp" -mindepth 1 2>/dev/null | wc -l
}

# wait_for SECONDS CMD...: poll CMD every 0.1 s until it succeeds; false on timeout.
wait_for()
{
    local limit=$1 i=0
    shift
    while [ "$i" -lt $((limit * 10)) ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
        i=$((i + 1))
    done
    "$@" >/dev/null 2>&1
}

tmp_is_empty()
{
    [ "$(tmp_count)" -eq 0 ]
}

tmp_has_file()
{
    [ "$(tmp_count)" -gt 0 ]
}

# run_count RUN: number of checkpoints listed for RUN (0 if 404).
run_count()
{
    local st n
    st=$(curl -s --max-time 30 -o "$WORK/rc.json" -w '%{http_code}' "$BASE/v1/runs/$1/checkpoints?limit=1000")
    if [ "$st" = 200 ]; then
        n=$(jq '.checkpoints | length' <"$WORK/rc.json")
        echo "${n:-0}"
    else
        echo 0
    fi
}

# now_ms: current UTC time in the contract's created_at format.
now_ms()
{
    date -u +%Y-%m-%dT%H:%M:%S.%3NZ
}

# need_daemon_binary: report and exit when $CKPTD is missing.
need_daemon_binary()
{
    if [ ! -x "$CKPTD" ]; then
        bail "ckptd binary exists at $CKPTD"
    fi
}
