# shellcheck shell=bash
# A throwaway PKI for the TLS tests (tests/integration/12*_*.sh), made with openssl at test
# time: make_test_pki DIR creates in DIR
#   ca.pem/ca.key            a self-signed CA
#   otherca.pem/otherca.key  an unrelated CA
#   server.pem/server.key    a server certificate signed by ca for IP:127.0.0.1 and DNS:localhost
#   server.ext               the extensions used for it (for more server certificates)
# Returns 1 when openssl failed.

# make_test_ca DIR NAME: a self-signed CA DIR/NAME.pem with its key DIR/NAME.key.
make_test_ca()
{
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 -subj "/CN=ckpt test $2" \
        -keyout "$1/$2.key" -out "$1/$2.pem" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
        >/dev/null 2>&1
}

make_test_pki()
{
    local d=$1
    mkdir -p "$d"
    make_test_ca "$d" ca || return 1
    make_test_ca "$d" otherca || return 1
    openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=localhost" \
        -keyout "$d/server.key" -out "$d/server.csr" >/dev/null 2>&1 || return 1
    cat >"$d/server.ext" <<'EXT'
subjectAltName = IP:127.0.0.1, DNS:localhost
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
EXT
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
        -days 2 -sha256 -extfile "$d/server.ext" -out "$d/server.pem" >/dev/null 2>&1
}
