#!/usr/bin/env bash
# Large blobs: a 5 GiB upload and download with SHA-256 verified both ways, a range beyond 4 GiB,
# and ckptd's memory (VmRSS sampled during the transfers, VmHWM at the end) under 64 MiB.
# Skipped (visibly) when the temp filesystem has less than 12 GiB free.
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary

if [ -n "${CKPTD_WRAPPER:-}" ]; then
    skip "5 GiB upload/download" "ckptd runs under CKPTD_WRAPPER ($CKPTD_WRAPPER): too slow, and RSS would be the tool's"
    exit 0
fi

SIZE=$((5 * 1024 * 1024 * 1024))
NEED=$((12 * 1024 * 1024 * 1024))
LIMIT_KB=$((64 * 1024))
avail=$(df -B1 --output=avail "$WORK" | tail -n 1 | tr -d ' ')
if [ "${avail:-0}" -lt "$NEED" ]; then
    skip "5 GiB upload/download" "only $((avail / 1024 / 1024)) MiB free on $(df --output=target "$WORK" | tail -n 1), need 12 GiB"
    exit 0
fi

start_ckptd || bail "ckptd starts"
truncate -s "$SIZE" "$WORK/big"
HEX=$(openssl dgst -sha256 -r "$WORK/big" | awk '{print $1}')

# Sample VmRSS (kB) every 0.2 s into $WORK/rss until $WORK/stop exists.
(
    max=0
    while [ ! -e "$WORK/stop" ]; do
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$CKPTD_PID/status" 2>/dev/null)
        if [ -n "$v" ] && [ "$v" -gt "$max" ]; then max=$v; echo "$max" >"$WORK/rss"; fi
        sleep 0.2
    done
) &
sampler=$!

t0=$SECONDS
http PUT "/v1/runs/large/checkpoints?epoch=1&sha256=$HEX" -T "$WORK/big" --max-time 400
diag "5 GiB upload took $((SECONDS - t0)) s"
expect_status "5 GiB upload with sha256=<its digest> answers 201" 201
ID=$(jbody .id)
check_eq "size is 5 GiB" "$SIZE" "$(jbody .size)"
check_eq "sha256 reported by ckptd equals the file's" "$HEX" "$(jbody .sha256)"
check_eq "blob on disk is 5 GiB" "$SIZE" "$(stat -c %s "$(blob_path "$HEX")" 2>/dev/null)"
check "DATA/tmp is empty after the 5 GiB upload" tmp_is_empty

t0=$SECONDS
curl -s -S --max-time 400 -D "$WORK/dl.hdrs" "$BASE/v1/checkpoints/$ID/blob" 2>"$WORK/dl.err" |
    openssl dgst -sha256 -r >"$WORK/dl.sha"
diag "5 GiB download took $((SECONDS - t0)) s"
check_eq "5 GiB download's SHA-256 equals the upload's" "$HEX" "$(awk '{print $1}' "$WORK/dl.sha")"
check_eq "5 GiB download's Content-Length is 5 GiB" "$SIZE" \
    "$(tr -d '\r' <"$WORK/dl.hdrs" | awk -F': ' 'tolower($1) == "content-length" {print $2}')"

http GET "/v1/checkpoints/$ID/blob" -H "Range: bytes=$((SIZE - 100))-"
check "Range beyond 4 GiB answers 206 with 100 bytes and the right Content-Range" \
    bash -c "[ $STATUS = 206 ] && [ \"\$(stat -c %s '$RESP_BODY')\" = 100 ] && grep -qi 'content-range: bytes $((SIZE - 100))-$((SIZE - 1))/$SIZE' '$RESP_HDRS'"

touch "$WORK/stop"
wait "$sampler"
rss=$(cat "$WORK/rss" 2>/dev/null || echo 0)
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$CKPTD_PID/status")
diag "max sampled VmRSS ${rss} kB, VmHWM ${hwm} kB"
if grep -q __asan_init "$CKPTD" 2>/dev/null; then
    skip "ckptd's RSS under 64 MiB" "$CKPTD is built with AddressSanitizer, whose shadow memory counts in RSS"
else
    check "ckptd's sampled VmRSS stayed under 64 MiB during the transfers" bash -c "[ $rss -gt 0 ] && [ $rss -lt $LIMIT_KB ]"
    check "ckptd's VmHWM (peak RSS) is under 64 MiB" [ "${hwm:-999999}" -lt "$LIMIT_KB" ]
fi

http DELETE "/v1/checkpoints/$ID"
expect_status "DELETE the 5 GiB checkpoint answers 204" 204
check "the 5 GiB blob file is removed" test ! -e "$(blob_path "$HEX")"
stop_ckptd
