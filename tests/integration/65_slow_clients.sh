#!/usr/bin/env bash
# Slow and greedy clients: headers that never finish and idle keep-alive connections are cut
# after --header-timeout, uploads slower than --min-upload-rate are cut (nothing stored), a
# header with whitespace before its colon is refused with the connection closed (no smuggled
# request runs), and uploads past --max-uploads get 503 with Retry-After. Normal requests keep
# working throughout.
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary
start_ckptd --header-timeout 2 --min-upload-rate 20K --upload-rate-window 2 --max-uploads 1 ||
    bail "ckptd starts with tight limits"

python3 - "$PORT" >"$WORK/slow.out" 2>&1 <<'PY'
import socket, sys, time
port = int(sys.argv[1])

def cut_within(sock, limit):
    """Seconds until the server closes sock (reads EOF or reset), or None after limit."""
    sock.settimeout(0.2)
    start = time.time()
    while time.time() - start < limit:
        try:
            data = sock.recv(4096)
            if not data:
                return time.time() - start
        except socket.timeout:
            continue
        except ConnectionError:
            return time.time() - start
    return None

# 1. headers trickled one byte a second never complete
s = socket.create_connection(("127.0.0.1", port))
start = time.time()
closed = None
for b in b"GET /v1/runs HTTP/1.1\r\nHost: x\r\n":
    try:
        s.send(bytes([b]))
    except (BrokenPipeError, ConnectionError):
        closed = time.time() - start
        break
    t = cut_within(s, 1.0)
    if t is not None:
        closed = time.time() - start
        break
print("slow-header", "cut" if closed is not None and closed < 6 else "not-cut", closed)

# 2. an idle connection (no request at all)
s = socket.create_connection(("127.0.0.1", port))
t = cut_within(s, 6)
print("idle", "cut" if t is not None else "not-cut", t)

# 3. an upload whose body trickles at ~100 bytes/s
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"PUT /v1/runs/slow/checkpoints HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
start = time.time()
closed = None
while time.time() - start < 10:
    try:
        s.send(b"x" * 50)
    except (BrokenPipeError, ConnectionError):
        closed = time.time() - start
        break
    if cut_within(s, 0.5) is not None:
        closed = time.time() - start
        break
print("slow-body", "cut" if closed is not None and closed < 8 else "not-cut", closed)
PY
check "a client trickling its headers is cut within ~2 s of --header-timeout" grep -q '^slow-header cut' "$WORK/slow.out"
check "an idle connection is cut after --header-timeout" grep -q '^idle cut' "$WORK/slow.out"
check "an upload slower than --min-upload-rate is cut" grep -q '^slow-body cut' "$WORK/slow.out"
diag "$(cat "$WORK/slow.out")"
check "the cut upload leaves no temp file" wait_for 3 tmp_is_empty
check_eq "and stores nothing" 0 "$(run_count slow)"
check_eq "normal requests still work" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/v1/runs")"

# Whitespace before a colon: 400, connection closed, the request in the body never runs.
resp=$(python3 - "$PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"PUT /v1/runs/ws/checkpoints HTTP/1.1\r\nHost: x\r\nContent-Length : 34\r\n\r\n"
          b"DELETE /v1/checkpoints/1 HTTP/1.1\r\n\r\n")
s.settimeout(5)
out = b""
try:
    while True:
        b = s.recv(4096)
        if not b:
            break
        out += b
except socket.timeout:
    out += b"[timeout]"
print(out.decode("latin1"))
PY
)
check_eq "whitespace before a header colon answers exactly one 400" 1 "$(grep -c '^HTTP/1.1 400' <<<"$resp")"
check "and the connection closes (no second response)" bash -c "! grep -q '\[timeout\]' <<<'$resp'"

# --max-uploads 1: a second concurrent upload gets 503 + Retry-After before its body.
rand_file "$WORK/big.bin" $((2 * 1024 * 1024))
curl -s -o "$WORK/first.json" --limit-rate 200K -T "$WORK/big.bin" "$BASE/v1/runs/cap/checkpoints" &
first=$!
sleep 1
out=$(curl -s -o "$RESP_BODY" -D "$RESP_HDRS" -w '%{http_code} %{size_upload}' -T "$WORK/big.bin" \
    "$BASE/v1/runs/cap/checkpoints")
check_eq "an upload past --max-uploads answers 503 and sends no body" "503 0" "$out"
check "the 503 carries Retry-After" grep -qi '^Retry-After: 5' "$RESP_HDRS"
check_eq "its code is unavailable" unavailable "$(jq -r .error.code <"$RESP_BODY")"
wait "$first"
check_eq "the first upload still completes" "$(sha256_hex "$WORK/big.bin")" "$(jq -r .sha256 <"$WORK/first.json")"
s=$(curl -s -o /dev/null -w '%{http_code}' -T "$WORK/big.bin" "$BASE/v1/runs/cap/checkpoints")
check_eq "after it finished, the slot is free again" 201 "$s"
stop_ckptd

# --max-uploads-per-ip 2 of --max-uploads 4: a third concurrent upload from one address gets
# 503, while another address still gets a slot; the slots come back when the uploads end.
start_ckptd --max-uploads 4 --max-uploads-per-ip 2 || bail "ckptd starts with --max-uploads-per-ip 2"
slow=()
for i in 1 2; do
    curl -s -o "$WORK/slow$i.json" --interface 127.0.0.1 --limit-rate 300K -T "$WORK/big.bin" \
        "$BASE/v1/runs/cap/checkpoints" &
    slow+=($!)
done
sleep 1
out=$(curl -s --interface 127.0.0.1 -o "$RESP_BODY" -D "$RESP_HDRS" -w '%{http_code} %{size_upload}' \
    -T "$WORK/big.bin" "$BASE/v1/runs/cap/checkpoints")
check_eq "a third upload from the same address answers 503 and sends no body" "503 0" "$out"
check "the 503 carries Retry-After" grep -qi '^Retry-After: 5' "$RESP_HDRS"
check_match "and says the cap is per address" '.*from your address.*' "$(jq -r .error.message <"$RESP_BODY")"
s=$(curl -s --interface 127.0.0.2 -o /dev/null -w '%{http_code}' -T "$WORK/big.bin" "$BASE/v1/runs/cap/checkpoints")
check_eq "an upload from another address meanwhile gets a slot" 201 "$s"
for p in "${slow[@]}"; do wait "$p"; done
check_eq "the slow uploads complete" "$(sha256_hex "$WORK/big.bin") $(sha256_hex "$WORK/big.bin")" \
    "$(jq -r .sha256 <"$WORK/slow1.json") $(jq -r .sha256 <"$WORK/slow2.json")"
s=$(curl -s --interface 127.0.0.1 -o /dev/null -w '%{http_code}' -T "$WORK/big.bin" "$BASE/v1/runs/cap/checkpoints")
check_eq "after they finished, the address has its slots again" 201 "$s"
"$CKPTD" --max-uploads-per-ip 0 >/dev/null 2>&1
check_eq "--max-uploads-per-ip 0 is refused (exit 2)" 2 "$?"
stop_ckptd
