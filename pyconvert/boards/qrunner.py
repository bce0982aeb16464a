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
