#!/usr/bin/env bash
# Slow-header (slowloris) and slow-body (R-U-Dead-Yet) attacks with hundreds of connections from
# 127.0.0.1 (slowhttptest -H / -B, installed from Debian when root) and a timed Python attacker
# from 127.0.0.3 (tests/hostile/slowloris.py; it takes slowhttptest's place when that cannot be
# installed), while a legitimate client on 127.0.0.2 uploads, downloads and queries in a loop:
# the legitimate client succeeds on >= 99% of its requests, slow connections are cut after
# --header-timeout / --upload-rate-window, nothing is stored, and the daemon ends healthy with
# its fds and threads back to the baseline. Runs in about 40 s.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/procstat.sh"
need_daemon_binary

PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
ATTACK=$HARNESS_ROOT/tests/hostile/slowloris.py
HEADER_TIMEOUT=5
RATE_WINDOW=5
PHASE_S=${SLOWLORIS_PHASE_S:-16}
LEGIT_SRC=127.0.0.2

# ---- slowhttptest: a Debian package; installed only when we are root. NO_SLOWHTTPTEST=1 runs the
# Python attacker alone, as on a machine without the package.
SLOWHTTPTEST=$(command -v slowhttptest)
[ "${NO_SLOWHTTPTEST:-0}" = 1 ] && SLOWHTTPTEST=
if [ -z "$SLOWHTTPTEST" ] && [ "$(id -u)" = 0 ] && [ "${NO_SLOWHTTPTEST:-0}" != 1 ]; then
    DEBIAN_FRONTEND=noninteractive timeout 120 apt-get install -y -qq slowhttptest >"$WORK/apt.log" 2>&1 ||
        { timeout 120 apt-get update -qq >>"$WORK/apt.log" 2>&1 &&
            DEBIAN_FRONTEND=noninteractive timeout 120 apt-get install -y -qq slowhttptest >>"$WORK/apt.log" 2>&1; }
    SLOWHTTPTEST=$(command -v slowhttptest)
fi
if [ "${NO_SLOWHTTPTEST:-0}" = 1 ]; then
    echo "ok - skipped: SKIPPED slowhttptest disabled by NO_SLOWHTTPTEST=1"
    T_PASS=$((T_PASS + 1))
    diag "the Python attacker covers 127.0.0.1 as well"
elif [ -z "$SLOWHTTPTEST" ]; then
    echo "ok - skipped: SKIPPED slowhttptest not installable"
    T_PASS=$((T_PASS + 1))
    diag "the Python attacker covers 127.0.0.1 as well"
fi

start_ckptd --header-timeout "$HEADER_TIMEOUT" --min-upload-rate 1K --upload-rate-window "$RATE_WINDOW" ||
    bail "ckptd starts with --header-timeout $HEADER_TIMEOUT --min-upload-rate 1K --upload-rate-window $RATE_WINDOW"
warm_up "$BASE"
FDS0=$(fd_count_conn "$CKPTD_PID")
THR0=$(threads_of "$CKPTD_PID")
diag "baseline: $(fd_count "$CKPTD_PID") open fds ($FDS0 besides the index), $THR0 threads"

# ---- the legitimate client: one request at a time from 127.0.0.2, each logged as
# `OP STATUS ok|FAIL` (a 10 s limit per request; a digest mismatch is a failure).
LEGIT_LOG=$WORK/legit.log
STOP=$WORK/legit.stop
: >"$LEGIT_LOG"
legit_req()
{
    local op=$1 want=$2 st
    shift 2
    st=$(curl -s --interface "$LEGIT_SRC" --max-time 10 -o "$WORK/legit.body" -w '%{http_code}' "$@" 2>/dev/null)
    if [ "$st" = "$want" ]; then
        echo "$op $st ok" >>"$LEGIT_LOG"
        return 0
    fi
    echo "$op ${st:-000} FAIL" >>"$LEGIT_LOG"
    return 1
}
legit_loop()
{
    local n=0 f=$WORK/legit.bin sha id got
    while [ ! -e "$STOP" ]; do
        n=$((n + 1))
        head -c $((16384 + RANDOM)) /dev/urandom >"$f"
        sha=$(sha256_hex "$f")
        if legit_req upload 201 -T "$f" -H "X-Checkpoint-SHA256: $sha" \
            "$BASE/v1/runs/legit/checkpoints?epoch=$n&loss=0.$RANDOM"; then
            id=$(jq -r .id <"$WORK/legit.body")
            if legit_req download 200 "$BASE/v1/checkpoints/$id/blob"; then
                got=$(sha256_hex "$WORK/legit.body")
                [ "$got" = "$sha" ] || echo "download-digest $got FAIL" >>"$LEGIT_LOG"
            fi
        fi
        legit_req list 200 "$BASE/v1/runs/legit/checkpoints?order=desc&limit=5"
        legit_req latest 200 "$BASE/v1/runs/legit/latest"
        legit_req best 200 "$BASE/v1/runs/legit/best"
        legit_req runs 200 "$BASE/v1/runs"
        legit_req healthz 200 "$BASE/healthz"
    done
}

# slow_phase MODE SECONDS: slowhttptest (when present) from 127.0.0.1, in a loop because it ends
# once the server has closed all its connections, and the Python attacker alongside.
slow_phase()
{
    local mode=$1 secs=$2 end flag py_src i=0 url
    end=$((SECONDS + secs))
    if [ "$mode" = header ]; then
        flag=-H url=$BASE/v1/runs
    else
        flag=-B url=$BASE/v1/runs/slowb/checkpoints
    fi
    py_src=(--src 127.0.0.3:150)
    [ -z "$SLOWHTTPTEST" ] && py_src=(--src 127.0.0.1:400 --src 127.0.0.3:150)
    "$PY" "$ATTACK" --port "$PORT" --mode "$mode" "${py_src[@]}" --rate 100 --interval 1 \
        --duration "$secs" --path "${url#"$BASE"}" >"$WORK/py.$mode.json" 2>"$WORK/py.$mode.err" &
    local py=$!
    if [ -n "$SLOWHTTPTEST" ]; then
        while [ $((end - SECONDS)) -gt 2 ]; do
            i=$((i + 1))
            timeout $((end - SECONDS + 5)) "$SLOWHTTPTEST" "$flag" -c 400 -r 100 -l $((end - SECONDS)) -i 1 \
                -s 1000000 -x 10 -p 3 -g -o "$WORK/sht.$mode.$i" -u "$url" </dev/null >"$WORK/sht.$mode.$i.log" 2>&1
        done
    fi
    wait "$py"
}

legit_loop &
LEGIT_PID=$!
sleep 1

for mode in header body; do
    slow_phase "$mode" "$PHASE_S"
    # What slowhttptest saw (peak connected, closed) and what the Python attacker measured.
    if [ -n "$SLOWHTTPTEST" ]; then
        runs=$(ls "$WORK"/sht."$mode".*.csv 2>/dev/null | wc -l)
        peak=$(cat "$WORK"/sht."$mode".*.csv 2>/dev/null | awk -F, '$1 ~ /^[0-9]+$/ && $4 > m {m = $4} END {print m + 0}')
        closed=$(for f in "$WORK"/sht."$mode".*.csv; do tail -n 1 "$f"; done 2>/dev/null | awk -F, '{s += $2} END {print s + 0}')
        diag "slowhttptest $mode: $runs run(s), peak $peak connected, $closed closed by the server"
        check "slowhttptest $mode mode ran and the server closed its connections ($closed)" \
            awk -v r="$runs" -v c="$closed" 'BEGIN { exit !(r >= 1 && c > 0) }'
    fi
    sum=$(jq -c '.sources[] | {src, opened, refused, cut, cut_median_s, cut_max_s, answered, answers, peak_open}' \
        "$WORK/py.$mode.json" 2>/dev/null)
    diag "python $mode attacker:" "$sum"
    if [ "$mode" = header ]; then limit=$((HEADER_TIMEOUT + 3)); else limit=$((2 * RATE_WINDOW + 3)); fi
    cut=$(jq '[.sources[].cut] | add' "$WORK/py.$mode.json" 2>/dev/null)
    max=$(jq '[.sources[].cut_max_s // 0] | max' "$WORK/py.$mode.json" 2>/dev/null)
    check "slow $mode connections are cut ($cut cut) and none lasted over $limit s (longest ${max:-?} s)" \
        awk -v c="${cut:-0}" -v m="${max:-999}" -v l="$limit" 'BEGIN { exit !(c > 0 && m <= l) }'
    if [ "$mode" = header ]; then
        ans=$(jq '[.sources[].answered] | add' "$WORK/py.$mode.json" 2>/dev/null)
        check_eq "no slow-header connection got an answer (its head never ended)" 0 "${ans:-x}"
    fi
done

touch "$STOP"
wait "$LEGIT_PID"

# ---- the legitimate client
total=$(wc -l <"$LEGIT_LOG")
good=$(grep -c ' ok$' "$LEGIT_LOG")
uploads=$(grep -c '^upload 201 ok' "$LEGIT_LOG")
diag "legitimate client: $good of $total requests succeeded ($uploads uploads)" \
    "failures by operation and status: $(grep FAIL "$LEGIT_LOG" | sort | uniq -c | tr '\n' ';')"
check "the legitimate client made at least 60 requests during the attacks ($total)" [ "$total" -ge 60 ]
check "the legitimate client succeeded on >= 99% of its requests ($good/$total)" \
    awk -v g="$good" -v t="$total" 'BEGIN { exit !(t > 0 && g * 100 >= 99 * t) }'
busy=$(grep -c '^upload 503 FAIL' "$LEGIT_LOG")
[ "$busy" -gt 0 ] && diag "$busy legitimate uploads were answered 503 although the attackers' addresses" \
    "may hold only --max-uploads-per-ip slots each"
rtotal=$(grep -vc '^upload ' "$LEGIT_LOG")
rgood=$(grep -v '^upload ' "$LEGIT_LOG" | grep -c ' ok$')
check "its downloads and queries alone succeeded on >= 99% ($rgood/$rtotal)" \
    awk -v g="$rgood" -v t="$rtotal" 'BEGIN { exit !(t > 0 && g * 100 >= 99 * t) }'

# ---- the daemon afterwards
check "ckptd is still running after the attacks" is_alive "$CKPTD_PID"
http GET /healthz
expect_status "ckptd answers /healthz after the attacks" 200
check_eq "the slow bodies stored nothing (run slowb)" 0 "$(run_count slowb)"
check_eq "the slow bodies stored nothing (run slowloris)" 0 "$(run_count slowloris)"
check_eq "every acknowledged legitimate upload is listed" "$uploads" "$(run_count legit)"
check "DATA/tmp is empty after the attacks" wait_for 10 tmp_is_empty
back_to_baseline "after the attacks" "$CKPTD_PID" "$FDS0" "$THR0" 15
check "ckptd stderr has no sanitizer report" bash -c "! grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' '$CKPTD_ERR'"
stop_ckptd "ckptd exits 0 on SIGTERM after the attacks"
