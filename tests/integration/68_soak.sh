#!/usr/bin/env bash
# Soak: 64 concurrent uploaders stating SHA-256 digests (tests/hostile/soak_load.py, from
# 127.0.0.2) and 256 concurrent query connections (wrk with tests/hostile/soak_query.lua, spread
# over 127.0.0.3-4 by tests/hostile/bindsrc.c; a Python stand-in when wrk is missing) for
# SOAK_SECONDS (default 180; `make soak` runs 600). Checks: no error and no digest mismatch on
# either side, every acknowledged upload downloadable and intact at the end (a sample when there
# are many), peak RSS (VmHWM) <= 256 MiB and RSS flat after warm-up, fds and threads back to the
# baseline once the load stops. A sanitizer build (build-san) runs 30 s with a 1 GiB bound.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/procstat.sh"
need_daemon_binary

PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
LOAD=$HARNESS_ROOT/tests/hostile/soak_load.py
LUA=$HARNESS_ROOT/tests/hostile/soak_query.lua
SHIM_SRC=$HARNESS_ROOT/tests/hostile/bindsrc.c
UPLOADERS=64
QUERY_CONNS=256
SOAK_SECONDS=${SOAK_SECONDS:-180}
RSS_LIMIT_MIB=256
SAMPLE_S=3

SAN=0
case ${BUILD_DIR:-} in *build-san | *build-san/) SAN=1 ;; esac
case $CKPTD in *build-san*) SAN=1 ;; esac
if [ "$SAN" = 1 ]; then
    [ "$SOAK_SECONDS" -gt 30 ] && SOAK_SECONDS=30
    RSS_LIMIT_MIB=1024
    diag "sanitizer build: SOAK_SECONDS cut to $SOAK_SECONDS and the RSS bound raised to 1 GiB (ASan inflates memory)"
fi
# RSS after warm-up may grow by this much: SQLite's page caches (one per index connection) fill
# as the index grows, and the allocator keeps some of what it has freed. A leak grows without
# bound and shows in a long run, which is what `make soak` is for.
WARMUP_S=$((SOAK_SECONDS / 6))
[ "$WARMUP_S" -lt 10 ] && WARMUP_S=10
RSS_GROWTH_MIB=24
[ "$SAN" = 1 ] && RSS_GROWTH_MIB=256 # ASan's quarantine holds up to 256 MiB of freed memory by design

# ---- the query load generator: wrk (Debian package, installed when root) behind the shim.
# NO_WRK=1 uses the Python stand-in, as on a machine without wrk.
WRK=$(command -v wrk)
[ "${NO_WRK:-0}" = 1 ] && WRK=
if [ -z "$WRK" ] && [ "$(id -u)" = 0 ] && [ "${NO_WRK:-0}" != 1 ]; then
    DEBIAN_FRONTEND=noninteractive timeout 120 apt-get install -y -qq wrk >"$WORK/apt.log" 2>&1 ||
        { timeout 120 apt-get update -qq >>"$WORK/apt.log" 2>&1 &&
            DEBIAN_FRONTEND=noninteractive timeout 120 apt-get install -y -qq wrk >>"$WORK/apt.log" 2>&1; }
    WRK=$(command -v wrk)
fi
SHIM=$WORK/bindsrc.so
if [ -n "$WRK" ] && ! ${CC:-cc} -shared -fPIC -O2 -o "$SHIM" "$SHIM_SRC" -ldl 2>"$WORK/shim.err"; then
    diag "cannot build the source-address shim ($(head -c 200 "$WORK/shim.err")): wrk alone cannot open" \
        "$QUERY_CONNS connections past the 200-per-address limit"
    WRK=
fi
if [ -n "$WRK" ]; then
    diag "query load: wrk, $QUERY_CONNS connections over 127.0.0.3 and 127.0.0.4"
else
    diag "query load: wrk not available, using the Python stand-in (soak_load.py query) instead"
fi

# The 64 uploaders stand for 64 training jobs on as many hosts, but share one source address
# here: lift the per-address upload cap to the global one.
start_ckptd --max-uploads-per-ip 64 || bail "ckptd starts"
# Every query path names something that exists before the load starts.
for r in 0 1 2 3 4 5 6 7; do
    printf 'seed %s' "$r" >"$WORK/seed"
    upload "soak-$r" "epoch=0&loss=0.5&metric.acc=0.5" "$WORK/seed"
    [ "$STATUS" = 201 ] || bail "seed upload to soak-$r answers 201 (got $STATUS)"
done
warm_up "$BASE"
FDS0=$(fd_count_conn "$CKPTD_PID")
FDS0_ALL=$(fd_count "$CKPTD_PID")
THR0=$(threads_of "$CKPTD_PID")
RSS0=$(rss_kb "$CKPTD_PID")
diag "baseline: $FDS0_ALL open fds ($FDS0 besides the index), $THR0 threads, RSS $((RSS0 / 1024)) MiB"

# ---- the load
SAMPLES=$WORK/samples
: >"$SAMPLES"
sampler()
{
    local t0=$SECONDS
    while [ ! -e "$WORK/sampler.stop" ]; do
        echo "$((SECONDS - t0)) $(rss_kb "$CKPTD_PID") $(hwm_kb "$CKPTD_PID") $(fd_count "$CKPTD_PID") $(threads_of "$CKPTD_PID")" >>"$SAMPLES"
        sleep "$SAMPLE_S"
    done
}
sampler &
SAMPLER=$!
ACKED=$WORK/acked
: >"$ACKED"
start=$SECONDS
"$PY" "$LOAD" upload --port "$PORT" --threads "$UPLOADERS" --seconds "$SOAK_SECONDS" --acked "$ACKED" \
    --src 127.0.0.2 >"$WORK/up.json" 2>"$WORK/up.err" &
UPLOADER=$!
if [ -n "$WRK" ]; then
    BINDSRC=127.0.0.3,127.0.0.4 LD_PRELOAD=$SHIM timeout $((SOAK_SECONDS + 60)) "$WRK" -t 2 -c "$QUERY_CONNS" \
        -d "${SOAK_SECONDS}s" --timeout 10s -s "$LUA" "$BASE" >"$WORK/query.out" 2>&1
else
    paths=()
    for p in /healthz /v1/runs /v1/runs/soak-0/latest "/v1/runs/soak-1/checkpoints?limit=10&order=desc" \
        /v1/runs/soak-2/best /v1/checkpoints/1 "/v1/runs/soak-3/best?metric=acc&mode=max"; do
        paths+=(--path "$p")
    done
    timeout $((SOAK_SECONDS + 60)) "$PY" "$LOAD" query --port "$PORT" --conns "$QUERY_CONNS" \
        --seconds "$SOAK_SECONDS" --src 127.0.0.3,127.0.0.4 "${paths[@]}" >"$WORK/query.out" 2>&1
fi
wait "$UPLOADER"
touch "$WORK/sampler.stop"
wait "$SAMPLER"
diag "load ran $((SECONDS - start)) s"

# ---- uploads
up=$(cat "$WORK/up.json" 2>/dev/null)
jq -e . >/dev/null 2>&1 <<<"$up" || { fail "the uploaders reported" "$(tail -c 600 "$WORK/up.err")"; up='{}'; }
n_up=$(jq '.uploads_ok // 0' <<<"$up")
diag "uploads: $n_up acknowledged, $(($(jq '.bytes // 0' <<<"$up") / 1048576)) MiB, $((n_up / SOAK_SECONDS))/s; latency p50 $(jq '.upload_latency_p50_s' <<<"$up") s, p99 $(jq '.upload_latency_p99_s' <<<"$up") s, max $(jq '.upload_latency_max_s' <<<"$up") s" \
    "read-back downloads verified during the load: $(jq '.downloads_verified // 0' <<<"$up")"
check_eq "$UPLOADERS uploaders: 0 errors" 0 "$(jq '.errors // "none"' <<<"$up")"
[ "$(jq '.errors // 0' <<<"$up")" != 0 ] && diag "upload errors: $(jq -c .error_kinds <<<"$up")"
check_eq "$UPLOADERS uploaders: 0 digest mismatches (upload answers and read-back downloads)" 0 \
    "$(jq '.digest_mismatches // "none"' <<<"$up")"
check "the uploaders stored at least one checkpoint a second ($n_up in $SOAK_SECONDS s)" [ "$n_up" -ge "$SOAK_SECONDS" ]
check "read-back downloads were verified during the load" [ "$(jq '.downloads_verified // 0' <<<"$up")" -gt 0 ]

# ---- queries
if [ -n "$WRK" ]; then
    reqs=$(awk '/requests in/ {print $1}' "$WORK/query.out")
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$WORK/query.out")
    p99=$(awk '/^latency-p99-ms:/ {print $2}' "$WORK/query.out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$WORK/query.out")
    sockerr=$(grep 'Socket errors:' "$WORK/query.out")
    diag "queries (wrk): ${reqs:-?} requests, ${rps:-?}/s, p99 ${p99:-?} ms${sockerr:+, $sockerr}" \
        "$(grep '^non-200:' "$WORK/query.out")"
    check "wrk completed requests" [ -n "$reqs" ]
    check_eq "$QUERY_CONNS query connections: 0 answers other than 200" 0 "${non2xx:-0}"
    check_eq "$QUERY_CONNS query connections: 0 socket errors (connect, read, write, timeout)" "" "$sockerr"
else
    q=$(cat "$WORK/query.out")
    diag "queries (python): $(jq -c . <<<"$q" 2>/dev/null || head -c 300 <<<"$q")"
    check "the query load completed requests" [ "$(jq '.requests // 0' <<<"$q" 2>/dev/null)" -gt 0 ]
    check_eq "$QUERY_CONNS query connections: 0 answers other than 200" 0 "$(jq '.non_200 // "none"' <<<"$q" 2>/dev/null)"
    check_eq "$QUERY_CONNS query connections: 0 socket errors" 0 "$(jq '.socket_errors // "none"' <<<"$q" 2>/dev/null)"
fi

# ---- every acknowledged upload, at the end
v=$(timeout 300 "$PY" "$LOAD" verify --port "$PORT" --acked "$ACKED" --sample 400 2>&1)
diag "final check: $(jq -c '{acknowledged, checked, bad, listed_soak_checkpoints}' <<<"$v" 2>/dev/null || head -c 300 <<<"$v")"
check_eq "every sampled acknowledged upload downloads intact, metadata agreeing ($(jq '.checked' <<<"$v" 2>/dev/null) checked)" \
    0 "$(jq '.bad // "none"' <<<"$v" 2>/dev/null)"
[ "$(jq '.bad // 0' <<<"$v" 2>/dev/null)" != 0 ] && diag "$(jq -c .bad_examples <<<"$v")"
# An upload whose answer the client lost (an error above) may or may not have been stored.
acked=$(jq '.acknowledged // 0' <<<"$v" 2>/dev/null)
listed=$(jq '.listed_soak_checkpoints // 0' <<<"$v" 2>/dev/null)
lost=$(jq '.errors // 0' <<<"$up")
check "the daemon lists every acknowledged upload plus the 8 seeds, and at most the $lost whose answer was lost besides ($listed listed, $acked acknowledged)" \
    awk -v a="$acked" -v l="$listed" -v e="$lost" 'BEGIN { exit !(l >= a + 8 && l <= a + 8 + e) }'
check_eq "every acknowledged upload got its own id" "$(jq '.acknowledged' <<<"$v" 2>/dev/null)" \
    "$(jq '.unique_ids' <<<"$v" 2>/dev/null)"

# ---- memory: VmHWM bound; RSS after warm-up flat
hwm=$(hwm_kb "$CKPTD_PID")
# first and last: means of the first and of the last three samples under load after warm-up
# (RSS jitters by a few MiB from one sample to the next).
read -r first last max n < <(awk -v w="$WARMUP_S" -v e=$((SOAK_SECONDS - 2)) '$1 >= w && $1 <= e {
    v[n++] = $2; if ($2 > m) m = $2 }
    END { k = n < 3 ? n : 3; for (i = 0; i < k; i++) { f += v[i]; l += v[n - 1 - i] }
          if (k) { f /= k; l /= k }; printf "%d %d %d %d\n", f, l, m, n }' "$SAMPLES")
diag "RSS under load, after a ${WARMUP_S} s warm-up (MiB): first $((first / 1024)), last $((last / 1024)), max $((max / 1024)); VmHWM $((hwm / 1024)) MiB; baseline $((RSS0 / 1024)) MiB" \
    "RSS every $SAMPLE_S s (MiB): $(awk '{printf "%s%d", (NR > 1 ? " " : ""), $2 / 1024}' "$SAMPLES")"
check "peak RSS (VmHWM $((hwm / 1024)) MiB) <= $RSS_LIMIT_MIB MiB" [ "${hwm:-999999999}" -le $((RSS_LIMIT_MIB * 1024)) ]
check "RSS flat after warm-up: last - first = $(((last - first) / 1024)) MiB <= $RSS_GROWTH_MIB MiB ($n samples)" \
    awk -v f="$first" -v l="$last" -v n="$n" -v g="$RSS_GROWTH_MIB" 'BEGIN { exit !(n >= 2 && l - f <= g * 1024) }'
peak_fds=$(awk '$4 > m {m = $4} END {print m + 0}' "$SAMPLES")
peak_thr=$(awk '$5 > m {m = $5} END {print m + 0}' "$SAMPLES")
diag "fds: baseline $FDS0_ALL, peak $peak_fds under load; threads: baseline $THR0, peak $peak_thr under load"

# ---- after the load
check "ckptd is still running after the soak" is_alive "$CKPTD_PID"
http GET /healthz
expect_status "ckptd answers /healthz after the soak" 200
check "DATA/tmp is empty after the soak" wait_for 10 tmp_is_empty
back_to_baseline "after the soak" "$CKPTD_PID" "$FDS0" "$THR0" 15
diag "after the load: $(fd_count "$CKPTD_PID") fds, $(threads_of "$CKPTD_PID") threads, RSS $(($(rss_kb "$CKPTD_PID") / 1024)) MiB"
check "ckptd stderr has no sanitizer report" bash -c "! grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' '$CKPTD_ERR'"
stop_ckptd "ckptd exits 0 on SIGTERM after the soak"
