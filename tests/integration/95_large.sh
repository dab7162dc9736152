#!/usr/bin/env bash
# A checkpoint over 2 GiB through libckpt (tests/client/large.c): ckpt_push_file of a sparse
# 2200 MiB file and ckpt_pull_file back, SHA-256 equal end to end, client peak RSS under 64 MiB.
# Needs about 4.5 GB of disk (the stored blob and the pulled copy); skipped below 8 GB free.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/client.sh"
need_daemon_binary

free_kb=$(df -Pk "$WORK" | awk 'NR == 2 {print $4}')
if [ "${free_kb:-0}" -lt $((8 * 1024 * 1024)) ]; then
    skip "2200 MiB push and pull through libckpt" "only $((free_kb / 1024)) MiB free under $WORK, need 8 GB"
    exit 0
fi

start_ckptd || bail "ckptd starts"
src=$WORK/big.src
dst=$WORK/big.pulled
truncate -s 2200M "$src"
# Not all zeros: random 4 KiB patches at the start, at 1 GiB, across 2^31 bytes and at the end.
for off in 0 1073741823 2147483647 2147483648 $((2200 * 1024 * 1024 - 4096)); do
    head -c 4096 /dev/urandom |
        dd of="$src" bs=4096 count=1 iflag=fullblock oflag=seek_bytes seek="$off" conv=notrunc status=none
done
check_eq "the source file is 2200 MiB" $((2200 * 1024 * 1024)) "$(stat -c %s "$src")"

run_client large "$BASE" "$src" "$dst"
client_sha=$(sed -n 's/^# sha256 \([0-9a-f]\{64\}\)$/\1/p' "$WORK/client_large.out")
# openssl, not sha256sum: several times faster on 2 GiB.
src_sha=$(openssl dgst -sha256 -r "$src" | awk '{print $1}')
check_eq "the stored SHA-256 is sha256sum of the source" "$src_sha" "$client_sha"
check "the pulled file is identical to the source" cmp -s "$src" "$dst"
check "the blob on the server is identical to the source" cmp -s "$src" "$(blob_path "$src_sha")"
check_eq "no temporary file is left beside the pulled file" "" "$(compgen -G "$WORK/.big.pulled.ckpt-*")"
rm -f "$src" "$dst"
check "no upload left a temporary file in DATA/tmp" tmp_is_empty
stop_ckptd
