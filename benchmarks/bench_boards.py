"""Benchmark the seed models on every emulated board they fit: inference and training.

    python benchmarks/bench_boards.py                 # everything: writes results.md and results.json
    python benchmarks/bench_boards.py --models lenet5 --boards mps2-an386 --out /tmp/b

For each (model, dtype, mode, board) the firmware is built (cached) and run on QEMU
under the instruction-counting plugin (`pyconvert bench`, `bench --train`):
- inference: one `<name>_forward` (float32, or int8 by post-training quantization
  with 32 uniform [0, 1) calibration inputs from a fixed seed);
- training: one step at batch 1 with every layer trainable and plain SGD (momentum
  0, lr 0.01): float32 (`convert --train`), and int8 = the integer-only path
  (`convert --train --dtype int8`).
Instruction counts are exact and repeatable, not timings. Combinations that do not
fit a board are listed with the fit check's verdict.

The first table is LeNet-5 on mps2-an386 (Cortex-M4F) beside the reference figures
issue 8 measured on the same emulated board with the same compiler (CMSIS-NN,
TFLM-style reference loops, AIfES); those are quoted, not re-measured here.
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
from pyconvert.convert import load, lower_graph, plan_for_training, write_outputs
from pyconvert.convert_q import plan_for_qtraining, write_q_outputs
from pyconvert.train_plan import TrainConfig

HERE = Path(__file__).resolve().parent
MODELS = ["lenet5", "lenet3x3", "mlp784", "logic_mlp", "digits_cnn"]
DTYPES = ["float32", "int8"]
MODES = ["inference", "training"]
CALIB_SAMPLES = 32
SGD = TrainConfig(optimizer="sgd", lr=0.01, momentum=0.0, batch=1, trainable="all")
COMMAND = "python benchmarks/bench_boards.py"
HEADLINE_BOARD = "mps2-an386"

# Issue 8's reference figures: LeNet-5, mps2-an386, gcc 12 -O2 (quoted).
REFERENCE = [
    ("CMSIS-NN int8 kernels", "int8 inference", 2_175_960),
    ("plain C int8 loops, TFLM-reference style", "int8 inference", 9_989_612),
    ("plain C float32 loops", "float32 inference", 3_385_018),
    ("lightly optimised float32 (4x unrolled, FMA)", "float32 inference", 1_762_561),
    ("AIfES float32 SGD, batch 1", "float32 training step", 65_836_716),
]
TARGETS = {"int8 inference": 1_100_000, "float32 inference": 1_300_000,
           "float32 training step": 4_500_000}
# LeNet-5's multiply-accumulates: one forward, and one training step at batch 1 with
# every layer trainable (forward + dW of every layer + dX of every layer but the
# first: 416,520 + 416,520 + 298,920), the count issue 8's "per training MAC" uses.
FORWARD_MACS, TRAINING_MACS = 416_520, 1_131_960


def convert(model: str, dtype: str, mode: str, tmp: Path, fuse: bool = True) -> Path:
    out = tmp / f"{model}_{dtype}_{mode}{'' if fuse else '_nofuse'}"
    if mode == "training":
        if dtype == "int8":
            return write_q_outputs(plan_for_qtraining(model, SGD), out, model)
        tp = plan_for_training(model, SGD)
        return write_outputs(tp.infer, out, model, train=tp)
    graph = load(model)
    if dtype == "float32":
        return write_outputs(lower_graph(graph, fuse=fuse), out, model)
    shape = graph.tensors[graph.inputs[0]].shape
    calib = np.random.default_rng(0).random((CALIB_SAMPLES,) + tuple(shape[1:]), dtype=np.float32)
    return write_outputs(lower_graph(graph, dtype="int8", calib=calib, fuse=fuse), out, model)


def measure(models, boards, dtypes, modes) -> tuple[list, list]:
    results, misfits = [], []
    with tempfile.TemporaryDirectory(prefix="bench-boards-") as tmp:
        for model in models:
            for dtype in dtypes:
                for mode in modes:
                    outdir = convert(model, dtype, mode, Path(tmp))
                    for board in boards:
                        try:
                            r = bench(outdir, board, train=mode == "training")
                        except FitError as exc:
                            misfits.append({"model": model, "dtype": dtype, "mode": mode,
                                            "board": board, "error": str(exc)})
                            status = "does not fit"
                        else:
                            r.update(dtype=dtype, mode=mode)
                            results.append(r)
                            n = r["instructions"] if mode == "inference" else r["instructions_per_step"]
                            status = f"{n:,} instructions"
                        print(f"  {model:<10} {dtype:<7} {mode:<9} {board:<14} {status}", file=sys.stderr)
    return results, misfits


def unfused_arena(model: str, dtype: str) -> int:
    """The inference arena with each conv and its pool kept apart (--no-fuse)."""
    with tempfile.TemporaryDirectory() as tmp:
        outdir = convert(model, dtype, "inference", Path(tmp), fuse=False)
        return json.loads((outdir / "model.json").read_text())["arena_size"]


def headline(results) -> list:
    def find(dtype, mode):
        return next((r for r in results if r["model"] == "lenet5" and r["board"] == HEADLINE_BOARD
                     and r["dtype"] == dtype and r["mode"] == mode), None)
    rows = []
    for dtype, mode, what in (("int8", "inference", "int8 inference"),
                              ("float32", "inference", "float32 inference"),
                              ("float32", "training", "float32 training step"),
                              ("int8", "training", "integer-only training step")):
        r = find(dtype, mode)
        if r is None:
            continue
        n = r["instructions"] if mode == "inference" else r["instructions_per_step"]
        target = TARGETS.get(what)
        if what == "integer-only training step":           # no more than the float step
            target = next((h["instructions"] for h in rows if h["what"] == "float32 training step"), None)
        macs = FORWARD_MACS if mode == "inference" else TRAINING_MACS
        rows.append({"what": what, "instructions": n, "per_mac": round(n / macs, 2),
                     "target": target, "runtime_text_bytes": r["runtime_text_bytes"],
                     "arena_bytes": r["arena_bytes"], "stack_bytes": r["stack_bytes"],
                     "ram_used_bytes": r.get("ram_used_bytes")})
    return rows


def markdown(results, misfits, head, arenas) -> str:
    lines = ["# Seed models on the emulated boards", "",
             f"Made by: `{COMMAND}` (from the repository root). Exact instruction counts from the",
             "QEMU plugin, not timings. Bytes throughout.", ""]
    if head:
        lines += [f"## LeNet-5 on {HEADLINE_BOARD} (Cortex-M4F), against issue 8's reference figures", "",
                  "| build | instructions | per MAC | target |", "|---|---:|---:|---:|"]
        for r in head:
            target = f"<= {r['target']:,}" if r["target"] else ""
            lines.append(f"| **this runtime: {r['what']}** | **{r['instructions']:,}** | "
                         f"**{r['per_mac']:.2f}** | {target} |")
        for name, what, n in REFERENCE:
            macs = TRAINING_MACS if "training" in what else FORWARD_MACS
            lines.append(f"| {name} ({what}) | {n:,} | {n / macs:.2f} | |")
        lines += ["", f"Per MAC: instructions / {FORWARD_MACS:,} forward MACs for inference, / "
                  f"{TRAINING_MACS:,} training MACs", "(forward, dW of every layer, dX of all but the first) "
                  "for a training step, as issue 8 counts them.",
                  "Reference rows are quoted from issue 8, not re-measured. The integer-only step's target",
                  "is the float step.", ""]
        for r in head:
            extra = f", RAM used {r['ram_used_bytes']:,} (data+bss+stack)" if r["ram_used_bytes"] else ""
            lines.append(f"- {r['what']}: runtime code {r['runtime_text_bytes']:,} B of text, arena "
                         f"{r['arena_bytes']:,} B, stack {r['stack_bytes']:,} B{extra}")
        for dtype, (fused, plain) in arenas.items():
            lines.append(f"- {dtype} inference arena with conv+ReLU+max-pool fusion {fused:,} B, "
                         f"without (`--no-fuse`) {plain:,} B")
        lines.append("")
    inf = [r for r in results if r["mode"] == "inference"]
    if inf:
        lines += ["## Inference", "",
                  "One `<name>_forward` (including its input/output copies). Flash = .text + .rodata;",
                  "RAM = .data + .bss (static, including the arena); runtime code = runtime_c's .text",
                  "that the link kept; stack = measured high-water mark.", "",
                  "| model | dtype | board | core | instructions | per MAC | flash | runtime code | RAM | arena | stack |",
                  "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in inf:
            per_mac = f"{r['instructions_per_mac']:.2f}" if r["instructions_per_mac"] else "-"
            lines.append(f"| {r['model']} | {r['dtype']} | {r['board']} | {r['core']} | {r['instructions']:,} | "
                         f"{per_mac} | {r['flash_bytes']:,} | {r['runtime_text_bytes']:,} | "
                         f"{r['static_ram_bytes']:,} | {r['arena_bytes']:,} | {r['stack_bytes']:,} |")
        lines.append("")
    tr = [r for r in results if r["mode"] == "training"]
    if tr:
        lines += ["## Training", "",
                  "One step at batch 1, every layer trainable, plain SGD. int8 = integer-only training",
                  "(docs/qtrain.md). RAM used = .data + .bss (the arena holds the trainable parameters)",
                  "+ the stack high-water mark.", "",
                  "| model | dtype | board | core | instructions/step | flash | RAM used | arena | stack |",
                  "|---|---|---|---|---:|---:|---:|---:|---:|"]
        for r in tr:
            lines.append(f"| {r['model']} | {r['dtype']} | {r['board']} | {r['core']} | "
                         f"{r['instructions_per_step']:,} | {r['flash_bytes']:,} | {r['ram_used_bytes']:,} | "
                         f"{r['arena_bytes']:,} | {r['stack_bytes']:,} |")
        lines.append("")
    if misfits:
        lines += ["## Does not fit (the fit check's message)", ""]
        lines += [f"- {m['mode']}: {m['error']}" for m in misfits]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=MODELS)
    p.add_argument("--dtypes", nargs="+", default=DTYPES, choices=DTYPES)
    p.add_argument("--modes", nargs="+", default=MODES, choices=MODES)
    p.add_argument("--boards", nargs="+", default=[b for b, prof in PROFILES.items() if prof.emulated])
    p.add_argument("--out", default=str(HERE), help="directory for results.md and results.json")
    p.add_argument("--from-json", metavar="RESULTS.json",
                   help="write results.md from an earlier run's results.json instead of measuring")
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        results, misfits = saved["results"], saved["does_not_fit"]
        arenas = {k: tuple(v) for k, v in saved["lenet5_arena_fused_unfused"].items()}
        head = headline(results)
        (out / "results.md").write_text(markdown(results, misfits, head, arenas))
        print(f"wrote {out / 'results.md'}")
        return 0
    results, misfits = measure(args.models, args.boards, args.dtypes, args.modes)
    head = headline(results)
    arenas = {}
    if "lenet5" in args.models and "inference" in args.modes:
        for dtype in args.dtypes:
            fused = next(r["arena_bytes"] for r in results if r["model"] == "lenet5"
                         and r["dtype"] == dtype and r["mode"] == "inference")
            arenas[dtype] = (fused, unfused_arena("lenet5", dtype))
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"command": COMMAND, "lenet5_headline": head,
                                                  "lenet5_arena_fused_unfused": arenas,
                                                  "results": results, "does_not_fit": misfits},
                                                 indent=2) + "\n")
    (out / "results.md").write_text(markdown(results, misfits, head, arenas))
    print(f"wrote {out / 'results.md'} and {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
