"""Run the README's example (client/python/examples/train.py) and SIGKILL it in the
middle of the upload of epoch K's checkpoint: after the first piece of the
checkpoint went to the server, before the end of the body.

Usage: crash_train.py EXAMPLE K [EXAMPLE ARGS...]   (run by tests/integration/98_python.sh)

The example runs unchanged (runpy); only the binding's read side of the
upload is wrapped, to pick the moment of the kill.
"""

import os
import runpy
import signal
import sys

import ckpt
import ckpt.torch

example, kill_epoch = sys.argv[1], int(sys.argv[2])
armed = {"epoch": None}

step = ckpt.torch.Checkpointer.step


def step_noting_epoch(self, epoch, *args, **kwargs):
    armed["epoch"] = epoch
    return step(self, epoch, *args, **kwargs)


push_reader = ckpt.Client._push_reader


def push_reader_killed(self, c, meta, reader, out, failed=None):
    if armed["epoch"] != kill_epoch:
        return push_reader(self, c, meta, reader, out, failed)

    class KillOnSecondRead:
        calls = 0

        def read(self, n):
            # libcurl sends each piece before it asks for the next one, so on the second
            # call the server has the request and the first piece, but not the end.
            KillOnSecondRead.calls += 1
            if KillOnSecondRead.calls == 2:
                print("killing the process in the middle of epoch %d's upload" % kill_epoch,
                      flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
            return reader.read(n)

    return push_reader(self, c, meta, KillOnSecondRead(), out, failed)


ckpt.torch.Checkpointer.step = step_noting_epoch
ckpt.Client._push_reader = push_reader_killed
sys.argv = [example] + sys.argv[3:]
runpy.run_path(example, run_name="__main__")
