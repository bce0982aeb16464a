"""Board training of an integer-only model (`convert --train --dtype int8`).

The firmware (src/main_q.c.in) reads int8 inputs and targets quantized here with the
host's rule (qmodel_runner.to_fixed), trains, and writes per epoch the summed Q16.16
loss, the step count and the number of correct outputs, then the int32 masters.
"""

from __future__ import annotations

import numpy as np

from ..host.model_runner import ModelError, _nhwc
from ..host.qmodel_runner import to_fixed
from .qemu import run_elf


def q_train_files(tm: dict, x: np.ndarray, y: np.ndarray) -> tuple:
    """input.bin and target.bin bytes for whole batches of (x, y), quantized with the
    host's rule, and the count the per-epoch metric is over."""
    batch = tm["batch"]
    n = (len(x) // batch) * batch
    if n == 0:
        raise ModelError(f"{len(x)} samples is less than one batch of {batch}")
    xq = x[:n] if np.asarray(x).dtype == np.int8 else to_fixed(x[:n], tm["input_exp"])
    data = np.ascontiguousarray(_nhwc(xq)).astype(np.int8).tobytes()
    if tm["loss"] == "ce":
        return data, np.asarray(y[:n]).astype("<i4").tobytes(), n
    t = y[:n] if np.asarray(y).dtype == np.int8 else to_fixed(y[:n], tm["target_exp"])
    return data, np.ascontiguousarray(_nhwc(t)).astype(np.int8).tobytes(), int(np.asarray(y[:n]).size)


def train_q(board, x, y, epochs: int) -> tuple:
    """-> ([(mean loss, accuracy or fraction of outputs on the target's side of 1/2)],
    {name: float params, PyTorch layout}, {name: (int32 masters, exponent)}).
    x and y are None for a firmware with its training set in flash."""
    from ..lower import to_source_layout
    from .runner import _board_failure
    tm = board.meta["train"]
    if board.fw.embedded_samples:
        data, targets, per_epoch = b"", b"", board.embedded_count
    else:
        data, targets, per_epoch = q_train_files(tm, x, y)
    result = run_elf(board.fw.elf, board.fw.profile, data, args=["--train", str(epochs)],
                     files={"target.bin": targets}, collect=("params.bin",),
                     timeout=300 + epochs * per_epoch)
    if result.exit_code != 0:
        raise _board_failure(board.fw, result)
    rows = np.frombuffer(result.output, "<i4").reshape(-1, 3)
    history = [(float(s) / 65536.0 / max(int(k), 1), float(c) / per_epoch) for s, k, c in rows]
    raw, at = result.files.get("params.bin", b""), 0
    masters, params = {}, {}
    for p in tm["params"]:
        size = int(np.prod(p["device_shape"]))
        v = np.frombuffer(raw, "<i4", count=size, offset=at).reshape(p["device_shape"]).astype(np.int32)
        at += 4 * size
        masters[p["name"]] = (v, int(p["exp"]))
        params[p["name"]] = to_source_layout((v.astype(np.float64) * 2.0 ** p["exp"]).astype(np.float32),
                                             p["layout"])
    return history, params, masters


def run_q(board, x: np.ndarray) -> np.ndarray:
    """Inference of an integer-only model on the board (main_q.c.in without --train):
    any N samples, in chunks of the training batch (the last zero-padded, as
    QHostModel.run does: exponents are per batch) -> float outputs q * 2^e, (N, ...)."""
    from .runner import _board_failure
    tm = board.meta["train"]
    b = tm["batch"]
    x = np.asarray(x, np.float32)
    padded = np.zeros((-(-len(x) // b) * b,) + x.shape[1:], np.float32)
    padded[:len(x)] = x
    data = np.ascontiguousarray(_nhwc(to_fixed(padded, tm["input_exp"]))).astype(np.int8).tobytes()
    result = run_elf(board.fw.elf, board.fw.profile, data, timeout=300 + len(padded))
    if result.exit_code != 0:
        raise _board_failure(board.fw, result)
    per_batch = int(np.prod(board.output_shape))       # the output at the training batch
    raw = np.frombuffer(result.output, np.uint8)
    if raw.size != (len(padded) // b) * (per_batch + 4):
        raise RuntimeError(f"{board.meta['name']} on {board.fw.profile.name}: output.bin holds "
                           f"{raw.size} bytes, expected {(len(padded) // b) * (per_batch + 4)}")
    outs = []
    for chunk in raw.reshape(-1, per_batch + 4):        # int8 outputs, then int32 exponent
        y = chunk[:per_batch].view(np.int8).reshape(_nhwc(np.empty(board.output_shape)).shape)
        e = int(chunk[per_batch:].view("<i4")[0])
        outs.append((y.astype(np.float64) * 2.0 ** e).astype(np.float32))
    y = np.concatenate(outs, axis=0)
    return (y.transpose(0, 3, 1, 2) if y.ndim == 4 else y)[:len(x)]
