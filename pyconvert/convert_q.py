"""`convert --train --dtype int8`: plan (qtrain_plan), emit (emit_c_q), write OUTDIR."""

from __future__ import annotations

import json
from pathlib import Path

from . import __version__


def plan_for_qtraining(spec: str, config, input_shape=None, name=None, params=None,
                       input_exp: int = -7, target_exp: int = -7):
    """The float training plan of the model (shapes, trainable layers), then the q plan."""
    from .convert import plan_for_training
    from .qtrain_plan import plan_qtraining
    if config.optimizer != "sgd":
        raise ValueError("--dtype int8 --train: SGD only (--optimizer sgd); Adam needs a square "
                         "root and a g^2 range int32 fixed point cannot hold (docs/qtrain.md)")
    tp = plan_for_training(spec, config, input_shape=input_shape, name=name, params=params)
    return plan_qtraining(tp, input_exp=input_exp, target_exp=target_exp)


def write_q_outputs(qp, outdir, name: str, command: str = "", source: str = "") -> Path:
    """OUTDIR with <name>.h, <name>.c and model.json, replaced only when complete."""
    from .convert import MODEL_JSON, write_directory
    from .emit_c_q import emit_q
    from .qtrain_plan import qtrain_meta
    header, text = emit_q(qp, name, command=command, source=source)
    low = qp.float_plan.train
    meta = {
        "generator": f"pyconvert {__version__}", "name": name, "dtype": "int8",
        "integer_only_training": True,
        "input_shape": list(low.tensors[low.input].shape),
        "output_shape": list(low.tensors[low.output].shape),
        "arena_size": qp.arena_size,
        "layers": [{"name": l.node, "op": l.op, "macs": l.macs} for l in low.layers],
        "macs": sum(l.macs for l in low.layers),
        "files": [f"{name}.h", f"{name}.c"],
        "train": qtrain_meta(qp),
    }
    return write_directory(outdir, {f"{name}.h": header, f"{name}.c": text,
                                    MODEL_JSON: json.dumps(meta, indent=2) + "\n"})


def input_exp_from(calib_path) -> int:
    """The input exponent: the smallest e with max|x| <= 127 * 2^e over the calibration
    data (--calib), else -7 (data in [0, 1])."""
    if not calib_path:
        return -7
    import math

    import numpy as np

    from .convert import load_calibration
    m = float(np.max(np.abs(load_calibration(calib_path))))
    return -7 if m == 0 else math.ceil(math.log2(m / 127.0))
