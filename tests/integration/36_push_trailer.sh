#!/usr/bin/env bash
# `ckpt push FILE` / ckpt_push_file in one pass: the file goes up chunked with its SHA-256 in a
# trailer (cutproxy.py logs every request's headers and trailers: one PUT, chunked, no digest
# header, the file's digest in the trailer). A byte flipped on the way is refused
# (digest_mismatch) with nothing stored; an upload cut midway is retried and the retry's trailer
# is the digest of the whole file again (the hash restarts with the body). Behind a proxy that
# drops trailers (cutproxy --drop-trailers, as nginx does): 400 trailer_missing, then the same
# file with the digest in a header, once; a second push on the same client goes straight to
# the header; --header-digest / CKPT_HEADER_DIGEST=1 skip the trailer try. Then `ckpt pull`
# of the 64 MiB file (hashed on a second thread) verifies, resumes after a cut, and a byte
# flipped in transit is caught with no file left behind. The chunked push states X-Checkpoint-Size,
# so --max-upload refuses it before the body (413, one PUT), as with a Content-Length.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/client.sh"
need_daemon_binary
need_cli
start_ckptd || bail "ckptd starts"

BIG=$WORK/big.bin
rand_file "$BIG" $((64 << 20))
BIGSUM=$(sha256_hex "$BIG")
F=$WORK/f.bin
rand_file "$F" 3000000
SUM=$(sha256_hex "$F")

# puts: the PUT request lines of the proxy log.
puts()
{
    grep -E '^req [0-9]+ PUT ' "$PROXY_LOG"
}

# no_field NAME LINE: LINE (a proxy log request line) has no header NAME.
no_field()
{
    ! grep -Eiq "\\| $1:" <<<"$2"
}

# ---- one pass: chunked, digest in the trailer
start_proxy "$PORT" || bail "cutproxy starts"
run_ckpt --url "$PROXY" -q --json push tp "$BIG" --epoch 1
expect_rc "ckpt push of a 64 MiB file exits 0" 0
check_eq "  ... stored with the file's SHA-256" "$BIGSUM" "$(jq -r .sha256 <"$OUT" 2>/dev/null)"
check_eq "  ... in one PUT request" 1 "$(puts | wc -l)"
req=$(puts)
check_match "  ... sent chunked" '.*\| Transfer-Encoding: chunked( \|.*)?' "$req"
check_match "  ... announcing a Trailer: X-Checkpoint-SHA256" '.*\| Trailer: X-Checkpoint-SHA256( \|.*)?' "$req"
check "  ... with no Content-Length" no_field Content-Length "$req"
check "  ... and no digest header: the digest is not known before the body" \
    no_field X-Checkpoint-SHA256 "$req"
check_eq "  ... the trailer carries the file's SHA-256" "X-Checkpoint-SHA256: $BIGSUM" \
    "$(sed -n 's/^trailer [0-9]* //p' "$PROXY_LOG")"
check_eq "  ... answered 201" 1 "$(grep -Ec '^resp [0-9]+ 201 ' "$PROXY_LOG")"
BIGID=$(jq -r .id <"$OUT" 2>/dev/null)
stop_proxy

# ---- a byte flipped on the way up: refused, nothing stored
rows=$(run_count tp)
blobs=$(blob_listing)
start_proxy "$PORT" --flip-upload 40000000 || bail "cutproxy starts"
run_ckpt --url "$PROXY" -q push tp "$BIG" --epoch 2
expect_rc "a push whose bytes were flipped in transit exits 3" 3
check "  ... the server answered digest_mismatch" grep -q digest_mismatch "$ERR"
check "  ... the proxy did flip a byte of the chunked body" grep -Eq '^flip [0-9]+ body byte 40000000' "$PROXY_LOG"
check_eq "  ... the trailer still had the file's own digest" "X-Checkpoint-SHA256: $BIGSUM" \
    "$(sed -n 's/^trailer [0-9]* //p' "$PROXY_LOG")"
check_eq "  ... it was not sent again" 1 "$(puts | wc -l)"
check_eq "  ... nothing was indexed" "$rows" "$(run_count tp)"
check_eq "  ... no blob was added" "$blobs" "$(blob_listing)"
check "  ... no temp file is left" wait_for 5 tmp_is_empty
stop_proxy

# ---- an upload cut midway: retried, and the retry's trailer covers the file once
start_proxy "$PORT" --cut-upload 20000000 || bail "cutproxy starts"
run_ckpt --url "$PROXY" -q --json push tp "$BIG" --epoch 3
expect_rc "a push cut after 20 MB is retried and exits 0" 0
check "  ... the proxy cut the first upload" grep -Eq '^cut-upload [0-9]+ body=20000000' "$PROXY_LOG"
check_eq "  ... two PUTs" 2 "$(puts | wc -l)"
check_eq "  ... the retry's trailer is the whole file's SHA-256 (the hash restarted)" \
    "X-Checkpoint-SHA256: $BIGSUM" "$(sed -n 's/^trailer [0-9]* //p' "$PROXY_LOG")"
check_eq "  ... stored with that SHA-256" "$BIGSUM" "$(jq -r .sha256 <"$OUT" 2>/dev/null)"
check "  ... no temp file is left" wait_for 5 tmp_is_empty
stop_proxy

# ---- a proxy that drops trailers (nginx does): trailer_missing, then a header digest
start_proxy "$PORT" --drop-trailers || bail "cutproxy starts"
rows=$(run_count tp)
run_ckpt --url "$PROXY" -q --json push tp "$F" --epoch 4
expect_rc "ckpt push through a trailer-dropping proxy exits 0" 0
check_eq "  ... stored with the file's SHA-256" "$SUM" "$(jq -r .sha256 <"$OUT" 2>/dev/null)"
check_eq "  ... once" $((rows + 1)) "$(run_count tp)"
check_eq "  ... the proxy dropped one trailer" 1 "$(grep -c '^dropped-trailer ' "$PROXY_LOG")"
check_eq "  ... which ckptd refused (400; trailer_missing, see 35_trailer), then took the second PUT (201)" \
    "400 201" "$(grep -E '^resp [0-9]+ [0-9]+ body=' "$PROXY_LOG" | awk '{print $3}' | paste -sd' ')"
second=$(puts | sed -n 2p)
check_match "  ... the second PUT states the digest in a header" \
    ".*\\| X-Checkpoint-SHA256: $SUM( \\|.*)?" "$second"
check "  ... and is not chunked" no_field Transfer-Encoding "$second"
check_match "  ... and has a Content-Length" '.*\| Content-Length: 3000000( \|.*)?' "$second"
check "  ... no temp file is left" wait_for 5 tmp_is_empty
stop_proxy

start_proxy "$PORT" --drop-trailers || bail "cutproxy starts"
run_ckpt --url "$PROXY" -q push tp "$F" --epoch 5 --header-digest
expect_rc "ckpt push --header-digest exits 0" 0
check_eq "  ... one PUT, no trailer tried" 1 "$(puts | wc -l)"
check "  ... with the digest in a header" grep -Eq "^req [0-9]+ PUT .*\\| X-Checkpoint-SHA256: $SUM" "$PROXY_LOG"
stop_proxy
start_proxy "$PORT" --drop-trailers || bail "cutproxy starts"
CKPT_HEADER_DIGEST=1 run_ckpt --url "$PROXY" -q push tp "$F" --epoch 6
expect_rc "CKPT_HEADER_DIGEST=1 ckpt push exits 0" 0
check_eq "  ... one PUT, no trailer tried" 1 "$(puts | wc -l)"
stop_proxy

# libckpt: the fallback is remembered by the client handle.
start_proxy "$PORT" --drop-trailers || bail "cutproxy starts"
run_client push_trailer "$PROXY" "$F" "$SUM"
check_eq "two ckpt_push_file on one client behind the proxy: three PUTs (trailer, header, header)" \
    3 "$(puts | wc -l)"
check_eq "  ... answered 400, then 201, 201" "400 201 201" \
    "$(grep -E '^resp [0-9]+ [0-9]+ body=' "$PROXY_LOG" | awk '$3 != 200 {print $3}' | paste -sd' ')"
check_eq "  ... one trailer tried in all" 1 "$(grep -c '^dropped-trailer ' "$PROXY_LOG")"
stop_proxy
start_proxy "$PORT" || bail "cutproxy starts"
run_client push_trailer "$PROXY" "$F" "$SUM"
check_eq "the same program with trailers passing: two PUTs, both with a trailer" "2 2" \
    "$(puts | wc -l) $(grep -c '^trailer ' "$PROXY_LOG")"
stop_proxy

# The Python binding: Client.push(path) falls back once and remembers it; header_digest=True
# and CKPT_HEADER_DIGEST=1 skip the trailer try.
. "$HARNESS_ROOT/tests/python/python.sh"
# pypush HEADER_DIGEST: two pushes of $F on one Client through $PROXY; prints their SHA-256s.
pypush()
{
    "$PY" -c 'import sys, ckpt
kw = {"header_digest": True} if sys.argv[3] == "1" else {}
with ckpt.Client(sys.argv[1], **kw) as c:
    print(" ".join(c.push(sys.argv[2], "tpy", epoch=e).sha256 for e in (1, 2)))' \
        "$PROXY" "$F" "$1" 2>"$ERR"
}
if py_setup; then
    start_proxy "$PORT" --drop-trailers || bail "cutproxy starts"
    check_eq "Python: two pushes on one Client behind the proxy store the file's SHA-256" \
        "$SUM $SUM" "$(pypush 0)"
    check_eq "  ... in three PUTs (trailer, header, header): the fallback is remembered" 3 \
        "$(puts | wc -l)"
    stop_proxy
    start_proxy "$PORT" --drop-trailers || bail "cutproxy starts"
    check_eq "Python Client(header_digest=True): both pushes store the file's SHA-256" \
        "$SUM $SUM" "$(pypush 1)"
    check_eq "  ... in two PUTs, no trailer tried" "2 0" \
        "$(puts | wc -l) $(grep -c '^dropped-trailer ' "$PROXY_LOG")"
    stop_proxy
    start_proxy "$PORT" --drop-trailers || bail "cutproxy starts"
    check_eq "Python with CKPT_HEADER_DIGEST=1: both pushes store the file's SHA-256" \
        "$SUM $SUM" "$(CKPT_HEADER_DIGEST=1 pypush 0)"
    check_eq "  ... in two PUTs, no trailer tried" "2 0" \
        "$(puts | wc -l) $(grep -c '^dropped-trailer ' "$PROXY_LOG")"
    stop_proxy
fi

# ---- pull of the 64 MiB checkpoint: verified on a second thread
D=$(new_tmpdir)
run_ckpt --url "$BASE" -q pull "$BIGID" -o "$D/big.out"
expect_rc "ckpt pull of the 64 MiB checkpoint exits 0" 0
check "  ... and the file is the one pushed" cmp -s "$BIG" "$D/big.out"
start_proxy "$PORT" --cut 30000000 || bail "cutproxy starts"
run_ckpt --url "$PROXY" -q pull "$BIGID" -o "$D/resumed.out"
expect_rc "a pull cut after 30 MB resumes and exits 0" 0
check "  ... and the file is the one pushed" cmp -s "$BIG" "$D/resumed.out"
check_eq "  ... two blob requests, the second a Range from 30000000" 1 \
    "$(blob_requests | grep -c 'Range: bytes=30000000-')"
stop_proxy
start_proxy "$PORT" --flip-download 50000000 || bail "cutproxy starts"
run_ckpt --url "$PROXY" -q pull "$BIGID" -o "$D/flipped.out"
expect_rc "a pull with a byte flipped in transit exits 3" 3
check "  ... and says SHA-256" grep -q 'SHA-256' "$ERR"
check "  ... no output file" test ! -e "$D/flipped.out"
check_eq "  ... no temp file beside it" "" "$(find "$D" -name '.flipped.out.ckpt-*')"
stop_proxy
# Standard output opened read-write: ckpt_pull_fd hashes by reading it back, too.
start_proxy "$PORT" --flip-download 777 || bail "cutproxy starts"
# (not run_ckpt, which sends stdout to $OUT)
ckpt --url "$PROXY" -q pull "$BIGID" -o - 1<>"$D/rw2.out" 2>"$ERR"
RC=$?
expect_rc "ckpt pull -o - into a read-write file with a flipped byte exits 3" 3
check "  ... and says SHA-256" grep -q 'SHA-256' "$ERR"
stop_proxy
ckpt --url "$BASE" -q pull "$BIGID" -o - 1<>"$D/rw3.out" 2>"$ERR"
RC=$?
expect_rc "ckpt pull -o - into a read-write file exits 0" 0
check "  ... with the right bytes" cmp -s "$BIG" "$D/rw3.out"

stop_ckptd

# ---- the chunked upload states its size: --max-upload refuses it before the body
start_ckptd --max-upload 1M || bail "ckptd starts with --max-upload 1M"
start_proxy "$PORT" || bail "cutproxy starts"
run_ckpt --url "$PROXY" -q push big "$F"
expect_rc "ckpt push of a 3 MB file to a 1 MiB --max-upload exits 2" 2
check "  ... payload_too_large" grep -q payload_too_large "$ERR"
check_eq "  ... in one PUT, not retried" 1 "$(puts | wc -l)"
check_match "  ... which stated X-Checkpoint-Size: 3000000" '.*\| X-Checkpoint-Size: 3000000( \|.*)?' "$(puts)"
check "  ... and sent no body (nothing forwarded, no trailer)" bash -c "! grep -q '^trailer ' '$PROXY_LOG'"
stop_proxy
chunked_put()  # SIZE_HEADER BODY: a chunked PUT; prints "STATUS CODE"
{
    curl -sS --max-time 10 -o "$WORK/cp.json" -w '%{http_code}' -X PUT -H 'Transfer-Encoding: chunked' \
        -H "$1" --data-binary "$2" "$BASE/v1/runs/sized/checkpoints" 2>/dev/null
    printf ' %s' "$(jq -r .error.code <"$WORK/cp.json" 2>/dev/null)"
}
check_eq "X-Checkpoint-Size matching the chunked body: 201" "201 null" "$(chunked_put 'X-Checkpoint-Size: 5' hello)"
check_eq "a chunked body shorter than its X-Checkpoint-Size: 400 bad_request" "400 bad_request" \
    "$(chunked_put 'X-Checkpoint-Size: 7' hello)"
check_eq "a malformed X-Checkpoint-Size: 400 bad_request" "400 bad_request" \
    "$(chunked_put 'X-Checkpoint-Size: 5x' hello)"
check_match "a chunked body longer than its X-Checkpoint-Size is cut off (no 201)" '(000|400) .*' \
    "$(chunked_put 'X-Checkpoint-Size: 3' hello)"
check_eq "  ... only the matching one was stored" 1 "$(run_count sized)"
check "  ... no temp file is left" wait_for 5 tmp_is_empty
stop_ckptd
