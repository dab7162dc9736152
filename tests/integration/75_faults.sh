#!/usr/bin/env bash
# Faults around the index and the disk: the index write-locked by another process (503
# unavailable, nothing stored, recovery), and a full disk (507 before and during the body,
# nothing left behind, recovery). The disk-full part needs root to mount a small tmpfs in a
# private mount namespace; it is skipped visibly otherwise.

# Re-run in a private mount namespace (mounts vanish with the process) when we can.
if [ "${CKPTD_FAULTS_NS:-}" != 1 ] && [ "$(id -u)" = 0 ] &&
    unshare -m --propagation private true 2>/dev/null; then
    CKPTD_FAULTS_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi

. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary

# ---------------------------------------------------------------- index busy
if command -v sqlite3 >/dev/null; then
    start_ckptd || bail "ckptd starts"
    rand_file "$WORK/a" 5000
    upload busy "epoch=1" "$WORK/a"
    expect_status "fixture upload answers 201" 201
    victim=$(jbody .id)
    rows=$(run_count busy)
    blobs=$(blob_listing)
    rand_file "$WORK/b" 6000

    # Hold the index's write lock from another process until we say so. The holder waits
    # for the lock (.timeout): the probe below takes it for an instant too, and a holder
    # whose BEGIN met the probe's would otherwise give up at once and hold nothing.
    mkfifo "$WORK/sqlfifo"
    sqlite3 -cmd '.timeout 10000' "$DATA/index.db" <"$WORK/sqlfifo" >/dev/null 2>&1 &
    holder=$!
    exec 9>"$WORK/sqlfifo"
    printf 'BEGIN IMMEDIATE;\n' >&9
    locked()
    {
        ! sqlite3 -cmd '.timeout 0' "$DATA/index.db" 'BEGIN IMMEDIATE; ROLLBACK;' >/dev/null 2>&1
    }
    if wait_for 5 locked; then
        ok "another process holds the index write lock"
        t0=$SECONDS
        curl -s -o "$WORK/b.json" -w '%{http_code}' --max-time 60 -T "$WORK/b" \
            "$BASE/v1/runs/busy/checkpoints?epoch=2" >"$WORK/b.status" 2>/dev/null &
        up=$!
        curl -s -o "$WORK/del.json" -w '%{http_code}' --max-time 60 -X DELETE \
            "$BASE/v1/checkpoints/$victim" >"$WORK/del.status" 2>/dev/null &
        del=$!
        wait "$up" "$del"
        diag "answers came after $((SECONDS - t0)) s"
        check_eq "upload while the index is locked answers 503 unavailable" "503 unavailable" \
            "$(cat "$WORK/b.status") $(jq -r .error.code <"$WORK/b.json" 2>/dev/null)"
        check_eq "DELETE while the index is locked answers 503 unavailable" "503 unavailable" \
            "$(cat "$WORK/del.status") $(jq -r .error.code <"$WORK/del.json" 2>/dev/null)"
        check "the refused upload left nothing in DATA/tmp" wait_for 3 tmp_is_empty
        check_eq "the refused upload left no blob (DATA/blobs unchanged)" "$blobs" "$(blob_listing)"
    else
        fail "another process holds the index write lock" "sqlite3 could not take the lock"
    fi
    printf 'COMMIT;\n' >&9
    exec 9>&-
    wait "$holder"
    check_eq "after the lock is released the refused upload is not listed" "$rows" "$(run_count busy)"
    http GET "/v1/checkpoints/$victim"
    expect_status "the checkpoint whose DELETE was refused still exists" 200
    upload busy "epoch=3" "$WORK/b"
    expect_status "uploads work again once the lock is released" 201
    http GET /healthz
    expect_status "/healthz answers 200 after the lock is released" 200
    stop_ckptd
else
    skip "index busy -> 503" "sqlite3 command not installed"
fi

# ---------------------------------------------------------------- disk full
SMALL=$WORK/small
test_cleanup()
{
    if [ -n "${CKPTD_PID:-}" ] && safe_kill KILL "$CKPTD_PID" "$CKPTD"; then
        wait "$CKPTD_PID" 2>/dev/null
    fi
    mountpoint -q "$SMALL" 2>/dev/null && umount "$SMALL"
    return 0
}
mkdir -p "$SMALL"
if [ "${CKPTD_FAULTS_NS:-}" != 1 ] || ! mount -t tmpfs -o size=24m tmpfs "$SMALL" 2>"$WORK/mount.err"; then
    skip "disk full -> 507" "cannot mount a 24 MiB tmpfs (needs root and unshare): $(head -c 100 "$WORK/mount.err" 2>/dev/null)"
    exit 0
fi
start_ckptd_on "$SMALL/data" || bail "ckptd starts on a 24 MiB tmpfs"
ok "ckptd starts on a 24 MiB tmpfs"
used0=$(df -B1 --output=used "$SMALL" | tail -n 1 | tr -d ' ')

# Content-Length beyond the free space: 507 before the body.
raw_http "PUT /v1/runs/full/checkpoints HTTP/1.1\r\nHost: x\r\nContent-Length: 41943040\r\n\r\n"
check_eq "Content-Length 40 MiB on a 24 MiB disk answers 507 before any body byte" 507 "$RAW_STATUS"
check_eq "its code is insufficient_storage" insufficient_storage "$(raw_code)"

# A chunked body that fills the disk: the daemon drops the rest and answers 507.
rand_file "$WORK/big" 41943040
http PUT /v1/runs/full/checkpoints -T - <"$WORK/big"
expect_error "chunked 40 MiB upload on a 24 MiB disk answers 507 insufficient_storage" 507 insufficient_storage
check "the disk-full upload left nothing in DATA/tmp" wait_for 3 tmp_is_empty
check_eq "the disk-full upload stored no blob" 0 "$(blob_count)"
check_eq "the disk-full upload created no checkpoint" 0 "$(run_count full)"
used1=$(df -B1 --output=used "$SMALL" | tail -n 1 | tr -d ' ')
diag "tmpfs used: ${used0} bytes before, ${used1} after"
check "the space the disk-full upload took is given back (within 4 MiB)" [ "$used1" -le $((used0 + 4194304)) ]

# Two uploads with Content-Length that each fit but not together.
rand_file "$WORK/h1" 14680064
rand_file "$WORK/h2" 14680064
hp=()
for i in 1 2; do
    curl -s -o "$WORK/h$i.json" -w '%{http_code}' --max-time 60 --limit-rate 7M -T "$WORK/h$i" \
        "$BASE/v1/runs/full/checkpoints?step=$i" >"$WORK/h$i.status" 2>/dev/null &
    hp+=($!)
done
wait "${hp[@]}"
s1=$(cat "$WORK/h1.status")
s2=$(cat "$WORK/h2.status")
diag "two 14 MiB uploads on a 24 MiB disk answered $s1 and $s2"
check "two 14 MiB uploads on a 24 MiB disk: each answers 201 or 507, at least one 507" \
    bash -c "[[ '$s1' =~ ^(201|507)$ && '$s2' =~ ^(201|507)$ ]] && [ '$s1 $s2' != '201 201' ]"
bad=
for i in 1 2; do
    if [ "$(cat "$WORK/h$i.status")" = 201 ]; then
        http GET "/v1/checkpoints/$(jq -r .id <"$WORK/h$i.json")/blob"
        cmp -s "$WORK/h$i" "$RESP_BODY" || bad="$bad h$i"
    fi
done
check_eq "the upload that got 201 downloads intact" "" "$bad"
check "no temp file left after the disk filled" wait_for 3 tmp_is_empty
n201=$(cat "$WORK"/h[12].status | grep -o 201 | wc -l)
check_eq "listed checkpoints equal the 201 answers" "$n201" "$(run_count full)"

# Recovery: free the space, upload again.
for i in 1 2; do
    [ "$(cat "$WORK/h$i.status")" = 201 ] && http DELETE "/v1/checkpoints/$(jq -r .id <"$WORK/h$i.json")"
done
rand_file "$WORK/small1" 100000
upload full "epoch=1" "$WORK/small1"
expect_status "after space is freed, uploads work again (201)" 201
http GET /healthz
expect_status "/healthz answers 200 after the disk-full episode" 200
stop_ckptd
