"""A 1 GiB state dict through Client.save and Client.load against a real ckptd,
with the memory each costs: save must stream (no second copy of the state),
load may hold the verified bytes once besides the objects torch builds.

Usage: CKPT_URL=http://HOST:PORT test_large.py DATA_DIR
(run by tests/integration/99_python_large.sh). Skips visibly with less than
6 GB free on DATA_DIR's file system or less than 8 GiB of memory available.
Save and load each run in a child process (test_large.py --child save|load),
because a peak RSS is a high-water mark: each child reports its own peak
(VmHWM, reset after its set-up where the kernel allows) against its RSS
once the state is built.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

ELEMENTS = 268_435_456  # float32: exactly 1 GiB
RUN = "py-large"


def status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def reset_peak():
    """Reset VmHWM to the current RSS (Linux >= 4.0); False when the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def digest(tensor):
    """SHA-256 of a tensor's bytes, read in place (no copy)."""
    return hashlib.sha256(memoryview(tensor.numpy()).cast("B")).hexdigest()


def child(what, arg):
    import torch

    import ckpt

    client = ckpt.Client()
    out = {}
    if what == "save":
        gen = torch.Generator().manual_seed(1)
        state = {"w": torch.randn(ELEMENTS, generator=gen), "epoch": 1}
        out["digest"] = digest(state["w"])
        out["reset"] = reset_peak()
        base = status("VmRSS")
        t0 = time.time()
        info = client.save(state, RUN, epoch=1, loss=0.5)
        out["secs"] = time.time() - t0
        out["id"], out["size"] = info.id, info.size
    else:
        out["reset"] = reset_peak()
        base = status("VmRSS")
        t0 = time.time()
        state, info = client.load(int(arg), map_location="cpu")
        out["secs"] = time.time() - t0
        w = state["w"]
        out["digest"] = digest(w)
        out["dtype"], out["numel"], out["epoch"] = str(w.dtype), w.numel(), state["epoch"]
    out["base"], out["peak"] = base, status("VmHWM")
    print("RESULT " + json.dumps(out), flush=True)


if len(sys.argv) > 1 and sys.argv[1] == "--child":
    child(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "")
    sys.exit(0)

from tcheck import check, check_eq, diag, done, skip  # noqa: E402

DATA = sys.argv[1]
STATE = ELEMENTS * 4
MiB = 1 << 20


def mem_available():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def run_child(*args):
    p = subprocess.run([sys.executable, os.path.abspath(__file__), "--child"] + list(args),
                       capture_output=True, text=True, timeout=300)
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:]), p
    return None, p


free = shutil.disk_usage(DATA).free
avail = mem_available()
if free < 6 * 10**9 or avail < 8 * (1 << 30):
    skip("1 GiB state dict through save/load", "SKIPPED: needs 6 GB free and 8 GiB available, have "
         "%.1f GB free on %s and %.1f GiB available" % (free / 1e9, DATA, avail / (1 << 30)))
    done()

saved, p = run_child("save")
if not check("save() of a 1 GiB state dict succeeds", saved is not None,
             "exit status %s" % p.returncode, "stderr: " + p.stderr[-1500:]):
    done()
loaded, p = run_child("load", str(saved["id"]))
if not check("load() of it succeeds", loaded is not None,
             "exit status %s" % p.returncode, "stderr: " + p.stderr[-1500:]):
    done()

save_growth = saved["peak"] - saved["base"]
load_growth = loaded["peak"] - loaded["base"]
diag("state %d MiB; checkpoint %d bytes (%.1f MiB)" % (STATE // MiB, saved["size"], saved["size"] / MiB),
     "save: %.1f s (%.0f MiB/s), RSS with the state built %d MiB, peak %d MiB, growth %d MiB = %.2fx the state%s"
     % (saved["secs"], saved["size"] / MiB / saved["secs"], saved["base"] // MiB, saved["peak"] // MiB,
        save_growth // MiB, save_growth / STATE, "" if saved["reset"] else " (VmHWM not reset)"),
     "load: %.1f s (%.0f MiB/s), RSS before %d MiB, peak %d MiB, growth %d MiB = %.2fx the state%s"
     % (loaded["secs"], saved["size"] / MiB / loaded["secs"], loaded["base"] // MiB, loaded["peak"] // MiB,
        load_growth // MiB, load_growth / STATE, "" if loaded["reset"] else " (VmHWM not reset)"))
check("the checkpoint holds the whole state (size >= 1 GiB)", saved["size"] >= STATE, saved["size"])
check_eq("load() returns the tensor saved: dtype, length, SHA-256 of its bytes, epoch",
         ("torch.float32", ELEMENTS, saved["digest"], 1),
         (loaded["dtype"], loaded["numel"], loaded["digest"], loaded["epoch"]))
check("save() streams: peak RSS growth below 0.5x the state (no extra copy)", save_growth < 0.5 * STATE,
      "growth %d MiB for a %d MiB state" % (save_growth // MiB, STATE // MiB))
check("load() peak RSS growth at most 2.3x the state (the state + one copy of the bytes + slack)",
      load_growth <= 2.3 * STATE, "growth %d MiB for a %d MiB state" % (load_growth // MiB, STATE // MiB))
done()
