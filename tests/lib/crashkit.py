#!/usr/bin/env python3
"""crashkit.py - load and invariant checks for the crash and fault tests (72_..78_*.sh).

  crashkit.py catalog STATE --master FILE [--count N] [--seed S]
  crashkit.py load STATE --base URL --journal FILE [--seed S] [--uploaders N]
  crashkit.py verify STATE --base URL --data DIR [--journal FILE] [--adopt] [--expect-new SHA]
                     [--prune N,BYTES] [--wait-tmp SECONDS] [--full] [--repair]
                     [--must ID SHA SIZE]... [--content SHA SIZE]... [--gone ID]... [--corrupt ID]...

STATE is a JSON file with what the client knows: `contents` (every SHA-256 the client sent, with
its size), `poison` (content sent with a wrong digest, which must never become visible), `must`
(id -> sha256 of checkpoints answered 2xx and not deleted), `maybe` (id -> sha256 whose fate is
unknown: a DELETE was in flight at the crash), `gone` (ids whose DELETE answered 204), `corrupt`
(ids the test damaged on purpose) and `catalog` (slices of a master file for the load generator).

`load` uploads catalog slices (Content-Length or chunked, the digest stated in a header or a
trailer), refused uploads (empty, wrong digest) and DELETEs, from several threads, until the daemon
goes away; it appends one journal line per request sent and per answer received.

`verify` folds a journal and the --must/--content/--gone/--corrupt notes into STATE (created when
missing; saved back with what the checks learnt: adopted commits, pruned deletes), checks the
daemon and its data directory, and prints one line per invariant: `PASS<TAB>name` or
`FAIL<TAB>name<TAB>detail` (plus `INFO<TAB>text`); the shell turns them into checks. It exits 0
when it could check, whatever it found.
"""
import argparse
import base64
import hashlib
import json
import math
import mmap
import os
import random
import socket
import sys
import threading
import time
import urllib.parse

MiB = 1 << 20


# ---------------------------------------------------------------- state


def load_state_empty():
    return {"contents": {}, "poison": [], "must": {}, "maybe": {}, "gone": [], "corrupt": [],
            "catalog": [], "qseen": [], "stats": {}, "verified": {}}


def load_state(path):
    with open(path) as f:
        st = json.load(f)
    for k, v in load_state_empty().items():
        st.setdefault(k, v)
    return st


def save_state(path, st):
    tmp = path + ".new"
    with open(tmp, "w") as f:
        json.dump(st, f)
    os.replace(tmp, path)


def cmd_catalog(a):
    """Slices of the master file: log-uniform sizes from 1 byte to 64 MiB, a few fixed ones,
    some repeated (deduplication), and poison slices of sizes no catalog entry has."""
    rng = random.Random(a.seed)
    size = os.path.getsize(a.master)
    with open(a.master, "rb") as f:
        mm = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
    top = min(64 * MiB, size)
    sizes = [1, MiB + 1, top]
    while len(sizes) < a.count:
        sizes.append(max(1, int(math.exp(rng.uniform(0, math.log(top))))))
    cat = []
    for n in sizes:
        off = rng.randrange(0, size - n + 1)
        cat.append({"off": off, "size": n, "sha": hashlib.sha256(mm[off:off + n]).hexdigest()})
    poison = []
    used = {c["size"] for c in cat}
    n = 4099
    while len(poison) < 3:
        n += 1
        if n in used:
            continue
        off = rng.randrange(0, size - n + 1)
        sha = hashlib.sha256(mm[off:off + n]).hexdigest()
        claim = hashlib.sha256(b"not %d" % n).hexdigest()
        poison.append({"off": off, "size": n, "sha": sha, "claim": claim})
    st = {"master": os.path.abspath(a.master), "catalog": cat, "poison": poison,
          "contents": {c["sha"]: c["size"] for c in cat}}
    st = {**load_state_empty(), **st}
    save_state(a.state, st)
    print("catalog: %d slices, %.1f MiB in all" % (len(cat), sum(c["size"] for c in cat) / MiB))


# ---------------------------------------------------------------- HTTP


class HTTPError(Exception):
    """A malformed or cut-off answer."""


def hostport(base):
    u = urllib.parse.urlsplit(base)
    return u.hostname, u.port


# A small HTTP/1.1 client on a socket: http.client drags in the email package, whose import
# costs more than a whole verification round on a small store. One request per connection.


def connect(base, timeout):
    return socket.create_connection(hostport(base), timeout=timeout)


def send_head(sock, method, path, headers):
    head = "%s %s HTTP/1.1\r\nHost: ckptd\r\nConnection: close\r\n" % (method, path)
    head += "".join("%s: %s\r\n" % kv for kv in headers.items())
    sock.sendall(head.encode() + b"\r\n")


def read_head(f):
    """(status, {lowercase name: value}) of the answer on file f; skips 1xx answers."""
    while True:
        line = f.readline(65536)
        if not line:
            raise HTTPError("connection closed before a status line")
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
            raise HTTPError("bad status line %r" % line[:80])
        status, hdrs = int(parts[1]), {}
        while True:
            h = f.readline(65536)
            if h in (b"\r\n", b"\n", b""):
                break
            k, _, v = h.decode("latin-1").partition(":")
            hdrs[k.strip().lower()] = v.strip()
        if status >= 200:
            return status, hdrs


def read_body(f, method, status, hdrs, sink):
    """Feed the body to sink(bytes); returns its length."""
    if method == "HEAD" or status in (204, 304):
        return 0
    n = 0
    if "content-length" in hdrs:
        left = int(hdrs["content-length"])
        while left > 0:
            b = f.read(min(left, 1 << 20))
            if not b:
                raise HTTPError("body cut off %d bytes short" % left)
            sink(b)
            n += len(b)
            left -= len(b)
        return n
    if hdrs.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int(f.readline(1024).split(b";")[0], 16)
            if size == 0:
                while f.readline(65536) not in (b"\r\n", b"\n", b""):
                    pass
                return n
            b = f.read(size)
            sink(b)
            n += len(b)
            f.readline(16)
    while True:
        b = f.read(1 << 20)
        if not b:
            return n
        sink(b)
        n += len(b)


def request(base, method, path, body=b"", headers=None, timeout=30):
    """One request on a fresh connection; returns (status, body bytes)."""
    sock = connect(base, timeout)
    try:
        hdrs = dict(headers or {})
        if body or method in ("PUT", "POST"):
            hdrs["Content-Length"] = str(len(body))
        send_head(sock, method, path, hdrs)
        if body:
            sock.sendall(body)
        f = sock.makefile("rb")
        status, rh = read_head(f)
        out = []
        read_body(f, method, status, rh, out.append)
        return status, b"".join(out)
    finally:
        sock.close()


def jget(base, path):
    st, body = request(base, "GET", path)
    try:
        return st, json.loads(body) if body else None
    except ValueError:
        return st, None


def list_all(base):
    """Every checkpoint of every run: id -> record."""
    st, runs = jget(base, "/v1/runs")
    if st != 200:
        raise RuntimeError("GET /v1/runs answered %d" % st)
    out = {}
    for r in runs["runs"]:
        after = None
        while True:
            q = "limit=1000" + ("&after=" + urllib.parse.quote(after, safe="") if after else "")
            st, page = jget(base, "/v1/runs/%s/checkpoints?%s" % (r["run"], q))
            if st == 404:
                break  # deleted in between: cannot happen while we are the only client
            if st != 200:
                raise RuntimeError("listing run %s answered %d" % (r["run"], st))
            for c in page["checkpoints"]:
                out[str(c["id"])] = c
            after = page["next"]
            if not after:
                break
    return out


def download_digest(base, cid, timeout=60):
    """(status, sha256 hex, bytes) of GET /v1/checkpoints/ID/blob, hashing as it streams."""
    sock = connect(base, timeout)
    try:
        send_head(sock, "GET", "/v1/checkpoints/%s/blob" % cid, {})
        f = sock.makefile("rb")
        status, rh = read_head(f)
        h = hashlib.sha256()
        n = read_body(f, "GET", status, rh, h.update)
        return status, h.hexdigest(), n
    finally:
        sock.close()


def sha_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


# ---------------------------------------------------------------- load generator


class Journal:
    def __init__(self, path):
        self.f = open(path, "a", buffering=1)
        self.lock = threading.Lock()

    def put(self, *fields):
        with self.lock:
            self.f.write(" ".join(str(x) for x in fields) + "\n")


class Gone(Exception):
    """The daemon went away (refused, reset, timed out)."""


def send_upload(base, path, view, digest_hex, chunked, trailer, repr_digest, timeout=20):
    """Send one upload; returns (status, parsed JSON or None). Raises Gone on a dead server."""
    try:
        sock = connect(base, timeout)
    except OSError as e:
        raise Gone(repr(e)) from e
    try:
        hdrs = {}
        if digest_hex and repr_digest and not trailer:
            hdrs["Repr-Digest"] = "sha-256=:%s:" % base64.b64encode(
                bytes.fromhex(digest_hex)).decode()
        elif digest_hex and not trailer:
            hdrs["X-Checkpoint-SHA256"] = digest_hex
        if chunked:
            hdrs["Transfer-Encoding"] = "chunked"
            if trailer and digest_hex:
                hdrs["Trailer"] = "X-Checkpoint-SHA256"
        else:
            hdrs["Content-Length"] = str(len(view))
        sent_all = True
        try:
            send_head(sock, "PUT", path, hdrs)
            step = 256 * 1024
            for i in range(0, len(view), step):
                piece = view[i:i + step]
                if chunked:
                    sock.sendall(b"%x\r\n" % len(piece))
                    sock.sendall(piece)
                    sock.sendall(b"\r\n")
                else:
                    sock.sendall(piece)
            if chunked:
                tail = b"0\r\n"
                if trailer and digest_hex:
                    tail += b"X-Checkpoint-SHA256: " + digest_hex.encode() + b"\r\n"
                sock.sendall(tail + b"\r\n")
        except OSError:
            sent_all = False  # an early answer may be waiting; a dead server gives none
        f = sock.makefile("rb")
        status, rh = read_head(f)
        out = []
        read_body(f, "PUT", status, rh, out.append)
        body = b"".join(out)
        try:
            doc = json.loads(body) if body else None
        except ValueError:
            doc = None
        if not sent_all and status == 201:
            raise HTTPError("201 for a body that was not sent whole")
        return status, doc
    except (OSError, HTTPError, ValueError) as e:
        raise Gone(repr(e)) from e
    finally:
        sock.close()


def cmd_load(a):
    st = load_state(a.state)
    rng = random.Random(a.seed)
    with open(st["master"], "rb") as f:
        mm = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
    master = memoryview(mm)
    jr = Journal(a.journal)
    stop = threading.Event()
    lock = threading.Lock()
    deletable = list(st["must"].keys())  # ids this generator may delete
    seq = [0]

    def uploader(wseed):
        r = random.Random(wseed)
        while not stop.is_set():
            with lock:
                seq[0] += 1
                tok = "u%d" % seq[0]
            x = r.random()
            chunked = r.random() < 0.5
            trailer = chunked and r.random() < 0.3
            reprd = r.random() < 0.3
            if x < 0.05:
                kind, idx, view, claim = "z", -1, b"", None
            elif x < 0.10:
                idx = r.randrange(len(st["poison"]))
                p = st["poison"][idx]
                kind, view, claim = "p", master[p["off"]:p["off"] + p["size"]], p["claim"]
            else:
                idx = r.randrange(len(st["catalog"]))
                c = st["catalog"][idx]
                kind, view, claim = "c", master[c["off"]:c["off"] + c["size"]], c["sha"]
            q = "epoch=%d&step=%d" % (r.randrange(100), r.randrange(10 ** 6))
            jr.put("U", tok, kind, idx, "chunked" if chunked else "length")
            try:
                status, doc = send_upload(a.base, "/v1/runs/crash%d/checkpoints?%s" % (idx % 3, q),
                                          view, claim, chunked, trailer, reprd)
            except Gone as e:
                jr.put("E", tok, e.args[0].replace(" ", "_")[:120])
                stop.set()
                return
            code = (doc or {}).get("error", {}).get("code", "-") if isinstance(doc, dict) else "-"
            cid = doc.get("id", "-") if isinstance(doc, dict) else "-"
            jr.put("R", tok, status, cid, code)
            want = {"z": (400, "empty_body"), "p": (400, "digest_mismatch")}.get(kind)
            if kind == "c":
                c = st["catalog"][idx]
                if status != 201 or doc.get("sha256") != c["sha"] or doc.get("size") != c["size"]:
                    jr.put("X", tok, "catalog upload answered %d %s (want 201 with sha %s size %d)"
                           % (status, json.dumps(doc)[:200], c["sha"][:12], c["size"]))
                else:
                    with lock:
                        deletable.append(str(cid))
            elif (status, code) != want:
                jr.put("X", tok, "%s upload answered %d %s (want %d %s)"
                       % ("empty" if kind == "z" else "wrong-digest", status, code, *want))

    def deleter():
        r = random.Random(a.seed + 7)
        while not stop.is_set():
            time.sleep(r.uniform(0.03, 0.2))
            with lock:
                if len(deletable) < 3:
                    continue
                cid = deletable.pop(r.randrange(len(deletable)))
            jr.put("DS", cid)
            try:
                status, body = request(a.base, "DELETE", "/v1/checkpoints/%s" % cid, timeout=20)
            except (OSError, HTTPError, ValueError) as e:
                jr.put("DE", cid, repr(e).replace(" ", "_")[:120])
                stop.set()
                return
            jr.put("DR", cid, status)
            if status != 204:
                jr.put("X", "d" + cid, "DELETE of an acknowledged checkpoint answered %d %s"
                       % (status, body[:200].decode("utf-8", "replace")))

    threads = [threading.Thread(target=uploader, args=(rng.random(),)) for _ in range(a.uploaders)]
    threads.append(threading.Thread(target=deleter))
    for t in threads:
        t.daemon = True
        t.start()
    deadline = time.time() + a.max_seconds
    while time.time() < deadline and any(t.is_alive() for t in threads):
        time.sleep(0.02)
    stop.set()
    for t in threads:
        t.join(timeout=25)


# ---------------------------------------------------------------- verification


class Report:
    def __init__(self):
        self.fails = {}
        self.names = []

    def check(self, name, ok, detail=""):
        if name not in self.names:
            self.names.append(name)
        if not ok:
            self.fails.setdefault(name, []).append(detail)

    def emit(self):
        for n in self.names:
            if n in self.fails:
                d = "; ".join(self.fails[n][:4])
                more = len(self.fails[n]) - 4
                if more > 0:
                    d += "; and %d more" % more
                print("FAIL\t%s\t%s" % (n, d))
            else:
                print("PASS\t%s" % n)


def fold_journal(st, path, rep):
    """Apply a load generator's journal to STATE; returns counts for the log."""
    cnt = {"acked": 0, "lost": 0, "refused": 0, "deleted": 0, "delete_lost": 0}
    kinds, answered, dsent, unexpected = {}, set(), [], []
    st["lost_shas"] = []
    with open(path) as f:
        lines = [ln.split(" ", 4) for ln in f.read().splitlines() if ln]
    for p in lines:
        if p[0] == "U":
            kinds[p[1]] = (p[2], int(p[3]))
        elif p[0] == "R":
            tok, status, cid = p[1], int(p[2]), p[3]
            answered.add(tok)
            kind, idx = kinds.get(tok, ("?", -1))
            if status == 201 and kind == "c":
                sha = st["catalog"][idx]["sha"]
                st["must"][cid] = sha
                st["maybe"].pop(cid, None)
                cnt["acked"] += 1
            else:
                cnt["refused"] += 1
        elif p[0] == "E":
            cnt["lost"] += 1
        elif p[0] == "DS":
            dsent.append(p[1])
        elif p[0] == "DR":
            cid, status = p[1], int(p[2])
            dsent.remove(cid)
            if status == 204:
                st["must"].pop(cid, None)
                st["maybe"].pop(cid, None)
                st["gone"].append(cid)
                cnt["deleted"] += 1
        elif p[0] == "DE":
            pass
        elif p[0] == "X":
            unexpected.append(" ".join(p[1:]))
    for tok, (kind, idx) in kinds.items():  # catalog uploads that got no answer at all
        if kind == "c" and tok not in answered:
            st["lost_shas"].append(st["catalog"][idx]["sha"])
    for cid in dsent:  # sent, never answered: it may or may not have happened
        if cid in st["must"]:
            st["maybe"][cid] = st["must"].pop(cid)
        cnt["delete_lost"] += 1
    rep.check("while the daemon ran, every answer was the expected one (201 intact, 400 for "
              "empty or wrong-digest bodies, 204 for deletes)", not unexpected,
              "; ".join(unexpected[:3]))
    return cnt


def integrity_check(db):
    import sqlite3  # only here: the load generator does not need it

    if not os.path.exists(db):
        return "no index.db"
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
    try:
        rows = con.execute("PRAGMA integrity_check").fetchall()
    finally:
        con.close()
    return "ok" if rows == [("ok",)] else "; ".join(str(r[0]) for r in rows[:5])


def cmd_verify(a):
    st = load_state(a.state) if os.path.exists(a.state) else load_state_empty()
    for cid, sha, size in a.must or []:
        st["must"][cid] = sha
        st["contents"][sha] = int(size)
    for sha, size in a.content or []:
        st["contents"][sha] = int(size)
    for cid in a.gone or []:
        st["must"].pop(cid, None)
        st["maybe"].pop(cid, None)
        st["gone"].append(cid)
    for cid in a.corrupt or []:
        st["corrupt"].append(cid)
    rep = Report()
    counts = {}
    if a.journal:
        counts = fold_journal(st, a.journal, rep)
    try:
        listed = list_all(a.base)
    except (OSError, HTTPError, RuntimeError, ValueError) as e:
        print("FAIL\tthe daemon answers listings after restart\t%r" % (e,))
        return 0
    poison = {p["sha"] for p in st["poison"]}
    must, maybe, gone = st["must"], st["maybe"], set(st["gone"])
    corrupt_ok = set(st["corrupt"])

    # Acknowledged checkpoints are all there, with their size and digest.
    bad = []
    for cid, sha in sorted(must.items(), key=lambda kv: int(kv[0])):
        c = listed.get(cid)
        if c is None:
            bad.append("id %s (sha %s) missing" % (cid, sha[:12]))
        elif c["sha256"] != sha or c["size"] != st["contents"].get(sha):
            bad.append("id %s is %s/%d, want %s/%d" % (cid, c["sha256"][:12], c["size"], sha[:12],
                                                       st["contents"].get(sha, -1)))
    rep.check("every acknowledged checkpoint is listed with its size and SHA-256", not bad,
              "; ".join(bad[:5]))

    # Acknowledged deletes stay deleted.
    bad = []
    for cid in sorted(gone, key=int):
        if cid in listed:
            bad.append("id %s listed" % cid)
    for cid in sorted(gone, key=int)[-5:]:
        s, _ = request(a.base, "GET", "/v1/checkpoints/%s" % cid)
        if s != 404:
            bad.append("GET id %s answered %d" % (cid, s))
    rep.check("every acknowledged delete stays deleted (404, not listed)", not bad,
              "; ".join(bad[:5]))

    # Nothing else is visible, except (with --adopt) a commit whose 201 was lost.
    bad, adopted = [], []
    for cid, c in sorted(listed.items(), key=lambda kv: int(kv[0])):
        if cid in must:
            continue
        if cid in maybe:
            must[cid] = maybe.pop(cid)  # a DELETE in flight did not happen: it stays
            continue
        sha = c["sha256"]
        if sha in poison:
            bad.append("id %s holds content refused with 400 digest_mismatch" % cid)
        elif sha not in st["contents"] or st["contents"][sha] != c["size"]:
            bad.append("id %s has content the client never sent (%s, %d bytes)" %
                       (cid, sha[:12], c["size"]))
        elif a.adopt and (not a.journal or sha in st.get("lost_shas", [])):
            adopted.append(cid)
            must[cid] = sha
        elif a.adopt:
            bad.append("id %s (%s) was never acknowledged, and no upload of its bytes went "
                       "unanswered" % (cid, sha[:12]))
        else:
            bad.append("id %s (%s) was never acknowledged" % (cid, sha[:12]))
    for cid in list(maybe):  # not listed: the in-flight DELETE happened
        if cid not in listed:
            maybe.pop(cid)
            st["gone"].append(cid)
    rep.check("no checkpoint is visible that was refused, never sent, or (unless its 201 was "
              "lost in the crash) never acknowledged", not bad, "; ".join(bad[:5]))
    if a.expect_new:
        hits = [cid for cid, c in listed.items() if c["sha256"] == a.expect_new]
        rep.check("the expected new checkpoint is present", len(hits) >= 1,
                  "no listed checkpoint has sha %s" % a.expect_new[:12])

    # Every listed checkpoint serves exactly its bytes. A checkpoint downloaded and hashed in an
    # earlier round whose blob file is still the same file (inode, size, mtime) gets a HEAD
    # instead, unless --full: blobs are immutable, and this keeps a round of the crash loop short.
    bad, downloaded = [], 0
    verified = st.setdefault("verified", {})
    for cid, c in sorted(listed.items(), key=lambda kv: int(kv[0])):
        if cid in corrupt_ok:
            if not c.get("corrupt"):
                bad.append("id %s should be flagged corrupt" % cid)
            continue
        if c.get("corrupt"):
            bad.append("id %s is flagged corrupt" % cid)
            continue
        sha = c["sha256"]
        try:
            fst = os.stat(os.path.join(a.data, "blobs", sha[:2], sha))
            ident = [fst.st_ino, fst.st_size, fst.st_mtime_ns, sha]
        except OSError:
            ident = None
        if not a.full and ident and verified.get(cid) == ident:
            s, _ = request(a.base, "HEAD", "/v1/checkpoints/%s/blob" % cid)
            if s != 200:
                bad.append("HEAD id %s answered %d" % (cid, s))
            continue
        s, got, n = download_digest(a.base, cid)
        downloaded += 1
        if s != 200 or got != sha or n != c["size"]:
            bad.append("id %s: HTTP %d, %d bytes, sha %s (want %d bytes, sha %s)" %
                       (cid, s, n, got[:12], c["size"], sha[:12]))
        elif ident:
            verified[cid] = ident
    for cid in list(verified):
        if cid not in listed:
            del verified[cid]
    rep.check("every listed checkpoint downloads intact (size and SHA-256) and none is flagged "
              "corrupt", not bad, "; ".join(bad[:5]))

    # DATA/tmp is empty (an aborted upload may take a moment to clean up).
    tmpdir = os.path.join(a.data, "tmp")
    deadline = time.time() + a.wait_tmp
    while True:
        left = sorted(os.listdir(tmpdir)) if os.path.isdir(tmpdir) else ["(no tmp dir)"]
        if not left or time.time() >= deadline:
            break
        time.sleep(0.05)
    rep.check("DATA/tmp is empty", not left, "left: " + " ".join(left[:5]))

    # DATA/blobs holds exactly the listed checkpoints' blobs.
    files, stray = {}, []
    bdir = os.path.join(a.data, "blobs")
    for sub in sorted(os.listdir(bdir)):
        p = os.path.join(bdir, sub)
        if not os.path.isdir(p):
            stray.append(sub)
            continue
        for name in os.listdir(p):
            if name[:2] != sub or len(name) != 64:
                stray.append(sub + "/" + name)
            files[name] = os.path.getsize(os.path.join(p, name))
    want = {c["sha256"]: c["size"] for cid, c in listed.items() if cid not in corrupt_ok}
    extra = sorted(set(files) - set(want))
    missing = sorted(set(want) - set(files))
    wrong = sorted(s for s in want if s in files and files[s] != want[s])
    rep.check("DATA/blobs holds exactly the blobs of listed checkpoints (no unreferenced blob "
              "outside quarantine, none missing)", not (extra or missing or wrong or stray),
              "unreferenced: %s; missing: %s; wrong size: %s; stray: %s" %
              (" ".join(x[:12] for x in extra[:4]), " ".join(x[:12] for x in missing[:4]),
               " ".join(x[:12] for x in wrong[:4]), " ".join(stray[:4])))

    # Quarantined blobs are whole: a blob path never held a partial file.
    qdir = os.path.join(a.data, "quarantine")
    bad, qnew = [], []
    for name in sorted(os.listdir(qdir)) if os.path.isdir(qdir) else []:
        if name in st["qseen"]:
            continue
        qnew.append(name)
        sha = name.split(".")[0]
        got = sha_file(os.path.join(qdir, name))
        if got != sha:
            bad.append("%s hashes to %s" % (name[:20], got[:12]))
        st["qseen"].append(name)
    rep.check("every quarantined blob is complete (its bytes hash to its name)", not bad,
              "; ".join(bad[:5]))

    ic = integrity_check(os.path.join(a.data, "index.db"))
    rep.check("PRAGMA integrity_check on index.db is ok", ic == "ok", ic)

    if a.healthz:
        s, h = jget(a.base, "/healthz")
        got = "%d %s" % (s, (h or {}).get("status"))
        rep.check("/healthz answers 200 %s%s" % (a.healthz, " (a failed sync is never retried)"
                                                   if a.healthz == "read_only" else ""),
                  got == "200 " + a.healthz, "got " + got)
    if a.pid:
        # An upload that failed must not leak its temp file or socket: back to the idle count.
        fdir = "/proc/%d/fd" % a.pid
        deadline = time.time() + 3
        while True:
            try:
                n = len(os.listdir(fdir))
            except OSError:
                n = -1
            if 0 <= n <= a.fds or time.time() >= deadline:
                break
            time.sleep(0.05)
        extra = []
        if n > a.fds:
            for fd in sorted(os.listdir(fdir), key=int):
                try:
                    extra.append("%s->%s" % (fd, os.readlink(os.path.join(fdir, fd))))
                except OSError:
                    pass
        rep.check("open file descriptors back to the idle count (%d)" % a.fds, 0 <= n <= a.fds,
                  "now %d: %s" % (n, " ".join(extra[-12:])))

    # With --repair, delete what should not be there (after reporting it), so that one failure
    # does not make every later check of the same store fail too.
    repaired = []
    if a.repair:
        for cid, c in sorted(listed.items(), key=lambda kv: int(kv[0])):
            if cid not in must and cid not in maybe and cid not in corrupt_ok:
                s, _ = request(a.base, "DELETE", "/v1/checkpoints/%s" % cid)
                repaired.append("%s:%d" % (cid, s))
                if s == 204:
                    st["gone"].append(cid)

    # Keep the store small so that the next round's full download stays cheap.
    pruned = 0
    if a.prune:
        nmax, bmax = (int(x) for x in a.prune.split(","))
        alive = sorted(must.items(), key=lambda kv: int(kv[0]))
        total = sum(st["contents"].get(s, 0) for _, s in alive)
        bad = []
        while alive and (len(alive) > nmax or total > bmax):
            cid, sha = alive.pop(0)
            s, body = request(a.base, "DELETE", "/v1/checkpoints/%s" % cid)
            if s != 204:
                bad.append("DELETE %s answered %d %s" % (cid, s, body[:100]))
                break
            must.pop(cid)
            st["gone"].append(cid)
            total -= st["contents"].get(sha, 0)
            pruned += 1
        rep.check("pruning DELETEs after the checks answer 204", not bad, "; ".join(bad))

    for k, v in counts.items():
        st["stats"][k] = st["stats"].get(k, 0) + v
    st["stats"]["adopted"] = st["stats"].get("adopted", 0) + len(adopted)
    st["stats"]["quarantined"] = st["stats"].get("quarantined", 0) + len(qnew)
    save_state(a.state, st)
    rep.emit()
    if repaired:
        print("INFO\trepair: deleted the unexpected checkpoint(s) (id:status) %s" % " ".join(repaired))
    print("INFO\tlisted %d (%d downloaded), adopted %s, new in quarantine %d, pruned %d, journal %s" %
          (len(listed), downloaded, ",".join(adopted) or "-", len(qnew), pruned,
           " ".join("%s=%d" % kv for kv in counts.items()) or "-"))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("catalog")
    p.add_argument("state")
    p.add_argument("--master", required=True)
    p.add_argument("--count", type=int, default=40)
    p.add_argument("--seed", type=int, default=1)
    p = sub.add_parser("load")
    p.add_argument("state")
    p.add_argument("--base", required=True)
    p.add_argument("--journal", required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--uploaders", type=int, default=3)
    p.add_argument("--max-seconds", type=float, default=30)
    p = sub.add_parser("verify")
    p.add_argument("state")
    p.add_argument("--base", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--journal")
    p.add_argument("--adopt", action="store_true")
    p.add_argument("--expect-new")
    p.add_argument("--prune")
    p.add_argument("--wait-tmp", type=float, default=0)
    p.add_argument("--full", action="store_true", help="download every checkpoint")
    p.add_argument("--repair", action="store_true", help="delete unexpected checkpoints after")
    p.add_argument("--healthz", choices=("ok", "read_only"), help="the status /healthz must say")
    p.add_argument("--pid", type=int, help="daemon whose open fds to count (with --fds)")
    p.add_argument("--fds", type=int, default=0, help="idle fd count of --pid")
    p.add_argument("--must", nargs=3, action="append", metavar=("ID", "SHA", "SIZE"),
                   help="note an acknowledged checkpoint first")
    p.add_argument("--content", nargs=2, action="append", metavar=("SHA", "SIZE"),
                   help="note content the client sent")
    p.add_argument("--gone", action="append", metavar="ID", help="note an acknowledged delete")
    p.add_argument("--corrupt", action="append", metavar="ID",
                   help="note a checkpoint damaged on purpose (must be flagged corrupt)")
    a = ap.parse_args()
    try:
        return {"catalog": cmd_catalog, "load": cmd_load,
                "verify": cmd_verify}[a.cmd](a) or 0
    except BrokenPipeError:
        return 2


if __name__ == "__main__":
    sys.exit(main())
