"""Host-side training loop for a model converted with --train (`pyconvert train`).

The data file D.npz holds `x` (float32 NCHW, N samples) and `y` (int64 class labels
for --loss ce, float32 targets shaped like the output for --loss mse). Samples are
taken in file order in batches of the converted --batch (mean loss per batch, as
PyTorch); a last batch smaller than that is left out, and the report says so.

Params files (.npz) use PyTorch names, shapes and layouts, so they load straight
into the PyTorch model (`model.load_state_dict({k: torch.tensor(v) ...}, strict=False)`).
They are written to a temporary file and renamed, so a crash never leaves a
half-written file.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np


class DataError(ValueError):
    pass


def load_dataset(path, train_meta: dict) -> tuple:
    """(x, y) from D.npz, checked against the model: shapes, dtypes, label range."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if "x" not in data or "y" not in data:
                raise DataError(f"{path}: needs arrays 'x' and 'y', has {sorted(data.files)}")
            x, y = data["x"], data["y"]
    except (OSError, ValueError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{path}: cannot read an .npz file ({exc})") from exc
    sample = tuple(train_meta["input_shape"][1:])
    if x.dtype != np.float32 or x.shape[1:] != sample:
        raise DataError(f"{path}: x must be float32 of shape (N, {', '.join(map(str, sample))}), "
                        f"got {x.dtype} {x.shape}")
    if not np.all(np.isfinite(x)):
        raise DataError(f"{path}: x contains NaN or Inf")
    out = tuple(train_meta["output_shape"])
    if train_meta["loss"] == "ce":
        classes = out[1]
        if not np.issubdtype(y.dtype, np.integer) or y.shape != (len(x),):
            raise DataError(f"{path}: y must be {len(x)} integer class labels for --loss ce, "
                            f"got {y.dtype} {y.shape}")
        bad = (y < 0) | (y >= classes)
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(f"{path}: label y[{i}] = {int(y[i])} is outside [0, {classes})")
    elif y.dtype != np.float32 or y.shape[1:] != out[1:] or len(y) != len(x):
        raise DataError(f"{path}: y must be float32 targets of shape (N, {', '.join(map(str, out[1:]))}) "
                        f"for --loss mse, got {y.dtype} {y.shape}")
    return x, y


def evaluate(runner, x: np.ndarray, y: np.ndarray, loss: str) -> float:
    """Accuracy (ce) or mean squared error (mse) of the model as it is now."""
    pred = runner.run(x)
    if loss == "ce":
        return float(np.mean(pred.reshape(len(x), -1).argmax(axis=1) == y))
    return float(np.mean((pred - y) ** 2))


def train(runner, x: np.ndarray, y: np.ndarray, epochs: int, out=print) -> list:
    """Run `epochs` passes over (x, y); returns [(epoch, mean loss, metric)]. The metric
    (accuracy or MSE) is measured after each epoch on the samples trained on."""
    meta = runner.train_meta
    batch = meta["batch"]
    steps = len(x) // batch
    if steps == 0:
        raise DataError(f"{len(x)} samples is less than one batch of {batch}")
    if len(x) % batch:
        out(f"note: the last {len(x) % batch} samples do not fill a batch of {batch} and are left out")
    metric = "accuracy" if meta["loss"] == "ce" else "mse"
    history = []
    bar = _progress if sys.stdout.isatty() else None
    for epoch in range(1, epochs + 1):
        losses = []
        for s in range(steps):
            xb, yb = x[s * batch:(s + 1) * batch], y[s * batch:(s + 1) * batch]
            losses.append(runner.train_step(xb, yb))
            if bar:
                bar(epoch, s + 1, steps, losses[-1])
        value = evaluate(runner, x[:steps * batch], y[:steps * batch], meta["loss"])
        history.append((epoch, float(np.mean(losses)), value))
        if bar:
            sys.stdout.write("\r\033[K")
        shown = f"{value * 100:.2f} %" if metric == "accuracy" else f"{value:.6f}"
        out(f"epoch {epoch:3d}  loss {np.mean(losses):.6f}  {metric} {shown}")
    return history


def train_on_board(outdir, board: str, x: np.ndarray, y: np.ndarray, epochs: int,
                   out=print) -> dict:
    """Train on an emulated board; the firmware measures the metric after each epoch.
    Returns the trained parameters (PyTorch names and layouts)."""
    from .boards.runner import BoardModel
    model = BoardModel(outdir, board)
    batch = model.meta["train"]["batch"]
    if len(x) % batch:
        out(f"note: the last {len(x) % batch} samples do not fill a batch of {batch} and are left out")
    history, params = model.train(x, y, epochs)
    # An integer-only model's board metric for mse is the fraction of outputs on the
    # target's side of 1/2 (the firmware computes no float).
    metric = ("accuracy" if model.meta["train"]["loss"] == "ce" or model.meta.get("integer_only_training")
              else "mse")
    for epoch, (loss, value) in enumerate(history, start=1):
        shown = f"{value * 100:.2f} %" if metric == "accuracy" else f"{value:.6f}"
        out(f"epoch {epoch:3d}  loss {loss:.6f}  {metric} {shown}  (on {board})")
    return params


def _progress(epoch: int, step: int, steps: int, loss: float) -> None:
    filled = 30 * step // steps
    sys.stdout.write(f"\repoch {epoch:3d} [{'#' * filled}{'.' * (30 - filled)}] {step}/{steps}"
                     f"  loss {loss:.4f}")
    sys.stdout.flush()


def save_params(path, params: dict) -> None:
    """Atomically write a params .npz (PyTorch names, shapes and layouts)."""
    path = Path(path)
    for name, value in params.items():
        if not np.all(np.isfinite(value)):
            raise DataError(f"parameter {name!r} is not finite; {path} not written")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".npz", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **params)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_params(path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read a params .npz file ({exc})") from exc
