#!/usr/bin/env bash
# Resumed downloads: tests/lib/cutproxy.py sits between `ckpt` and ckptd and closes a blob
# download after N bytes; `ckpt pull` must retry with `Range: bytes=N-` and
# `If-Range: "<sha256>"`, get a 206 for the rest (not the whole blob again), and end with a file
# identical to the checkpoint. With --retries 0 the pull fails with nothing left behind.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/client.sh"
need_daemon_binary
need_cli
start_ckptd || bail "ckptd starts"

SIZE=20000000
SRC=$WORK/src.bin
rand_file "$SRC" "$SIZE"
SHA=$(sha256_hex "$SRC")
run_ckpt --url "$BASE" push resume "$SRC" --epoch 1
expect_rc "push a 20 MB checkpoint directly" 0
ID=$(cli_id)

# blob_resp_bytes: total body bytes the proxy forwarded in blob download answers.
blob_resp_bytes()
{
    awk '$1 == "resp" && $6 == "blob" { sub(/^body=/, "", $4); s += $4 } END { print s + 0 }' \
        "$PROXY_LOG"
}

# ---- one cut at 5000000 bytes
N=5000000
start_proxy "$PORT" --cut "$N" || bail "cutproxy starts"
D=$(new_tmpdir)
run_ckpt --url "$PROXY" pull "$ID" -o "$D/f.bin"
expect_rc "pull through a proxy that cuts the download at $N bytes exits 0" 0
check "  ... the file is identical to the checkpoint" cmp -s "$SRC" "$D/f.bin"
check_eq "  ... only the file is left in the directory (no temporary file)" "f.bin" "$(ls -A "$D")"
check_eq "  ... two blob requests were made" 2 "$(blob_requests | wc -l)"
first=$(blob_requests | sed -n 1p)
second=$(blob_requests | sed -n 2p)
check_eq "  ... the first asked for the whole blob (no Range)" "" "$(printf '%s' "$first" | grep -o 'Range: [^|]*')"
check "  ... the proxy cut the first answer after $N body bytes" grep -q "^resp [0-9]* 200 body=$N cut" "$PROXY_LOG"
check "  ... the second asked for Range: bytes=$N-" grep -qF "| Range: bytes=$N-" <<<"$second"
check "  ... with If-Range: \"<sha256>\" (the checkpoint's ETag)" grep -qF "| If-Range: \"$SHA\"" <<<"$second"
check "  ... and got 206 with the rest (Content-Range bytes $N-$((SIZE - 1))/$SIZE)" \
    grep -q "^resp [0-9]* 206 body=$((SIZE - N)) complete blob content-range=bytes $N-$((SIZE - 1))/$SIZE" "$PROXY_LOG"
check_eq "  ... the blob went over the wire once in all (resumed, not restarted)" "$SIZE" "$(blob_resp_bytes)"
stop_proxy

# ---- two cuts: the second resume starts where the second attempt stopped
start_proxy "$PORT" --cut 3000000,4000000 || bail "cutproxy starts"
run_ckpt --url "$PROXY" pull "$ID" -o "$D/g.bin"
expect_rc "pull through a proxy that cuts twice (3 MB, then 4 MB more) exits 0" 0
check "  ... the file is identical" cmp -s "$SRC" "$D/g.bin"
check_eq "  ... three blob requests" 3 "$(blob_requests | wc -l)"
check "  ... the third asked for Range: bytes=7000000-" sh -c "grep -E '^req [0-9]+ GET [^ ]*/blob' '$PROXY_LOG' | sed -n 3p | grep -q 'Range: bytes=7000000-'"
check_eq "  ... the blob went over the wire once in all" "$SIZE" "$(blob_resp_bytes)"
stop_proxy

# ---- resuming to standard output (ckpt_pull_fd: nothing can be rewritten, only appended)
start_proxy "$PORT" --cut 6000001 || bail "cutproxy starts"
run_ckpt --url "$PROXY" pull "$ID" -o -
expect_rc "pull -o - through a cutting proxy exits 0" 0
check "  ... standard output is identical to the checkpoint" cmp -s "$SRC" "$OUT"
check "  ... the second request asked for Range: bytes=6000001-" sh -c "grep -E '^req [0-9]+ GET [^ ]*/blob' '$PROXY_LOG' | sed -n 2p | grep -q 'Range: bytes=6000001-'"
stop_proxy

# ---- --latest is resolved to an id first, then resumed on that id's blob
start_proxy "$PORT" --cut 1000000 || bail "cutproxy starts"
run_ckpt --url "$PROXY" pull resume --latest -o "$D/latest.bin"
expect_rc "pull --latest through a cutting proxy exits 0" 0
check "  ... the file is identical" cmp -s "$SRC" "$D/latest.bin"
check "  ... the resumed request names the checkpoint's blob by id" \
    grep -qE "^req [0-9]+ GET /v1/checkpoints/$ID/blob .*Range: bytes=1000000-" "$PROXY_LOG"
stop_proxy

# ---- a server that ignores Range: the client must start over, never splice a 200 onto its part
start_proxy "$PORT" --cut "$N" --drop-range || bail "cutproxy starts"
run_ckpt --url "$PROXY" pull "$ID" -o "$D/restart.bin"
expect_rc "pull when the resumed request gets the whole blob (200) exits 0" 0
check "  ... the file is identical (restarted, not spliced)" cmp -s "$SRC" "$D/restart.bin"
check "  ... the second answer was a 200 with the whole blob" grep -q "^resp [0-9]* 200 body=$SIZE complete blob" "$PROXY_LOG"
check_eq "  ... no temporary file is left" "" "$(compgen -G "$D/.restart.bin.ckpt-*")"
stop_proxy

start_proxy "$PORT" --cut "$N" --drop-range || bail "cutproxy starts"
run_ckpt --url "$PROXY" pull "$ID" -o -
check_match "pull -o - when the server ignores Range fails (stdout cannot be rewound): exit 4 or 3" '[34]' "$RC"
check "  ... saying the server did not resume" grep -q 'resume' "$ERR"
check_eq "  ... standard output holds only the $N bytes before the cut" "$N" "$(stat -c %s "$OUT")"
check "  ... which are the checkpoint's first $N bytes (nothing spliced after them)" cmp -s -n "$N" "$SRC" "$OUT"
stop_proxy

# ---- no retries: the cut is final, nothing is left behind
start_proxy "$PORT" --cut "$N" || bail "cutproxy starts"
E=$(new_tmpdir)
printf 'old\n' >"$E/keep.bin"
run_ckpt --url "$PROXY" --retries 0 pull "$ID" -o "$E/new.bin"
expect_rc "a cut download with --retries 0 exits 4" 4
check_match "  ... with 'ckpt: pull failed: ...'" 'ckpt: pull failed: .+' "$(head -n 1 "$ERR")"
check_eq "  ... no file and no temporary file is left" "keep.bin" "$(ls -A "$E")"
check_eq "  ... only one blob request was made" 1 "$(blob_requests | wc -l)"
run_ckpt --url "$PROXY" --retries 0 pull "$ID" -o "$E/keep.bin"
expect_rc "a second pull through the same proxy (no more cuts) exits 0" 0
check "  ... and replaces the existing file with the checkpoint" cmp -s "$SRC" "$E/keep.bin"
stop_proxy

check "ckptd still running after the resume tests" is_alive "$CKPTD_PID"
stop_ckptd
