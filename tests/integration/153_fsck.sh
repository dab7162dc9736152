#!/usr/bin/env bash
# ckptd fsck, offline: exit 0 on a clean data directory; 3 while a daemon holds it, or when the
# directory is not a data directory; 2 on a usage error. On a damaged one (a flipped bit, a
# truncated blob, a deleted blob, an orphan blob, a temp file) it reports each and exits 1
# without changing anything; --repair quarantines, flags and deletes (exit 1, says what it did),
# and fsck afterwards exits 0. The daemon then serves the repaired state: 409 for the damaged ones.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/integrity.sh"
need_daemon_binary

DIR=$(new_tmpdir)
start_ckptd_on "$DIR" || bail "ckptd starts"
declare -a ID SHA
for i in 1 2 3 4 5 6; do
    rand_file "$WORK/s$i" 300000
    upload f "epoch=$i" "$WORK/s$i"
    ID[i]=$(jbody .id)
    SHA[i]=$(jbody .sha256)
done
upload f "epoch=7" "$WORK/s6" # the same bytes again: one blob, two checkpoints
ID[7]=$(jbody .id)

fsck()
{
    "$CKPTD" fsck "$@" >"$WORK/fsck.out" 2>"$WORK/fsck.err"
    FSCK_RC=$?
}
fsck --data "$DIR"
check_eq "fsck while ckptd runs on the directory exits 3" 3 "$FSCK_RC"
check "  ... and says a ckptd is running" grep -q 'ckptd is running' "$WORK/fsck.err"
stop_ckptd

fsck --data "$DIR"
check_eq "fsck of a clean directory exits 0" 0 "$FSCK_RC"
check "  ... says clean" grep -q '^fsck: clean' "$WORK/fsck.out"
check "  ... counted 6 blobs and 1 800 000 bytes" grep -q '6 blobs checked (1800000 bytes)' "$WORK/fsck.out"
fsck --data "$DIR" --bogus
check_eq "fsck --bogus is a usage error (exit 2)" 2 "$FSCK_RC"
fsck --data "$DIR" extra
check_eq "fsck with a stray argument exits 2" 2 "$FSCK_RC"
fsck --data "$WORK/nowhere"
check_eq "fsck of a directory that is not a data directory exits 3" 3 "$FSCK_RC"
"$CKPTD" fsck --help >"$WORK/help.out" 2>&1
check_eq "fsck --help exits 0" 0 "$?"
check "  ... and documents the exit codes" grep -q 'exit status: 0 clean, 1 problems' "$WORK/help.out"

# ---------------------------------------------------------------- damage
flip_bit "$(blob_path "${SHA[1]}")" 5000
truncate -s 1000 "$(blob_path "${SHA[2]}")"
rm "$(blob_path "${SHA[3]}")"
rand_file "$WORK/orphan" 4000
OSHA=$(sha256_hex "$WORK/orphan")
mkdir -p "$DIR/blobs/${OSHA:0:2}"
cp "$WORK/orphan" "$DIR/blobs/${OSHA:0:2}/$OSHA"
rand_file "$DIR/tmp/up-77" 1234
listing=$(cd "$DIR" && find blobs tmp -type f -printf '%p %s %T@\n' | sort)

fsck --data "$DIR"
check_eq "fsck of the damaged directory exits 1" 1 "$FSCK_RC"
check "  ... reports the flipped blob as corrupt" grep -q "^corrupt  *${SHA[1]}" "$WORK/fsck.out"
check "  ... the truncated one as wrong-size (1000 bytes)" grep -q "^wrong-size  *${SHA[2]} (1000 bytes, the index says 300000)" "$WORK/fsck.out"
check "  ... the deleted one as missing" grep -q "^missing  *${SHA[3]}" "$WORK/fsck.out"
check "  ... the orphan" grep -q "^orphan  *$OSHA" "$WORK/fsck.out"
check "  ... the temp file" grep -q "^temp  *tmp/up-77" "$WORK/fsck.out"
check "  ... and nothing about the healthy blobs" \
    test "$(grep -cE "${SHA[4]}|${SHA[5]}|${SHA[6]}" "$WORK/fsck.out")" = 0
check "  ... summary: 1 missing, 1 corrupt, 1 wrong size, 1 orphan, 1 temp file; index ok" \
    grep -q '1 missing, 1 corrupt, 1 wrong size, 1 orphan, 1 temp files; index ok' "$WORK/fsck.out"
check_eq "without --repair nothing changed on disk" "$listing" \
    "$(cd "$DIR" && find blobs tmp -type f -printf '%p %s %T@\n' | sort)"

fsck --data "$DIR" --repair
check_eq "fsck --repair exits 1 (problems were found)" 1 "$FSCK_RC"
check "  ... says what it repaired" test "$(grep -c '^  repaired:' "$WORK/fsck.out")" = 5
check "  ... and 'problems found and repaired'" grep -q '^fsck: problems found and repaired' "$WORK/fsck.out"
check "  ... the bad and orphan blobs are in quarantine/" \
    test "$(find "$DIR/quarantine" -type f | wc -l)" = 3
check "  ... tmp/ is empty" test -z "$(ls -A "$DIR/tmp")"
check "  ... the flipped blob left blobs/" test ! -e "$(blob_path "${SHA[1]}")"

fsck --data "$DIR"
check_eq "fsck after the repair exits 0" 0 "$FSCK_RC"
check "  ... and counts the 3 checkpoints flagged corrupt" grep -q '3 checkpoint(s) flagged corrupt' "$WORK/fsck.out"

start_ckptd_on "$DIR" || bail "ckptd restarts on the repaired directory"
for i in 1 2 3; do
    http GET "/v1/checkpoints/${ID[i]}/blob"
    expect_error "checkpoint ${ID[i]} (damaged) answers 409 checkpoint_corrupt" 409 checkpoint_corrupt
done
ok_n=0
for i in 4 5 6 7; do
    src=$WORK/s$i
    [ "$i" = 7 ] && src=$WORK/s6
    http GET "/v1/checkpoints/${ID[i]}/blob"
    [ "$STATUS" = 200 ] && cmp -s "$RESP_BODY" "$src" && ok_n=$((ok_n + 1))
done
check_eq "the 4 healthy checkpoints download intact" 4 "$ok_n"
stop_ckptd

# ---------------------------------------------------------------- a damaged index
cp "$DIR/index.db" "$WORK/index.bak"
python3 - "$DIR/index.db" <<'PYEOF'
import sys
# Garbage in the middle of every page but the header page: b-trees SQLite will notice.
import os
size = os.path.getsize(sys.argv[1])
with open(sys.argv[1], "r+b") as f:
    for off in range(4096, size, 4096):
        f.seek(off + 8)
        f.write(b"\xff" * 64)
PYEOF
fsck --data "$DIR"
# 1 when SQLite can open it and integrity_check finds the damage; 3 when the damage reaches the
# schema (the schema outgrew the header page once 006's triggers came) and it cannot open at all.
check_match "fsck of a directory whose index.db is damaged exits 1 or 3" '1|3' "$FSCK_RC"
check "  ... and names the index" grep -qi 'index' "$WORK/fsck.out" "$WORK/fsck.err"
harness_exit
