#!/usr/bin/env bash
# Connections are accepted by ckptd's accept thread and handed to libmicrohttpd's thread pool
# (server.c acceptor). The documented limits still hold through that path: 200 connections per
# client address, further ones from it refused at once while other addresses are served; a
# refused client can connect again once one of its connections closes; 64 keep-alive connections
# opened at once are all served; after SIGTERM new connections fail at once; and a daemon out of
# file descriptors keeps the connections it cannot take in the backlog, says so, and serves them
# once others close.
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

start_ckptd || bail "ckptd starts"
PORT=${BASE##*:}

# conns.py PORT: drives the connection checks and prints one "name value" line per figure.
cat >"$WORK/conns.py" <<'PYEOF'
import socket, sys, time

port = int(sys.argv[1])


def connect(src="127.0.0.1"):
    s = socket.socket()
    s.settimeout(5)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def answers(s):
    """Whether the connection answers a GET /healthz with 200 (keep-alive)."""
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                return False
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        while len(body) < length:
            chunk = s.recv(4096)
            if not chunk:
                return False
            body += chunk
        return head.startswith(b"HTTP/1.1 200")
    except OSError:
        return False


# 200 connections from 127.0.0.1, each answering.
held = [connect() for _ in range(200)]
print("held_answer", sum(answers(s) for s in held))
# The 201st is closed by the server without an answer.
extra = connect()
print("extra_answers", int(answers(extra)))
extra.close()
# Another address is served meanwhile.
other = connect("127.0.0.2")
print("other_answers", int(answers(other)))
other.close()
# One of the 200 closes: a new connection from 127.0.0.1 is served again (the server counts the
# close when it notices it, so allow it a moment).
held.pop().close()
ok = 0
for _ in range(50):
    s = connect()
    if answers(s):
        ok = 1
        s.close()
        break
    s.close()
    time.sleep(0.1)
print("after_close_answers", ok)
for s in held:
    s.close()

# 64 connections opened at once, then each asked 20 times in turn: every answer arrives. (From
# another address: the server may not have seen all of the 200 above close yet.)
burst = [connect("127.0.0.3") for _ in range(64)]
print("burst_answers", sum(answers(s) for _ in range(20) for s in burst))
for s in burst:
    s.close()
PYEOF

"$PY" "$WORK/conns.py" "$PORT" >"$WORK/conns.out" 2>"$WORK/conns.err" ||
    bail "the connection script runs" "$(head -c 400 "$WORK/conns.err")"
fig()
{
    awk -v n="$1" '$1 == n { print $2 }' "$WORK/conns.out"
}
check_eq "200 connections from one address are all served" 200 "$(fig held_answer)"
check_eq "the 201st connection from that address is refused without an answer" 0 \
    "$(fig extra_answers)"
check_eq "another address is served while the first is at its limit" 1 "$(fig other_answers)"
check_eq "after one of the 200 closes, the address is served again" 1 "$(fig after_close_answers)"
check_eq "64 connections opened at once: all 1280 requests answered" 1280 "$(fig burst_answers)"
http GET /healthz
check_eq "the daemon still answers afterwards" 200 "$STATUS"

# After SIGTERM, the listening socket is closed: a new connection fails at once.
signal_ckptd TERM
await_ckptd_exit "ckptd exits 0 on SIGTERM"
T0=$(date +%s%N)
"$PY" -c "
import socket, sys
s = socket.socket(); s.settimeout(5)
try:
    s.connect(('127.0.0.1', $PORT)); sys.exit(1)
except ConnectionRefusedError:
    sys.exit(0)
" && refused=yes || refused=no
check_eq "a connection after the stop is refused" yes "$refused"
check "and refused within 1 s" [ $(( ($(date +%s%N) - T0) / 1000000 )) -lt 1000 ]

# Out of file descriptors: with a limit of 64, the daemon's own files take about 30 and the rest
# go to connections. Connections past that wait in the backlog while the accept thread retries
# (and logs why); once the answered ones close, the waiting ones are served too.
cat >"$WORK/fdlimit.py" <<'PYEOF'
import os, select, socket, sys, time

port = int(sys.argv[1])
conns = []
for _ in range(60):
    s = socket.socket()
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # kept alive: it holds its fd
    conns.append(s)


def answered(socks, secs):
    """The sockets whose answer starts with a 200 status within secs."""
    done, end = [], time.monotonic() + secs
    while socks and time.monotonic() < end:
        ready, _, _ = select.select(socks, [], [], max(0, end - time.monotonic()))
        for s in ready:
            socks.remove(s)
            if s.recv(64).startswith(b"HTTP/1.1 200"):
                done.append(s)
    return done


first = answered(list(conns), 3)
print("first", len(first))


def cpu_ms(pid):
    f = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) * 1000 // os.sysconf("SC_CLK_TCK")


# While connections wait, the daemon retries, it does not spin.
c0 = cpu_ms(sys.argv[2])
time.sleep(1)
print("waiting_cpu_ms", cpu_ms(sys.argv[2]) - c0)
# Close what was served, and each time the next ones get in.
rest, served, batch = [s for s in conns if s not in first], 0, first
while rest and batch:
    for s in batch:
        s.close()
    batch = answered(list(rest), 10)
    rest = [s for s in rest if s not in batch]
    served += len(batch)
print("rest", served)
PYEOF
CKPTD_WRAPPER="prlimit --nofile=64:64" start_ckptd || bail "ckptd starts with 64 file descriptors"
"$PY" "$WORK/fdlimit.py" "$PORT" "$CKPTD_PID" >"$WORK/fd.out" 2>"$WORK/fd.err" ||
    bail "the descriptor-limit script runs" "$(head -c 400 "$WORK/fd.err")"
FIRST=$(awk '$1 == "first" { print $2 }' "$WORK/fd.out")
check_match "out of descriptors, some of 60 connections are served at once (got $FIRST)" \
    '[1-9][0-9]?' "$FIRST"
check "and not all of them: the others wait" [ "${FIRST:-60}" -lt 60 ]
WAIT_CPU=$(awk '$1 == "waiting_cpu_ms" { print $2 }' "$WORK/fd.out")
check "while they wait, the daemon uses under 200 ms of CPU a second (used $WAIT_CPU)" \
    [ "${WAIT_CPU:-1000}" -lt 200 ]
check_eq "the waiting connections are served as the served ones close" $((60 - ${FIRST:-0})) \
    "$(awk '$1 == "rest" { print $2 }' "$WORK/fd.out")"
check_match "the log says why connections wait" \
    '.*cannot accept a connection: Too many open files.*' "$(tr '\n' ' ' <"$CKPTD_ERR")"
http GET /healthz
check_eq "the daemon answers afterwards" 200 "$STATUS"
stop_ckptd

harness_exit
