"""Worst relative error of every float32 C kernel against PyTorch autograd (float64).

    python benchmarks/accuracy_vs_torch.py

Relative error per element is |c - t| / (|t| + max|t|) (docs/design.md, Testing);
the cases are the shape grids of tests/test_kernels_f32.py. Needs torch.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_kernels_torch import kernel_errors  # noqa: E402

if __name__ == "__main__":
    errors = kernel_errors()
    width = max(map(len, errors))
    print(f"{'kernel':<{width}}  worst relative error vs PyTorch")
    for name, err in sorted(errors.items()):
        print(f"{name:<{width}}  {err:.2e}")
    print(f"{'(all)':<{width}}  {max(errors.values()):.2e}")
