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


def train_q(board, x: np.ndarray, y: np.ndarray, epochs: int) -> tuple:
    """-> ([(mean loss, accuracy or fraction of outputs on the target's side of 1/2)],
    {name: float params, PyTorch layout}, {name: (int32 masters, exponent)})."""
    from ..lower import to_source_layout
    from .runner import _board_failure
    tm = board.meta["train"]
    batch = tm["batch"]
    n = (len(x) // batch) * batch
    if n == 0:
        raise ModelError(f"{len(x)} samples is less than one batch of {batch}")
    xq = x[:n] if np.asarray(x).dtype == np.int8 else to_fixed(x[:n], tm["input_exp"])
    data = np.ascontiguousarray(_nhwc(xq)).astype(np.int8).tobytes()
    if tm["loss"] == "ce":
        targets = np.asarray(y[:n]).astype("<i4").tobytes()
        per_epoch = n
    else:
        t = y[:n] if np.asarray(y).dtype == np.int8 else to_fixed(y[:n], tm["target_exp"])
        targets = np.ascontiguousarray(_nhwc(t)).astype(np.int8).tobytes()
        per_epoch = int(np.asarray(y[:n]).size)
    result = run_elf(board.fw.elf, board.fw.profile, data, args=["--train", str(epochs)],
                     files={"target.bin": targets}, collect=("params.bin",),
                     timeout=300 + epochs * n)
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
