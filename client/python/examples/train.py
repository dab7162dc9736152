"""A toy training loop that checkpoints to ckptd and resumes where it stopped.

    CKPT_URL=http://127.0.0.1:8420 python3 train.py --run toy --epochs 6
    python3 train.py --run toy2 --epochs 6 --stop-after 2   # "crash" after epoch 2
    python3 train.py --run toy2 --epochs 6                  # resumes at epoch 3

Both ways end with the same parameters, bit for bit: the RNG states travel
with the checkpoint. The ckpt lines are marked.
"""

import argparse
import hashlib

import torch

import ckpt  # ckpt
from ckpt.torch import Checkpointer  # ckpt


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="toy")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--stop-after", type=int, help="stop after this epoch, as if killed")
    args = parser.parse_args()

    torch.manual_seed(0)
    data = torch.randn(512, 8)
    target = data.sum(dim=1, keepdim=True)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data, target),
                                         batch_size=32, shuffle=True)
    model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Dropout(0.1),
                                torch.nn.Linear(32, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    checkpointer = Checkpointer(ckpt.Client(), args.run, model, optimizer)  # ckpt
    start = checkpointer.resume()  # ckpt: 0 for a new run
    if start:
        print("resumed from checkpoint %d at epoch %d" % (checkpointer.last.id, start))

    for epoch in range(start, args.epochs):
        model.train()
        total = 0.0
        for x, y in loader:
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(x)
        epoch_loss = total / len(data)
        saved = checkpointer.step(epoch, epoch_loss)  # ckpt: every epoch by default
        print("epoch %d loss %.6f checkpoint %d" % (epoch, epoch_loss, saved.id))
        if args.stop_after == epoch:
            return

    digest = hashlib.sha256()
    for tensor in model.state_dict().values():
        digest.update(tensor.numpy().tobytes())
    print("final parameters sha256 %s" % digest.hexdigest())


if __name__ == "__main__":
    main()
