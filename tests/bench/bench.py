#!/usr/bin/env python3
"""bench.py - `make bench`: ckptd's speed and memory next to nginx and the machine's limits.

Started by tests/bench/run.sh, which builds the load program first. Every comparison
alternates the contenders (A, B, A, B, ...) in one run: one warm-up round, then RUNS
counted rounds; the table gives medians, min-max spread and the ckptd/peer ratio taken
pair by pair, round by round. Ratios are the figures we track. Loopback only.

Environment: BENCH_RUNS (counted rounds, default 5), BENCH_QUICK=1 (small sizes, for
working on this script; its results are not comparable), BENCH_BUDGET (seconds, default
540: optional scenarios are skipped, and said so, when they would not fit),
BENCH_DISK_DIR (a directory on the real disk, default /var/tmp), BENCH_TMPFS_DIR
(default /dev/shm), KEEP=1 (keep the work directories).
"""

import datetime
import hashlib
import json
import os
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
T0 = time.monotonic()


def cpu_jiffies():
    """(busy, steal) jiffies of the whole machine from /proc/stat: user+nice+system, steal."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[0] + v[1] + v[2], v[7] if len(v) > 7 else 0


CPU0 = cpu_jiffies()
LOAD0 = os.getloadavg()

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build"))
LOAD = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else None
CKPTD = os.path.join(BUILD, "ckptd")
CKPT = os.path.join(BUILD, "ckpt")
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
QUICK = os.environ.get("BENCH_QUICK") == "1"
BUDGET = float(os.environ.get("BENCH_BUDGET", "540"))
NO_CACHE = ("--query-cache", "0")
RESULTS = os.path.join(ROOT, "tests", "bench", "results")

SAME_HASHING = "%s + `openssl dgst` alongside"
VERIFY_SLACK_S = 1.2  # daemon/ckpt_limits.h VERIFY_CTIME_SLACK_MS, and a margin
NOTES = []  # said under the table: scaling, fall-backs, skips, method
ROWS = []  # (section, Row)


def log(msg):
    print("[%6.1fs] %s" % (time.monotonic() - T0, msg), file=sys.stderr, flush=True)


def note(msg):
    if msg not in NOTES:
        NOTES.append(msg)
    log("note: " + msg)


def elapsed():
    return time.monotonic() - T0


class BenchError(Exception):
    pass


# ------------------------------------------------------------------ processes


def run(cmd, timeout=300, check=True, **kw):
    """Run cmd, return its CompletedProcess (text); raise BenchError if it fails."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise BenchError("%s exited %d: %s" % (" ".join(cmd), p.returncode, p.stderr.strip()[-400:]))
    return p


def timed(cmd, timeout=300):
    """Wall seconds taken by cmd, and its CompletedProcess."""
    t = time.monotonic()
    p = run(cmd, timeout=timeout)
    return time.monotonic() - t, p


def http(method, url, body=None):
    req = urllib.request.Request(url, data=body, method=method)
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.status, r.read()


def fsync_path(path):
    """fsync a file and its directory, as ckptd does for a committed blob."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    fd = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def proc_cpu(pid):
    """CPU seconds (user + system, all threads) used so far by pid and its child processes
    (nginx's workers); 0 for a process that is gone."""
    hz = os.sysconf("SC_CLK_TCK")
    try:
        with open("/proc/%d/stat" % pid) as f:
            v = f.read().rsplit(")", 1)[1].split()
        total = (int(v[11]) + int(v[12])) / hz
        kids = []
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, t)) as f:
                kids += [int(x) for x in f.read().split()]
    except OSError:
        return 0.0
    return total + sum(proc_cpu(k) for k in kids)


def cpu_of(server, fn):
    """Run fn(); return (its result, CPU seconds the server used meanwhile)."""
    c0 = proc_cpu(server.proc.pid)
    r = fn()
    return r, proc_cpu(server.proc.pid) - c0


def machine_cpu_of(fn):
    """Run fn(); return (its result, CPU seconds the whole machine was busy meanwhile:
    clients, servers and the kernel's work on their behalf)."""
    c0 = cpu_jiffies()[0]
    r = fn()
    return r, (cpu_jiffies()[0] - c0) / os.sysconf("SC_CLK_TCK")


def hashing_alongside(paths, fn):
    """Run fn() while `openssl dgst -sha256` hashes each of paths, one process per file;
    return fn's result once all are done. This gives a peer that does not hash the
    same hashing work, on the same cores, at the same time."""
    procs = [subprocess.Popen(["openssl", "dgst", "-sha256", p], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE) for p in paths]
    try:
        r = fn()
    finally:
        errs = [p.communicate()[1] for p in procs]
    if any(p.returncode for p in procs):
        raise BenchError("openssl dgst failed: %r" % errs)
    return r


class Ckptd:
    """One ckptd on a free loopback port; startup = seconds from exec to the ready line."""

    every = []  # all started, to tell a daemon that died from one we stopped

    def __init__(self, data, log_path, args=()):
        self.data = data
        self.log_path = log_path
        self.stopped = False
        self.err = open(log_path, "ab")
        t = time.monotonic()
        self.proc = subprocess.Popen([CKPTD, "--listen", "127.0.0.1:0", "--data", data] +
                                     list(args), stdout=subprocess.PIPE, stderr=self.err)
        Ckptd.every.append(self)
        ready, _, _ = select.select([self.proc.stdout], [], [], 60)
        line = self.proc.stdout.readline().decode() if ready else ""
        self.startup = time.monotonic() - t
        m = re.match(r"ckptd listening on (http://\S+) ", line)
        if not m:
            self.stop()
            raise BenchError("ckptd did not start on %s (see %s): %r" % (data, log_path, line))
        self.url = m.group(1)
        self.pid = self.proc.pid

    def upload(self, path, run="bench"):
        secs, p = timed(["curl", "-sS", "-f", "-T", path,
                         self.url + "/v1/runs/%s/checkpoints?epoch=1&loss=0.5" % run])
        return secs, json.loads(p.stdout)["id"]

    def delete(self, cid):
        http("DELETE", "%s/v1/checkpoints/%d" % (self.url, cid))

    def died(self):
        return not self.stopped and self.proc.poll() is not None

    def stop(self):
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()


class Nginx:
    """nginx-light from a generated config: /tmpfs/... and /disk/... on the two data dirs."""

    def __init__(self, prefix, tmpfs_root, disk_root):
        self.prefix = prefix
        for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(prefix, d), exist_ok=True)
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        with open(os.path.join(ROOT, "tests", "bench", "nginx.conf.in")) as f:
            conf = f.read()
        conf = (conf.replace("@USER@", "user root;" if os.geteuid() == 0 else "")
                .replace("@PREFIX@", prefix).replace("@PORT@", str(self.port))
                .replace("@TMPFS_ROOT@", tmpfs_root).replace("@DISK_ROOT@", disk_root))
        self.conf = os.path.join(prefix, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.proc = subprocess.Popen(["nginx", "-p", prefix, "-c", self.conf,
                                      "-e", os.path.join(prefix, "error.log")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = "http://127.0.0.1:%d" % self.port
        self.stopped = False
        for _ in range(100):
            try:
                http("GET", self.url + "/tmpfs/")
            except urllib.error.HTTPError:
                return  # 403/404: it answers
            except OSError:
                time.sleep(0.05)
                continue
            return
        raise BenchError("nginx did not start; see %s/error.log" % prefix)

    def died(self):
        return not self.stopped and self.proc.poll() is not None

    def stop(self):
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ------------------------------------------------------------------ statistics and rows


def alternate(variants, runs=RUNS, warmup=1, between=None):
    """Call each variant in turn, round after round; a variant returns {key: value}.
    The first `warmup` rounds are thrown away. Returns {key: [value per counted round]}."""
    out = {}
    for r in range(warmup + runs):
        for fn in variants:
            vals = fn(r)
            if r >= warmup:
                for k, v in vals.items():
                    out.setdefault(k, []).append(v)
        if between:
            between(r)
    return out


def fmt(v):
    if v is None:
        return "—"
    a = abs(v)
    if a >= 1000:
        return "{:,.0f}".format(v).replace(",", " ")
    if a >= 100:
        return "%.0f" % v
    if a >= 10:
        return "%.1f" % v
    if a >= 1:
        return "%.2f" % v
    return "%.3f" % v


def spread(vals):
    return "%s (%s–%s)" % (fmt(statistics.median(vals)), fmt(min(vals)), fmt(max(vals)))


class Row:
    """One line of the table. a: ckptd's values per round; b: the peer's, same rounds.
    target: ('ratio', x) means median(a/b) >= x; ('max', x) means median(a) < x;
    ('min', x) means median(a) >= x; None means informational."""

    def __init__(self, scenario, fs, unit, a, b_label=None, b=None, target=None, target_text=""):
        self.scenario, self.fs, self.unit = scenario, fs, unit
        self.a, self.b_label, self.b = a, b_label, b
        self.target, self.target_text = target, target_text
        # A ratio needs a non-zero peer in every round (CPU time comes in 10 ms ticks).
        self.ratios = [x / y for x, y in zip(a, b)] if b and all(b) else None

    def met(self):
        if not self.target:
            return None
        kind, x = self.target
        if kind == "ratio":
            return statistics.median(self.ratios) >= x
        if kind == "max":
            return statistics.median(self.a) < x
        if kind == "ratio_max":
            return statistics.median(self.ratios) <= x
        return statistics.median(self.a) >= x

    def cells(self):
        m = self.met()
        return [self.scenario, self.fs, self.unit, spread(self.a),
                "%s %s" % (self.b_label, spread(self.b)) if self.b else (self.b_label or "—"),
                spread(self.ratios) if self.ratios else "—",
                self.target_text or "—",
                "—" if m is None else ("met" if m else "**MISSED**")]


TMPFS_LABEL = ["tmpfs"]  # "disk (no tmpfs)" when no tmpfs could be had


def add(section, row):
    if row.fs == "tmpfs":
        row.fs = TMPFS_LABEL[0]
    ROWS.append((section, row))
    c = row.cells()
    log("%s | %s | %s: ckptd %s | %s | ratio %s | %s %s" % (c[0], c[1], c[2], c[3], c[4], c[5],
                                                            c[6], c[7]))


def mbps(nbytes, secs):
    return nbytes / secs / 1e6


# ------------------------------------------------------------------ wrk


def to_ms(num, unit):
    return float(num) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def wrk(url, conns, threads, secs):
    """req/s, mean, p50 and p99 latency (ms) from one wrk run; any non-2xx or socket error fails."""
    p = run(["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % secs, "--latency", url],
            timeout=secs + 60)
    out = p.stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise BenchError("wrk saw errors on %s:\n%s" % (url, out))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    avg = to_ms(*re.search(r"Latency\s+([\d.]+)(us|ms|s)\b", out).groups())
    p50 = to_ms(*re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)\b", out, re.M).groups())
    p99 = to_ms(*re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\b", out, re.M).groups())
    return {"rps": rps, "avg": avg, "p50": p50, "p99": p99}


def load(args, timeout=120):
    """Run the load program; return its key=value line as a dict of floats."""
    p = run([LOAD] + [str(a) for a in args], timeout=timeout, check=False)
    if p.returncode != 0:
        raise BenchError("load %s failed (%d): %s" % (" ".join(map(str, args)), p.returncode,
                                                       p.stderr.strip()[-600:]))
    return {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", p.stdout)}


# ------------------------------------------------------------------ the bench


class Bench:
    def __init__(self):
        self.servers = []
        self.mounted = None
        self.work_dirs = []

    # ---- set-up

    def fs_type(self, path):
        return run(["stat", "-f", "-c", "%T", path]).stdout.strip()

    def fs_name(self, path):
        """The file system type as df names it (stat -f says ext2/ext3 for ext4)."""
        return run(["df", "--output=fstype", path]).stdout.split("\n")[1].strip()

    def free_bytes(self, path):
        st = os.statvfs(path)
        return st.f_bavail * st.f_frsize

    def mem_available(self):
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * KiB
        return 0

    def setup_dirs(self):
        self.binsum = binary_sum()
        # The commit under test is the one checked out when the run starts.
        self.commit = run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                          check=False).stdout.strip()
        self.dirty = run(["git", "-C", ROOT, "status", "--porcelain", "-uno"],
                         check=False).stdout.strip()
        disk_parent = os.environ.get("BENCH_DISK_DIR", "/var/tmp")
        if self.fs_type(disk_parent) in ("tmpfs", "ramfs"):
            note("%s is %s, not a disk: disk rows measure memory" % (disk_parent,
                                                                     self.fs_type(disk_parent)))
        self.disk = tempfile.mkdtemp(prefix="ckpt-bench.", dir=disk_parent)
        self.work_dirs.append(self.disk)
        self.size = 64 * MiB if QUICK else GiB
        self.rss_size = 320 * MiB if QUICK else 5 * GiB
        # tmpfs holds: the source, its 16 slices, ckptd's and nginx's copies, a pulled copy.
        need = 5 * self.size + GiB
        tmpfs_parent = os.environ.get("BENCH_TMPFS_DIR", "/dev/shm")
        self.tmpfs = None
        if (os.path.isdir(tmpfs_parent) and self.fs_type(tmpfs_parent) == "tmpfs"
                and self.free_bytes(tmpfs_parent) > need):
            self.tmpfs = tempfile.mkdtemp(prefix="ckpt-bench.", dir=tmpfs_parent)
            self.work_dirs.append(self.tmpfs)
        elif os.geteuid() == 0:
            mnt = tempfile.mkdtemp(prefix="ckpt-bench-tmpfs.", dir="/tmp")
            gb = max(2, (need + self.rss_size) // GiB + 1)
            r = run(["mount", "-t", "tmpfs", "-o", "size=%dG" % gb, "tmpfs", mnt], check=False)
            if r.returncode == 0:
                self.mounted = mnt
                self.tmpfs = mnt
                note("%s is not a usable tmpfs; mounted a %d GiB tmpfs at %s" % (tmpfs_parent, gb,
                                                                                   mnt))
            else:
                os.rmdir(mnt)
        if not self.tmpfs:
            self.tmpfs = tempfile.mkdtemp(prefix="ckpt-bench-tmpfs.", dir=disk_parent)
            self.work_dirs.append(self.tmpfs)
            TMPFS_LABEL[0] = "disk (no tmpfs)"
            note("no tmpfs available: the rows marked 'disk (no tmpfs)' ran on the disk (%s) "
                 "instead" % self.tmpfs)
        # Scale down when memory or space is short, and say so.
        room = min(self.free_bytes(self.tmpfs), self.mem_available())
        while self.size > 64 * MiB and 5 * self.size + GiB > room:
            self.size //= 2
        if self.size < GiB and not QUICK:
            note("memory/tmpfs short (%.1f GiB usable): large transfers scaled to %d MiB"
                 % (room / GiB, self.size // MiB))
        while self.rss_size > 256 * MiB and 2 * self.size + self.rss_size + GiB > room:
            self.rss_size //= 2
        if self.rss_size < 5 * GiB and not QUICK:
            note("the peak-RSS upload is scaled to %d MiB (memory/tmpfs short)"
                 % (self.rss_size // MiB))
        disk_free = self.free_bytes(self.disk)
        self.disk_size = self.size
        while self.disk_size > 64 * MiB and 4 * self.disk_size + GiB > disk_free:
            self.disk_size //= 2
        if self.disk_size < self.size:
            note("disk space short (%.1f GiB free): disk transfers scaled to %d MiB"
                 % (disk_free / GiB, self.disk_size // MiB))
        if QUICK:
            note("BENCH_QUICK=1: sizes scaled down for a quick look; figures not comparable")
        for d in ("src", "ckptd", "nginx", "out"):
            os.makedirs(os.path.join(self.tmpfs, d), exist_ok=True)
        for d in ("ckptd", "nginx", "out"):
            os.makedirs(os.path.join(self.disk, d), exist_ok=True)
        self.logs = os.path.join(self.tmpfs, "logs")
        os.makedirs(self.logs, exist_ok=True)

    def make_sources(self):
        self.src = os.path.join(self.tmpfs, "src", "big.bin")
        run(["openssl", "rand", "-out", self.src, str(self.size)])
        self.par_n = 16
        self.par_size = self.size // self.par_n
        pdir = os.path.join(self.tmpfs, "src", "par")
        os.makedirs(pdir)
        run(["split", "-b", str(self.par_size), "-a", "2", self.src, pdir + "/p"])
        self.par = sorted(os.path.join(pdir, f) for f in os.listdir(pdir))
        log("sources: %d MiB random file, %d slices of %d MiB, on %s"
            % (self.size // MiB, len(self.par), self.par_size // MiB, self.tmpfs))

    def probe_disk(self):
        """A short dd conv=fsync to pick a disk transfer size that fits the time budget."""
        out = os.path.join(self.disk, "probe.bin")
        n = min(256 * MiB, self.disk_size)
        secs, _ = timed(["dd", "if=" + self.src, "of=" + out, "bs=4M", "count=%d" % (n // (4 * MiB)),
                         "conv=fsync", "status=none"])
        os.unlink(out)
        rate = n / secs
        self.disk_rate = rate
        while self.disk_size > 128 * MiB and self.disk_size / rate > 5.0:
            self.disk_size //= 2
        if self.disk_size < self.size:
            note("the disk writes %.0f MB/s: disk transfers scaled to %d MiB to fit 10 minutes"
                 % (rate / 1e6, self.disk_size // MiB))
        self.disk_src = self.src
        if self.disk_size < self.size:
            self.disk_src = os.path.join(self.tmpfs, "src", "disk.bin")
            with open(self.src, "rb") as fi, open(self.disk_src, "wb") as fo:
                fo.write(fi.read(self.disk_size))

    def start_servers(self):
        self.ck = {"tmpfs": Ckptd(os.path.join(self.tmpfs, "ckptd"), self.logs + "/ckptd-tmpfs.log"),
                   "disk": Ckptd(os.path.join(self.disk, "ckptd"), self.logs + "/ckptd-disk.log")}
        self.servers += self.ck.values()
        self.ng_root = {"tmpfs": os.path.join(self.tmpfs, "nginx"),
                        "disk": os.path.join(self.disk, "nginx")}
        self.ng = Nginx(os.path.join(self.tmpfs, "nginx-prefix"), self.ng_root["tmpfs"],
                        self.ng_root["disk"])
        self.servers.append(self.ng)
        note("both servers log every request (one unbuffered write per line, to files on the "
             "tmpfs): ckptd its JSON access log, nginx its combined-format access_log")

    def ng_path(self, fs, name):
        return os.path.join(self.ng_root[fs], fs, name)

    def ng_url(self, fs, name):
        return "%s/%s/%s" % (self.ng.url, fs, name)

    # ---- limits

    def limits_rows_init(self):
        self.limit_rows = []

    def limits(self):
        log("limits: SHA-256, loopback TCP")
        p = run(["openssl", "speed", "-evp", "sha256", "-bytes", str(MiB), "-seconds", "2"])
        k = float(re.search(r"^sha256\s+([\d.]+)k", p.stdout, re.M).group(1))
        self.sha_speed = k * 1000 / 1e6
        rx = ("import socket,sys,time\n"
              "s=socket.socket();s.bind(('127.0.0.1',0));s.listen(1)\n"
              "print(s.getsockname()[1],flush=True)\n"
              "c,_=s.accept();b=bytearray(1<<20);n=0;t=time.monotonic()\n"
              "while True:\n"
              "  k=c.recv_into(b)\n"
              "  if not k: break\n"
              "  n+=k\n"
              "print(n,time.monotonic()-t)\n")
        tx = ("import socket,sys\n"
              "c=socket.create_connection(('127.0.0.1',int(sys.argv[1])))\n"
              "c.sendfile(open(sys.argv[2],'rb'));c.close()\n")

        def loopback(_r):
            r = subprocess.Popen([sys.executable, "-c", rx], stdout=subprocess.PIPE, text=True)
            port = r.stdout.readline().strip()
            run([sys.executable, "-c", tx, port, self.src])
            n, secs = r.stdout.readline().split()
            r.wait()
            return {"net": mbps(int(n), float(secs))}

        res = alternate([loopback])
        self.net = res["net"]
        self.limit_rows += [
            ("SHA-256, `openssl speed -evp sha256` (1 MiB blocks, one core)", "MB/s",
             fmt(self.sha_speed)),
            ("loopback TCP, sendfile → recv (1 MiB buffer)", "MB/s", spread(self.net)),
        ]

    # ---- scenarios

    def upload_big(self):
        size = self.size
        log("%s upload, tmpfs: ckptd vs nginx PUT vs openssl dgst" % human(size))
        ck = self.ck["tmpfs"]
        dst = self.ng_path("tmpfs", "up.bin")

        def a(_r):
            ((secs, cid), cpu), mcpu = machine_cpu_of(
                lambda: cpu_of(ck, lambda: ck.upload(self.src)))
            ck.delete(cid)
            return {"ckptd": mbps(size, secs), "ckptd_cpu": cpu / (size / GiB),
                    "ckptd_mcpu": mcpu / (size / GiB)}

        def put():
            return timed(["curl", "-sS", "-f", "-o", "/dev/null", "-T", self.src,
                          self.ng_url("tmpfs", "up.bin")])

        def b(_r):
            ((secs, _), cpu), mcpu = machine_cpu_of(lambda: cpu_of(self.ng, put))
            os.unlink(dst)
            return {"nginx": mbps(size, secs), "nginx_cpu": cpu / (size / GiB),
                    "nginx_mcpu": mcpu / (size / GiB)}

        def c(_r):
            secs, _ = timed(["openssl", "dgst", "-sha256", self.src])
            return {"sha": mbps(size, secs)}

        def d(_r):
            t = time.monotonic()
            _, mcpu = machine_cpu_of(lambda: hashing_alongside([self.src], put))
            secs = time.monotonic() - t
            os.unlink(dst)
            return {"nginx_sha": mbps(size, secs), "nginx_sha_mcpu": mcpu / (size / GiB)}

        res = alternate([a, b, c, d])
        self.sha_file = res["sha"]
        self.limit_rows.append(("SHA-256 of the %d MiB file, `openssl dgst -sha256`"
                                   % (size // MiB), "MB/s", spread(res["sha"])))
        label = "%s upload (`curl -T`)" % human(size)
        add("transfer", Row(label, "tmpfs", "MB/s", res["ckptd"], "nginx PUT", res["nginx"],
                            ("ratio", 0.9), "≥ 0.9× nginx"))
        add("transfer", Row(label, "tmpfs", "MB/s", res["ckptd"], "SHA-256 (dgst)", res["sha"],
                            None, "(vs hashing limit)"))
        add("transfer", Row(label + ": server CPU", "tmpfs", "CPU s per GiB", res["ckptd_cpu"],
                            "nginx", res["nginx_cpu"]))
        add("transfer", Row(label, "tmpfs", "MB/s", res["ckptd"], SAME_HASHING % "nginx PUT",
                            res["nginx_sha"], None, "(the same hashing)"))
        note("rows against a peer \"+ `openssl dgst` alongside\" run that peer while `openssl "
             "dgst -sha256` hashes the same file(s), one process per file, on the same cores at "
             "the same time: the peer then does the SHA-256 work ckptd does (and, for `ckpt "
             "push`, the client's), which nginx and curl never do. Where the plain peer is "
             "missed on tmpfs, this row says how much of the gap is the hashing itself. "
             "%sWhole-machine CPU is busy time from /proc/stat over the round (clients, "
             "servers and the kernel's work for them) per GiB moved"
             % ("SHA-256 costs %.2f CPU s per GiB at the `openssl speed` figure above. "
                % (GiB / 1e6 / self.sha_speed) if getattr(self, "sha_speed", None) else ""))
        add("transfer", Row(label + ": whole-machine CPU", "tmpfs", "CPU s per GiB",
                            res["ckptd_mcpu"], "nginx PUT", res["nginx_mcpu"]))
        add("transfer", Row(label + ": whole-machine CPU", "tmpfs", "CPU s per GiB",
                            res["ckptd_mcpu"], SAME_HASHING % "nginx PUT", res["nginx_sha_mcpu"]))

        size = self.disk_size
        src = self.disk_src
        log("%s upload, disk: ckptd vs nginx PUT (+fsync) vs dd conv=fsync" % human(size))
        ck = self.ck["disk"]
        dst = self.ng_path("disk", "up.bin")
        ddout = os.path.join(self.disk, "out", "dd.bin")
        run(["sync"])

        def ad(_r):
            secs, cid = ck.upload(src)
            ck.delete(cid)
            return {"ckptd": mbps(size, secs)}

        def bd(_r):
            t = time.monotonic()
            run(["curl", "-sS", "-f", "-o", "/dev/null", "-T", src, self.ng_url("disk", "up.bin")])
            put = time.monotonic() - t
            fsync_path(dst)
            both = time.monotonic() - t
            os.unlink(dst)
            return {"nginx": mbps(size, put), "nginx_fsync": mbps(size, both)}

        def cd(_r):
            secs, _ = timed(["dd", "if=" + src, "of=" + ddout, "bs=4M", "conv=fsync",
                             "status=none"])
            os.unlink(ddout)
            return {"dd": mbps(size, secs)}

        res = alternate([ad, bd, cd])
        self.disk_dd = res["dd"]
        self.limit_rows.append(("disk write, `dd bs=4M conv=fsync` of %s" % human(size), "MB/s",
                                   spread(res["dd"])))
        sha = statistics.median(self.sha_file)
        floor = [min(sha, d) for d in res["dd"]]
        label = "%s upload (`curl -T`)" % human(size)
        add("transfer", Row(label, "disk", "MB/s", res["ckptd"], "min(SHA-256, disk)", floor,
                            ("ratio", 0.8), "≥ 0.8× min(SHA-256, disk)"))
        add("transfer", Row(label, "disk", "MB/s", res["ckptd"], "nginx PUT + fsync",
                            res["nginx_fsync"]))
        add("transfer", Row(label, "disk", "MB/s", res["ckptd"], "nginx PUT (no fsync)",
                            res["nginx"]))

    def download_big(self):
        for fs in ("tmpfs", "disk"):
            size = self.size if fs == "tmpfs" else self.disk_size
            src = self.src if fs == "tmpfs" else self.disk_src
            log("%s download, %s: ckptd vs nginx GET (sendfile)" % (human(size), fs))
            ck = self.ck[fs]
            _, cid = ck.upload(src)
            uploaded = time.monotonic()
            ngf = self.ng_path(fs, "dl.bin")
            os.makedirs(os.path.dirname(ngf), exist_ok=True)
            shutil.copyfile(src, ngf)
            fsync_path(ngf)
            ckurl = "%s/v1/checkpoints/%d/blob" % (ck.url, cid)
            ngurl = self.ng_url(fs, "dl.bin")
            # ckptd hashes a blob while it sends it until a download (or the scrub) has read
            # it back intact at least VERIFY_CTIME_SLACK_MS after the file last changed; from
            # then on it uses sendfile. Time that first download once, past the slack, so the
            # counted rounds all measure the sendfile path, as nginx's do.
            time.sleep(max(0.0, uploaded + VERIFY_SLACK_S - time.monotonic()))
            first, _ = timed(["curl", "-sS", "-f", "-o", "/dev/null", ckurl])
            time.sleep(0.2)  # a worker thread records the blob as verified

            def get(url, key, server):
                def fn(_r):
                    (secs, _), cpu = cpu_of(server, lambda: timed(
                        ["curl", "-sS", "-f", "-o", "/dev/null", url]))
                    return {key: mbps(size, secs), key + "_cpu": cpu / (size / GiB)}
                return fn

            res = alternate([get(ckurl, "ckptd", ck), get(ngurl, "nginx", self.ng)])
            add("transfer", Row("%s download (`curl -o /dev/null`)" % human(size), fs, "MB/s",
                                res["ckptd"], "nginx GET sendfile", res["nginx"], ("ratio", 0.95),
                                "≥ 0.95× nginx"))
            add("transfer", Row("%s download, the first after the upload (hashed as it is "
                                "sent), once" % human(size), fs, "MB/s", [mbps(size, first)],
                                "nginx GET sendfile", [statistics.median(res["nginx"])]))
            if fs == "tmpfs":
                add("transfer", Row("%s download: server CPU" % human(size), fs,
                                    "CPU s per GiB", res["ckptd_cpu"], "nginx",
                                    res["nginx_cpu"]))
            ck.delete(cid)
            os.unlink(ngf)
        note("downloads from the disk are served from a warm page cache (the blob was just "
             "written), for ckptd and nginx alike. ckptd hashes a blob as it sends it until one "
             "download has read it back intact a second or more after it was written, and "
             "sends it with sendfile from then on: the counted rounds come after that first "
             "download, which is timed once and shown as its own row (against nginx's median)")

    def parallel(self):
        n, each = len(self.par), self.par_size
        for fs in ("tmpfs", "disk"):
            log("%d parallel %s uploads, %s: ckptd vs nginx PUT" % (n, human(each), fs))
            ck = self.ck[fs]
            run(["sync"])

            def a(_r):
                t = time.monotonic()
                c0 = cpu_jiffies()[0]
                procs = [subprocess.Popen(["curl", "-sS", "-f", "-T", p,
                                           ck.url + "/v1/runs/par%d/checkpoints?epoch=1" % i],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                         for i, p in enumerate(self.par)]
                outs = [p.communicate() for p in procs]
                secs = time.monotonic() - t
                mcpu = (cpu_jiffies()[0] - c0) / os.sysconf("SC_CLK_TCK")
                if any(p.returncode for p in procs):
                    raise BenchError("parallel ckptd upload failed: %r" % [o[1] for o in outs])
                for o in outs:
                    ck.delete(json.loads(o[0])["id"])
                return {"ckptd": mbps(n * each, secs), "ckptd_mcpu": mcpu / (n * each / GiB)}

            def puts():
                procs = [subprocess.Popen(["curl", "-sS", "-f", "-o", "/dev/null", "-T", p,
                                           self.ng_url(fs, "par/%d.bin" % i)],
                                          stderr=subprocess.PIPE)
                         for i, p in enumerate(self.par)]
                for p in procs:
                    p.wait()
                if any(p.returncode for p in procs):
                    raise BenchError("parallel nginx upload failed")
                return [self.ng_path(fs, "par/%d.bin" % i) for i in range(n)]

            def b(_r):
                t = time.monotonic()
                files, mcpu = machine_cpu_of(puts)
                put = time.monotonic() - t
                for f in files:
                    fsync_path(f)
                both = time.monotonic() - t
                for f in files:
                    os.unlink(f)
                return {"nginx": mbps(n * each, put), "nginx_fsync": mbps(n * each, both),
                        "nginx_mcpu": mcpu / (n * each / GiB)}

            def c(_r):
                t = time.monotonic()
                files, mcpu = machine_cpu_of(lambda: hashing_alongside(self.par, puts))
                secs = time.monotonic() - t
                for f in files:
                    os.unlink(f)
                return {"nginx_sha": mbps(n * each, secs),
                        "nginx_sha_mcpu": mcpu / (n * each / GiB)}

            # On the disk, fsync is the larger cost and the fair reading; tmpfs shows the
            # software path alone, where the hashing nginx does not do is the difference.
            res = alternate([a, b, c] if fs == "tmpfs" else [a, b])
            label = "%d × %s parallel uploads, aggregate" % (n, human(each))
            if fs == "tmpfs":
                add("transfer", Row(label, fs, "MB/s", res["ckptd"], "nginx PUT", res["nginx"],
                                    ("ratio", 0.9), "≥ 0.9× nginx"))
                add("transfer", Row(label, fs, "MB/s", res["ckptd"], SAME_HASHING % "nginx PUT",
                                    res["nginx_sha"], None, "(the same hashing)"))
                add("transfer", Row(label + ": whole-machine CPU", fs, "CPU s per GiB",
                                    res["ckptd_mcpu"], "nginx PUT", res["nginx_mcpu"]))
                add("transfer", Row(label + ": whole-machine CPU", fs, "CPU s per GiB",
                                    res["ckptd_mcpu"], SAME_HASHING % "nginx PUT",
                                    res["nginx_sha_mcpu"]))
            else:
                add("transfer", Row(label, fs, "MB/s", res["ckptd"], "nginx PUT + fsync",
                                    res["nginx_fsync"], ("ratio", 0.9), "≥ 0.9× nginx + fsync"))
                add("transfer", Row(label, fs, "MB/s", res["ckptd"], "nginx PUT (no fsync)",
                                    res["nginx"]))

    def prefix_file(self, size):
        """A file holding the first size bytes of the big source, on the tmpfs."""
        if size == self.size:
            return self.src
        if size == self.disk_size:
            return self.disk_src
        path = os.path.join(self.tmpfs, "src", "%d.bin" % size)
        if not os.path.exists(path):
            with open(self.src, "rb") as fi, open(path, "wb") as fo:
                fo.write(fi.read(size))
        return path

    def push_pull(self, fs, size=None):
        size = size or (self.size if fs == "tmpfs" else self.disk_size)
        src = self.prefix_file(size)
        ck = self.ck[fs]
        log("ckpt push/pull of %s vs curl, %s" % (human(size), fs))
        run(["sync"])

        def push(_r):
            (secs, p), mcpu = machine_cpu_of(lambda: timed(
                [CKPT, "--url", ck.url, "-q", "--json", "push", "bench", src, "--epoch", "1"]))
            ck.delete(json.loads(p.stdout)["id"])
            return {"push": mbps(size, secs), "push_mcpu": mcpu / (size / GiB)}

        def curl_t(_r):
            (secs, cid), mcpu = machine_cpu_of(lambda: ck.upload(src))
            ck.delete(cid)
            return {"curl": mbps(size, secs), "curl_mcpu": mcpu / (size / GiB)}

        def curl_t_sha(_r):
            t = time.monotonic()
            (_, cid), mcpu = machine_cpu_of(lambda: hashing_alongside([src],
                                                                      lambda: ck.upload(src)))
            secs = time.monotonic() - t
            ck.delete(cid)
            return {"curl_sha": mbps(size, secs), "curl_sha_mcpu": mcpu / (size / GiB)}

        res = alternate([push, curl_t, curl_t_sha])
        label = "`ckpt push` %s (hashes while it uploads)" % human(size)
        add("transfer", Row(label, fs, "MB/s", res["push"], "`curl -T`", res["curl"],
                            ("ratio", 0.95), "≥ 0.95× curl"))
        add("transfer", Row(label, fs, "MB/s", res["push"], SAME_HASHING % "`curl -T`",
                            res["curl_sha"], None, "(the same hashing)"))
        label = "`ckpt push` %s: whole-machine CPU" % human(size)
        add("transfer", Row(label, fs, "CPU s per GiB", res["push_mcpu"], "`curl -T`",
                            res["curl_mcpu"]))
        add("transfer", Row(label, fs, "CPU s per GiB", res["push_mcpu"],
                            SAME_HASHING % "`curl -T`", res["curl_sha_mcpu"]))
        _, cid = ck.upload(src)
        out = os.path.join(self.tmpfs if fs == "tmpfs" else self.disk, "out", "pull.bin")
        url = "%s/v1/checkpoints/%d/blob" % (ck.url, cid)

        def pull(_r):
            secs, _ = timed([CKPT, "--url", ck.url, "-q", "pull", str(cid), "-o", out])
            os.unlink(out)
            return {"pull": mbps(size, secs)}

        def curl_o(_r):
            t = time.monotonic()
            run(["curl", "-sS", "-f", "-o", out, url])
            plain = time.monotonic() - t
            fsync_path(out)
            both = time.monotonic() - t
            os.unlink(out)
            return {"curl": mbps(size, plain), "curl_fsync": mbps(size, both)}

        res = alternate([pull, curl_o])
        label = "`ckpt pull` %s (hashes, fsyncs)" % human(size)
        if fs == "tmpfs":
            add("transfer", Row(label, fs, "MB/s", res["pull"], "`curl -o`", res["curl"],
                                ("ratio", 0.95), "≥ 0.95× curl"))
        else:  # pull fsyncs what it wrote: on a disk, so must curl for a fair reading
            add("transfer", Row(label, fs, "MB/s", res["pull"], "`curl -o` + fsync",
                                res["curl_fsync"], ("ratio", 0.95), "≥ 0.95× curl + fsync"))
            add("transfer", Row(label, fs, "MB/s", res["pull"], "`curl -o` (no fsync)",
                                res["curl"]))
        ck.delete(cid)

    def tiny(self):
        secs = 1 if QUICK else 2
        for fs in ("tmpfs", "disk"):
            log("1 KiB uploads, 16 clients, %s: ckptd vs nginx PUT" % fs)
            ck = self.ck[fs]
            tdir = self.ng_path(fs, "tiny")
            run(["sync"])

            def a(_r):
                r, cpu = cpu_of(ck, lambda: load(["put", ck.url + "/v1/runs/tiny/checkpoints?step=",
                                                  16, secs, KiB]))
                return {"ckptd": r["rate"], "ckptd_p99": r["p99_us"] / 1e3,
                        "ckptd_cpu": cpu / r["ok"] * 1e6}

            def b(r):
                x, cpu = cpu_of(self.ng, lambda: load(["put", self.ng_url(fs, "tiny/r%d-" % r), 16,
                                                       secs, KiB]))
                shutil.rmtree(tdir, ignore_errors=True)
                return {"nginx": x["rate"], "nginx_p99": x["p99_us"] / 1e3,
                        "nginx_cpu": cpu / x["ok"] * 1e6}

            def c(_r):
                x = load(["push", ck.url, "tinylib", 16, secs, KiB])
                return {"libckpt": x["rate"]}

            variants = [a, b, c] if fs == "tmpfs" else [a, b]
            res = alternate(variants, between=lambda _r: run(["sync"]) if fs == "disk" else None)
            self.tiny_rate = getattr(self, "tiny_rate", {})
            self.tiny_rate[fs] = res
            add("small", Row("1 KiB uploads, 16 clients (libcurl)", fs, "uploads/s", res["ckptd"],
                             "nginx PUT", res["nginx"], ("ratio", 0.5), "≥ 0.5× nginx"))
            add("small", Row("1 KiB uploads, 16 clients: p99", fs, "ms", res["ckptd_p99"],
                             "nginx PUT", res["nginx_p99"]))
            add("small", Row("1 KiB uploads, 16 clients: server CPU", fs, "CPU µs per upload",
                             res["ckptd_cpu"], "nginx PUT", res["nginx_cpu"]))
            if fs == "tmpfs":
                add("small", Row("1 KiB uploads, 16 clients via libckpt `ckpt_push_buffer`", fs,
                                 "uploads/s", res["libckpt"], "ckptd via libcurl", res["ckptd"]))
        t, d = self.tiny_rate["tmpfs"]["ckptd"], self.tiny_rate["disk"]["ckptd"]
        add("small", Row("1 KiB uploads: ckptd on disk vs on tmpfs (the cost of fsync)", "disk",
                         "uploads/s", d, "ckptd on tmpfs", t))
        note("nginx's WebDAV PUT never fsyncs; ckptd fsyncs the blob, its directory and the "
             "SQLite WAL before each 201. On tmpfs fsync is free, so tmpfs vs disk for ckptd "
             "is what durability costs per small upload")

    # ---- index: build, scale, metadata, startup, memory

    def build_index(self, data, n):
        """An index of n checkpoints written with the sqlite3 CLI while ckptd is stopped:
        10 runs (run-0..run-9) of n/10 each, a random loss and one metric each, plus run "late":
        10 checkpoints whose val_acc sorts below every other run's. For each, a sparse 1 KiB blob
        file of the right name and size (what the startup sweep and the recovery scan look at).
        Far faster than n uploads; the bytes are never read."""
        shutil.rmtree(data, ignore_errors=True)
        os.makedirs(data)
        c = Ckptd(data, self.logs + "/ckptd-build.log")  # applies the migrations
        c.stop()
        db = os.path.join(data, "index.db")
        idx = run(["sqlite3", db, "SELECT sql FROM sqlite_master WHERE type='index' AND sql "
                   "IS NOT NULL AND tbl_name IN ('checkpoints','metrics');"]).stdout
        idx = [s.strip() for s in idx.split("\n") if s.strip()]
        names = [re.search(r"CREATE\s+INDEX\s+(\S+)", s, re.I).group(1) for s in idx]
        # The run_totals triggers (sql/006) would probe the dropped indexes once per row: drop
        # them for the load too, then recompute run_totals in one pass and put them back.
        trg = run(["sqlite3", "-separator", "\x1f", db,
                   "SELECT name, replace(sql, char(10), ' ') FROM sqlite_master "
                   "WHERE type='trigger' AND tbl_name='checkpoints';"]).stdout
        trg = [ln.split("\x1f", 1) for ln in trg.split("\n") if ln.strip()]
        totals = ("DELETE FROM run_totals; INSERT INTO run_totals "
                  "(run, checkpoints, logical_bytes, physical_bytes) "
                  "SELECT run, sum(n), sum(bytes), sum(sz) FROM (SELECT run, count(*) AS n, "
                  "sum(size) AS bytes, max(size) AS sz FROM checkpoints GROUP BY run, sha256) "
                  "GROUP BY run;") if trg else ""
        script = "\n".join(
            ["PRAGMA journal_mode=DELETE;", "PRAGMA synchronous=OFF;",
             "PRAGMA cache_size=-1000000;", "BEGIN;"]
            + ["DROP TRIGGER %s;" % t[0] for t in trg]
            + ["DROP INDEX %s;" % x for x in names]
            + ["WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i<%d) "
               "INSERT INTO checkpoints(run,epoch,step,loss,size,sha256,created_ms) "
               "SELECT 'run-'||(i%%10), i/10, i, abs(random()%%1000000)/1e6, 1024, "
               "lower(hex(randomblob(32))), 1795000000000+i FROM s;" % n,
               # run "late": 10 checkpoints whose val_acc is below every other run's
               "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i<10) "
               "INSERT INTO checkpoints(run,epoch,step,loss,size,sha256,created_ms) "
               "SELECT 'late', i, i, 0.5, 1024, lower(hex(randomblob(32))), 1796000000000+i "
               "FROM s;",
               "INSERT INTO metrics(checkpoint_id,name,value,run) "
               "SELECT id,'val_acc',CASE run WHEN 'late' THEN -1-id/1e9 "
               "ELSE abs(random()%1000000)/1e6 END,run FROM checkpoints;"]
            + [s + ";" for s in idx]
            + [totals] + [t[1] + ";" for t in trg]
            + ["COMMIT;", "PRAGMA journal_mode=WAL;"])
        run(["sqlite3", db], input=script, timeout=600)
        shas = run(["sqlite3", db, "SELECT sha256 FROM checkpoints;"], timeout=300).stdout
        run([LOAD, "mkblobs", data, "1024"], input=shas, timeout=300)

    def wait_idle(self, c, limit=60):
        """Seconds until ckptd stops using CPU (its background recovery scan done): idle
        means under 5 ms of CPU in 200 ms."""
        t = time.monotonic()
        last = proc_cpu(c.pid)
        while time.monotonic() - t < limit:
            time.sleep(0.2)
            now = proc_cpu(c.pid)
            if now - last < 0.005:
                return time.monotonic() - t - 0.2
            last = now
        note("ckptd on %s was still busy %d s after starting" % (c.data, limit))
        return limit

    def scale(self):
        levels = [1000, 10000, 100000] if QUICK else [10000, 100000, 1000000]
        counted = 3
        secs = 1
        self.scale_rows = []
        for level, n in enumerate(levels):
            if level == len(levels) - 1:
                # Measured on this kind of machine: the largest level costs about 65 s per
                # million (building, six starts, the recovery scan, the queries); the
                # metadata and RSS scenarios after it need about 95 s.
                while n > levels[-2] and elapsed() + 65 * n / 1e6 + 95 > BUDGET:
                    n //= 2
                if n != levels[-1]:
                    note("index scale: the largest level was scaled down from %s to %s "
                         "checkpoints to stay within the time budget"
                         % (human_n(levels[-1]), human_n(n)))
            t = time.monotonic()
            data = os.path.join(self.tmpfs, "scale-%d" % n)
            self.build_index(data, n)
            built = time.monotonic() - t
            starts = []
            i = 0
            while True:
                # The cache off: these rows measure the index's queries, not kept answers.
                c = Ckptd(data, self.logs + "/ckptd-scale.log", NO_CACHE)
                if i:
                    starts.append(c.startup * 1e3)
                elif c.startup > 3:
                    # A start this slow is not a warm-up effect: count it, once.
                    starts.append(c.startup * 1e3)
                    note("startup with %s checkpoints took %.1f s, so it was measured once, "
                         "not %d times after a warm-up" % (human_n(n), c.startup, RUNS))
                    break
                if i == RUNS:
                    break
                c.stop()
                i += 1
            self.servers.append(c)
            scan = self.wait_idle(c)
            best = c.url + "/v1/runs/run-0/best"
            lst = c.url + "/v1/runs/run-0/checkpoints?limit=10&order=desc"
            by_loss = c.url + "/v1/runs/run-0/checkpoints?limit=10&order_by=loss"
            late = c.url + "/v1/runs/late/best?metric=val_acc&mode=max"

            def q(url, key):
                def fn(_r):
                    w = wrk(url, 1, 1, secs)
                    return {key: w["p50"] * 1e3, key + "_avg": w["avg"] * 1e3}
                return fn

            def ins(_r):
                return {"ins": load(["put", c.url + "/v1/runs/scale/checkpoints?step=", 16, secs,
                                     KiB])["rate"]}

            # One request per query warms the page cache instead of a warm-up round: these
            # medians over a second of requests hardly move, and the 1M level must fit the budget.
            for url in (best, lst, by_loss, late):
                http("GET", url)
            res = alternate([q(best, "best"), q(lst, "list"), q(by_loss, "lloss"),
                             q(late, "late"), ins], runs=counted, warmup=0)
            hwm = status_kib(c.pid, "VmHWM") / 1024
            self.scale_rows.append((n, res, starts, hwm, built, scan))
            log("scale %d: built in %.1fs, startup %s ms, busy %.1fs after it, best %s µs, "
                "list %s µs, list by loss %s µs, best by metric in run late %s µs, inserts %s/s, "
                "VmHWM %.1f MiB"
                % (n, built, spread(starts), scan, spread(res["best"]), spread(res["list"]),
                   spread(res["lloss"]), spread(res["late"]), spread(res["ins"]), hwm))
            if level == len(levels) - 1:
                self.big_n, self.big_data, self.big_ckptd = n, data, c
                continue
            c.stop()
            self.servers.remove(c)
            if level == 1:
                self.meta_data, self.meta_n = data, n
            else:
                shutil.rmtree(data, ignore_errors=True)
        note("index scale: rows written straight into index.db with the sqlite3 CLI while ckptd "
             "was stopped (10 runs of N/10 checkpoints, random loss, one metric each), with a "
             "sparse 1 KiB blob file per checkpoint; startup is exec → ready line with those "
             "files present; queries on run-0 (N/10 rows: its best, its newest 10, its 10 "
             "lowest losses), and the best val_acc of run late (10 rows whose val_acc is below "
             "every other run's) over HTTP with wrk, 1 connection, "
             "%d s, after ckptd's background recovery scan finished (busy after start), "
             "latency = wrk's median (p50), which other work on the machine disturbs less "
             "than the mean; inserts are real 1 KiB "
             "uploads, 16 clients, %d s; on tmpfs; one request per query to warm up, then %d "
             "counted rounds; ckptd runs with --query-cache 0, so every request runs its query"
             % (secs, secs, counted))

    def scale_targets(self):
        (n0, r0, *_), (n1, r1, *_) = self.scale_rows[0], self.scale_rows[-1]
        span = "%s vs %s" % (human_n(n1), human_n(n0))
        add("index", Row("`/best` latency, %s checkpoints, 1 connection" % human_n(n1), "tmpfs",
                         "µs", r1["best"], None, None, ("max", 1000), "< 1 ms"))
        add("index", Row("`/best` latency growth, %s" % span, "tmpfs", "µs", r1["best"],
                         "at %s" % human_n(n0), r0["best"], ("ratio_max", 2.0),
                         "flat: ≤ 2×"))
        add("index", Row("list-of-10 latency growth, %s" % span, "tmpfs", "µs", r1["list"],
                         "at %s" % human_n(n0), r0["list"], ("ratio_max", 2.0), "flat: ≤ 2×"))
        add("index", Row("list-of-10 by loss latency growth, %s" % span, "tmpfs", "µs",
                         r1["lloss"], "at %s" % human_n(n0), r0["lloss"], ("ratio_max", 2.0),
                         "flat: ≤ 2×"))
        add("index", Row("`/best?metric=` in a 10-checkpoint run whose values sort last, %s"
                         % human_n(n1), "tmpfs", "µs", r1["late"], None, None, ("max", 1000),
                         "< 1 ms"))
        add("index", Row("insert rate growth, %s" % span, "tmpfs", "inserts/s", r1["ins"],
                         "at %s" % human_n(n0), r0["ins"], ("ratio", 0.5), "flat: ≥ 0.5×"))

    def big_index_extras(self):
        """At the largest scale: peak RSS after queries, inserts and 64 connections."""
        self.scale_targets()
        n, data, c = self.big_n, self.big_data, self.big_ckptd
        wrk(c.url + "/v1/runs/run-0/checkpoints?limit=10&order=desc", 64, 2, 2)
        hwm = status_kib(c.pid, "VmHWM") / 1024
        add("memory", Row("peak RSS (VmHWM), %s checkpoints, after queries and inserts"
                          % human_n(n), "tmpfs", "MiB", [hwm], None, None, ("max", 64),
                          "< 64 MiB"))
        row = [r for r in self.scale_rows if r[0] == n][0]
        add("memory", Row("startup, %s checkpoints and their blob files (exec → ready line)"
                          % human_n(n), "tmpfs", "ms", row[2], None, None, ("max", 1000),
                          "< 1 s"))
        c.stop()
        self.servers.remove(c)
        shutil.rmtree(data, ignore_errors=True)

    def metadata(self):
        secs = 1 if QUICK else 2
        c = Ckptd(self.meta_data, self.logs + "/ckptd-meta.log")
        self.servers.append(c)
        # The same index for a second daemon with the query cache off (a data directory has
        # one daemon): what every request costs when each one follows a write.
        nc_data = self.meta_data + "-nocache"
        run(["cp", "-a", "--sparse=always", self.meta_data, nc_data], timeout=120)
        nc = Ckptd(nc_data, self.logs + "/ckptd-meta-nocache.log", NO_CACHE)
        self.servers.append(nc)
        self.wait_idle(c)
        self.wait_idle(nc)
        paths = {"best": "/v1/runs/run-0/best",
                 "list": "/v1/runs/run-0/checkpoints?limit=10&order=desc"}
        for what, path in paths.items():
            _, body = http("GET", c.url + path)
            _, body_nc = http("GET", nc.url + path)
            if body != body_nc:
                raise BenchError("the two daemons answer %s differently" % path)
            f = self.ng_path("tmpfs", "meta-%s.json" % what)
            os.makedirs(os.path.dirname(f), exist_ok=True)
            with open(f, "wb") as fo:
                fo.write(body)
            log("metadata %s: %d-byte response; nginx serves a file of that size" % (what,
                                                                                   len(body)))
        variants = []
        for what, path in paths.items():
            for who, url, srv in (("ckptd", c.url + path, c), ("nocache", nc.url + path, nc),
                                  ("nginx", self.ng_url("tmpfs", "meta-%s.json" % what), self.ng)):
                def fn(_r, url=url, key="%s_%s" % (who, what), srv=srv):
                    w, cpu = cpu_of(srv, lambda: wrk(url, 64, 2, secs))
                    return {key: w["rps"], key + "_p99": w["p99"],
                            key + "_cpu": cpu / (w["rps"] * secs) * 1e6}
                variants.append(fn)
        log("metadata queries, %s checkpoints, 64 connections: ckptd (query cache on, off) vs "
            "nginx static" % human_n(self.meta_n))
        res = alternate(variants)
        for what, label in (("best", "`/v1/runs/R/best`"), ("list", "list of 10")):
            for who, how in (("ckptd", ""), ("nocache", ", query cache off")):
                scen = "%s, %s checkpoints, wrk 64 conns%s" % (label, human_n(self.meta_n), how)
                add("small", Row(scen, "tmpfs", "req/s", res["%s_%s" % (who, what)],
                                 "nginx static file", res["nginx_" + what], ("ratio", 0.5),
                                 "≥ 0.5× nginx"))
                add("small", Row(scen + ": p99", "tmpfs", "ms", res["%s_%s_p99" % (who, what)],
                                 "nginx static file", res["nginx_%s_p99" % what], ("max", 5),
                                 "< 5 ms"))
                add("small", Row(scen + ": server CPU", "tmpfs", "CPU µs per request",
                                 res["%s_%s_cpu" % (who, what)], "nginx static file",
                                 res["nginx_%s_cpu" % what]))
        hwm = status_kib(c.pid, "VmHWM") / 1024
        add("memory", Row("peak RSS (VmHWM), %s checkpoints, after the 64-connection queries "
                          "(query cache on)" % human_n(self.meta_n), "tmpfs", "MiB", [hwm], None,
                          None, ("max", 64), "< 64 MiB"))
        note("metadata queries: on the %s index of the index-scale step (tmpfs; these requests "
             "read the page cache and write nothing, so the disk would read the same); wrk "
             "-t2 -c64 -d%ds; nginx serves a static file of the same size as ckptd's answer. "
             "ckptd runs with its defaults, so its HTTP threads answer a repeated query from the "
             "query cache until the next write; the rows marked \"query cache off\" are a second "
             "ckptd on a copy of the same index with --query-cache 0, where every request runs "
             "its query (as each does right after a write)" % (human_n(self.meta_n), secs))
        for d in (c, nc):
            d.stop()
            self.servers.remove(d)
        shutil.rmtree(nc_data, ignore_errors=True)

    def rss_upload(self):
        size = self.rss_size
        data = os.path.join(self.tmpfs, "rss")
        log("peak RSS during a %s upload (chunked, from a pipe)" % human(size))
        c = Ckptd(data, self.logs + "/ckptd-rss.log")
        self.servers.append(c)
        peak = [0]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                try:
                    peak[0] = max(peak[0], status_kib(c.pid, "VmRSS"))
                except OSError:
                    return
                time.sleep(0.05)

        th = threading.Thread(target=sample)
        th.start()
        reps, rest = divmod(size, self.size)
        files = [self.src] * reps
        cat = subprocess.Popen(["cat"] + files, stdout=subprocess.PIPE)
        t = time.monotonic()
        p = subprocess.run(["curl", "-sS", "-f", "-T", "-",
                            c.url + "/v1/runs/rss/checkpoints?epoch=1"], stdin=cat.stdout,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        cat.stdout.close()
        cat.wait()
        secs = time.monotonic() - t
        stop.set()
        th.join()
        if p.returncode != 0:
            raise BenchError("the RSS upload failed: %s" % p.stderr)
        got = json.loads(p.stdout)["size"]
        hwm = status_kib(c.pid, "VmHWM") / 1024
        add("memory", Row("peak RSS (VmHWM) during a %s upload (%.0f MB/s)"
                          % (human(got), mbps(got, secs)), "tmpfs", "MiB", [hwm], None, None,
                          ("max", 64), "< 64 MiB"))
        c.stop()
        self.servers.remove(c)
        shutil.rmtree(data, ignore_errors=True)

    # ---- output

    def machine(self):
        model = "?"
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        disk_dev = run(["df", "--output=source", self.disk]).stdout.split("\n")[1].strip()
        ngv = run(["nginx", "-v"]).stderr.strip().replace("nginx version: ", "")
        binsum = self.binsum
        if binary_sum() != binsum:
            note("**build/ckptd changed on disk during the run**: some rows measured another "
                 "binary")
        return ("%d cores, %s, kernel %s, %.0f GiB RAM; tmpfs: %s (%s); disk: %s (%s on %s); "
                "%s (binary sha256 %s…), %s, %s" % (os.cpu_count(), model, os.uname().release,
                                os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GiB,
                                os.path.dirname(self.tmpfs) if not self.mounted else self.mounted,
                                self.fs_name(self.tmpfs), os.path.dirname(self.disk),
                                self.fs_name(self.disk), disk_dev,
                                run([CKPTD, "--version"]).stdout.strip(), binsum, ngv,
                                run(["curl", "--version"]).stdout.split("\n")[0].split(" (")[0]))

    def report(self):
        commit, dirty = self.commit, self.dirty
        today = datetime.date.today().isoformat()
        L = []
        # Name what was changed: a README edit does not touch what was measured, code does.
        changed = sorted({line[3:] for line in dirty.splitlines()})
        L.append("# ckpt benchmark %s, commit %s%s" % (
            today, commit or "?",
            " (with uncommitted changes to %s)" % ", ".join(changed) if changed else ""))
        L.append("")
        L.append("Machine: " + self.machine())
        L.append("")
        L.append("Each comparison alternates ckptd and its peer in one run: one warm-up round, "
                 "then %d counted rounds. Figures are medians with min–max in brackets; the "
                 "ratio is ckptd/peer taken round by round. MB/s is 10^6 bytes per second, "
                 "timed around the whole client command. Client and servers share the same "
                 "%d cores. ckptd runs with its defaults (`threads = auto`: one event thread per "
                 "CPU, at least 2, so %d here); nginx with `worker_processes auto` (one worker "
                 "per CPU)." % (RUNS, os.cpu_count(), max(2, min(64, len(os.sched_getaffinity(0))))))
        L.append("")
        L.append("## Limits (measured in the same run)")
        L.append("")
        L.append("| limit | unit | median (min–max) |")
        L.append("|---|---|---|")
        for name, unit, val in self.limit_rows:
            L.append("| %s | %s | %s |" % (name, unit, val))
        sections = [("transfer", "Large transfers"), ("small", "Small requests"),
                    ("index", "Index scale"), ("memory", "Memory and startup")]
        hdr = ["scenario", "fs", "unit", "ckptd", "peer", "ratio ckptd/peer", "target", "result"]
        for key, title in sections:
            rows = [r for s, r in ROWS if s == key]
            if not rows:
                continue
            L.append("")
            L.append("## " + title)
            L.append("")
            L.append("| " + " | ".join(hdr) + " |")
            L.append("|" + "---|" * len(hdr))
            for r in rows:
                L.append("| " + " | ".join(r.cells()) + " |")
        if getattr(self, "scale_rows", None):
            L.append("")
            L.append("## Index scale (tmpfs; target: flat growth, best < 1 ms at 1M)")
            L.append("")
            L.append("| checkpoints | `/best` p50 µs | list of 10 p50 µs | list of 10 by loss p50 µs "
                     "| `/best?metric=` in run late p50 µs | inserts/s (1 KiB, 16 clients) "
                     "| startup ms | busy after start s | VmHWM MiB | fixture build s |")
            L.append("|---|---|---|---|---|---|---|---|---|---|")
            for n, res, starts, hwm, built, scan in self.scale_rows:
                L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %.1f | %.1f |"
                         % (human_n(n), spread(res["best"]), spread(res["list"]),
                            spread(res["lloss"]), spread(res["late"]), spread(res["ins"]),
                            spread(starts), fmt(scan), hwm, built))
        missed = [r for _s, r in ROWS if r.met() is False]
        L.append("")
        L.append("## Targets")
        L.append("")
        met = [r for _s, r in ROWS if r.met()]
        L.append("%d met, %d missed." % (len(met), len(missed)))
        for r in missed:
            c = r.cells()
            L.append("- MISSED: %s (%s): ckptd %s %s vs %s; ratio %s; target %s"
                     % (c[0], c[1], c[3], c[2], c[4], c[5], c[6]))
        L.append("")
        L.append("## Rounds")
        L.append("")
        L.append("Every counted round of each row with a peer, in the order run: ckptd / peer "
                 "(ratio).")
        L.append("")
        for _s, r in ROWS:
            if r.b:
                rounds = "; ".join("%s / %s (%s)" % (fmt(x), fmt(y), fmt(x / y) if y else "—")
                                   for x, y in zip(r.a, r.b))
                L.append("- %s (%s, %s) vs %s: %s" % (r.scenario, r.fs, r.unit, r.b_label, rounds))
        L.append("")
        L.append("## Notes")
        L.append("")
        for n_ in NOTES:
            L.append("- " + n_)
        busy, steal = cpu_jiffies()
        hz = os.sysconf("SC_CLK_TCK")
        busy, steal = (busy - CPU0[0]) / hz, (steal - CPU0[1]) / hz
        t = os.times()
        ours = t.user + t.system + t.children_user + t.children_system
        wall = elapsed()
        foreign = max(0.0, busy - ours)
        L.append("- whole run: %.0f s; CPU busy %.0f s, of which this benchmark's processes %.0f s;"
                 " other processes and kernel threads (writeback included) %.0f s (%.0f%% of %d cores);"
                 " steal %.0f s;"
                 " load average before the run %.2f" % (wall, busy, ours, foreign,
                                                         100 * foreign / (wall * os.cpu_count()),
                                                         os.cpu_count(), steal, LOAD0[0]))
        if foreign > 0.25 * wall * os.cpu_count():
            L.append("- **the machine was busy with other work during the run**: treat these "
                     "figures with care")
        text = "\n".join(L) + "\n"
        print(text)
        if QUICK:
            print("not saved (BENCH_QUICK=1)")
            return
        os.makedirs(RESULTS, exist_ok=True)
        path = os.path.join(RESULTS, "%s-%s.md" % (today, commit or "unknown"))
        with open(path, "w") as f:
            f.write(text)
        print("saved: %s" % os.path.relpath(path, ROOT))

    def attempt(self, name, fn, tries=3):
        """Run one scenario. If it failed because a server we started died under it (this
        machine has been seen sending SIGTERM to daemons it did not start), say so, restart
        the shared servers and run the scenario again, up to `tries` times in all."""
        for attempt in range(1, tries + 1):
            mark_rows, mark_limits = len(ROWS), len(self.limit_rows)
            try:
                fn()
                return
            except (BenchError, subprocess.TimeoutExpired, OSError) as e:
                dead = [c for c in Ckptd.every if c.died()]
                if self.ng.died():
                    dead.append(self.ng)
                if not dead or attempt == tries:
                    raise
                for c in dead:
                    tail = ""
                    if isinstance(c, Ckptd):
                        with open(c.log_path, "rb") as f:
                            tail = f.read()[-300:].decode(errors="replace").strip()
                        tail = tail.split("\n")[-1]
                    note("%s: a server died under the benchmark (%s pid %d, exit %s; last log "
                         "line: %s); the scenario was run again"
                         % (name, "ckptd" if isinstance(c, Ckptd) else "nginx", c.proc.pid,
                            c.proc.returncode, tail or "none"))
                    c.stopped = True
                    if c in self.servers:
                        self.servers.remove(c)
                log("%s failed (%s); retrying" % (name, str(e)[:200]))
            del ROWS[mark_rows:]
            del self.limit_rows[mark_limits:]
            for fs, c in list(self.ck.items()):
                if c.stopped:
                    self.ck[fs] = Ckptd(c.data, c.log_path)
                    self.servers.append(self.ck[fs])
            if self.ng.stopped:
                self.ng = Nginx(os.path.join(self.tmpfs, "nginx-prefix"), self.ng_root["tmpfs"],
                                self.ng_root["disk"])
                self.servers.append(self.ng)

    def index_all(self):
        self.scale()
        self.metadata()
        self.big_index_extras()

    def stop_servers(self):
        for s in reversed(self.servers):
            try:
                s.stop()
            except Exception as e:  # keep cleaning up
                log("stopping a server: %s" % e)
        self.servers = []

    def cleanup(self):
        self.stop_servers()
        if os.environ.get("KEEP") == "1":
            log("kept: %s" % " ".join(self.work_dirs + ([self.mounted] if self.mounted else [])))
            return
        for d in self.work_dirs:
            shutil.rmtree(d, ignore_errors=True)
        if self.mounted:
            run(["umount", self.mounted], check=False)
            os.rmdir(self.mounted)


def binary_sum():
    with open(CKPTD, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:12]


def human(n):
    if n >= GiB and n % GiB == 0:
        return "%d GiB" % (n // GiB)
    return "%d MiB" % (n // MiB)


def human_n(n):
    if n >= 1000000 and n % 1000000 == 0:
        return "%dM" % (n // 1000000)
    if n >= 1000 and n % 1000 == 0:
        return "%dk" % (n // 1000)
    return str(n)


def main():
    if not LOAD or not os.access(LOAD, os.X_OK):
        sys.exit("usage: bench.py BUILD_DIR LOAD_PROGRAM (run tests/bench/run.sh)")
    b = Bench()

    def on_signal(sig, _frame):
        raise KeyboardInterrupt("signal %d" % sig)

    signal.signal(signal.SIGTERM, on_signal)
    rc = 0
    try:
        b.setup_dirs()
        b.make_sources()
        b.probe_disk()
        b.start_servers()
        b.limits_rows_init()
        b.attempt("limits", b.limits)
        b.attempt("large uploads", b.upload_big)
        b.attempt("large downloads", b.download_big)
        b.attempt("parallel uploads", b.parallel)
        b.attempt("small uploads", b.tiny)
        b.attempt("push/pull on tmpfs", lambda: b.push_pull("tmpfs"))
        b.attempt("index", b.index_all)
        b.attempt("peak RSS upload", b.rss_upload)
        # Six rounds of five disk-bound transfers (push, curl -T, curl -T with the hashing
        # alongside, pull, curl -o): scale them to what is left.
        left = BUDGET - elapsed() - 20
        size = b.disk_size
        while size > 64 * MiB and 6 * 5 * size / b.disk_rate > left:
            size //= 2
        if 6 * 5 * size / b.disk_rate <= left:
            if size < b.disk_size:
                note("`ckpt push`/`pull` on the disk: scaled to %s to stay within the time "
                     "budget" % human(size))
            b.attempt("push/pull on disk", lambda: b.push_pull("disk", size))
        else:
            note("`ckpt push`/`pull` on the disk: skipped to stay within the time budget "
                 "(the daemon's fsync, the same for both clients, dominates there)")
        b.stop_servers()
        b.report()
    except (Exception, KeyboardInterrupt) as e:  # report, show the logs, clean up
        print("bench: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        if not isinstance(e, (BenchError, subprocess.TimeoutExpired, OSError)):
            import traceback
            traceback.print_exc()
        for c in Ckptd.every:
            if c.died():
                print("bench: ckptd pid %d (%s) died, exit %s" % (c.proc.pid, c.data,
                                                                   c.proc.returncode),
                      file=sys.stderr)
        logs = getattr(b, "logs", None)
        for f in sorted(os.listdir(logs)) if logs and os.path.isdir(logs) else []:
            with open(os.path.join(logs, f), "rb") as fh:
                tail = fh.read()[-600:].decode(errors="replace").strip()
            if tail:
                print("bench: --- %s (tail)\n%s" % (f, tail), file=sys.stderr)
        rc = 1
    finally:
        b.cleanup()
    return rc


if __name__ == "__main__":
    sys.exit(main())
