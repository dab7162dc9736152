"""The ckpt torch helpers against a real ckptd: Client.save / Client.load and
ckpt.torch.Checkpointer in the three classic recipes (resume a training run
bit for bit after an interruption; a weights-only state dict into a fresh
model; timestamped versions picked by latest / best), save failures,
weights_only refusing arbitrary objects, and corrupt blobs.

Usage: CKPT_URL=http://HOST:PORT test_torch.py DATA_DIR SCRATCH_DIR
(run by tests/integration/98_python.sh). The training runs and the save
failures that could take the process down run in child processes
(test_torch.py --child ...), so each starts from a fresh interpreter.
"""

import copy
import hashlib
import os
import pickle
import random
import signal
import subprocess
import sys

import numpy as np
import torch
from torch import nn

import ckpt
from ckpt.torch import Checkpointer

torch.set_num_threads(1)


# ---------------------------------------------------------------- the training recipe

def build(seed):
    """Fixed data (seed 0); model, optimizer and scheduler initialised from `seed`."""
    torch.manual_seed(0)
    x = torch.randn(256, 10)
    y = (x[:, :3].sum(dim=1) > 0).long()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32,
                                         shuffle=True)
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    return loader, model, optimizer, scheduler


def train_epoch(loader, model, optimizer):
    """One epoch; draws from torch (shuffle, dropout), Python's random and numpy's generator."""
    model.train()
    total, correct, n = 0.0, 0, 0
    for xb, yb in loader:
        xb = xb + random.gauss(0.0, 0.01) + float(np.random.normal(0.0, 0.01))
        optimizer.zero_grad()
        out = model(xb)
        loss = nn.functional.cross_entropy(out, yb)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(xb)
        correct += int((out.argmax(dim=1) == yb).sum())
        n += len(xb)
    return total / n, correct / n


def child_train(run, epochs, stop_after, seed, out, control):
    """Train `run` to `epochs` with a Checkpointer(every_n_epochs=2), resuming from the server.

    stop_after: SIGKILL ourselves right after that epoch (an interruption).
    control: after resume, re-seed every generator (what a run that does not
    restore RNG states would do) and never save.
    """
    loader, model, optimizer, scheduler = build(seed)
    ckp = Checkpointer(ckpt.Client(), run, model, optimizer,
                       every_n_epochs=1000 if control else 2, scheduler=scheduler)
    start = ckp.resume()
    print("resumed at %d" % start, flush=True)
    if control:
        torch.manual_seed(seed)
        random.seed(seed)
        np.random.seed(seed)
    for epoch in range(start, epochs):
        loss, acc = train_epoch(loader, model, optimizer)
        scheduler.step()
        ckp.step(epoch, loss, acc=acc)
        if epoch == stop_after:
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "start": start}, out)


def child_save_error(case):
    """client.save() of a 16 MB state that must fail; report what was raised, then survive."""
    import gc
    big = {"w": torch.randn(4_000_000)} if case != "down-small" else {"w": torch.zeros(3)}
    try:
        if case == "badrun":
            ckpt.Client().save(big, "bad/name")
        else:
            sock = __import__("socket").socket()
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            sock.close()
            ckpt.Client("http://127.0.0.1:%d" % port, retries=1).save(big, "py-save-down")
        print("RESULT none -", flush=True)
    except BaseException as e:  # noqa: B902
        print("RESULT %s %s" % (type(e).__name__, getattr(e, "code", "-") or "-"), flush=True)
        print("# %r" % e, flush=True)
        del e
    gc.collect()
    print("SURVIVED", flush=True)


if len(sys.argv) > 1 and sys.argv[1] == "--child":
    if sys.argv[2] == "train":
        run, epochs, stop_after, seed, out, control = sys.argv[3:9]
        child_train(run, int(epochs), int(stop_after), int(seed), out, control == "control")
    elif sys.argv[2] == "save-error":
        child_save_error(sys.argv[3])
    sys.exit(0)


# ---------------------------------------------------------------- the tests

from tcheck import check, check_eq, check_raises, diag, done, section  # noqa: E402

DATA = sys.argv[1]
SCRATCH = sys.argv[2]
client = ckpt.Client()


def child(*args, timeout=120):
    return subprocess.run([sys.executable, os.path.abspath(__file__), "--child"] + list(args),
                          capture_output=True, text=True, timeout=timeout)


def count(run):
    try:
        return len(list(client.list(run)))
    except ckpt.NotFound:
        return 0


def blob_file(hexdigest):
    return os.path.join(DATA, "blobs", hexdigest[:2], hexdigest)


def flip_byte(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 1]))


def tensors_equal(a, b):
    """Whether two state dicts (nested dicts/lists of tensors and plain values) are identical."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype
                and a.shape == b.shape and torch.equal(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(tensors_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(tensors_equal(x, y) for x, y in zip(a, b))
    return a == b


def differing(a, b):
    return [k for k in a if k not in b or not tensors_equal(a[k], b[k])]


def show(proc):
    return ["exit status %s" % proc.returncode, "stdout: " + proc.stdout[-600:],
            "stderr: " + proc.stderr[:600]]


class Unpicklable:
    def __reduce__(self):
        raise RuntimeError("Unpicklable refuses to be pickled")


class Arbitrary:
    """A plain Python object: not a tensor, not a container weights_only accepts."""

    def __init__(self, value):
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Arbitrary) and other.value == self.value


# ---- recipe 1: interrupt, resume, and end bit for bit where an uninterrupted run ends

with section("recipe 1: resume after an interruption"):
    full_out, resumed_out, control_out = (os.path.join(SCRATCH, n) for n in
                                          ("full.pt", "resumed.pt", "control.pt"))
    p = child("train", "r1-full", "6", "-1", "0", full_out, "-")
    check_eq("the uninterrupted run (6 epochs, checkpoint every 2) exits 0", 0, p.returncode) or diag(*show(p))
    p = child("train", "r1-split", "6", "2", "0", os.devnull, "-")
    check_eq("the interrupted run is killed (SIGKILL) after epoch 2", -signal.SIGKILL, p.returncode) or diag(*show(p))
    check_eq("having saved only epoch 1's checkpoint", [1], [c.epoch for c in client.list("r1-split")])
    p = child("train", "r1-split", "6", "-1", "1234", control_out, "control")
    check_eq("a control run that resumes but re-seeds its generators exits 0", 0, p.returncode) or diag(*show(p))
    p = child("train", "r1-split", "6", "-1", "1234", resumed_out, "-")
    check_eq("the resumed run (fresh objects, different seed) exits 0", 0, p.returncode) or diag(*show(p))
    check("it resumed at epoch 2 (after epoch 1's checkpoint)", "resumed at 2" in p.stdout, p.stdout[-300:])
    full = torch.load(full_out)
    resumed = torch.load(resumed_out)
    control = torch.load(control_out)
    check("interrupted + resumed ends with exactly the uninterrupted run's parameters (torch.equal)",
          tensors_equal(full["model"], resumed["model"]),
          "differing: %s" % differing(full["model"], resumed["model"]))
    check("and exactly its optimizer state (momentum buffers, lr)",
          tensors_equal(full["optimizer"], resumed["optimizer"]))
    check_eq("and its scheduler state", full["scheduler"], resumed["scheduler"])
    check("the comparison is sensitive: without the restored RNG states the parameters differ",
          not tensors_equal(full["model"], control["model"]))
    a = list(client.list("r1-full"))
    b = list(client.list("r1-split"))
    check_eq("both runs hold checkpoints of epochs 1, 3, 5", ([1, 3, 5], [1, 3, 5]),
             ([c.epoch for c in a], [c.epoch for c in b]))
    check_eq("with identical losses and accuracies", [(c.loss, c.metrics) for c in a],
             [(c.loss, c.metrics) for c in b])
    state, info = client.load(run="r1-full")
    check_eq("load(run=...) defaults to the latest checkpoint", a[-1].id, info.id)
    check("whose model_state_dict is the uninterrupted run's final parameters",
          tensors_equal(state["model_state_dict"], full["model"]))
    check_eq("a Checkpointer checkpoint holds the classic recipe's keys plus rng and scheduler",
             {"epoch", "model_state_dict", "optimizer_state_dict", "scheduler_state_dict", "loss", "rng"},
             set(state))
    check_eq("with epoch and loss as pushed", (5, a[-1].loss), (state["epoch"], state["loss"]))
    check("and torch, python and numpy RNG states", {"torch", "python", "numpy"} <= set(state["rng"]),
          sorted(state["rng"]))

# ---- recipe 2: weights only, into a fresh model

with section("recipe 2: weights-only state dict"):
    torch.manual_seed(7)
    model = nn.Sequential(nn.Linear(10, 16), nn.Tanh(), nn.BatchNorm1d(16), nn.Linear(16, 3))
    model.train()
    model(torch.randn(64, 10))  # moves the BatchNorm running statistics off their defaults
    model.eval()
    info = client.save(model.state_dict(), "r2-weights", epoch=0, loss=1.25, metrics={"acc": 0.5})
    check_eq("save() returns the checkpoint's record", ("r2-weights", 0, 1.25, {"acc": 0.5}),
             (info.run, info.epoch, info.loss, info.metrics))
    raw, _ = client.read(info.id)
    check_eq("whose sha256 and size are those of the bytes stored", (hashlib.sha256(raw).hexdigest(), len(raw)),
             (info.sha256, info.size))
    torch.manual_seed(99)
    fresh = nn.Sequential(nn.Linear(10, 16), nn.Tanh(), nn.BatchNorm1d(16), nn.Linear(16, 3))
    fresh.eval()
    probe = torch.randn(8, 10)
    check("a fresh model (other seed) gives other outputs before loading",
          not torch.equal(model(probe), fresh(probe)))
    weights, got = client.load(info.id, weights_only=True, map_location="cpu")
    check_eq("load(id, weights_only=True) returns the record too", info, got)
    check("the state dict comes back identical (keys, dtypes, values, BatchNorm buffers)",
          tensors_equal(dict(model.state_dict()), dict(weights)))
    check("its tensors are on the CPU", all(t.device.type == "cpu" for t in weights.values()))
    fresh.load_state_dict(weights)
    with torch.no_grad():
        check("the fresh model now gives identical outputs on a fixed input",
              torch.equal(model(probe), fresh(probe)))
    path = os.path.join(SCRATCH, "weights.pt")
    client.download(info.id, path=path)
    check("a downloaded checkpoint is a plain torch file (torch.load reads it)",
          tensors_equal(dict(model.state_dict()), dict(torch.load(path, weights_only=True))))

# ---- recipe 3: versions, latest and best

with section("recipe 3: versions, latest and best"):
    plan = [(0.9, 0.2), (0.4, 0.7), (0.6, 0.9), (0.5, 0.8)]  # (loss, acc) of versions 0..3
    versions, infos = [], []
    for v, (loss, acc) in enumerate(plan):
        torch.manual_seed(100 + v)
        state = {"version": v, "weights": {"w": torch.randn(64, 64), "b": torch.randn(64)},
                 "notes": ["epoch", v], "lr": 0.1 / (v + 1)}
        versions.append(state)
        infos.append(client.save(state, "r3-versions", epoch=v, step=100 * v, loss=loss,
                                 metrics={"acc": acc}))
    check("each version is a new checkpoint with a later id",
          [i.id for i in infos] == sorted({i.id for i in infos}))
    check("and a non-decreasing created_at", [i.created_at for i in infos] == sorted(i.created_at for i in infos))

    def pick(**kw):
        obj, info = client.load(run="r3-versions", **kw)
        return obj["version"], info.id, tensors_equal(obj, versions[obj["version"]])

    check_eq("load(run) is the newest version, restored exactly", (3, infos[3].id, True), pick())
    check_eq("load(run, latest=True) likewise", (3, infos[3].id, True), pick(latest=True))
    check_eq("load(run, best=True) is the lowest loss", (1, infos[1].id, True), pick(best=True))
    check_eq("load(run, best=True, metric='acc', mode='max') the highest acc", (2, infos[2].id, True),
             pick(best=True, metric="acc", mode="max"))
    check_eq("load(run, best=True, metric='acc', mode='min') the lowest acc", (0, infos[0].id, True),
             pick(best=True, metric="acc", mode="min"))
    check_eq("load(id) of an older version", (0, infos[0].id, True),
             (lambda o: (o[0]["version"], o[1].id, tensors_equal(o[0], versions[0])))(client.load(infos[0].id)))
    check_eq("client.latest() and client.best() agree with load", (infos[3].id, infos[1].id),
             (client.latest("r3-versions").id, client.best("r3-versions").id))
    check_eq("list(order_by='loss') ranks the versions", [1, 3, 2, 0],
             [c.epoch for c in client.list("r3-versions", order_by="loss")])
    check_raises("load(run) of an unknown run raises NotFound", ckpt.NotFound, client.load, run="r3-none")

# ---- save failures

with section("save failures"):
    client.save({"ok": torch.zeros(3)}, "py-save-fail")
    obj = {"w": torch.randn(1000), "bad": Unpicklable()}
    e = check_raises("save() of an object whose pickling raises: that exception propagates", RuntimeError,
                     client.save, obj, "py-save-fail", epoch=1)
    check("  (the very one torch.save raised)", e is not None and "refuses to be pickled" in str(e), e)
    check_eq("  and nothing is stored", 1, count("py-save-fail"))
    big = {"w": torch.zeros(4_000_000), "bad": Unpicklable()}
    check_raises("the same with 16 MB of tensors before the failing object", RuntimeError,
                 client.save, big, "py-save-fail")
    check_eq("  and nothing is stored", 1, count("py-save-fail"))
    info = client.save({"w": torch.arange(10)}, "py-save-fail", epoch=2)
    check_eq("the client saves normally afterwards", 2, count("py-save-fail"))

    for case, want, label in [
            ("badrun", ("InvalidArgument", "invalid_run_name"), "save() of a 16 MB state under a bad run name"),
            ("down", ("ConnectionError", "-"), "save() of a 16 MB state to a server that is down"),
            ("down-small", ("ConnectionError", "-"), "save() of a small state to a server that is down")]:
        p = child("save-error", case)
        got = next((tuple(l.split()[1:3]) for l in p.stdout.splitlines() if l.startswith("RESULT ")), None)
        check_eq("%s raises %s (code %s)" % (label, want[0], want[1]), want, got) or diag(*show(p))
        check("  and the process survives it (no abort, exit 0)",
              p.returncode == 0 and "SURVIVED" in p.stdout, "exit status %s" % p.returncode)

# ---- weights_only refuses arbitrary objects

with section("weights_only"):
    info = client.save({"model": {"w": torch.ones(2)}, "extra": Arbitrary(42)}, "py-arbitrary")
    try:
        obj, _ = client.load(info.id, weights_only=True)
        check("load(weights_only=True) of a checkpoint holding an arbitrary object raises", False,
              "returned %r" % (obj,))
    except ckpt.CkptError as e:
        check("load(weights_only=True) of a checkpoint holding an arbitrary object raises", False,
              "raised a CkptError, not torch's refusal: %r" % e)
    except Exception as e:  # noqa: B902
        check("load(weights_only=True) of a checkpoint holding an arbitrary object raises", True)
        check("  torch's refusal (an UnpicklingError)", isinstance(e, pickle.UnpicklingError), repr(e))
    obj, _ = client.load(info.id)
    check_eq("without weights_only the same checkpoint loads, object and all", Arbitrary(42), obj["extra"])
    raw = client.push(b"not a torch file at all", "py-arbitrary")
    e = check_raises("load() of a checkpoint that is not a torch file raises", Exception, client.load, raw.id)
    check("  and not an IntegrityError (the bytes are intact)", not isinstance(e, ckpt.IntegrityError), repr(e))

# ---- integrity

with section("integrity with torch"):
    torch.manual_seed(3)
    state = {"w": torch.randn(100_000)}
    info = client.save(state, "py-torch-corrupt")
    flip_byte(blob_file(info.sha256), info.size // 2)
    check_raises("load() of a blob corrupted on disk raises IntegrityError", ckpt.IntegrityError,
                 client.load, info.id)
    # The server aborted that download and flagged the checkpoint corrupt (issue 5): latest
    # skips it, and the run has no other.
    check_raises("load(run, latest=True) then skips it: NotFound", ckpt.NotFound, client.load,
                 run="py-torch-corrupt")

with section("Checkpointer"):
    loader, model, optimizer, _ = build(5)
    check_raises("Checkpointer(every_n_epochs=0) raises ValueError", ValueError, Checkpointer, client, "x",
                 model, optimizer, every_n_epochs=0)
    before = copy.deepcopy(model.state_dict())
    ckp = Checkpointer(client, "py-ckp", model, optimizer)
    check_eq("resume() of a run with no checkpoint returns 0", 0, ckp.resume())
    check("  and leaves the model untouched", tensors_equal(before, model.state_dict()))
    ckp3 = Checkpointer(client, "py-ckp3", model, optimizer, every_n_epochs=3)
    check_eq("every_n_epochs=3 is due after epochs 2, 5, 8", [2, 5, 8], [e for e in range(9) if ckp3.due(e)])
    check("step() when not due saves nothing and returns None",
          ckp3.step(0, 1.0) is None and count("py-ckp3") == 0)
    forced = ckp3.step(0, 1.0, force=True, acc=0.25)
    check_eq("step(force=True) saves, with epoch, loss and metrics", (0, 1.0, {"acc": 0.25}),
             (forced.epoch, forced.loss, forced.metrics))

    saved, infos = [], []
    for epoch in range(3):
        loss, acc = train_epoch(loader, model, optimizer)
        infos.append(ckp.step(epoch, loss, acc=acc))
        saved.append((copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict())))
    check_eq("step() with every_n_epochs=1 saves every epoch", [0, 1, 2], [c.epoch for c in client.list("py-ckp")])
    check_eq("ckp.last is the newest", infos[2].id, ckp.last.id)
    flip_byte(blob_file(infos[2].sha256), infos[2].size // 3)
    loader2, model2, optimizer2, _ = build(77)
    ckp2 = Checkpointer(client, "py-ckp", model2, optimizer2)
    check_eq("resume() skips a corrupt newest checkpoint and returns the previous one's epoch + 1", 2,
             ckp2.resume())
    check_eq("  it chose the epoch-1 checkpoint", infos[1].id, ckp2.last and ckp2.last.id)
    check("  and loaded its model parameters", tensors_equal(saved[1][0], model2.state_dict()))
    check("  and its optimizer state", tensors_equal(saved[1][1], optimizer2.state_dict()))
    for info in infos[:2]:
        flip_byte(blob_file(info.sha256), 100)
    loader3, model3, optimizer3, _ = build(78)
    untouched = copy.deepcopy(model3.state_dict())
    ckp4 = Checkpointer(client, "py-ckp", model3, optimizer3)
    check_eq("resume() when every checkpoint is corrupt returns 0", 0, ckp4.resume())
    check("  and leaves the model untouched", tensors_equal(untouched, model3.state_dict()))

client.close()
done()
