#!/usr/bin/env bash
# Regression: with libmicrohttpd 0.9.75 in epoll mode, a client that sent a complete chunk and
# closed at once (data and FIN in one read) was never noticed: the upload stayed in flight, its
# temp file in DATA/tmp, until shutdown. ckptd now uses poll mode. Each way of hanging up must
# abort the upload promptly and leave nothing.
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary
start_ckptd || bail "ckptd starts"
python3 - "$PORT" <<'PY'
import socket, struct, sys, time
port = int(sys.argv[1])
for mode in ["close", "rst", "close-nowait-100", "rst-nowait-100", "close-mid-chunk"]:
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"PUT /v1/runs/hangup/checkpoints HTTP/1.1\r\nHost: t\r\n"
              b"Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n")
    if "nowait" not in mode:
        s.recv(100)
    s.sendall(b"5\r\nhel" if mode == "close-mid-chunk" else b"1\r\nx\r\n")
    if mode.startswith("rst"):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
PY
check "every hung-up upload is aborted within 3 s and leaves no temp file" wait_for 3 tmp_is_empty
check_eq "none of them is committed" 0 "$(run_count hangup)"
# (an RST may beat the headers, so not every hang-up becomes a request to log)
check "ckptd is still running" is_alive "$CKPTD_PID"
stop_ckptd
