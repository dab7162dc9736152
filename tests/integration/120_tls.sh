#!/usr/bin/env bash
# ckptd's native HTTPS (--tls-cert/--tls-key) with a throwaway CA made here with openssl:
# the ready line says https; curl, the ckpt CLI (--cacert, CKPT_CACERT) and the Python binding
# (ca_file=) round-trip checkpoints with equal SHA-256, a 300 MiB download included (sendfile
# is off under TLS); clients without the CA, with another CA, or under a name the certificate
# does not carry are refused; TLS 1.0/1.1, CBC and static-RSA suites refused, 1.2 and 1.3
# accepted (RSA and ECDSA certificates); tokens work over TLS; a stalled handshake is cut by
# --header-timeout; bad certificate/key arguments refuse to start with a clear message.
# TLS_BIG_MIB sets the large download's size (default 300).
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/client.sh"
. "$(dirname "$0")/../lib/tls.sh"
need_daemon_binary
need_cli
command -v openssl >/dev/null || bail "openssl is installed (Makefile DEB_DEPS)"

PKI=$WORK/pki

# ---- a throwaway CA and a server certificate for 127.0.0.1 and localhost (tests/lib/tls.sh)
make_test_pki "$PKI"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI/stranger.key" >/dev/null 2>&1
openssl pkey -in "$PKI/server.key" -aes256 -passout pass:secret -out "$PKI/encrypted.key" 2>/dev/null
check "openssl made a CA, a server certificate signed by it, and spare keys" \
    openssl verify -CAfile "$PKI/ca.pem" "$PKI/server.pem"
CA=$PKI/ca.pem
CERT=$PKI/server.pem
KEY=$PKI/server.key

# ---- bad arguments refuse to start
# refuse DESC EXIT REGEX ARGS...: ckptd with ARGS exits EXIT at once, stderr matching REGEX,
# and never prints a ready line.
refuse()
{
    local desc=$1 want=$2 re=$3 d rc
    shift 3
    d=$(new_tmpdir)
    timeout 10 "$CKPTD" --listen 127.0.0.1:0 --data "$d" "$@" >"$WORK/refuse.out" 2>"$WORK/refuse.err" </dev/null
    rc=$?
    if [ "$rc" = "$want" ] && grep -Eq -- "$re" "$WORK/refuse.err" && ! grep -q listening "$WORK/refuse.out"; then
        ok "$desc"
    else
        fail "$desc" "exit $rc (want $want)" "stderr: $(head -c 400 "$WORK/refuse.err")" \
            "stdout: $(head -c 200 "$WORK/refuse.out")"
    fi
}
refuse "--tls-cert without --tls-key is a usage error (exit 2)" 2 'give both or neither' \
    --tls-cert "$CERT"
refuse "--tls-key without --tls-cert is a usage error (exit 2)" 2 'give both or neither' \
    --tls-key "$KEY"
refuse "a missing certificate file refuses to start (exit 1), naming it" 1 \
    "cannot open --tls-cert '$PKI/nope.pem': No such file" --tls-cert "$PKI/nope.pem" --tls-key "$KEY"
refuse "a missing key file refuses to start (exit 1), naming it" 1 \
    "cannot open --tls-key '$PKI/nope.key': No such file" --tls-cert "$CERT" --tls-key "$PKI/nope.key"
refuse "a directory as certificate refuses to start" 1 "is not a regular file" \
    --tls-cert "$PKI" --tls-key "$KEY"
mkfifo "$PKI/fifo.key"
refuse "a FIFO as key refuses to start at once (no wait for a writer)" 1 "is not a regular file" \
    --tls-cert "$CERT" --tls-key "$PKI/fifo.key"
if [ "$(id -u)" = 0 ]; then
    skip "an unreadable key file refuses to start" "running as root: file modes do not stop reads"
else
    cp "$KEY" "$PKI/unreadable.key"
    chmod 000 "$PKI/unreadable.key"
    refuse "an unreadable key file refuses to start" 1 "Permission denied" \
        --tls-cert "$CERT" --tls-key "$PKI/unreadable.key"
fi
refuse "a key that does not belong to the certificate refuses to start" 1 \
    "--tls-key '$PKI/stranger.key' does not belong to the certificate" \
    --tls-cert "$CERT" --tls-key "$PKI/stranger.key"
refuse "a key file given as the certificate refuses to start" 1 "holds no PEM certificate" \
    --tls-cert "$KEY" --tls-key "$KEY"
refuse "a certificate given as the key refuses to start" 1 "holds no unencrypted PEM private key" \
    --tls-cert "$CERT" --tls-key "$CERT"
refuse "an encrypted key refuses to start (no passphrase prompt)" 1 \
    "holds no unencrypted PEM private key" --tls-cert "$CERT" --tls-key "$PKI/encrypted.key"
"$CKPTD" --help >"$WORK/help.out" 2>&1
check "--help documents --tls-cert and --tls-key" \
    grep -q -- '--tls-cert FILE.*' "$WORK/help.out"

# ---- a TLS daemon
start_ckptd --tls-cert "$CERT" --tls-key "$KEY" || bail "ckptd starts with --tls-cert/--tls-key"
check_match "the ready line says https://" 'ckptd listening on https://127\.0\.0\.1:[0-9]+ .*' "$READY_LINE"
http GET /healthz --cacert "$CA"
expect_status "curl --cacert: GET /healthz over TLS answers 200" 200
curl -sS -o /dev/null --max-time 10 "$BASE/healthz" 2>"$WORK/noca.err"
check_eq "curl without the CA fails verification (curl exit 60)" 60 "$?"
check "  ... saying why" grep -qi 'certificate' "$WORK/noca.err"
curl -sS -o /dev/null --max-time 10 --cacert "$PKI/otherca.pem" "$BASE/healthz" 2>/dev/null
check_eq "curl with another CA fails verification (curl exit 60)" 60 "$?"
curl -sS -o /dev/null --max-time 10 --cacert "$CA" --resolve "wrong.example:$PORT:127.0.0.1" \
    "https://wrong.example:$PORT/healthz" 2>"$WORK/name.err"
check_eq "a host name not in the certificate fails verification (curl exit 60)" 60 "$?"
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$CA" \
    "https://localhost:$PORT/healthz" 2>/dev/null)
check_eq "the DNS name in the certificate (localhost) verifies" 200 "$code"
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$PORT/healthz" 2>/dev/null)
check_eq "plain HTTP to the TLS port gets no HTTP answer" 000 "$code"

# ---- protocol versions (openssl s_client). OpenSSL 3 will not offer TLS 1.1 or 1.0 at its
# default security level, so the client lowers it: then only the server can refuse.
# handshake PORT ARGS...: prints "PROTOCOL CIPHER" of the session negotiated, or "refused".
handshake()
{
    local out proto cipher
    out=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$1" -CAfile "$CA" "${@:2}" 2>&1)
    cipher=$(printf '%s\n' "$out" | sed -n 's/^New, [^,]*, Cipher is \(.*\)$/\1/p' | head -1)
    # "Protocol  : TLSv1.1" in the session block; TLS 1.3 may end before it, but then the
    # "New, TLSv1.3, ..." line names the protocol (for older ones it names the cipher's).
    proto=$(printf '%s\n' "$out" | sed -n 's/^ *Protocol *: *\(TLSv[.0-9]*\)$/\1/p' | head -1)
    [ -n "$proto" ] || proto=$(printf '%s\n' "$out" | sed -n 's/^New, \(TLSv[.0-9]*\), .*/\1/p' | head -1)
    if [ -n "$cipher" ] && [ "$cipher" != "(NONE)" ]; then
        echo "$proto $cipher"
    else
        echo refused
    fi
}
OPORT=$(free_port)
openssl s_server -accept "127.0.0.1:$OPORT" -cert "$CERT" -key "$KEY" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' \
    -quiet >/dev/null 2>&1 </dev/null &
SPID=$!
wait_for 5 bash -c "echo >/dev/tcp/127.0.0.1/$OPORT" 2>/dev/null
got=$(handshake "$OPORT" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0')
check_match "control: this openssl client does speak TLS 1.1 to a server that allows it" 'TLSv1\.1 .*' "$got"
safe_kill TERM "$SPID"
wait "$SPID" 2>/dev/null
check_eq "ckptd refuses TLS 1.1" refused "$(handshake "$PORT" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0')"
check_eq "ckptd refuses TLS 1.0" refused "$(handshake "$PORT" -tls1 -cipher 'DEFAULT:@SECLEVEL=0')"
got=$(handshake "$PORT" -tls1_2)
check_match "ckptd accepts TLS 1.2 with an ECDHE AEAD cipher" 'TLSv1\.2 ECDHE-[A-Z0-9]+-(AES[0-9]+-GCM-SHA[0-9]+|CHACHA20-POLY1305)' "$got"
check_eq "ckptd refuses TLS 1.2 CBC ciphers" refused \
    "$(handshake "$PORT" -tls1_2 -cipher 'ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA:AES128-SHA')"
check_eq "ckptd refuses TLS 1.2 key exchange without forward secrecy (static RSA)" refused \
    "$(handshake "$PORT" -tls1_2 -cipher 'AES128-GCM-SHA256:AES256-GCM-SHA384')"
check_match "ckptd accepts TLS 1.3" 'TLSv1\.3 TLS_.*' "$(handshake "$PORT" -tls1_3)"

# ---- curl round trip, range, large download
F=$WORK/one.bin
rand_file "$F" 3000000
SUM=$(sha256sum "$F" | cut -c1-64)
upload tls "epoch=1" "$F" --cacert "$CA" -H "X-Checkpoint-SHA256: $SUM"
expect_status "curl upload over TLS answers 201" 201
ID=$(jbody .id)
check_eq "  ... with the right SHA-256" "$SUM" "$(jbody .sha256)"
http GET "/v1/checkpoints/$ID/blob" --cacert "$CA"
expect_status "curl download over TLS answers 200" 200
check_eq "  ... and the bytes have the same SHA-256" "$SUM" "$(sha256sum "$RESP_BODY" | cut -c1-64)"
http GET "/v1/checkpoints/$ID/blob" --cacert "$CA" -r 1000-1999
expect_status "a Range request over TLS answers 206" 206
check "  ... with exactly those bytes" cmp -s "$RESP_BODY" <(tail -c +1001 "$F" | head -c 1000)

BIG_MIB=${TLS_BIG_MIB:-300}
BIG=$WORK/big.bin
rand_file "$BIG" $((BIG_MIB << 20))
BIGSUM=$(sha256sum "$BIG" | cut -c1-64)
CURL_MAXTIME=300 upload tls "epoch=2" "$BIG" --cacert "$CA" -H "X-Checkpoint-SHA256: $BIGSUM"
expect_status "a $BIG_MIB MiB upload over TLS answers 201" 201
BIGID=$(jbody .id)
t0=$(date +%s%N)
code=$(curl -sS --max-time 300 --cacert "$CA" -o "$WORK/big.got" -w '%{http_code}' \
    "$BASE/v1/checkpoints/$BIGID/blob" 2>"$CURL_ERR")
t1=$(date +%s%N)
check_eq "a $BIG_MIB MiB download over TLS answers 200" 200 "$code"
check_eq "  ... and its SHA-256 matches (blob responses work without sendfile)" "$BIGSUM" \
    "$(sha256sum "$WORK/big.got" | cut -c1-64)"
diag "$BIG_MIB MiB download over TLS: $(((t1 - t0) / 1000000)) ms"
OFF=$(((BIG_MIB << 20) - 3000000))
code=$(curl -sS --max-time 60 --cacert "$CA" -r "$OFF-$((OFF + 1999999))" -o "$WORK/big.part" \
    -w '%{http_code}' "$BASE/v1/checkpoints/$BIGID/blob" 2>"$CURL_ERR")
check_eq "a 2 MB Range near the end of the large blob over TLS answers 206" 206 "$code"
check "  ... with exactly those bytes" cmp -s "$WORK/big.part" <(tail -c +$((OFF + 1)) "$BIG" | head -c 2000000)
rm -f "$WORK/big.got" "$WORK/big.part" "$BIG"

# ---- concurrent transfers over TLS (uploads are committed on worker threads while their
# connections are suspended: that must work with TLS sessions too)
pids=()
for i in 1 2 3 4 5 6 7 8; do
    rand_file "$WORK/par$i.bin" $((1000000 + i * 77777))
    curl -sS --max-time 60 --cacert "$CA" -T "$WORK/par$i.bin" -o "$WORK/par$i.json" \
        -H "X-Checkpoint-SHA256: $(sha256sum "$WORK/par$i.bin" | cut -c1-64)" \
        "$BASE/v1/runs/par/checkpoints?epoch=$i" 2>/dev/null &
    pids+=($!)
done
wait "${pids[@]}"
good=0
pids=()
for i in 1 2 3 4 5 6 7 8; do
    id=$(jq -r .id <"$WORK/par$i.json" 2>/dev/null)
    curl -sS --max-time 60 --cacert "$CA" -o "$WORK/par$i.got" "$BASE/v1/checkpoints/$id/blob" 2>/dev/null &
    pids+=($!)
done
wait "${pids[@]}"
for i in 1 2 3 4 5 6 7 8; do
    cmp -s "$WORK/par$i.bin" "$WORK/par$i.got" && good=$((good + 1))
done
check_eq "8 concurrent uploads, then 8 concurrent downloads over TLS, all byte for byte" 8 "$good"

# ---- the ckpt CLI
run_ckpt --url "$BASE" --cacert "$CA" -q push cli "$F" --epoch 3
expect_rc "ckpt push --cacert over TLS exits 0" 0
run_ckpt --url "$BASE" --cacert "$CA" -q --json show "$ID"
expect_rc "ckpt show --cacert exits 0" 0
run_ckpt --url "$BASE" --cacert "$CA" -q pull "$ID" -o "$WORK/cli.got"
expect_rc "ckpt pull --cacert over TLS exits 0" 0
check_eq "  ... and the file has the same SHA-256" "$SUM" "$(sha256sum "$WORK/cli.got" 2>/dev/null | cut -c1-64)"
CKPT_CACERT=$CA run_ckpt --url "$BASE" -q push cli "$F" --epoch 4
expect_rc "ckpt push with CKPT_CACERT exits 0" 0
CKPT_CACERT=$CA run_ckpt --url "$BASE" -q pull cli --latest -o "$WORK/cli2.got"
expect_rc "ckpt pull with CKPT_CACERT exits 0" 0
check_eq "  ... and the file has the same SHA-256" "$SUM" "$(sha256sum "$WORK/cli2.got" 2>/dev/null | cut -c1-64)"
run_ckpt --url "$BASE" -q push cli "$F"
expect_rc "ckpt push without the CA fails with exit 4" 4
check "  ... saying the certificate did not verify" grep -q "cannot verify the server's TLS certificate" "$ERR"
check "  ... and how to pass the CA" grep -q -- '--cacert FILE or CKPT_CACERT' "$ERR"
check "  ... without retrying (one attempt, under 3 s)" awk -v s="$SECS" 'BEGIN { exit !(s < 3) }'
check "  ... and without '(after N attempts)'" bash -c "! grep -q 'attempts' '$ERR'"
run_ckpt --url "$BASE" -q pull "$ID" -o "$WORK/cli3.got"
expect_rc "ckpt pull without the CA fails with exit 4" 4
check "  ... and writes no file" test ! -e "$WORK/cli3.got"
run_ckpt --url "$BASE" --cacert "$PKI/otherca.pem" -q runs
expect_rc "ckpt with another CA's certificate fails with exit 4" 4
CKPT_CACERT=$PKI/nope.pem run_ckpt --url "$BASE" -q runs
expect_rc "ckpt with a missing CA file fails with exit 4" 4
check "  ... naming the file" grep -q "nope.pem" "$ERR"
run_ckpt --url "https://localhost:$PORT" --cacert "$CA" -q runs
expect_rc "ckpt verifies the DNS name too (https://localhost)" 0

# ---- the Python binding
. "$HARNESS_ROOT/tests/python/python.sh"
if py_setup; then
    out=$("$PY" - "$BASE" "$CA" "$F" "$SUM" 2>&1 <<'EOF'
import hashlib, os, sys, tempfile
import ckpt
base, ca, path, want = sys.argv[1:5]
res = []
with ckpt.Client(base, ca_file=ca, retries=0) as c:
    info = c.push(path, "py", epoch=1)
    dst = os.path.join(tempfile.mkdtemp(), "got")
    c.download(info.id, path=dst)
    res.append(hashlib.sha256(open(dst, "rb").read()).hexdigest() == want)
os.environ["CKPT_CACERT"] = ca
with ckpt.Client(base, retries=0) as c:
    res.append(len(c.runs()) > 0)
del os.environ["CKPT_CACERT"]
try:
    with ckpt.Client(base, retries=3) as c:
        c.runs()
    res.append(False)
except ckpt.ConnectionError as e:
    res.append("TLS certificate" in str(e))
print(" ".join("yes" if r else "no" for r in res))
EOF
)
    check_eq "python: push/pull with ca_file=, CKPT_CACERT, and ConnectionError without a CA" \
        "yes yes yes" "$(printf '%s\n' "$out" | tail -1)"
    [ "$(printf '%s\n' "$out" | tail -1)" = "yes yes yes" ] || diag "$out"
fi
stop_ckptd "ckptd with TLS exits 0 on SIGTERM"

# ---- tokens over TLS
D=$(new_tmpdir)
TOKEN=$("$CKPTD" token add tlsw --role write --data "$D" 2>/dev/null)
check_match "ckptd token add mints a token" '[^ ]+\.[^ ]+' "$TOKEN"
start_ckptd_on "$D" --tls-cert "$CERT" --tls-key "$KEY" || bail "ckptd starts with TLS and tokens"
http GET /v1/runs --cacert "$CA"
expect_error "without a token over TLS: 401 unauthorized" 401 unauthorized
http GET /v1/runs --cacert "$CA" -H "Authorization: Bearer $TOKEN"
expect_status "with the token over TLS: 200" 200
run_ckpt --url "$BASE" --cacert "$CA" --token "$TOKEN" -q push tok "$F"
expect_rc "ckpt push --token --cacert over TLS exits 0" 0
run_ckpt --url "$BASE" --cacert "$CA" -q runs
expect_rc "ckpt without the token over TLS is refused (exit 2)" 2
stop_ckptd "ckptd with TLS and tokens exits 0 on SIGTERM"

# ---- an ECDSA (P-256) certificate works as well as an RSA one
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -subj "/CN=localhost" \
    -keyout "$PKI/ec.key" -out "$PKI/ec.csr" >/dev/null 2>&1
openssl x509 -req -in "$PKI/ec.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 2 -sha256 -extfile "$PKI/server.ext" -out "$PKI/ec.pem" >/dev/null 2>&1
# A chain file (leaf, then the CA) is accepted too.
cat "$PKI/ec.pem" "$PKI/ca.pem" >"$PKI/ec-chain.pem"
if start_ckptd --tls-cert "$PKI/ec-chain.pem" --tls-key "$PKI/ec.key"; then
    http GET /healthz --cacert "$CA"
    expect_status "an ECDSA certificate chain file: GET /healthz answers 200" 200
    check_match "  ... over TLS 1.2 with ECDHE-ECDSA" 'TLSv1\.2 ECDHE-ECDSA-.*' \
        "$(handshake "$PORT" -tls1_2)"
    stop_ckptd "ckptd with an ECDSA certificate exits 0 on SIGTERM"
else
    fail "ckptd starts with an ECDSA certificate chain"
fi

# ---- a client that connects and never finishes the TLS handshake is cut by the header deadline
if start_ckptd --tls-cert "$CERT" --tls-key "$KEY" --header-timeout 1; then
    t0=$(date +%s%N)
    # Half a ClientHello record header, then silence; read until ckptd closes (at most 8 s).
    timeout 8 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT; printf '\\x16\\x03\\x01' >&3; cat <&3 >/dev/null"
    rc=$?
    t1=$(date +%s%N)
    ms=$(((t1 - t0) / 1000000))
    check "a stalled TLS handshake is closed by --header-timeout 1 (after $ms ms)" \
        test "$rc" = 0 -a "$ms" -lt 6000
    stop_ckptd "ckptd with --header-timeout 1 exits 0 on SIGTERM"
else
    fail "ckptd starts with TLS and --header-timeout 1"
fi
