"""On-device training cost: memory plan and instructions per training step.

    python benchmarks/train_bench.py          # writes benchmarks/train_results.md

For LeNet-5 and digits_cnn, float32, SGD with momentum 0.9, batch 1, in each
--trainable mode: the training arena against the planner's lower bound and against
"naive" (every buffer summed, no reuse), and the instructions of one training step
on mps2-an386 (`pyconvert bench --train`, exact counts from the QEMU plugin).
"""

import sys
import tempfile
from pathlib import Path

from pyconvert.boards.runner import bench
from pyconvert.convert import plan_for_training, write_outputs
from pyconvert.train_plan import TrainConfig

HERE = Path(__file__).resolve().parent
BOARD = "mps2-an386"


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in ("lenet5", "digits_cnn"):
            for mode in ("all", "last:1", "bias"):
                tp = plan_for_training(model, TrainConfig(optimizer="sgd", lr=0.01, momentum=0.9,
                                                          batch=1, trainable=mode))
                out = write_outputs(tp.infer, Path(tmp) / f"{model}_{mode.replace(':', '')}", model, train=tp)
                r = bench(out, BOARD, train=True)
                rows.append((model, mode, sum(p.value.size for p in tp.params), tp.arena_size,
                             tp.lower_bound(), tp.naive_bytes, r["instructions_per_step"], r["stack_bytes"]))
                print(f"  {model} {mode}: {r['instructions_per_step']:,}", file=sys.stderr)
    lines = ["# On-device training: memory and instructions per step", "",
             "Made by: `python benchmarks/train_bench.py`", "",
             f"float32, SGD momentum 0.9, batch 1; instructions counted on {BOARD} (Cortex-M4F).", "",
             "| model | trainable | values trained | training arena | lower bound | naive | "
             "instructions/step | stack |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for m, mode, n, arena, bound, naive, ins, stack in rows:
        lines.append(f"| {m} | {mode} | {n:,} | {arena:,} | {bound:,} | {naive:,} | {ins:,} | {stack:,} |")
    text = "\n".join(lines) + "\n"
    (HERE / "train_results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
