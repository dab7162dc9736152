#!/usr/bin/env bash
# Capacity: --max-disk (a quota on deduplicated blob bytes) and --reserve (free space uploads must
# leave). An upload whose Content-Length would cross either answers 507 insufficient_storage
# before the body (no 100 Continue; curl sends no body byte); a chunked upload answers 507 once
# it crosses, mid-stream, with its temp file removed at once. A duplicate of stored bytes still
# counts against the quota until it is committed. GET /v1/stats and /v1/runs report logical and
# physical bytes exactly, with dedup.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/integrity.sh"
need_daemon_binary

MB=1000000
start_ckptd --max-disk 5000000 --reserve 0 || bail "ckptd starts with --max-disk 5000000"
http GET /v1/stats
expect_json "stats of an empty store: all zero, max_disk 5000000, reserve 0" \
    '.checkpoints == 0 and .runs == 0 and .logical_bytes == 0 and .physical_bytes == 0 and
     .corrupt == 0 and .max_disk == 5000000 and .reserve == 0 and .disk_total > 0 and .disk_free > 0'

rand_file "$WORK/a" 2000000
rand_file "$WORK/b" 1500000
upload q "epoch=1" "$WORK/a"
expect_status "a 2 MB upload under the 5 MB quota: 201" 201
upload q "epoch=2" "$WORK/a"
expect_status "the same 2 MB again (deduplicated): 201" 201
upload other "epoch=1" "$WORK/a"
expect_status "the same 2 MB in another run: 201" 201
upload q "epoch=3" "$WORK/b"
expect_status "a 1.5 MB upload (3.5 MB stored): 201" 201
http GET /v1/stats
expect_json "stats: 4 checkpoints, 2 runs, logical 7 500 000, physical 3 500 000" \
    '.checkpoints == 4 and .runs == 2 and .logical_bytes == 7500000 and .physical_bytes == 3500000'
http GET /v1/runs
expect_json "runs: q has logical 5 500 000 (= bytes) and physical 3 500 000" \
    '(.runs[] | select(.run == "q")) | .logical_bytes == 5500000 and .bytes == 5500000 and .physical_bytes == 3500000'
expect_json "runs: other has logical 2 000 000 and physical 2 000 000" \
    '(.runs[] | select(.run == "other")) | .logical_bytes == 2000000 and .physical_bytes == 2000000'
# The per-run totals are kept up to date by the index (sql/006), not recomputed: deletes move
# them too. Deleting one of q's two copies of a leaves a's bytes physical; deleting the other
# removes them from q (run other still holds a: the blob and the store's physical bytes stay).
q_ids=$(curl -s "$BASE/v1/runs/q/checkpoints" | jq -r '[.checkpoints[] | select(.size == 2000000) | .id] | join(" ")')
set -- $q_ids
http DELETE "/v1/checkpoints/$1"
http GET /v1/runs
expect_json "after deleting one copy of a in q: logical 3 500 000, physical still 3 500 000" \
    '(.runs[] | select(.run == "q")) | .checkpoints == 2 and .logical_bytes == 3500000 and .physical_bytes == 3500000'
http DELETE "/v1/checkpoints/$2"
http GET /v1/runs
expect_json "after deleting the other: logical and physical 1 500 000" \
    '(.runs[] | select(.run == "q")) | .checkpoints == 1 and .logical_bytes == 1500000 and .physical_bytes == 1500000'

# ---------------------------------------------------------------- quota, length known
rand_file "$WORK/c" 2000000
blobs=$(blob_listing)
out=$(curl -s -o "$RESP_BODY" -w '%{http_code} %{size_upload}' --max-time 30 -T "$WORK/c" \
    "$BASE/v1/runs/q/checkpoints")
check_eq "a 2 MB upload that would cross the quota answers 507 insufficient_storage" \
    "507 insufficient_storage" "${out% *} $(jbody .error.code)"
check_eq "  ... and curl sent no body byte" 0 "${out#* }"
check "  ... the message names --max-disk" grep -q -- '--max-disk' "$RESP_BODY"
raw_http "PUT /v1/runs/q/checkpoints HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\nExpect: 100-continue\r\n\r\n"
check_eq "a raw PUT with Expect: 100-continue gets 507 as its first status line (no 100 Continue)" \
    507 "$RAW_STATUS"
check_eq "  ... insufficient_storage" insufficient_storage "$(raw_code)"
check_eq "nothing was stored" "$blobs" "$(blob_listing)"
upload q "epoch=4" "$WORK/a"
expect_error "even a duplicate counts until committed: 2 MB of known bytes over the quota -> 507" \
    507 insufficient_storage
rand_file "$WORK/d" 1400000
upload q "epoch=5" "$WORK/d"
expect_status "a 1.4 MB upload that fits (4.9 of 5 MB): 201" 201
D_ID=$(jbody .id)

# ---------------------------------------------------------------- quota, chunked
http DELETE "/v1/checkpoints/$D_ID"
expect_status "deleting it gives the 1.4 MB back" 204
rand_file "$WORK/e" 3000000
head -c 3000000 "$WORK/e" | curl -s -o "$RESP_BODY" -w '%{http_code}' --max-time 60 -T - \
    "$BASE/v1/runs/q/checkpoints" >"$WORK/chunked.status" 2>/dev/null
check_eq "a chunked 3 MB upload crosses the quota (1.5 MB left): 507 insufficient_storage" \
    "507 insufficient_storage" "$(cat "$WORK/chunked.status") $(jbody .error.code)"
check "  ... its temp file is gone" wait_for 3 tmp_is_empty
check "  ... the daemon stopped it mid-stream (logged after some bytes, before the end)" \
    grep -Eq "upload to run 'q' stopped after [0-9]+ bytes: the --max-disk quota is reached" "$CKPTD_ERR"
stopped=$(sed -nE "s/.*upload to run 'q' stopped after ([0-9]+) bytes.*/\1/p" "$CKPTD_ERR" | tail -n 1)
check "  ... at $stopped bytes: past the first, before the last" \
    bash -c "[ '${stopped:-0}' -gt 0 ] && [ '${stopped:-0}' -lt 3000000 ]"
check_eq "nothing new was stored" "$blobs" "$(blob_listing)"
head -c 1000000 "$WORK/e" | curl -s -o "$RESP_BODY" -w '%{http_code}' --max-time 60 -T - \
    "$BASE/v1/runs/q/checkpoints" >"$WORK/chunked.status" 2>/dev/null
check_eq "a chunked 1 MB upload that fits answers 201" 201 "$(cat "$WORK/chunked.status")"
http GET /v1/stats
expect_json "stats: physical 4 500 000 of 5 000 000" '.physical_bytes == 4500000'
stop_ckptd

# ---------------------------------------------------------------- reserve
start_ckptd --reserve 1000T || bail "ckptd starts with --reserve 1000T"
http GET /v1/stats
expect_json "stats report the reserve and no quota" '.reserve == 1099511627776000 and .max_disk == null'
out=$(curl -s -o "$RESP_BODY" -w '%{http_code} %{size_upload}' --max-time 30 -T "$WORK/a" \
    "$BASE/v1/runs/r/checkpoints")
check_eq "with a reserve larger than the disk, a 2 MB upload answers 507 before the body" \
    "507 insufficient_storage 0" "${out% *} $(jbody .error.code) ${out#* }"
check "  ... the message names the reserve" grep -q 'reserve' "$RESP_BODY"
head -c 500000 "$WORK/a" | curl -s -o "$RESP_BODY" -w '%{http_code}' --max-time 60 -T - \
    "$BASE/v1/runs/r/checkpoints" >"$WORK/chunked.status" 2>/dev/null
check_eq "a chunked upload answers 507 too" "507 insufficient_storage" \
    "$(cat "$WORK/chunked.status") $(jbody .error.code)"
check "  ... and leaves tmp/ empty" wait_for 3 tmp_is_empty
check_eq "  ... no blob stored" 0 "$(blob_count)"
stop_ckptd

start_ckptd || bail "ckptd starts with the default reserve"
http GET /v1/stats
total=$(jbody .disk_total)
want=$((total / 100))
[ "$want" -gt 268435456 ] && want=268435456
expect_json "the default reserve is 1% of the file system, at most 256 MiB ($want)" ".reserve == $want"
upload r "" "$WORK/a"
expect_status "uploads work with the default reserve" 201
stop_ckptd

for bad in lots -5 1Q; do
    "$CKPTD" --data "$WORK/never" --max-disk "$bad" >/dev/null 2>&1
    check_eq "--max-disk '$bad' is a usage error (exit 2)" 2 "$?"
    "$CKPTD" --data "$WORK/never" --reserve "$bad" >/dev/null 2>&1
    check_eq "--reserve '$bad' is a usage error (exit 2)" 2 "$?"
done
harness_exit
