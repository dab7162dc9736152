"""The Python binding's lifecycle calls (issue 5) against a real ckptd: pin/unpin,
aliases with compare-and-swap (PreconditionFailed), resume, download/read by alias
and resume, leases, the watch() iterator (latency, order, stopping it), and the
retention policy (set_policy, policy, plan, delete_policy).

Usage: CKPT_URL=http://HOST:PORT test_lifecycle.py SCRATCH_DIR
(run by tests/integration/161_python_lifecycle.sh).
"""

import itertools
import os
import sys
import threading
import time

from tcheck import check, check_eq, check_raises, diag, done, section

import ckpt

URL = os.environ["CKPT_URL"]
SCRATCH = sys.argv[1]
RUN = "pylc-%d" % os.getpid()

c = ckpt.Client(URL, retries=2)

with section("pins"):
    a = c.push(b"checkpoint a" * 10, RUN, epoch=1, loss=0.5)
    b = c.push(b"checkpoint b" * 10, RUN, epoch=2, loss=0.2)
    d = c.push(b"checkpoint d" * 10, RUN, epoch=3, loss=0.4)
    check_eq("pin returns the checkpoint", a.id, c.pin(a.id).id)
    check_eq("unpin returns the checkpoint", a.id, c.unpin(a.id).id)
    check_raises("pin of a missing checkpoint raises NotFound", ckpt.NotFound, c.pin, 987654321)

with section("aliases"):
    check("set_alias(create=True) of a new alias returns None",
          c.set_alias(RUN, "production", a.id, create=True) is None)
    e = check_raises("set_alias(create=True) of an existing alias raises PreconditionFailed",
                     ckpt.PreconditionFailed, c.set_alias, RUN, "production", b.id, create=True)
    check_eq("  ... with code precondition_failed and status 412", ("precondition_failed", 412),
             (e.code, e.status) if e else None)
    check_eq("set_alias(if_match=current) returns the previous id", a.id,
             c.set_alias(RUN, "production", b.id, if_match=a.id))
    check_raises("set_alias with a stale if_match raises PreconditionFailed",
                 ckpt.PreconditionFailed, c.set_alias, RUN, "production", d.id, if_match=a.id)
    check_eq("alias() gives the CAS winner", b.id, c.alias(RUN, "production").id)
    check_eq("alias('latest') is the newest", d.id, c.alias(RUN, "latest").id)
    check_eq("alias('best') is the lowest loss", b.id, c.alias(RUN, "best").id)
    names = [(x.name, x.computed) for x in c.aliases(RUN)]
    check("aliases() lists best, latest, production (user) sorted by name",
          ("best", True) in names and ("latest", True) in names and ("production", False) in names
          and [n for n, _ in names] == sorted(n for n, _ in names))
    check_raises("set_alias of a computed alias raises InvalidArgument (alias_reserved)",
                 ckpt.InvalidArgument, c.set_alias, RUN, "latest", a.id)
    check_raises("alias() of a missing alias raises NotFound", ckpt.NotFound, c.alias, RUN, "nosuch")
    path = os.path.join(SCRATCH, "prod.bin")
    check_eq("download(alias=...) fetches the checkpoint it points at", b.id,
             c.download(run=RUN, alias="production", path=path).id)
    with open(path, "rb") as f:
        check_eq("  ... its bytes", b"checkpoint b" * 10, f.read())
    check_raises("delete_alias with a stale if_match raises PreconditionFailed",
                 ckpt.PreconditionFailed, c.delete_alias, RUN, "production", if_match=a.id)
    c.delete_alias(RUN, "production", if_match=b.id)
    check_raises("after delete_alias, alias() raises NotFound", ckpt.NotFound, c.alias, RUN,
                 "production")
    check_raises("best and alias together raise InvalidArgument", ckpt.InvalidArgument,
                 c.download, run=RUN, best=True, alias="x", path=path)

with section("resume"):
    check_eq("resume() is the newest checkpoint", d.id, c.resume(RUN).id)
    buf, info = c.read(run=RUN, resume=True)
    check_eq("read(resume=True) gives its bytes", (d.id, b"checkpoint d" * 10), (info.id, bytes(buf)))
    check_raises("resume() of an unknown run raises NotFound", ckpt.NotFound, c.resume,
                 RUN + "-none")

with section("leases"):
    lease, expires = c.lease(a.id, ttl=30)
    check("lease() returns a 32-hex-digit id and an expiry",
          len(lease) == 32 and all(ch in "0123456789abcdef" for ch in lease) and expires)
    c.release_lease(lease)
    check_raises("release_lease twice raises NotFound", ckpt.NotFound, c.release_lease, lease)

with section("watch"):
    wrun = RUN + "-w"
    pushed = {}

    def pusher():
        pc = ckpt.Client(URL)
        for i in range(3):
            time.sleep(0.3)
            info = pc.push(b"w%d" % i * 50, wrun, epoch=i)
            pushed[info.id] = time.monotonic()
        pc.close()

    t = threading.Thread(target=pusher)
    t.start()
    got = []
    t0 = time.monotonic()
    for cp in c.watch(wrun):
        got.append((cp.id, cp.epoch, time.monotonic()))
        if len(got) == 3:
            break
    stopped = time.monotonic()
    t.join()
    check_eq("watch() of a run that does not exist yet yields the 3 pushed checkpoints in order",
             [0, 1, 2], [e for _, e, _ in got])
    delays = [seen - pushed[i] for i, _, seen in got if i in pushed]
    diag("watch delays after each push returned: %s" % ["%.1f ms" % (x * 1000) for x in delays])
    check("  ... each within 1 s of its upload", delays and max(delays) < 1.0)
    check("  ... and leaving the loop stops it within 1.5 s (%.2f s)" % (stopped - got[-1][2]),
          stopped - got[-1][2] < 1.5)
    check_eq("watch(after=0) yields the backlog first", [x[0] for x in got],
             [cp.id for cp in itertools.islice(c.watch(wrun, after=0), 3)])
    check_eq("the client still works after a watch", d.id, c.get(d.id).id)
    check_raises("watch of an invalid run name raises InvalidArgument", ckpt.InvalidArgument,
                 lambda: next(iter(c.watch("bad/run"))))

with section("retention policy"):
    prun = RUN + "-p"
    ids = [c.push(b"p%d" % i * 40, prun, epoch=i, loss=1.0 - i / 10).id for i in range(5)]
    check_eq("policy() of a run without one is (None, 'none')", (None, "none"), c.policy(prun))
    check_eq("set_policy with every kind of rule drops nothing here", [],
             c.set_policy(prun, keep_last=10, keep_best=[("loss", "min", 2), ("acc", "max", 1)],
                          keep_every=("epoch", 2), keep_within="48h"))
    check_eq("policy() gives the rules back in the server's shape, source 'run'",
             ({"keep_last": 10, "keep_best": [{"metric": "loss", "mode": "min", "k": 2},
                                              {"metric": "acc", "mode": "max", "k": 1}],
               "keep_every": {"field": "epoch", "n": 2}, "keep_within": "48h"}, "run"),
             c.policy(prun))
    c.pin(ids[0])
    check_eq("set_policy(keep_last=1) returns the dropped ids", ids[1:4],
             sorted(c.set_policy(prun, keep_last=1)))
    plan = c.plan(prun)
    check_eq("plan() lists what is left, kept", [(ids[0], "keep"), (ids[4], "keep")],
             [(i, a) for i, a, _ in plan])
    check("  ... with the reasons ('pinned' for the pinned one)", "pinned" in plan[0][2])
    check_raises("set_policy without a rule raises InvalidArgument", ckpt.InvalidArgument,
                 c.set_policy, prun)
    check_raises("a bad keep_best mode raises InvalidArgument", ckpt.InvalidArgument,
                 c.set_policy, prun, keep_best=[("loss", "avg", 1)])
    c.delete_policy(prun)
    check_raises("delete_policy twice raises NotFound", ckpt.NotFound, c.delete_policy, prun)

c.close()
done()
