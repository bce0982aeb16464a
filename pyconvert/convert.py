"""The conversion pipeline: model source -> IR -> passes -> device schedule -> C files.

    graph = load("lenet5")                       # .onnx, model-definition .py, or bundled name
    low = lower_graph(graph)                     # passes, NHWC lowering, arena plan
    write_outputs(low, "out/lenet5", "lenet5")   # lenet5.h, lenet5.c, model.json
    print(report(low))

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
from .lower import Lowered, lower
from .passes import optimize

MODEL_JSON = "model.json"


def load(spec: str, input_shape: tuple | None = None, name: str | None = None) -> Graph:
    """A model by .onnx path, model-definition .py path, or bundled short name."""
    if str(spec).endswith(".onnx"):
        if not Path(spec).is_file():
            raise GraphError(f"{spec}: no such file")
        from .importers.onnx_import import load_onnx
        return load_onnx(spec, input_shape=input_shape, name=name)
    from .importers.model_file import load_model_file
    return load_model_file(str(spec), input_shape=input_shape, name=name)


def default_name(spec: str) -> str:
    return c_identifier(Path(str(spec)).stem).lower()


def lower_graph(graph: Graph) -> Lowered:
    return lower(optimize(graph))


def write_outputs(low: Lowered, outdir, name: str, command: str = "", source: str = "") -> Path:
    header, source_text = emit(low, name, command=command, source=source)
    meta = {
        "generator": f"pyconvert {__version__}",
        "name": name,
        "dtype": "float32",
        "input_shape": list(low.tensors[low.input].shape),
        "output_shape": list(low.tensors[low.output].shape),
        "arena_size": low.plan.arena_size,
        "arena_lower_bound": low.plan.lower_bound,
        "files": [f"{name}.h", f"{name}.c"],
    }
    outdir = Path(outdir)
    outdir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", dir=outdir.parent))
    try:
        (tmp / f"{name}.h").write_text(header)
        (tmp / f"{name}.c").write_text(source_text)
        (tmp / MODEL_JSON).write_text(json.dumps(meta, indent=2) + "\n")
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
