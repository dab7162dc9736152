"""PyTorch helpers: the classic checkpoint recipe as one object.

    from ckpt.torch import Checkpointer
    ckp = Checkpointer(client, "resnet", model, optimizer, every_n_epochs=2)
    start = ckp.resume()                      # 0 for a new run
    for epoch in range(start, epochs):
        loss = train_one_epoch(...)
        ckp.step(epoch, loss, val_acc=acc)    # pushes when due

A checkpoint holds what ``torch.save({'epoch', 'model_state_dict',
'optimizer_state_dict', 'loss'})`` recipes hold, plus the random number
generator states, so that a resumed run continues bit for bit like an
uninterrupted one (on CPU, with fixed seeds).
"""

import random
import sys
from typing import Optional

import torch

from . import Checkpoint, Client, IntegrityError, NotFound

__all__ = ["Checkpointer", "rng_state", "set_rng_state"]


def rng_state() -> dict:
    """The state of every random number generator a training loop may draw from:
    torch (CPU, and CUDA when available), Python's ``random``, and numpy's
    global generator when numpy is loaded."""
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        state["numpy"] = numpy.random.get_state()
    return state


def set_rng_state(state: dict) -> None:
    """Restore generator states saved by :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    numpy = sys.modules.get("numpy")
    if "numpy" in state and numpy is not None:
        numpy.random.set_state(state["numpy"])


class Checkpointer:
    """Save a training run's state to ckptd every few epochs, and resume from it.

    ``step(epoch, loss, **metrics)`` pushes model, optimizer (and scheduler,
    when given), epoch, loss and RNG states when due: after every
    ``every_n_epochs`` completed epochs, counting epochs from 0 (with 2:
    after epochs 1, 3, 5, ...), or whenever ``force=True``.
    ``resume()`` loads the newest checkpoint of the run that passes its
    integrity check into the model and optimizer and returns the epoch to
    continue from (0 when the run has no checkpoint yet).
    """

    def __init__(self, client: Client, run: str, model: torch.nn.Module,
                 optimizer: Optional[torch.optim.Optimizer] = None, every_n_epochs: int = 1,
                 scheduler=None, map_location=None):
        if every_n_epochs < 1:
            raise ValueError("every_n_epochs must be at least 1")
        self.client = client
        self.run = run
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.every_n_epochs = every_n_epochs
        self.map_location = map_location
        self.last: Optional[Checkpoint] = None

    def state(self, epoch: int, loss: Optional[float]) -> dict:
        """The dictionary that :meth:`step` saves."""
        state = {
            "epoch": epoch,
            "model_state_dict": self.model.state_dict(),
            "loss": loss,
            "rng": rng_state(),
        }
        if self.optimizer is not None:
            state["optimizer_state_dict"] = self.optimizer.state_dict()
        if self.scheduler is not None:
            state["scheduler_state_dict"] = self.scheduler.state_dict()
        return state

    def due(self, epoch: int) -> bool:
        """Whether :meth:`step` would save after ``epoch``."""
        return (epoch + 1) % self.every_n_epochs == 0

    def step(self, epoch: int, loss: Optional[float] = None, *, force: bool = False,
             **metrics: float) -> Optional[Checkpoint]:
        """Push a checkpoint of ``epoch`` when due; returns it, or None when not due."""
        if not (force or self.due(epoch)):
            return None
        loss_value = float(loss) if loss is not None else None
        self.last = self.client.save(self.state(epoch, loss_value), self.run, epoch=epoch,
                                     loss=loss_value,
                                     metrics={k: float(v) for k, v in metrics.items()})
        return self.last

    def resume(self) -> int:
        """Load the newest good checkpoint of the run; return the epoch to start from.

        Checkpoints that fail their integrity check are skipped in favour of
        the next older one. Returns 0, touching nothing, for a run with none.
        """
        try:
            candidates = list(self.client.list(self.run, order_by="created", desc=True))
        except NotFound:
            return 0
        for info in candidates:
            try:
                state, info = self.client.load(info.id, map_location=self.map_location)
            except IntegrityError:
                continue
            self.model.load_state_dict(state["model_state_dict"])
            if self.optimizer is not None and "optimizer_state_dict" in state:
                self.optimizer.load_state_dict(state["optimizer_state_dict"])
            if self.scheduler is not None and "scheduler_state_dict" in state:
                self.scheduler.load_state_dict(state["scheduler_state_dict"])
            if "rng" in state:
                set_rng_state(state["rng"])
            self.last = info
            return int(state["epoch"]) + 1
        return 0
