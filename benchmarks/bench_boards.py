"""Benchmark the seed models on every emulated board they fit.

    python benchmarks/bench_boards.py            # writes benchmarks/results.md and results.json

For each (model, board): the firmware is built (cached) and one inference runs on
QEMU under the instruction-counting plugin (pyconvert bench). Instruction counts are
exact and repeatable, not timings: they do not depend on this machine's speed.
Combinations that do not fit are listed with the fit check's verdict.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from pyconvert.boards.firmware import FitError
from pyconvert.boards.profiles import PROFILES
from pyconvert.boards.runner import bench
from pyconvert.convert import load, lower_graph, write_outputs

HERE = Path(__file__).resolve().parent
MODELS = ["lenet5", "lenet3x3", "mlp784", "logic_mlp", "digits_cnn"]
DTYPES = ["float32", "int8"]
CALIB_SAMPLES = 32      # int8: uniform [0, 1) calibration inputs from a fixed seed
COMMAND = "python benchmarks/bench_boards.py"


def convert(model: str, dtype: str, tmp: Path) -> Path:
    graph = load(model)
    if dtype == "float32":
        return write_outputs(lower_graph(graph), tmp / model, model)
    shape = graph.tensors[graph.inputs[0]].shape
    calib = np.random.default_rng(0).random((CALIB_SAMPLES,) + tuple(shape[1:]), dtype=np.float32)
    return write_outputs(lower_graph(graph, dtype="int8", calib=calib), tmp / f"{model}_s8", model)


def measure(models, boards, dtypes) -> tuple[list, list]:
    results, misfits = [], []
    with tempfile.TemporaryDirectory(prefix="bench-boards-") as tmp:
        for model in models:
            for dtype in dtypes:
                outdir = convert(model, dtype, Path(tmp))
                for board in boards:
                    try:
                        r = bench(outdir, board)
                    except FitError as exc:
                        misfits.append({"model": model, "dtype": dtype, "board": board, "error": str(exc)})
                        status = "does not fit"
                    else:
                        r["dtype"] = dtype
                        results.append(r)
                        status = f"{r['instructions']:,} instructions"
                    print(f"  {model:<10} {dtype:<7} {board:<14} {status}", file=sys.stderr)
    return results, misfits


def markdown(results, misfits) -> str:
    lines = ["# Seed models on the emulated boards",
             "",
             f"Made by: `{COMMAND}` (from the repository root)",
             "",
             "Each row is `pyconvert bench` on that model and board. Instructions are counted",
             "exactly by the QEMU plugin for one inference (`<name>_forward`, including its arena",
             "check and input/output copies); per MAC = instructions / multiply-accumulates.",
             "Flash = .text + .rodata (code and weights); RAM = .data + .bss (static, including",
             "the arena); stack = measured high-water mark. Bytes throughout. The counts are",
             "exact and repeatable, not timings.",
             "",
             "| model | dtype | board | core | instructions/inference | per MAC | flash | RAM | arena | stack |",
             "|---|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        per_mac = f"{r['instructions_per_mac']:.2f}" if r["instructions_per_mac"] else "-"
        lines.append(f"| {r['model']} | {r['dtype']} | {r['board']} | {r['core']} | {r['instructions']:,} | {per_mac} | "
                     f"{r['flash_bytes']:,} | {r['static_ram_bytes']:,} | {r['arena_bytes']:,} | "
                     f"{r['stack_bytes']:,} |")
    if misfits:
        lines += ["", "Does not fit (the fit check's message):", ""]
        lines += [f"- {m['error']}" for m in misfits]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=MODELS)
    p.add_argument("--dtypes", nargs="+", default=DTYPES, choices=DTYPES)
    p.add_argument("--boards", nargs="+", default=[b for b, prof in PROFILES.items() if prof.emulated])
    p.add_argument("--out", default=str(HERE), help="directory for results.md and results.json")
    args = p.parse_args(argv)
    results, misfits = measure(args.models, args.boards, args.dtypes)
    out = Path(args.out)
    (out / "results.json").write_text(json.dumps({"command": COMMAND, "results": results,
                                                  "does_not_fit": misfits}, indent=2) + "\n")
    (out / "results.md").write_text(markdown(results, misfits))
    print(f"wrote {out / 'results.md'} and {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
