#!/usr/bin/env bash
# verify_send.sh [DIR] - download throughput of a 1 GiB blob served by sendfile (verified by the
# scrub) against one hashed while sent (MHD callback response), alternating A, B, A, B on the same
# daemon; DIR (default /var/tmp) picks the file system. Page cache warm, and on a real disk also
# cold (the blob's cache dropped with dd iflag=nocache before each download). Prints MB/s per
# download and the medians. Not part of `make test`. Env: CKPTD (default build/ckptd), ROUNDS (5).
set -u
DIR=${1:-/var/tmp}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CKPTD=${CKPTD:-$ROOT/build/ckptd}
ROUNDS=${ROUNDS:-5}
W=$(mktemp -d "$DIR/verify-send.XXXXXX")
trap 'kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; rm -rf "$W"' EXIT
"$CKPTD" --listen 127.0.0.1:0 --data "$W/data" --scrub-rate 0 --reserve 0 >"$W/out" 2>"$W/err" &
PID=$!
for _ in $(seq 50); do grep -q listening "$W/out" && break; sleep 0.1; done
B=$(sed -nE 's/^ckptd listening on (http:[^ ]+).*/\1/p' "$W/out")
for n in 1 2; do
    head -c 1073741824 /dev/urandom >"$W/src"
    curl -s -T "$W/src" "$B/v1/runs/bench/checkpoints" | jq -r .sha256 >"$W/sha$n"
done
rm -f "$W/src"
curl -s -X POST "$B/v1/admin/scrub" >/dev/null
sleep 0.3
while curl -s "$B/v1/admin/scrub" | grep -q '"running"'; do sleep 0.3; done
# A write to the inode (here only its times) makes blob 2 unverified again: hashed while sent.
sleep 1.2
S2=$(cat "$W/sha2")
touch "$W/data/blobs/${S2:0:2}/$S2"
S1=$(cat "$W/sha1")
dl()
{
    curl -s -o /dev/null -w '%{speed_download}' "$B/v1/checkpoints/$1/blob" |
        awk '{printf "%.0f", $1 / 1e6}'
}
median()
{
    sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'
}
modes=warm
[ "$(stat -f -c %T "$W")" != tmpfs ] && modes="warm cold"
echo "file system: $(stat -f -c %T "$W") ($DIR); load: $(cut -d' ' -f1-3 /proc/loadavg)"
for mode in $modes; do
    : >"$W/a"
    : >"$W/b"
    for r in $(seq "$ROUNDS"); do
        [ "$mode" = cold ] && dd if="$W/data/blobs/${S1:0:2}/$S1" iflag=nocache count=0 2>/dev/null
        a=$(dl 1)
        [ "$mode" = cold ] && dd if="$W/data/blobs/${S2:0:2}/$S2" iflag=nocache count=0 2>/dev/null
        b=$(dl 2)
        echo "$a" >>"$W/a"
        echo "$b" >>"$W/b"
        echo "$mode round $r: sendfile $a MB/s, hashed while sent $b MB/s"
    done
    echo "$mode median: sendfile $(median <"$W/a") MB/s, hashed while sent $(median <"$W/b") MB/s"
done
grep -c 'aborting the download' "$W/err" | awk '{print "aborted downloads (must be 0): " $1}'
