"""The seed models through the converter: size, work, memory, and agreement.

    python benchmarks/seed_models.py            # writes benchmarks/seed_models.md

Per model: parameters, MACs, float32 arena against the planner's lower bound, and
the worst relative error (|c - r| / max|r|) of the host-compiled C against the numpy
reference (model file) and against onnxruntime (the PyTorch-exported ONNX twin),
over 8 standard-normal samples. Needs torch and onnxruntime.
"""

import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import pyconvert.nn as nn  # noqa: E402
from pyconvert.convert import load, lower_graph, write_outputs  # noqa: E402
from pyconvert.host.model_runner import HostModel  # noqa: E402
from pyconvert.importers.model_file import load_module  # noqa: E402
from torch_twins import export_onnx, onnxruntime_run  # noqa: E402

SEEDS = ["lenet5", "lenet3x3", "mlp784", "logic_mlp", "digits_cnn"]


def worst(a, b):
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-30))


def row(name, tmp):
    module = load_module(name)
    shape = module.INPUT_SHAPE
    x = np.random.default_rng(0).standard_normal((8 * shape[0],) + tuple(shape[1:])).astype(np.float32)
    low = lower_graph(load(name))
    y = HostModel(write_outputs(low, tmp / name, name)).run(x)
    nn.manual_seed(0)
    with nn.no_grad():
        ref = module.build_model().eval()(nn.tensor(x)).data
    onnx_path = tmp / f"{name}.onnx"
    export_onnx(name, onnx_path)
    y_onnx = HostModel(write_outputs(lower_graph(load(str(onnx_path))), tmp / f"{name}_onnx", name)).run(x)
    return (name, sum(l.params for l in low.layers), sum(l.macs for l in low.layers),
            low.plan.arena_size, low.plan.lower_bound, worst(y, ref), worst(y_onnx, onnxruntime_run(onnx_path, x)))


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        rows = [row(n, Path(d)) for n in SEEDS]
    lines = ["# Seed models through the converter", "",
             "Made by: `python benchmarks/seed_models.py`", "",
             "| model | params | MACs | arena (bytes) | lower bound | worst error vs reference | "
             "worst error of the ONNX twin vs onnxruntime |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, params, macs, arena, bound, e_ref, e_ort in rows:
        lines.append(f"| {name} | {params:,} | {macs:,} | {arena:,} | {bound:,} | {e_ref:.1e} | {e_ort:.1e} |")
    text = "\n".join(lines) + "\n"
    (HERE / "seed_models.md").write_text(text)
    print(text)
