#!/usr/bin/env python3
"""slowloris.py - slow-header and slow-body attackers against ckptd, for
tests/integration/67_slowloris.sh (the same attacks as slowhttptest -H and -B, with timings).
Standard library only; one thread, non-blocking sockets.

  slowloris.py --port P --mode header|body --src ADDR:CONNS [--src ADDR:CONNS ...]
               [--rate N] [--interval S] [--duration S] [--path PATH]

For each source address it keeps CONNS connections open, opening at most --rate new ones a
second from that address, and reopens a connection as soon as the server closes it, until --duration
seconds have passed. header mode sends a request line and then one more header line every
--interval seconds, never the blank line that ends the head. body mode sends a complete head
with Content-Length: 1000000 for an upload and then 8 body bytes every --interval seconds.

Prints one JSON object: per source, connections opened, closed by the server within 1 s of
connecting (refused: a connection limit), closed later (cut, with the median and maximum
seconds from connect to close), answered (the server sent bytes, with their first status
lines), still open at the end; and the largest number open at once.
"""
import argparse
import errno
import json
import selectors
import socket
import statistics
import time

REFUSED_WITHIN = 1.0


class Attacker:
    def __init__(self, sel, src, want, mode, port, path, interval):
        self.sel, self.src, self.want, self.mode = sel, src, want, mode
        self.port, self.path, self.interval = port, path, interval
        self.open = {}  # sock -> [connected_at, next_send_at, phase]
        self.opened = self.refused = self.answered = 0
        self.cut_after = []
        self.statuses = {}
        self.peak = 0
        self.errors = {}

    def head(self):
        if self.mode == "header":
            return b"GET %s HTTP/1.1\r\nHost: x\r\nUser-Agent: slowloris\r\n" % self.path.encode()
        return (b"PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n"
                b"Content-Type: application/octet-stream\r\n\r\n" % self.path.encode())

    def connect(self, now):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.bind((self.src, 0))
            r = s.connect_ex(("127.0.0.1", self.port))
        except OSError as e:
            self.errors[e.errno] = self.errors.get(e.errno, 0) + 1
            s.close()
            return
        if r not in (0, errno.EINPROGRESS):
            self.errors[r] = self.errors.get(r, 0) + 1
            s.close()
            return
        self.opened += 1
        self.open[s] = [now, now, "connecting"]
        self.sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, self)
        self.peak = max(self.peak, len(self.open))

    def closed_by_server(self, s, now, data=b""):
        t0 = self.open[s][0]
        if data:
            self.answered += 1
            line = data.split(b"\r\n", 1)[0].decode("latin1")[:40]
            self.statuses[line] = self.statuses.get(line, 0) + 1
        elif now - t0 < REFUSED_WITHIN:
            self.refused += 1
        else:
            self.cut_after.append(now - t0)
        self.drop(s)

    def drop(self, s):
        try:
            self.sel.unregister(s)
        except (KeyError, ValueError):
            pass
        s.close()
        del self.open[s]

    def on_event(self, s, mask, now):
        st = self.open.get(s)
        if st is None:
            return
        if mask & selectors.EVENT_READ:
            try:
                data = s.recv(4096)
            except (ConnectionResetError, BrokenPipeError, OSError):
                data = b""
            self.closed_by_server(s, now, data)
            return
        if mask & selectors.EVENT_WRITE and st[2] == "connecting":
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self.errors[err] = self.errors.get(err, 0) + 1
                self.opened -= 1
                self.drop(s)
                return
            st[2] = "sending"
            self.sel.modify(s, selectors.EVENT_READ, self)
            self.send(s, self.head(), now)
            st[1] = now + self.interval

    def send(self, s, data, now):
        try:
            s.send(data)
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.closed_by_server(s, now)

    def tick(self, now):
        for s, st in list(self.open.items()):
            if st[2] == "sending" and now >= st[1]:
                st[1] = now + self.interval
                self.send(s, b"X-Slow-%d: x\r\n" % int(now * 1000) if self.mode == "header" else b"abcdefgh", now)

    def close_all(self):
        still = len(self.open)
        for s in list(self.open):
            self.drop(s)
        return still

    def summary(self, still):
        cut = sorted(self.cut_after)
        return {
            "src": self.src, "mode": self.mode, "target": self.want, "opened": self.opened,
            "refused": self.refused, "cut": len(cut),
            "cut_median_s": round(statistics.median(cut), 2) if cut else None,
            "cut_max_s": round(cut[-1], 2) if cut else None,
            "answered": self.answered, "answers": self.statuses, "open_at_end": still,
            "peak_open": self.peak, "connect_errors": {errno.errorcode.get(k, str(k)): v for k, v in self.errors.items()},
        }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--mode", choices=("header", "body"), required=True)
    ap.add_argument("--src", action="append", required=True, help="ADDR:CONNS")
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--path", default=None)
    a = ap.parse_args()
    path = a.path or ("/v1/runs" if a.mode == "header" else "/v1/runs/slowloris/checkpoints")
    sel = selectors.DefaultSelector()
    attackers = []
    for spec in a.src:
        addr, _, n = spec.partition(":")
        attackers.append(Attacker(sel, addr, int(n or 100), a.mode, a.port, path, a.interval))
    start = time.time()
    end = start + a.duration
    budget = [0.0] * len(attackers)  # each source opens up to --rate connections a second
    last = start
    while True:
        now = time.time()
        if now >= end:
            break
        for i, at in enumerate(attackers):
            budget[i] = min(budget[i] + (now - last) * a.rate, a.rate)
            while budget[i] >= 1 and len(at.open) < at.want:
                at.connect(now)
                budget[i] -= 1
        last = now
        for key, mask in sel.select(timeout=0.05):
            key.data.on_event(key.fileobj, mask, time.time())
        now = time.time()
        for at in attackers:
            at.tick(now)
    out = [at.summary(at.close_all()) for at in attackers]
    print(json.dumps({"mode": a.mode, "duration_s": round(time.time() - start, 1), "sources": out}))


if __name__ == "__main__":
    main()
