#!/usr/bin/env bash
# A full disk, on a real file system: a 64 MiB ext4 image mounted through a loop device in a
# private mount namespace. A Content-Length beyond the free space answers 507 before the body
# (curl sends no byte of it); a chunked upload from a pipe that fills the disk answers 507 once the
# body has arrived, and gives the space back; checkpoints fill the disk, a filler file takes the
# last free block; then at 100% full uploads answer 507, DELETE works (and frees the blob's space),
# and uploads succeed again in the space the delete gave back. Ends with the usual invariants.
# When DELETE fails at 100% full, that check fails, and the script frees 1 MiB (less than a blob)
# to go on with the rest. Needs root, unshare, mkfs.ext4 and a loop device: otherwise it prints a
# visible SKIPPED.

# Re-run in a private mount namespace (the mount vanishes with the process) when we can.
if [ "${CKPTD_EXT4_NS:-}" != 1 ] && [ "$(id -u)" = 0 ] &&
    unshare -m --propagation private true 2>/dev/null; then
    CKPTD_EXT4_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi

. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/crash.sh"
need_daemon_binary
need_python

MNT=$WORK/mnt
test_cleanup()
{
    if [ -n "${CKPTD_PID:-}" ] && safe_kill KILL "$CKPTD_PID" "$CKPTD"; then
        wait "$CKPTD_PID" 2>/dev/null
    fi
    mountpoint -q "$MNT" 2>/dev/null && umount "$MNT"
    return 0
}
skip_all()
{
    skip "disk full on ext4" "SKIPPED: $1"
    exit 0
}
[ "${CKPTD_EXT4_NS:-}" = 1 ] || skip_all "needs root and unshare -m for a private mount namespace"
command -v mkfs.ext4 >/dev/null || skip_all "mkfs.ext4 (e2fsprogs) is not installed"
mkdir -p "$MNT"
truncate -s 64M "$WORK/ext4.img" || skip_all "cannot create the image file"
# -m 0: no blocks reserved for root (ckptd runs as root here and would get them).
mkfs.ext4 -q -F -m 0 "$WORK/ext4.img" >"$WORK/mkfs.out" 2>&1 ||
    skip_all "mkfs.ext4 failed: $(head -c 200 "$WORK/mkfs.out")"
mount -o loop "$WORK/ext4.img" "$MNT" 2>"$WORK/mount.err" ||
    skip_all "cannot mount the image through a loop device: $(head -c 200 "$WORK/mount.err")"
ok "a 64 MiB ext4 image is mounted through a loop device ($(findmnt -n -o SOURCE "$MNT"))"

avail()
{
    df -B1 --output=avail "$MNT" | tail -n 1 | tr -d ' '
}
start_ckptd_on "$MNT/data" || bail "ckptd starts on the ext4 image"
diag "free space at start: $(avail) bytes"

# ---------------------------------------------------------------- beyond the free space
truncate -s 100M "$WORK/sparse100"
out=$(curl -s -o "$RESP_BODY" -w '%{http_code} %{size_upload}' --max-time 30 -T "$WORK/sparse100" \
    "$BASE/v1/runs/full/checkpoints")
check_eq "a 100 MiB Content-Length on a 64 MiB disk answers 507 insufficient_storage" \
    "507 insufficient_storage" "${out% *} $(jbody .error.code)"
check_eq "and curl sent no body byte (no 100 Continue)" 0 "${out#* }"
raw_http "PUT /v1/runs/full/checkpoints HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n"
check_eq "a raw PUT with that Content-Length gets 507 at once, before any body" 507 "$RAW_STATUS"

before=$(avail)
head -c 90000000 /dev/urandom | curl -s -o "$RESP_BODY" -w '%{http_code}' --max-time 60 -T - \
    "$BASE/v1/runs/full/checkpoints" >"$WORK/chunked.status" 2>/dev/null
check_eq "a chunked 90 MB upload from a pipe answers 507 insufficient_storage once it fills the disk" \
    "507 insufficient_storage" "$(cat "$WORK/chunked.status") $(jbody .error.code)"
check "the chunked upload left nothing in DATA/tmp" wait_for 3 tmp_is_empty
check_eq "and no blob" 0 "$(blob_count)"
after=$(avail)
diag "free space before the chunked upload: $before, after: $after"
check "its space is given back (within 1 MiB)" [ "$after" -ge $((before - 1048576)) ]

# ---------------------------------------------------------------- fill the disk
declare -a IDS
i=0
while :; do
    i=$((i + 1))
    rand_file "$WORK/f$i" 4000000
    upload full "epoch=$i" "$WORK/f$i"
    [ "$STATUS" = 201 ] || break
    IDS[i]=$(jbody .id)
    expect_must "${IDS[i]}" "$(jbody .sha256)" 4000000
    [ "$i" -lt 30 ] || break
done
check_eq "4 MB uploads fill the disk until one answers 507 insufficient_storage" \
    "507 insufficient_storage" "$STATUS $(jbody .error.code)"
n=$((i - 1))
check "at least 8 of them were stored first ($n)" [ "$n" -ge 8 ]
check "the refused one left nothing in DATA/tmp" wait_for 3 tmp_is_empty
# Take every block left with a file of our own: the disk is now 100% full.
dd if=/dev/zero of="$MNT/filler" bs=64k 2>/dev/null
dd if=/dev/zero of="$MNT/filler" bs=1k oflag=append conv=notrunc 2>/dev/null
sync
diag "free space with the filler: $(avail) bytes"
check "the disk is full (less than 4 KiB free)" [ "$(avail)" -lt 4096 ]

out=$(curl -s -o "$RESP_BODY" -w '%{http_code} %{size_upload}' --max-time 30 -T "$WORK/f1" \
    "$BASE/v1/runs/full/checkpoints")
check_eq "at 100% full a Content-Length upload answers 507 before the body" \
    "507 insufficient_storage 0" "${out% *} $(jbody .error.code) ${out#* }"
head -c 3000000 /dev/urandom | curl -s -o "$RESP_BODY" -w '%{http_code}' --max-time 30 -T - \
    "$BASE/v1/runs/full/checkpoints" >"$WORK/chunked2.status" 2>/dev/null
check_eq "at 100% full a chunked upload answers 507" "507 insufficient_storage" \
    "$(cat "$WORK/chunked2.status") $(jbody .error.code)"

# ---------------------------------------------------------------- delete at 100% full
free0=$(avail)
http DELETE "/v1/checkpoints/${IDS[1]}"
del_status=$STATUS
check_eq "at 100% full DELETE answers 204" 204 "$del_status"
if [ "$del_status" != 204 ]; then
    diag "DELETE at 100% full answered $STATUS $(body_head)"
    http GET "/v1/checkpoints/${IDS[1]}/blob"
    check "the refused DELETE left the checkpoint whole (it still downloads intact)" \
        cmp -s "$WORK/f1" "$RESP_BODY"
    # Give 1 MiB of headroom (less than the blob) and delete again, to go on.
    truncate -s $(($(stat -c %s "$MNT/filler") - 1048576)) "$MNT/filler"
    free0=$(avail)
    http DELETE "/v1/checkpoints/${IDS[1]}"
    expect_status "with 1 MiB of headroom DELETE answers 204" 204
fi
[ "$STATUS" = 204 ] && expect_gone "${IDS[1]}"
http GET "/v1/checkpoints/${IDS[1]}"
expect_error "the deleted checkpoint is gone" 404 checkpoint_not_found
free1=$(avail)
diag "free space before the delete: $free0, after: $free1"
check "the delete gave the blob's space back (at least 3.5 MB)" [ "$free1" -ge $((free0 + 3500000)) ]

# An upload bigger than any headroom we left, that fits in the space the delete freed.
rand_file "$WORK/g" 3000000
upload full "epoch=100" "$WORK/g"
expect_status "after the delete an upload succeeds again (201)" 201
gid=$(jbody .id)
http GET "/v1/checkpoints/$gid/blob"
check "and downloads intact" cmp -s "$WORK/g" "$RESP_BODY"
expect_must "$gid" "$(sha256_hex "$WORK/g")" 3000000
http GET /healthz
expect_json "/healthz says ok after the disk-full episode" '.status == "ok"'
verify_state "ext4 full"
stop_ckptd
