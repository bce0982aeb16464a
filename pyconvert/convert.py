"""The conversion pipeline: model source -> IR -> passes -> device schedule -> C files.

    graph = load("lenet5")                       # .onnx, model-definition .py, or bundled name
    low = lower_graph(graph)                     # passes, NHWC lowering, arena plan
    write_outputs(low, "out/lenet5", "lenet5")   # lenet5.h, lenet5.c, model.json
    print(report(low))

int8 (post-training quantization, or a quantized ONNX file's own parameters):

    calib = load_calibration("calib.npz")        # float32 (N, C, H, W) sample inputs
    low = lower_graph(graph, dtype="int8", calib=calib, calib_method="minmax")
    write_outputs(low, "out/lenet5_s8", "lenet5")   # int8 C, model.json "dtype": "int8"

Output directories are written atomically: everything goes to a temporary sibling
directory that replaces OUTDIR only when complete, so a failed conversion never
leaves half-written files.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from . import __version__
from .emit_c import c_identifier, emit
from .ir import Graph, GraphError
from .lower import Lowered, fuse_conv_maxpool, lower, plan_buffers
from .passes import optimize

MODEL_JSON = "model.json"
DTYPES = ("float32", "int8")


def load(spec: str, input_shape: tuple | None = None, name: str | None = None,
         params: str | None = None) -> Graph:
    """A model by .onnx path, model-definition .py path, or bundled short name.
    params: a .npz of trained parameters (PyTorch names) for a model file."""
    if str(spec).endswith(".onnx"):
        if params is not None:
            raise GraphError(f"{spec}: --params applies to model files; an ONNX file holds its weights")
        if not Path(spec).is_file():
            raise GraphError(f"{spec}: no such file")
        from .importers.onnx_import import load_onnx
        from .importers.onnx_quant import is_quantized_onnx, load_onnx_quantized
        try:
            quantized = is_quantized_onnx(spec)
        except Exception:          # unreadable: load_onnx reports it in one line
            quantized = False
        if quantized:              # QDQ / QLinear*: the float graph + the file's quantization
            return load_onnx_quantized(spec, input_shape=input_shape, name=name)
        return load_onnx(spec, input_shape=input_shape, name=name)
    from .importers.model_file import load_model_file
    return load_model_file(str(spec), input_shape=input_shape, name=name, params=params)


def default_name(spec: str) -> str:
    return c_identifier(Path(str(spec)).stem).lower()


def lower_graph(graph: Graph, dtype: str = "float32", calib=None, calib_method: str = "minmax",
                percentile: float | None = None, fuse: bool = True) -> Lowered:
    """Passes, lowering and arena plan. dtype "int8": post-training quantization with
    the calibration inputs `calib` (float32 (N, *input_shape[1:])), see lower_int8.
    fuse: run each conv and the max-pool after it as one layer (lower.fuse_conv_maxpool)."""
    if dtype == "float32":
        if calib is not None:
            raise GraphError("calibration data is only used for --dtype int8")
        low = lower(optimize(graph))
    elif dtype == "int8":
        low = lower_int8(graph, calib, calib_method, percentile)
    else:
        raise GraphError(f"dtype '{dtype}' is not supported; use one of {', '.join(DTYPES)}")
    if fuse and fuse_conv_maxpool(low):
        plan_buffers(low)
    return low


def lower_int8(graph: Graph, calib=None, calib_method: str = "minmax",
               percentile: float | None = None) -> Lowered:
    """The int8 schedule: optimize, quantize (pyconvert.quant.ptq: calibrate the
    tensors a quantized ONNX file did not fix), lower with 1-byte tensors, and, with
    calibration data, measure each layer's SQNR against the float model (low.quant.sqnr)."""
    from .quant.calibrate import PERCENTILE, check_calibration
    from .quant.int_model import layer_sqnr
    from .quant.lower_s8 import lower_quantized
    from .quant.ptq import quantize_graph
    qm = quantize_graph(optimize(graph), calib, calib_method,
                        PERCENTILE if percentile is None else percentile)
    low = lower_quantized(qm)
    if calib is not None:
        layer_sqnr(low, check_calibration(qm.graph, calib))
    return low


def load_calibration(path) -> np.ndarray:
    """Calibration inputs from a .npy file, or a .npz file's array 'x' (or its only
    array); checked against the model later (quant.calibrate.check_calibration)."""
    path = Path(path)
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise GraphError(f"{path}: cannot read calibration data ({exc})") from exc
    if isinstance(data, np.ndarray):
        return data
    with data:
        keys = list(data.keys())
        if "x" in keys:
            return data["x"]
        if len(keys) == 1:
            return data[keys[0]]
    raise GraphError(f"{path}: expected an array named 'x' (or a single array), found "
                     f"{', '.join(keys) or 'none'}")


def plan_for_training(spec: str, config, input_shape: tuple | None = None,
                      name: str | None = None, params: str | None = None):
    """Import the model twice, at its inference batch and at config.batch, and plan
    training (pyconvert.train_plan)."""
    from .train_plan import plan_training
    infer = load(spec, input_shape=input_shape, name=name, params=params)
    shape = infer.tensors[infer.inputs[0]].shape
    train = load(spec, input_shape=(config.batch,) + tuple(shape[1:]), name=name, params=params)
    return plan_training(infer, train, config)


def write_outputs(low: Lowered, outdir, name: str, command: str = "", source: str = "",
                  train=None) -> Path:
    """train: a TrainPlan (train_plan.plan_training) whose .infer is `low`."""
    header, source_text = emit(low, name, command=command, source=source, train=train)
    meta = {
        "generator": f"pyconvert {__version__}",
        "name": name,
        "dtype": low.dtype,
        "input_shape": list(low.tensors[low.input].shape),
        "output_shape": list(low.tensors[low.output].shape),
        "arena_size": low.plan.arena_size,
        "arena_lower_bound": low.plan.lower_bound,
        # The schedule in execution order (the index mt_model_run_layer takes), so
        # board benchmarks can name each layer and report instructions per MAC.
        "layers": [{"name": l.node, "op": l.op, "macs": l.macs} for l in low.layers],
        "macs": sum(l.macs for l in low.layers),
        "files": [f"{name}.h", f"{name}.c"],
    }
    if low.dtype == "int8":
        meta.update(int8_meta(low))
    if train is not None:
        meta["arena_size"] = train.arena_size
        meta["arena_lower_bound"] = train.lower_bound()
        meta["train"] = train_meta(train)
    return write_directory(outdir, {f"{name}.h": header, f"{name}.c": source_text,
                                    MODEL_JSON: json.dumps(meta, indent=2) + "\n"})


def write_directory(outdir, files: dict) -> Path:
    """Write {file name: text} as the directory outdir, atomically: everything goes to
    a temporary sibling that replaces outdir only when complete."""
    outdir = Path(outdir)
    outdir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", dir=outdir.parent))
    try:
        for fname, text in files.items():
            (tmp / fname).write_text(text)
        if outdir.exists():
            old = outdir.with_name(f".{outdir.name}.old.{os.getpid()}")
            os.replace(outdir, old)
            os.replace(tmp, outdir)
            shutil.rmtree(old)
        else:
            os.replace(tmp, outdir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return outdir


def train_meta(tp) -> dict:
    """What host tools need to drive training and read the parameters back."""
    c = tp.config
    params = []
    for p in tp.params:
        layer = tp.infer.layers[p.layer]
        params.append({"name": p.source, "layer": layer.node, "role": p.role, "offset": p.offset,
                       "device_shape": list(p.value.shape),
                       "layout": list(layer.weight_layout) if p.role == "weight" else []})
    return {"loss": c.loss, "optimizer": c.optimizer, "lr": c.lr, "momentum": c.momentum,
            "weight_decay": c.weight_decay, "nesterov": c.nesterov, "betas": list(c.betas),
            "eps": c.eps, "batch": c.batch, "trainable": c.trainable,
            "input_shape": list(tp.train.tensors[tp.train.input].shape),
            "output_shape": list(tp.train.tensors[tp.train.output].shape),
            "params": params, "persistent_bytes": tp.persistent,
            "arena_size": tp.arena_size, "arena_lower_bound": tp.lower_bound(),
            "naive_bytes": tp.naive_bytes}


def int8_meta(low: Lowered) -> dict:
    """What host tools need to quantize the input and dequantize the output of an
    int8 model (the same numbers as the header's <NAME>_INPUT_SCALE, ...)."""
    from .quant.lower_s8 import const_bytes
    qm = low.quant
    return {"input_scale": float(qm.input.scale), "input_zero_point": int(qm.input.zero_point),
            "output_scale": float(qm.output.scale), "output_zero_point": int(qm.output.zero_point),
            "calib_method": qm.method, "const_bytes": const_bytes(low)}


def read_meta(outdir) -> dict:
    path = Path(outdir) / MODEL_JSON
    if not path.is_file():
        raise FileNotFoundError(f"{outdir}: not a converted model directory (no {MODEL_JSON}); "
                                f"run 'pyconvert convert' first")
    return json.loads(path.read_text())


def report(low: Lowered) -> str:
    """Per-layer table (op, output shape, params, MACs, activation bytes) and totals."""
    rows = [("layer", "op", "output (NCHW)", "params", "MACs", "act bytes")]
    for layer in low.layers:
        op = layer.op + ("+" + _act_name(layer.attrs["act"]) if layer.attrs.get("act") else "")
        out = low.tensors[layer.out]
        rows.append((layer.node, op, "x".join(map(str, out.shape)), f"{layer.params:,}",
                     f"{layer.macs:,}", f"{out.bytes:,}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    params = sum(l.params for l in low.layers)
    macs = sum(l.macs for l in low.layers)
    lines.append("")
    if low.dtype == "int8":
        from .quant.report import int8_report
        lines.append(int8_report(low))
        lines.append("")
        lines.append(f"params: {params:,} (int8 weights, int32 biases; see above)   MACs: {macs:,}")
    else:
        lines.append(f"params: {params:,} ({params * 4:,} bytes float32)   MACs: {macs:,}")
    lines.append(f"arena: {low.plan.arena_size:,} bytes (lower bound for this schedule: "
                 f"{low.plan.lower_bound:,} bytes)")
    return "\n".join(lines)


def _act_name(act) -> str:
    lo, hi = act
    if lo == 0 and np.isinf(hi):
        return "relu"
    if (lo, hi) == (0, 6):
        return "relu6"
    return f"clip[{lo:g},{hi:g}]"
