#!/usr/bin/env python3
"""soak_load.py - load generators and the final check for tests/integration/68_soak.sh.
Standard library only.

  soak_load.py upload --port P --threads 64 --seconds S --acked FILE [--src ADDR] [--runs 8]
      Each thread keeps one keep-alive connection (reopened after an error) and uploads random
      blobs of 1 KiB..64 KiB (one in 50 is 1 MiB; one in 8 is sent chunked) to run
      soak-(thread % runs) with the digest in X-Checkpoint-SHA256, for S seconds. A 201 must
      carry the same sha256 and size; every 10th upload the thread downloads one of its own
      earlier checkpoints and compares the bytes' digest. Every acknowledged upload is
      appended to FILE as `ID SHA256 SIZE`. Prints a JSON summary.

  soak_load.py query --port P --conns 256 --seconds S --src ADDR[,ADDR...] --path PATH ...
      A stand-in for wrk: CONNS keep-alive connections (spread over the source addresses)
      request the paths in turn for S seconds. Every answer must be 200. Prints a JSON summary.

  soak_load.py verify --port P --acked FILE [--sample N]
      Downloads N acknowledged checkpoints (all of them if fewer; the first and last 32 always)
      and compares each one's bytes with the digest and size acknowledged; also checks the
      metadata and that the daemon lists exactly as many soak-* checkpoints as were
      acknowledged. Prints a JSON summary.
"""
import argparse
import hashlib
import http.client
import json
import os
import random
import selectors
import socket
import sys
import threading
import time


# Generous: the soak's 2-CPU machine is shared, and a 201 missed by a client timeout would
# leave a stored checkpoint nobody acknowledged.
def connection(port, src, timeout=120):
    return http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                      source_address=(src, 0) if src else None)


def percentile(values, p):
    if not values:
        return None
    v = sorted(values)
    return round(v[min(len(v) - 1, int(len(v) * p))], 4)


# ------------------------------------------------------------------ upload


class Uploader(threading.Thread):
    def __init__(self, n, args, deadline, acked, lock):
        super().__init__(daemon=True)
        self.n, self.args, self.deadline, self.acked, self.lock = n, args, deadline, acked, lock
        self.rng = random.Random(n * 7919 + int(time.time()))
        self.ok = self.errors = self.mismatches = self.verified = self.bytes = 0
        self.error_kinds = {}
        self.latencies = []
        self.mine = []
        self.conn = None

    def error(self, kind):
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1
        if self.conn:
            self.conn.close()
        self.conn = None

    def request(self, method, path, body=None, headers=None, chunked=False):
        if self.conn is None:
            self.conn = connection(self.args.port, self.args.src)
        if chunked:
            self.conn.request(method, path, body=iter([body[i:i + 16384] for i in range(0, len(body), 16384)]),
                              headers=headers or {}, encode_chunked=True)
        else:
            self.conn.request(method, path, body=body, headers=headers or {})
        r = self.conn.getresponse()
        data = r.read()
        if r.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        return r.status, data

    def run(self):
        i = 0
        run = "soak-%d" % (self.n % self.args.runs)
        while time.time() < self.deadline:
            i += 1
            size = 1 << 20 if self.rng.random() < 0.02 else self.rng.randint(1024, 65536)
            blob = os.urandom(size)
            sha = hashlib.sha256(blob).hexdigest()
            chunked = self.rng.random() < 0.125
            path = "/v1/runs/%s/checkpoints?epoch=%d&step=%d&loss=%.6f&metric.acc=%.4f" % (
                run, i, self.n * 1000000 + i, self.rng.random(), self.rng.random())
            headers = {"X-Checkpoint-SHA256": sha, "Content-Type": "application/octet-stream"}
            t0 = time.time()
            try:
                st, data = self.request("PUT", path, blob, headers, chunked)
            except (OSError, http.client.HTTPException) as e:
                self.error("upload: " + type(e).__name__)
                continue
            self.latencies.append(time.time() - t0)
            if st != 201:
                self.error("upload: HTTP %d %s" % (st, data[:80].decode("latin1")))
                continue
            try:
                j = json.loads(data)
            except ValueError:
                self.error("upload: 201 without JSON")
                continue
            if j.get("sha256") != sha or j.get("size") != size:
                self.mismatches += 1
                self.error("upload: acknowledged digest or size differs")
                continue
            self.ok += 1
            self.bytes += size
            self.mine.append((j["id"], sha, size))
            with self.lock:
                self.acked.write("%d %s %d\n" % (j["id"], sha, size))
            if i % 10 == 0:
                cid, csha, csize = self.rng.choice(self.mine)
                try:
                    st, data = self.request("GET", "/v1/checkpoints/%d/blob" % cid)
                except (OSError, http.client.HTTPException) as e:
                    self.error("download: " + type(e).__name__)
                    continue
                if st != 200:
                    self.error("download: HTTP %d" % st)
                elif len(data) != csize or hashlib.sha256(data).hexdigest() != csha:
                    self.mismatches += 1
                    self.error("download: bytes differ from the acknowledged digest")
                else:
                    self.verified += 1
        if self.conn:
            self.conn.close()


def cmd_upload(a):
    lock = threading.Lock()
    deadline = time.time() + a.seconds
    t0 = time.time()
    with open(a.acked, "a", buffering=1) as acked:
        threads = [Uploader(n, a, deadline, acked, lock) for n in range(a.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(a.seconds + 120)
    lat = [x for t in threads for x in t.latencies]
    kinds = {}
    for t in threads:
        for k, v in t.error_kinds.items():
            kinds[k] = kinds.get(k, 0) + v
    print(json.dumps({
        "threads": a.threads, "seconds": round(time.time() - t0, 1),
        "uploads_ok": sum(t.ok for t in threads), "errors": sum(t.errors for t in threads),
        "digest_mismatches": sum(t.mismatches for t in threads),
        "downloads_verified": sum(t.verified for t in threads),
        "bytes": sum(t.bytes for t in threads),
        "upload_latency_p50_s": percentile(lat, 0.5), "upload_latency_p99_s": percentile(lat, 0.99),
        "upload_latency_max_s": percentile(lat, 1.0), "error_kinds": kinds,
        "threads_alive": sum(t.is_alive() for t in threads),
    }))


# ------------------------------------------------------------------ query


class QConn:
    def __init__(self, sel, port, src, paths, idx):
        self.sel, self.port, self.src, self.paths, self.i = sel, port, src, paths, idx
        self.sock = None
        self.ok = self.bad = self.errors = 0
        self.statuses = {}
        self.open()

    def open(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((self.src, 0))
        s.settimeout(10)
        s.connect(("127.0.0.1", self.port))
        s.setblocking(False)
        self.sock = s
        self.sel.register(s, selectors.EVENT_READ, self)
        self.send()

    def send(self):
        self.i += 1
        path = self.paths[self.i % len(self.paths)]
        self.buf = b""
        self.need = None
        self.sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())

    def reopen(self):
        self.errors += 1
        try:
            self.sel.unregister(self.sock)
        except (KeyError, ValueError):
            pass
        self.sock.close()
        self.open()

    def on_read(self):
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.reopen()
            return
        self.buf += data
        if self.need is None and b"\r\n\r\n" in self.buf:
            head, _, rest = self.buf.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            self.status = int(lines[0].split(b" ")[1])
            cl = 0
            for ln in lines[1:]:
                k, _, v = ln.partition(b":")
                if k.strip().lower() == b"content-length":
                    cl = int(v.strip())
            self.need = cl
            self.buf = rest
        if self.need is not None and len(self.buf) >= self.need:
            self.statuses[self.status] = self.statuses.get(self.status, 0) + 1
            if self.status == 200:
                self.ok += 1
            else:
                self.bad += 1
            self.send()

    def close(self):
        self.sel.unregister(self.sock)
        self.sock.close()


def cmd_query(a):
    sel = selectors.DefaultSelector()
    srcs = a.src.split(",")
    conns = [QConn(sel, a.port, srcs[i % len(srcs)], a.path, i) for i in range(a.conns)]
    t0 = time.time()
    end = t0 + a.seconds
    while time.time() < end:
        for key, _ in sel.select(timeout=0.2):
            try:
                key.data.on_read()
            except OSError:
                key.data.reopen()
    for c in conns:
        c.close()
    statuses = {}
    for c in conns:
        for k, v in c.statuses.items():
            statuses[str(k)] = statuses.get(str(k), 0) + v
    el = time.time() - t0
    done = sum(c.ok + c.bad for c in conns)
    print(json.dumps({"conns": a.conns, "seconds": round(el, 1), "requests": done,
                      "requests_per_s": round(done / el, 1), "non_200": sum(c.bad for c in conns),
                      "socket_errors": sum(c.errors for c in conns), "statuses": statuses}))


# ------------------------------------------------------------------ verify


def cmd_verify(a):
    rows = []
    with open(a.acked) as f:
        for line in f:
            p = line.split()
            if len(p) == 3:
                rows.append((int(p[0]), p[1], int(p[2])))
    rows.sort()
    pick = rows
    if len(rows) > a.sample:
        keep = rows[:32] + rows[-32:]
        rest = rows[32:-32]
        pick = keep + random.sample(rest, max(0, a.sample - len(keep)))
    conn = connection(a.port, None)
    bad = []
    for cid, sha, size in pick:
        conn.request("GET", "/v1/checkpoints/%d/blob" % cid)
        r = conn.getresponse()
        data = r.read()
        if r.status != 200 or len(data) != size or hashlib.sha256(data).hexdigest() != sha:
            bad.append("blob %d: HTTP %d, %d bytes" % (cid, r.status, len(data)))
            continue
        conn.request("GET", "/v1/checkpoints/%d" % cid)
        r = conn.getresponse()
        meta = json.loads(r.read() or b"{}")
        if r.status != 200 or meta.get("sha256") != sha or meta.get("size") != size or meta.get("corrupt"):
            bad.append("metadata %d: HTTP %d %s" % (cid, r.status, meta))
    conn.request("GET", "/v1/runs")
    r = conn.getresponse()
    listed = sum(x["checkpoints"] for x in json.loads(r.read())["runs"] if x["run"].startswith("soak-"))
    print(json.dumps({"acknowledged": len(rows), "checked": len(pick), "bad": len(bad), "bad_examples": bad[:5],
                      "listed_soak_checkpoints": listed, "unique_ids": len(set(r[0] for r in rows))}))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("upload")
    u.add_argument("--port", type=int, required=True)
    u.add_argument("--threads", type=int, default=64)
    u.add_argument("--seconds", type=float, required=True)
    u.add_argument("--acked", required=True)
    u.add_argument("--src")
    u.add_argument("--runs", type=int, default=8)
    q = sub.add_parser("query")
    q.add_argument("--port", type=int, required=True)
    q.add_argument("--conns", type=int, default=256)
    q.add_argument("--seconds", type=float, required=True)
    q.add_argument("--src", default="127.0.0.3,127.0.0.4")
    q.add_argument("--path", action="append", required=True)
    v = sub.add_parser("verify")
    v.add_argument("--port", type=int, required=True)
    v.add_argument("--acked", required=True)
    v.add_argument("--sample", type=int, default=400)
    a = ap.parse_args()
    {"upload": cmd_upload, "query": cmd_query, "verify": cmd_verify}[a.cmd](a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
