#!/usr/bin/env bash
# Configuration: --config FILE (key = value), --check-config, the command line winning over the
# file, errors reported as `ckptd: FILE:LINE: reason` with exit 2 and no start, the example file,
# --log-file and --log-level.
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary
ROOT=$HARNESS_ROOT

ckptd_run()
{
    timeout 60 ${CKPTD_WRAPPER:-} "$CKPTD" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null
    RC=$?
}

# --check-config with nothing: the defaults, every key once
ckptd_run --check-config
check_eq "--check-config with no file exits 0" 0 "$RC"
check_eq "--check-config prints one line per key (22)" 22 "$(wc -l <"$WORK/out")"
check "--check-config lines are all 'key = value'" \
    bash -c "! grep -vqE '^[a-z][a-z0-9-]* = [^ ].*\$' '$WORK/out'"
check "--check-config shows the defaults (max-upload = 100G, threads = auto, reserve = auto, scrub-interval = 7d)" \
    bash -c "grep -qx 'max-upload = 100G' '$WORK/out' && grep -qx 'threads = auto' '$WORK/out' &&
             grep -qx 'reserve = auto' '$WORK/out' && grep -qx 'scrub-interval = 7d' '$WORK/out'"
check_eq "--check-config prints nothing on stderr" "" "$(cat "$WORK/err")"
cp "$WORK/out" "$WORK/defaults.out"

# the example file: every key commented out, so it is the defaults
ckptd_run --check-config --config "$ROOT/deploy/ckptd.conf.example"
check_eq "deploy/ckptd.conf.example passes --check-config" 0 "$RC"
check "deploy/ckptd.conf.example names every key --check-config prints" \
    bash -c "for k in \$(cut -d' ' -f1 '$WORK/defaults.out'); do grep -q \"^#\$k = \" '$ROOT/deploy/ckptd.conf.example' || exit 1; done"
sed -E 's/^#([a-z][a-z0-9-]* = )/\1/' "$ROOT/deploy/ckptd.conf.example" >"$WORK/uncommented.conf"
ckptd_run --check-config --config "$WORK/uncommented.conf"
check "the example with every key uncommented gives exactly the defaults" \
    bash -c "[ $RC = 0 ] && diff -q '$WORK/out' '$WORK/defaults.out'"

# a file with comments, quotes, suffixes; the command line wins
cat >"$WORK/a.conf" <<'EOF'
# ckptd test configuration
max-upload = 5M        # a trailing comment
threads = 2
log-level = "warn"
header-timeout = 2m
scrub-interval = 36h
default-policy = '/etc/ckptd/policy one.json'
insecure = yes
EOF
ckptd_run --check-config --config "$WORK/a.conf" --threads 3 --scrub-rate=7
check_eq "--check-config with a good file exits 0" 0 "$RC"
check "values from the file are in effect (max-upload = 5M, log-level = warn, header-timeout = 2m, insecure = true)" \
    bash -c "grep -qx 'max-upload = 5M' '$WORK/out' && grep -qx 'log-level = warn' '$WORK/out' &&
             grep -qx 'header-timeout = 2m' '$WORK/out' && grep -qx 'insecure = true' '$WORK/out' &&
             grep -qx 'scrub-interval = 36h' '$WORK/out'"
check "a quoted path with a space is kept" grep -qx "default-policy = /etc/ckptd/policy one.json" "$WORK/out"
check "the command line wins over the file (threads = 3)" grep -qx 'threads = 3' "$WORK/out"
check "--key=VALUE works like --key VALUE (scrub-rate = 7)" grep -qx 'scrub-rate = 7' "$WORK/out"
check "keys in neither keep their default (max-uploads = 64)" grep -qx 'max-uploads = 64' "$WORK/out"
# the output is itself a config file that gives the same configuration
cp "$WORK/out" "$WORK/effective.conf"
ckptd_run --check-config --config "$WORK/effective.conf"
check "--check-config output, used as a config file, gives the same configuration" \
    bash -c "[ $RC = 0 ] && diff -q '$WORK/out' '$WORK/effective.conf'"

# errors: FILE:LINE: reason, exit 2, nothing on stdout, no start
bad_conf()
{
    local desc=$1 want=$2
    shift 2
    printf '%s\n' "$@" >"$WORK/bad.conf"
    ckptd_run --config "$WORK/bad.conf" --listen 127.0.0.1:0 --data "$WORK/never"
    check_eq "$desc: exit 2" 2 "$RC"
    check_eq "$desc: stderr is 'ckptd: FILE:LINE: reason'" "ckptd: $WORK/bad.conf:$want" "$(cat "$WORK/err")"
    check "$desc: nothing on stdout, no data dir created" bash -c "[ ! -s '$WORK/out' ] && [ ! -e '$WORK/never' ]"
}
bad_conf "unknown key" "3: unknown key 'max-uplod'" "# c" "threads = 2" "max-uplod = 1G"
bad_conf "malformed size" "1: invalid max-upload '10X': expected a byte count such as 512K, 10G (K, M, G, T: powers of 1024)" "max-upload = 10X"
bad_conf "out of range" "2: invalid threads '65': must be 1 to 64, or auto" "" "threads = 65"
bad_conf "duration out of range" "1: invalid shutdown-timeout '2h': must be 0 to 1h" "shutdown-timeout = 2h"
bad_conf "bad enum" "1: invalid log-level 'loud': expected error, warn, info or debug" "log-level = loud"
bad_conf "missing '='" "2: expected '=' after 'threads'" "max-upload = 1G" "threads 4"
bad_conf "unterminated quote" "1: log-file: unterminated double quote" 'log-file = "/tmp/x'
bad_conf "a key set twice" "3: threads is set twice (first on line 1)" "threads = 1" "" "threads = 2"
bad_conf "empty value" "1: data has no value (write \"\" for an empty one)" "data ="

ckptd_run --check-config --config "$WORK/bad.conf"
check_eq "--check-config of a bad file exits 2" 2 "$RC"
check_match "--check-config of a bad file says FILE:LINE: reason" "ckptd: .*/bad\.conf:1: .*" "$(cat "$WORK/err")"

ckptd_run --config "$WORK/does-not-exist.conf" --check-config
check_eq "a missing config file exits 2" 2 "$RC"
check_eq "a missing config file is named with the reason" \
    "ckptd: $WORK/does-not-exist.conf: cannot read: No such file or directory" "$(cat "$WORK/err")"
ckptd_run --config
check_eq "--config without a file name exits 2" 2 "$RC"
ckptd_run --check-config --tls-cert /etc/x.pem
check_eq "tls-cert without tls-key exits 2" 2 "$RC"
check_eq "tls-cert without tls-key says why" \
    "ckptd: tls-cert and tls-key go together: tls-cert is set, tls-key is not; give both or neither" "$(cat "$WORK/err")"
ckptd_run --check-config --max-upload 0
check_eq "an out-of-range option exits 2 naming the option" \
    "2 ckptd: invalid --max-upload '0': must be at least 1" "$RC $(cat "$WORK/err")"
ckptd_run --check-config --scrub-interval 5w
check_eq "a duration with an unknown suffix exits 2" 2 "$RC"
ckptd_run --check-config --max_upload 1G
check_eq "an option spelled with '_' is unknown (exit 2)" "2 ckptd: unknown option '--max_upload'" \
    "$RC $(head -n 1 "$WORK/err")"

# the daemon runs with the file's settings: listen and data from the file, a 1K upload limit
d=$(new_tmpdir)
cat >"$WORK/run.conf" <<EOF
listen = 127.0.0.1:0
data = $d
max-upload = 1K
log-file = $WORK/ckptd.log
EOF
CKPTD_SEQ=$((CKPTD_SEQ + 1))
CKPTD_OUT=$WORK/ckptd.$CKPTD_SEQ.out
CKPTD_ERR=$WORK/ckptd.$CKPTD_SEQ.err
${CKPTD_WRAPPER:-} "$CKPTD" --config "$WORK/run.conf" >"$CKPTD_OUT" 2>"$CKPTD_ERR" </dev/null &
CKPTD_PID=$!
CKPTD_PIDS+=("$CKPTD_PID")
if wait_for "$READY_WAIT" grep -q '^ckptd listening on ' "$CKPTD_OUT"; then
    ok "ckptd starts with listen and data from --config"
    READY_LINE=$(head -n 1 "$CKPTD_OUT")
    BASE=$(sed -E 's/^ckptd listening on (http:\/\/[^ ]+).*/\1/' <<<"$READY_LINE")
    DATA=$d
    check_match "the ready line shows the file's data dir" "ckptd listening on http://127\.0\.0\.1:[0-9]+ data=$d" "$READY_LINE"
    head -c 2048 /dev/urandom >"$WORK/2k"
    head -c 1000 /dev/urandom >"$WORK/1k"
    upload cfg "" "$WORK/2k"
    expect_error "max-upload = 1K from the file: a 2 KiB upload answers 413" 413 payload_too_large
    upload cfg "" "$WORK/1k"
    expect_status "a 1000-byte upload answers 201" 201
    stop_ckptd "ckptd started from a config file exits 0 on SIGTERM"
    check "with log-file set, log lines go to the file (the stop message)" \
        grep -q 'ckptd info: received SIGTERM, stopping' "$WORK/ckptd.log"
    check "log lines carry a UTC timestamp and a level" \
        grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z ckptd (error|warn|info|debug): ' "$WORK/ckptd.log"
    check_eq "with log-file set, nothing is logged to stderr" "" "$(cat "$CKPTD_ERR")"
else
    fail "ckptd starts with listen and data from --config" "stderr: $(head -c 500 "$CKPTD_ERR")"
fi

# a bad config never starts the daemon (no ready line, exit 2)
printf 'threads = 0\n' >"$WORK/zero.conf"
ckptd_run --config "$WORK/zero.conf" --listen 127.0.0.1:0 --data "$WORK/never2"
check "a daemon with an invalid config exits 2 without a ready line" \
    bash -c "[ $RC = 2 ] && ! grep -q listening '$WORK/out'"

# --log-level error: info lines are filtered out
if start_ckptd --log-level error --log-file "$WORK/quiet.log"; then
    ok "ckptd starts with --log-level error"
    stop_ckptd "ckptd with --log-level error exits 0"
    check "with log-level error, the info line on stop is not logged" \
        bash -c "! grep -q 'received SIGTERM' '$WORK/quiet.log'"
else
    fail "ckptd starts with --log-level error"
fi

# a log file that cannot be opened: exit 1 with the reason, before listening
ckptd_run --listen 127.0.0.1:0 --data "$(new_tmpdir)" --log-file "$WORK/no/such/dir/x.log"
check_eq "an unopenable log file exits 1" 1 "$RC"
check_match "an unopenable log file is named with the reason" \
    "ckptd: cannot open log file '.*/no/such/dir/x\.log': No such file or directory" "$(cat "$WORK/err")"

# a fatal start-up error with a log file: on the terminal (stderr) and in the log
ckptd_run --listen 0.0.0.0:0 --data "$(new_tmpdir)" --log-file "$WORK/fatal.log"
check_eq "a refused non-loopback start with a log file exits 1" 1 "$RC"
check "the refusal reaches stderr although a log file is set" \
    grep -q "ckptd: refusing to listen on '0.0.0.0' without authentication" "$WORK/err"
check "the refusal is in the log file too" \
    grep -q "ckptd: refusing to listen on '0.0.0.0' without authentication" "$WORK/fatal.log"
