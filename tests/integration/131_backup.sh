#!/usr/bin/env bash
# `ckptd backup --data DIR --to DIR` while the daemon serves, with an upload in flight: a second
# ckptd started on the backup serves every checkpoint committed before it with the right SHA-256,
# its index passes PRAGMA integrity_check and ckptd fsck, the tokens work, and the in-flight upload is not in
# it. A blob gone from the source drops its rows; a cross-filesystem backup copies; a non-empty
# target and bad usage are refused.
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

SRC=$(new_tmpdir)/data
ADMIN=$("$CKPTD" token add ops --role admin --data "$SRC" 2>/dev/null)
check_match "a token is minted for the source" '[0-9a-f]{16}\.[0-9a-f]{64}' "$ADMIN"
AUTH=(-H "Authorization: Bearer $ADMIN")
start_ckptd_on "$SRC" || bail "ckptd starts on the source"

# Five checkpoints in two runs; the last repeats the first's bytes (one blob, two rows).
declare -A SHA
for i in 1 2 3 4; do
    rand_file "$WORK/c$i.bin" $((i * 70001))
done
cp "$WORK/c1.bin" "$WORK/c5.bin"
ids=()
for i in 1 2 3 4 5; do
    run=run-a
    [ "$i" -gt 3 ] && run=run-b
    upload "$run" "epoch=$i&metric.acc=0.$i" "$WORK/c$i.bin" "${AUTH[@]}"
    [ "$STATUS" = 201 ] || [ "$STATUS" = 200 ] || fail "upload $i" "HTTP $STATUS $(body_head)"
    id=$(jbody .id)
    ids+=("$id")
    SHA[$id]=$(sha256_hex "$WORK/c$i.bin")
done
check_eq "five checkpoints uploaded" 5 "${#ids[@]}"

# An upload in flight during the backup: 3 MB at 300 KB/s, about 10 s.
rand_file "$WORK/slow.bin" 3000000
curl -s -o "$WORK/slow.out" -w '%{http_code}' --limit-rate 300K --max-time 60 \
    -T "$WORK/slow.bin" "${AUTH[@]}" "$BASE/v1/runs/run-slow/checkpoints" >"$WORK/slow.status" &
SLOW=$!
wait_for 10 tmp_has_file
check "the slow upload is in flight (a temp file exists)" tmp_has_file

BK=$WORK/backup/one
"$CKPTD" backup --data "$SRC" --to "$BK" >"$WORK/bk.out" 2>"$WORK/bk.err"
check_eq "ckptd backup exits 0 while the daemon runs" 0 "$?"
check_match "it prints a summary" \
    "backup of '.*' in '.*': 5 checkpoints, 4 blobs \(4 hard-linked, 0 copied, 0 bytes copied\), 1 tokens, .* s" \
    "$(head -n1 "$WORK/bk.out")"
check "the slow upload was still in flight after the backup" is_alive "$SLOW"
wait "$SLOW"
check_eq "the upload in flight during the backup completes" 201 "$(cat "$WORK/slow.status")"
check "the backup directory is mode 0750" test "$(stat -c %a "$BK")" = 750
check "the backup has no index.db.partial left" test ! -e "$BK/index.db.partial"
check "the backup has no -wal beside its index" test ! -e "$BK/index.db-wal"
check_eq "4 blob files in the backup" 4 "$(find "$BK/blobs" -type f | wc -l)"

integrity()
{
    "$PY" - "$1" <<'PYEOF'
import sqlite3, sys
c = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
print(c.execute("PRAGMA integrity_check").fetchone()[0])
PYEOF
}
check_eq "PRAGMA integrity_check of the backup's index" ok "$(integrity "$BK/index.db" 2>&1)"
"$CKPTD" fsck --data "$BK" >"$WORK/fsck.out" 2>&1
check_eq "ckptd fsck of the backup finds nothing wrong (exit 0: every blob there, every digest right)" \
    0 "$?"

stop_ckptd "the source daemon stops"

# Restore: a second ckptd with --data pointing at the backup.
start_ckptd_on "$BK" || bail "ckptd starts on the backup"
http GET /v1/runs/run-a/checkpoints
expect_status "the backup's tokens are enforced (no token: 401)" 401
good=0
for id in "${ids[@]}"; do
    http GET "/v1/checkpoints/$id/blob" "${AUTH[@]}"
    got=$(sha256sum "$RESP_BODY" | awk '{print $1}')
    if [ "$STATUS" = 200 ] && [ "$got" = "${SHA[$id]}" ]; then
        good=$((good + 1))
    else
        diag "checkpoint $id: HTTP $STATUS sha $got, want ${SHA[$id]}"
    fi
done
check_eq "every checkpoint downloads from the restored daemon with its SHA-256" 5 "$good"
http GET /v1/runs/run-a/checkpoints "${AUTH[@]}"
expect_json "run-a lists 3 checkpoints with their metrics" \
    '(.checkpoints | length) == 3 and .checkpoints[2].metrics.acc == 0.3'
http GET /v1/runs/run-slow/checkpoints "${AUTH[@]}"
expect_status "the upload in flight at the snapshot is not in the backup" 404
http GET "/v1/runs/run-b/latest" "${AUTH[@]}"
expect_json "queries work on the restored index (latest of run-b)" ".id == ${ids[4]}"
rand_file "$WORK/new.bin" 1000
upload run-a "" "$WORK/new.bin" "${AUTH[@]}"
expect_json "the restored daemon accepts new uploads with an id never used before" \
    ".id > ${ids[4]}"
stop_ckptd "the restored daemon stops"
check_eq "integrity_check after the restored daemon ran" ok "$(integrity "$BK/index.db" 2>&1)"

# The source is untouched by the backup: its own daemon still serves everything.
start_ckptd_on "$SRC" || bail "ckptd restarts on the source"
http GET /v1/runs/run-slow/checkpoints "${AUTH[@]}"
expect_json "the source still has the upload that finished after the snapshot" \
    '(.checkpoints | length) == 1'
stop_ckptd

# A blob missing from the source (deleted after the snapshot, as far as the backup can tell):
# its rows are left out, so every row in the backup has its blob. Backup of the (stopped)
# backup, whose index has no -wal.
gone=${SHA[${ids[1]}]}
rm -f "$BK/blobs/${gone:0:2}/$gone"
BK2=$WORK/backup/two
"$CKPTD" backup --data "$BK" --to "$BK2" >"$WORK/bk2.out" 2>"$WORK/bk2.err"
check_eq "a backup of a stopped data directory exits 0" 0 "$?"
check "it reports the checkpoint left out" grep -q '^left out 1 checkpoints whose blob was gone' "$WORK/bk2.out"
check_eq "integrity_check of that backup" ok "$(integrity "$BK2/index.db" 2>&1)"
rows=$("$PY" -c "
import sqlite3, sys
c = sqlite3.connect('file:$BK2/index.db?mode=ro', uri=True)
print(c.execute('SELECT count(*) FROM checkpoints').fetchone()[0],
      c.execute('SELECT count(*) FROM checkpoints WHERE sha256 = ?', ('$gone',)).fetchone()[0],
      c.execute('SELECT count(*) FROM metrics WHERE checkpoint_id NOT IN (SELECT id FROM checkpoints)').fetchone()[0])")
check_eq "5 rows remain, none for the missing blob, no orphan metrics" "5 0 0" "$rows"

# Deletes racing the backup: whichever rows make the snapshot, every row in the backup has its
# blob file (rows whose blob went before it was linked are dropped), and the index is sound.
start_ckptd_on "$SRC" || bail "ckptd restarts on the source"
race_ids=()
for i in $(seq 1 40); do
    rand_file "$WORK/r.bin" $((1000 + i))
    upload race "step=$i" "$WORK/r.bin" "${AUTH[@]}"
    race_ids+=("$(jbody .id)")
done
(for id in "${race_ids[@]}"; do
    curl -s -o /dev/null -X DELETE -H "Authorization: Bearer $ADMIN" "$BASE/v1/checkpoints/$id"
done) &
DELS=$!
BK3=$WORK/backup/race
"$CKPTD" backup --data "$SRC" --to "$BK3" >"$WORK/bk3.out" 2>"$WORK/bk3.err"
check_eq "a backup while checkpoints are being deleted exits 0" 0 "$?"
wait "$DELS"
diag "$(cat "$WORK/bk3.out")"
orphans=$("$PY" - "$BK3" <<'PYEOF'
import os, sqlite3, sys
d = sys.argv[1]
c = sqlite3.connect("file:%s/index.db?mode=ro" % d, uri=True)
rows = c.execute("SELECT sha256 FROM checkpoints").fetchall()
print(sum(not os.path.exists("%s/blobs/%s/%s" % (d, s[:2], s)) for (s,) in rows))
PYEOF
)
check_eq "every row of that backup has its blob" 0 "$orphans"
check_eq "and its index passes integrity_check" ok "$(integrity "$BK3/index.db" 2>&1)"
stop_ckptd

# Refusals.
"$CKPTD" backup --data "$SRC" --to "$BK2" >/dev/null 2>"$WORK/ne.err"
check_eq "a backup into a non-empty directory exits 1" 1 "$?"
check "and says why" grep -q "refusing to write into '.*': it is not empty" "$WORK/ne.err"
check_eq "and leaves that directory alone" ok "$(integrity "$BK2/index.db" 2>&1)"
"$CKPTD" backup --data "$SRC" >/dev/null 2>&1
check_eq "backup without --to exits 2" 2 "$?"
"$CKPTD" backup --data "$SRC" --to "$WORK/x" extra >/dev/null 2>&1
check_eq "backup with a stray argument exits 2" 2 "$?"
"$CKPTD" backup --data "$WORK/nowhere" --to "$WORK/x2" >/dev/null 2>"$WORK/nw.err"
check_eq "backup of a missing data directory exits 1" 1 "$?"
mkdir -p "$WORK/emptysrc/blobs"
"$CKPTD" backup --data "$WORK/emptysrc" --to "$WORK/x3" >/dev/null 2>"$WORK/ni.err"
check_eq "backup of a directory with no index exits 1" 1 "$?"
check "and says it is incomplete" grep -q 'incomplete' "$WORK/ni.err"
"$CKPTD" backup --help >"$WORK/help.out" 2>&1
check "backup --help exits 0 and shows usage" grep -q '^usage: ckptd backup' "$WORK/help.out"

# Another filesystem: blobs are copied and fsync'd, not linked.
OTHER=
for d in /dev/shm "${CKPT_OTHER_FS:-}"; do
    [ -n "$d" ] && [ -d "$d" ] && [ -w "$d" ] || continue
    if [ "$(stat -c %d "$d")" != "$(stat -c %d "$WORK")" ]; then
        OTHER=$(mktemp -d "$d/ckpt-bk.XXXXXX")
        break
    fi
done
if [ -n "$OTHER" ]; then
    test_cleanup() { rm -rf "$OTHER"; }
    "$CKPTD" backup --data "$SRC" --to "$OTHER/bk" >"$WORK/x.out" 2>"$WORK/x.err"
    check_eq "a backup to another filesystem exits 0" 0 "$?"
    check_match "and copies every blob" \
        ".*: 6 checkpoints, 5 blobs \(0 hard-linked, 5 copied, [0-9]+ bytes copied\).*" "$(head -n1 "$WORK/x.out")"
    same=0
    for f in "$SRC"/blobs/*/*; do
        cmp -s "$f" "$OTHER/bk/blobs/${f#"$SRC"/blobs/}" && same=$((same + 1))
    done
    check_eq "the copies are byte-identical" 5 "$same"
    check_eq "no .part file left" 0 "$(find "$OTHER/bk" -name '*.part' | wc -l)"
    check_eq "integrity_check of the copied backup" ok "$(integrity "$OTHER/bk/index.db" 2>&1)"
else
    skip "backup to another filesystem" "no writable directory on another filesystem (set CKPT_OTHER_FS)"
fi
