#!/usr/bin/env python3
"""strace_order.py - check the durability order of ckptd's commits in an strace log.

  strace_order.py TRACE DATA CLIENTS

TRACE is `strace -f -ttt -yy -s 256 -o TRACE -p PID` output (one file, every thread), DATA the
data directory, CLIENTS a file with one line per request the test made:

  upload PORT HTTP_STATUS ID SHA256 SIZE      (PORT: the client's local port)
  delete PORT HTTP_STATUS ID SHA256

strace prints a thread's syscall entry (the call has not run yet: the thread waits in the entry
stop) and its exit in the order it handles them, so line numbers order events: B started after A
finished when B's entry line comes after A's exit line. For each upload it checks

  every write to its temp file < fdatasync(temp) < rename into blobs/ab/<sha>
  < fsync(blobs/ab) (and fsync(blobs) when ab/ was new) < the index commit's sync of index.db-wal
  < the first byte of the 201 written to that client's socket

and for each delete: the index commit's sync < unlink of the blob (when no other checkpoint shares
it) < the 204. The fdatasync runs on the upload's commit thread; the rename, the directory syncs
and the index commit may run on another one, which committed a batch of uploads (group commit:
an upload joins the queue only once its fdatasync returned), so only the line order is checked
there; from the rename on, one thread does the rest. Prints `PASS<TAB>name` or `FAIL<TAB>name<TAB>detail` lines.
"""
import re
import sys
from collections import defaultdict

LINE = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(.*)$")
RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)$")
CALL = re.compile(r"^(\w+)\((.*)$")
FD0 = re.compile(r"^(-?\d+)<(\w+:\[[^\]]*\]|[^>]*)>")
STR = re.compile(r'"((?:[^"\\]|\\.)*)"')
RET = re.compile(r"^(.*)\)\s+=\s+(-?\d+|\?)(.*)$", re.S)


class Call:
    __slots__ = ("tid", "name", "args", "ret", "err", "start", "end")

    def __init__(self, tid, name, args, start):
        self.tid, self.name, self.args, self.start = tid, name, args, start
        self.ret, self.err, self.end = None, "", None

    def fd_path(self):
        """What strace -yy showed for the first argument, a file descriptor: a path, or
        TCP:[local->peer] for a socket."""
        m = FD0.match(self.args)
        return m.group(2) if m else None

    def strings(self):
        return STR.findall(self.args)

    def __repr__(self):
        return "%s:%s(%s)=%s@%d-%d" % (self.tid, self.name, self.args[:60], self.ret, self.start,
                                       self.end or -1)


def parse(path):
    calls, pending = [], {}
    with open(path, errors="replace") as f:
        for idx, raw in enumerate(f):
            m = LINE.match(raw.rstrip("\n"))
            if not m:
                continue
            tid, rest = int(m.group(1)), m.group(3)
            r = RESUMED.match(rest)
            if r:
                c = pending.pop(tid, None)
                if c is None:
                    continue
                c.args += r.group(2)
                finish(c, idx)
                continue
            if rest.startswith("+++") or rest.startswith("---"):
                continue
            m2 = CALL.match(rest)
            if not m2:
                continue
            c = Call(tid, m2.group(1), m2.group(2), idx)
            calls.append(c)
            if rest.endswith("<unfinished ...>"):
                c.args = c.args[: -len("<unfinished ...>")]
                pending[tid] = c
            else:
                finish(c, idx)
    return calls


def finish(c, idx):
    c.end = idx
    m = RET.match(c.args)
    if m:
        c.args, c.ret, c.err = m.group(1), m.group(2), m.group(3).strip()


WRITES = {"write", "pwrite64", "writev", "pwritev", "pwritev2"}
SYNCS = {"fdatasync", "fsync", "sync_file_range"}
SENDS = {"sendto", "sendmsg", "send", "write", "writev", "sendfile", "sendmmsg"}


def main():
    trace, data, clients = sys.argv[1], sys.argv[2].rstrip("/"), sys.argv[3]
    calls = parse(trace)
    blobs, tmp = data + "/blobs", data + "/tmp"
    wal = data + "/index.db-wal"
    results = []

    def check(name, ok, detail=""):
        results.append((name, ok, detail))

    done = [c for c in calls if c.end is not None]
    check("the strace log has the daemon's syscalls (%d)" % len(done), len(done) > 0)

    def sock_port(c):
        m = re.search(r"->[^\]]*:(\d+)\]", c.fd_path() or "")
        return int(m.group(1)) if m else None

    by_port = defaultdict(list)
    for c in done:
        if c.name in SENDS and (c.fd_path() or "").startswith("TCP:"):
            by_port[sock_port(c)].append(c)

    def first_reply(port, status):
        for c in by_port.get(port, []):
            if ('"HTTP/1.1 %d ' % status) in c.args:
                return c
        return None

    def wal_commit_after(tid, after):
        """The first sync of index.db-wal by tid that starts after line `after`, and whether the
        same thread wrote frames to the WAL in between."""
        wrote = False
        for c in done:
            if c.tid != tid or c.start <= after:
                continue
            if c.name in WRITES and c.fd_path() == wal:
                wrote = True
            if c.name in SYNCS and c.fd_path() == wal:
                return c, wrote
        return None, wrote

    renames = [c for c in done if c.name in ("renameat2", "renameat", "rename", "linkat")]
    ups, dels = [], []
    with open(clients) as f:
        for ln in f:
            p = ln.split()
            if p and p[0] == "upload":
                ups.append({"port": int(p[1]), "status": int(p[2]), "id": int(p[3]), "sha": p[4],
                            "size": int(p[5])})
            elif p and p[0] == "delete":
                dels.append({"port": int(p[1]), "status": int(p[2]), "id": int(p[3]), "sha": p[4]})

    # Uploads of the same content: the publish lock orders rename and insert, so the k-th rename
    # attempt (by time) belongs to the k-th id.
    seen = defaultdict(int)
    for u in sorted(ups, key=lambda u: u["id"]):
        label = "upload id %d (%d bytes, port %d)" % (u["id"], u["size"], u["port"])
        sha = u["sha"]
        if u["status"] != 201:
            check(label + ": answered 201", False, "HTTP %d" % u["status"])
            continue
        rn = [c for c in renames if c.strings() and c.strings()[-1].endswith("/" + sha)]
        k = seen[sha]
        seen[sha] += 1
        if len(rn) <= k:
            check(label + ": its rename into blobs/ is in the log", False,
                  "no rename to .../%s (found %d)" % (sha[:12], len(rn)))
            continue
        ren = rn[k]
        src = ren.strings()[0]
        tpath = tmp + "/" + src
        dedup = ren.ret != "0"
        writes = [c for c in done if c.name in WRITES and c.fd_path() == tpath]
        wrote = sum(int(c.ret) for c in writes if c.ret and c.ret.lstrip("-").isdigit()
                    and int(c.ret) > 0)
        syncs = [c for c in done if c.name in SYNCS and c.fd_path() == tpath]
        check(label + ": every body byte was written to its temp file tmp/%s" % src,
              wrote == u["size"], "wrote %d of %d bytes in %d writes" % (wrote, u["size"],
                                                                        len(writes)))
        if not syncs:
            check(label + ": its temp file is fdatasynced", False, "no sync of %s" % tpath)
            continue
        sy = syncs[0]
        late = [c for c in writes if c.end > sy.start]
        check(label + ": every write to the temp file < fdatasync(temp)", not late and sy.ret == "0",
              "writes after the sync: %s; sync: %r" % (late[:2], sy))
        blob = blobs + "/" + sha[:2] + "/" + sha
        after = [c for c in done if c.name in WRITES and c.fd_path() in (tpath, blob)
                 and c.start > sy.start]
        check(label + ": nothing writes to the temp file or the blob after its sync", not after,
              repr(after[:2]))
        check(label + ": fdatasync(temp) < rename into blobs/%s/<sha>" % sha[:2],
              sy.end < ren.start,
              "sync %r, rename %r" % (sy, ren))
        last = ren
        if dedup:
            # The blob was already there (same bytes): no new directory entry to flush.
            check(label + ": a second upload of the same bytes finds the blob in place (EEXIST)",
                  "EEXIST" in ren.err, repr(ren))
        else:
            sub = blobs + "/" + sha[:2]
            dsync = [c for c in done if c.name in SYNCS and c.tid == ren.tid and
                     c.fd_path() == sub and c.start > ren.end]
            ok = bool(dsync) and dsync[0].ret == "0"
            check(label + ": rename < fsync(blobs/%s)" % sha[:2], ok,
                  "no fsync of %s after the rename" % sub)
            if not ok:
                continue
            last = dsync[0]
            # The publish tries mkdirat(ab) just before its rename: the last such call by this
            # thread says whether ab/ is new now. (Any earlier success would be another upload's
            # with the same first byte, whose own check covers it.)
            tried = [c for c in done if c.name == "mkdirat" and c.tid == ren.tid
                     and c.strings() and c.strings()[0] == sha[:2] and c.end < ren.start]
            if tried and max(tried, key=lambda c: c.start).ret == "0":
                psync = [c for c in done if c.name in SYNCS and c.tid == ren.tid and
                         c.fd_path() == blobs and c.start > ren.end]
                check(label + ": blobs/%s was new, so rename < fsync(blobs) too" % sha[:2],
                      bool(psync) and psync[0].ret == "0", "no fsync of %s" % blobs)
                if psync:
                    last = max(last, psync[0], key=lambda c: c.end)
        commit, framed = wal_commit_after(ren.tid, last.end)
        check(label + ": fsync of the blob directory < the index commit's sync of index.db-wal",
              commit is not None and framed and commit.ret == "0",
              "no WAL write+sync by thread %d after line %d" % (ren.tid, last.end))
        if commit is None:
            continue
        reply = first_reply(u["port"], 201)
        check(label + ": the index commit's sync < the first byte of the 201 on its socket",
              reply is not None and commit.end < reply.start,
              "commit %r, reply %r" % (commit, reply))

    for d in dels:
        label = "delete of id %d (port %d)" % (d["id"], d["port"])
        if d["status"] != 204:
            check(label + ": answered 204", False, "HTTP %d" % d["status"])
            continue
        blob_rel = d["sha"][:2] + "/" + d["sha"]
        unl = [c for c in done if c.name in ("unlinkat", "unlink") and c.strings() and
               c.strings()[-1] == blob_rel]
        check(label + ": its unshared blob is unlinked", len(unl) == 1 and unl[0].ret == "0",
              repr(unl))
        if len(unl) != 1:
            continue
        u = unl[0]
        # In the delete's thread, just before the unlink: the commit's WAL frames, then its sync.
        before = [c for c in done if c.tid == u.tid and c.end < u.start]
        ok = len(before) >= 2 and before[-1].name in SYNCS and before[-1].fd_path() == wal \
            and before[-1].ret == "0" and before[-2].name in WRITES and before[-2].fd_path() == wal
        check(label + ": the index commit (WAL writes, then sync) < unlink of the blob", ok,
              "the thread's calls before the unlink: %r" % before[-3:])
        reply = first_reply(d["port"], 204)
        check(label + ": unlink of the blob < the first byte of the 204",
              reply is not None and u.end < reply.start, "unlink %r, reply %r" % (u, reply))

    for name, ok, detail in results:
        print("PASS\t%s" % name if ok else "FAIL\t%s\t%s" % (name, detail[:600]))


if __name__ == "__main__":
    main()
