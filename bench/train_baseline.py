"""The PyTorch baseline for `ktrdr-bench training`: the same MLP on the same data, trained by a plain loop.

Reads what `ktrdr-bench training --export DIR` wrote (scaled rows and meta.json), builds the same
network (nn.Linear stack, same activation and dropout), and trains it as the worker does: Adam with
the same learning rate, class-weighted cross-entropy, gradient norm clipped to 1.0, batch 32,
shuffled every epoch, validation loss after every epoch. Prints the median seconds per epoch.

Run from the repository root (scripts/bench.sh does, and sets up the path):

    target/release/ktrdr-bench training --threads 1 --export /tmp/x
    PYTHONPATH=.libtorch:.libtorch/python-deps python3 bench/train_baseline.py --data /tmp/x --threads 1 --epochs 5

torch here is the wheel in .libtorch that the worker links against; importing it from Python needs
its CUDA libraries too (.libtorch/python-deps, installed by scripts/bench.sh), though nothing runs
on a GPU. No numpy: the binary files are read with torch.frombuffer.
"""

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

# torch warns on import that numpy is missing; nothing here uses numpy.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
import torch  # noqa: E402
from torch import nn  # noqa: E402

ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


def load(data: Path, name: str, dtype: torch.dtype, shape: tuple[int, ...]) -> torch.Tensor:
    # Little-endian on disk; so is every machine this runs on (x86-64, aarch64).
    raw = bytearray((data / name).read_bytes())
    return torch.frombuffer(raw, dtype=dtype).view(shape)


def build_model(meta: dict) -> nn.Module:
    layers: list[nn.Module] = []
    width = meta["features"]
    for size in meta["hidden_layers"]:
        layers += [nn.Linear(width, size), ACTIVATIONS[meta["activation"]]()]
        if meta["dropout"] > 0:
            layers.append(nn.Dropout(meta["dropout"]))
        width = size
    layers.append(nn.Linear(width, 3))
    return nn.Sequential(*layers)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="directory written by --export")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, help="default: the epochs in meta.json")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    meta = json.loads((args.data / "meta.json").read_text())
    features, batch = meta["features"], meta["batch_size"]
    epochs = args.epochs or meta["epochs"]
    rows, val_rows = meta["train_rows"], meta["validation_rows"]
    x = load(args.data, "train_x.f32", torch.float32, (rows, features))
    y = load(args.data, "train_y.i64", torch.int64, (rows,))
    x_val = load(args.data, "validation_x.f32", torch.float32, (val_rows, features))
    y_val = load(args.data, "validation_y.i64", torch.int64, (val_rows,))

    model = build_model(meta)
    optimizer = torch.optim.Adam(model.parameters(), lr=meta["learning_rate"])
    criterion = nn.CrossEntropyLoss(weight=torch.tensor(meta["class_weights"], dtype=torch.float32))

    epoch_seconds, val_losses = [], []
    best_loss, best_state = float("inf"), None
    for _ in range(epochs):
        started = time.perf_counter()
        model.train()
        loss_sum, batches = 0.0, 0
        for index in torch.randperm(rows).split(batch):
            loss = criterion(model(x[index]), y[index])
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            loss_sum += loss.item()
            batches += 1
        model.eval()
        with torch.no_grad():
            logits = model(x_val)
            val_loss = criterion(logits, y_val).item()
            _accuracy = (logits.argmax(-1) == y_val).float().mean().item()
            # The worker keeps a copy of the best weights; so does this loop, for the same work.
            if val_loss < best_loss:
                best_loss = val_loss
                best_state = {k: v.clone() for k, v in model.state_dict().items()}
        epoch_seconds.append(time.perf_counter() - started)
        val_losses.append(val_loss)
    assert best_state is not None

    report = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "train_rows": rows,
        "validation_rows": val_rows,
        "batch_size": batch,
        "epoch_seconds": epoch_seconds,
        "median_epoch_seconds": statistics.median(epoch_seconds),
        "val_loss": val_losses,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"PyTorch baseline (torch {torch.__version__}), {report['threads']} thread(s)")
        print(f"  data                   {rows} train / {val_rows} validation rows, {features} features")
        print(f"  epoch                  {report['median_epoch_seconds']:>10.3f} s   (median of {epochs})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
